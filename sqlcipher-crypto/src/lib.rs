//! SQLCipher's crypto, for every SQLite database the workspace opens.
//!
//! SQLCipher encrypts each page with AES-256-CBC, authenticates it with an
//! HMAC, derives keys with PBKDF2 and draws IVs from a random source; it
//! takes these from a *provider*. `libsqlite3-sys` offers OpenSSL (vendored
//! into the phones' library, where it weighed 2.5–4 MB of the 13 MB: the
//! whole default provider of OpenSSL 3 comes with the four functions) or, on
//! Apple platforms, CommonCrypto. This crate is a third: the same algorithms
//! from ring (HMAC, PBKDF2, the system's random source; already in every
//! binary through rustls) and RustCrypto's `aes` and `cbc` (hardware AES on
//! x86-64 and arm64 when the CPU has it). The file format does not depend on
//! the provider, so a store written through OpenSSL opens here, and the
//! other way round (`tests/compat.rs` opens databases that SQLCipher 4 and 3
//! wrote with OpenSSL).
//!
//! SQLCipher is compiled with `SQLCIPHER_CRYPTO_CUSTOM=carnet_sqlcipher_setup`
//! (the workspace's `.cargo/config.toml` passes it through
//! `LIBSQLITE3_FLAGS`) and calls [`carnet_sqlcipher_setup`] once, when SQLite
//! is first initialised, to fill its provider table. On Apple targets
//! `libsqlite3-sys` compiles SQLCipher for CommonCrypto instead, which takes
//! precedence; this crate is then unused there.
//!
//! Every function checks its pointers and sizes and answers `SQLITE_ERROR`
//! rather than panicking: a panic cannot cross into C.

use std::ffi::{c_char, c_int, c_void};
use std::num::NonZeroU32;

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::NoPadding};
use ring::rand::SecureRandom;

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;
/// `mode` of [`Provider`]'s `cipher`, as SQLCipher defines it.
const DECRYPT: c_int = 0;
const ENCRYPT: c_int = 1;
/// `algorithm` of `hmac`, `kdf` and `get_hmac_sz`, as SQLCipher defines it
/// (SHA-512 is SQLCipher 4's default; SHA-1 is SQLCipher 3's, which
/// `PRAGMA cipher_compatibility = 3` still opens).
const SHA1: c_int = 0;
const SHA256: c_int = 1;
const SHA512: c_int = 2;
const KEY_LEN: usize = 32;
const BLOCK_LEN: usize = 16;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// SQLCipher's provider table (`struct sqlcipher_provider` of SQLCipher
/// 4.x, field for field), which [`carnet_sqlcipher_setup`] fills.
#[repr(C)]
pub struct Provider {
    init: Option<unsafe extern "C" fn() -> c_int>,
    shutdown: Option<unsafe extern "C" fn()>,
    get_provider_name: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    add_random: Option<unsafe extern "C" fn(*mut c_void, *const c_void, c_int) -> c_int>,
    random: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int>,
    hmac: Option<HmacFn>,
    kdf: Option<KdfFn>,
    cipher: Option<CipherFn>,
    get_cipher: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    get_key_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_iv_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_block_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_hmac_sz: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    ctx_init: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    ctx_free: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    fips_status: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_provider_version: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    next: *mut Provider,
}

/// `hmac(ctx, algorithm, key, key_sz, in, in_sz, in2, in2_sz, out)`.
type HmacFn = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *const u8,
    c_int,
    *const u8,
    c_int,
    *const u8,
    c_int,
    *mut u8,
) -> c_int;
/// `kdf(ctx, algorithm, pass, pass_sz, salt, salt_sz, workfactor, key_sz, key)`.
type KdfFn = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *const u8,
    c_int,
    *const u8,
    c_int,
    c_int,
    c_int,
    *mut u8,
) -> c_int;
/// `cipher(ctx, mode, key, key_sz, iv, in, in_sz, out)`.
type CipherFn = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *const u8,
    c_int,
    *const u8,
    *const u8,
    c_int,
    *mut u8,
) -> c_int;

