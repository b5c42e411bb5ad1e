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
        // Only complete lines are acknowledgements.
        let complete = match out.rfind('\n') {
            Some(i) => &out[..=i],
            None => "",
        };
        let mut opened = false;
        for line in complete.lines() {
            if line == "O" {
                opened = true;
                continue;
            }
            match line.parse::<Ack>() {
                Ok(ack) => {
                    if !matches!(ack, Ack::MayErase(_)) {
                        report.acknowledged += 1;
                    }
                    ledger.record(&ack);
                }
                Err(e) => report.writer_failures.push(format!("kill {k}: {e}")),
            }
        }
        if !opened {
            report.before_open += 1;
        }
        verify(k, &db, &ledger, kills_here, &mut report);
    }
    report.unacknowledged_committed += report.last_store_extra.0;
    report.unacknowledged_erasures += report.last_store_extra.1;
    report.elapsed = start.elapsed();
    report
}

fn verify(k: usize, db: &Path, ledger: &Ledger, kills_here: usize, report: &mut CrashReport) {
    if !db.exists() {
        return; // killed before the file was created
    }
    match Store::open_unencrypted(db) {
        Err(e) => report.open_failures.push(format!("kill {k}: {e}")),
        Ok(store) => {
            match check_store(&store, ledger, kills_here, Some("reliability-peer")) {
                Ok(c) => {
                    report
                        .lost
                        .extend(c.lost.into_iter().map(|l| format!("kill {k}: {l}")));
                    report
                        .doubled
                        .extend(c.doubled.into_iter().map(|l| format!("kill {k}: {l}")));
                    if c.extra_events > kills_here {
                        report.doubled.push(format!(
                            "kill {k}: {} unacknowledged events after {kills_here} kills",
                            c.extra_events
                        ));
                    }
                    // Per store, cumulative: summed over stores when the campaign ends.
                    report.last_store_extra = (c.extra_events, c.unacknowledged_erasures);
                }
                Err(e) => report
                    .open_failures
                    .push(format!("kill {k}: reading failed: {e}")),
            }
            match check_log(&store) {
                Ok(n) => report.log_entries = n,
                Err(e) => report.log_failures.push(format!("kill {k}: {e}")),
            }
        }
    }
    // The Store is dropped: check the file with SQLite alone.
    match integrity_check(db) {
        Ok(s) if s == "ok" => {}
        Ok(s) => report.integrity_failures.push(format!("kill {k}: {s}")),
        Err(e) => report.integrity_failures.push(format!("kill {k}: {e}")),
    }
}
