//! Power loss: a SQLite VFS shim that keeps every write to a database, WAL or
//! journal file in memory (the OS page cache) until the file is synced, and a
//! campaign that cuts the power under `power-writer` and checks the store.
//!
//! The shim wraps the default VFS ("unix"). Writes and truncations of the main
//! database, its WAL and its journals go to an in-memory overlay per file path
//! (reads and sizes see it); `xSync` applies the overlay to the real file, then
//! calls the real `xSync`. [`cut_power`] drops every overlay: what reached the
//! real file is exactly what was synced, as after a power cut where the disk
//! kept nothing the OS had not flushed. Locks, shared memory (`-shm`, rebuilt
//! by SQLite's recovery after a crash), temporary files, file creation and
//! deletion go to the real VFS unchanged.
//!
//! Test code only: nothing here is used by the core, which reaches the shim
//! because a writer process registers it as the process's default VFS.
//!
//! The one module of the workspace with `unsafe`: a VFS is C callbacks over
//! raw pointers. Each `unsafe` block says why it is sound (`// SAFETY:`),
//! which clippy enforces here.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::PathBuf;
use std::ptr::{self, null, null_mut};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::ffi;

use crate::crash::{Findings, read_to_end, spawn_writer};
use crate::work::Ledger;

/// Name under which the shim is registered.
pub const VFS_NAME: &str = "carnet-powercut";
const VFS_NAME_C: &CStr = c"carnet-powercut";

/// Exit status of a process whose power was cut by [`cut_power`].
pub const CUT_EXIT: i32 = 86;
/// Exit status of a process whose power was cut by the operation armed with
/// [`arm`] (inside a call into SQLite: mid-transaction, mid-checkpoint...).
pub const CUT_IN_IO_EXIT: i32 = 87;

const BLOCK: u64 = 4096;

/// The unsynced state of one file: its logical size, how much of the real
/// file is still valid under it, and the blocks written since the last sync.
struct Cache {
    /// Logical size (what `xFileSize` says).
    size: u64,
    /// Bytes `[0, base)` of the real file are still the file's content where
    /// no block overrides them; beyond `base` (a pending truncation) the file
    /// reads as zeros.
    base: u64,
    /// Whole blocks written since the last sync, by block number.
    blocks: BTreeMap<u64, Box<[u8]>>,
    /// Something is pending.
    dirty: bool,
    /// Open handles on the path.
    handles: usize,
}

impl Cache {
    fn new(size: u64) -> Cache {
        Cache {
            size,
            base: size,
            blocks: BTreeMap::new(),
            dirty: false,
            handles: 0,
        }
    }

    /// Copies the pending blocks overlapping `[off, off + out.len())` into `out`.
    fn copy_blocks(&self, off: u64, out: &mut [u8]) {
        if out.is_empty() {
            return;
        }
        let end = off + out.len() as u64;
        for (&idx, blk) in self.blocks.range(off / BLOCK..=(end - 1) / BLOCK) {
            let start = idx * BLOCK;
            let lo = off.max(start);
            let hi = end.min(start + BLOCK);
            if lo < hi {
                out[(lo - off) as usize..(hi - off) as usize]
                    .copy_from_slice(&blk[(lo - start) as usize..(hi - start) as usize]);
            }
        }
    }

    fn truncate(&mut self, n: u64) {
        if n < self.size {
            self.base = self.base.min(n);
            let first_gone = n.div_ceil(BLOCK);
            self.blocks.split_off(&first_gone);
            if !n.is_multiple_of(BLOCK)
                && let Some(b) = self.blocks.get_mut(&(n / BLOCK))
            {
                b[(n % BLOCK) as usize..].fill(0);
            }
        }
        self.size = n;
        self.dirty = true;
    }
}

type Caches = BTreeMap<String, Arc<Mutex<Cache>>>;

