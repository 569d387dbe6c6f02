//! FM-RME's configurations: the architecture ([`FmRmeConfig`], stored with the weights) and
//! the context rule ([`ContextConfig`], how many and which measurements a group of queries
//! sees, and how queries are grouped). The second is not architecture: the same weights run
//! with other values. Training records the values it used in the manifest, because the
//! model learned with them, and the estimator reads them back.

use crate::error::RmeError;
use burn::config::Config;

// `Result` stays the standard one here: burn's `Config` derive expands to code that names it.
type RmeResult<T> = crate::error::Result<T>;

/// Configuration of [`super::FmRme`]: widths, depths and the scales that map metres, seconds
/// and hertz to model units. Presets: [`FmRmeConfig::tiny`], [`FmRmeConfig::small`],
/// [`FmRmeConfig::base`].
#[derive(Config, Debug, PartialEq)]
pub struct FmRmeConfig {
    /// Token width, a multiple of 8 and of `n_heads`. Default 64.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads of every transformer layer. Default 4.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Hidden width of the transformer feed-forward blocks. Default 128.
    #[config(default = 128)]
    pub d_ff: usize,
    /// GAFE message-passing layers. Default 2.
    #[config(default = 2)]
    pub gafe_layers: usize,
    /// Pre-norm transformer layers of the encoder. Default 3.
    #[config(default = 3)]
    pub encoder_layers: usize,
    /// Pre-norm transformer layers of the decoder. Default 2.
    #[config(default = 2)]
    pub decoder_layers: usize,
    /// Spatial neighbours per node in the GAFE graph. Default 12.
    #[config(default = 12)]
    pub k_neighbours: usize,
    /// Dropout of the transformer layers (training only). Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Metres per model length unit. Default 64.
    #[config(default = 64.0)]
    pub length_scale_m: f64,
    /// Seconds per model time unit. Default 30.
    #[config(default = 30.0)]
    pub time_scale_s: f64,
    /// Centre of the frequency axis, Hz. Default 4.2 GHz (the middle of the 2.4–6 GHz presets).
    #[config(default = 4.2e9)]
    pub freq_center_hz: f64,
    /// Hertz per model frequency unit. Default 1 GHz.
    #[config(default = 1.0e9)]
    pub freq_scale_hz: f64,
    /// Floor of the per-set power standard deviation used for standardisation, dB (a context
    /// that is all noise floor would otherwise blow small errors up). Default 3.
    #[config(default = 3.0)]
    pub min_power_std_db: f64,
    /// A Gaussian head that gives σ with the mean ([`super::std_head`]). Default false
    /// (weights made before the head existed have none).
    #[config(default = false)]
    pub std_head: bool,
    /// Whether the learned interpolation weighs, beside each query's
    /// [`NEIGHBOURS`](super::NEIGHBOURS) nearest readings, ordinary kriging's estimate at the
    /// query from the raw readings of its slice ([`super::candidate`]): one more slot, marked
    /// by one more pair feature. Why: kriging fits each set's variogram (its correlation
    /// length, its nugget) and the network learns when to trust that fit and when its own
    /// weights. Default false (weights stored before it have none).
    #[config(default = false)]
    pub kriging_candidate: bool,
}

impl FmRmeConfig {
    /// For tests: a few thousand parameters.
    pub fn tiny() -> Self {
        Self::new()
            .with_d_model(16)
            .with_n_heads(2)
            .with_d_ff(32)
            .with_gafe_layers(1)
            .with_encoder_layers(1)
            .with_decoder_layers(1)
            .with_k_neighbours(4)
    }
    /// CPU-trainable; the browser default.
    pub fn small() -> Self {
        Self::new()
    }
    /// GPU-sized.
    pub fn base() -> Self {
        Self::new()
            .with_d_model(192)
            .with_n_heads(6)
            .with_d_ff(768)
            .with_gafe_layers(3)
            .with_encoder_layers(6)
            .with_decoder_layers(4)
            .with_k_neighbours(16)
    }
    /// By name: "tiny", "small", "base".
    pub fn preset(name: &str) -> RmeResult<Self> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "base" => Ok(Self::base()),
            other => Err(RmeError::invalid("FM-RME preset", format!("'{other}' is not one of tiny, small, base"))),
        }
    }

    /// Checks the widths and scales before building anything.
    pub fn validate(&self) -> RmeResult<()> {
        let bad = |m: String| Err(RmeError::invalid("FM-RME config", m));
        if self.d_model == 0 || !self.d_model.is_multiple_of(8) {
            return bad(format!("d_model {} must be a positive multiple of 8", self.d_model));
        }
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!("d_model {} is not divisible by n_heads {}", self.d_model, self.n_heads));
        }
        if self.k_neighbours == 0 {
            return bad("k_neighbours must be positive".into());
        }
        positive(
            "FM-RME config",
            &[
                ("length_scale_m", self.length_scale_m),
                ("time_scale_s", self.time_scale_s),
                ("freq_scale_hz", self.freq_scale_hz),
                ("min_power_std_db", self.min_power_std_db),
            ],
        )
    }
}

