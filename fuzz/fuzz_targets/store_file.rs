#![no_main]
//! A store file from outside (`Store::open_unencrypted` and reads on fuzzed
//! database bytes): an error or a store, never a panic.
//!
//! libfuzzer-sys's panic hook aborts on every panic, even one the core
//! catches on purpose (it guards automerge with `catch_unwind`); the hook
//! is put back to a silent one so that only panics reaching this function
//! count: libfuzzer-sys still aborts on those and saves the input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    carnet_reliability::fuzzing::store_file(data);
});
