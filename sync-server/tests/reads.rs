//! Supervisors' reads against the real server: the access log the API and
//! the dashboard share (who, what, where; append-only; exported to
//! supervisors only), names from the device registry, spreadsheet-safe CSV,
//! and the dashboard's sign-in (supervisor codes only, throttled, Secure
//! cookies).

mod common;

use carnet_core::store::StatusChange;
use carnet_core::{Kind, ReportStatus};
use carnet_server::storage::Storage;
use carnet_server::{Config, SqliteStorage};
use common::*;
use serde_json::{Value, json};

/// The team's access log as a supervisor reads it through the API.
fn access_log(server: &TestServer, token: &str) -> Vec<Value> {
    let (status, body) = get(server, "/v1/admin/access-log?format=json", token);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json_of(&body)["entries"].as_array().unwrap().clone()
}

fn ids_of(entry: &Value) -> Vec<String> {
    entry["record_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn api_reads_that_can_carry_contacts_are_logged_with_who_what_and_where() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "m");
    let contact = m
        .store
        .create(
            Kind::Contact,
            &fields(
                json!({"name": "Mme Exemple", "consents": ["telephone", "orientation"], "phone": "06 00 00 00 00", "sector": "conte-joliot"}),
            ),
        )
        .unwrap();
    let note = m.note("conte-joliot", "une note");
    m.sync(&server.url()).unwrap();
    assert!(access_log(&server, sup.token()).is_empty());

    assert_eq!(get(&server, "/v1/records", sup.token()).0, 200);
    assert_eq!(
        get(&server, "/v1/records?kind=contact&format=csv", sup.token()).0,
        200
    );
    assert_eq!(
        get(&server, "/v1/records?kind=contact&limit=5", sup.token()).0,
        200
    );
    assert_eq!(
        get(&server, &format!("/v1/records/{contact}"), sup.token()).0,
        200
    );
    // Reads that cannot return a contact are not logged.
    assert_eq!(get(&server, "/v1/records?kind=note", sup.token()).0, 200);
    assert_eq!(
        get(&server, &format!("/v1/records/{note}"), sup.token()).0,
        200
    );

    let entries = access_log(&server, sup.token());
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api export JSON",
            "api export CSV kind=contact",
            "api liste JSON kind=contact limit=5 offset=0",
            "api fiche contact",
        ]
    );
    let mut all = ids_of(&entries[0]);
    all.sort();
    let mut want = vec![contact.to_string(), note.to_string()];
    want.sort();
    assert_eq!(all, want);
    for e in &entries[1..] {
        assert_eq!(ids_of(e), [contact.to_string()]);
    }
    for e in &entries {
        assert_eq!(e["device_id"], sup.enrollment.device_id.as_str());
        assert_eq!(e["person"], "bureau");
        assert_eq!(e["client"], "127.0.0.1");
        assert_eq!(e["team_id"], team_id.as_str());
        assert!(e["at"].as_i64().unwrap() > 0);
    }
    assert!(!serde_json::to_string(&entries).unwrap().contains("Exemple"));
}

#[test]
fn the_access_log_exports_to_supervisors_only_and_refuses_updates() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "m");
    let contact = m
        .store
        .create(
            Kind::Contact,
            &fields(json!({"name": "=HYPERLINK(\"x\")", "sector": "conte-joliot"})),
        )
        .unwrap();
    m.sync(&server.url()).unwrap();
    assert_eq!(
        get(&server, &format!("/v1/records/{contact}"), sup.token()).0,
        200
    );

    let log = get_csv(&server, "/v1/admin/access-log?format=csv", sup.token());
    assert_eq!(log.rows.len(), 1);
    let row = &log.rows[0];
    assert_eq!(log.cell(row, "person"), "bureau");
    assert_eq!(log.cell(row, "client"), "127.0.0.1");
    assert_eq!(log.cell(row, "record_ids"), contact.to_string());

    let (status, _) = get(&server, "/v1/admin/access-log", m.token());
    assert_eq!(status, 403, "a mediator does not read the access log");
    assert_eq!(
        get(&server, "/v1/admin/access-log?format=xml", sup.token()).0,
        400
    );

    // Append-only in the database itself, not only in the code.
    let db = rusqlite::Connection::open(data.path().join("dashboard.db")).unwrap();
    let err = db
        .execute("UPDATE access_log SET person = 'quelqu''un d''autre'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = db.execute("DELETE FROM access_log", []).unwrap_err();
    assert!(err.to_string().contains("retention"), "{err}");
    assert_eq!(access_log(&server, sup.token())[0]["person"], "bureau");
}

