//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` call these), kept
//! here so that every crasher replays as an ordinary test
//! (`tests/fuzz_regressions.rs`). Each function panics when an invariant
//! breaks, which is how a fuzzer notices.

use std::sync::OnceLock;

use carnet_core::store::{Batch, Entry, GroupBy, Payload, Query};
use carnet_core::sync::{PushHeader, wire};
use carnet_core::{RecordId, Store};
use serde_json::Value;

use crate::work::check_log;

/// The envelope decoder: never panics; what it accepts re-encodes to the same entries.
pub fn wire_decode(data: &[u8]) {
    for body in [
        data.to_vec(),
        zstd::bulk::compress(data, 1).unwrap_or_default(),
    ] {
        if let Ok((h, entries)) = wire::decode::<Value>(&body) {
            let again = match wire::encode(&h, &entries) {
                Ok(again) => again,
                // A header at the size limit may come out longer once
                // written again (`1e5` becomes `100000.0`): refused, not bogus.
                Err(carnet_core::Error::TooLarge { .. }) => continue,
                Err(e) => panic!("an accepted envelope does not re-encode: {e}"),
            };
            let (h2, e2) = wire::decode::<Value>(&again)
                .expect("an accepted envelope re-encodes to a decodable one");
            assert_eq!(h, h2);
            assert_eq!(entries, e2);
        }
        let _ = wire::decode::<PushHeader>(&body);
    }
}

/// A store file from outside — the command line's `--store` directory holds
/// one, and it can be copied, truncated or damaged between machines: opening
/// it and reading it give a result or an error, never a panic.
pub fn store_file(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("carnet.db");
    std::fs::write(&path, data).expect("write the file");
    let Ok(store) = Store::open_unencrypted(&path) else {
        return;
    };
    let _ = store.count(&Query::default(), GroupBy::Kind);
    let _ = store.changes_since(0, 1 << 20, None);
    let _ = store.open_reports(None);
    let _ = store.list(&Query {
        text: Some("hall".into()),
        ..Default::default()
    });
    if let Ok(page) = store.list(&Query {
        limit: Some(20),
        ..Default::default()
    }) {
        for r in page.items {
            let _ = store.details(r.header().id);
        }
    }
}

/// The command line's key file (`carnet.key`, 0600): whatever it holds,
/// loading it gives a key or an error, never a panic, and the error never
/// repeats what the file holds (it is meant to be a secret).
pub fn key_file(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = carnet_cli::key::file_path(dir.path());
    std::fs::write(&path, data).expect("write the key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("make the key file private");
    }
    if let Err(e) = carnet_cli::key::load(dir.path()) {
        let text = String::from_utf8_lossy(data);
        let secret = text.trim();
        let shown = e.to_string();
        // Short contents can occur in any message by chance (and the path is in it).
        if secret.len() >= 8 && !path.display().to_string().contains(secret) {
            assert!(
                !shown.contains(secret),
                "the error repeats the key file's content: {shown}"
            );
        }
    }
}

