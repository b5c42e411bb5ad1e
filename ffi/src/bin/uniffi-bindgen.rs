//! `uniffi-bindgen`: generates Carnet's Kotlin and Swift bindings from the
//! built library (library mode), reading `ffi/uniffi.toml`.

#![forbid(unsafe_code)]

fn main() {
    uniffi::uniffi_bindgen_main()
}
