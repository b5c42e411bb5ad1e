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

/// A campaign's size or seed from the environment (`RELIABILITY_KILLS`,
/// `RELIABILITY_SEED`…), or `default` when unset or not a number: the quick
/// runs of `cargo test` and the full runs share one test.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
