//! Trust at the server: devices bound to their store's automerge actor,
//! dashboard sign-in codes, the throttle on wrong codes, private metrics,
//! token rotation, revocation of inactive devices, and private files.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use carnet_core::Store;
use carnet_core::sync::client::Client;
use carnet_core::sync::protocol::{FORMAT, FORMAT_HEADER};
use carnet_core::sync::{PushHeader, wire};
use carnet_server::storage::Role;
use carnet_server::{AppState, Config, SqliteStorage, Storage};
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

fn config(data: &Path) -> Config {
    Config {
        data_dir: data.to_path_buf(),
        ..Config::default()
    }
}

/// One request through the router in process, as if from `from`.
async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    from: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    // Named as the apps name it: the device routes refuse a request without.
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(FORMAT_HEADER, FORMAT);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    if let Some(from) = from {
        let addr: SocketAddr = from.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let resp = carnet_server::app(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

async fn enroll_call(
    state: &AppState,
    from: &str,
    code: &str,
    actor: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"code": code, "name": "tel"});
    if let Some(a) = actor {
        body["actor"] = json!(a);
    }
    let (status, _, bytes) = call(
        state,
        "POST",
        "/v1/enroll",
        Some(from),
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn devices_of(server: &TestServer, supervisor: &str) -> Vec<Value> {
    let (status, body) = get(server, "/v1/admin/devices", supervisor);
    assert_eq!(status, 200);
    json_of(&body)["devices"].as_array().unwrap().clone()
}

fn listed<'a>(devices: &'a [Value], id: &str) -> &'a Value {
    devices.iter().find(|d| d["id"] == id).unwrap()
}

#[test]
fn enrollment_binds_the_store_actor_and_one_store_is_one_device() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "m");

    let devices = devices_of(&server, sup.token());
    let listed_m = listed(&devices, &m.enrollment.device_id);
    assert_eq!(listed_m["actor"], json!(m.store.peer_id()));
    assert_eq!(listed_m["revoked_reason"], Value::Null);

    // The same store enrolled again while its device is in good standing: 409.
    let code =
        carnet_server::issue_code(data.path(), &team_id, carnet_server::Role::Mediator, None)
            .unwrap();
    let client = Client::new(&server.url()).unwrap();
    let err = client
        .enroll(&code, "again", Some(&m.store.peer_id()))
        .unwrap_err();
    assert!(
        matches!(&err, carnet_core::Error::Server { status: 409, detail } if detail.contains("revoke")),
        "{err:?}"
    );
    // A malformed actor is a 400, and spends nothing either.
    let err = client.enroll(&code, "again", Some("not-hex")).unwrap_err();
    assert!(
        matches!(err, carnet_core::Error::Server { status: 400, .. }),
        "{err:?}"
    );
    // Once a supervisor revokes the old device, the store enrolls anew
    // with the code that was refused.
    let (status, body) = post(
        &server,
        &format!("/v1/admin/devices/{}/revoke", m.enrollment.device_id),
        sup.token(),
        vec![],
    );
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["revoked_reason"], "supervisor");
    let again = client
        .enroll(&code, "again", Some(&m.store.peer_id()))
        .unwrap();
    let devices = devices_of(&server, sup.token());
    assert_eq!(
        listed(&devices, &again.device_id)["actor"],
        json!(m.store.peer_id())
    );
}

