//! Shared by the integration tests: a real server on a loopback port (in its
//! own thread and runtime, so tests stay plain blocking code that drives the
//! core's blocking client), enrolled device stores, and the fault proxy
//! that cuts connections where a test says.
#![allow(dead_code)]

pub mod browser;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use carnet_core::store::Query;
use carnet_core::sync::SyncSummary;
use carnet_core::sync::client::{Client, Enrollment, Progress, Retry};
use carnet_core::{Kind, RecordId, Store};
use carnet_reliability::proxy::Proxy;
use carnet_server::{Config, RunningServer};
use serde_json::{Map, Value, json};

/// A server running on 127.0.0.1 until stopped or dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data: PathBuf,
    server: RunningServer,
}

impl TestServer {
    /// Starts a server on a free port over `data`.
    pub fn start(data: &Path) -> TestServer {
        Self::start_with(
            Config {
                data_dir: data.to_path_buf(),
                ..Config::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
    }

    /// Starts a server with `config` on `addr` (port 0 for a free one).
    pub fn start_with(config: Config, addr: SocketAddr) -> TestServer {
        let data = config.data_dir.clone();
        let server = RunningServer::start(Config {
            listen: addr,
            ..config
        })
        .expect("server failed to start");
        TestServer {
            addr: server.addr(),
            data,
            server,
        }
    }

    /// Serves `state` (a storage of the test's own) on a free port; `data`
    /// is what the test's helpers read as the data directory.
    pub fn with_state(state: carnet_server::AppState, data: &Path) -> TestServer {
        let server = RunningServer::with_state(state, "127.0.0.1:0".parse().unwrap())
            .expect("server failed to start");
        TestServer {
            addr: server.addr(),
            data: data.to_path_buf(),
            server,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Asks for a graceful shutdown and waits until the server has stopped.
    pub fn stop(self) {
        self.server.stop().expect("server failed");
    }
}

/// A device: its store, where it lives, and its enrollment.
pub struct Device {
    pub store: Store,
    pub enrollment: Enrollment,
    pub name: String,
    _dir: tempfile::TempDir,
}

impl Device {
    pub fn token(&self) -> &str {
        &self.enrollment.token
    }

    /// Syncs with `base` (server or proxy), retrying a few times quickly.
    pub fn sync(&self, base: &str) -> carnet_core::Result<SyncSummary> {
        self.sync_with(
            base,
            Retry {
                attempts: 4,
                first_backoff: Duration::from_millis(50),
            },
        )
    }

    pub fn sync_with(&self, base: &str, retry: Retry) -> carnet_core::Result<SyncSummary> {
        self.sync_progress(base, retry, &mut |_| {})
    }

    pub fn sync_progress(
        &self,
        base: &str,
        retry: Retry,
        progress: &mut dyn FnMut(&Progress),
    ) -> carnet_core::Result<SyncSummary> {
        let client = Client::new(base)?.with_retry(retry);
        client.sync(&self.store, self.token(), progress, &AtomicBool::new(false))
    }

    /// Every record, as JSON, in a stable order.
    pub fn all(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list(&Query {
                    limit: Some(1000),
                    offset,
                    ..Default::default()
                })
                .unwrap();
            out.extend(page.items.iter().map(|r| serde_json::to_value(r).unwrap()));
            if !page.has_more {
                break;
            }
            offset += 1000;
        }
        out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        out
    }

    pub fn note(&self, sector: &str, text: &str) -> RecordId {
        self.store
            .create(Kind::Note, &fields(json!({"sector": sector, "text": text})))
            .unwrap()
    }
}

pub fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Creates a team in `data`; returns its id and its supervisor code.
pub fn team(data: &Path, name: &str) -> (String, String) {
    carnet_server::init_team(data, name).unwrap()
}

/// Enrolls a new device of `role` in `team` through the HTTP API.
pub fn enroll(server: &TestServer, team: &str, role: &str, name: &str) -> Device {
    let code =
        carnet_server::issue_code(&server.data, team, role.parse().unwrap(), Some(name)).unwrap();
    enroll_with_code(server, &code, name)
}

pub fn enroll_with_code(server: &TestServer, code: &str, name: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_unencrypted(dir.path().join("device.db")).unwrap();
    let enrollment = Client::new(&server.url())
        .unwrap()
        .enroll(code, name, Some(&store.peer_id()))
        .unwrap();
    store.set_config(&enrollment.config).unwrap();
    store
        .set_author(if name.is_empty() { "anonyme" } else { name })
        .unwrap();
    Device {
        store,
        enrollment,
        name: name.into(),
        _dir: dir,
    }
}

/// A blocking HTTP client for raw requests, naming this build's format
/// as the apps do (the device routes refuse requests that name none).
pub fn http() -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        carnet_core::sync::protocol::FORMAT_HEADER,
        carnet_core::sync::protocol::FORMAT.into(),
    );
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .unwrap()
}

/// GET with a token; returns status and body.
pub fn get(server: &TestServer, path: &str, token: &str) -> (u16, Vec<u8>) {
    let r = http()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

/// POST with a token and a body; returns status and body.
pub fn post(server: &TestServer, path: &str, token: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let r = http()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .body(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

/// A CSV download, read back.
pub struct Csv {
    pub headers: csv::StringRecord,
    pub rows: Vec<csv::StringRecord>,
}

impl Csv {
    /// The cell of `row` under the column `name`.
    pub fn cell<'a>(&self, row: &'a csv::StringRecord, name: &str) -> &'a str {
        let i = self.headers.iter().position(|h| h == name);
        &row[i.unwrap_or_else(|| panic!("no column {name}"))]
    }
}

/// GET a CSV download with a token: a 200 with a CSV content type, read back.
pub fn get_csv(server: &TestServer, path: &str, token: &str) -> Csv {
    let r = http()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{path}"
    );
    let text = r.text().unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    Csv {
        headers: rd.headers().unwrap().clone(),
        rows: rd.records().map(Result::unwrap).collect(),
    }
}

pub fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

pub fn healthy(server: &TestServer) {
    let r = http()
        .get(format!("{}/healthz", server.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap(), "ok");
}

/// The team's log as the server holds it, read straight from its file.
pub fn server_log_head(data: &Path, team: &str) -> u64 {
    Store::open_unencrypted(data.join("teams").join(format!("{team}.db")))
        .unwrap()
        .log_head()
        .unwrap()
}

/// The product's fault proxy (the reliability campaigns' own) to
/// `upstream`, with no random faults: a test scripts its cuts with
/// [`Proxy::cut_next`].
pub fn cut_proxy(upstream: SocketAddr) -> Proxy {
    Proxy::start(upstream, 0, 0)
}

/// Everything of `team`'s photo blobs still stored: the files under
/// `data/blobs/<team>` (embedded storage), or its rows in `db`'s
/// `photo_blobs` and `photo_chunks` (PostgreSQL).
pub fn blob_leftovers(
    data: &Path,
    db: Option<&carnet_reliability::pg::TestDatabase>,
    team: &str,
) -> usize {
    match db {
        None => files_under(&data.join("blobs").join(team)),
        Some(db) => {
            let mut c = db.connect();
            ["photo_blobs", "photo_chunks"]
                .iter()
                .map(|t| {
                    c.query_one(
                        &format!("SELECT count(*) FROM {t} WHERE team_id = $1"),
                        &[&team],
                    )
                    .unwrap()
                    .get::<_, i64>(0) as usize
                })
                .sum()
        }
    }
}

/// Files below `dir`, at any depth (0 when it does not exist).
pub fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
        .sum()
}

/// The password test accounts are given ([`account`]): strong enough for
/// the rules.
pub const PASSWORD: &str = "tulipe orage quarante vélo";

/// A supervisor's account in `team` of `storage` whose invitation was
/// accepted with [`PASSWORD`]; returns its id.
pub fn account(
    storage: &dyn carnet_server::Storage,
    team: &str,
    name: &str,
    email: &str,
) -> String {
    let a = storage.create_account(team, name, email).unwrap();
    let hash = carnet_dashboard::accounts::hash_password(PASSWORD).unwrap();
    storage.set_password(&a.id, &hash).unwrap();
    a.id
}

/// [`account`] in the SQLite deployment under `data`.
pub fn account_in(data: &Path, team: &str, name: &str, email: &str) -> String {
    account(
        &carnet_server::SqliteStorage::open(data).unwrap(),
        team,
        name,
        email,
    )
}
