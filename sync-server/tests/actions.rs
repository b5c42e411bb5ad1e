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