/// Unsynced state per path (shared by every handle on the path, as the page
/// cache is). An entry outlives its handles while it holds unsynced writes.
static CACHES: Mutex<Caches> = Mutex::new(BTreeMap::new());
/// Bumped by each cut: handles opened before it are dead.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Operations of live overlay files counted since `arm`.
static OPS: AtomicU64 = AtomicU64::new(0);
/// Cut the power at this operation (0: never).
static CUT_AT: AtomicU64 = AtomicU64::new(0);
/// What `OPS` counts and where the cut lands: 0 every operation (cut
/// before), 1 syncs (cut before), 2 syncs (cut after).
static MODE: AtomicU64 = AtomicU64::new(0);
static REAL: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(null_mut());
/// The shim's `sqlite3_vfs` (leaked), as an address; 0 if it could not be built.
static SHIM: OnceLock<usize> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers the shim (once per process; again to make it the default).
/// With `make_default`, every connection opened without naming a VFS, such
/// as the core's, goes through it.
pub fn install(make_default: bool) -> Result<(), String> {
    // SAFETY: `build` only reads the default VFS SQLite hands out and leaks a new one;
    // `get_or_init` runs it once per process.
    let addr = *SHIM.get_or_init(|| unsafe { build() });
    if addr == 0 {
        return Err("no default SQLite VFS to wrap".into());
    }
    let rc =
        // SAFETY: `addr` is the leaked, never freed `sqlite3_vfs` `build` made (checked
        // non-zero above), with a 'static name: SQLite may keep it for the whole process.
        unsafe { ffi::sqlite3_vfs_register(addr as *mut ffi::sqlite3_vfs, make_default as c_int) };
    if rc != ffi::SQLITE_OK {
        return Err(format!("sqlite3_vfs_register failed: {rc}"));
    }
    Ok(())
}

/// The shim's `sqlite3_vfs`, leaked, as an address (0 without a default
/// VFS). Safety: call once per process, from `install`.
unsafe fn build() -> usize {
    // SAFETY: `sqlite3_vfs_find(NULL)` only reads SQLite's registry and returns the default
    // VFS or null.
    let real = unsafe { ffi::sqlite3_vfs_find(null()) };
    if real.is_null() {
        return 0;
    }
    REAL.store(real, Ordering::SeqCst);
    // SAFETY: `real` is non-null (checked above) and points to a registered VFS, which
    // SQLite keeps alive for the process.
    let r = unsafe { &*real };
    let Ok(sz) = c_int::try_from(REAL_OFFSET + r.szOsFile.max(0) as usize) else {
        return 0;
    };
    let vfs = Box::new(ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: sz,
        mxPathname: r.mxPathname,
        pNext: null_mut(),
        zName: VFS_NAME_C.as_ptr(),
        pAppData: null_mut(),
        xOpen: Some(v_open),
        xDelete: Some(v_delete),
        xAccess: Some(v_access),
        xFullPathname: Some(v_full_pathname),
        xDlOpen: Some(v_dl_open),
        xDlError: Some(v_dl_error),
        xDlSym: Some(v_dl_sym),
        xDlClose: Some(v_dl_close),
        xRandomness: Some(v_randomness),
        xSleep: Some(v_sleep),
        xCurrentTime: Some(v_current_time),
        xGetLastError: Some(v_get_last_error),
        xCurrentTimeInt64: Some(v_current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    });
    Box::into_raw(vfs) as usize
}

/// Where an armed cut lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutAt {
    /// At the n-th write, truncation or sync, before it takes effect.
    Op,
    /// At the n-th sync, before it takes effect (the data is lost).
    BeforeSync,
    /// Just after the n-th sync returned from the disk, before the caller
    /// hears of it (the data is kept; the caller never acknowledges it).
    AfterSync,
}

/// Arms a cut at the `n`-th operation of the database, WAL and journal files
/// from now, as `at` says: the process then exits with [`CUT_IN_IO_EXIT`].
/// `n = 0` disarms.
pub fn arm(n: u64, at: CutAt) {
    OPS.store(0, Ordering::SeqCst);
    let mode = match at {
        CutAt::Op => 0,
        CutAt::BeforeSync => 1,
        CutAt::AfterSync => 2,
    };
    MODE.store(mode, Ordering::SeqCst);
    CUT_AT.store(n, Ordering::SeqCst);
}

/// Operations counted since [`arm`].
pub fn ops() -> u64 {
    OPS.load(Ordering::SeqCst)
}

/// Drops every unsynced write, and makes every file opened through the shim
/// so far dead: its reads, writes, truncations and syncs fail with an I/O
/// error, as if the disk had gone. Files opened afterwards work normally.
/// For tests in one process; a writer calls [`cut_power`].
pub fn cut_power_in_process() {
    let mut caches = lock(&CACHES);
    GENERATION.fetch_add(1, Ordering::SeqCst);
    caches.clear();
}

