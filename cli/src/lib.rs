//! The parts of the `carnet` command line that read files from outside (the
//! key file), as a library: the fuzz targets in `carnet-reliability` call
//! them, and the binary uses them from here.

#![forbid(unsafe_code)]

pub mod error;
pub mod key;
