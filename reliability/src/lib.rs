//! Fault harnesses for Carnet: process crashes, power cuts, server crashes, a
//! fault-injecting network proxy, hostile input and load. See
//! `docs/reliability.md` for what each checks and how to run it.

#[cfg(feature = "server")]
pub mod campaigns;
pub mod crash;
pub mod fuzzing;
pub mod power;
#[cfg(feature = "server")]
pub mod proxy;
#[cfg(feature = "server")]
pub mod server;
pub mod work;