/// Cuts the power: drops every unsynced write, then ends the process at once
/// with [`CUT_EXIT`] (no destructor runs, no connection is closed).
pub fn cut_power() -> ! {
    cut_power_in_process();
    std::process::exit(CUT_EXIT)
}

/// Counts one write or truncation, or a sync (`sync`); cuts the power here
/// if it is the armed one. Returns true for a sync armed to complete first:
/// the caller syncs, then calls [`cut_now`].
fn tick(sync: bool) -> bool {
    let mode = MODE.load(Ordering::SeqCst);
    if mode != 0 && !sync {
        return false;
    }
    let n = OPS.fetch_add(1, Ordering::SeqCst) + 1;
    let at = CUT_AT.load(Ordering::SeqCst);
    if at != 0 && n == at {
        if mode == 2 {
            return true;
        }
        cut_now();
    }
    false
}

fn cut_now() -> ! {
    cut_power_in_process();
    std::process::exit(CUT_IN_IO_EXIT)
}

// ---------------------------------------------------------------------------
// Files.

/// Our `sqlite3_file`; the real VFS's file follows it at `REAL_OFFSET`.
#[repr(C)]
struct ShimFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// From `Arc::into_raw`; null for a pass-through (temporary) file.
    cache: *const Mutex<Cache>,
    /// From `Box::into_raw`; null for a pass-through file.
    path: *mut String,
    generation: u64,
}

const REAL_OFFSET: usize = std::mem::size_of::<ShimFile>().next_multiple_of(16);

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    // 2: shared memory (WAL), no xFetch (memory-mapped reads would bypass the overlay).
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

/// Calls a method of a real file, or returns `$none` if it has none.
macro_rules! real {
    ($real:expr, $m:ident, $none:expr $(, $a:expr)*) => {{
        let r: *mut ffi::sqlite3_file = $real;
        // SAFETY: `r` is the real file in our allocation (see `v_open`); its `pMethods` is
        // null or the table the real VFS's `xOpen` set, which lives as long as that VFS.
        match unsafe { (*r).pMethods.as_ref() }.and_then(|m| m.$m) {
            // SAFETY: a method of the real file, called on that file with SQLite's
            // arguments (or our own buffers of the sizes passed): the real VFS's own
            // contract.
            Some(f) => unsafe { f(r $(, $a)*) },
            None => $none,
        }
    }};
}

fn real_vfs() -> *mut ffi::sqlite3_vfs {
    REAL.load(Ordering::SeqCst)
}

/// The shim file behind `f`, and its cache if it is an overlay file.
/// Safety: `f` must be a file our `v_open` opened and not yet closed.
unsafe fn parts<'a>(
    f: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, Option<&'a Mutex<Cache>>, bool) {
    let s = f as *mut ShimFile;
    // SAFETY: SQLite only calls a file's methods on the `sqlite3_file` our `v_open`
    // initialised as a `ShimFile` (`szOsFile` bytes, alive until `xClose` returns).
    let (real, cache, generation) = unsafe { ((*s).real, (*s).cache, (*s).generation) };
    // SAFETY: a non-null `cache` came from `Arc::into_raw` in `v_open` and that reference
    // is only released in `x_close`, after which SQLite makes no more calls on `f`.
    let cache = unsafe { cache.as_ref() };
    let dead = cache.is_some() && generation != GENERATION.load(Ordering::SeqCst);
    (real, cache, dead)
}

const OVERLAY_FLAGS: c_int = ffi::SQLITE_OPEN_MAIN_DB
    | ffi::SQLITE_OPEN_WAL
    | ffi::SQLITE_OPEN_MAIN_JOURNAL
    | ffi::SQLITE_OPEN_SUPER_JOURNAL;

