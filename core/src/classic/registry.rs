//! Construction of the classical estimators by name (the CLI's and the page's `--method`).

use super::{GpOracle, Idw, Kriging, Ldpl, Sliced};
use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::RadioMap;

/// Names accepted by [`classical_by_name`].
pub const CLASSICAL_METHODS: [&str; 6] = ["idw", "ldpl", "ldpl-unknown", "kriging", "universal-kriging", "oracle"];

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
