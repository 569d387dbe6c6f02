//! STORM's architecture ([`StormConfig`]): stored with the shipped weights.

use crate::error::RmeError;
use burn::config::Config;

/// Configuration of [`super::Storm`].
#[derive(Config, Debug, PartialEq)]
pub struct StormConfig {
    /// Width of the tokens. Default 64.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads (must divide `d_model`). Default 4.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Transformer layers. Default 3.
    #[config(default = 3)]
    pub n_layers: usize,
    /// Hidden width of each layer's feed-forward network. Default 128.
    #[config(default = 128)]
    pub d_ff: usize,
    /// Nearest measurements each query sees (the sequence length, plus the readout token).
    /// Part of the architecture: the model learned what `k` neighbours look like. Default 32.
    #[config(default = 32)]
    pub neighbours: usize,
    /// Dropout in training. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Refine ordinary kriging (fitted to the slice) rather than an inverse-distance mean of
    /// the neighbours: the network's outputs are corrections to kriging's mean and to its
    /// `ln σ`, and kriging's answer is an input of the readout. Part of the architecture (the
    /// corrections were learned around it). Default true.
    #[config(default = true)]
    pub kriging_baseline: bool,
}

impl StormConfig {
    /// The presets by name: `small` (the shipped size) and `tiny` (tests).
    pub fn preset(name: &str) -> crate::error::Result<Self> {
        match name {
            "small" => Ok(Self::new()),
            "tiny" => Ok(Self::tiny()),
            other => Err(RmeError::invalid("--config", format!("'{other}' is not a STORM size (small, tiny)"))),
        }
    }

    /// A few thousand parameters, for tests.
    pub fn tiny() -> Self {
        Self::new().with_d_model(16).with_n_heads(2).with_n_layers(1).with_d_ff(32).with_neighbours(8)
    }

    /// Checks that the model can be built.
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |what: &str, why: &str| Err(RmeError::invalid(format!("STORM config {what}"), why.to_string()));
        if self.d_model == 0 || self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return bad("d_model / n_heads", "d_model must be a positive multiple of n_heads");
        }
        if self.n_layers == 0 || self.d_ff == 0 {
            return bad("n_layers / d_ff", "must be positive");
        }
        if self.neighbours == 0 {
            return bad("neighbours", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", "must be in [0, 1)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_configs_are_named() {
        StormConfig::preset("small").unwrap().validate().unwrap();
        StormConfig::preset("tiny").unwrap().validate().unwrap();
        assert!(StormConfig::preset("huge").unwrap_err().to_string().contains("huge"));
        let e = StormConfig::new().with_n_heads(5).validate().unwrap_err().to_string();
        assert!(e.contains("n_heads"), "{e}");
        assert!(StormConfig::new().with_neighbours(0).validate().is_err());
    }
}