unsafe extern "C" fn v_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    let Some(open) = (unsafe { rv.as_ref() }).and_then(|v| v.xOpen) else {
        return ffi::SQLITE_CANTOPEN;
    };
    // SAFETY: SQLite allocated `file` with our `szOsFile`, which is `REAL_OFFSET` plus the
    // real VFS's size: the offset stays inside the allocation.
    let rf = unsafe { (file as *mut u8).add(REAL_OFFSET) } as *mut ffi::sqlite3_file;
    // SAFETY: both pointers are inside SQLite's zeroed-or-not allocation of `szOsFile`
    // bytes; null `pMethods` tells SQLite (and `x_close`) that nothing is open yet if the
    // real open fails.
    unsafe {
        (*file).pMethods = null();
        (*rf).pMethods = null();
    }
    // SAFETY: the real VFS's `xOpen` with its own VFS, SQLite's name and flags, and room of
    // its own `szOsFile` bytes at `rf`.
    let rc = unsafe { open(rv, name, rf, flags, out_flags) };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let mut cache: *const Mutex<Cache> = null();
    let mut path: *mut String = null_mut();
    let generation;
    if !name.is_null() && flags & OVERLAY_FLAGS != 0 {
        // SAFETY: SQLite passes a non-null `name` (checked) as a NUL-terminated path that
        // outlives the open call.
        let p = unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned();
        let mut size: ffi::sqlite3_int64 = 0;
        let rc = real!(rf, xFileSize, ffi::SQLITE_IOERR_FSTAT, &mut size);
        if rc != ffi::SQLITE_OK {
            real!(rf, xClose, ffi::SQLITE_OK);
            return rc;
        }
        let mut caches = lock(&CACHES);
        generation = GENERATION.load(Ordering::SeqCst);
        let entry = caches
            .entry(p.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Cache::new(size.max(0) as u64))));
        lock(entry).handles += 1;
        cache = Arc::into_raw(entry.clone());
        path = Box::into_raw(Box::new(p));
    } else {
        generation = GENERATION.load(Ordering::SeqCst);
    }
    // SAFETY: `file` is SQLite's allocation of `szOsFile >= size_of::<ShimFile>()` bytes,
    // suitably aligned for `sqlite3_file` (and so for `ShimFile`, which is `repr(C)`
    // starting with one); nothing was there to drop.
    unsafe {
        ptr::write(
            file as *mut ShimFile,
            ShimFile {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real: rf,
                cache,
                path,
                generation,
            },
        );
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    let s = f as *mut ShimFile;
    // SAFETY: SQLite calls `xClose` only on a file our `v_open` initialised as a
    // `ShimFile`.
    let (cache, path, real) = unsafe { ((*s).cache, (*s).path, (*s).real) };
    if !cache.is_null() {
        // SAFETY: a non-null `cache` is the `Arc::into_raw` of `v_open`, released exactly
        // once here (the field is nulled below).
        let arc = unsafe { Arc::from_raw(cache) };
        let path = if path.is_null() {
            None
        } else {
            // SAFETY: a non-null `path` is the `Box::into_raw` of `v_open`, freed exactly
            // once here (the field is nulled below).
            Some(unsafe { Box::from_raw(path) })
        };
        let mut caches = lock(&CACHES);
        let unused = {
            let mut c = lock(&arc);
            c.handles = c.handles.saturating_sub(1);
            c.handles == 0 && !c.dirty
        };
        if unused
            && let Some(p) = path
            && caches.get(&*p).is_some_and(|e| Arc::ptr_eq(e, &arc))
        {
            caches.remove(&*p);
        }
        // SAFETY: `s` is our `ShimFile` (see above); nulling the pointers makes a second
        // `xClose` a no-op.
        unsafe {
            (*s).cache = null();
            (*s).path = null_mut();
        }
    }
    let rc = real!(real, xClose, ffi::SQLITE_OK);
    // SAFETY: `f` is SQLite's file, alive until this call returns; a null `pMethods` marks
    // it closed.
    unsafe { (*f).pMethods = null() };
    rc
}

