//! The process whose power `tests/power_loss.rs` cuts: registers the
//! power-cut VFS shim as SQLite's default VFS, opens a store and edits it in
//! a loop, printing each edit on stdout (flushed) only after the call that
//! made it returned. Every printed line is a promise the store must keep.
//!
//! Where the power goes is drawn from the seed: between two edits, after a
//! number of them; at the n-th write, truncation or sync of the store's
//! files, inside a call (opening, migrating, committing, checkpointing); or
//! at the n-th sync, just before it or just after it (synced, never
//! acknowledged). Either way the unsynced writes are dropped and the process
//! exits at once (`power::CUT_EXIT` or `power::CUT_IN_IO_EXIT`).
//!
//! `power-writer DB SEED PREFIX`

#![forbid(unsafe_code)]

use carnet_reliability::power::{self, CutAt};
use carnet_reliability::work::write_and_acknowledge;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, seed, prefix] = &args[..] else {
        eprintln!("usage: power-writer DB SEED PREFIX");
        std::process::exit(2);
    };
    let Ok(seed) = seed.parse::<u64>() else {
        eprintln!("bad seed {seed:?}");
        std::process::exit(2);
    };
    if let Err(e) = power::install(true) {
        eprintln!("cannot install the power-cut VFS: {e}");
        std::process::exit(2);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let max_steps: u64 = match rng.random_range(0..4) {
        0 | 1 => rng.random_range(0..300),
        2 => {
            power::arm(rng.random_range(1..4000), CutAt::Op);
            5000
        }
        _ => {
            let at = if rng.random_bool(0.5) {
                CutAt::BeforeSync
            } else {
                CutAt::AfterSync
            };
            power::arm(rng.random_range(1..300), at);
            5000
        }
    };
    write_and_acknowledge(db, prefix, &mut rng, Some(max_steps));
    power::cut_power()
}