/// The context rule of FM-RME (see [`super::context`]): which measurements a group of queries
/// sees and how queries are grouped at inference. Inference settings, not architecture.
#[derive(Config, Debug, PartialEq)]
pub struct ContextConfig {
    /// Visible tokens per context at most. Default 384.
    #[config(default = 384)]
    pub max_visible: usize,
    /// Context score weight of slice distance against spatial distance (both in model units).
    /// Default 32 (was 8): on validation seeds, inverse-distance weighting over the 16
    /// lowest-score points gave 1.68 dB at 10 % spatial with 8 and 1.54 dB with 32 — with 8,
    /// D1's 1-s slots let neighbouring slots (where transmitters have moved) crowd out the
    /// query's own.
    #[config(default = 32.0)]
    pub slice_weight: f64,
    /// Side of the spatial tiles queries are grouped in at inference, metres. Default 64.
    #[config(default = 64.0)]
    pub tile_m: f64,
    /// Queries decoded together at inference. Default 1024.
    #[config(default = 1024)]
    pub query_chunk: usize,
    /// Factor on the σ of the Gaussian head, chosen on validation seeds so that the stated
    /// ±1σ interval holds 68 % of the truths there. Default 1.
    #[config(default = 1.0)]
    pub std_calibration: f64,
    /// Whether σ adds the measurement noise of the query's slice: the nugget of an ordinary
    /// kriging variogram fitted to that slice's measurements (all of them, the held-out
    /// truths never), so that σ² = (calibration · σ_head)² + nugget. Why: the head learned the
    /// error of predicting noise-free simulated truths; a real measurement carries receiver
    /// noise and small-scale fading besides, which a held-out truth has too. On simulated
    /// data the fitted nugget is small but not zero. With [`ContextConfig::denoise`] the
    /// noise added is the variance denoising took out instead (0 where its checks find no
    /// noise). Default off (weights stored before it).
    #[config(default = false)]
    pub measurement_noise: bool,
    /// Whether each slice's readings are denoised before the network sees them: replaced by
    /// ordinary kriging's estimate of the noise-free field at their positions, with the
    /// noise variance the smaller of the fitted nugget and the short-lag intercept
    /// ([`super::noise`]). Why: the network learned on noise-free readings and interpolates
    /// what it is given; on real readings that is the receiver's noise too (`data/real-dev`,
    /// USRP files at 10 %: 4.57 → 4.27 dB). Noise-free readings pass through; with
    /// `measurement_noise`, σ adds the variance taken out. Default off (weights stored before
    /// it).
    #[config(default = false)]
    pub denoise: bool,
}

impl ContextConfig {
    /// Checks that every setting is positive.
    pub fn validate(&self) -> RmeResult<()> {
        if self.max_visible == 0 || self.query_chunk == 0 {
            return Err(RmeError::invalid("FM-RME context", "max_visible and query_chunk must be positive"));
        }
        positive(
            "FM-RME context",
            &[("slice_weight", self.slice_weight), ("tile_m", self.tile_m), ("std_calibration", self.std_calibration)],
        )
    }
}

/// Reads a stored config (a manifest's, a run's): fields added since it was written take
/// their defaults, and keys it has that the config lacks are ignored (manifests written before
/// the context rule moved out of the architecture hold both in one object).
pub fn with_defaults<T: Config>(defaults: T, stored: &serde_json::Value) -> std::result::Result<T, serde_json::Error> {
    let mut merged = serde_json::to_value(defaults)?;
    if let (Some(into), Some(from)) = (merged.as_object_mut(), stored.as_object()) {
        for (key, value) in from {
            into.insert(key.clone(), value.clone());
        }
    } else {
        merged = stored.clone();
    }
    serde_json::from_value(merged)
}

impl FmRmeConfig {
    /// A stored architecture, with the defaults of fields added since ([`with_defaults`]).
    pub fn from_stored(stored: &serde_json::Value) -> std::result::Result<Self, serde_json::Error> {
        with_defaults(Self::new(), stored)
    }
}

impl ContextConfig {
    /// A stored context rule, with the defaults of fields added since ([`with_defaults`]).
    pub fn from_stored(stored: &serde_json::Value) -> std::result::Result<Self, serde_json::Error> {
        with_defaults(Self::new(), stored)
    }
}

fn positive(what: &str, values: &[(&str, f64)]) -> RmeResult<()> {
    for (name, v) in values {
        if !(v.is_finite() && *v > 0.0) {
            return Err(RmeError::invalid(what, format!("{name} = {v} must be positive")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_errors() {
        assert!(FmRmeConfig::tiny().with_d_model(12).validate().is_err());
        assert!(FmRmeConfig::tiny().with_length_scale_m(0.0).validate().is_err());
        assert!(FmRmeConfig::preset("huge").is_err());
        assert!(FmRmeConfig::small().validate().is_ok());
        assert!(ContextConfig::new().with_slice_weight(f64::NAN).validate().is_err());
        assert!(ContextConfig::new().with_max_visible(0).validate().is_err());
        assert!(ContextConfig::new().validate().is_ok());
    }

    /// Manifests written before the context settings moved out of the architecture carry
    /// them inside `config`: both configs read from that one object.
    #[test]
    fn an_old_combined_config_reads_as_both() {
        let old = serde_json::json!({"d_model": 16, "n_heads": 2, "d_ff": 32, "gafe_layers": 1, "encoder_layers": 1,
            "decoder_layers": 1, "k_neighbours": 4, "dropout": 0.0, "length_scale_m": 64.0, "time_scale_s": 30.0,
            "freq_center_hz": 4.2e9, "freq_scale_hz": 1e9, "min_power_std_db": 3.0, "query_chunk": 512,
            "max_visible": 200, "slice_weight": 8.0, "tile_m": 32.0});
        let model = FmRmeConfig::from_stored(&old).unwrap();
        assert_eq!(model, FmRmeConfig::tiny());
        assert!(!model.std_head, "weights from before the σ head have none");
        let context = ContextConfig::from_stored(&old).unwrap();
        assert_eq!(context, ContextConfig::new().with_max_visible(200).with_slice_weight(8.0).with_tile_m(32.0).with_query_chunk(512));
    }
}
