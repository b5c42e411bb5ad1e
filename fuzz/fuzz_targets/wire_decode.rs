#![no_main]
//! The sync envelope decoder (`carnet_core::sync::wire::decode`).
//!
//! libfuzzer-sys's panic hook aborts on every panic, even one the core
//! catches on purpose (it guards automerge with `catch_unwind`); the hook
//! is put back to a silent one so that only panics reaching this function
//! count: libfuzzer-sys still aborts on those and saves the input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    carnet_reliability::fuzzing::wire_decode(data);
});
