//! Fused elementwise kernels for inference on the CPU backend.
//!
//! Why: burn-flex evaluates `exp` and `erf` one element at a time through libm and gives
//! every tensor op a fresh output buffer. At inference FM-RME spends about a third of a map
//! there: the GELUs of the neighbourhood interpolation (`[Nq, 16, 32]` elements, twice) and
//! the decoder's feed-forward blocks, the softmax over `[heads, Nq, Nv]` attention scores, and
//! GAFE's SiLUs. These kernels work in place on a flex tensor's host memory, in one pass, with
//! branch-free polynomial `exp` and `erf` that the compiler vectorises. Anywhere else — a GPU
//! backend, or an autodiff device (training needs the graph, which host code would cut) —
//! they are burn's own ops, so a model gives the same numbers (to ~1e-6) on every backend.
//!
//! Accuracy: [`exp`] is within 2·10⁻⁷ relative of `f32::exp` on its range; [`erf`] follows
//! Abramowitz & Stegun 7.1.26 (absolute error below 1.5·10⁻⁷, what burn-flex itself used
//! before it switched to libm).

use burn::nn::Dropout;
use burn::tensor::activation;
use burn::tensor::{DType, Device, Tensor};

/// Whether `x` lives in host memory this module may rewrite: plain flex, f32, no autodiff.
fn on_host<const D: usize>(x: &Tensor<D>) -> bool {
    let device = x.device();
    x.dtype() == DType::F32 && !device.is_autodiff() && device == Device::flex()
}

/// Applies `kernel` to the values of `x` in place where `x` is on the host ([`on_host`]);
/// elsewhere `burn_op`, the same function in burn's ops.
fn elementwise<const D: usize>(x: Tensor<D>, kernel: fn(&mut [f32]), burn_op: fn(Tensor<D>) -> Tensor<D>) -> Tensor<D> {
    if !on_host(&x) {
        return burn_op(x);
    }
    let device = x.device();
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => kernel(values),
        // Cannot happen for an f32 flex tensor; if storage ever refuses, burn's op still answers.
        Err(_) => return burn_op(Tensor::from_data(data, &device)),
    }
    Tensor::from_data(data, &device)
}

/// GELU, `x·Φ(x)` with the exact (erf) normal CDF, as [`burn::nn::Gelu`].
///
/// # Shapes
///
/// - x: any; output: the same
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    elementwise(x, gelu_values_dispatched, activation::gelu)
}

/// SiLU, `x·sigmoid(x)`, as [`activation::silu`].
///
/// # Shapes
///
/// - x: any; output: the same
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    elementwise(x, silu_values_dispatched, activation::silu)
}

/// Attention of queries over a shared set of keys plus each query's own key: the softmax
/// over `Nv + 1` scores per row, applied to the shared values and the query's own value.
/// `quiet`: the softmax has an extra zero logit (burn's `quiet_softmax`). `dropout` acts on
/// the attention weights in training; at inference it is the identity, which the host path
/// (never autodiff) relies on.
///
/// # Shapes
///
/// - scores: `[B, H, Nq, Nv]` (scaled, padding already added), own: `[B, H, Nq, 1]`
/// - values: `[B, H, Nv, d_k]`, own_values: `[B, H, Nq, d_k]`
/// - output: `[B, H, Nq, d_k]`
pub fn attend_with_own(
    scores: Tensor<4>,
    own: Tensor<4>,
    values: Tensor<4>,
    own_values: Tensor<4>,
    quiet: bool,
    dropout: &Dropout,
) -> Tensor<4> {
    if !(on_host(&scores) && on_host(&own)) {
        return attend_with_own_ops(scores, own, values, own_values, quiet, dropout);
    }
    let [b, h, nq, nv] = scores.dims();
    let device = scores.device();
    let (mut weights, mut own_weights) = (scores.into_data(), own.into_data());
    match (weights.as_mut_slice::<f32>(), own_weights.as_mut_slice::<f32>()) {
        (Ok(w), Ok(o)) if nv > 0 => softmax_rows_with_own_dispatched(w, o, nv, quiet),
        _ => {
            let (scores, own) = (Tensor::from_data(weights, &device), Tensor::from_data(own_weights, &device));
            return attend_with_own_ops(scores, own, values, own_values, quiet, dropout);
        }
    }
    let weights: Tensor<4> = Tensor::from_data(weights, &device);
    let own_weights: Tensor<4> = Tensor::from_data(own_weights, &device);
    debug_assert_eq!(own_weights.dims(), [b, h, nq, 1]);
    weights.matmul(values) + own_weights * own_values
}

