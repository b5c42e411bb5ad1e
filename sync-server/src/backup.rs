//! `carnet-server backup` and `restore` for the SQLite storage: every
//! database of a deployment (`server.db`, each team's log, `dashboard.db`)
//! and its photos' files (`blobs/`) in one file, and back.
//!
//! A backup copies each database with SQLite's online backup API in a
//! single step, inside one read transaction: a consistent snapshot of that
//! database, taken while the server goes on writing (readers never block a
//! WAL database's writer). A file copy of a live WAL database is not one.
//! The databases are copied one after the other, `server.db` first, and
//! the team logs are those its copy lists: a team log may hold pushes a
//! little newer than the copy of `server.db`, never a team it does not
//! know.
//!
//! Photos follow the databases, each complete blob file as it is (they
//! never change once complete: content-addressed, renamed into place).
//! A photo erased while the backup runs may be missing from it, which is
//! what its erasure asks; the manifest lists the databases only, since a
//! photo's name is the SHA-256 of its bytes and checks it on its own.
//!
//! The copies are packed into a tar archive (the one format every
//! operator's tools list and unpack) with a manifest of their sizes and
//! SHA-256 first, written to a private temporary file beside the
//! destination, synced, then renamed over it: a backup file is whole or
//! absent, and owner-only (0600) like the databases.
//!
//! A restore checks the archive against its manifest before it touches the
//! data directory, then puts the databases in place and gives every team's
//! log a new lineage, so that devices notice at their next sync that the
//! server went back in time and give back what it lost
//! (`docs/sync-protocol.md`).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};
use crate::storage::{SqliteStorage, Storage};

/// What the archive's manifest is called; it comes first.
const MANIFEST: &str = "carnet-backup.json";
/// The archive format this build writes and reads.
const FORMAT: &str = "carnet-sqlite-backup";
/// Version 2 holds photos (`blobs/`): an older server refuses it as newer
/// rather than as damaged.
const VERSION: u32 = 2;
/// How often a backup step that finds the database busy (SQLite recovering
/// its log, say) is tried again, and how long it waits in between.
const BUSY_TRIES: u32 = 200;
const BUSY_WAIT: Duration = Duration::from_millis(50);

/// The manifest: what a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    /// When it was taken, ms since the Unix epoch.
    created_at: i64,
    /// The carnet-server that took it.
    server_version: String,
    files: Vec<FileEntry>,
    /// Photo files found when the backup started (some may have been
    /// erased before they were copied).
    #[serde(default)]
    photos: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    /// Its path in the archive and in the data directory.
    path: String,
    bytes: u64,
    /// SHA-256, hex.
    sha256: String,
}

/// One database of a backup or a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    /// Its path under the data directory (`server.db`, `teams/<id>.db`,
    /// `dashboard.db`).
    pub path: String,
    /// Its size.
    pub bytes: u64,
}

/// What `carnet-server backup` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupReport {
    /// The backup file written.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Teams whose log it holds.
    pub teams: usize,
    /// The databases it holds.
    pub databases: Vec<Database>,
    /// Photo files (full images and thumbnails) it holds.
    pub photos: usize,
    /// Their bytes.
    pub photo_bytes: u64,
}

/// What `carnet-server restore` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The data directory restored.
    pub data_dir: PathBuf,
    /// When the backup was taken, ms since the Unix epoch.
    pub backed_up_at: i64,
    /// Teams restored, each with a new lineage.
    pub teams: usize,
    /// The databases put in place.
    pub databases: Vec<Database>,
    /// Photo files (full images and thumbnails) put in place.
    pub photos: usize,
}