/// Reads `[off, off + n)` of the real file into `buf` (zeros past its end).
/// Safety: `real` must be an open real file and `buf` hold `n` writable bytes.
unsafe fn read_real(real: *mut ffi::sqlite3_file, buf: *mut u8, n: u64, off: u64) -> c_int {
    let (Ok(n), Ok(off)) = (c_int::try_from(n), i64::try_from(off)) else {
        return ffi::SQLITE_IOERR_READ;
    };
    match real!(
        real,
        xRead,
        ffi::SQLITE_IOERR_READ,
        buf as *mut c_void,
        n,
        off
    ) {
        ffi::SQLITE_OK | ffi::SQLITE_IOERR_SHORT_READ => ffi::SQLITE_OK,
        rc => rc,
    }
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, cache, dead) = unsafe { parts(f) };
    let Some(cache) = cache else {
        return real!(real, xRead, ffi::SQLITE_IOERR_READ, buf, amt, off);
    };
    if dead {
        return ffi::SQLITE_IOERR_READ;
    }
    let (Ok(len), Ok(off)) = (usize::try_from(amt), u64::try_from(off)) else {
        return ffi::SQLITE_IOERR_READ;
    };
    if buf.is_null() {
        return ffi::SQLITE_IOERR_READ;
    }
    // SAFETY: SQLite passes a non-null (checked) buffer of `amt` writable bytes, not
    // aliased during the call.
    let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, len) };
    out.fill(0);
    let c = lock(cache);
    let end = off + len as u64;
    let real_end = end.min(c.base);
    if real_end > off {
        // SAFETY: `out` holds `len` bytes and `real_end - off <= len`; `real` is the open
        // real file.
        let rc = unsafe { read_real(real, out.as_mut_ptr(), real_end - off, off) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    c.copy_blocks(off, out);
    if end > c.size {
        let from = (c.size.saturating_sub(off) as usize).min(len);
        out[from..].fill(0);
        return ffi::SQLITE_IOERR_SHORT_READ;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, cache, dead) = unsafe { parts(f) };
    let Some(cache) = cache else {
        return real!(real, xWrite, ffi::SQLITE_IOERR_WRITE, buf, amt, off);
    };
    if dead {
        return ffi::SQLITE_IOERR_WRITE;
    }
    tick(false);
    let (Ok(len), Ok(off)) = (usize::try_from(amt), u64::try_from(off)) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if len == 0 {
        return ffi::SQLITE_OK;
    }
    if buf.is_null() {
        return ffi::SQLITE_IOERR_WRITE;
    }
    // SAFETY: SQLite passes a non-null (checked) buffer of `amt` readable bytes, unchanged
    // during the call.
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, len) };
    let mut c = lock(cache);
    let end = off + len as u64;
    let mut pos = off;
    while pos < end {
        let idx = pos / BLOCK;
        let start = idx * BLOCK;
        if !c.blocks.contains_key(&idx) {
            let mut b = vec![0u8; BLOCK as usize].into_boxed_slice();
            let n = BLOCK.min(c.base.saturating_sub(start));
            if n > 0 {
                // SAFETY: `b` holds `BLOCK` bytes and `n <= BLOCK`; `real` is the open real
                // file.
                let rc = unsafe { read_real(real, b.as_mut_ptr(), n, start) };
                if rc != ffi::SQLITE_OK {
                    return ffi::SQLITE_IOERR_WRITE;
                }
            }
            c.blocks.insert(idx, b);
        }
        let hi = end.min(start + BLOCK);
        let Some(b) = c.blocks.get_mut(&idx) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        b[(pos - start) as usize..(hi - start) as usize]
            .copy_from_slice(&data[(pos - off) as usize..(hi - off) as usize]);
        pos = hi;
    }
    c.size = c.size.max(end);
    c.dirty = true;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, cache, dead) = unsafe { parts(f) };
    let Some(cache) = cache else {
        return real!(real, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size);
    };
    if dead {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    tick(false);
    let Ok(n) = u64::try_from(size) else {
        return ffi::SQLITE_IOERR_TRUNCATE;
    };
    lock(cache).truncate(n);
    ffi::SQLITE_OK
}

