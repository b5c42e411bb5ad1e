//! Format versions (`docs/sync-protocol.md`, "Format versions") against the
//! real server: a device that names no format, or one the server no longer
//! serves, is told to update and nothing of its request is read; the
//! current format is served; every answer names the server's
//! format; an app of the format before the envelopes' dictionary syncs
//! without it; and the app refuses a server older than itself.

mod common;

use std::sync::atomic::AtomicBool;

use carnet_core::photo::PhotoHash;
use carnet_core::store::Cursor;
use carnet_core::sync::client::{Client, Retry};
use carnet_core::sync::protocol::{FORMAT, FORMAT_HEADER, MIN_FORMAT};
use carnet_core::sync::{PushHeader, wire};
use carnet_core::{Error, Store};
use common::*;

/// A client that names no format, as an app built before formats were.
fn bare() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// The record count a supervisor reads: what the team log holds.
fn records(server: &TestServer, sup: &Device) -> usize {
    let (status, body) = get(server, "/v1/records", sup.token());
    assert_eq!(status, 200);
    json_of(&body)["records"].as_array().unwrap().len()
}

/// Checks an answer is the update-required problem, with the server's
/// format stamped on it; returns nothing else.
fn assert_update_required(resp: reqwest::blocking::Response) {
    assert_eq!(resp.status().as_u16(), 426);
    assert_eq!(
        resp.headers().get(FORMAT_HEADER).unwrap().to_str().unwrap(),
        FORMAT.to_string()
    );
    let problem = json_of(&resp.bytes().unwrap());
    assert_eq!(
        problem["type"], "https://carnet.invalid/problems/update-required",
        "{problem}"
    );
    assert_eq!(problem["status"], 426);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("too old"), "{detail}");
    assert!(
        detail.contains("update Carnet, then sync again"),
        "{detail}"
    );
    assert!(detail.contains("your notes stay on this phone"), "{detail}");
    let fr = problem["detail_fr"].as_str().unwrap();
    assert!(fr.contains("mettez Carnet à jour"), "{fr}");
}

fn push_body(device: &Device) -> Vec<u8> {
    let batch = device.store.changes_since(0, 1 << 20, None).unwrap();
    assert!(!batch.entries.is_empty());
    wire::encode(
        &PushHeader {
            upto: batch.upto,
            lineage: None,
        },
        &batch.entries,
    )
    .unwrap()
}

#[test]
fn a_device_naming_no_format_or_an_old_one_is_told_to_update_and_nothing_is_read() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "tel");
    m.note("conte-joliot", "posée");
    let url = server.url();
    let old = (MIN_FORMAT - 1).to_string();

    // Push: no header, then an old format. Nothing reaches the log.
    for format in [None, Some("1"), Some(old.as_str()), Some("trois")] {
        let mut req = bare()
            .post(format!("{url}/v1/sync/push"))
            .bearer_auth(m.token())
            .header("content-type", wire::CONTENT_TYPE)
            .body(push_body(&m));
        if let Some(f) = format {
            req = req.header(FORMAT_HEADER, f);
        }
        assert_update_required(req.send().unwrap());
        assert_eq!(records(&server, &sup), 0, "{format:?}");
    }

    // Pull, token rotation and the photo routes: the same answer, and the
    // token a refused rotation carried still works.
    let hash = PhotoHash::of(b"no such photo");
    for (method, path) in [
        ("GET", "/v1/sync/pull?after=0".to_string()),
        ("POST", "/v1/auth/rotate".to_string()),
        ("GET", format!("/v1/photos/{hash}")),
        ("GET", format!("/v1/photos/{hash}/upload")),
        ("PUT", format!("/v1/photos/{hash}/upload")),
    ] {
        let req = bare()
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .bearer_auth(m.token());
        assert_update_required(req.send().unwrap());
        let req = bare()
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .header(FORMAT_HEADER, &old)
            .bearer_auth(m.token());
        assert_update_required(req.send().unwrap());
    }

    // Enrollment: refused before the code is read, so the code still
    // enrolls an up-to-date app.
    let code = carnet_server::issue_code(&server.data, &team_id, "mediator".parse().unwrap(), None)
        .unwrap();
    let refused = bare()
        .post(format!("{url}/v1/enroll"))
        .json(&serde_json::json!({"code": code, "name": "vieux"}))
        .send()
        .unwrap();
    assert_update_required(refused);
    let fresh = enroll_with_code(&server, &code, "neuf");
    assert_eq!(fresh.enrollment.team_id, team_id);

    // The current format is served: the raw push applies, and the app's
    // own client (which names its format) syncs as always.
    let (status, _) = post(&server, "/v1/sync/push", m.token(), push_body(&m));
    assert_eq!(status, 200);
    assert_eq!(records(&server, &sup), 1);
    m.sync(&url).unwrap();
    assert_eq!(fresh.sync(&url).unwrap().pulled, 1);
    server.stop();
}

/// A raw request of an app of `format`, with a device's token.
fn as_app(
    method: &str,
    url: String,
    token: &str,
    format: u32,
) -> reqwest::blocking::RequestBuilder {
    bare()
        .request(method.parse().unwrap(), url)
        .bearer_auth(token)
        .header(FORMAT_HEADER, format.to_string())
}