#[test]
fn authors_and_history_are_named_by_the_registry_and_csv_is_neutralised() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let m = enroll(&server, &team_id, "mediator", "Tablette 3");
    // What the document says is the device's own word.
    m.store.set_author("Quelqu'un d'autre").unwrap();
    let report = m
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "graffiti", "place": "=1+1", "text": "-2+3"})),
        )
        .unwrap();
    m.store
        .change_status(
            report,
            &StatusChange {
                status: Some(ReportStatus::Forwarded),
                to: Some("bailleur".into()),
                reference: None,
                comment: None,
                duplicate_of: None,
            },
        )
        .unwrap();
    let contact = m
        .store
        .create(
            Kind::Contact,
            &fields(json!({"name": "Mme Exemple", "sector": "conte-joliot"})),
        )
        .unwrap();
    m.store
        .add_interaction(contact, "Dossier APL", None)
        .unwrap();
    m.sync(&server.url()).unwrap();

    let (_, body) = get(&server, "/v1/records?kind=report", sup.token());
    let listed = &json_of(&body)["records"][0];
    assert_eq!(listed["author"], "Tablette 3");
    assert_eq!(listed["events"][0]["by"], "Tablette 3");
    let (_, body) = get(&server, &format!("/v1/records/{report}"), sup.token());
    let details = json_of(&body);
    assert_eq!(details["record"]["author"], "Tablette 3");
    assert!(
        details["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["by"] == "Tablette 3")
    );
    let (_, body) = get(&server, &format!("/v1/records/{contact}"), sup.token());
    let details = json_of(&body);
    assert_eq!(details["record"]["interactions"][0]["by"], "Tablette 3");
    assert!(
        !body.windows(9).any(|w| w == b"Quelqu'un"),
        "the document's own word is never shown"
    );

    let export = get_csv(&server, "/v1/records?format=csv&kind=report", sup.token());
    let row = &export.rows[0];
    assert_eq!(export.cell(row, "place"), "'=1+1");
    assert_eq!(export.cell(row, "text"), "'-2+3");
    assert_eq!(export.cell(row, "author"), "Tablette 3");
    assert_eq!(export.cell(row, "id"), report.to_string());
}

/// A browser at the dashboard: the sign-in form's cookie, then a POST.
struct Browser {
    client: reqwest::blocking::Client,
    base: String,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        Browser {
            client: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.url(),
        }
    }

    /// Posts an e-mail and password to the sign-in form.
    fn sign_in(&self, email: &str, password: &str) -> reqwest::blocking::Response {
        let form = self
            .client
            .get(format!("{}/dashboard/connexion", self.base))
            .send()
            .unwrap();
        let csrf = set_cookie(&form, "carnet_connexion").unwrap();
        let csrf = csrf.split(';').next().unwrap().to_string();
        self.client
            .post(format!("{}/dashboard/connexion", self.base))
            .header("cookie", format!("carnet_connexion={csrf}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .unwrap()
    }

    fn get(&self, path: &str, session: &str) -> reqwest::blocking::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("carnet_session={session}"))
            .send()
            .unwrap()
    }
}

/// A `Set-Cookie` of `name`: its value and attributes, without the name.
fn set_cookie(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(str::to_string)
}

fn session_of(r: &reqwest::blocking::Response) -> Option<String> {
    set_cookie(r, "carnet_session")
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .filter(|c| !c.is_empty())
}