/// [`attend_with_own`] in burn tensor ops (any backend, differentiable), written so that the
/// `[B, H, Nq, Nv]` scores are touched as few times as possible: the normalisation divides the
/// `[B, H, Nq, d_k]` result instead of the weights.
fn attend_with_own_ops(
    scores: Tensor<4>,
    own: Tensor<4>,
    values: Tensor<4>,
    own_values: Tensor<4>,
    quiet: bool,
    dropout: &Dropout,
) -> Tensor<4> {
    let top = scores.clone().max_dim(3).max_pair(own.clone());
    let (scores, own) = (dropout.forward((scores - top.clone()).exp()), dropout.forward((own - top.clone()).exp()));
    let mut total = scores.clone().sum_dim(3) + own.clone();
    if quiet {
        // exp(x_i) / (1 + Σ exp(x_j)), shifted by the top score like the rest.
        total = total + top.neg().exp();
    }
    (scores.matmul(values) + own * own_values) / total
}

/// Attention with the softmax over the last axis of `scores` (burn's `MultiHeadAttention`
/// after its scores): `quiet` and `dropout` as in [`attend_with_own`].
///
/// # Shapes
///
/// - scores: `[B, H, Nq, Nk]` (scaled, padding already added), values: `[B, H, Nk, d_k]`
/// - output: `[B, H, Nq, d_k]`
pub fn attend(scores: Tensor<4>, values: Tensor<4>, quiet: bool, dropout: &Dropout) -> Tensor<4> {
    let ops = |scores: Tensor<4>, values: Tensor<4>| {
        let weights = if quiet { activation::quiet_softmax(scores, 3) } else { activation::softmax(scores, 3) };
        dropout.forward(weights).matmul(values)
    };
    let nk = scores.dims()[3];
    if !on_host(&scores) || nk == 0 {
        return ops(scores, values);
    }
    let device = scores.device();
    let mut weights = scores.into_data();
    match weights.as_mut_slice::<f32>() {
        Ok(w) => softmax_rows_dispatched(w, nk, quiet),
        Err(_) => return ops(Tensor::from_data(weights, &device), values),
    }
    Tensor::<4>::from_data(weights, &device).matmul(values)
}

