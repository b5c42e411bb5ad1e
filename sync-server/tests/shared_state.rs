//! Nothing per instance: two servers on one PostgreSQL database, each with
//! a data directory of its own, behave as one. A supervisor signed in
//! through one is signed in through the other (and signed out alike), an
//! access logged by one is listed by the other, and the rate limit and the
//! throttle on failed codes count once for both. Then the pieces alone:
//! the bucket statement, the failure counts, the append-only log, and the
//! periodic rounds one instance at a time.

mod common;
use carnet_reliability::pg;

use std::sync::Arc;

use carnet_core::Kind;
use carnet_dashboard::{Access, AccessLogStore, SessionStore, Supervisor};
use carnet_server::auth::{FailureCounts, TokenBuckets};
use carnet_server::storage::{
    PgAccessLog, PgFailureCounts, PgSessions, PgTokenBuckets, Round, run_alone,
};
use carnet_server::{Config, PostgresStorage, Role, ServerError, Storage};
use common::*;
use serde_json::json;

/// Two instances on one fresh database, and a storage handle of the test's.
struct Pair {
    a: TestServer,
    b: TestServer,
    storage: PostgresStorage,
    _dirs: [tempfile::TempDir; 2],
    _db: pg::TestDatabase,
}

impl Pair {
    fn start(tweak: impl Fn(Config) -> Config) -> Pair {
        let db = pg::TestDatabase::create();
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let server = |dir: &tempfile::TempDir| {
            TestServer::start_with(
                tweak(Config {
                    data_dir: dir.path().to_path_buf(),
                    database: Some(db.url.clone()),
                    database_pool: 4,
                    ..Config::default()
                }),
                "127.0.0.1:0".parse().unwrap(),
            )
        };
        let (a, b) = (server(&dirs[0]), server(&dirs[1]));
        Pair {
            a,
            b,
            storage: PostgresStorage::connect(&db.url, 2).unwrap(),
            _dirs: dirs,
            _db: db,
        }
    }

    /// A team and its first supervisor code.
    fn team(&self) -> (String, String) {
        carnet_server::init_team_in(&self.storage, "t").unwrap()
    }

    fn code(&self, team: &str, role: Role) -> String {
        carnet_server::issue_code_in(&self.storage, team, role, None).unwrap()
    }
}

/// A browser at one instance's dashboard, sending cookies by hand.
struct Browser<'a> {
    client: reqwest::blocking::Client,
    server: &'a TestServer,
}

