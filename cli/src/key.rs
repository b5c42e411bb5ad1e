//! Where the store's encryption key comes from.
//!
//! A phone keeps its key in the Keystore/Keychain; a command-line device has
//! two options: `CARNET_KEY` (64 hexadecimal characters, for scripts and
//! secret managers), which wins when set, or a key file `carnet.key` that
//! `carnet init` generates beside the store, readable by its owner only
//! (0600). A key file anyone else can read is refused, as ssh refuses a
//! private key with loose permissions: the encryption would protect nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use carnet_core::store::Key;

use crate::error::{CliError, Result};

/// The environment variable that holds the key.
pub const ENV: &str = "CARNET_KEY";
/// The key file's name inside the store directory.
pub const FILE_NAME: &str = "carnet.key";

/// Where the key came from, for `init` to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `CARNET_KEY` environment variable.
    Env,
    /// A key file (existing or just generated).
    File(PathBuf),
}

/// The key file's path for a store directory.
pub fn file_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The key from `CARNET_KEY`, if it is set (and not empty).
fn from_env() -> Result<Option<Key>> {
    match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => parse(&v, ENV).map(Some),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(CliError::BadKey(format!(
            "{ENV}: expected 64 hexadecimal characters"
        ))),
    }
}

/// Parses 64 hex characters. The message never repeats the value: it is a secret.
fn parse(s: &str, origin: &str) -> Result<Key> {
    let bad = || CliError::BadKey(format!("{origin}: expected 64 hexadecimal characters"));
    let bytes = hex::decode(s.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// The key of an existing store: `CARNET_KEY`, else the key file.
pub fn load(dir: &Path) -> Result<Key> {
    if let Some(k) = from_env()? {
        return Ok(k);
    }
    let path = file_path(dir);
    if !path.exists() {
        return Err(CliError::NoKey(dir.to_path_buf()));
    }
    check_permissions(&path)?;
    let text = std::fs::read_to_string(&path)
        .map_err(CliError::io(format!("reading {}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// The key for `init`: `CARNET_KEY`, else the existing key file, else a new
/// random key written to a fresh 0600 key file.
pub fn load_or_create(dir: &Path) -> Result<(Key, Source)> {
    if let Some(k) = from_env()? {
        return Ok((k, Source::Env));
    }
    let path = file_path(dir);
    if path.exists() {
        return Ok((load(dir)?, Source::File(path)));
    }
    Ok((create_file(dir)?, Source::File(path)))
}

/// Generates a random key into a new key file in `dir` (created 0700 if
/// absent); fails if a key file is already there.
pub fn create_file(dir: &Path) -> Result<Key> {
    let key: Key = rand::random();
    create_private_dir(dir)?;
    write_private(&file_path(dir), &hex::encode(key))?;
    Ok(key)
}

/// Creates a directory (and its parents) that only its owner can enter.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(CliError::io(format!("creating {}", dir.display())))
}

/// Creates `path` readable and writable by its owner only, failing if it exists.
fn write_private(path: &Path, content: &str) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let what = format!("writing the key file {}", path.display());
    let mut f = opts.open(path).map_err(CliError::io(what.clone()))?;
    writeln!(f, "{content}")
        .and_then(|_| f.sync_all())
        .map_err(CliError::io(what))
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(CliError::io(format!("reading {}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::BadKey(format!(
            "the key file {} can be read by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_64_hex_and_never_echoes_the_value() {
        assert_eq!(parse(&"ab".repeat(32), "k").unwrap(), [0xab; 32]);
        for bad in ["abc", &"zz".repeat(32), &"ab".repeat(31)] {
            let e = parse(bad, "k").unwrap_err().to_string();
            assert!(!e.contains(bad), "{e}");
        }
    }
}
