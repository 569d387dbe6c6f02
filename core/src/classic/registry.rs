//! Construction of the classical estimators by name (the CLI's and the page's `--method`).

use super::{GpOracle, Idw, Kriging, Ldpl, Sliced};
use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::RadioMap;

/// Names accepted by [`classical_by_name`].
pub const CLASSICAL_METHODS: [&str; 6] = ["idw", "ldpl", "ldpl-unknown", "kriging", "universal-kriging", "oracle"];

/// What a method silently does differently with these measurements, said out loud: `ldpl`
/// and `universal-kriging` without a transmitter position fall back to `ldpl-unknown` and
/// ordinary kriging. `None` when the method runs as named.
pub fn fallback_note(method: &str, obs: &crate::map::MeasurementSet) -> Option<String> {
    if obs.tx_m.is_some() {
        return None;
    }
    match method {
        "ldpl" => Some("ldpl: no transmitter position (sidecar tx_m), so it is fitted, as ldpl-unknown does".into()),
        "universal-kriging" | "uk" => {
            Some("universal-kriging: no transmitter position (sidecar tx_m), so there is no distance trend: it is ordinary kriging".into())
        }
        _ => None,
    }
}

/// Builds a classical estimator. `scene` is the simulated map the data came from; only the
/// oracle needs it (it reads the simulator's true model from it).
///
/// - `ldpl` uses the transmitter position when the measurement set carries one and fits it
///   otherwise; `ldpl-unknown` always fits it.
/// - `universal-kriging` uses the log-distance trend when the transmitter is known and is
///   ordinary kriging otherwise.
pub fn classical_by_name(name: &str, scene: Option<&RadioMap>) -> Result<Box<dyn Estimator>> {
    Ok(match name {
        "idw" => Box::new(Sliced(Idw::default())),
        "ldpl" => Box::new(Sliced(Ldpl { use_known_tx: true })),
        "ldpl-unknown" => Box::new(Sliced(Ldpl { use_known_tx: false })),
        "kriging" => Box::new(Sliced(Kriging::ordinary())),
        "universal-kriging" | "uk" => Box::new(Sliced(Kriging::universal())),
        "oracle" => {
            let map =
                scene.ok_or_else(|| RmeError::unsupported("oracle", "needs the simulated scene (a map set made by `rme simulate`)"))?;
            Box::new(GpOracle::from_map(map)?)
        }
        other => return Err(RmeError::invalid("method", format!("'{other}' is not one of {}", CLASSICAL_METHODS.join(", ")))),
    })
}