struct Fixture {
    base: Batch,
    extra: Vec<Entry>,
    ids: Vec<RecordId>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (h, base): (Value, Vec<Entry>) =
            wire::decode(include_bytes!("../fixtures/base.crn")).expect("fixture");
        let (_, extra): (Value, Vec<Entry>) =
            wire::decode(include_bytes!("../fixtures/extra.crn")).expect("fixture");
        let mut ids: Vec<RecordId> = base
            .iter()
            .chain(extra.iter())
            .map(|e| e.record_id)
            .collect();
        ids.dedup();
        ids.sort();
        ids.dedup();
        Fixture {
            base: Batch {
                entries: base,
                upto: h["upto"].as_u64().unwrap_or(0),
                more: false,
            },
            extra,
            ids,
        }
    })
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Builds a batch from fuzz bytes: raw changes, mutated valid changes, valid
/// changes sent under the wrong record, erasures; ids mostly of records the
/// store holds.
pub fn batch_from(data: &[u8]) -> Batch {
    let f = fixture();
    let mut r = Bytes(data);
    let mut entries = Vec::new();
    while let Some(op) = r.u8() {
        let pick = |r: &mut Bytes<'_>| -> RecordId {
            match r.u8() {
                Some(b) if b < 240 => f.ids[b as usize % f.ids.len()],
                _ => {
                    let mut raw = [0u8; 16];
                    let t = r.take(16);
                    raw[..t.len()].copy_from_slice(t);
                    RecordId::from_bytes(raw)
                }
            }
        };
        let extra =
            |r: &mut Bytes<'_>| f.extra[r.u8().unwrap_or(0) as usize % f.extra.len()].clone();
        match op % 5 {
            0 => {
                let id = pick(&mut r);
                let len = r.u8().unwrap_or(0) as usize * 4;
                entries.push(Entry {
                    record_id: id,
                    payload: Payload::Change(r.take(len).to_vec()),
                });
            }
            1 => {
                let mut e = extra(&mut r);
                let n = r.u8().unwrap_or(0) % 8;
                if let Payload::Change(bytes) = &mut e.payload {
                    for _ in 0..n {
                        let hi = r.u8().unwrap_or(0) as usize;
                        let lo = r.u8().unwrap_or(0) as usize;
                        let x = r.u8().unwrap_or(1);
                        if !bytes.is_empty() {
                            let at = (hi << 8 | lo) % bytes.len();
                            bytes[at] ^= x;
                        }
                    }
                    if r.u8().unwrap_or(0) == 0xff {
                        let cut = r.u8().unwrap_or(0) as usize % (bytes.len() + 1);
                        bytes.truncate(cut);
                    }
                }
                entries.push(e);
            }
            2 => {
                let mut e = extra(&mut r);
                e.record_id = pick(&mut r);
                entries.push(e);
            }
            3 => entries.push(extra(&mut r)),
            _ => entries.push(Entry {
                record_id: pick(&mut r),
                payload: Payload::Erased,
            }),
        }
    }
    Batch {
        entries,
        upto: 1,
        more: false,
    }
}

/// Everything a caller can observe of a store.
pub fn fingerprint(store: &Store) -> String {
    let list = store
        .list(&Query {
            limit: Some(1000),
            ..Default::default()
        })
        .expect("list");
    let log = store.changes_since(0, usize::MAX, None).expect("log");
    let mut erased = Vec::new();
    for id in &fixture().ids {
        erased.push(matches!(store.get(*id), Err(carnet_core::Error::Erased(_))));
    }
    serde_json::json!({"head": store.log_head().expect("head"), "list": list.items, "log": log.entries.len(),
        "log_entries": format!("{:?}", log.entries), "erased": erased})
    .to_string()
}

/// The fixture's base: the changes every fuzzed batch builds on.
pub fn base_batch() -> Batch {
    fixture().base.clone()
}

/// A store holding the fixture's base: a copy of a template file built once
/// per process (on tmpfs when there is one), much faster than building it.
pub fn base_store() -> Store {
    static TEMPLATE: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (dir, template) = TEMPLATE.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let path = dir.path().join("template.db");
        let store = Store::open_unencrypted(&path).expect("template store");
        store
            .apply("fixture", &fixture().base)
            .expect("the fixture applies");
        store.checkpoint().expect("checkpoint");
        drop(store);
        (dir, path)
    });
    let work = dir
        .path()
        .join(format!("work-{:?}.db", std::thread::current().id()).replace(['(', ')'], ""));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", work.display()));
    }
    std::fs::copy(template, &work).expect("copy the template");
    Store::open_unencrypted(&work).expect("base store")
}

/// Change application: a batch built from `data` is applied to a store
/// holding the fixture, as relayed by a peer and as pushed by a device. It
/// must return Ok or Err without panicking; on Err the store is exactly as
/// before; on Ok the log reads back, every record reads, and applying the
/// same batch again changes nothing. Pushed by a device, a batch holding
/// another device's new change or an erasure of anything but a contact is
/// refused.
pub fn apply_bytes(data: &[u8]) {
    let batch = batch_from(data);
    apply_relayed(&batch);
    apply_pushed(&batch);
}

