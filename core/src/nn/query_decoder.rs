//! A pre-norm transformer stack run over visible tokens and isolated query tokens as two
//! streams.
//!
//! FM-RME's decoder is a [`TransformerEncoder`] over `nv` visible tokens followed by `nq`
//! query tokens, masked so that no token attends to a query other than itself
//! ([`query_isolation_mask`]). Run as one sequence it costs
//! `(nv + nq)²` scores per head and layer, most of them masked out: the visible tokens never
//! look at the queries, and a query looks at the visible tokens and itself only. Here the
//! same weights run the visible tokens alone (`nv²`) and each query against the visible keys
//! plus its own key (`nq·(nv + 1)`): the same numbers to float rounding, with work linear in
//! the number of queries — a full map's thousands of queries cost what they weigh, not their
//! square, and any chunking gives the same answer.

use burn::nn::Linear;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderLayer};
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// Decoder attention mask `[L, L]` (true = blocked) over `nv` visible then `nq` query tokens:
/// no token attends to a query token other than itself. Each query's prediction is then a
/// function of the visible set and its own position only — the same whether queries are
/// decoded together or in chunks of any size, in training and at inference. (A plain MAE
/// decoder lets mask tokens attend to each other, which makes an estimate depend on which
/// other points were asked for.)
pub fn query_isolation_mask(nv: usize, nq: usize, device: &Device) -> Tensor<2, Bool> {
    let l = nv + nq;
    let mut blocked = vec![false; l * l];
    for i in 0..l {
        for j in nv..l {
            blocked[i * l + j] = j != i;
        }
    }
    Tensor::<2, Bool>::from_data(TensorData::new(blocked, [l, l]), device)
}

/// Runs `stack` over `visible` tokens and isolated `queries`; returns the queries' outputs.
/// Every layer of `stack` must be pre-norm (`norm_first`), as FM-RME's are.
///
/// # Shapes
///
/// - visible: `[B, Nv, d_model]`, visible_pad: `[B, Nv]` (true at padding)
/// - queries: `[B, Nq, d_model]`, query_pad: `[B, Nq]` (true at padding)
/// - output: `[B, Nq, d_model]` (rows of padded queries are meaningless)
pub fn decode_isolated_queries(
    stack: &TransformerEncoder,
    visible: Tensor<3>,
    visible_pad: Tensor<2, Bool>,
    queries: Tensor<3>,
    query_pad: Tensor<2, Bool>,
) -> Tensor<3> {
    let (mut visible, mut queries) = (visible, queries);
    let last = stack.layers.len().saturating_sub(1);
    for (i, layer) in stack.layers.iter().enumerate() {
        // The queries read this layer's input visible tokens, so they go first.
        queries = query_stream(layer, visible.clone(), visible_pad.clone(), queries, query_pad.clone());
        if i < last {
            visible = layer.forward(visible, Some(visible_pad.clone()), None);
        }
    }
    queries
}

