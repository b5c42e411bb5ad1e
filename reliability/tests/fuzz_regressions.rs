//! Every input a fuzzer found crashing (copied from `fuzz/artifacts/` into
//! `tests/fuzz-regressions/<target>/`), and the seed corpora, replayed
//! through the same checks the fuzz targets run (`carnet_reliability::fuzzing`).

use std::path::Path;

fn replay(target: &str, f: impl Fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in [
        root.join("tests/fuzz-regressions").join(target),
        root.join("../fuzz/corpus").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for p in files {
            let data = std::fs::read(&p).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&data)));
            assert!(r.is_ok(), "{target}: {} fails again", p.display());
            n += 1;
        }
    }
    n
}

#[test]
fn wire_decode_regressions() {
    let n = replay("wire_decode", carnet_reliability::fuzzing::wire_decode);
    println!("wire_decode: {n} inputs replayed");
}

#[test]
fn apply_changes_regressions() {
    let n = replay("apply_changes", carnet_reliability::fuzzing::apply_bytes);
    println!("apply_changes: {n} inputs replayed");
}

#[test]
fn key_file_regressions() {
    let n = replay("key_file", carnet_reliability::fuzzing::key_file);
    println!("key_file: {n} inputs replayed");
}

#[test]
fn store_file_regressions() {
    let n = replay("store_file", carnet_reliability::fuzzing::store_file);
    println!("store_file: {n} inputs replayed");
}

#[cfg(feature = "server")]
#[test]
fn http_handlers_regressions() {
    let n = replay("http_handlers", carnet_reliability::fuzzing::http_bytes);
    println!("http_handlers: {n} inputs replayed");
}

/// A few thousand random inputs through each check, so that a broken check
/// shows up in `scripts/test` even without a fuzzer.
#[test]
fn random_inputs_through_every_check() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    for i in 0..600 {
        let len = rng.random_range(0..400);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        carnet_reliability::fuzzing::wire_decode(&data);
        if i % 3 == 0 {
            carnet_reliability::fuzzing::apply_bytes(&data);
        }
        if i % 3 == 2 {
            carnet_reliability::fuzzing::store_file(&data);
        }
        carnet_reliability::fuzzing::key_file(&data);
        #[cfg(feature = "server")]
        if i % 3 == 1 {
            carnet_reliability::fuzzing::http_bytes(&data);
        }
    }
}
