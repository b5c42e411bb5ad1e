//! The surface from Rust: every input record is accepted by the core as it
//! converts, errors map to the exceptions the apps catch, and a bad key is
//! refused before it reaches SQLCipher. The Kotlin and Swift suites
//! (scripts/test-kotlin, scripts/test-swift) test the same surface end to end.

use std::collections::HashMap;
use std::sync::Arc;

use carnet_ffi::*;

fn store(dir: &tempfile::TempDir) -> Arc<CarnetStore> {
    CarnetStore::open(
        dir.path().join("carnet.db").to_string_lossy().into_owned(),
        vec![7; 32],
    )
    .unwrap()
}

#[test]
fn every_kind_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let contact = s
        .create_contact(NewContact {
            name: "Mme Exemple".into(),
            consents: HashMap::from([("contact".to_string(), 1_764_000_000_000)]),
            ..Default::default()
        })
        .unwrap();
    let note = s
        .create_note(NewNote {
            sector: "conte-joliot".into(),
            text: "x".into(),
            contacts: vec![contact.clone()],
            ..Default::default()
        })
        .unwrap();
    let report = s
        .create_report(NewReport {
            sector: "conte-joliot".into(),
            category: "lift".into(),
            place: "Bât. C".into(),
            text: "y".into(),
            ..Default::default()
        })
        .unwrap();
    let activity = s
        .create_activity(NewActivity {
            activity_type: "shift".into(),
            sector: "conte-joliot".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(
        matches!(s.get(note).unwrap(), Record::Note { note } if note.contacts[0].state == ContactState::Present)
    );
    assert!(
        matches!(s.get(report).unwrap(), Record::Report { report } if report.status == ReportStatus::Reported)
    );
    assert!(
        matches!(s.get(contact).unwrap(), Record::Contact { contact } if contact.consents.len() == 1)
    );
    assert!(
        matches!(s.get(activity).unwrap(), Record::Activity { activity } if activity.started_at.is_some())
    );
    assert_eq!(
        s.list(Query {
            kind: Some(Kind::Note),
            ..Default::default()
        })
        .unwrap()
        .items
        .len(),
        1
    );
}

#[test]
fn errors_are_typed_and_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let err = s
        .create_note(NewNote {
            sector: "atlantis".into(),
            text: "x".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "sector"),
        "{err:?}"
    );
    let err = s.get("nope".into()).unwrap_err();
    assert!(
        matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "id"),
        "{err:?}"
    );
    let err = CarnetStore::open(
        dir.path().join("k.db").to_string_lossy().into_owned(),
        vec![1; 16],
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "key"),
        "{err:?}"
    );
    drop(s);
    let err = CarnetStore::open(
        dir.path().join("carnet.db").to_string_lossy().into_owned(),
        vec![8; 32],
    )
    .err()
    .unwrap();
    assert!(matches!(err, CarnetError::WrongKey), "{err:?}");
}

#[test]
fn transitions_and_allowed_next() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = s
        .create_report(NewReport {
            sector: "conte-joliot".into(),
            category: "lift".into(),
            place: "p".into(),
            text: "t".into(),
            ..Default::default()
        })
        .unwrap();
    let err = s
        .change_status(
            id,
            StatusChange {
                status: ReportStatus::Closed,
                to: None,
                reference: None,
                comment: None,
                duplicate_of: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CarnetError::InvalidTransition {
                from: ReportStatus::Reported,
                to: ReportStatus::Closed,
                ref allowed,
            } if *allowed == allowed_next(ReportStatus::Reported)
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "a report cannot go from reported to closed; allowed: forwarded, in_progress"
        ),
        "{err}"
    );
    assert_eq!(
        allowed_next(ReportStatus::Closed),
        vec![ReportStatus::Reported]
    );
}

#[test]
fn core_errors_map_to_the_public_ones() {
    use carnet_core::Error as E;
    assert!(matches!(
        CarnetError::from(E::Unauthorized),
        CarnetError::NotEnrolled
    ));
    assert!(matches!(CarnetError::from(E::Wiped), CarnetError::Wiped));
    assert!(matches!(
        CarnetError::from(E::Cancelled),
        CarnetError::Cancelled
    ));
    assert!(matches!(
        CarnetError::from(E::Server {
            status: 503,
            detail: "busy".into()
        }),
        CarnetError::Network { .. }
    ));
    assert!(matches!(
        CarnetError::from(E::NewerSchema {
            found: 9,
            supported: 1
        }),
        CarnetError::Storage { .. }
    ));
}

#[test]
fn the_enrollment_is_not_a_setting_and_a_wipe_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    assert_eq!(s.enrollment().unwrap(), None);
    for key in [
        "server",
        "token",
        "device_id",
        "team_id",
        "role",
        "sync.pull_cursor",
    ] {
        let err = s.set_setting(key.into(), Some("x".into())).unwrap_err();
        assert!(
            matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "key"),
            "{key}: {err:?}"
        );
    }
    s.set_setting("theme".into(), Some("dark".into())).unwrap();
    assert!(matches!(s.rotate_token(), Err(CarnetError::NotEnrolled)));
    // Enrolling with an address that is not one changes nothing.
    assert!(matches!(
        s.enroll("ftp://nowhere".into(), "CODE".into(), "Téléphone".into()),
        Err(CarnetError::InvalidInput { .. })
    ));
    assert_eq!(s.enrollment().unwrap(), None);
    s.wipe().unwrap();
    assert_eq!(s.setting("theme".into()).unwrap(), None);
}

#[test]
fn statuses_and_kinds_have_the_cores_french_labels() {
    assert_eq!(status_label(ReportStatus::InProgress), "En cours");
    assert_eq!(status_label(ReportStatus::Closed), "Clos (vérifié)");
    assert_eq!(kind_label(Kind::Report), "Signalement");
}
