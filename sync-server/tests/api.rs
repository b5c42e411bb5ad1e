//! The HTTP API against the real server: roles, revocation and wipe orders,
//! team isolation, hostile bodies, the merged log, metrics and rate limits.

mod common;

use carnet_core::store::{Entry, Payload};
use carnet_core::sync::client::{Client, Retry};
use carnet_core::sync::{PushHeader, wire};
use carnet_core::{Kind, RecordId};
use carnet_server::Storage;
use common::*;
use serde_json::{Value, json};

fn problem_type(body: &[u8]) -> String {
    json_of(body)["type"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn enrollment_codes_are_single_use_and_admin_issued_codes_work() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    assert_eq!(sup.enrollment.role, carnet_core::Role::Supervisor);
    assert_eq!(sup.enrollment.team_id, team_id);
    assert_eq!(sup.enrollment.config.name, "t");

    // The same code again within minutes is a retry: the same device back.
    let again = Client::new(&server.url())
        .unwrap()
        .enroll(&sup_code, "bureau", None)
        .unwrap();
    assert_eq!(again.device_id, sup.enrollment.device_id);

    let (status, body) = post(
        &server,
        "/v1/admin/codes",
        sup.token(),
        json!({"role": "mediator", "name": "tel 1"})
            .to_string()
            .into(),
    );
    assert_eq!(status, 200);
    let code = json_of(&body)["code"].as_str().unwrap().to_string();
    let m = enroll_with_code(&server, &code.to_lowercase(), "");
    assert_eq!(m.enrollment.role, carnet_core::Role::Mediator);

    let bad = http()
        .post(format!("{}/v1/enroll", server.url()))
        .body(r#"{"code":"AAAA-BBBB-CCCC-DDDD"}"#)
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(problem_type(&bad.bytes().unwrap()).ends_with("invalid-code"));
    let bad = http()
        .post(format!("{}/v1/enroll", server.url()))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let (status, body) = get(&server, "/v1/admin/devices", sup.token());
    assert_eq!(status, 200);
    let devices = json_of(&body)["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 2);
    assert_eq!(
        devices[1]["name"], "tel 1",
        "the code's proposed name is used when the device gives none"
    );
}

#[test]
fn roles_revocation_and_wipe_orders() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "m");
    let lost = enroll(&server, &team_id, "mediator", "lost");

    for path in ["/v1/admin/devices", "/v1/records"] {
        let (status, body) = get(&server, path, m.token());
        assert_eq!(status, 403, "{path}");
        assert!(problem_type(&body).ends_with("forbidden"));
    }
    let (status, _) = post(
        &server,
        "/v1/admin/codes",
        m.token(),
        json!({"role": "supervisor"}).to_string().into(),
    );
    assert_eq!(status, 403, "a mediator cannot make itself a supervisor");
    let (status, _) = get(&server, "/v1/sync/pull?after=0", "not-a-token");
    assert_eq!(status, 401);
    let r = http()
        .get(format!("{}/v1/sync/pull", server.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Revoked: 401 on every request, and a sync says so.
    m.note("conte-joliot", "avant");
    m.sync(&server.url()).unwrap();
    let (status, _) = post(
        &server,
        &format!("/v1/admin/devices/{}/revoke", m.enrollment.device_id),
        sup.token(),
        vec![],
    );
    assert_eq!(status, 200);
    let err = m.sync(&server.url()).unwrap_err();
    assert!(matches!(err, carnet_core::Error::Unauthorized), "{err}");
    let (status, _) = get(&server, "/v1/sync/pull?after=0", m.token());
    assert_eq!(status, 401);

    // Wipe ordered: 410 "…wipe", and the client erases its store.
    lost.note("ozanam-albignac", "sur le téléphone perdu");
    let (status, body) = post(
        &server,
        &format!("/v1/admin/devices/{}/wipe", lost.enrollment.device_id),
        sup.token(),
        vec![],
    );
    assert_eq!(status, 200);
    assert!(json_of(&body)["wipe_ordered_at"].is_i64());
    let (status, body) = get(&server, "/v1/sync/pull?after=0", lost.token());
    assert_eq!(status, 410);
    assert!(problem_type(&body).ends_with("wipe"));
    let err = lost.sync(&server.url()).unwrap_err();
    assert!(matches!(err, carnet_core::Error::Wiped), "{err}");
    assert!(lost.all().is_empty(), "the lost phone's store is erased");

    let (_, body) = get(&server, "/v1/admin/devices", sup.token());
    let devices = json_of(&body)["devices"].as_array().unwrap().clone();
    let by_name = |n: &str| devices.iter().find(|d| d["name"] == n).unwrap().clone();
    assert!(by_name("m")["revoked_at"].is_i64());
    assert!(by_name("lost")["wipe_ordered_at"].is_i64());
    assert!(by_name("bureau")["revoked_at"].is_null());
}

#[test]
fn teams_are_isolated_for_every_route_and_role() {
    let data = tempfile::tempdir().unwrap();
    let (team_a, sup_a_code) = team(data.path(), "A");
    let (team_b, sup_b_code) = team(data.path(), "B");
    let server = TestServer::start(data.path());
    let sup_a = enroll_with_code(&server, &sup_a_code, "sup a");
    let sup_b = enroll_with_code(&server, &sup_b_code, "sup b");
    let ma = enroll(&server, &team_a, "mediator", "ma");
    let mb = enroll(&server, &team_b, "mediator", "mb");

    let secret = ma
        .store
        .create(Kind::Contact, &fields(json!({"name": "Résident de A"})))
        .unwrap();
    ma.sync(&server.url()).unwrap();
    sup_a.sync(&server.url()).unwrap();
    assert_eq!(sup_a.all().len(), 1, "the same team sees it");

    // Sync: B's devices, whatever their role, pull nothing of A's.
    for d in [&mb, &sup_b] {
        let s = d.sync(&server.url()).unwrap();
        assert_eq!(s.pulled, 0);
        assert!(d.all().is_empty());
        let (status, body) = get(&server, "/v1/sync/pull?after=0", d.token());
        assert_eq!(status, 200);
        let (h, entries): (Value, Vec<Entry>) = wire::decode(&body).unwrap();
        assert!(entries.is_empty(), "{h}");
    }
    // Records: B's supervisor reads none of A's, by list or by id.
    let (status, body) = get(&server, "/v1/records", sup_b.token());
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["records"], json!([]));
    let (status, _) = get(&server, &format!("/v1/records/{secret}"), sup_b.token());
    assert_eq!(status, 404);
    let (status, _) = get(&server, &format!("/v1/records/{secret}"), sup_a.token());
    assert_eq!(status, 200);
    // Admin: B's supervisor cannot see, revoke or wipe A's devices.
    let (_, body) = get(&server, "/v1/admin/devices", sup_b.token());
    let names: Vec<Value> = json_of(&body)["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("sup b"), json!("mb")]);
    for action in ["revoke", "wipe"] {
        let (status, _) = post(
            &server,
            &format!("/v1/admin/devices/{}/{action}", ma.enrollment.device_id),
            sup_b.token(),
            vec![],
        );
        assert_eq!(status, 404, "{action}");
    }
    ma.sync(&server.url()).unwrap();
    // A push from B of A's changes is refused (they are not B's device's
    // own) and touches neither team's log.
    let mut push_mb = ma.store.changes_since(0, 1 << 20, None).unwrap();
    push_mb.upto = 1;
    let body = wire::encode(
        &PushHeader {
            upto: 1,
            lineage: None,
        },
        &push_mb.entries,
    )
    .unwrap();
    let (status, _) = post(&server, "/v1/sync/push", mb.token(), body);
    assert_eq!(status, 403);
    let (_, body) = get(&server, "/v1/records?kind=contact", sup_a.token());
    assert_eq!(json_of(&body)["records"].as_array().unwrap().len(), 1);
    assert_eq!(server_log_head(data.path(), &team_a), 1);
    assert_eq!(server_log_head(data.path(), &team_b), 0);
}

#[test]
fn hostile_bodies_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let a = enroll(&server, &team_id, "mediator", "a");
    let b = enroll(&server, &team_id, "mediator", "b");
    for i in 0..20 {
        a.note("conte-joliot", &format!("note {i}"));
    }
    a.sync(&server.url()).unwrap();
    let head = server_log_head(data.path(), &team_id);
    let good = {
        b.note("conte-joliot", "de b");
        let batch = b.store.changes_since(0, 1 << 20, None).unwrap();
        wire::encode(
            &PushHeader {
                upto: batch.upto,
                lineage: None,
            },
            &batch.entries,
        )
        .unwrap()
    };
    let change = match &b.store.changes_since(0, 1 << 20, None).unwrap().entries[0].payload {
        Payload::Change(c) => c.clone(),
        Payload::Erased | Payload::PhotoErased { .. } => unreachable!(),
    };

    let mut cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty", vec![], 400),
        ("garbage", b"hello, world".to_vec(), 400),
        (
            "json instead of an envelope",
            br#"{"upto": 1}"#.to_vec(),
            400,
        ),
        (
            "zstd of garbage",
            zstd::bulk::compress(b"CRN1garbage", 1).unwrap(),
            400,
        ),
        (
            "unknown tag",
            zstd::bulk::compress(
                &[b"CRN1".as_slice(), &2u32.to_le_bytes(), b"{}", &[9u8; 17]].concat(),
                1,
            )
            .unwrap(),
            400,
        ),
        (
            "header not an object",
            wire::encode(&json!([1, 2]), &[]).unwrap(),
            400,
        ),
        (
            "change bytes that are not a change",
            wire::encode(
                &json!({"upto": 1}),
                &[Entry {
                    record_id: RecordId::new(),
                    payload: Payload::Change(vec![1, 2, 3]),
                }],
            )
            .unwrap(),
            400,
        ),
        (
            "a change filed under another record",
            wire::encode(
                &json!({"upto": 1}),
                &[Entry {
                    record_id: RecordId::new(),
                    payload: Payload::Change(change.clone()),
                }],
            )
            .unwrap(),
            400,
        ),
        (
            "decompresses past 32 MiB",
            zstd::bulk::compress(
                &[
                    b"CRN1".as_slice(),
                    &2u32.to_le_bytes(),
                    b"{}",
                    &vec![0u8; 33 << 20],
                ]
                .concat(),
                3,
            )
            .unwrap(),
            413,
        ),
        ("past 8 MiB", vec![7u8; (8 << 20) + 1], 413),
    ];
    for n in [1, 8, good.len() / 2, good.len() - 1] {
        cases.push(("truncated", good[..n].to_vec(), 400));
    }
    for (what, body, expected) in cases {
        let r = http()
            .post(format!("{}/v1/sync/push", server.url()))
            .bearer_auth(b.token())
            .header("content-type", wire::CONTENT_TYPE)
            .body(body)
            .send();
        match r {
            Ok(r) => {
                assert_eq!(r.status().as_u16(), expected, "{what}");
                let ct = r.headers()["content-type"].to_str().unwrap().to_string();
                assert_eq!(ct, "application/problem+json", "{what}");
                let p = json_of(&r.bytes().unwrap());
                assert_eq!(p["status"], expected, "{what}");
            }
            // Past the size limit the server may answer and close before the
            // whole body is sent; the client then sees a reset instead.
            Err(e) => assert_eq!(expected, 413, "{what}: {e}"),
        }
        healthy(&server);
        assert_eq!(
            server_log_head(data.path(), &team_id),
            head,
            "{what} changed the log"
        );
    }

    // Replayed: the same good body twice applies once.
    let (status, body) = post(&server, "/v1/sync/push", b.token(), good.clone());
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["applied"], 1);
    let (status, body) = post(&server, "/v1/sync/push", b.token(), good);
    assert_eq!(status, 200);
    assert_eq!(
        (
            json_of(&body)["applied"].clone(),
            json_of(&body)["duplicates"].clone()
        ),
        (json!(0), json!(1))
    );
    assert_eq!(server_log_head(data.path(), &team_id), head + 1);

    // Bad queries, routes and methods are problems too.
    for (path, status) in [
        ("/v1/sync/pull?after=-1", 400),
        ("/v1/sync/pull?after=abc", 400),
        ("/v1/nope", 404),
        ("/v1/records/not-an-id", 403),
    ] {
        let (s, body) = get(&server, path, b.token());
        assert_eq!(s, status, "{path}");
        assert!(json_of(&body)["type"].is_string(), "{path}");
    }
    let r = http()
        .get(format!("{}/v1/sync/push", server.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    healthy(&server);
}

#[test]
fn supervisors_read_the_merged_log_as_json_and_csv() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "m");
    let report = m
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "graffiti", "place": "=cmd|' /C calc'!A0", "text": "Tags, \"gros\"\nsur deux lignes"})),
        )
        .unwrap();
    m.note("conte-joliot", "une note");
    m.note("grazailles-fleming", "une autre");
    m.sync(&server.url()).unwrap();

    let (status, body) = get(&server, "/v1/records", sup.token());
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["records"].as_array().unwrap().len(), 3);
    let (_, body) = get(
        &server,
        "/v1/records?kind=notes&sector=conte-joliot",
        sup.token(),
    );
    assert_eq!(json_of(&body)["records"].as_array().unwrap().len(), 1);
    let (_, body) = get(
        &server,
        "/v1/records?kind=report&status=reported&since=2020-01-01",
        sup.token(),
    );
    assert_eq!(json_of(&body)["records"].as_array().unwrap().len(), 1);
    let (_, body) = get(&server, "/v1/records?until=2020-01-01", sup.token());
    assert_eq!(json_of(&body)["records"].as_array().unwrap().len(), 0);
    let (_, body) = get(&server, "/v1/records?limit=2", sup.token());
    assert_eq!(json_of(&body)["records"].as_array().unwrap().len(), 2);
    assert_eq!(json_of(&body)["has_more"], true);
    for bad in [
        "/v1/records?kind=cat",
        "/v1/records?since=yesterday",
        "/v1/records?format=xls",
        "/v1/records?limit=x",
    ] {
        let (status, _) = get(&server, bad, sup.token());
        assert_eq!(status, 400, "{bad}");
    }

    let export = get_csv(&server, "/v1/records?format=csv", sup.token());
    assert_eq!(&export.headers[0], "id");
    assert_eq!(export.rows.len(), 3);
    let row = export
        .rows
        .iter()
        .find(|r| export.cell(r, "kind") == "report")
        .unwrap();
    assert_eq!(export.cell(row, "text"), "Tags, \"gros\"\nsur deux lignes");
    assert!(
        export.cell(row, "place").starts_with("'="),
        "formulas are defused"
    );
    assert!(export.cell(row, "created_at").ends_with('Z'));

    let (status, body) = get(&server, &format!("/v1/records/{report}"), sup.token());
    assert_eq!(status, 200);
    let details = json_of(&body);
    assert_eq!(details["record"]["kind"], "report");
    assert_eq!(details["history"].as_array().unwrap().len(), 1);
    assert!(details["conflicts"].as_array().unwrap().is_empty());
    let (status, _) = get(
        &server,
        &format!("/v1/records/{}", RecordId::new()),
        sup.token(),
    );
    assert_eq!(status, 404);
}

