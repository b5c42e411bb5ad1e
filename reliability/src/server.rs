//! The server side of the harnesses: the server as a child process (to
//! `kill -9` it and read its memory and descriptors), in process (to inject
//! panics through its storage), and simulated devices that sync with it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use carnet_core::store::Query;
use carnet_core::sync::SyncSummary;
use carnet_core::sync::client::{Client, Retry};
use carnet_core::{Record, Store};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::work::{Ledger, Worker};

/// The server running as a child process.
pub struct ServerProc {
    exe: PathBuf,
    data: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    extra: Vec<String>,
}

impl ServerProc {
    /// Starts `carnet-test-server` on `listen` (port 0: any) over `data`.
    pub fn start(
        exe: &Path,
        data: &Path,
        listen: SocketAddr,
        extra: &[&str],
    ) -> std::io::Result<ServerProc> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr) = spawn(exe, data, listen, &extra)?;
        Ok(ServerProc {
            exe: exe.into(),
            data: data.into(),
            addr,
            child,
            extra,
        })
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same address (after [`ServerProc::kill9`]).
    pub fn restart(&mut self) -> std::io::Result<()> {
        let mut last = None;
        for _ in 0..50 {
            match spawn(&self.exe, &self.data, self.addr, &self.extra) {
                Ok((child, addr)) => {
                    self.child = child;
                    self.addr = addr;
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("restart failed")))
    }

    /// Peak resident memory (VmHWM) and current (VmRSS), in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Open file descriptors (sockets included).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Threads.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn(
    exe: &Path,
    data: &Path,
    listen: SocketAddr,
    extra: &[String],
) -> std::io::Result<(Child, SocketAddr)> {
    let mut child = Command::new(exe)
        .arg("--data")
        .arg(data)
        .arg("--listen")
        .arg(listen.to_string())
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {} // drain
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if line.starts_with("LISTEN ") => {
            let addr = line["LISTEN ".len()..]
                .trim()
                .parse()
                .map_err(std::io::Error::other)?;
            Ok((child, addr))
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(std::io::Error::other("the server did not start"))
        }
    }
}

/// A simulated phone: its store, token, random work and the ledger of what it
/// was told is saved.
pub struct Device {
    /// Its name.
    pub name: String,
    /// Its store.
    pub store: Store,
    /// Its token.
    pub token: String,
    /// Its random work.
    pub worker: Worker,
    /// What it acknowledged.
    pub ledger: Ledger,
    /// Its dice.
    pub rng: StdRng,
    client: Client,
}

/// Short retries for tests: a dead server fails a sync in about a second.
pub fn test_retry() -> Retry {
    Retry {
        attempts: 4,
        first_backoff: Duration::from_millis(100),
    }
}

impl Device {
    /// Enrolls with `code` at `base` and opens its store in `dir`.
    pub fn enroll(
        base: &str,
        dir: &Path,
        name: &str,
        code: &str,
        seed: u64,
        retry: Retry,
    ) -> carnet_core::Result<Device> {
        let client = Client::new(base)?.with_retry(retry);
        let e = client.enroll(code, name, None)?;
        let store = Store::open_unencrypted(dir.join(format!("{name}.db")))?;
        store.set_config(&e.config)?;
        store.set_author(name)?;
        let worker = Worker::new(&store, name.replace(['-', ' '], ""))?;
        Ok(Device {
            name: name.into(),
            store,
            token: e.token,
            worker,
            ledger: Ledger::default(),
            rng: StdRng::seed_from_u64(seed),
            client,
        })
    }

    /// Points the device at another address (a proxy, a restarted server).
    pub fn set_server(&mut self, base: &str, retry: Retry) -> carnet_core::Result<()> {
        self.client = Client::new(base)?.with_retry(retry);
        Ok(())
    }

    /// `n` random edits, recorded in the ledger.
    pub fn work(&mut self, n: usize) -> carnet_core::Result<usize> {
        let mut done = 0;
        for _ in 0..n {
            if let Some(ack) = self.worker.step(&self.store, &mut self.rng)? {
                self.ledger.record(&ack);
                done += 1;
            }
        }
        Ok(done)
    }

    /// One sync; the worker then knows the records pulled.
    pub fn sync(&mut self) -> carnet_core::Result<SyncSummary> {
        let s = self.client.sync(
            &self.store,
            &self.token,
            &mut |_| {},
            &AtomicBool::new(false),
        )?;
        self.worker.refresh(&self.store)?;
        Ok(s)
    }
}

/// What every device must agree on once synced: every record as listed
/// (paged), and with `deep` each record's conflicts and history length.
pub fn picture(store: &Store, deep: bool) -> Value {
    let mut items: Vec<Record> = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list(&Query {
                limit: Some(1000),
                offset,
                oldest_first: true,
                ..Default::default()
            })
            .expect("list");
        let n = page.items.len() as u32;
        items.extend(page.items);
        if !page.has_more || n == 0 {
            break;
        }
        offset += n;
    }
    let mut details = Vec::new();
    if deep {
        for r in &items {
            let d = store.details(r.header().id).expect("details");
            details.push(json!({"conflicts": d.conflicts, "history": d.history.len()}));
        }
    }
    json!({"n": items.len(), "items": items, "details": details})
}

/// Sets up a team in `data` and returns `(team_id, supervisor code)`.
pub fn init_team(data: &Path) -> (String, String) {
    carnet_server::init_team(data, "fiabilité").expect("init team")
}

/// A mediator's enrollment code.
pub fn mediator_code(data: &Path, team: &str, name: &str) -> String {
    carnet_server::issue_code(data, team, carnet_server::Role::Mediator, Some(name))
        .expect("issue code")
}

/// The team's log store, opened read-only in spirit (the server must be
/// stopped): the path of `teams/<team>.db`.
pub fn team_db(data: &Path, team: &str) -> PathBuf {
    data.join("teams").join(format!("{team}.db"))
}

/// Waits until `f` is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Syncs every device until a whole round moves nothing (at most `rounds`).
/// Returns the rounds used, or the last error.
pub fn settle(devices: &mut [Device], rounds: usize) -> carnet_core::Result<usize> {
    for round in 0..rounds {
        let mut moved = 0;
        for d in devices.iter_mut() {
            let s = d.sync()?;
            moved += s.pushed + s.pulled + s.erased;
        }
        if moved == 0 {
            return Ok(round + 1);
        }
    }
    Err(carnet_core::Error::Network(format!(
        "devices still exchanging after {rounds} rounds"
    )))
}

/// The whole server (API and dashboard) served in this process over a state
/// the harness built (a storage that injects faults), on 127.0.0.1: the
/// server's own [`carnet_server::RunningServer`], stopped when dropped.
pub struct InProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    _server: carnet_server::RunningServer,
}

impl InProcess {
    /// Serves `state` on 127.0.0.1 (any port).
    pub fn start(state: carnet_server::AppState) -> InProcess {
        let server = carnet_server::RunningServer::with_state(state, ([127, 0, 0, 1], 0).into())
            .expect("the in-process server starts");
        InProcess {
            addr: server.addr(),
            _server: server,
        }
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}