#[test]
fn actors_are_bound_once_and_named_by_their_newest_device() {
    let data = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(data.path()).unwrap();
    let team = s
        .create_team("t", &carnet_core::TeamConfig::carcassonne())
        .unwrap();
    let code = |s: &SqliteStorage| {
        s.issue_code(&team, Role::Mediator, None, 60_000)
            .unwrap()
            .code
    };
    let actor = "00112233445566778899AABBCCDDEEFF";
    let legacy = s.redeem_code(&code(&s), "ancien", None).unwrap();
    // Trust on first use: a device enrolled without an actor gets one.
    s.bind_actor(&legacy.device_id, actor).unwrap();
    s.bind_actor(&legacy.device_id, &actor.to_lowercase())
        .unwrap();
    assert!(matches!(
        s.bind_actor(&legacy.device_id, &"1".repeat(32)),
        Err(carnet_server::storage::StorageError::Conflict(_))
    ));
    let other = s.redeem_code(&code(&s), "autre", None).unwrap();
    assert!(matches!(
        s.bind_actor(&other.device_id, actor),
        Err(carnet_server::storage::StorageError::Conflict(_))
    ));
    s.revoke(&team, &legacy.device_id).unwrap();
    let newer = s.redeem_code(&code(&s), "nouveau", Some(actor)).unwrap();
    let names = s.actor_names(&team).unwrap();
    assert_eq!(names.len(), 1);
    assert_eq!(names[&actor.to_lowercase()], "nouveau");
    assert!(names.values().all(|n| n != "autre"));
    let _ = newer;
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_address_before_storage_is_touched() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let state = AppState::open(Config {
        code_failures: 5,
        ..config(data.path())
    })
    .unwrap();
    let wrong = "AAAA-BBBB-CCCC-DDDD";
    for _ in 0..5 {
        let (status, body) = enroll_call(&state, "203.0.113.7:5000", wrong, None).await;
        assert_eq!(status, 400, "{body}");
    }
    // The sixth answer is 429, with Retry-After and a problem, even for a
    // right code: the throttle answers before the code is looked at.
    let good =
        carnet_server::issue_code(data.path(), &team_id, carnet_server::Role::Mediator, None)
            .unwrap();
    let (status, headers, body) = call(
        &state,
        "POST",
        "/v1/enroll",
        Some("203.0.113.7:6000"),
        &[],
        serde_json::to_vec(&json!({"code": good})).unwrap(),
    )
    .await;
    assert_eq!(status, 429);
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 15 * 60, "{secs}");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("rate-limited"));
    // X-Forwarded-For is the client's own word without a trusted proxy.
    let (status, _, _) = call(
        &state,
        "POST",
        "/v1/enroll",
        Some("203.0.113.7:6001"),
        &[("x-forwarded-for", "198.51.100.1")],
        serde_json::to_vec(&json!({"code": good})).unwrap(),
    )
    .await;
    assert_eq!(status, 429);
    // Another address is not held back, and the code was not spent.
    let (status, body) = enroll_call(&state, "198.51.100.9:5000", &good, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["team_id"], json!(team_id));
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let data = tempfile::tempdir().unwrap();
    team(data.path(), "t");
    let state = AppState::open(Config {
        code_failures: 2,
        trusted_proxy: true,
        ..config(data.path())
    })
    .unwrap();
    let attempt = |xff: &'static str| {
        let state = state.clone();
        async move {
            call(
                &state,
                "POST",
                "/v1/enroll",
                Some("127.0.0.1:1"),
                &[("x-forwarded-for", xff)],
                br#"{"code": "AAAA-BBBB-CCCC-DDDD"}"#.to_vec(),
            )
            .await
            .0
        }
    };
    assert_eq!(attempt("10.0.0.1, 192.0.2.1").await, 400);
    assert_eq!(attempt("192.0.2.1").await, 400);
    assert_eq!(attempt("10.0.0.2, 192.0.2.1").await, 429);
    assert_eq!(attempt("192.0.2.2").await, 400);
}

