//! Fault harnesses for Carnet: process crashes, server crashes, a
//! fault-injecting network proxy, hostile input and load. See
//! `docs/reliability.md` for what each checks and how to run it.

pub mod crash;
pub mod fuzzing;
pub mod work;