impl<'a> Browser<'a> {
    fn at(server: &'a TestServer) -> Browser<'a> {
        Browser {
            client: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Posts an e-mail and password to the sign-in form; the answer's
    /// status and session cookie, if any.
    fn sign_in(&self, email: &str, password: &str) -> (u16, Option<String>) {
        let form = self
            .client
            .get(self.url("/dashboard/connexion"))
            .send()
            .unwrap();
        let csrf = cookie(&form, "carnet_connexion").unwrap();
        let r = self
            .client
            .post(self.url("/dashboard/connexion"))
            .header("cookie", format!("carnet_connexion={csrf}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            cookie(&r, "carnet_session").filter(|c| !c.is_empty()),
        )
    }

    fn get(&self, path: &str, session: &str) -> reqwest::blocking::Response {
        self.client
            .get(self.url(path))
            .header("cookie", format!("carnet_session={session}"))
            .send()
            .unwrap()
    }

    fn sign_out(&self, session: &str, csrf: &str) -> u16 {
        self.client
            .post(self.url("/dashboard/deconnexion"))
            .header("cookie", format!("carnet_session={session}"))
            .form(&[("csrf", csrf)])
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The value of a `Set-Cookie` of `name`.
fn cookie(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
}

/// The form token a signed-in page carries.
fn csrf_of(html: &str) -> String {
    let field = "name=\"csrf\" value=\"";
    let i = html.find(field).expect("a csrf field") + field.len();
    html[i..i + 64].to_string()
}

#[test]
fn a_session_opened_through_one_instance_works_and_ends_through_the_other() {
    let pair = Pair::start(|c| c);
    let (team, _) = pair.team();
    account(&pair.storage, &team, "Awa", "awa@exemple.fr");
    let (a, b) = (Browser::at(&pair.a), Browser::at(&pair.b));

    let (status, session) = a.sign_in("awa@exemple.fr", PASSWORD);
    assert_eq!(status, 303);
    let session = session.expect("a session cookie");
    let page = b.get("/dashboard/degradations", &session);
    assert_eq!(page.status().as_u16(), 200, "signed in through B too");
    let csrf = csrf_of(&page.text().unwrap());
    assert_eq!(
        a.get("/dashboard/degradations", &session).status().as_u16(),
        200
    );

    assert_eq!(b.sign_out(&session, &csrf), 303);
    for browser in [&a, &b] {
        let r = browser.get("/dashboard/degradations", &session);
        assert_eq!(r.status().as_u16(), 303, "signed out everywhere");
        assert_eq!(r.headers()["location"], "/dashboard/connexion");
    }
}

#[test]
fn an_access_logged_through_one_instance_is_listed_through_the_other() {
    let pair = Pair::start(|c| c);
    let (team, sup_code) = pair.team();
    let sup = enroll_with_code(&pair.a, &sup_code, "bureau");
    let m = enroll_with_code(&pair.b, &pair.code(&team, Role::Mediator), "m");
    let contact = m
        .store
        .create(
            Kind::Contact,
            &fields(json!({"name": "Mme Exemple", "sector": "conte-joliot"})),
        )
        .unwrap();
    m.sync(&pair.b.url()).unwrap();

    // The API's read through A, the dashboard's page through A.
    let (status, _) = get(&pair.a, &format!("/v1/records/{contact}"), sup.token());
    assert_eq!(status, 200);
    account(&pair.storage, &team, "Awa", "awa@exemple.fr");
    let browser = Browser::at(&pair.a);
    let (_, session) = browser.sign_in("awa@exemple.fr", PASSWORD);
    let session = session.unwrap();
    assert_eq!(
        browser
            .get("/dashboard/degradations", &session)
            .status()
            .as_u16(),
        200
    );

    // Both listed through B, by the API and on the dashboard's page.
    let (status, body) = get(&pair.b, "/v1/admin/access-log?format=json", sup.token());
    assert_eq!(status, 200);
    let entries = json_of(&body)["entries"].as_array().unwrap().clone();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "api fiche contact", "{actions:?}");
    assert!(
        actions.iter().any(|a| a.starts_with("page dégradations")),
        "{actions:?}"
    );
    assert_eq!(entries[0]["record_ids"][0], contact.to_string());
    assert_eq!(entries[0]["person"], "bureau");
    let journal = Browser::at(&pair.b)
        .get("/dashboard/journal", &session)
        .text()
        .unwrap();
    assert!(journal.contains("api fiche contact"), "{journal}");
}

#[test]
fn the_rate_limit_counts_requests_to_both_instances_as_one() {
    // Nothing refills during the test: a token every 1000 s.
    let pair = Pair::start(|c| Config {
        rate_per_second: 0.001,
        rate_burst: 4,
        ..c
    });
    let (_, sup_code) = pair.team();
    let sup = enroll_with_code(&pair.a, &sup_code, "bureau");
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let server = if i % 2 == 0 { &pair.a } else { &pair.b };
            get(server, "/v1/records?kind=note", sup.token()).0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}

#[test]
fn failed_codes_count_against_one_budget_across_instances() {
    let pair = Pair::start(|c| Config {
        code_failures: 3,
        ..c
    });
    let (team, _) = pair.team();
    let enroll_at = |server: &TestServer, code: &str| {
        http()
            .post(format!("{}/v1/enroll", server.url()))
            .json(&json!({"code": code, "name": "x"}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(enroll_at(&pair.a, "AAAA-AAAA-AAAA-AAAA"), 400);
    assert_eq!(enroll_at(&pair.b, "BBBB-BBBB-BBBB-BBBB"), 400);
    // A failed dashboard sign-in is one more try of a secret.
    assert_eq!(
        Browser::at(&pair.a).sign_in("x@exemple.fr", "CCCC-CCCC").0,
        401
    );
    // Even a good code now waits, at either instance.
    let good = pair.code(&team, Role::Mediator);
    assert_eq!(enroll_at(&pair.b, &good), 429);
    assert_eq!(enroll_at(&pair.a, &good), 429);
    assert_eq!(Browser::at(&pair.b).sign_in("x@exemple.fr", &good).0, 429);
}

/// An instance's storage on `db`.
fn instance(db: &pg::TestDatabase) -> PostgresStorage {
    PostgresStorage::connect(&db.url, 2).unwrap()
}

#[test]
fn the_bucket_statement_grants_exactly_the_burst_under_concurrent_checks() {
    let db = pg::TestDatabase::create();
    let pool = instance(&db).pool();
    let buckets = Arc::new(PgTokenBuckets::new(pool.clone(), 0.001, 5));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let buckets = buckets.clone();
            std::thread::spawn(move || (0..4).filter(|_| buckets.check("dev").is_ok()).count())
        })
        .collect();
    let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(granted, 5);
    match buckets.check("dev") {
        Err(ServerError::RateLimited(secs)) => assert!(secs >= 1),
        other => panic!("expected 429, got {other:?}"),
    }
    // Another device has its own bucket; another instance shares this one.
    buckets.check("other").unwrap();
    let elsewhere = PgTokenBuckets::new(instance(&db).pool(), 0.001, 5);
    assert!(elsewhere.check("dev").is_err());
    // Full buckets are forgotten; spent ones are kept.
    elsewhere.forget_stale().unwrap();
    assert!(buckets.check("dev").is_err());
    PgTokenBuckets::new(pool, 0.0, 1).check("dev").unwrap();
}

#[test]
fn failure_counts_keep_the_address_team_and_deployment_budgets() {
    let db = pg::TestDatabase::create();
    let counts = PgFailureCounts::new(instance(&db).pool(), 1, std::time::Duration::from_secs(600));
    counts.check("a", None).unwrap();
    counts.fail("a", None).unwrap();
    match counts.check("a", None) {
        Err(ServerError::RateLimited(secs)) => assert!((1..=600).contains(&secs)),
        other => panic!("expected 429, got {other:?}"),
    }
    counts.check("b", None).unwrap();
    // A team's budget is five addresses' worth.
    for i in 0..5 {
        counts.fail(&format!("x{i}"), Some("team")).unwrap();
    }
    assert!(counts.check("fresh", Some("team")).is_err());
    counts.check("fresh", Some("other")).unwrap();
    // The deployment's, twenty (six failures so far).
    for i in 6..20 {
        counts.fail(&format!("x{i}"), None).unwrap();
    }
    assert!(counts.check("fresh", None).is_err());
    // Windows still open are kept.
    counts.forget_stale().unwrap();
    assert!(counts.check("a", None).is_err());
}

fn access<'a>(team: &'a str, action: &'a str) -> Access<'a> {
    Access {
        team_id: team,
        device_id: "dev1",
        person: "Awa",
        client: "192.0.2.7",
        action,
        record_ids: &[],
    }
}

#[test]
fn the_shared_access_log_is_append_only() {
    let db = pg::TestDatabase::create();
    let pool = instance(&db).pool();
    let log = PgAccessLog::new(pool.clone(), 2).unwrap();
    log.record(&access("t1", "page")).unwrap();
    log.record(&access("t2", "page")).unwrap();
    assert_eq!(log.recent("t1", 10).unwrap().len(), 1);

    let mut c = pool.get().unwrap();
    let err = c
        .execute("UPDATE access_log SET person = 'x'", &[])
        .unwrap_err();
    assert!(format!("{err:?}").contains("append-only"), "{err:?}");
    let err = c.execute("DELETE FROM access_log", &[]).unwrap_err();
    assert!(format!("{err:?}").contains("retention"), "{err:?}");
    let err = c.batch_execute("TRUNCATE access_log").unwrap_err();
    assert!(format!("{err:?}").contains("append-only"), "{err:?}");
    assert_eq!(log.entries("t1").unwrap().len(), 1);
}

/// An entry written `days` ago (straight into the table: the log writes now).
fn old_entry(pool: &carnet_server::storage::Pool, days: i64) {
    pool.get()
        .unwrap()
        .execute(
            "INSERT INTO access_log (team_id, at, device_id, person, client, action, n_records, record_ids)
             VALUES ('t1', $1, 'd', 'p', 'c', 'old', 0, '')",
            &[&(carnet_core::now_ms() - days * 86_400_000)],
        )
        .unwrap();
}

#[test]
fn periodic_rounds_run_on_one_instance_at_a_time() {
    let db = pg::TestDatabase::create();
    let (one, other) = (instance(&db), instance(&db));
    let log = PgAccessLog::new(other.pool(), 2).unwrap();
    let sessions = PgSessions::new(other.pool());
    old_entry(&other.pool(), 3);
    let who = awa();
    let (expired, _) = sessions.create(&who, std::time::Duration::ZERO).unwrap();
    let (team, _) = carnet_server::init_team_in(&one, "t").unwrap();
    let lost = carnet_server::issue_code_in(&one, &team, Role::Mediator, None).unwrap();
    let lost = one.redeem_code(&lost, "perdu", None).unwrap().device_id;
    // Last seen long ago.
    one.pool()
        .get()
        .unwrap()
        .execute(
            "UPDATE devices SET enrolled_at = 1000 WHERE id = $1",
            &[&lost],
        )
        .unwrap();
    let day = 86_400_000;

    // While one instance holds a round, the other skips it.
    let skipped = run_alone(&one.pool(), Round::AccessLogPurge, |_| {
        Ok(log.purge_expired().unwrap())
    })
    .unwrap();
    assert_eq!(skipped, Some(None));
    assert_eq!(log.entries("t1").unwrap().len(), 1, "nothing purged");
    let skipped = run_alone(&one.pool(), Round::SessionPurge, |_| {
        Ok(sessions.purge_expired().unwrap())
    })
    .unwrap();
    assert_eq!(skipped, Some(None));
    let skipped = run_alone(&one.pool(), Round::InactiveSweep, |_| {
        Ok(other.sweep_inactive(day).unwrap())
    })
    .unwrap();
    assert_eq!(skipped, Some(None));
    assert!(one.devices(&team).unwrap()[0].revoked_at.is_none());

    // Each round taken alone, and released: the other instance does it now.
    assert_eq!(log.purge_expired().unwrap(), Some(1));
    assert!(log.entries("t1").unwrap().is_empty());
    assert_eq!(sessions.purge_expired().unwrap(), Some(1));
    assert!(sessions.get(&expired).unwrap().is_none());
    let swept = other.sweep_inactive(day).unwrap().unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].id, lost);
    assert_eq!(one.sweep_inactive(day).unwrap(), Some(Vec::new()));
}

fn awa() -> Supervisor {
    Supervisor {
        team_id: "t".into(),
        account_id: "a".into(),
        name: "Awa".into(),
        email: "awa@exemple.fr".into(),
        actor: "0".repeat(32),
    }
}

/// The shared sessions keep the account, end at their fixed time by an
/// explicit clock, and end per account but for the one kept.
#[test]
fn shared_sessions_end_per_account_and_at_their_time() {
    let db = pg::TestDatabase::create();
    let sessions = PgSessions::new(instance(&db).pool());
    let t0 = carnet_core::now_ms();
    let ttl = std::time::Duration::from_secs(3600);
    let (pending, s) = sessions.create_at(&awa(), ttl, true, t0).unwrap();
    assert_eq!(s.expires_at, t0 + 3_600_000);
    let got = sessions.get_at(&pending, t0 + 3_599_999).unwrap().unwrap();
    assert!(got.pending && got.supervisor == awa());
    assert!(sessions.get_at(&pending, t0 + 3_600_000).unwrap().is_none());
    let (keep, _) = sessions.create(&awa(), ttl).unwrap();
    let (other, _) = sessions.create(&awa(), ttl).unwrap();
    assert_eq!(sessions.end_account("a", Some(&keep)).unwrap(), 2);
    assert!(sessions.get(&keep).unwrap().is_some());
    assert!(sessions.get(&other).unwrap().is_none());
    assert_eq!(sessions.end_account("a", None).unwrap(), 1);
}
