//! Checkpoints off the write path.
//!
//! In WAL mode every commit appends pages to the log, and a checkpoint copies
//! them back into the database file. SQLite's automatic checkpoint runs
//! inside the commit that takes the log past 1,000 pages, so one save in
//! about sixty paid for it: a record's creation had a median of 1 ms and a
//! p99 of 5 ms, that commit. Here a commit only wakes a thread of the store's
//! own, which checkpoints on a second connection once the store has been
//! idle for a moment (a mediator saving notes one after another never waits
//! for it, nor shares the disk with it), or at once when the log has grown
//! long (a large sync). A PASSIVE checkpoint never holds the writer up and
//! loses nothing: a page stays in the log, synced at every commit, until it
//! is copied back and the database file is synced too (`synchronous=FULL` on
//! both connections).

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use super::Key;
use crate::Result;

/// Log size, in pages, from which a commit wakes the checkpointer (SQLite's
/// own default threshold for its automatic checkpoint).
const WAKE_AT_PAGES: i32 = 1000;

/// Log size, in pages, from which the checkpointer does not wait for the
/// store to be idle (32 MiB).
const NOW_AT_PAGES: i32 = 8000;

/// How long without a commit makes the store idle.
const IDLE: Duration = Duration::from_millis(200);

/// Checkpointer threads started and not yet ended, in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many checkpointer threads are running in this process: counted when
/// one is started and when it ends, so that a test can tell that closing or
/// re-keying a store left no thread behind without racing the threads.
pub fn running() -> usize {
    RUNNING.load(Ordering::SeqCst)
}

/// The checkpointer's thread. Stopped with the store, so that closing a
/// store leaves nothing running on its files.
pub(super) struct Checkpointer {
    thread: JoinHandle<()>,
    /// Held by the thread while it checkpoints. SQLite answers a second
    /// checkpoint "busy" at once, without waiting, while one runs: the
    /// store's own TRUNCATE after an erasure takes this first, so that it
    /// waits for this thread instead of failing.
    running: Arc<Mutex<()>>,
}

/// Starts the checkpointer for the database at `path` (opened with `key`)
/// and hooks `writer`'s commits to it, replacing SQLite's automatic
/// checkpoint. The thread opens its own connection at its first checkpoint,
/// not here: opening a store costs no second connection, and a store that
/// is only read (the server's readers) never makes one.
pub(super) fn start(
    writer: &mut Connection,
    path: PathBuf,
    key: Option<Key>,
) -> Result<Checkpointer> {
    let (wake, woken) = mpsc::sync_channel::<i32>(1);
    let running = Arc::new(Mutex::new(()));
    let held = Arc::clone(&running);
    RUNNING.fetch_add(1, Ordering::SeqCst);
    let thread = std::thread::Builder::new()
        .name("carnet-checkpoint".into())
        .spawn(move || {
            run(&path, key.as_ref(), &woken, &held);
            RUNNING.fetch_sub(1, Ordering::SeqCst);
        })
        .inspect_err(|_| {
            RUNNING.fetch_sub(1, Ordering::SeqCst);
        })?;
    hook(writer, wake)?;
    Ok(Checkpointer { thread, running })
}

impl Checkpointer {
    /// Waits for the thread's checkpoint, if one runs, and keeps the thread
    /// from starting another while the guard lives.
    pub(super) fn hold(&self) -> MutexGuard<'_, ()> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Unhooks `writer` (the hook holds the only way to wake the thread, so
    /// the thread sees the channel close) and waits for the thread to end.
    pub(super) fn stop(self, writer: &mut Connection) {
        let _ = writer.wal_hook(None::<fn(&mut Wal, c_int) -> rusqlite::Result<()>>);
        let _ = self.thread.join();
    }
}

/// Tells the checkpointer the log's length after each commit that leaves it
/// long enough; never blocks the commit (a message already pending is
/// enough: the next commit sends another).
fn hook(writer: &mut Connection, wake: SyncSender<i32>) -> Result<()> {
    writer.wal_hook(Some(move |_: &mut Wal, pages| {
        if pages >= WAKE_AT_PAGES {
            let _ = wake.try_send(pages);
        }
        Ok(())
    }))?;
    Ok(())
}

fn run(path: &Path, key: Option<&Key>, woken: &mpsc::Receiver<i32>, running: &Mutex<()>) {
    let mut conn: Option<Connection> = None;
    // Whether the log holds pages not yet copied back.
    let mut due = false;
    loop {
        let next = if due {
            woken.recv_timeout(IDLE)
        } else {
            woken.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match next {
            Ok(pages) if pages < NOW_AT_PAGES => {
                due = true;
                continue;
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if conn.is_none() {
            conn = super::connect(path, key).ok();
        }
        // (busy, frames in the log, frames copied back): a checkpoint that
        // could not copy every frame (a reader was using them), or failed,
        // or found no connection, is tried again at the next idle moment; the
        // log keeps every page meanwhile.
        let _running = running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        due = !conn.as_ref().is_some_and(|c| {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })
            .is_ok_and(|(log, copied)| copied >= log)
        });
    }
}
