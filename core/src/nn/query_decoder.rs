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

use super::cpu_kernels::{attend, attend_with_own, gelu};
use burn::nn::Linear;
use burn::nn::activation::Activation;
use burn::nn::transformer::{PositionWiseFeedForward, TransformerEncoder, TransformerEncoderLayer};
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

/// The visible stream of a pre-norm stack, layer by layer, as the queries see it: each
/// layer's keys and values of the (normalised) visible tokens, `[B, heads, Nv, d_k]`, and
/// the padding as an additive score `[B, 1, 1, Nv]` (0, or the layer's most negative
/// float). It depends on the visible set only, so a set's many query chunks share it.
#[derive(Clone, Debug)]
pub struct VisibleKeys {
    layers: Vec<(Tensor<4>, Tensor<4>)>,
    /// `None` when no visible token is padding: the scores need no mask then.
    padding: Option<Tensor<4>>,
}

impl VisibleKeys {
    /// Runs the visible tokens `[B, Nv, d]` through `stack` (pre-norm layers only), keeping
    /// each layer's keys and values. `padded`: whether `visible_pad` marks any token; with
    /// false the mask is skipped (it would add zeros).
    pub fn new(stack: &TransformerEncoder, visible: Tensor<3>, visible_pad: Tensor<2, Bool>, padded: bool) -> Self {
        let padding = padding_bias(stack, visible_pad, padded);
        let mut visible = visible;
        let last = stack.layers.len().saturating_sub(1);
        let mut layers = Vec::with_capacity(stack.layers.len());
        for (i, layer) in stack.layers.iter().enumerate() {
            debug_assert!(layer.norm_first, "the two-stream decoder runs pre-norm layers only");
            let normed = layer.norm_2.forward(visible.clone());
            let (key, value) =
                (split_heads(&layer.mha, &layer.mha.key, normed.clone()), split_heads(&layer.mha, &layer.mha.value, normed.clone()));
            if i < last {
                visible = self_attention_block(layer, visible, normed, key.clone(), value.clone(), padding.clone());
            }
            layers.push((key, value));
        }
        Self { layers, padding }
    }
}

/// The padding of a token set `[B, N]` as an additive score `[B, 1, 1, N]`: 0, or the
/// attention's most negative float (`None` when `padded` is false: nothing to add).
fn padding_bias(stack: &TransformerEncoder, pad: Tensor<2, Bool>, padded: bool) -> Option<Tensor<4>> {
    let [b, n] = pad.dims();
    let min_float = stack.layers.first().map_or(-1.0e4, |l| l.mha.min_float);
    padded.then(|| Tensor::<2>::zeros([b, n], &pad.device()).mask_fill(pad, min_float).reshape([b, 1, 1, n]))
}

/// Runs a stack of pre-norm layers over tokens that attend to each other (the encoder): the
/// numbers of burn's [`TransformerEncoder::forward`] with a padding mask, its attention
/// softmax and GELUs through the fused CPU kernels where they apply. A stack with post-norm
/// layers runs burn's own forward.
///
/// # Shapes
///
/// - tokens: `[B, N, d_model]`, pad: `[B, N]` (true at padding; `padded`: whether any is)
/// - output: `[B, N, d_model]`
pub fn encode_tokens(stack: &TransformerEncoder, tokens: Tensor<3>, pad: Tensor<2, Bool>, padded: bool) -> Tensor<3> {
    if !stack.layers.iter().all(|l| l.norm_first) {
        return stack.forward(burn::nn::transformer::TransformerEncoderInput::new(tokens).mask_pad(pad));
    }
    let padding = padding_bias(stack, pad, padded);
    let mut x = tokens;
    for layer in &stack.layers {
        let normed = layer.norm_2.forward(x.clone());
        let (key, value) =
            (split_heads(&layer.mha, &layer.mha.key, normed.clone()), split_heads(&layer.mha, &layer.mha.value, normed.clone()));
        x = self_attention_block(layer, x, normed, key, value, padding.clone());
    }
    x
}

/// One pre-norm layer over tokens `x` attending to each other, given the layer's normalised
/// input and its keys and values: attention, then the feed-forward block, each residual.
fn self_attention_block(
    layer: &TransformerEncoderLayer,
    x: Tensor<3>,
    normed: Tensor<3>,
    key: Tensor<4>,
    value: Tensor<4>,
    padding: Option<Tensor<4>>,
) -> Tensor<3> {
    let mha = &layer.mha;
    let [b, n, d] = x.dims();
    let query = split_heads(mha, &mha.query, normed).div_scalar((mha.d_k as f32).sqrt());
    let scores = query.matmul(key.transpose());
    let scores = match padding {
        Some(padding) => scores + padding,
        None => scores,
    };
    let context = attend(scores, value, mha.quiet_softmax, &mha.dropout);
    let attended = mha.output.forward(context.swap_dims(1, 2).reshape([b, n, d]));
    let x = x + layer.dropout.forward(attended);
    let fed = feed_forward(&layer.pwff, layer.norm_1.forward(x.clone()));
    x + layer.dropout.forward(fed)
}

