//! `carnet-server migrate-storage`: a SQLite deployment moved to PostgreSQL
//! while it serves, then served from PostgreSQL with the same tokens and
//! positions; re-runs copy only what was added; the reliability fixtures
//! and a team of 100k records move and verify.

mod common;
use carnet_reliability::pg;

use std::path::Path;
use std::sync::Arc;

use carnet_core::lifecycle::ReportStatus;
use carnet_core::store::{Batch, Entry, Query, StatusChange};
use carnet_core::sync::wire;
use carnet_core::{Kind, Store, TeamConfig};
use carnet_dashboard::AccessLogStore;
use carnet_server::migrate_storage::{MigrationReport, migrate};
use carnet_server::{Config, PostgresStorage, Role, ServerError, SqliteStorage, Storage};
use common::*;
use rand::SeedableRng;
use serde_json::{Value, json};

fn pg_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// The supervisor API's answers that must not change with the storage.
fn answers(server: &TestServer, token: &str, ids: &[carnet_core::RecordId]) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/v1/records".to_string(),
        "/v1/records?kind=report".into(),
        "/v1/records?kind=report&status=in_progress".into(),
        "/v1/records?kind=note&sector=conte-joliot".into(),
        "/v1/records?kind=note&limit=2&offset=1".into(),
        "/v1/records?kind=contact".into(),
    ] {
        let (status, body) = get(server, &path, token);
        assert_eq!(status, 200, "{path}");
        out.push(json_of(&body));
    }
    for id in ids {
        let (status, body) = get(server, &format!("/v1/records/{id}"), token);
        out.push(json!({"status": status, "body": json_of(&body)}));
    }
    out
}

fn report_fields() -> serde_json::Map<String, Value> {
    fields(json!({
        "sector": "ozanam-albignac", "category": "lift", "place": "Bât. B",
        "text": "Ascenseur en panne"
    }))
}

fn status(to: ReportStatus) -> StatusChange {
    StatusChange {
        status: Some(to),
        to: (to == ReportStatus::Forwarded).then(|| "bailleur".into()),
        ..Default::default()
    }
}

