//! [`BlobStore`] as files: `<root>/<team>/<hh>/<hash>` for a complete blob
//! (`hh`: its hash's first two hex digits, so that no directory holds
//! tens of thousands of files), `<hash>.part` while it is being received.
//! Directories are owner-only (0700), files too (0600); every append is
//! synced before it is acknowledged, and a completed upload is renamed
//! into place (atomic), the directory synced: a blob file is whole or
//! absent.
//!
//! One process owns the files (the embedded deployment): appends are
//! serialised by locks in memory, and each team's usage is counted once
//! from the disk, then kept up to date in memory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use carnet_core::photo::PhotoHash;

use super::{BlobCheck, BlobState, BlobStore, check_team, wrong_hash};
use crate::storage::{Result, StorageError};

/// Locks serialising writes: a blob takes the one its hash picks (hashes
/// are uniform, so blobs rarely share one).
const LOCKS: usize = 64;

/// Blobs as files under a directory (`<data_dir>/blobs`).
pub struct FilesBlobStore {
    root: PathBuf,
    locks: Vec<Mutex<()>>,
    /// Bytes per team, counted from the disk at first use.
    usage: Mutex<HashMap<String, u64>>,
}

/// Where a blob's files go.
struct Paths {
    dir: PathBuf,
    complete: PathBuf,
    part: PathBuf,
}

