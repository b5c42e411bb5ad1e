//! The crash campaign: spawn `crash-writer`, `kill -9` it at a random moment,
//! reopen the store and check every acknowledged edit, the log, and
//! `PRAGMA integrity_check`. Seeded: the same seed draws the same delays
//! (the moment a kill lands inside the writer still depends on timing).

use std::fmt;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use carnet_core::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::work::{Ack, Ledger, check_log, check_store, integrity_check};

/// What to run.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The `crash-writer` binary.
    pub writer: PathBuf,
    /// How many kills.
    pub kills: usize,
    /// Seed of the delays and of the writers' work.
    pub seed: u64,
    /// Kills on one store before starting a fresh one (the store grows).
    pub kills_per_store: usize,
    /// Where the stores go.
    pub dir: PathBuf,
}

/// What happened.
#[derive(Debug, Default, Clone)]
pub struct CrashReport {
    /// Kills done.
    pub kills: usize,
    /// What the checks after the kills found.
    pub findings: Findings,
    /// Wall time.
    pub elapsed: Duration,
}

/// What the kill and the power-cut campaigns check after every fault, and
/// found: the same checks for both (`check_reopened`).
#[derive(Debug, Default, Clone)]
pub struct Findings {
    /// Edits acknowledged by writers, all checked after the faults.
    pub acknowledged: usize,
    /// Stores used.
    pub stores: usize,
    /// Faults that landed before the writer had opened its store.
    pub before_open: usize,
    /// Acknowledged edits missing after a reopen, with the fault.
    pub lost: Vec<String>,
    /// Edits present more often than acknowledged, beyond what the faults
    /// can explain (one committed-but-unacknowledged event per fault).
    pub doubled: Vec<String>,
    /// Status events committed but not acknowledged (the fault fell between
    /// commit and acknowledgement): allowed, at most one per fault.
    pub unacknowledged_committed: usize,
    /// Contacts erased by an erasure in flight at a fault (committed, not
    /// acknowledged).
    pub unacknowledged_erasures: usize,
    /// Reopen failures.
    pub open_failures: Vec<String>,
    /// `integrity_check` results other than ok.
    pub integrity_failures: Vec<String>,
    /// Log entries unreadable from their documents.
    pub log_failures: Vec<String>,
    /// Writers that ended otherwise than by the fault.
    pub writer_failures: Vec<String>,
    /// Log entries in the last store checked.
    pub log_entries: usize,
    /// The current store's unacknowledged events and erasures (cumulative
    /// per store: added to the totals when the store is done).
    store_extra: (usize, usize),
}

impl Findings {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.doubled.is_empty()
            && self.open_failures.is_empty()
            && self.integrity_failures.is_empty()
            && self.log_failures.is_empty()
            && self.writer_failures.is_empty()
    }

    /// Ends the current store's series and returns the database of a fresh
    /// store under `dir`.
    pub(crate) fn next_store(&mut self, dir: &Path) -> PathBuf {
        self.finish();
        self.stores += 1;
        dir.join(format!("store-{}", self.stores)).join("carnet.db")
    }

    /// Adds the last store's unacknowledged commits to the totals.
    pub(crate) fn finish(&mut self) {
        self.unacknowledged_committed += self.store_extra.0;
        self.unacknowledged_erasures += self.store_extra.1;
        self.store_extra = (0, 0);
    }

    /// Checks after one fault: what the writer printed (recorded in
    /// `ledger`), then the store at `db` reopened, which has had `faults`
    /// faults so far.
    pub(crate) fn after_fault(
        &mut self,
        label: &str,
        out: &str,
        ledger: &mut Ledger,
        db: &Path,
        faults: usize,
    ) {
        let acks = read_acks(out, ledger);
        self.acknowledged += acks.acknowledged;
        self.writer_failures
            .extend(acks.unreadable.iter().map(|e| format!("{label}: {e}")));
        if !acks.opened {
            self.before_open += 1;
        }
        if let Some(r) = check_reopened(label, db, ledger, faults) {
            self.lost.extend(r.lost);
            self.doubled.extend(r.doubled);
            self.open_failures.extend(r.open_failures);
            self.integrity_failures.extend(r.integrity_failures);
            self.log_failures.extend(r.log_failures);
            if let Some(n) = r.log_entries {
                self.log_entries = n;
            }
            if let Some(extra) = r.extra {
                self.store_extra = extra;
            }
        }
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} acknowledged edits checked, {} lost, {} doubled, {} committed-but-unacknowledged status events and {} erasures, \
             {} open failures, {} integrity failures, {} log failures, {} writer failures; last log {} entries",
            self.acknowledged,
            self.lost.len(),
            self.doubled.len(),
            self.unacknowledged_committed,
            self.unacknowledged_erasures,
            self.open_failures.len(),
            self.integrity_failures.len(),
            self.log_failures.len(),
            self.writer_failures.len(),
            self.log_entries
        )
    }
}