/// Writes the pending state of `c` to the real file (no sync).
/// Safety: `real` must be the open real file `c` overlays.
unsafe fn apply(real: *mut ffi::sqlite3_file, c: &mut Cache) -> c_int {
    let mut real_size: ffi::sqlite3_int64 = 0;
    let rc = real!(real, xFileSize, ffi::SQLITE_IOERR_FSTAT, &mut real_size);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let Ok(base) = i64::try_from(c.base) else {
        return ffi::SQLITE_IOERR_TRUNCATE;
    };
    if base < real_size {
        let rc = real!(real, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, base);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    for (&idx, blk) in &c.blocks {
        let start = idx * BLOCK;
        if start >= c.size {
            continue;
        }
        let n = BLOCK.min(c.size - start) as c_int;
        let Ok(off) = i64::try_from(start) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let rc = real!(
            real,
            xWrite,
            ffi::SQLITE_IOERR_WRITE,
            blk.as_ptr() as *const c_void,
            n,
            off
        );
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let rc = real!(real, xFileSize, ffi::SQLITE_IOERR_FSTAT, &mut real_size);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let Ok(size) = i64::try_from(c.size) else {
        return ffi::SQLITE_IOERR_TRUNCATE;
    };
    if real_size != size {
        let rc = real!(real, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    c.blocks.clear();
    c.base = c.size;
    c.dirty = false;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, cache, dead) = unsafe { parts(f) };
    let Some(cache) = cache else {
        return real!(real, xSync, ffi::SQLITE_IOERR_FSYNC, flags);
    };
    if dead {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    let cut_after = tick(true);
    let rc = {
        let mut c = lock(cache);
        match if c.dirty {
            // SAFETY: `real` is the open real file of this shim file.
            unsafe { apply(real, &mut c) }
        } else {
            ffi::SQLITE_OK
        } {
            ffi::SQLITE_OK => real!(real, xSync, ffi::SQLITE_IOERR_FSYNC, flags),
            rc => rc,
        }
    };
    if cut_after {
        cut_now();
    }
    rc
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, out: *mut ffi::sqlite3_int64) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, cache, dead) = unsafe { parts(f) };
    let Some(cache) = cache else {
        return real!(real, xFileSize, ffi::SQLITE_IOERR_FSTAT, out);
    };
    if dead || out.is_null() {
        return ffi::SQLITE_IOERR_FSTAT;
    }
    let Ok(size) = i64::try_from(lock(cache).size) else {
        return ffi::SQLITE_IOERR_FSTAT;
    };
    // SAFETY: SQLite passes a non-null (checked) pointer to its own `sqlite3_int64`.
    unsafe { *out = size };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(real, xLock, ffi::SQLITE_IOERR_LOCK, level)
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(real, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(
        real,
        xCheckReservedLock,
        ffi::SQLITE_IOERR_CHECKRESERVEDLOCK,
        out
    )
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, cache, _) = unsafe { parts(f) };
    // Size hints and chunk sizes would make the real file grow outside the overlay.
    if cache.is_some() && (op == ffi::SQLITE_FCNTL_SIZE_HINT || op == ffi::SQLITE_FCNTL_CHUNK_SIZE)
    {
        return ffi::SQLITE_OK;
    }
    real!(real, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(real, xSectorSize, 4096)
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    let caps = real!(real, xDeviceCharacteristics, 0);
    // No atomic, ordered or batch-atomic writes: SQLite must sync as on a plain disk.
    caps & !(ffi::SQLITE_IOCAP_ATOMIC
        | ffi::SQLITE_IOCAP_ATOMIC512
        | ffi::SQLITE_IOCAP_ATOMIC1K
        | ffi::SQLITE_IOCAP_ATOMIC2K
        | ffi::SQLITE_IOCAP_ATOMIC4K
        | ffi::SQLITE_IOCAP_ATOMIC8K
        | ffi::SQLITE_IOCAP_ATOMIC16K
        | ffi::SQLITE_IOCAP_ATOMIC32K
        | ffi::SQLITE_IOCAP_ATOMIC64K
        | ffi::SQLITE_IOCAP_SAFE_APPEND
        | ffi::SQLITE_IOCAP_SEQUENTIAL
        | ffi::SQLITE_IOCAP_BATCH_ATOMIC)
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    pg: c_int,
    pgsz: c_int,
    extend: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(
        real,
        xShmMap,
        ffi::SQLITE_IOERR_SHMMAP,
        pg,
        pgsz,
        extend,
        pp
    )
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(real, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, _) = unsafe { parts(f) };
    real!(real, xShmBarrier, ())
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    // SAFETY: `f` is a file our `v_open` opened (SQLite calls io methods on nothing else).
    let (real, _, dead) = unsafe { parts(f) };
    real!(
        real,
        xShmUnmap,
        ffi::SQLITE_OK,
        if dead { 0 } else { delete }
    )
}

// ---------------------------------------------------------------------------
// The VFS: everything but opening goes to the real one.

unsafe extern "C" fn v_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    if !name.is_null() {
        // SAFETY: SQLite passes a non-null (checked) NUL-terminated path that outlives the
        // call.
        let p = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        lock(&CACHES).remove(p.as_ref());
    }
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xDelete) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, name, sync_dir) },
        None => ffi::SQLITE_IOERR_DELETE,
    }
}

