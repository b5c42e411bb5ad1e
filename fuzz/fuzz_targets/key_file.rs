#![no_main]
//! The command line's key file (`carnet_cli::key::load` on fuzzed file
//! content): a key or an error that never repeats the content, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    carnet_reliability::fuzzing::key_file(data);
});