/// The actor of the fixture's extra changes (the second device).
fn extra_actor() -> &'static str {
    static A: OnceLock<String> = OnceLock::new();
    A.get_or_init(|| {
        Batch {
            entries: fixture().extra.clone(),
            upto: 0,
            more: false,
        }
        .first_actor()
        .expect("the fixture decodes")
        .expect("the fixture has changes")
    })
}

fn apply_pushed(batch: &Batch) {
    let store = base_store();
    let before = fingerprint(&store);
    // Pushed by the device that made the extra changes, then by another.
    let own = store.apply_pushed("fuzz", Some(extra_actor()), batch);
    if own.is_err() {
        assert_eq!(
            fingerprint(&store),
            before,
            "a refused push changed the store"
        );
    }
    // One store per thread at a time: the next copy replaces its file.
    drop(store);
    let store = base_store();
    let other = "00112233445566778899aabbccddeeff";
    match store.apply_pushed("fuzz", Some(other), batch) {
        Ok(report) => assert_eq!(
            report.applied, 0,
            "a device pushed changes another device made"
        ),
        Err(_) => assert_eq!(
            fingerprint(&store),
            before,
            "a refused push changed the store"
        ),
    }
}

fn apply_relayed(batch: &Batch) {
    let store = base_store();
    let before = fingerprint(&store);
    match store.apply("fuzz", batch) {
        Err(_) => assert_eq!(
            fingerprint(&store),
            before,
            "a rejected batch changed the store"
        ),
        Ok(_) => {
            check_log(&store).expect("the log reads back after an accepted batch");
            for r in store
                .list(&Query {
                    limit: Some(1000),
                    ..Default::default()
                })
                .expect("list")
                .items
            {
                store
                    .details(r.header().id)
                    .expect("every record reads after an accepted batch");
            }
            let after = fingerprint(&store);
            let again = store
                .apply("fuzz", batch)
                .expect("an accepted batch applies again");
            assert_eq!(
                again.applied, 0,
                "a batch applied twice applied something twice"
            );
            assert_eq!(
                fingerprint(&store),
                after,
                "a duplicate batch changed the store"
            );
        }
    }
}

#[cfg(feature = "server")]
mod http {
    use std::sync::{Arc, OnceLock};

    use axum::body::Body;
    use axum::http::{Method, Request};
    use carnet_server::{AppState, Config, SqliteStorage, Storage};
    use tower::ServiceExt;

    use super::{Bytes, batch_from};
    use carnet_core::sync::protocol::{FORMAT, FORMAT_HEADER};
    use carnet_core::sync::wire;

    struct HttpFixture {
        rt: tokio::runtime::Runtime,
        router: axum::Router,
        storage: Arc<SqliteStorage>,
        team: String,
        mediator: String,
        supervisor: String,
        _dir: tempfile::TempDir,
    }