unsafe extern "C" fn v_access(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    if flags == ffi::SQLITE_ACCESS_EXISTS && !name.is_null() && !out.is_null() {
        // The real VFS calls an empty file absent: ask the overlay.
        // SAFETY: SQLite passes a non-null (checked) NUL-terminated path that outlives the
        // call.
        let p = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        if let Some(c) = lock(&CACHES).get(p.as_ref()) {
            let c = lock(c);
            if c.dirty {
                // SAFETY: SQLite passes a non-null (checked) pointer to its own `int`.
                unsafe { *out = c_int::from(c.size > 0) };
                return ffi::SQLITE_OK;
            }
        }
    }
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xAccess) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, name, flags, out) },
        None => ffi::SQLITE_IOERR_ACCESS,
    }
}

unsafe extern "C" fn v_full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xFullPathname) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, name, n, out) },
        None => ffi::SQLITE_CANTOPEN,
    }
}

unsafe extern "C" fn v_dl_open(_vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xDlOpen) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, name) },
        None => null_mut(),
    }
}

unsafe extern "C" fn v_dl_error(_vfs: *mut ffi::sqlite3_vfs, n: c_int, msg: *mut c_char) {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    if let Some(f) = unsafe { rv.as_ref() }.and_then(|v| v.xDlError) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        unsafe { f(rv, n, msg) }
    }
}

type DlSym = unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char);

unsafe extern "C" fn v_dl_sym(
    _vfs: *mut ffi::sqlite3_vfs,
    h: *mut c_void,
    sym: *const c_char,
) -> Option<DlSym> {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xDlSym) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, h, sym) },
        None => None,
    }
}

unsafe extern "C" fn v_dl_close(_vfs: *mut ffi::sqlite3_vfs, h: *mut c_void) {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    if let Some(f) = unsafe { rv.as_ref() }.and_then(|v| v.xDlClose) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        unsafe { f(rv, h) }
    }
}

unsafe extern "C" fn v_randomness(
    _vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xRandomness) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, n, out) },
        None => 0,
    }
}

unsafe extern "C" fn v_sleep(_vfs: *mut ffi::sqlite3_vfs, us: c_int) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xSleep) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, us) },
        None => 0,
    }
}

unsafe extern "C" fn v_current_time(_vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xCurrentTime) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, out) },
        None => ffi::SQLITE_ERROR,
    }
}

unsafe extern "C" fn v_get_last_error(
    _vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xGetLastError) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, n, out) },
        None => 0,
    }
}

unsafe extern "C" fn v_current_time_int64(
    _vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    let rv = real_vfs();
    // SAFETY: the real VFS pointer is null (as_ref gives None) or the `sqlite3_vfs` SQLite
    // returned from `sqlite3_vfs_find`, which SQLite keeps alive for the whole process
    // (nothing unregisters it).
    match unsafe { rv.as_ref() }.and_then(|v| v.xCurrentTimeInt64) {
        // SAFETY: the real VFS's own method, called on the real VFS with SQLite's arguments
        // passed through unchanged: the same call SQLite would make without the shim, under
        // the same contract.
        Some(f) => unsafe { f(rv, out) },
        None => ffi::SQLITE_ERROR,
    }
}

// ---------------------------------------------------------------------------
// The campaign.

/// What to run.
#[derive(Debug, Clone)]
pub struct PowerConfig {
    /// The `power-writer` binary.
    pub writer: PathBuf,
    /// How many power cuts.
    pub cuts: usize,
    /// Seed of the writers' work and of where the power goes.
    pub seed: u64,
    /// Cuts on one store before starting a fresh one.
    pub cuts_per_store: usize,
    /// Where the stores go.
    pub dir: PathBuf,
    /// A writer still running after this long is killed and counted as a failure.
    pub timeout: Duration,
}