/// Whether the CPU has AVX2 and FMA: the `*_dispatched` kernels' copies compiled for them use twice the
/// lanes of the x86-64 baseline the crate is built for (std caches the answer).
#[cfg(target_arch = "x86_64")]
#[inline]
fn wide_vectors() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Whether the CPU has AVX-512 (F, VL, DQ) as well as AVX2 and FMA: the copies compiled for
/// it use sixteen f32 lanes (on the 2-core AMD EPYC of the benchmarks the softmax and GELU
/// kernels took 10 % and 4.4 % of a 64² FM-RME map instead of 12.4 % and 8 %).
#[cfg(target_arch = "x86_64")]
#[inline]
fn widest_vectors() -> bool {
    wide_vectors()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

/// Defines `$name`: `$kernel` (which must be `#[inline(always)]`), run as a copy compiled
/// for AVX-512 where the CPU has it ([`widest_vectors`]), else for AVX2 and FMA where it has
/// them, else for the baseline.
macro_rules! dispatched {
    ($name:ident => $kernel:ident($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
                unsafe fn widest($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                if widest_vectors() {
                    // SAFETY: the CPU has AVX-512 (F, VL, DQ), AVX2 and FMA.
                    return unsafe { widest($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                if wide_vectors() {
                    // SAFETY: the CPU has AVX2 and FMA.
                    return unsafe { wide($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    };
}

dispatched!(gelu_values_dispatched => gelu_values(values: &mut [f32]));
dispatched!(silu_values_dispatched => silu_values(values: &mut [f32]));
dispatched!(softmax_rows_dispatched => softmax_rows(scores: &mut [f32], nk: usize, quiet: bool));
dispatched!(softmax_rows_with_own_dispatched => softmax_rows_with_own(scores: &mut [f32], own: &mut [f32], nv: usize, quiet: bool));

#[inline(always)]
fn gelu_values(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = gelu_scalar(*v);
    }
}

#[inline(always)]
fn silu_values(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v /= 1.0 + exp(-*v);
    }
}

/// Row softmax over `[scores | own]`, in place: each row of `scores` (length `nv`) becomes its
/// weights, and `own` (one per row) the own key's weight.
#[inline(always)]
fn softmax_rows_with_own(scores: &mut [f32], own: &mut [f32], nv: usize, quiet: bool) {
    for (row, own) in scores.chunks_exact_mut(nv).zip(own.iter_mut()) {
        let top = lanes_fold(row, *own, f32::max);
        let own_exp = exp(*own - top);
        let inverse = exponentiate_row(row, top, own_exp + if quiet { exp(-top) } else { 0.0 });
        *own = own_exp * inverse;
    }
}

/// Row softmax over the last axis (rows of length `nk`), in place.
#[inline(always)]
fn softmax_rows(scores: &mut [f32], nk: usize, quiet: bool) {
    for row in scores.chunks_exact_mut(nk) {
        let top = lanes_fold(row, f32::NEG_INFINITY, f32::max);
        exponentiate_row(row, top, if quiet { exp(-top) } else { 0.0 });
    }
}

/// `row ← exp(row − top) / total`, where `total` is the row's sum plus `extra` (the
/// exponentials outside the row); returns `1 / total`. Separate passes for the exponentials,
/// the sum and the scaling, the sum in eight independent lanes: a loop that carries one running
/// total is a chain of dependent additions the compiler may not reorder.
#[inline(always)]
fn exponentiate_row(row: &mut [f32], top: f32, extra: f32) -> f32 {
    for s in row.iter_mut() {
        *s = exp(*s - top);
    }
    let inverse = 1.0 / (lanes_fold(row, 0.0, |a, b| a + b) + extra);
    for s in row.iter_mut() {
        *s *= inverse;
    }
    inverse
}

/// Folds `values` with `op` in eight interleaved lanes started at `init`, then folds the lanes
/// (for max, and for sums where the order of additions may change in the last bits).
#[inline(always)]
fn lanes_fold(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, v);
        }
    }
    let folded = lanes[1..].iter().fold(lanes[0], |a, &b| op(a, b));
    rest.iter().fold(folded, |a, &b| op(a, b))
}

/// `e^x` in f32, branch-free: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by its Taylor
/// polynomial to degree 7 (truncation below 5·10⁻⁹), `2ⁿ` built in the exponent bits.
/// Inputs are clamped to `[-87, 88]`, so `e^x` of a very negative `x` (masked scores) is
/// about 1.6·10⁻³⁸ rather than 0 — nothing a sum of weights can notice.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5·2²³ rounds to the nearest integer without a branch or a call, and leaves that
    // integer in the low bits of the sum: 2ⁿ comes from integer arithmetic on those bits (a
    // float-to-int cast saturates in Rust, which the compiler cannot vectorise).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    p * scale
}

/// The error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5·10⁻⁷).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152, 1.061_405_4];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// `x·Φ(x) = x/2 · (1 + erf(x/√2))`.
#[inline(always)]
fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    fn no_dropout() -> Dropout {
        burn::nn::DropoutConfig::new(0.0).init()
    }

    fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0.0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let want = (x as f64).exp();
            worst = worst.max(((exp(x) as f64 - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        // Clamped, finite, never NaN at the ends.
        assert!(exp(-1.0e9) > 0.0 && exp(-1.0e9) < 1e-37);
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
        assert!(exp(1.0e9).is_finite());
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn erf_matches_hand_values() {
        // erf(0.5), erf(1), erf(2) to 9 digits (tables of the normal distribution).
        for (x, want) in [(0.0f32, 0.0f64), (0.5, 0.520_499_878), (1.0, 0.842_700_793), (2.0, 0.995_322_265), (5.0, 1.0)] {
            assert!((erf(x) as f64 - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
            assert!((erf(-x) as f64 + want).abs() < 2e-7, "erf is odd at {x}");
        }
    }

    /// The kernels and burn's ops add in different orders: a few f32 roundings apart, which is
    /// a few 10⁻⁷ of the value (absolute 10⁻⁶ failed on CI for an output of 4.16), far below
    /// what a wrong kernel gives.
    fn rounding() -> Tolerance<f32> {
        Tolerance::rel_abs(1e-5, 1e-6)
    }

    #[test]
    fn host_gelu_and_silu_match_burn() {
        let d = cpu();
        let x = Tensor::<3>::random([4, 33, 17], Distribution::Normal(0.0, 3.0), &d);
        gelu(x.clone()).into_data().assert_approx_eq::<f32>(&activation::gelu(x.clone()).into_data(), rounding());
        silu(x.clone()).into_data().assert_approx_eq::<f32>(&activation::silu(x).into_data(), rounding());
    }

    #[test]
    fn host_gelu_takes_strided_tensors() {
        let d = cpu();
        let x = tensor(vec![-2.0, -1.0, 0.0, 1.0, 2.0, 3.0], [2, 3], &d).transpose();
        let want = activation::gelu(x.clone()).into_data();
        gelu(x).into_data().assert_approx_eq::<f32>(&want, rounding());
    }

    #[test]
    fn the_wide_copies_give_the_baseline_bits() {
        // Rust never contracts `a * b + c` into an FMA, so the copies compiled for AVX2 or
        // AVX-512 must round exactly like the baseline copy: the CPU a map runs on must not
        // change it. (Only the copy this CPU dispatches to is checked.)
        let mut rng = crate::rng::Rng::new(11);
        let values: Vec<f32> = (0..4 * 37).map(|_| 3.0 * rng.normal() as f32).collect();
        let own: Vec<f32> = (0..4).map(|_| 3.0 * rng.normal() as f32).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for quiet in [false, true] {
            let (mut base, mut fast) = (values.clone(), values.clone());
            softmax_rows(&mut base, 37, quiet);
            softmax_rows_dispatched(&mut fast, 37, quiet);
            assert_eq!(bits(&base), bits(&fast), "softmax, quiet {quiet}");
            let (mut base, mut base_own, mut fast, mut fast_own) = (values.clone(), own.clone(), values.clone(), own.clone());
            softmax_rows_with_own(&mut base, &mut base_own, 37, quiet);
            softmax_rows_with_own_dispatched(&mut fast, &mut fast_own, 37, quiet);
            assert_eq!((bits(&base), bits(&base_own)), (bits(&fast), bits(&fast_own)), "softmax with own, quiet {quiet}");
        }
        let (mut base, mut fast) = (values.clone(), values.clone());
        gelu_values(&mut base);
        gelu_values_dispatched(&mut fast);
        assert_eq!(bits(&base), bits(&fast), "GELU");
        let (mut base, mut fast) = (values.clone(), values);
        silu_values(&mut base);
        silu_values_dispatched(&mut fast);
        assert_eq!(bits(&base), bits(&fast), "SiLU");
    }

    #[test]
    fn host_attention_matches_the_tensor_ops() {
        let d = cpu();
        let normal = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 2.0), &d);
        let (scores, own, values, own_values) = (normal([2, 3, 5, 7]), normal([2, 3, 5, 1]), normal([2, 3, 7, 4]), normal([2, 3, 5, 4]));
        for quiet in [false, true] {
            let host = attend_with_own(scores.clone(), own.clone(), values.clone(), own_values.clone(), quiet, &no_dropout());
            let ops = attend_with_own_ops(scores.clone(), own.clone(), values.clone(), own_values.clone(), quiet, &no_dropout());
            host.into_data().assert_approx_eq::<f32>(&ops.into_data(), rounding());
        }
    }

    #[test]
    fn host_plain_attention_matches_burn() {
        let d = cpu();
        let normal = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 2.0), &d);
        let (scores, values) = (normal([2, 3, 5, 7]), normal([2, 3, 7, 4]));
        for quiet in [false, true] {
            let want = if quiet { activation::quiet_softmax(scores.clone(), 3) } else { activation::softmax(scores.clone(), 3) };
            let host = attend(scores.clone(), values.clone(), quiet, &no_dropout());
            host.into_data().assert_approx_eq::<f32>(&want.matmul(values.clone()).into_data(), rounding());
        }
    }

    #[test]
    fn attention_by_hand() {
        // One row: scores [0, ln 2] over values [1, 3], own score ln 3 with own value 10.
        // Weights 1/6, 2/6, 3/6: 1/6 + 6/6 + 30/6 = 37/6.
        let d = cpu();
        let out = attend_with_own(
            tensor(vec![0.0, 2f32.ln()], [1, 1, 1, 2], &d),
            tensor(vec![3f32.ln()], [1, 1, 1, 1], &d),
            tensor(vec![1.0, 3.0], [1, 1, 2, 1], &d),
            tensor(vec![10.0], [1, 1, 1, 1], &d),
            false,
            &no_dropout(),
        );
        let got: f32 = out.into_scalar();
        assert!((got - 37.0 / 6.0).abs() < 1e-5, "{got}");
    }

    #[test]
    fn large_scores_do_not_overflow() {
        // exp(200) is not an f32: the row's maximum must come out first. Weights 1/(1 + e + e²)·(1, e², e).
        let d = cpu();
        let out = attend_with_own(
            tensor(vec![200.0, 202.0], [1, 1, 1, 2], &d),
            tensor(vec![201.0], [1, 1, 1, 1], &d),
            tensor(vec![1.0, 0.0], [1, 1, 2, 1], &d),
            tensor(vec![0.0], [1, 1, 1, 1], &d),
            false,
            &no_dropout(),
        );
        let e = std::f32::consts::E;
        let got: f32 = out.into_scalar();
        assert!((got - 1.0 / (1.0 + e + e * e)).abs() < 1e-6, "{got}");
    }

    #[test]
    fn masked_scores_get_no_weight() {
        let d = cpu();
        let out = attend_with_own(
            tensor(vec![0.0, -1.0e9], [1, 1, 1, 2], &d),
            tensor(vec![-1.0e9], [1, 1, 1, 1], &d),
            tensor(vec![5.0, 100.0], [1, 1, 2, 1], &d),
            tensor(vec![100.0], [1, 1, 1, 1], &d),
            false,
            &no_dropout(),
        );
        let got: f32 = out.into_scalar();
        assert!((got - 5.0).abs() < 1e-5, "{got}");
    }
}