impl FilesBlobStore {
    /// Blobs under `root` (created, owner-only, at the first write).
    pub fn new(root: &Path) -> FilesBlobStore {
        FilesBlobStore {
            root: root.to_path_buf(),
            locks: (0..LOCKS).map(|_| Mutex::new(())).collect(),
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// The directory it keeps blobs in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn paths(&self, team: &str, blob: &PhotoHash) -> Result<Paths> {
        check_team(team)?;
        let hex = blob.to_hex();
        let dir = self.root.join(team).join(&hex[..2]);
        Ok(Paths {
            complete: dir.join(&hex),
            part: dir.join(format!("{hex}.part")),
            dir,
        })
    }

    fn lock(&self, blob: &PhotoHash) -> MutexGuard<'_, ()> {
        // A panic while holding it left at worst a partial file, which the
        // next append's length check or the completion's hash check sees.
        self.locks[usize::from(blob.0[0]) % LOCKS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `delta` (negative: removes) to the team's counted usage, once
    /// it was counted.
    fn count(&self, team: &str, delta: i64) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = usage.get_mut(team) {
            *n = n.saturating_add_signed(delta);
        }
    }

    /// Removes `path` if present; its size, or `None` if absent.
    fn remove(path: &Path) -> Result<Option<u64>> {
        let size = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match std::fs::remove_file(path) {
            Ok(()) => Ok(Some(size)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Drops a partial upload that failed its checks.
    fn drop_part(&self, team: &str, p: &Paths) -> Result<()> {
        if let Some(n) = Self::remove(&p.part)? {
            self.count(team, -(n as i64));
            sync_dir(&p.dir);
        }
        Ok(())
    }
}

/// Length of the file at `path`, 0 if absent.
fn len_of(path: &Path) -> Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates `dir` and its parents, owner-only.
fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    Ok(())
}

/// Makes a new name, a rename or a removal in `dir` durable (best effort:
/// not every system can sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The blob a file in a team's directory holds, and whether it is partial.
fn blob_of(name: &str) -> Option<(PhotoHash, bool)> {
    let (hex, partial) = match name.strip_suffix(".part") {
        Some(hex) => (hex, true),
        None => (name, false),
    };
    PhotoHash::parse(hex).ok().map(|h| (h, partial))
}

/// The files of a team's directory: each blob file's path and metadata.
fn team_files(team_dir: &Path) -> Result<Vec<(String, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let shards = match std::fs::read_dir(team_dir) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for shard in shards {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(shard.path())? {
            let file = file?;
            let meta = file.metadata()?;
            if let (true, Some(name)) = (meta.is_file(), file.file_name().to_str()) {
                out.push((name.to_string(), meta));
            }
        }
    }
    Ok(out)
}

impl BlobStore for FilesBlobStore {
    fn state(&self, team: &str, blob: &PhotoHash) -> Result<BlobState> {
        let p = self.paths(team, blob)?;
        if let Some(n) = len_of(&p.complete)? {
            return Ok(BlobState {
                received: n,
                complete: true,
            });
        }
        Ok(BlobState {
            received: len_of(&p.part)?.unwrap_or(0),
            complete: false,
        })
    }

    fn append(&self, team: &str, blob: &PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64> {
        let p = self.paths(team, blob)?;
        let _turn = self.lock(blob);
        if let Some(n) = len_of(&p.complete)? {
            return Err(StorageError::PhotoOffset { received: n });
        }
        let held = len_of(&p.part)?;
        let received = held.unwrap_or(0);
        if offset != received {
            return Err(StorageError::PhotoOffset { received });
        }
        if bytes.is_empty() {
            return Ok(received);
        }
        private_dir(&p.dir)?;
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&p.part)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Whatever reached the file counts; the length says how much.
            let now = len_of(&p.part)?.unwrap_or(0);
            self.count(team, now as i64 - received as i64);
            return Err(e.into());
        }
        if held.is_none() {
            sync_dir(&p.dir);
        }
        self.count(team, bytes.len() as i64);
        Ok(received + bytes.len() as u64)
    }

    fn complete(&self, team: &str, blob: &PhotoHash, check: BlobCheck<'_>) -> Result<()> {
        let p = self.paths(team, blob)?;
        let _turn = self.lock(blob);
        if p.complete.is_file() {
            return Ok(());
        }
        let bytes = match std::fs::read(&p.part) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(StorageError::NotFound(
                    "nothing of this photo was received".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if PhotoHash::of(&bytes) != *blob {
            self.drop_part(team, &p)?;
            return Err(wrong_hash());
        }
        if let Err(e) = check(&bytes) {
            self.drop_part(team, &p)?;
            return Err(e);
        }
        std::fs::rename(&p.part, &p.complete)?;
        sync_dir(&p.dir);
        Ok(())
    }

    fn read(
        &self,
        team: &str,
        blob: &PhotoHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>> {
        let p = self.paths(team, blob)?;
        let mut file = match File::open(&p.complete) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?.len();
        if offset >= size {
            return Ok(Some(Vec::new()));
        }
        file.seek(SeekFrom::Start(offset))?;
        let want = (size - offset).min(max as u64);
        let mut out = Vec::with_capacity(want as usize);
        file.take(want).read_to_end(&mut out)?;
        Ok(Some(out))
    }

    fn size(&self, team: &str, blob: &PhotoHash) -> Result<Option<u64>> {
        len_of(&self.paths(team, blob)?.complete)
    }

    fn delete(&self, team: &str, blob: &PhotoHash) -> Result<bool> {
        let p = self.paths(team, blob)?;
        let _turn = self.lock(blob);
        let mut freed = 0u64;
        let mut found = false;
        for path in [&p.complete, &p.part] {
            if let Some(n) = Self::remove(path)? {
                freed += n;
                found = true;
            }
        }
        if found {
            self.count(team, -(freed as i64));
            sync_dir(&p.dir);
            // An empty shard directory goes too (not an error if another
            // blob came in meanwhile).
            let _ = std::fs::remove_dir(&p.dir);
        }
        Ok(found)
    }

    fn usage(&self, team: &str) -> Result<u64> {
        check_team(team)?;
        if let Some(n) = self
            .usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(team)
        {
            return Ok(*n);
        }
        let counted: u64 = team_files(&self.root.join(team))?
            .iter()
            .filter(|(name, _)| blob_of(name).is_some())
            .map(|(_, meta)| meta.len())
            .sum();
        // Counted without the locks: appends meanwhile counted nothing yet
        // (the team had no entry), so the first count wins and is exact
        // but for them; later ones keep to it.
        Ok(*self
            .usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(team.to_string())
            .or_insert(counted))
    }

    fn list(&self, team: &str) -> Result<Vec<(PhotoHash, i64)>> {
        check_team(team)?;
        let mut out: BTreeMap<PhotoHash, i64> = BTreeMap::new();
        for (name, meta) in team_files(&self.root.join(team))? {
            let Some((hash, _)) = blob_of(&name) else {
                continue;
            };
            let at = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let seen = out.entry(hash).or_insert(at);
            *seen = (*seen).max(at);
        }
        Ok(out.into_iter().collect())
    }

    fn teams(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut teams = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let (true, Some(name)) = (entry.file_type()?.is_dir(), entry.file_name().to_str())
                && crate::storage::is_team_id(name)
            {
                teams.push(name.to_string());
            }
        }
        teams.sort();
        Ok(teams)
    }
}
