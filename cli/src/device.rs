//! The device store behind `--store DIR`: `DIR/carnet.db`, encrypted with the
//! key of [`crate::key`], and the enrollment `init` saves inside it (so the
//! token is encrypted at rest with everything else).

use std::path::{Path, PathBuf};

use carnet_core::{DeviceEnrollment, Store};

use crate::error::{CliError, Result};
use crate::key;

/// The database file's name inside the store directory.
pub const DB_FILE: &str = "carnet.db";

/// The store directory, or a usage error saying how to give one.
pub fn dir(store: Option<&Path>) -> Result<PathBuf> {
    store.map(Path::to_path_buf).ok_or_else(|| {
        CliError::Usage("which store? pass --store DIR (or set CARNET_STORE)".into())
    })
}

/// The database path inside a store directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// Opens an existing store. Never creates one: a mistyped `--store` must not
/// silently start an empty notebook.
pub fn open(dir: &Path) -> Result<Store> {
    let path = db_path(dir);
    if !path.is_file() {
        return Err(CliError::NoStore(dir.to_path_buf()));
    }
    let key = key::load(dir)?;
    Ok(Store::open(path, &key)?)
}

/// Opens the store, creating it and its key if needed (for `init`).
pub fn open_or_create(dir: &Path) -> Result<(Store, key::Source)> {
    let (key, source) = if db_path(dir).is_file() {
        // An existing store keeps its key; never generate a new one for it.
        let k = key::load(dir)?;
        let source = if std::env::var(key::ENV).is_ok_and(|v| !v.trim().is_empty()) {
            key::Source::Env
        } else {
            key::Source::File(key::file_path(dir))
        };
        (k, source)
    } else {
        key::create_private_dir(dir)?;
        key::load_or_create(dir)?
    };
    Ok((Store::open(db_path(dir), &key)?, source))
}

/// The enrollment saved by `init`, or [`CliError::NotEnrolled`].
pub fn enrolled(store: &Store) -> Result<DeviceEnrollment> {
    store.enrollment()?.ok_or(CliError::NotEnrolled)
}
