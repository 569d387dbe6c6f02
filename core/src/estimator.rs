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

    /// [`Estimator::estimate`], calling `progress(done, total)` as parts of the work finish
    /// (methods that work in parts override it; the others report only the end).
    fn estimate_with_progress(&self, obs: &MeasurementSet, query: &QuerySet, progress: &dyn Fn(usize, usize)) -> Result<Estimate> {
        let e = self.estimate(obs, query)?;
        progress(1, 1);
        Ok(e)
    }

    /// [`Estimator::estimate`], with every value checked finite ([`Estimate::check_finite`]):
    /// what the CLI and the page call.
    fn estimate_checked(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        let e = self.estimate(obs, query)?;
        e.check_finite(query, self.name())?;
        Ok(e)
    }
}