/// One pre-norm layer for the queries: attention over the visible tokens and the query
/// itself (softmax over `nv + 1` scores), then the feed-forward block.
fn query_stream(
    layer: &TransformerEncoderLayer,
    visible: Tensor<3>,
    visible_pad: Tensor<2, Bool>,
    queries: Tensor<3>,
    query_pad: Tensor<2, Bool>,
) -> Tensor<3> {
    debug_assert!(layer.norm_first, "decode_isolated_queries runs pre-norm layers only");
    let mha = &layer.mha;
    let [b, nv, d] = visible.dims();
    let nq = queries.dims()[1];
    let heads = |x: Tensor<3>, linear: &Linear| {
        let n = x.dims()[1];
        linear.forward(x).reshape([b, n, mha.n_heads, mha.d_k]).swap_dims(1, 2)
    };
    let (visible_n, queries_n) = (layer.norm_2.forward(visible), layer.norm_2.forward(queries.clone()));
    let (key_v, value_v) = (heads(visible_n.clone(), &mha.key), heads(visible_n, &mha.value));
    let (query_q, key_q, value_q) =
        (heads(queries_n.clone(), &mha.query), heads(queries_n.clone(), &mha.key), heads(queries_n, &mha.value));
    // Softmax over the `nv` visible scores and the query's own score, written out so that the
    // `[B, H, Nq, Nv]` scores are touched as few times as possible (they are most of the
    // work): the scale goes into the queries, padding is one additive bias, and the
    // normalisation divides the `[B, H, Nq, d_k]` context instead of the weights.
    let query_q = query_q.div_scalar((mha.d_k as f32).sqrt());
    let to_itself = (query_q.clone() * key_q).sum_dim(3).mask_fill(query_pad.reshape([b, 1, nq, 1]), mha.min_float);
    let padding = Tensor::<2>::zeros([b, nv], &visible_pad.device()).mask_fill(visible_pad, mha.min_float).reshape([b, 1, 1, nv]);
    let to_visible = query_q.matmul(key_v.transpose()) + padding;
    let top = to_visible.clone().max_dim(3).max_pair(to_itself.clone());
    let (to_visible, to_itself) =
        (mha.dropout.forward((to_visible - top.clone()).exp()), mha.dropout.forward((to_itself - top.clone()).exp()));
    let mut total = to_visible.clone().sum_dim(3) + to_itself.clone();
    if mha.quiet_softmax {
        // exp(x_i) / (1 + Σ exp(x_j)), shifted by the top score like the rest.
        total = total + top.neg().exp();
    }
    let context = (to_visible.matmul(value_v) + to_itself * value_q) / total;
    let attended = mha.output.forward(context.swap_dims(1, 2).reshape([b, nq, d]));
    let x = queries + layer.dropout.forward(attended);
    let fed = layer.pwff.forward(layer.norm_1.forward(x.clone()));
    x + layer.dropout.forward(fed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::nn::transformer::{TransformerEncoderConfig, TransformerEncoderInput};
    use burn::tensor::{Distribution, Tolerance};

    fn stack(layers: usize) -> TransformerEncoder {
        TransformerEncoderConfig::new(16, 32, 4, layers).with_norm_first(true).with_dropout(0.0).init(&cpu())
    }

    fn quiet_stack(layers: usize) -> TransformerEncoder {
        TransformerEncoderConfig::new(16, 32, 4, layers).with_norm_first(true).with_dropout(0.0).with_quiet_softmax(true).init(&cpu())
    }

    fn pad(rows: &[&[bool]]) -> Tensor<2, Bool> {
        let flat: Vec<bool> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::<2, Bool>::from_data(burn::tensor::TensorData::new(flat, [rows.len(), rows[0].len()]), &cpu())
    }

    /// The reference: one masked sequence through burn's own encoder.
    fn one_sequence(s: &TransformerEncoder, v: Tensor<3>, vp: Tensor<2, Bool>, q: Tensor<3>, qp: Tensor<2, Bool>) -> Tensor<3> {
        let ([b, nv, _], nq) = (v.dims(), q.dims()[1]);
        let attn = query_isolation_mask(nv, nq, &cpu()).unsqueeze_dim::<3>(0).expand([b, nv + nq, nv + nq]);
        let input = TransformerEncoderInput::new(Tensor::cat(vec![v, q], 1)).mask_pad(Tensor::cat(vec![vp, qp], 1)).mask_attn(attn);
        s.forward(input).narrow(1, nv, nq)
    }

    #[test]
    fn two_streams_give_the_masked_sequence_numbers() {
        for s in [stack(3), quiet_stack(3)] {
            same_numbers_as_one_sequence(&s);
        }
    }

    fn same_numbers_as_one_sequence(s: &TransformerEncoder) {
        let v = Tensor::<3>::random([2, 7, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let q = Tensor::<3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let vp = pad(&[&[false; 7], &[false, false, false, false, false, true, true]]);
        let qp = pad(&[&[false; 5], &[false, false, false, true, true]]);
        let reference = one_sequence(s, v.clone(), vp.clone(), q.clone(), qp.clone());
        let two = decode_isolated_queries(s, v, vp, q, qp);
        // Padded queries' rows are meaningless: compare the real ones.
        reference
            .clone()
            .narrow(0, 0, 1)
            .into_data()
            .assert_approx_eq::<f32>(&two.clone().narrow(0, 0, 1).into_data(), Tolerance::absolute(1e-5));
        reference
            .narrow(0, 1, 1)
            .narrow(1, 0, 3)
            .into_data()
            .assert_approx_eq::<f32>(&two.narrow(0, 1, 1).narrow(1, 0, 3).into_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn a_query_does_not_depend_on_the_other_queries() {
        let s = stack(2);
        let v = Tensor::<3>::random([1, 6, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let q = Tensor::<3>::random([1, 4, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let all = decode_isolated_queries(&s, v.clone(), pad(&[&[false; 6]]), q.clone(), pad(&[&[false; 4]]));
        let alone = decode_isolated_queries(&s, v, pad(&[&[false; 6]]), q.narrow(1, 2, 1), pad(&[&[false]]));
        all.narrow(1, 2, 1).into_data().assert_approx_eq::<f32>(&alone.into_data(), Tolerance::absolute(1e-6));
    }

    #[test]
    fn a_padded_visible_token_is_ignored() {
        let s = stack(2);
        let v = Tensor::<3>::random([1, 5, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let q = Tensor::<3>::random([1, 3, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let with_pad = decode_isolated_queries(&s, v.clone(), pad(&[&[false, false, false, false, true]]), q.clone(), pad(&[&[false; 3]]));
        let without = decode_isolated_queries(&s, v.narrow(1, 0, 4), pad(&[&[false; 4]]), q, pad(&[&[false; 3]]));
        with_pad.into_data().assert_approx_eq::<f32>(&without.into_data(), Tolerance::absolute(1e-5));
    }
}