#[test]
fn device_tokens_and_codes_open_nothing_accounts_do_with_secure_cookies() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    account_in(data.path(), &team_id, "Awa", "awa@exemple.fr");
    let server = TestServer::start(data.path());
    let browser = Browser::new(&server);

    // An unused supervisor code, a supervisor's device token, typed as the
    // e-mail or the password: nothing, and the code is not spent.
    let phone = enroll(&server, &team_id, "supervisor", "bureau");
    for secret in [sup_code.as_str(), phone.token()] {
        for (email, password) in [(secret, secret), ("awa@exemple.fr", secret)] {
            let r = browser.sign_in(email, password);
            assert_eq!(r.status().as_u16(), 401);
            assert!(session_of(&r).is_none());
            let page = r.text().unwrap();
            assert!(page.contains("n'ouvrent plus le tableau de bord"), "{page}");
        }
    }
    let code_still_works = enroll_with_code(&server, &sup_code, "bureau 2");
    assert_eq!(
        code_still_works.enrollment.role,
        carnet_core::Role::Supervisor
    );

    // The account opens a session, with Secure cookies (the default).
    let r = browser.sign_in(" AWA@exemple.fr ", PASSWORD);
    assert_eq!(r.status().as_u16(), 303);
    let cookie = set_cookie(&r, "carnet_session").unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let session = session_of(&r).unwrap();
    assert_eq!(
        browser
            .get("/dashboard/degradations", &session)
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn insecure_cookies_only_when_configured() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    account_in(data.path(), &team_id, "Awa", "awa@exemple.fr");
    let server = TestServer::start_with(
        Config {
            data_dir: data.path().to_path_buf(),
            insecure_cookies: true,
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let r = Browser::new(&server).sign_in("awa@exemple.fr", PASSWORD);
    assert_eq!(r.status().as_u16(), 303);
    assert!(!set_cookie(&r, "carnet_session").unwrap().contains("Secure"));
}

#[test]
fn failed_dashboard_sign_ins_are_throttled_per_address() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    account_in(data.path(), &team_id, "Awa", "awa@exemple.fr");
    let server = TestServer::start_with(
        Config {
            data_dir: data.path().to_path_buf(),
            code_failures: 3,
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let browser = Browser::new(&server);
    for _ in 0..3 {
        assert_eq!(
            browser
                .sign_in("nobody@exemple.fr", "NOT-A-CODE")
                .status()
                .as_u16(),
            401
        );
    }
    // Even the right password waits: the address has used its attempts.
    let r = browser.sign_in("awa@exemple.fr", PASSWORD);
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(session_of(&r).is_none());
    assert!(
        r.text()
            .unwrap()
            .contains("trop de tentatives de connexion")
    );
}

#[test]
fn the_dashboard_logs_its_reads_in_the_shared_log_and_lists_lapsed_devices() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, sup_code) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let sup = enroll_with_code(&server, &sup_code, "bureau");
    let lost = enroll(&server, &team_id, "mediator", "Téléphone perdu");
    let report = lost
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "graffiti", "place": "=1+1", "text": "x"})),
        )
        .unwrap();
    lost.sync(&server.url()).unwrap();

    // The lost phone was last seen long ago; the daily sweep revokes it.
    let storage = SqliteStorage::open(data.path()).unwrap();
    let db = rusqlite::Connection::open(data.path().join("server.db")).unwrap();
    db.execute(
        "UPDATE devices SET enrolled_at = 1000, last_seen = 1700000000000 WHERE id = ?1",
        [&lost.enrollment.device_id],
    )
    .unwrap();
    let revoked = storage.revoke_inactive(86_400_000).unwrap();
    assert_eq!(revoked.len(), 1);

    let account_id = account_in(data.path(), &team_id, "Awa", "awa@exemple.fr");
    let browser = Browser::new(&server);
    let session = session_of(&browser.sign_in("awa@exemple.fr", PASSWORD)).unwrap();
    let home = browser
        .get("/dashboard/degradations", &session)
        .text()
        .unwrap();
    assert!(
        home.contains("Appareils révoqués pour inactivité"),
        "{home}"
    );
    assert!(
        home.contains("Téléphone perdu") && home.contains("14/11/2023"),
        "{home}"
    );

    let page = browser.get(&format!("/dashboard/signalements/{report}"), &session);
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("par Téléphone perdu"));
    let csv = browser
        .get("/dashboard/exports/journal.csv", &session)
        .text()
        .unwrap();
    assert!(csv.contains(";'=1+1;") && !csv.contains(";=1+1;"), "{csv}");

    // One log: the dashboard's reads are in what the API exports.
    let entries = access_log(&server, sup.token());
    let read = entries
        .iter()
        .find(|e| e["action"] == "fiche signalement (historique)")
        .expect("the history page is logged");
    assert_eq!(ids_of(read), [report.to_string()]);
    assert_eq!(read["client"], "127.0.0.1");
    assert_eq!(read["device_id"], account_id.as_str());
    assert_eq!(read["person"], "Awa");
}