/// Fills SQLCipher's provider table; SQLCipher calls it (as
/// `SQLCIPHER_CRYPTO_CUSTOM`) once, when SQLite is first initialised.
///
/// # Safety
/// `p` is null or points to writable memory for a [`Provider`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn carnet_sqlcipher_setup(p: *mut Provider) -> c_int {
    if p.is_null() {
        return SQLITE_ERROR;
    }
    let table = Provider {
        init: None,
        shutdown: None,
        get_provider_name: Some(name),
        add_random: Some(add_random),
        random: Some(random),
        hmac: Some(hmac),
        kdf: Some(kdf),
        cipher: Some(cipher),
        get_cipher: Some(cipher_name),
        get_key_sz: Some(key_len),
        get_iv_sz: Some(block_len),
        get_block_sz: Some(block_len),
        get_hmac_sz: Some(hmac_len),
        ctx_init: Some(no_context),
        ctx_free: Some(no_context),
        fips_status: Some(not_fips),
        get_provider_version: Some(version),
        next: std::ptr::null_mut(),
    };
    // SAFETY: the caller hands a pointer to a provider's memory.
    unsafe { p.write(table) };
    SQLITE_OK
}

/// What `PRAGMA cipher_provider` answers.
extern "C" fn name(_: *mut c_void) -> *const c_char {
    c"carnet-sqlcipher-crypto".as_ptr()
}

/// What `PRAGMA cipher_provider_version` answers.
extern "C" fn version(_: *mut c_void) -> *const c_char {
    c"ring 0.17, RustCrypto aes 0.9 + cbc 0.2".as_ptr()
}

/// OpenSSL's short name for the cipher, which SQLCipher's OpenSSL provider
/// reports; kept so that `PRAGMA cipher` reads the same.
extern "C" fn cipher_name(_: *mut c_void) -> *const c_char {
    c"AES-256-CBC".as_ptr()
}

extern "C" fn key_len(_: *mut c_void) -> c_int {
    KEY_LEN as c_int
}

/// The IV and the block are both 16 bytes in AES-CBC.
extern "C" fn block_len(_: *mut c_void) -> c_int {
    BLOCK_LEN as c_int
}

extern "C" fn not_fips(_: *mut c_void) -> c_int {
    0
}

/// No per-database state: every call stands alone.
extern "C" fn no_context(_: *mut *mut c_void) -> c_int {
    SQLITE_OK
}

/// The system's random source needs no seeding from SQLCipher.
extern "C" fn add_random(_: *mut c_void, _: *const c_void, _: c_int) -> c_int {
    SQLITE_OK
}

extern "C" fn hmac_len(_: *mut c_void, algorithm: c_int) -> c_int {
    match algorithm {
        SHA1 => 20,
        SHA256 => 32,
        SHA512 => 64,
        _ => 0,
    }
}

