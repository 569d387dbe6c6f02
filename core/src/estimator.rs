//! The one interface every method implements (ARCHITECTURE.md §One interface). The classical
//! methods are built by name in [`crate::classic`]; the trained ones in [`crate::models`].

use crate::error::Result;
use crate::map::{Estimate, MeasurementSet, QuerySet};

/// A radio map estimator: measurements in, estimates at query points out.
pub trait Estimator {
    /// The method's name in tables, on the page and in errors.
    fn name(&self) -> &str;
    /// Estimate power (dBm) and, where the method has one, its standard deviation (dB)
    /// at every query point, from the observed measurements.
    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate>;
}
