//! Compute devices for the neural models (burn 0.22: tensors carry a runtime device).
//! Tests and CI use the pure-Rust CPU backend (flex); GPU backends are chosen by the trainer
//! and the browser at run time.

pub use burn::tensor::Device;

/// The CPU device every build has.
pub fn cpu() -> Device {
    Device::flex()
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;

    #[test]
    fn cpu_backend_computes() {
        let d = super::cpu();
        let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &d);
        let s: f32 = a.clone().matmul(a).sum().into_scalar();
        // [[7, 10], [15, 22]] sums to 54.
        assert_eq!(s, 54.0);
    }
}