/// What happened.
#[derive(Debug, Default, Clone)]
pub struct PowerReport {
    /// Cuts done.
    pub cuts: usize,
    /// Cuts between two calls into the store.
    pub between_calls: usize,
    /// Cuts at a write, truncation or sync inside a call (open, commit, checkpoint).
    pub inside_calls: usize,
    /// What the checks after the cuts found.
    pub findings: Findings,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs the campaign: `power-writer` edits a store until its power is cut,
/// then the store is reopened here (real VFS) and checked against every
/// acknowledgement; the next writer starts from the recovered store.
pub fn run(cfg: &PowerConfig) -> PowerReport {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut report = PowerReport::default();
    let checks = &mut report.findings;
    let mut ledger = Ledger::default();
    let mut db = PathBuf::new();
    let mut cuts_here = 0usize;
    for k in 0..cfg.cuts {
        if k % cfg.cuts_per_store.max(1) == 0 {
            db = checks.next_store(&cfg.dir);
            ledger = Ledger::default();
            cuts_here = 0;
        }
        let seed: u64 = rng.random();
        let mut child = match spawn_writer(&cfg.writer, &db, seed, format!("p{k}x")) {
            Ok(c) => c,
            Err(e) => {
                checks.writer_failures.push(format!("cut {k}: spawn: {e}"));
                break;
            }
        };
        let out = read_to_end(child.stdout.take());
        let err = read_to_end(child.stderr.take());
        let began = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if began.elapsed() > cfg.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        report.cuts += 1;
        cuts_here += 1;
        match status.and_then(|s| s.code()) {
            Some(CUT_EXIT) => report.between_calls += 1,
            Some(CUT_IN_IO_EXIT) => report.inside_calls += 1,
            other => checks.writer_failures.push(format!(
                "cut {k} (seed {seed}): writer ended with {other:?} instead of a cut: {}",
                err.trim()
            )),
        }
        let label = format!("cut {k} (seed {seed})");
        checks.after_fault(&label, &out, &mut ledger, &db, cuts_here);
    }
    checks.finish();
    report.elapsed = start.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    /// Cuts affect every shim file of the process: one test at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn real_count(path: &std::path::Path) -> (i64, String) {
        let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), "unix").unwrap();
        let n = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (n, ok)
    }

    /// Creates a table (synced), inserts 200 rows one commit each with
    /// `synchronous = sync`, cuts the power and counts what the real file kept.
    fn write_then_cut(sync: &str) -> (i64, String) {
        install(false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), VFS_NAME).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t(x);")
            .unwrap();
        c.execute_batch(&format!("PRAGMA synchronous = {sync}"))
            .unwrap();
        for i in 0..200 {
            c.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        let seen: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 200, "the shim must show its own writes");
        cut_power_in_process();
        // The dead connection's checkpoint on close fails: nothing more reaches the disk.
        drop(c);
        real_count(&path)
    }

    #[test]
    fn unsynced_writes_are_lost_and_synced_ones_kept() {
        let _g = lock(&SERIAL);
        // No sync at all: every row is gone, the table (synced) is there.
        assert_eq!(write_then_cut("OFF"), (0, "ok".to_string()));
        // WAL + NORMAL commits without syncing: acknowledged yet lost. The
        // campaign would catch a store configured like this.
        assert_eq!(write_then_cut("NORMAL"), (0, "ok".to_string()));
        // FULL syncs the WAL at each commit: every row survives.
        assert_eq!(write_then_cut("FULL"), (200, "ok".to_string()));
    }

    #[test]
    fn overlay_reads_writes_and_truncations() {
        let mut c = Cache::new(0);
        c.truncate(10_000);
        assert_eq!(c.size, 10_000);
        c.blocks
            .insert(1, vec![7u8; BLOCK as usize].into_boxed_slice());
        c.truncate(5000);
        let mut out = vec![1u8; 2000];
        c.copy_blocks(4000, &mut out);
        assert_eq!(out[..96], [1u8; 96][..]); // before the block: untouched
        assert_eq!(out[96..1000], vec![7u8; 904][..]);
        assert_eq!(out[1000..], vec![0u8; 1000][..]); // truncated away
        c.truncate(4096);
        assert!(c.blocks.is_empty());
    }
}