/// `len` bytes at `p`, or None when they cannot be read.
///
/// # Safety
/// When `p` is not null and `len` positive, `p` points to `len` readable bytes.
unsafe fn bytes<'a>(p: *const u8, len: c_int) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `len` writable bytes at `p`, or None when there are none.
///
/// # Safety
/// When `p` is not null and `len` positive, `p` points to `len` writable
/// bytes that nothing else reads or writes meanwhile.
unsafe fn bytes_mut<'a>(p: *mut u8, len: c_int) -> Option<&'a mut [u8]> {
    let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller's contract.
    Some(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Fills `buf` from the operating system's random source (IVs, salts).
unsafe extern "C" fn random(_: *mut c_void, buf: *mut c_void, len: c_int) -> c_int {
    // SAFETY: SQLCipher hands a buffer of `len` bytes.
    let Some(out) = (unsafe { bytes_mut(buf.cast(), len) }) else {
        return SQLITE_ERROR;
    };
    match ring::rand::SystemRandom::new().fill(out) {
        Ok(()) => SQLITE_OK,
        Err(_) => SQLITE_ERROR,
    }
}

/// HMAC of `in1` followed by `in2` (when not null) into `out`, which holds
/// `hmac_len(algorithm)` bytes: each page's authentication tag.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn hmac(
    _: *mut c_void,
    algorithm: c_int,
    key: *const u8,
    key_len: c_int,
    in1: *const u8,
    in1_len: c_int,
    in2: *const u8,
    in2_len: c_int,
    out: *mut u8,
) -> c_int {
    let algorithm = match algorithm {
        SHA1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        SHA256 => ring::hmac::HMAC_SHA256,
        SHA512 => ring::hmac::HMAC_SHA512,
        _ => return SQLITE_ERROR,
    };
    if in1.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher hands buffers of the sizes it gives.
    let (Some(key), Some(in1)) = (unsafe { bytes(key, key_len) }, unsafe {
        bytes(in1, in1_len)
    }) else {
        return SQLITE_ERROR;
    };
    let mut ctx = ring::hmac::Context::with_key(&ring::hmac::Key::new(algorithm, key));
    ctx.update(in1);
    if !in2.is_null() {
        // SAFETY: as above.
        let Some(in2) = (unsafe { bytes(in2, in2_len) }) else {
            return SQLITE_ERROR;
        };
        ctx.update(in2);
    }
    let tag = ctx.sign();
    let tag = tag.as_ref();
    // SAFETY: `out` holds the tag's length (`get_hmac_sz`), as SQLCipher
    // sizes it; the tag's length fits a c_int.
    let Some(out) = (unsafe { bytes_mut(out, tag.len() as c_int) }) else {
        return SQLITE_ERROR;
    };
    out.copy_from_slice(tag);
    SQLITE_OK
}

/// PBKDF2 with the given HMAC: the key from a passphrase, and the HMAC key
/// from the page key.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn kdf(
    _: *mut c_void,
    algorithm: c_int,
    pass: *const u8,
    pass_len: c_int,
    salt: *const u8,
    salt_len: c_int,
    iterations: c_int,
    key_len: c_int,
    key: *mut u8,
) -> c_int {
    let algorithm = match algorithm {
        SHA1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
        SHA256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
        SHA512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        _ => return SQLITE_ERROR,
    };
    let Some(iterations) = u32::try_from(iterations).ok().and_then(NonZeroU32::new) else {
        return SQLITE_ERROR;
    };
    // SAFETY: SQLCipher hands buffers of the sizes it gives.
    let (Some(pass), Some(salt), Some(key)) = (unsafe {
        (
            bytes(pass, pass_len),
            bytes(salt, salt_len),
            bytes_mut(key, key_len),
        )
    }) else {
        return SQLITE_ERROR;
    };
    ring::pbkdf2::derive(algorithm, iterations, salt, pass, key);
    SQLITE_OK
}

