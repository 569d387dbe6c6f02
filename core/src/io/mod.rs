//! Formats (FORMATS.md), from and to bytes or text: core does no file-system I/O.

pub mod csv;
pub mod mapset;
pub mod npy;
pub mod png;
