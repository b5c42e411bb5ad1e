//! The retention sweep on a real server's state, over SQLite and over
//! PostgreSQL: a device syncs contacts of several ages, then
//! `sweep_retention` runs at a time of the test's choosing. The contact
//! past its retention is erased (on the server, in the access log, and on
//! the device at its next sync), the one due within the notice period is
//! only listed, the one a supervisor extended is kept, and a second run
//! erases nothing more.

mod common;

use carnet_core::edit::Action;
use carnet_core::store::Query;
use carnet_core::{Kind, RecordId};
use carnet_reliability::pg;
use carnet_server::{AppState, Config, RetentionSwept, Role};
use common::*;
use serde_json::json;

const DAY: i64 = 86_400_000;
/// About a month, for placing activity in time (the rule counts calendar
/// months; the test keeps a margin of days around each boundary).
const MONTH: i64 = 30 * DAY;

fn contact_ids(state: &AppState, team: &str) -> Vec<RecordId> {
    let page = state
        .storage
        .records(
            team,
            &Query {
                kind: Some(Kind::Contact),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .unwrap();
    page.items.iter().map(|r| r.header().id).collect()
}

fn sweeps_contacts_past_their_retention(postgres: bool) {
    let data = tempfile::tempdir().unwrap();
    let db = postgres.then(pg::TestDatabase::create);
    let state = AppState::open(Config {
        data_dir: data.path().to_path_buf(),
        database: db.as_ref().map(|db| db.url.clone()),
        database_pool: 4,
        ..Config::default()
    })
    .unwrap();
    let server = TestServer::with_state(state.clone(), data.path());
    let team = carnet_server::init_team_in(&*state.storage, "Carcassonne")
        .unwrap()
        .0;
    let code =
        carnet_server::issue_code_in(&*state.storage, &team, Role::Mediator, Some("Awa")).unwrap();
    let phone = enroll_with_code(&server, &code, "Awa");

    let t0 = carnet_core::now_ms();
    let create = |v: serde_json::Value| phone.store.create(Kind::Contact, &fields(v)).unwrap();
    // Last activity at creation: 25 months before the sweep.
    let old = create(json!({"name": "Éloïse Dupré"}));
    // A consent recorded 1.5 months later: 23.5 months before the sweep.
    let recent = create(json!({"name": "Karim B.", "consents": {"suivi": t0 + 45 * DAY}}));
    // As old as the first, but a supervisor keeps it longer.
    let kept = create(json!({"name": "Li Na"}));
    phone.sync(&server.url()).unwrap();
    state
        .storage
        .act(
            &team,
            "account:test",
            "0123456789abcdef0123456789abcdef",
            "Claire",
            kept,
            &Action::KeepUntil {
                until: t0 + 30 * MONTH,
            },
        )
        .unwrap();

    // Every contact was made at t0 (within the test's run): 24 calendar
    // months later is at most 731 days; 25 "months" of 30 days is 750.
    let now = t0 + 25 * MONTH;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let swept = rt
        .block_on(carnet_server::sweep_retention(&state, now))
        .unwrap();
    assert_eq!(
        swept,
        RetentionSwept {
            teams: 1,
            erased: 1,
            listed: 1
        }
    );
    let left = contact_ids(&state, &team);
    assert!(
        !left.contains(&old),
        "the contact past its retention is erased"
    );
    assert!(left.contains(&recent) && left.contains(&kept), "{left:?}");

    // The access log names the erasure by the contact's id, never its name.
    let entries = state.access_log.recent(&team, 50).unwrap();
    let erasures: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "effacement automatique (durée de conservation échue)")
        .collect();
    assert_eq!(erasures.len(), 1, "{entries:?}");
    assert_eq!(erasures[0].record_ids, [old]);
    assert!(entries.iter().all(|e| !e.action.contains("Dupré")));

    // The phone drops it at its next sync, as for a supervisor's erasure.
    phone.sync(&server.url()).unwrap();
    assert!(phone.store.get(old).is_err());
    assert!(phone.store.get(recent).is_ok());

    // A second run finds nothing more to erase.
    let again = rt
        .block_on(carnet_server::sweep_retention(&state, now))
        .unwrap();
    assert_eq!(again.erased, 0);
    assert_eq!(again.listed, 1);
    assert_eq!(contact_ids(&state, &team).len(), 2);
    server.stop();
}

#[test]
fn sweeps_contacts_past_their_retention_on_sqlite() {
    sweeps_contacts_past_their_retention(false);
}

#[test]
fn sweeps_contacts_past_their_retention_on_postgres() {
    sweeps_contacts_past_their_retention(true);
}