/// Backs up the deployment in `data_dir` (running or not) to the file `to`,
/// replacing it if it exists.
pub fn backup(data_dir: &Path, to: &Path) -> Result<BackupReport> {
    let server_db = data_dir.join("server.db");
    if !server_db.is_file() {
        return Err(ServerError::BadRequest(format!(
            "{} holds no Carnet deployment (no server.db); check --data",
            data_dir.display()
        )));
    }
    let dest_dir = parent_of(to);
    let staging = tempfile::Builder::new()
        .prefix(".carnet-backup-")
        .tempdir_in(dest_dir)
        .map_err(|e| cannot("create a temporary directory in", dest_dir, e))?;
    std::fs::create_dir(staging.path().join("teams"))?;

    let mut copied = vec![copy_database(&server_db, staging.path(), "server.db")?];
    let teams = team_ids(&staging.path().join("server.db"))?;
    for team in &teams {
        let path = format!("teams/{team}.db");
        let src = data_dir.join(&path);
        if !src.is_file() {
            return Err(ServerError::BadRequest(format!(
                "the log of team {team} ({}) is missing: the data directory is damaged; nothing was backed up",
                src.display()
            )));
        }
        copied.push(copy_database(&src, staging.path(), &path)?);
    }
    let dashboard = data_dir.join("dashboard.db");
    if dashboard.is_file() {
        copied.push(copy_database(&dashboard, staging.path(), "dashboard.db")?);
    }
    let photos = photo_files(data_dir, &teams)?;

    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created_at: carnet_core::now_ms(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        files: copied.clone(),
        photos: photos.len(),
    };
    let (mut photo_count, mut photo_bytes) = (0, 0);
    let file = tempfile::Builder::new()
        .prefix(".carnet-backup-")
        .suffix(".partial")
        .tempfile_in(dest_dir)
        .map_err(|e| cannot("create a temporary file in", dest_dir, e))?;
    {
        let mut tar = tar::Builder::new(BufWriter::new(file.as_file()));
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ServerError::Internal(e.to_string()))?;
        append(&mut tar, MANIFEST, json.len() as u64, json.as_slice())?;
        for entry in &copied {
            let f = File::open(staging.path().join(&entry.path))?;
            append(&mut tar, &entry.path, entry.bytes, f)?;
        }
        for path in &photos {
            if let Some(bytes) = append_photo(&mut tar, data_dir, path)? {
                photo_count += 1;
                photo_bytes += bytes;
            }
        }
        tar.into_inner()?.flush()?;
    }
    file.as_file().sync_all()?;
    let file = file
        .persist(to)
        .map_err(|e| cannot("write the backup to", to, e.error))?;
    let bytes = file.metadata()?.len();
    sync_dir(dest_dir);
    Ok(BackupReport {
        file: to.to_path_buf(),
        bytes,
        teams: teams.len(),
        databases: copied
            .into_iter()
            .map(|e| Database {
                path: e.path,
                bytes: e.bytes,
            })
            .collect(),
        photos: photo_count,
        photo_bytes,
    })
}

