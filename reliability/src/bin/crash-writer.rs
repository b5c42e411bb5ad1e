//! The process that `tests/crash.rs` kills: opens a store and edits it in a
//! loop, printing each edit on stdout (flushed) only after the call that made
//! it returned. Every printed line is a promise the store must keep.
//!
//! `crash-writer DB SEED PREFIX`

#![forbid(unsafe_code)]

use carnet_reliability::work::write_and_acknowledge;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, seed, prefix] = &args[..] else {
        eprintln!("usage: crash-writer DB SEED PREFIX");
        std::process::exit(2);
    };
    let mut rng = StdRng::seed_from_u64(seed.parse().expect("seed"));
    write_and_acknowledge(db, prefix, &mut rng, None);
}