    fn fixture() -> &'static HttpFixture {
        static F: OnceLock<HttpFixture> = OnceLock::new();
        F.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let (team, code) = carnet_server::init_team(dir.path(), "fuzz").expect("init team");
            let mcode =
                carnet_server::issue_code(dir.path(), &team, carnet_server::Role::Mediator, None)
                    .expect("code");
            let storage = Arc::new(SqliteStorage::open(dir.path()).expect("storage"));
            let supervisor = storage
                .redeem_code(&code, "sup", None)
                .expect("enroll")
                .token;
            let mediator = storage
                .redeem_code(&mcode, "med", None)
                .expect("enroll")
                .token;
            let config = Config {
                data_dir: dir.path().to_path_buf(),
                rate_per_second: 0.0,
                ..Config::default()
            };
            let router = carnet_server::app(AppState::with_storage(storage.clone(), config));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            HttpFixture {
                rt,
                router,
                storage,
                team,
                mediator,
                supervisor,
                _dir: dir,
            }
        })
    }

    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
    const PATHS: [&str; 12] = [
        "/v1/sync/push",
        "/v1/sync/pull",
        "/v1/enroll",
        "/v1/admin/codes",
        "/v1/admin/devices",
        "/v1/records",
        "/v1/records/",
        "/v1/admin/devices/",
        "/healthz",
        "/metrics",
        "/v1/sync/pull?",
        "/v1/records?",
    ];

    /// One request built from `data` against the in-process router. No
    /// input may produce a 500 (a panic caught by the server is a 500), every
    /// error is a problem document, and a refused request leaves the team
    /// log as it was.
    pub fn http_bytes(data: &[u8]) {
        let f = fixture();
        let mut r = Bytes(data);
        let method = METHODS[r.u8().unwrap_or(0) as usize % METHODS.len()];
        let path_choice = r.u8().unwrap_or(0) as usize;
        let auth = r.u8().unwrap_or(0);
        let ctype = r.u8().unwrap_or(0);
        let body_mode = r.u8().unwrap_or(0);
        let tail_len = r.u8().unwrap_or(0) as usize % 64;
        let tail = String::from_utf8_lossy(r.take(tail_len)).into_owned();
        let path = if path_choice >= PATHS.len() * 16 {
            tail
        } else {
            format!(
                "{}{}",
                PATHS[path_choice % PATHS.len()],
                if path_choice / PATHS.len() % 2 == 1 {
                    tail.as_str()
                } else {
                    ""
                }
            )
        };
        let rest = r.0;
        let body: Vec<u8> = match body_mode % 4 {
            0 => rest.to_vec(),
            1 => zstd::bulk::compress(rest, 1).unwrap_or_default(),
            2 => {
                let b = batch_from(rest);
                // What cannot be encoded is sent as an empty body: also hostile input.
                wire::encode(&serde_json::json!({"upto": rest.len()}), &b.entries)
                    .unwrap_or_default()
            }
            _ => serde_json::json!({"code": String::from_utf8_lossy(rest), "name": "x", "role": "mediator"}).to_string().into_bytes(),
        };
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        req = match auth % 5 {
            0 => req,
            1 => req.header("authorization", format!("Bearer {}", f.mediator)),
            2 => req.header("authorization", format!("Bearer {}", f.supervisor)),
            3 => req.header(
                "authorization",
                format!(
                    "Bearer {}",
                    String::from_utf8_lossy(&rest[..rest.len().min(80)])
                ),
            ),
            _ => req.header("authorization", rest[..rest.len().min(40)].to_vec()),
        };
        req = match ctype % 4 {
            0 => req,
            1 => req.header("content-type", wire::CONTENT_TYPE),
            2 => req.header("content-type", "application/json"),
            _ => req.header("content-length", "1"),
        };
        // Mostly the apps' format (always for the corpus's inputs from
        // before formats, whose content-type byte is below 4), so that the
        // routes behind the format check are reached; sometimes none, an
        // old one or junk (a 426).
        req = match (ctype / 4) % 8 {
            1 => req,
            2 => req.header(FORMAT_HEADER, "2"),
            3 => req.header(FORMAT_HEADER, rest[..rest.len().min(8)].to_vec()),
            _ => req.header(FORMAT_HEADER, FORMAT),
        };
        let Ok(req) = req.body(Body::from(body)) else {
            return;
        }; // not an HTTP request at all
        let head = f.storage.log_head(&f.team).expect("log head");
        let (status, ctype, bytes) = f.rt.block_on(async {
            let resp = f.router.clone().oneshot(req).await.expect("infallible");
            let status = resp.status();
            let ctype = resp
                .headers()
                .get("content-type")
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            (status, ctype, bytes)
        });
        assert!(
            !status.is_server_error(),
            "{status} for a client's input: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status.is_client_error() && method != "HEAD" {
            assert!(
                ctype.starts_with(b"application/problem+json"),
                "{status} without a problem document"
            );
        }
        if !status.is_success() {
            assert_eq!(
                f.storage.log_head(&f.team).expect("log head"),
                head,
                "a refused request ({status}) changed the team log"
            );
        }
    }
}

#[cfg(feature = "server")]
pub use http::http_bytes;
