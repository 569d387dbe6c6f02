//! The one interface every method implements (ARCHITECTURE.md §One interface). The classical
//! methods are built by name in [`crate::classic`]; the trained ones in [`crate::models`].

use crate::error::Result;
use crate::map::{Estimate, MeasurementSet, QuerySet};

pub trait Estimator {
    fn name(&self) -> &str;
    /// Estimate power (dBm) and, where the method has one, its standard deviation (dB)
    /// at every query point, from the observed measurements.
    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate>;
}
