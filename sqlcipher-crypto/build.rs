//! `libsqlite3-sys` asks the linker for OpenSSL's `libcrypto` whenever it
//! builds SQLCipher neither with a vendored OpenSSL nor for Apple. SQLCipher
//! takes its crypto from this crate instead (src/lib.rs), so nothing of
//! `libcrypto` is used: an empty archive answers the request, and no
//! OpenSSL has to be installed on the build machine (or exist for Android).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("apple") || target.contains("windows") {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("no-libcrypto");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    std::fs::write(out.join("libcrypto.a"), b"!<arch>\n").expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search=native={}", out.display());
}
