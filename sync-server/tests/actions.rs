//! Supervisors acting on records from the dashboard, end to end on the real
//! server over loopback: a phone records and syncs, a supervisor signed in
//! with her account forwards a report, comments, closes another after the
//! on-site check, is refused a move the lifecycle forbids and a form
//! without its CSRF token (nothing changed), settles a conflict two phones
//! made offline; the phones receive each change at their next sync, named
//! by her account, and the access log lists each step.

mod common;

use carnet_core::model::Report;
use carnet_core::{Kind, Record, RecordId, ReportStatus};
use common::browser::*;
use common::*;
use serde_json::json;

const EMAIL: &str = "claire.martin@exemple.fr";

fn report(d: &Device, place: &str) -> RecordId {
    d.store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": place, "text": "Lampadaire éteint"})),
        )
        .unwrap()
}

fn report_on(d: &Device, id: RecordId) -> Report {
    match d.store.get(id).unwrap() {
        Record::Report(r) => r,
        other => panic!("not a report: {other:?}"),
    }
}

#[test]
fn a_supervisors_actions_reach_the_phones_with_her_name() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "Régie");
    account_in(data.path(), &team, "Claire Martin", EMAIL);
    let server = TestServer::start_with(
        carnet_server::Config {
            data_dir: data.path().to_path_buf(),
            insecure_cookies: true,
            ..carnet_server::Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let url = server.url();
    let awa = enroll(&server, &team, "mediator", "Awa");
    let bruno = enroll(&server, &team, "mediator", "Bruno");
    let lamp = report(&awa, "Bât. C");
    let lift = report(&awa, "Bât. A");
    let door = report(&awa, "Bât. B");
    for to in [ReportStatus::Forwarded, ReportStatus::Resolved] {
        let change = carnet_core::store::StatusChange {
            status: Some(to),
            to: Some("bailleur".into()),
            ..Default::default()
        };
        awa.store.change_status(lift, &change).unwrap();
    }
    awa.sync(&url).unwrap();
    bruno.sync(&url).unwrap();
    // Offline, both write the door's place.
    awa.store
        .set_field(door, "place", &json!("Bât. B, entrée 2"))
        .unwrap();
    bruno
        .store
        .set_field(door, "place", &json!("Bât. B, entrée 3"))
        .unwrap();
    awa.sync(&url).unwrap();
    bruno.sync(&url).unwrap();

    let b = Browser::new(&server);
    let session = b.session(EMAIL, PASSWORD);
    let page = |id: RecordId| {
        b.get(&format!("/dashboard/signalements/{id}"), &session)
            .text()
            .unwrap()
    };
    let csrf = field(&page(lamp), "csrf");
    let post = |path: String, form: &[(&str, &str)]| b.post(&path, &session, form);

    // Forward, with the body's reference.
    let r = post(
        format!("/dashboard/signalements/{lamp}/statut"),
        &[
            ("csrf", &csrf),
            ("status", "forwarded"),
            ("to", "bailleur"),
            ("reference", "BL-2026-0042"),
            ("comment", ""),
        ],
    );
    assert_eq!(r.status().as_u16(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        back,
        format!("/dashboard/signalements/{lamp}?fait=transmis")
    );
    let shown = b.get(&back, &session).text().unwrap();
    assert!(shown.contains("id=\"notice\"") && shown.contains("Signalement transmis"));

    // A move the lifecycle forbids is refused in French; nothing changes.
    let r = post(
        format!("/dashboard/signalements/{lamp}/statut"),
        &[("csrf", &csrf), ("status", "closed")],
    );
    assert_eq!(r.status().as_u16(), 422);
    let text = r.text().unwrap();
    assert!(text.contains("ne peut pas passer"), "{text}");
    // So is a form without its token.
    let r = post(
        format!("/dashboard/signalements/{lamp}/commentaire"),
        &[("csrf", "forged"), ("text", "jamais écrit")],
    );
    assert_eq!(r.status().as_u16(), 400);
    // A comment.
    let r = post(
        format!("/dashboard/signalements/{lamp}/commentaire"),
        &[("csrf", &csrf), ("text", "Relancé par téléphone le 7/12")],
    );
    assert_eq!(r.status().as_u16(), 303);
    // Closed after the on-site check.
    assert!(page(lift).contains("Clôturer (vérifié sur place)"));
    let r = post(
        format!("/dashboard/signalements/{lift}/statut"),
        &[
            ("csrf", &csrf),
            ("status", "closed"),
            ("comment", "Vu réparé"),
        ],
    );
    assert_eq!(r.status().as_u16(), 303);
    // The conflict: both values offered, the second chosen.
    let door_page = page(door);
    assert!(door_page.contains("class=\"conflit\""), "{door_page}");
    let values: Vec<&str> = ["Bât. B, entrée 2", "Bât. B, entrée 3"].to_vec();
    assert!(values.iter().all(|v| door_page.contains(v)));
    let chosen = door_page.find("entrée 3").unwrap() > door_page.find("entrée 2").unwrap();
    let r = post(
        format!("/dashboard/fiches/{door}/conflit"),
        &[
            ("csrf", &csrf),
            ("field", "place"),
            ("choix", if chosen { "1" } else { "0" }),
            ("valeur", ""),
        ],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert!(!page(door).contains("class=\"conflit\""));

    // The phones receive every change, named by her account.
    awa.sync(&url).unwrap();
    bruno.sync(&url).unwrap();
    for phone in [&awa, &bruno] {
        let lamp = report_on(phone, lamp);
        assert_eq!(lamp.status, ReportStatus::Forwarded);
        let ev = lamp.events.last().unwrap();
        assert_eq!(ev.by, "Claire Martin");
        assert_eq!(ev.reference.as_deref(), Some("BL-2026-0042"));
        assert_eq!(lamp.comments.len(), 1);
        assert_eq!(lamp.comments[0].by, "Claire Martin");
        let lift = report_on(phone, lift);
        assert_eq!(lift.status, ReportStatus::Closed);
        assert_eq!(lift.events.last().unwrap().by, "Claire Martin");
        let door_now = report_on(phone, door);
        assert_eq!(door_now.place, "Bât. B, entrée 3");
        assert!(phone.store.conflicts(door).unwrap().is_empty());
        let details = phone.store.details(door).unwrap();
        assert_eq!(details.history.last().unwrap().by, "Claire Martin");
    }

    // The access log lists each step, refusals included.
    let journal = b.get("/dashboard/journal", &session).text().unwrap();
    for step in [
        "signalement transmis",
        "commentaire sur le signalement",
        "signalement clôturé",
        "conflit tranché",
        "— refusé",
    ] {
        assert!(journal.contains(step), "{step} missing from the journal");
    }
    server.stop();
}

/// Every other move of the lifecycle from the dashboard — in progress,
/// rejected, reopened, duplicate of another report named by its SIG
/// reference — and a conflict settled with a value neither phone wrote;
/// a duplicate of an unknown reference is refused in French.
#[test]
fn every_status_move_and_a_new_value_from_the_dashboard() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "Régie");
    account_in(data.path(), &team, "Claire Martin", EMAIL);
    let server = TestServer::start_with(
        carnet_server::Config {
            data_dir: data.path().to_path_buf(),
            insecure_cookies: true,
            ..carnet_server::Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let url = server.url();
    let awa = enroll(&server, &team, "mediator", "Awa");
    let bruno = enroll(&server, &team, "mediator", "Bruno");
    let first = report(&awa, "Bât. D");
    let second = report(&awa, "Bât. D, même lampe");
    let third = report(&awa, "Parking");
    awa.sync(&url).unwrap();
    bruno.sync(&url).unwrap();
    awa.store.set_field(third, "urgent", &json!(true)).unwrap();
    bruno
        .store
        .set_field(third, "place", &json!("Parking nord"))
        .unwrap();
    awa.store
        .set_field(third, "place", &json!("Parking sud"))
        .unwrap();
    awa.sync(&url).unwrap();
    bruno.sync(&url).unwrap();

    let b = Browser::new(&server);
    let session = b.session(EMAIL, PASSWORD);
    let page = |id: RecordId| {
        b.get(&format!("/dashboard/signalements/{id}"), &session)
            .text()
            .unwrap()
    };
    let csrf = field(&page(first), "csrf");
    let status = |id: RecordId, form: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        b.post(
            &format!("/dashboard/signalements/{id}/statut"),
            &session,
            &all,
        )
    };

    let r = status(first, &[("status", "in_progress")]);
    assert_eq!(r.status().as_u16(), 303);
    let r = status(
        first,
        &[("status", "rejected"), ("comment", "Hors périmètre")],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert!(page(first).contains("Rouvrir"));
    let r = status(first, &[("status", "reported")]);
    assert_eq!(r.status().as_u16(), 303);

    // A duplicate by the reference the first report's page shows.
    let shown = page(first);
    let at = shown.find("SIG-").expect("the page shows its reference");
    let reference = shown[at..at + "SIG-0000-0000".len()].to_string();
    let r = status(
        second,
        &[("status", "duplicate"), ("duplicate_of", "SIG-0000-0000")],
    );
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().unwrap().contains("Aucun signalement"));
    let r = status(
        second,
        &[
            ("status", "duplicate"),
            ("duplicate_of", reference.as_str()),
        ],
    );
    assert_eq!(r.status().as_u16(), 303);

    // A value neither phone wrote settles the conflict.
    assert!(page(third).contains("class=\"conflit\""));
    let r = b.post(
        &format!("/dashboard/fiches/{third}/conflit"),
        &session,
        &[
            ("csrf", &csrf),
            ("field", "place"),
            ("valeur", "Parking, allée C"),
        ],
    );
    assert_eq!(r.status().as_u16(), 303);

    awa.sync(&url).unwrap();
    let first = report_on(&awa, first);
    let moves: Vec<(ReportStatus, &str)> = first
        .events
        .iter()
        .map(|e| (e.status, e.by.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (ReportStatus::InProgress, "Claire Martin"),
            (ReportStatus::Rejected, "Claire Martin"),
            (ReportStatus::Reported, "Claire Martin"),
        ]
    );
    assert_eq!(first.status, ReportStatus::Reported);
    let second = report_on(&awa, second);
    assert_eq!(second.status, ReportStatus::Duplicate);
    assert_eq!(
        second.events.last().unwrap().duplicate_of,
        Some(first.header.id)
    );
    let third_now = report_on(&awa, third);
    assert_eq!(third_now.place, "Parking, allée C");
    assert!(third_now.urgent, "the other phone's edit stays");
    assert!(awa.store.conflicts(third).unwrap().is_empty());
    server.stop();
}