#[tokio::test]
async fn metrics_need_a_supervisor_except_on_their_own_address() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let state = AppState::open(config(data.path())).unwrap();
    let med_code =
        carnet_server::issue_code(data.path(), &team_id, carnet_server::Role::Mediator, None)
            .unwrap();
    let sup = state.storage.redeem_code(&sup_code, "s", None).unwrap();
    let med = state.storage.redeem_code(&med_code, "m", None).unwrap();
    let metrics = |token: Option<String>| {
        let state = state.clone();
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            let (status, _, body) = call(&state, "GET", "/metrics", None, &headers, vec![]).await;
            (status, String::from_utf8(body).unwrap())
        }
    };
    assert_eq!(metrics(None).await.0, 401);
    assert_eq!(metrics(Some(med.token)).await.0, 403);
    let (status, text) = metrics(Some(sup.token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("carnet_enrollments_total"), "{text}");

    // The plain listener serves them without a token, and nothing else.
    let plain = carnet_server::metrics_app(state.clone());
    let resp = plain
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = plain
        .oneshot(
            Request::get("/v1/admin/devices")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[test]
fn a_rotated_token_replaces_the_old_one_at_once() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let m = enroll(&server, &team_id, "mediator", "m");
    let client = Client::new(&server.url()).unwrap();
    let new = client.rotate_token(m.token()).unwrap();
    assert_eq!(new.len(), 64);
    assert_ne!(new, m.token());
    assert_eq!(get(&server, "/v1/sync/pull?after=0", m.token()).0, 401);
    assert_eq!(get(&server, "/v1/sync/pull?after=0", &new).0, 200);
    assert!(matches!(
        client.rotate_token(m.token()),
        Err(carnet_core::Error::Unauthorized)
    ));
}

/// Sets a device's last contact (and enrollment) `days` ago, as if time
/// had passed.
fn age(data: &Path, device_id: &str, days: i64) {
    let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let then = carnet_core::now_ms() - days * 24 * 3600 * 1000;
    let n = conn
        .execute(
            "UPDATE devices SET last_seen = ?2, enrolled_at = min(enrolled_at, ?2) WHERE id = ?1",
            rusqlite::params![device_id, then],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn devices_unseen_too_long_are_revoked_by_the_sweep_and_on_sight() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let state = AppState::open(config(data.path())).unwrap();
    assert_eq!(state.config.device_inactivity_days, 90);
    let code = || {
        carnet_server::issue_code(data.path(), &team_id, carnet_server::Role::Mediator, None)
            .unwrap()
    };
    let sup = state.storage.redeem_code(&sup_code, "s", None).unwrap();
    let lost = state.storage.redeem_code(&code(), "perdu", None).unwrap();
    let found = state
        .storage
        .redeem_code(&code(), "retrouvé", None)
        .unwrap();
    let active = state.storage.redeem_code(&code(), "actif", None).unwrap();
    let pull = |token: String| {
        let state = state.clone();
        async move {
            let auth = format!("Bearer {token}");
            call(
                &state,
                "GET",
                "/v1/sync/pull?after=0",
                None,
                &[("authorization", &auth)],
                vec![],
            )
            .await
            .0
        }
    };
    let reason = |id: &str| {
        let d = state.storage.devices(&team_id).unwrap();
        let d = d.iter().find(|d| d.id == id).unwrap();
        (d.revoked_at.is_some(), d.revoked_reason.clone())
    };

    // The daily sweep revokes the devices unseen for 90 days, and says which.
    age(data.path(), &lost.device_id, 91);
    age(data.path(), &active.device_id, 89);
    let swept = carnet_server::sweep_inactive_devices(&state, Duration::from_secs(90 * 24 * 3600))
        .await
        .unwrap();
    let ids: Vec<&str> = swept.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [lost.device_id.as_str()]);
    assert_eq!(reason(&lost.device_id), (true, Some("inactive".into())));
    assert_eq!(reason(&active.device_id), (false, None));
    assert_eq!(reason(&sup.device_id), (false, None));
    assert_eq!(pull(lost.token).await, 401);
    assert_eq!(pull(active.token).await, 200);

    // Between sweeps: a device seen after too long is refused and revoked
    // on the spot.
    age(data.path(), &found.device_id, 91);
    assert_eq!(pull(found.token.clone()).await, 401);
    assert_eq!(reason(&found.device_id), (true, Some("inactive".into())));
    assert_eq!(pull(found.token).await, 401);

    // 0 days turns it off.
    let off = AppState::open(Config {
        device_inactivity_days: 0,
        ..config(data.path())
    })
    .unwrap();
    assert_eq!(off.config.device_inactivity(), None);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_every_file_in_it_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // An existing, too open directory and file are tightened too.
    std::fs::create_dir_all(data.join("teams")).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("notes.txt"), "x").unwrap();
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let (team_id, _) = team(&data, "t");
    let state = AppState::open(config(&data)).unwrap();
    let code =
        carnet_server::issue_code(&data, &team_id, carnet_server::Role::Mediator, None).unwrap();
    let device_dir = tempfile::tempdir().unwrap();
    let store = Store::open_unencrypted(device_dir.path().join("d.db")).unwrap();
    let (status, e) = enroll_call(&state, "127.0.0.1:1", &code, Some(&store.peer_id())).await;
    assert_eq!(status, 200, "{e}");
    store
        .set_config(&serde_json::from_value(e["config"].clone()).unwrap())
        .unwrap();
    store
        .create(
            carnet_core::Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "calme"})),
        )
        .unwrap();
    let batch = store.changes_since(0, 1 << 20, None).unwrap();
    let body = wire::encode(
        &PushHeader {
            upto: batch.upto,
            lineage: None,
        },
        &batch.entries,
    )
    .unwrap();
    let auth = format!("Bearer {}", e["token"].as_str().unwrap());
    let (status, _, answer) = call(
        &state,
        "POST",
        "/v1/sync/push",
        None,
        &[
            ("authorization", &auth),
            ("content-type", wire::CONTENT_TYPE),
        ],
        body,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    let mut seen = 0;
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
                seen += 1;
            }
        }
    }
    // server.db, the team's .db and their -wal/-shm files at least.
    assert!(seen >= 5, "{seen}");
    assert!(
        data.join("teams")
            .join(format!("{team_id}.db-wal"))
            .exists()
    );
}