/// `[B, N, d]` → `[B, heads, N, d_k]` through one of the attention's projections.
fn split_heads(mha: &burn::nn::attention::MultiHeadAttention, linear: &Linear, x: Tensor<3>) -> Tensor<4> {
    let [b, n, _] = x.dims();
    linear.forward(x).reshape([b, n, mha.n_heads, mha.d_k]).swap_dims(1, 2)
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
    decode_queries(stack, &VisibleKeys::new(stack, visible, visible_pad, true), queries, query_pad)
}

/// [`decode_isolated_queries`] against a visible stream computed beforehand (each layer's
/// queries read that layer's input visible tokens, which [`VisibleKeys`] holds).
///
/// # Shapes
///
/// - queries: `[B, Nq, d_model]`, query_pad: `[B, Nq]` (true at padding)
/// - output: `[B, Nq, d_model]` (rows of padded queries are meaningless)
pub fn decode_queries(stack: &TransformerEncoder, visible: &VisibleKeys, queries: Tensor<3>, query_pad: Tensor<2, Bool>) -> Tensor<3> {
    let mut queries = queries;
    for (layer, (key_v, value_v)) in stack.layers.iter().zip(&visible.layers) {
        queries = query_stream(layer, key_v.clone(), value_v.clone(), visible.padding.clone(), queries, query_pad.clone());
    }
    queries
}

/// One pre-norm layer for the queries: attention over the visible tokens and the query
/// itself (softmax over `nv + 1` scores), then the feed-forward block.
fn query_stream(
    layer: &TransformerEncoderLayer,
    key_v: Tensor<4>,
    value_v: Tensor<4>,
    padding: Option<Tensor<4>>,
    queries: Tensor<3>,
    query_pad: Tensor<2, Bool>,
) -> Tensor<3> {
    let mha = &layer.mha;
    let [b, nq, d] = queries.dims();
    let queries_n = layer.norm_2.forward(queries.clone());
    let (query_q, key_q, value_q) = (
        split_heads(mha, &mha.query, queries_n.clone()),
        split_heads(mha, &mha.key, queries_n.clone()),
        split_heads(mha, &mha.value, queries_n),
    );
    let query_q = query_q.div_scalar((mha.d_k as f32).sqrt());
    // [B, heads, Nq, 1]: each query's score for its own key.
    let to_itself = (query_q.clone() * key_q).sum_dim(3).mask_fill(query_pad.reshape([b, 1, nq, 1]), mha.min_float);
    // The `[B, H, Nq, Nv]` scores are most of the work: the scale went into the queries and
    // padding is one additive bias (none when there is no padding).
    let to_visible = query_q.matmul(key_v.transpose());
    let to_visible = match padding {
        Some(padding) => to_visible + padding,
        None => to_visible,
    };
    let context = attend_with_own(to_visible, to_itself, value_v, value_q, mha.quiet_softmax, &mha.dropout);
    let attended = mha.output.forward(context.swap_dims(1, 2).reshape([b, nq, d]));
    let x = queries + layer.dropout.forward(attended);
    let fed = feed_forward(&layer.pwff, layer.norm_1.forward(x.clone()));
    x + layer.dropout.forward(fed)
}

/// The layer's feed-forward block, its GELU through [`gelu`] (the fused CPU kernel where it
/// applies); any other activation runs burn's block as it is.
fn feed_forward(pwff: &PositionWiseFeedForward, x: Tensor<3>) -> Tensor<3> {
    match pwff.activation {
        Activation::Gelu(_) => pwff.linear_outer.forward(pwff.dropout.forward(gelu(pwff.linear_inner.forward(x)))),
        _ => pwff.forward(x),
    }
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
    fn encoding_gives_burns_encoder_numbers() {
        for s in [stack(3), quiet_stack(2)] {
            let v = Tensor::<3>::random([2, 7, 16], Distribution::Normal(0.0, 1.0), &cpu());
            let vp = pad(&[&[false; 7], &[false, false, false, false, false, true, true]]);
            let want = s.forward(TransformerEncoderInput::new(v.clone()).mask_pad(vp.clone()));
            let got = encode_tokens(&s, v, vp, true);
            // Rows of padded tokens are meaningless: compare the real ones.
            want.clone()
                .narrow(0, 0, 1)
                .into_data()
                .assert_approx_eq::<f32>(&got.clone().narrow(0, 0, 1).into_data(), Tolerance::absolute(1e-5));
            want.narrow(0, 1, 1)
                .narrow(1, 0, 5)
                .into_data()
                .assert_approx_eq::<f32>(&got.narrow(0, 1, 1).narrow(1, 0, 5).into_data(), Tolerance::absolute(1e-5));
        }
    }

    #[test]
    fn a_query_does_not_depend_on_the_other_queries() {
        let s = stack(2);
        let v = Tensor::<3>::random([1, 6, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let q = Tensor::<3>::random([1, 4, 16], Distribution::Normal(0.0, 1.0), &cpu());
        let all = decode_isolated_queries(&s, v.clone(), pad(&[&[false; 6]]), q.clone(), pad(&[&[false; 4]]));
        let alone = decode_isolated_queries(&s, v, pad(&[&[false; 6]]), q.narrow(1, 2, 1), pad(&[&[false]]));
        all.narrow(1, 2, 1).into_data().assert_approx_eq::<f32>(&alone.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
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