/// The complete photo files of `teams` (`blobs/<team>/<hh>/<hash>`, paths
/// relative to the data directory); partial uploads are left out (devices
/// resume them from zero after a restore).
fn photo_files(data_dir: &Path, teams: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for team in teams {
        let dir = data_dir.join("blobs").join(team);
        let shards = match std::fs::read_dir(&dir) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for shard in shards {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(shard.path())? {
                let name = file?.file_name().to_string_lossy().into_owned();
                let path = format!("blobs/{team}/{shard_name}/{name}");
                if photo_of(&path).is_some() {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Appends the photo file at `path` (under `data_dir`) to the archive,
/// read through one open handle (a photo erased meanwhile is read whole or
/// not at all); its size, or `None` if it was erased before. Bytes that no
/// longer match the photo's name fail the backup: the disk is damaged.
fn append_photo(
    tar: &mut tar::Builder<impl Write>,
    data_dir: &Path,
    path: &str,
) -> Result<Option<u64>> {
    let file = match File::open(data_dir.join(path)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = file.metadata()?.len();
    let mut hashing = HashingReader {
        inner: file,
        hasher: Sha256::new(),
    };
    append(tar, path, bytes, &mut hashing)?;
    let hash = hashing.hasher.finalize();
    if photo_of(path).is_none_or(|h| h.0 != hash.as_slice()) {
        return Err(ServerError::Internal(format!(
            "the photo file {path} no longer holds the photo its name says: the disk is damaged. Delete that file (devices that hold the photo cannot upload it again) and back up again"
        )));
    }
    Ok(Some(bytes))
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Restores the backup `from` into `data_dir`, which must be empty or
/// missing unless `force` (then the Carnet databases in it are replaced;
/// other files are left). The server must be stopped. Every team's log
/// gets a new lineage.
pub fn restore(from: &Path, data_dir: &Path, force: bool) -> Result<RestoreReport> {
    let archive = File::open(from).map_err(|e| cannot("read the backup", from, e))?;
    if data_dir.exists() && !force && std::fs::read_dir(data_dir)?.next().is_some() {
        return Err(ServerError::BadRequest(format!(
            "{} is not empty: stop the server and pass --force to replace its databases with the backup's, or restore into an empty directory",
            data_dir.display()
        )));
    }
    // Staged inside the data directory (the same file system, and one the
    // server's user can write to); a directory made for a backup found
    // wanting is removed again.
    let created = !data_dir.exists();
    private_dir(data_dir)?;
    let staged = tempfile::Builder::new()
        .prefix(".carnet-restore-")
        .tempdir_in(data_dir)
        .map_err(ServerError::from)
        .and_then(|staging| Ok((unpack(archive, staging.path())?, staging)));
    let ((manifest, photos), staging) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            if created {
                let _ = std::fs::remove_dir_all(data_dir);
            }
            return Err(e);
        }
    };

    // Everything checked: the databases go in place, and the photos (the
    // deployment's are replaced by the backup's).
    drop_storage_files(data_dir)?;
    let teams_dir = data_dir.join("teams");
    std::fs::create_dir_all(&teams_dir)?;
    for entry in &manifest.files {
        std::fs::rename(staging.path().join(&entry.path), data_dir.join(&entry.path))?;
    }
    let blobs = data_dir.join("blobs");
    match std::fs::remove_dir_all(&blobs) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(cannot("remove", &blobs, e));
        }
        _ => {}
    }
    if photos > 0 {
        std::fs::rename(staging.path().join("blobs"), &blobs)?;
    }
    sync_dir(&teams_dir);
    sync_dir(data_dir);
    // Opened as `serve` opens it: owner-only files, and the migrations a
    // backup taken by an older server needs.
    let storage = SqliteStorage::open(data_dir)?;
    let teams = storage.renew_lineages()?;
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        backed_up_at: manifest.created_at,
        teams,
        databases: manifest
            .files
            .into_iter()
            .map(|e| Database {
                path: e.path,
                bytes: e.bytes,
            })
            .collect(),
        photos,
    })
}

/// Gives every team of the deployment in `data_dir` a new lineage (after
/// its databases were put back by other means than `restore`, a file
/// system snapshot say); returns how many teams.
pub fn renew_lineages(data_dir: &Path) -> Result<usize> {
    if !data_dir.join("server.db").is_file() {
        return Err(ServerError::BadRequest(format!(
            "{} holds no Carnet deployment (no server.db); check --data",
            data_dir.display()
        )));
    }
    Ok(SqliteStorage::open(data_dir)?.renew_lineages()?)
}

/// Copies the database `src` to `staging/name` with the online backup API,
/// in one step: one read transaction, so one consistent snapshot.
fn copy_database(src: &Path, staging: &Path, name: &str) -> Result<FileEntry> {
    let dest = staging.join(name);
    {
        // Read-write without create: a reader of a WAL database may need to
        // write its shared-memory index; nothing else is written.
        let source = Connection::open_with_flags(
            src,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        source.busy_timeout(Duration::from_secs(5))?;
        let mut target = Connection::open(&dest)?;
        let backup = Backup::new(&source, &mut target)?;
        let mut busy = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if busy < BUSY_TRIES => {
                    busy += 1;
                    std::thread::sleep(BUSY_WAIT);
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(ServerError::Internal(format!(
                        "{name} stayed locked during the backup; try again"
                    )));
                }
                // The enum is non-exhaustive: treat anything new as busy.
                _ => std::thread::sleep(BUSY_WAIT),
            }
        }
    }
    let (bytes, sha256) = digest(File::open(&dest)?)?;
    Ok(FileEntry {
        path: name.into(),
        bytes,
        sha256,
    })
}

/// The teams listed in a copy of `server.db`.
fn team_ids(server_db: &Path) -> Result<Vec<String>> {
    let conn = Connection::open(server_db)?;
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM teams ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &ids {
        if !is_team_id(id) {
            return Err(ServerError::Internal(
                "server.db lists a team whose id is not a UUID".into(),
            ));
        }
    }
    Ok(ids)
}

fn is_team_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// The photo a backup's path names (`blobs/<team>/<hh>/<hash>`, with `hh`
/// its hash's first two digits), if it names one: nothing else, and
/// nothing that could land outside the data directory.
fn photo_of(path: &str) -> Option<carnet_core::photo::PhotoHash> {
    let mut parts = path.strip_prefix("blobs/")?.split('/');
    let (team, shard, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !is_team_id(team)
        || name.len() != 64
        || !name.starts_with(shard)
        || shard.len() != 2
        || name
            .bytes()
            .any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    carnet_core::photo::PhotoHash::parse(name).ok()
}

/// Whether `path` may be a file of a backup: the databases `serve` keeps,
/// and nothing that could land outside the data directory.
fn is_database_path(path: &str) -> bool {
    match path.strip_prefix("teams/") {
        Some(file) => file.strip_suffix(".db").is_some_and(is_team_id),
        None => path == "server.db" || path == "dashboard.db",
    }
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(carnet_core::now_ms() / 1000).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data)?;
    Ok(())
}