#[test]
fn metrics_count_requests_and_sync_volume() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let m = enroll(&server, &team_id, "mediator", "m");
    let sup = enroll(&server, &team_id, "supervisor", "s");
    m.note("conte-joliot", "x");
    m.sync(&server.url()).unwrap();
    // On the API's address, metrics are a supervisor's (tests/trust.rs).
    let text = http()
        .get(format!("{}/metrics", server.url()))
        .bearer_auth(sup.token())
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("carnet_push_applied_total 1"), "{text}");
    assert!(text.contains("carnet_enrollments_total 2"), "{text}");
    assert!(
        text.contains(r#"carnet_http_requests_total{route="/v1/sync/push",status="200"} 1"#),
        "{text}"
    );
}

#[test]
fn past_the_rate_limit_a_device_is_told_when_to_come_back() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let config = carnet_server::Config {
        data_dir: data.path().to_path_buf(),
        rate_per_second: 0.5,
        rate_burst: 3,
        ..Default::default()
    };
    let server = TestServer::start_with(config, "127.0.0.1:0".parse().unwrap());
    let m = enroll(&server, &team_id, "mediator", "m");
    for _ in 0..3 {
        assert_eq!(get(&server, "/v1/sync/pull?after=0", m.token()).0, 200);
    }
    let r = http()
        .get(format!("{}/v1/sync/pull?after=0", server.url()))
        .bearer_auth(m.token())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    // The client treats it as retryable and gets through after waiting.
    let client = Client::new(&server.url()).unwrap().with_retry(Retry {
        attempts: 3,
        first_backoff: std::time::Duration::from_millis(2100),
    });
    client
        .sync(
            &m.store,
            m.token(),
            &mut |_| {},
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap();
}

