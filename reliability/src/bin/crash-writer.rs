//! The process that `tests/crash.rs` kills: opens a store and edits it in a
//! loop, printing each edit on stdout (flushed) only after the call that made
//! it returned. Every printed line is a promise the store must keep.
//!
//! `crash-writer DB SEED PREFIX`

use carnet_core::Store;
use carnet_reliability::work::{Worker, write_and_acknowledge};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, seed, prefix] = &args[..] else {
        eprintln!("usage: crash-writer DB SEED PREFIX");
        std::process::exit(2);
    };
    let mut rng = StdRng::seed_from_u64(seed.parse().expect("seed"));
    let store = match Store::open_unencrypted(db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("open failed: {e}");
            std::process::exit(3);
        }
    };
    println!("O");
    let mut worker = Worker::new(&store, prefix.clone()).expect("read the store");
    write_and_acknowledge(&store, &mut worker, &mut rng, None);
}
