//! rme-trainer: the work behind the `rme` command line — simulate, estimate, evaluate, train,
//! export, benchmark — as a library, so that the command line (`main.rs`) and the Python
//! package (`python/`) call the same code. Everything that touches files lives here; the
//! models and estimators themselves are in `rme-core`.

pub mod bench;
pub mod calibrate;
pub mod check;
pub mod cli_values;
pub mod common;
pub mod demo;
pub mod estimate;
pub mod eval;
pub mod export;
#[cfg(test)]
mod fuzz;
pub mod outputs;
pub mod simulate;
pub mod suite;
pub mod suite_radiodun;
pub mod suite_urban;
pub mod train;
pub mod train_grid;
pub mod train_loop;
pub mod train_storm;