/// Unpacks `archive` into `staging` and checks it: a manifest of this
/// format, every file it lists (databases only) present with its size and
/// SHA-256, photos whose bytes hash to their names, nothing else, and each
/// database readable by SQLite. Returns the manifest and how many photos.
fn unpack(archive: File, staging: &Path) -> Result<(Manifest, usize)> {
    let not_a_backup = |why: &str| {
        ServerError::BadRequest(format!("not a Carnet backup, or a damaged one: {why}"))
    };
    std::fs::create_dir(staging.join("teams"))?;
    let mut tar = tar::Archive::new(BufReader::new(archive));
    let mut manifest: Option<Manifest> = None;
    let mut found: Vec<FileEntry> = Vec::new();
    let mut photos = 0;
    for entry in tar.entries().map_err(|_| not_a_backup("unreadable"))? {
        let mut entry = entry.map_err(|_| not_a_backup("unreadable entry"))?;
        let path = entry
            .path()
            .map_err(|_| not_a_backup("unreadable entry name"))?
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| not_a_backup("an entry name that is not UTF-8"))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(not_a_backup("an entry that is not a plain file"));
        }
        if path == MANIFEST {
            let mut json = Vec::new();
            entry
                .by_ref()
                .take(1 << 20)
                .read_to_end(&mut json)
                .map_err(|_| not_a_backup("unreadable manifest"))?;
            let m: Manifest =
                serde_json::from_slice(&json).map_err(|_| not_a_backup("unreadable manifest"))?;
            if m.format != FORMAT {
                return Err(not_a_backup("unknown format"));
            }
            if m.version > VERSION {
                return Err(ServerError::BadRequest(format!(
                    "this backup was written by a newer carnet-server ({}); restore it with that version or newer",
                    m.server_version
                )));
            }
            manifest = Some(m);
            continue;
        }
        let photo = photo_of(&path);
        if (photo.is_none() && !is_database_path(&path)) || found.iter().any(|f| f.path == path) {
            return Err(not_a_backup(&format!("unexpected entry {path:?}")));
        }
        let dest = staging.join(&path);
        if let (Some(_), Some(dir)) = (photo, dest.parent()) {
            private_dir(dir)?;
        }
        let mut out = private_file(&dest)?;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|_| not_a_backup("truncated"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            bytes += n as u64;
        }
        out.sync_all()?;
        let sha256 = hasher.finalize();
        if let Some(photo) = photo {
            if photo.0 != sha256.as_slice() {
                return Err(not_a_backup(&format!(
                    "{path} does not hold the photo its name says"
                )));
            }
            photos += 1;
            continue;
        }
        found.push(FileEntry {
            path,
            bytes,
            sha256: hex::encode(sha256),
        });
    }
    let manifest = manifest.ok_or_else(|| not_a_backup("no manifest"))?;
    if manifest.files.len() != found.len() {
        return Err(not_a_backup("files missing or added"));
    }
    for listed in &manifest.files {
        let got = found.iter().find(|f| f.path == listed.path);
        if !got.is_some_and(|f| f.bytes == listed.bytes && f.sha256 == listed.sha256) {
            return Err(not_a_backup(&format!(
                "{} differs from the manifest",
                listed.path
            )));
        }
    }
    if !manifest.files.iter().any(|f| f.path == "server.db") {
        return Err(not_a_backup("no server.db"));
    }
    for f in &manifest.files {
        let conn = Connection::open(staging.join(&f.path))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|_| not_a_backup(&format!("{} is not a database", f.path)))?;
        if check != "ok" {
            return Err(not_a_backup(&format!("{} is damaged", f.path)));
        }
    }
    Ok((manifest, photos))
}

/// Creates `path` owner-only (0600) for writing, replacing any file there.
fn private_file(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    Ok(options.open(path)?)
}

/// Removes the storage's databases from `data_dir` with their journals
/// (a journal left beside a restored database would be replayed into
/// it): `server.db`, `dashboard.db` and every team log.
fn drop_storage_files(data_dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    for name in ["server.db", "dashboard.db"] {
        files.push(data_dir.join(name));
    }
    let teams = data_dir.join("teams");
    if teams.is_dir() {
        for entry in std::fs::read_dir(&teams)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "db") {
                files.push(path);
            }
        }
    }
    for db in files {
        remove_if_present(&db)?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut journal = db.clone().into_os_string();
            journal.push(suffix);
            remove_if_present(Path::new(&journal))?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(cannot("remove", path, e)),
        _ => Ok(()),
    }
}

/// Creates `dir` (and its parents) owner-only if missing.
fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| cannot("create the data directory", dir, e))
}

/// Size and SHA-256 (hex) of what `r` reads.
fn digest(mut r: impl Read) -> Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut r, &mut hasher)?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// The directory a file goes in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable (best effort: not every system can sync
/// a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn cannot(what: &str, path: &Path, e: std::io::Error) -> ServerError {
    ServerError::BadRequest(format!("cannot {what} {}: {e}", path.display()))
}