#[test]
fn a_served_deployment_moves_to_postgresql_and_devices_carry_on() {
    let data = tempfile::tempdir().unwrap();
    let db = pg::TestDatabase::create();
    let (team_a, _) = team(data.path(), "Carcassonne");
    let (team_b, _) = team(data.path(), "Narbonne");
    let server = TestServer::start(data.path());
    let amina = enroll(&server, &team_a, "mediator", "amina");
    let sup = enroll(&server, &team_a, "supervisor", "bureau");
    let bruno = enroll(&server, &team_b, "mediator", "bruno");
    // A code not used yet: it still enrolls once the deployment moved.
    let spare =
        carnet_server::issue_code(data.path(), &team_a, Role::Mediator, Some("renfort")).unwrap();

    amina.note("conte-joliot", "ronde du matin");
    let report = amina.store.create(Kind::Report, &report_fields()).unwrap();
    amina
        .store
        .change_status(report, &status(ReportStatus::Forwarded))
        .unwrap();
    amina
        .store
        .change_status(report, &status(ReportStatus::InProgress))
        .unwrap();
    let contact = amina
        .store
        .create(Kind::Contact, &fields(json!({"name": "Mme Exemple"})))
        .unwrap();
    let kept = amina
        .store
        .create(Kind::Contact, &fields(json!({"name": "M. Exemple"})))
        .unwrap();
    amina.sync(&server.url()).unwrap();
    amina.store.erase(contact).unwrap();
    bruno.note("conte-joliot", "à Narbonne");
    for d in [&amina, &bruno, &sup] {
        d.sync(&server.url()).unwrap();
    }

    // A supervisor's account with a second factor, a pending invitation,
    // and a team that requires the second factor.
    let lite = SqliteStorage::open(data.path()).unwrap();
    let awa = account(&lite, &team_a, "Awa", "awa@exemple.fr");
    lite.set_totp(&awa, Some("JBSWY3DPEHPK3PXP")).unwrap();
    lite.use_totp_step(&awa, 42).unwrap();
    lite.set_require_totp(&team_a, true).unwrap();
    let invited = lite
        .create_account(&team_b, "Bruno", "bruno@exemple.fr")
        .unwrap();
    let invitation = lite.issue_invitation(&invited.id, 60_000).unwrap();
    let awa_before = lite.account(&awa).unwrap().unwrap();
    drop(lite);

    // First run, while the server serves.
    let first = migrate(data.path(), &db.url).unwrap();
    assert!(first.verified);
    assert_eq!(first.teams, 2);
    assert_eq!(first.accounts, 2);
    let pg_storage = PostgresStorage::connect(&db.url, 1).unwrap();
    assert_eq!(pg_storage.account(&awa).unwrap().unwrap(), awa_before);
    assert!(
        pg_storage.require_totp(&team_a).unwrap() && !pg_storage.require_totp(&team_b).unwrap()
    );
    assert_eq!(
        pg_storage.invitation(&invitation.code).unwrap().unwrap().id,
        invited.id
    );
    assert_eq!(
        pg_storage
            .actor_names(&team_a)
            .unwrap()
            .get(&awa_before.actor)
            .map(String::as_str),
        Some("Awa")
    );
    drop(pg_storage);
    assert_eq!(first.devices, 3);
    assert_eq!(first.codes, 6, "two init codes, three enrollments, a spare");
    assert_eq!(first.tombstones, 1);
    assert_eq!(first.copied.changes, first.changes);
    let head_a = server_log_head(data.path(), &team_a);
    assert_eq!(
        first
            .team_reports
            .iter()
            .find(|t| t.team_id == team_a)
            .unwrap()
            .head,
        head_a
    );
    assert_eq!(first.access_log_entries, 0, "nobody read anything yet");

    // More work on the SQLite server, an erasure of a record copied before.
    amina.note("viguier-saint-jacques", "après la première copie");
    amina
        .store
        .change_status(report, &status(ReportStatus::Resolved))
        .unwrap();
    amina.store.erase(kept).unwrap();
    for d in [&amina, &sup] {
        d.sync(&server.url()).unwrap();
    }
    let second = migrate(data.path(), &db.url).unwrap();
    let new_head_a = server_log_head(data.path(), &team_a);
    assert_eq!(second.copied.changes, new_head_a - head_a);
    assert_eq!(second.copied.erasures, 1);
    assert_eq!(second.tombstones, 2);
    // `kept` had one change, which its erasure removed from the log.
    assert_eq!(second.changes, first.changes + second.copied.changes - 1);

    // The last run, the server stopped, through the command line.
    let ids = [report, contact, kept];
    let before = answers(&server, sup.token(), &ids);
    server.stop();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carnet-server"))
        .args(["migrate-storage", "--from"])
        .arg(data.path())
        .args(["--to", &db.url, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let third: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(third["verified"], true);
    assert_eq!(third["copied"]["changes"], 0);
    assert_eq!(third["copied"]["records"], 0);
    assert_eq!(third["teams"], 2);
    assert_eq!(third["changes"], second.changes);

    // Served from PostgreSQL: same tokens, same positions.
    let pg_data = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        Config {
            database: Some(db.url.clone()),
            data_dir: pg_data.path().to_path_buf(),
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    assert_eq!(answers(&server, sup.token(), &ids), before);
    let s = sup.sync(&server.url()).unwrap();
    assert_eq!((s.pulled, s.pushed, s.restarted), (0, 0, false));
    let s = bruno.sync(&server.url()).unwrap();
    assert_eq!((s.pulled, s.restarted), (0, false));
    amina.note("conte-joliot", "servie par PostgreSQL");
    let s = amina.sync(&server.url()).unwrap();
    assert_eq!((s.pushed, s.restarted), (1, false));
    let s = sup.sync(&server.url()).unwrap();
    assert_eq!((s.pulled, s.restarted), (1, false));
    let fresh = enroll_with_code(&server, &spare, "renfort");
    fresh.sync(&server.url()).unwrap();
    let all = sup.all();
    assert_eq!(all.len(), 4, "two notes, a report, one more note");
    assert_eq!(fresh.all(), all);
    assert_eq!(amina.all(), all);
    for gone in [contact, kept] {
        assert!(fresh.store.get(gone).is_err());
        let (status, body) = get(&server, &format!("/v1/records/{gone}"), sup.token());
        assert_eq!(status, 404);
        assert!(String::from_utf8_lossy(&body).contains("erased"));
    }

    // PostgreSQL moved on: a run from the old directory is refused and
    // changes nothing.
    let err = migrate(data.path(), &db.url).unwrap_err();
    assert!(matches!(err, ServerError::Migration(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&team_a) && message.contains("diverged"),
        "{message}"
    );
    assert!(!amina.sync(&server.url()).unwrap().restarted);
    server.stop();
}

/// A team of `data` and a device in it bound to `actor`.
fn device(storage: &SqliteStorage, team: &str, name: &str, actor: Option<&str>) -> String {
    let code = storage
        .issue_code(team, Role::Mediator, Some(name), 60_000)
        .unwrap()
        .code;
    storage.redeem_code(&code, name, actor).unwrap().device_id
}

fn fixture(bytes: &[u8]) -> Batch {
    let (head, entries): (Value, Vec<Entry>) = wire::decode(bytes).unwrap();
    Batch {
        entries,
        upto: head["upto"].as_u64().unwrap(),
        more: false,
    }
}

/// Every record of a team, through a storage's reads, in a stable order.
fn records(storage: &dyn Storage, team: &str, query: Query) -> Vec<Value> {
    let page = storage
        .records(
            team,
            &Query {
                limit: Some(1000),
                ..query
            },
        )
        .unwrap();
    assert!(!page.has_more);
    page.items
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

fn same_reads(lite: &dyn Storage, pg: &dyn Storage, team: &str) {
    for query in [
        Query::default(),
        Query {
            kind: Some(Kind::Report),
            ..Default::default()
        },
        Query {
            text: Some("ampoule".into()),
            ..Default::default()
        },
        Query {
            text: Some("grillee".into()),
            ..Default::default()
        },
        Query {
            open_only: true,
            ..Default::default()
        },
    ] {
        assert_eq!(
            records(lite, team, query.clone()),
            records(pg, team, query.clone()),
            "{query:?}"
        );
    }
}

#[test]
fn the_reliability_fixtures_and_random_field_work_migrate_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = pg::TestDatabase::create();
    let lite = SqliteStorage::open(dir.path()).unwrap();
    let team = lite
        .create_team("fiabilité", &TeamConfig::carcassonne())
        .unwrap();
    let base = fixture(include_bytes!("../../reliability/fixtures/base.crn"));
    let extra = fixture(include_bytes!("../../reliability/fixtures/extra.crn"));
    let a = device(&lite, &team, "a", base.first_actor().unwrap().as_deref());
    let b = device(&lite, &team, "b", extra.first_actor().unwrap().as_deref());
    let actor = |batch: &Batch| batch.first_actor().unwrap();
    lite.push(&team, &a, actor(&base).as_deref(), &base)
        .unwrap();

    let first = migrate(dir.path(), &db.url).unwrap();
    assert_eq!(first.changes, base.entries.len() as u64);
    assert_eq!(first.tombstones, 0);
    let pg = PostgresStorage::connect(&db.url, 2).unwrap();
    same_reads(&lite, &pg, &team);
    assert_eq!(pg.lineage(&team).unwrap(), lite.lineage(&team).unwrap());

    // The extra set erases a contact the first run copied.
    let erased = extra
        .entries
        .iter()
        .find(|e| matches!(e.payload, carnet_core::store::Payload::Erased))
        .unwrap()
        .record_id;
    assert!(pg.record(&team, erased).is_ok());
    lite.push(&team, &b, actor(&extra).as_deref(), &extra)
        .unwrap();
    let second = migrate(dir.path(), &db.url).unwrap();
    assert_eq!(second.copied.erasures, 1);
    assert_eq!(second.tombstones, 1);
    assert!(matches!(
        pg.record(&team, erased),
        Err(carnet_server::storage::StorageError::Core(
            carnet_core::Error::Erased(_)
        ))
    ));
    same_reads(&lite, &pg, &team);

    // The reliability campaigns' random field work (reports, words,
    // statuses, contacts, erasures) from a third device.
    let work_dir = tempfile::tempdir().unwrap();
    let store = Store::open_unencrypted(work_dir.path().join("c.db")).unwrap();
    store.set_config(&TeamConfig::carcassonne()).unwrap();
    store.set_author("c").unwrap();
    let c = device(&lite, &team, "c", Some(&store.peer_id()));
    let mut worker = carnet_reliability::work::Worker::new(&store, "c").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut pushed = 0;
    for _ in 0..300 {
        worker.step(&store, &mut rng).unwrap();
        let work = store.changes_since(pushed, usize::MAX, None).unwrap();
        lite.push(&team, &c, Some(&store.peer_id()), &work).unwrap();
        pushed = work.upto;
    }
    let third = migrate(dir.path(), &db.url).unwrap();
    assert!(third.copied.changes > 0);
    assert!(third.tombstones > 1, "the work erased contacts");
    same_reads(&lite, &pg, &team);
    let fourth = migrate(dir.path(), &db.url).unwrap();
    assert_eq!(fourth.copied, Default::default());
    assert_eq!(
        fourth.team_reports[0].log_sha256,
        third.team_reports[0].log_sha256
    );

    // A copy that no longer matches is named, and not committed.
    pg_client(&db.url)
        .execute(
            "DELETE FROM records WHERE id = (SELECT id FROM records LIMIT 1)",
            &[],
        )
        .unwrap();
    let err = migrate(dir.path(), &db.url).unwrap_err().to_string();
    assert!(err.contains(&team) && err.contains("records:"), "{err}");

    // The dashboard's access log moves, once.
    let log = carnet_dashboard::AccessLog::open(dir.path(), 365).unwrap();
    for action in ["api liste JSON", "api export CSV"] {
        log.record(&carnet_dashboard::Access {
            team_id: &team,
            device_id: &a,
            person: "bureau",
            client: "127.0.0.1",
            action,
            record_ids: &[erased],
        })
        .unwrap();
    }
    let mut client = pg_client(&db.url);
    client
        .batch_execute(
            "TRUNCATE records, record_axes, record_referrals, documents, change_log, tombstones;
             UPDATE team_logs SET head = 0;",
        )
        .unwrap();
    // Emptied logs are copied again whole.
    let fifth = migrate(dir.path(), &db.url).unwrap();
    assert_eq!(fifth.copied.access_log_entries, 2);
    assert_eq!(fifth.access_log_entries, 2);
    assert_eq!(
        fifth.team_reports[0].log_sha256,
        third.team_reports[0].log_sha256
    );
    same_reads(&lite, &pg, &team);
    let sixth = migrate(dir.path(), &db.url).unwrap();
    assert_eq!(sixth.copied.access_log_entries, 0);
    let held: i64 = client
        .query_one("SELECT count(*) FROM access_log", &[])
        .unwrap()
        .get(0);
    assert_eq!(held, 2);
}

/// Where a scratch store that is written a hundred thousand times lives:
/// memory when the system has a RAM disk (each write is a durable commit).
fn scratch_dir() -> tempfile::TempDir {
    match Path::new("/dev/shm") {
        p if p.is_dir() => tempfile::tempdir_in(p).unwrap(),
        _ => tempfile::tempdir().unwrap(),
    }
}

/// Ignored by a plain `cargo test` (building the team takes minutes on a
/// small machine): `scripts/test` runs it with `--ignored`.
#[test]
#[ignore = "minutes long: scripts/test runs it with --ignored"]
fn a_team_of_100k_records_migrates_and_verifies() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let db = pg::TestDatabase::create();
    let team = SqliteStorage::open(dir.path())
        .unwrap()
        .create_team("grande équipe", &TeamConfig::carcassonne())
        .unwrap();
    // One device's notes, applied to the team's log in one batch.
    let started = std::time::Instant::now();
    let scratch = scratch_dir();
    let device = Store::open_unencrypted(scratch.path().join("device.db")).unwrap();
    device.set_author("amina").unwrap();
    for i in 0..N {
        let sector = ["conte-joliot", "ozanam-albignac", "viguier-saint-jacques"][i % 3];
        device
            .create(
                Kind::Note,
                &fields(json!({"sector": sector, "text": format!("ronde {i}, hall propre")})),
            )
            .unwrap();
    }
    let batch = device.changes_since(0, usize::MAX, None).unwrap();
    let log = Store::open_unencrypted(dir.path().join("teams").join(format!("{team}.db"))).unwrap();
    log.apply("device", &batch).unwrap();
    assert_eq!(log.log_head().unwrap(), N as u64);
    drop((log, device));
    eprintln!("built a team log of {N} notes in {:.1?}", started.elapsed());

    let started = std::time::Instant::now();
    let report: MigrationReport = migrate(dir.path(), &db.url).unwrap();
    eprintln!("migrated {N} notes in {:.1?}", started.elapsed());
    assert!(report.verified);
    assert_eq!(report.changes, N as u64);
    assert_eq!(report.records, N as u64);
    assert_eq!(report.copied.records, N as u64);

    let pg: Arc<dyn Storage> = Arc::new(PostgresStorage::connect(&db.url, 2).unwrap());
    let found = pg
        .records(
            &team,
            &Query {
                text: Some("4242".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        found
            .items
            .iter()
            .any(|r| serde_json::to_value(r).unwrap()["text"] == "ronde 4242, hall propre")
    );
    let started = std::time::Instant::now();
    let again = migrate(dir.path(), &db.url).unwrap();
    eprintln!(
        "verified again (nothing to copy) in {:.1?}",
        started.elapsed()
    );
    assert_eq!(again.copied.changes, 0);
}

#[test]
fn photos_move_to_postgresql_and_erasures_follow_on_a_rerun() {
    use carnet_core::photo::PhotoHash;
    use carnet_server::storage::blobs::FilesBlobStore;
    use carnet_server::storage::{BlobState, BlobStore};

    let data = tempfile::tempdir().unwrap();
    let db = pg::TestDatabase::create();
    let (team_id, _) = team(data.path(), "Carcassonne");
    let files = FilesBlobStore::new(&data.path().join("blobs"));
    let put = |bytes: &[u8], complete: bool| {
        let hash = PhotoHash::of(bytes);
        files.append(&team_id, &hash, 0, bytes).unwrap();
        if complete {
            files.complete(&team_id, &hash, &|_| Ok(())).unwrap();
        }
        hash
    };
    // Larger than a row of photo_chunks.
    let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let (a, b) = (put(&big, true), put(b"a thumbnail", true));
    let partial = put(b"half an upload", false);

    let first = migrate(data.path(), &db.url).unwrap();
    assert_eq!((first.copied.photos, first.photos), (2, 2));
    assert_eq!(first.copied.photo_bytes, 600_011);
    let pg = PostgresStorage::connect(&db.url, 2).unwrap().blobs();
    assert_eq!(pg.read(&team_id, &a, 0, 1 << 20).unwrap().unwrap(), big);
    assert_eq!(
        pg.state(&team_id, &b).unwrap(),
        BlobState {
            received: 11,
            complete: true
        }
    );
    assert_eq!(pg.state(&team_id, &partial).unwrap().received, 0);

    // Erased in SQLite after the first run: gone from PostgreSQL too.
    files.delete(&team_id, &b).unwrap();
    let second = migrate(data.path(), &db.url).unwrap();
    assert_eq!(second.copied.photos, 0, "nothing copied twice");
    assert_eq!((second.copied.photos_deleted, second.photos), (1, 1));
    assert_eq!(pg.state(&team_id, &b).unwrap().received, 0);
    assert_eq!(pg.usage(&team_id).unwrap(), 600_000);
}