/// AES-256-CBC without padding over `len` bytes (a page less its reserved
/// tail, a multiple of the block), from `input` to `out`, which may be the
/// same buffer.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn cipher(
    _: *mut c_void,
    mode: c_int,
    key: *const u8,
    key_len: c_int,
    iv: *const u8,
    input: *const u8,
    len: c_int,
    out: *mut u8,
) -> c_int {
    if mode != ENCRYPT && mode != DECRYPT {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher hands a key of `key_len` bytes and an IV of the
    // block's size.
    let (Some(key), Some(iv)) = (unsafe { bytes(key, key_len) }, unsafe {
        bytes(iv, BLOCK_LEN as c_int)
    }) else {
        return SQLITE_ERROR;
    };
    let (Ok(key), Ok(iv)) = (
        <&[u8; KEY_LEN]>::try_from(key),
        <&[u8; BLOCK_LEN]>::try_from(iv),
    ) else {
        return SQLITE_ERROR;
    };
    if usize::try_from(len).map_or(true, |l| l % BLOCK_LEN != 0) || input.is_null() {
        return SQLITE_ERROR;
    }
    let done = if std::ptr::eq(input, out) {
        // SAFETY: SQLCipher hands `len` bytes to transform in place.
        let Some(buf) = (unsafe { bytes_mut(out, len) }) else {
            return SQLITE_ERROR;
        };
        let n = buf.len();
        if mode == ENCRYPT {
            Aes256CbcEnc::new(key.into(), iv.into())
                .encrypt_padded::<NoPadding>(buf, n)
                .is_ok()
        } else {
            Aes256CbcDec::new(key.into(), iv.into())
                .decrypt_padded::<NoPadding>(buf)
                .is_ok()
        }
    } else {
        // SAFETY: SQLCipher hands `len` bytes to read and another `len`
        // bytes to write.
        let (Some(input), Some(out)) =
            (unsafe { bytes(input, len) }, unsafe { bytes_mut(out, len) })
        else {
            return SQLITE_ERROR;
        };
        if mode == ENCRYPT {
            Aes256CbcEnc::new(key.into(), iv.into())
                .encrypt_padded_b2b::<NoPadding>(input, out)
                .is_ok()
        } else {
            Aes256CbcDec::new(key.into(), iv.into())
                .decrypt_padded_b2b::<NoPadding>(input, out)
                .is_ok()
        }
    };
    if done { SQLITE_OK } else { SQLITE_ERROR }
}

#[cfg(test)]
mod tests {
    //! Published test vectors, through the table SQLCipher calls.
    use super::*;

    fn table() -> Provider {
        let mut p = std::mem::MaybeUninit::<Provider>::uninit();
        // SAFETY: `p` is writable memory for a provider.
        assert_eq!(unsafe { carnet_sqlcipher_setup(p.as_mut_ptr()) }, SQLITE_OK);
        // SAFETY: set up just above.
        unsafe { p.assume_init() }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// What `hmac` answers, and the tag (its length from `get_hmac_sz`).
    fn hmac_of(algorithm: c_int, key: &[u8], parts: (&[u8], Option<&[u8]>)) -> (c_int, Vec<u8>) {
        let p = table();
        let len = unsafe { p.get_hmac_sz.unwrap()(std::ptr::null_mut(), algorithm) } as usize;
        let mut out = vec![0u8; 64];
        let (in2, in2_len) = parts
            .1
            .map_or((std::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
        let rc = unsafe {
            p.hmac.unwrap()(
                std::ptr::null_mut(),
                algorithm,
                key.as_ptr(),
                key.len() as c_int,
                parts.0.as_ptr(),
                parts.0.len() as c_int,
                in2,
                in2_len as c_int,
                out.as_mut_ptr(),
            )
        };
        out.truncate(len);
        (rc, out)
    }

    #[test]
    fn hmacs_match_rfc_2202_and_4231() {
        // RFC 2202 test case 2, RFC 4231 test case 2.
        let (key, data) = (
            b"Jefe".as_slice(),
            b"what do ya want for nothing?".as_slice(),
        );
        let cases = [
            (SHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            (
                SHA256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                SHA512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (algorithm, expected) in cases {
            assert_eq!(
                hmac_of(algorithm, key, (data, None)),
                (SQLITE_OK, unhex(expected))
            );
            // SQLCipher authenticates a page and its number as two inputs.
            let (a, b) = data.split_at(11);
            assert_eq!(
                hmac_of(algorithm, key, (a, Some(b))),
                (SQLITE_OK, unhex(expected))
            );
        }
    }

    /// What `kdf` answers, and the derived key.
    fn pbkdf2(
        algorithm: c_int,
        pass: &[u8],
        salt: &[u8],
        iterations: c_int,
        len: usize,
    ) -> (c_int, Vec<u8>) {
        let p = table();
        let mut out = vec![0u8; len];
        let rc = unsafe {
            p.kdf.unwrap()(
                std::ptr::null_mut(),
                algorithm,
                pass.as_ptr(),
                pass.len() as c_int,
                salt.as_ptr(),
                salt.len() as c_int,
                iterations,
                len as c_int,
                out.as_mut_ptr(),
            )
        };
        (rc, out)
    }

    #[test]
    fn pbkdf2_matches_rfc_6070_and_its_sha2_counterparts() {
        assert_eq!(
            pbkdf2(SHA1, b"password", b"salt", 2, 20),
            (SQLITE_OK, unhex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"))
        );
        assert_eq!(
            pbkdf2(SHA256, b"password", b"salt", 1, 32),
            (
                SQLITE_OK,
                unhex("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
            )
        );
        assert_eq!(
            pbkdf2(SHA512, b"password", b"salt", 1, 64),
            (
                SQLITE_OK,
                unhex(
                    "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
                 c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
                )
            )
        );
    }

    const KEY: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const IV: &str = "000102030405060708090a0b0c0d0e0f";
    const PLAIN: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51";
    const CIPHER: &str = "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d";

    fn run(mode: c_int, key: &[u8], input: &[u8], in_place: bool) -> (c_int, Vec<u8>) {
        let p = table();
        let iv = unhex(IV);
        let mut out = if in_place {
            input.to_vec()
        } else {
            vec![0u8; input.len()]
        };
        let src = if in_place {
            out.as_ptr()
        } else {
            input.as_ptr()
        };
        let rc = unsafe {
            p.cipher.unwrap()(
                std::ptr::null_mut(),
                mode,
                key.as_ptr(),
                key.len() as c_int,
                iv.as_ptr(),
                src,
                input.len() as c_int,
                out.as_mut_ptr(),
            )
        };
        (rc, out)
    }

    #[test]
    fn aes_256_cbc_matches_nist_sp_800_38a_both_ways_and_in_place() {
        // SP 800-38A, F.2.5 / F.2.6 (CBC-AES256), the first two blocks.
        let (key, plain, cipher) = (unhex(KEY), unhex(PLAIN), unhex(CIPHER));
        for in_place in [false, true] {
            assert_eq!(
                run(ENCRYPT, &key, &plain, in_place),
                (SQLITE_OK, cipher.clone())
            );
            assert_eq!(
                run(DECRYPT, &key, &cipher, in_place),
                (SQLITE_OK, plain.clone())
            );
        }
    }

    #[test]
    fn bad_sizes_and_unknown_algorithms_are_refused_not_panicked_on() {
        let (key, plain) = (unhex(KEY), unhex(PLAIN));
        assert_eq!(run(ENCRYPT, &key, &plain[..20], false).0, SQLITE_ERROR);
        assert_eq!(run(ENCRYPT, &key[..16], &plain, false).0, SQLITE_ERROR);
        assert_eq!(run(7, &key, &plain, false).0, SQLITE_ERROR);
        // An unknown algorithm: refused, and no tag size (`hmac_of` sizes
        // its answer with `get_hmac_sz`).
        assert_eq!(hmac_of(9, &key, (&plain, None)), (SQLITE_ERROR, vec![]));
        assert_eq!(
            pbkdf2(SHA512, &key, &plain[..16], 0, 32).0,
            SQLITE_ERROR,
            "zero iterations"
        );
        let p = table();
        let rc = unsafe { p.random.unwrap()(std::ptr::null_mut(), std::ptr::null_mut(), 16) };
        assert_eq!(rc, SQLITE_ERROR);
    }

    #[test]
    fn random_bytes_differ_from_call_to_call() {
        let p = table();
        let draw = || {
            let mut b = [0u8; 32];
            let rc = unsafe { p.random.unwrap()(std::ptr::null_mut(), b.as_mut_ptr().cast(), 32) };
            assert_eq!(rc, SQLITE_OK);
            b
        };
        assert_ne!(draw(), draw());
    }
}
