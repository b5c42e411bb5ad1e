//! The process that `tests/crash.rs` kills: opens a store and edits it in a
//! loop, printing each edit on stdout (flushed) only after the call that made
//! it returned. Every printed line is a promise the store must keep.
//!
//! `crash-writer DB SEED PREFIX`

use std::io::Write;

use carnet_core::Store;
use carnet_reliability::work::Worker;
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
    loop {
        let mut intent = |a: carnet_reliability::work::Ack| {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{a}");
            let _ = o.flush();
        };
        match worker.step_with(&store, &mut rng, &mut intent) {
            Ok(Some(ack)) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{ack}");
                let _ = out.flush();
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("store error: {e}");
                std::process::exit(3);
            }
        }
    }
}