/// Signs an account into the dashboard; returns the session cookie.
fn dashboard_session(server: &TestServer, email: &str, password: &str) -> Option<String> {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{}/dashboard/connexion", server.url()))
        .send()
        .unwrap();
    let cookie_value = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap_or_default().to_string())
    };
    let csrf = cookie_value(&form, "carnet_connexion").unwrap();
    let signed = client
        .post(format!("{}/dashboard/connexion", server.url()))
        .header("cookie", format!("carnet_connexion={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .unwrap();
    cookie_value(&signed, "carnet_session").filter(|c| !c.is_empty())
}

fn dashboard_status(server: &TestServer, session: &str) -> u16 {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/dashboard/degradations", server.url()))
        .header("cookie", format!("carnet_session={session}"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn device_tokens_open_no_dashboard_and_a_disabled_account_is_out_at_once() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let boss = enroll_with_code(&server, &code, "bureau");
    assert_eq!(
        dashboard_session(&server, boss.token(), boss.token()),
        None,
        "a supervisor's device token opened the dashboard"
    );
    let storage = carnet_server::SqliteStorage::open(data.path()).unwrap();
    let other = account(&storage, &team_id, "Bruno", "bruno@exemple.fr");
    account(&storage, &team_id, "Awa", "awa@exemple.fr");
    let session = dashboard_session(&server, "bruno@exemple.fr", PASSWORD).expect("signed in");
    assert_eq!(dashboard_status(&server, &session), 200);
    storage.disable_account(&team_id, &other).unwrap().unwrap();
    // The next page sends the disabled account back to sign-in, and so
    // does every later one; it cannot sign in again.
    assert_eq!(dashboard_status(&server, &session), 303);
    assert_eq!(dashboard_status(&server, &session), 303);
    assert_eq!(
        dashboard_session(&server, "bruno@exemple.fr", PASSWORD),
        None
    );
    // The other supervisor's dashboard still works.
    let session = dashboard_session(&server, "awa@exemple.fr", PASSWORD).expect("signed in");
    assert_eq!(dashboard_status(&server, &session), 200);
}

/// The dashboard reads the storage the server was given, never one of its
/// own opened on the data directory: with the registry kept elsewhere than
/// `data_dir`, a supervisor still signs in and reads the team's pages, and
/// nothing opens a registry under `data_dir`.
#[test]
fn the_dashboard_reads_the_storage_the_server_was_given() {
    let registry = tempfile::tempdir().unwrap();
    let (team_id, _) = team(registry.path(), "t");
    let elsewhere = tempfile::tempdir().unwrap();
    let storage = carnet_server::SqliteStorage::open(registry.path()).unwrap();
    account(&storage, &team_id, "Awa", "awa@exemple.fr");
    let state = carnet_server::AppState::with_storage(
        std::sync::Arc::new(storage),
        carnet_server::Config {
            data_dir: elsewhere.path().to_path_buf(),
            ..carnet_server::Config::default()
        },
    );
    let server = TestServer::with_state(state, registry.path());
    let session =
        dashboard_session(&server, "awa@exemple.fr", PASSWORD).expect("the supervisor signs in");
    assert_eq!(dashboard_status(&server, &session), 200);
    assert!(
        !elsewhere.path().join("server.db").exists(),
        "no second registry opened on the data directory"
    );
    assert!(elsewhere.path().join("dashboard.db").exists());
}