#[test]
fn an_app_of_format_3_syncs_without_the_dictionary_and_a_current_one_with_it() {
    // The server still serves the format before the dictionary.
    const { assert!(MIN_FORMAT < wire::DICTIONARY_FORMAT) };
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let current = enroll(&server, &team_id, "mediator", "neuf");
    let old = enroll(&server, &team_id, "mediator", "ancien");
    let url = server.url();
    current.note("conte-joliot", "posée");
    current.sync(&url).unwrap();

    // A push of the old app: its envelope is plain zstd. It is applied.
    old.note("ozanam-albignac", "calme");
    let batch = old.store.changes_since(0, 1 << 20, None).unwrap();
    let header = PushHeader {
        upto: batch.upto,
        lineage: None,
    };
    let body = wire::encode_for(3, &header, &batch.entries).unwrap();
    assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&body), None);
    let resp = as_app("POST", format!("{url}/v1/sync/push"), old.token(), 3)
        .header("content-type", wire::CONTENT_TYPE)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(records(&server, &sup), 2);

    // Its pull: plain zstd, which an app without the dictionary reads.
    let pull = |format: u32| {
        let resp = as_app(
            "GET",
            format!("{url}/v1/sync/pull?after=0"),
            old.token(),
            format,
        )
        .send()
        .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.bytes().unwrap().to_vec()
    };
    let plain = pull(3);
    assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&plain), None);
    let raw = zstd::bulk::decompress(&plain, wire::MAX_DECOMPRESSED).unwrap();
    assert_eq!(&raw[..4], b"CRN1");
    let (_, entries): (serde_json::Value, _) = wire::decode(&plain).unwrap();
    assert_eq!(entries.len(), 1, "the other device's note, not its own");

    // The same pull by an app of the current format: with the dictionary,
    // the same entries, fewer bytes.
    let packed = pull(FORMAT);
    assert_eq!(
        zstd::zstd_safe::get_dict_id_from_frame(&packed).map(|i| i.get()),
        Some(carnet_core::sync::dictionary::DICTIONARY_ID)
    );
    assert!(zstd::bulk::decompress(&packed, wire::MAX_DECOMPRESSED).is_err());
    let (_, same): (serde_json::Value, _) = wire::decode(&packed).unwrap();
    assert_eq!(same, entries);
    assert!(
        packed.len() < plain.len(),
        "{} ≥ {}",
        packed.len(),
        plain.len()
    );
    server.stop();
}

#[test]
fn answers_name_the_servers_format_and_only_device_routes_are_gated() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "tel");
    let url = server.url();

    // A success and a refusal of a device route both carry the header; a
    // newer format than the server's is served (the app judges the answer).
    for (token, status) in [(m.token(), 200), ("not-a-token", 401)] {
        let r = bare()
            .get(format!("{url}/v1/sync/pull?after=0"))
            .header(FORMAT_HEADER, (FORMAT + 1).to_string())
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(
            r.headers().get(FORMAT_HEADER).unwrap().to_str().unwrap(),
            FORMAT.to_string()
        );
    }

    // Health, metrics and the supervisors' reads carry no documents to an
    // app's store: no format needed.
    let r = bare().get(format!("{url}/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for path in ["/v1/admin/devices", "/v1/records", "/metrics"] {
        let r = bare()
            .get(format!("{url}{path}"))
            .bearer_auth(sup.token())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        // Named here too: a supervisor's app judges these answers.
        assert_eq!(
            r.headers().get(FORMAT_HEADER).unwrap().to_str().unwrap(),
            FORMAT.to_string(),
            "{path}"
        );
    }
    server.stop();
}

/// A server from before formats were named: it answers every request with
/// a success, a push acknowledged as applied, and no `Carnet-Format`.
fn old_server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(|| async {
                axum::Json(serde_json::json!({
                    "acked_upto": 1_000, "applied": 1, "duplicates": 0,
                    "refused": 0, "erased": 0,
                    "device_id": "d", "team_id": "t", "token": "x",
                }))
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

#[test]
fn the_app_refuses_a_server_older_than_itself_and_moves_no_cursor() {
    let url = old_server();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_unencrypted(dir.path().join("device.db")).unwrap();
    store
        .create(
            carnet_core::Kind::Note,
            &fields(serde_json::json!({"sector": "conte-joliot", "text": "posée"})),
        )
        .unwrap();
    let client = Client::new(&url).unwrap().with_retry(Retry {
        attempts: 3,
        first_backoff: std::time::Duration::from_millis(1),
    });
    let err = client
        .sync(&store, "x", &mut |_| {}, &AtomicBool::new(false))
        .unwrap_err();
    assert!(
        matches!(err, Error::ServerTooOld { server: 2, app } if app == FORMAT),
        "{err:?}"
    );
    assert!(err.to_string().contains("ask whoever runs it to update it"));
    // The acknowledgement was not taken: the note is pushed again once
    // the server is updated.
    assert_eq!(store.cursor(Cursor::Push).unwrap(), 0);

    // Enrollment and token rotation refuse it too.
    let err = client
        .enroll("AAAA-BBBB-CCCC-DDDD", "tel", None)
        .unwrap_err();
    assert!(matches!(err, Error::ServerTooOld { .. }), "{err:?}");
    let err = client.rotate_token("x").unwrap_err();
    assert!(matches!(err, Error::ServerTooOld { .. }), "{err:?}");
}