/// Starts a writer binary on `db` with its seed and acknowledgement prefix,
/// its output piped.
pub(crate) fn spawn_writer(
    writer: &Path,
    db: &Path,
    seed: u64,
    prefix: String,
) -> std::io::Result<Child> {
    Command::new(writer)
        .arg(db)
        .arg(seed.to_string())
        .arg(prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Reads a pipe to its end on a thread (a writer blocked on a full pipe
/// would never reach its fault).
pub(crate) fn read_to_end(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

/// A kill delay: some during open and recovery, most in the write loop.
fn delay(rng: &mut StdRng) -> Duration {
    let us = match rng.random_range(0..10) {
        0 => rng.random_range(0..5_000),
        1..=6 => rng.random_range(5_000..100_000),
        _ => rng.random_range(100_000..400_000),
    };
    Duration::from_micros(us)
}

/// Runs the campaign.
pub fn run(cfg: &CrashConfig) -> CrashReport {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut report = CrashReport::default();
    let checks = &mut report.findings;
    let mut ledger = Ledger::default();
    let mut db = PathBuf::new();
    let mut kills_here = 0usize;
    for k in 0..cfg.kills {
        if k % cfg.kills_per_store.max(1) == 0 {
            db = checks.next_store(&cfg.dir);
            ledger = Ledger::default();
            kills_here = 0;
        }
        let seed: u64 = rng.random();
        let mut child =
            spawn_writer(&cfg.writer, &db, seed, format!("k{k}x")).expect("spawn crash-writer");
        let out = read_to_end(child.stdout.take());
        let err = read_to_end(child.stderr.take());
        std::thread::sleep(delay(&mut rng));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait");
        let out = out.join().expect("reader");
        report.kills += 1;
        kills_here += 1;
        if status.signal() != Some(9) {
            checks.writer_failures.push(format!(
                "kill {k}: writer exited by itself ({status}): {}",
                err.join().unwrap_or_default().trim()
            ));
        }
        checks.after_fault(&format!("kill {k}"), &out, &mut ledger, &db, kills_here);
    }
    checks.finish();
    report.elapsed = start.elapsed();
    report
}

/// What a writer printed: whether it opened its store, and its
/// acknowledgements, recorded in `ledger`. Only complete lines count (the
/// last one may have been cut off by the kill).
struct Acks {
    opened: bool,
    /// Acknowledged edits (erasures in flight not counted).
    acknowledged: usize,
    /// Lines that did not parse.
    unreadable: Vec<String>,
}

fn read_acks(out: &str, ledger: &mut Ledger) -> Acks {
    let complete = match out.rfind('\n') {
        Some(i) => &out[..=i],
        None => "",
    };
    let mut acks = Acks {
        opened: false,
        acknowledged: 0,
        unreadable: Vec::new(),
    };
    for line in complete.lines() {
        if line == "O" {
            acks.opened = true;
            continue;
        }
        match line.parse::<Ack>() {
            Ok(ack) => {
                if !matches!(ack, Ack::MayErase(_)) {
                    acks.acknowledged += 1;
                }
                ledger.record(&ack);
            }
            Err(e) => acks.unreadable.push(e.to_string()),
        }
    }
    acks
}

/// What reopening a store after a fault found, each finding prefixed with
/// the fault's label.
#[derive(Default)]
struct Reopened {
    lost: Vec<String>,
    doubled: Vec<String>,
    open_failures: Vec<String>,
    integrity_failures: Vec<String>,
    log_failures: Vec<String>,
    /// Log entries, when the log read back.
    log_entries: Option<usize>,
    /// Unacknowledged status events and erasures the store holds (at most
    /// one per fault: the fault fell between commit and acknowledgement).
    extra: Option<(usize, usize)>,
}

/// Reopens the store at `db` with the real file system, checks every
/// acknowledged edit of `ledger` (none lost, none doubled, at most `faults`
/// unacknowledged events), its log, and — the Store dropped — SQLite's
/// `integrity_check`. None when the fault came before the file existed.
fn check_reopened(label: &str, db: &Path, ledger: &Ledger, faults: usize) -> Option<Reopened> {
    if !db.exists() {
        return None;
    }
    let mut r = Reopened::default();
    match Store::open_unencrypted(db) {
        Err(e) => r.open_failures.push(format!("{label}: {e}")),
        Ok(store) => {
            match check_store(&store, ledger, faults, true) {
                Ok(c) => {
                    r.lost
                        .extend(c.lost.into_iter().map(|l| format!("{label}: {l}")));
                    r.doubled
                        .extend(c.doubled.into_iter().map(|l| format!("{label}: {l}")));
                    if c.extra_events > faults {
                        r.doubled.push(format!(
                            "{label}: {} unacknowledged events after {faults} faults",
                            c.extra_events
                        ));
                    }
                    r.extra = Some((c.extra_events, c.unacknowledged_erasures));
                }
                Err(e) => r
                    .open_failures
                    .push(format!("{label}: reading failed: {e}")),
            }
            match check_log(&store) {
                Ok(n) => r.log_entries = Some(n),
                Err(e) => r.log_failures.push(format!("{label}: {e}")),
            }
        }
    }
    match integrity_check(db) {
        Ok(s) if s == "ok" => {}
        Ok(s) => r.integrity_failures.push(format!("{label}: {s}")),
        Err(e) => r.integrity_failures.push(format!("{label}: {e}")),
    }
    Some(r)
}
