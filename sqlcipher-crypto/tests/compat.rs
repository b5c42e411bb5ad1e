//! Databases that SQLCipher wrote through OpenSSL open, read and take writes
//! through this provider: the phones' existing stores survive the change of
//! provider. The fixtures (`tests/fixtures/`, a few KB each) were written
//! once, on 2026-12-07:
//! - `sqlcipher4-openssl.db`: SQLCipher 4.20 (`libsqlite3-sys` 0.40 with
//!   `bundled-sqlcipher-vendored-openssl`, OpenSSL 3.6), default settings,
//!   raw key `x'4242…42'` (32 bytes), as the store keys its files;
//! - `sqlcipher3-openssl.db`: SQLCipher 3.4.1 (Debian's `sqlcipher` shell,
//!   OpenSSL 3), passphrase `secret`: PBKDF2-HMAC-SHA1 and HMAC-SHA1, the
//!   other branches of the provider.
//!
//! Each holds one table `t (x TEXT)` with one row.

use rusqlite::Connection;
// Linked for SQLCipher, which calls it; nothing is used from Rust.
use carnet_sqlcipher_crypto as _;

const RAW_KEY: &str = "\"x'4242424242424242424242424242424242424242424242424242424242424242'\"";

fn copy_of(fixture: &str, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let to = dir.path().join(fixture);
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture),
        &to,
    )
    .unwrap();
    to
}

fn open(path: &std::path::Path, key: &str, compat: Option<u8>) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    c.execute_batch(&format!("PRAGMA key = {key};"))?;
    if let Some(v) = compat {
        c.execute_batch(&format!("PRAGMA cipher_compatibility = {v};"))?;
    }
    Ok(c)
}

fn rows(c: &Connection) -> rusqlite::Result<Vec<String>> {
    c.prepare("SELECT x FROM t ORDER BY rowid")?
        .query_map([], |r| r.get(0))?
        .collect()
}

fn integrity(c: &Connection) -> Vec<String> {
    c.prepare("PRAGMA cipher_integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_sqlcipher_4_database_written_through_openssl_is_read_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of("sqlcipher4-openssl.db", &dir);
    {
        let c = open(&path, RAW_KEY, None).unwrap();
        let provider: String = c
            .query_row("PRAGMA cipher_provider", [], |r| r.get(0))
            .unwrap();
        assert_eq!(provider, "carnet-sqlcipher-crypto");
        assert_eq!(rows(&c).unwrap(), ["écrit par SQLCipher 4.20 avec OpenSSL"]);
        c.execute("INSERT INTO t VALUES ('ajouté ici')", [])
            .unwrap();
    }
    let c = open(&path, RAW_KEY, None).unwrap();
    assert_eq!(
        rows(&c).unwrap(),
        ["écrit par SQLCipher 4.20 avec OpenSSL", "ajouté ici"]
    );
    assert!(integrity(&c).is_empty(), "{:?}", integrity(&c));
}

#[test]
fn a_sqlcipher_3_database_opens_in_compatibility_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of("sqlcipher3-openssl.db", &dir);
    let c = open(&path, "'secret'", Some(3)).unwrap();
    assert_eq!(rows(&c).unwrap(), ["from sqlcipher 3.4.1 with openssl"]);
    c.execute("INSERT INTO t VALUES ('added here')", [])
        .unwrap();
    assert!(integrity(&c).is_empty(), "{:?}", integrity(&c));
}

#[test]
fn the_wrong_key_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of("sqlcipher4-openssl.db", &dir);
    let wrong = RAW_KEY.replace("4242'", "4243'");
    let c = open(&path, &wrong, None).unwrap();
    let err = rows(&c).unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
}

#[test]
fn a_new_database_is_salted_and_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str| {
        let path = dir.path().join(name);
        let c = open(&path, RAW_KEY, None).unwrap();
        c.execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('Mme Confidentielle');")
            .unwrap();
        drop(c);
        std::fs::read(path).unwrap()
    };
    let (a, b) = (write("a.db"), write("b.db"));
    assert!(!a.windows(18).any(|w| w == b"Mme Confidentielle"));
    assert!(
        !a.windows(6).any(|w| w == b"SQLite"),
        "the header is encrypted too"
    );
    assert_ne!(a[..16], b[..16], "each file has its own random salt");
}
