//! The crash campaign: spawn `crash-writer`, `kill -9` it at a random moment,
//! reopen the store and check every acknowledged edit, the log, and
//! `PRAGMA integrity_check`. Seeded: the same seed draws the same delays
//! (the moment a kill lands inside the writer still depends on timing).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    /// Kills that landed before the writer had opened its store.
    pub before_open: usize,
    /// Edits acknowledged by writers, all checked after the kills.
    pub acknowledged: usize,
    /// Stores used.
    pub stores: usize,
    /// Acknowledged edits missing after a reopen, with the kill number.
    pub lost: Vec<String>,
    /// Reports holding more unacknowledged status events than kills can explain.
    pub doubled: Vec<String>,
    /// Unacknowledged but committed status events (a kill between commit and print).
    pub unacknowledged_committed: usize,
    /// Contacts erased by an erasure in flight at a kill (committed, not acknowledged).
    pub unacknowledged_erasures: usize,
    last_store_extra: (usize, usize),
    /// Reopen failures.
    pub open_failures: Vec<String>,
    /// `integrity_check` results other than ok.
    pub integrity_failures: Vec<String>,
    /// Log entries unreadable from their documents.
    pub log_failures: Vec<String>,
    /// Writers that exited by themselves (a store error while writing).
    pub writer_failures: Vec<String>,
    /// Log entries in the last store checked.
    pub log_entries: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl CrashReport {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.doubled.is_empty()
            && self.open_failures.is_empty()
            && self.integrity_failures.is_empty()
            && self.log_failures.is_empty()
            && self.writer_failures.is_empty()
    }
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
    let mut ledger = Ledger::default();
    let mut db = PathBuf::new();
    let mut kills_here = 0usize;
    for k in 0..cfg.kills {
        if k % cfg.kills_per_store.max(1) == 0 {
            report.unacknowledged_committed += report.last_store_extra.0;
            report.unacknowledged_erasures += report.last_store_extra.1;
            report.last_store_extra = (0, 0);
            report.stores += 1;
            db = cfg
                .dir
                .join(format!("store-{}", report.stores))
                .join("carnet.db");
            ledger = Ledger::default();
            kills_here = 0;
        }
        let seed: u64 = rng.random();
        let mut child = Command::new(&cfg.writer)
            .arg(&db)
            .arg(seed.to_string())
            .arg(format!("k{k}x"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crash-writer");
        let mut stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        std::thread::sleep(delay(&mut rng));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait");
        let out = reader.join().expect("reader");
        report.kills += 1;
        kills_here += 1;
        {
            use std::os::unix::process::ExitStatusExt;
            if status.signal() != Some(9) {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                report.writer_failures.push(format!(
                    "kill {k}: writer exited by itself ({status}): {}",
                    err.trim()
                ));
            }
        }
        let acks = read_acks(&out, &mut ledger);
        report.acknowledged += acks.acknowledged;
        report
            .writer_failures
            .extend(acks.unreadable.iter().map(|e| format!("kill {k}: {e}")));
        if !acks.opened {
            report.before_open += 1;
        }
        if let Some(r) = check_reopened(&format!("kill {k}"), &db, &ledger, kills_here) {
            report.lost.extend(r.lost);
            report.doubled.extend(r.doubled);
            report.open_failures.extend(r.open_failures);
            report.integrity_failures.extend(r.integrity_failures);
            report.log_failures.extend(r.log_failures);
            if let Some(n) = r.log_entries {
                report.log_entries = n;
            }
            if let Some(extra) = r.extra {
                // Per store, cumulative: summed over stores when the campaign ends.
                report.last_store_extra = extra;
            }
        }
    }
    report.unacknowledged_committed += report.last_store_extra.0;
    report.unacknowledged_erasures += report.last_store_extra.1;
    report.elapsed = start.elapsed();
    report
}

/// What a writer printed: whether it opened its store, and its
/// acknowledgements, recorded in `ledger`. Only complete lines count (the
/// last one may have been cut off by the kill).
pub(crate) struct Acks {
    pub(crate) opened: bool,
    /// Acknowledged edits (erasures in flight not counted).
    pub(crate) acknowledged: usize,
    /// Lines that did not parse.
    pub(crate) unreadable: Vec<String>,
}

pub(crate) fn read_acks(out: &str, ledger: &mut Ledger) -> Acks {
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
pub(crate) struct Reopened {
    pub(crate) lost: Vec<String>,
    pub(crate) doubled: Vec<String>,
    pub(crate) open_failures: Vec<String>,
    pub(crate) integrity_failures: Vec<String>,
    pub(crate) log_failures: Vec<String>,
    /// Log entries, when the log read back.
    pub(crate) log_entries: Option<usize>,
    /// Unacknowledged status events and erasures the store holds (at most
    /// one per fault: the fault fell between commit and acknowledgement).
    pub(crate) extra: Option<(usize, usize)>,
}

/// Reopens the store at `db` with the real file system, checks every
/// acknowledged edit of `ledger` (none lost, none doubled, at most `faults`
/// unacknowledged events), its log, and — the Store dropped — SQLite's
/// `integrity_check`. None when the fault came before the file existed.
pub(crate) fn check_reopened(
    label: &str,
    db: &Path,
    ledger: &Ledger,
    faults: usize,
) -> Option<Reopened> {
    if !db.exists() {
        return None;
    }
    let mut r = Reopened::default();
    match Store::open_unencrypted(db) {
        Err(e) => r.open_failures.push(format!("{label}: {e}")),
        Ok(store) => {
            match check_store(&store, ledger, faults, Some("reliability-peer")) {
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
