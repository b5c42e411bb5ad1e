//! Fault harnesses for Carnet: process crashes, power cuts, server crashes, a
//! fault-injecting network proxy, hostile input, load, and several server
//! instances behind HAProxy. See
//! `docs/reliability.md` for what each checks and how to run it.
//!
//! `unsafe` lives in [`power`] alone (the SQLite VFS shim that simulates
//! power cuts); every other module forbids it.

#![deny(unsafe_code)]

#[cfg(feature = "server")]
pub mod campaigns;
pub mod crash;
#[cfg(feature = "server")]
pub mod front;
pub mod fuzzing;
#[cfg(feature = "server")]
pub mod multi;
#[cfg(feature = "pg")]
pub mod pg;
#[cfg(feature = "photos")]
pub mod photos;
// The one exception: a SQLite VFS is C callbacks over raw pointers.
#[allow(unsafe_code)]
pub mod power;
pub mod proxy;
#[cfg(feature = "server")]
pub mod server;
pub mod work;

/// A campaign's size or seed from the environment (`RELIABILITY_KILLS`,
/// `RELIABILITY_SEED`…), or `default` when unset or not a number: the quick
/// runs of `cargo test` and the full runs share one test.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
