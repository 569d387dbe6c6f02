//! Deterministic propagation terms: free-space reference loss, log-distance path loss, noise,
//! and the noise-free mean received power of a simulated scene (the GP oracle's mean).
//! Transcendentals come from `libm` so that simulated maps are bit-identical on every platform.

use crate::map::{PropagationTruth, RadioMap, TxTrack};

/// Speed of light in vacuum, m/s.
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

/// Thermal noise PSD, dBm per Hz at 290 K.
pub const THERMAL_NOISE_DBM_PER_HZ: f64 = -174.0;

/// `10^(dB/10)`.
pub fn db_to_linear(db: f64) -> f64 {
    libm::pow(10.0, db / 10.0)
}

/// `10·log10(lin)`.
pub fn linear_to_db(lin: f64) -> f64 {
    10.0 * libm::log10(lin)
}

/// Free-space loss at distance `d_m` and frequency `f_hz`, dB (Friis): `20·log10(4π d f / c)`.
pub fn free_space_loss_db(d_m: f64, f_hz: f64) -> f64 {
    20.0 * libm::log10(4.0 * std::f64::consts::PI * d_m * f_hz / SPEED_OF_LIGHT_M_S)
}

/// Noise power in `bandwidth_hz` with a receiver noise figure, dBm.
pub fn noise_dbm(bandwidth_hz: f64, noise_figure_db: f64) -> f64 {
    THERMAL_NOISE_DBM_PER_HZ + 10.0 * libm::log10(bandwidth_hz) + noise_figure_db
}

/// Log-distance path loss `PL(d) = PL0(f) + 10·n·log10(d/d0)`, with `PL0(f)` the free-space loss
/// at `d0` (so the loss grows as `20·log10 f`). Distances below `d0` are clamped to `d0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogDistance {
    /// Path-loss exponent `n`.
    pub exponent: f64,
    /// Reference distance `d0` of the free-space term, metres.
    pub reference_distance_m: f64,
}

impl LogDistance {
    /// Path loss at distance `d_m` and frequency `f_hz`, dB.
    pub fn loss_db(&self, d_m: f64, f_hz: f64) -> f64 {
        let d0 = self.reference_distance_m;
        free_space_loss_db(d0, f_hz) + 10.0 * self.exponent * libm::log10(d_m.max(d0) / d0)
    }
}

/// 3-D distance between a receiver at `(x, y, z_rx)` and a transmitter.
pub fn distance_3d(x: f64, y: f64, z_rx: f64, tx: [f64; 3]) -> f64 {
    let (dx, dy, dz) = (x - tx[0], y - tx[1], z_rx - tx[2]);
    libm::sqrt(dx * dx + dy * dy + dz * dz)
}

/// Receiver antenna height used by the dynamic simulator, metres.
pub const RX_HEIGHT_M: f64 = 1.5;

/// Noise-free mean received power (dBm) of a simulated scene at a point, slot and band:
/// `10·log10(Σ_k P_k·10^(−PL_k/10) + N0)` over the transmitters active there — the
/// simulator's model without its shadowing.
pub fn mean_power_dbm(truth: &PropagationTruth, tx: &[TxTrack], slot: usize, band: usize, freq_hz: f64, x: f64, y: f64) -> f64 {
    let pl = LogDistance { exponent: truth.path_loss_exponent, reference_distance_m: truth.reference_distance_m };
    let mut lin = db_to_linear(truth.noise_dbm);
    for t in tx.iter().filter(|t| t.is_active(slot, band)) {
        if let Some(p) = t.position(slot) {
            lin += db_to_linear(t.power_dbm - pl.loss_db(distance_3d(x, y, RX_HEIGHT_M, p), freq_hz));
        }
    }
    linear_to_db(lin)
}

/// Slot index of time `t_s` in a map (the last slot starting at or before it).
pub fn slot_of(map: &RadioMap, t_s: f64) -> usize {
    let mut best = 0;
    for (i, &s) in map.slots_s.iter().enumerate() {
        if s <= t_s + 1e-9 {
            best = i;
        }
    }
    best
}

/// Band index of a frequency in a map (the nearest centre).
pub fn band_of(map: &RadioMap, f_hz: f64) -> usize {
    let mut best = 0;
    let mut dist = f64::INFINITY;
    for (i, &b) in map.bands_hz.iter().enumerate() {
        let d = (b - f_hz).abs();
        if d < dist {
            dist = d;
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_at_one_metre_2_4_ghz() {
        // 20·log10(4π·1·2.4e9/c) = 40.05 dB (hand-computed).
        assert!((free_space_loss_db(1.0, 2.4e9) - 40.046).abs() < 0.01);
    }

    #[test]
    fn log_distance_slope() {
        let pl = LogDistance { exponent: 3.0, reference_distance_m: 1.0 };
        let a = pl.loss_db(10.0, 3e9);
        let b = pl.loss_db(100.0, 3e9);
        assert!((b - a - 30.0).abs() < 1e-9);
        // Doubling the frequency adds 20·log10(2) ≈ 6.02 dB.
        assert!((pl.loss_db(10.0, 6e9) - a - 6.0206).abs() < 1e-3);
    }

    #[test]
    fn noise_in_one_mhz() {
        assert!((noise_dbm(1e6, 7.0) - (-107.0)).abs() < 1e-9);
    }
}
