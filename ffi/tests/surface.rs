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
            consents: HashMap::from([("telephone".to_string(), 1_764_000_000_000)]),
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

// ---- photos

/// A `w`×`h` JPEG, as a camera would hand it over.
fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&img)
        .unwrap();
    bytes
}

/// Width and height of JPEG bytes.
fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).unwrap();
    (img.width(), img.height())
}

fn new_report(s: &CarnetStore) -> String {
    s.create_report(NewReport {
        sector: "conte-joliot".into(),
        category: "graffiti".into(),
        place: "Bât. C".into(),
        text: "Tags".into(),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn photos_are_attached_listed_read_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_report(&s);
    let first = s.attach_photo(id.clone(), jpeg(2000, 1000)).unwrap();
    assert_eq!((first.width, first.height), (1600, 800));
    assert_eq!(first.hash.len(), 64);
    let file = dir.path().join("camera.jpg");
    std::fs::write(&file, jpeg(300, 400)).unwrap();
    let second = s
        .attach_photo_file(id.clone(), file.to_string_lossy().into_owned())
        .unwrap();
    assert_eq!((second.width, second.height), (300, 400));

    let listed = s.photos(id.clone()).unwrap();
    assert_eq!(
        listed.iter().map(|p| &p.photo).collect::<Vec<_>>(),
        vec![&first, &second]
    );
    assert!(
        listed
            .iter()
            .all(|p| p.has_full && p.has_thumbnail && !p.uploaded)
    );
    let Record::Report { report } = s.get(id.clone()).unwrap() else {
        panic!("not a report")
    };
    assert_eq!(report.photos, vec![first.clone(), second.clone()]);

    let full = s.photo_full(first.hash.clone()).unwrap();
    assert_eq!(full.len() as u64, first.size);
    assert_eq!(dimensions(&full), (1600, 800));
    let thumb = s.photo_thumbnail(first.hash.clone()).unwrap();
    assert_eq!(thumb.len() as u64, first.thumb_size);
    assert_eq!(dimensions(&thumb), (320, 160));

    s.remove_photo(id.clone(), first.hash.clone()).unwrap();
    assert_eq!(s.photos(id.clone()).unwrap().len(), 1);
    for err in [
        s.photo_full(first.hash.clone()).unwrap_err(),
        s.photo_thumbnail(first.hash.clone()).unwrap_err(),
        s.remove_photo(id.clone(), first.hash.clone()).unwrap_err(),
        s.attach_photo(id.clone(), jpeg(2000, 1000)).unwrap_err(),
    ] {
        assert!(
            matches!(err, CarnetError::PhotoErased { ref hash } if *hash == first.hash),
            "{err:?}"
        );
    }
}

#[test]
fn photo_refusals_are_typed_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_report(&s);
    let contact = s
        .create_contact(NewContact {
            name: "Mme Exemple".into(),
            ..Default::default()
        })
        .unwrap();
    let err = s.attach_photo(contact.clone(), jpeg(100, 100)).unwrap_err();
    assert!(
        matches!(
            err,
            CarnetError::PhotosNotAllowed {
                kind: Kind::Contact
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "photos go on reports and notes, not on a contact"
    );
    let err = s
        .attach_photo(id.clone(), b"GIF89a not a photo".to_vec())
        .unwrap_err();
    assert!(matches!(err, CarnetError::NotAnImage { .. }), "{err:?}");
    let err = s
        .attach_photo_file(
            id.clone(),
            dir.path().join("absent.jpg").to_string_lossy().into_owned(),
        )
        .unwrap_err();
    assert!(
        matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "path"),
        "{err:?}"
    );
    let err = s.photo_full("zz".into()).unwrap_err();
    assert!(
        matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "photo"),
        "{err:?}"
    );
    let unknown = "ab".repeat(32);
    let err = s.photo_thumbnail(unknown.clone()).unwrap_err();
    assert!(
        matches!(err, CarnetError::PhotoNotFound { ref hash } if *hash == unknown),
        "{err:?}"
    );

    // The team's limits, from its configuration.
    let mut config = s.config().unwrap();
    config.photos.max_per_record = 1;
    config.photos.max_input_bytes = 50_000;
    s.set_config(config).unwrap();
    let big = jpeg(1500, 1500);
    assert!(big.len() > 50_000);
    let err = s.attach_photo(id.clone(), big.clone()).unwrap_err();
    assert!(
        matches!(err, CarnetError::PhotoTooLarge { bytes, limit: 50_000 } if bytes == big.len() as u64),
        "{err:?}"
    );
    s.attach_photo(id.clone(), jpeg(200, 200)).unwrap();
    let err = s.attach_photo(id.clone(), jpeg(201, 200)).unwrap_err();
    assert!(
        matches!(err, CarnetError::TooManyPhotos { limit: 1 }),
        "{err:?}"
    );
    assert_eq!(s.photos(id).unwrap().len(), 1);
    assert!(s.photos(contact).unwrap().is_empty());
}

#[test]
fn the_team_sets_photo_sizes_through_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let defaults = s.config().unwrap().photos;
    assert_eq!(
        (
            defaults.max_side,
            defaults.thumb_side,
            defaults.download_full
        ),
        (1600, 320, false)
    );
    let mut config = s.config().unwrap();
    config.photos = PhotoSettings {
        max_side: 1024,
        thumb_side: 128,
        download_full: true,
        ..defaults
    };
    s.set_config(config.clone()).unwrap();
    assert_eq!(s.config().unwrap(), config);
    let id = new_report(&s);
    let photo = s.attach_photo(id, jpeg(2048, 1024)).unwrap();
    assert_eq!((photo.width, photo.height), (1024, 512));
    let thumb = s.photo_thumbnail(photo.hash).unwrap();
    assert_eq!(dimensions(&thumb), (128, 64));
}

#[test]
fn photo_errors_and_sync_counts_map_to_the_public_ones() {
    use carnet_core::Error as E;
    use carnet_core::photo::PhotoHash;
    let h = PhotoHash::of(b"x");
    assert!(matches!(
        CarnetError::from(E::PhotoNotDownloaded(h)),
        CarnetError::PhotoNotDownloaded { hash } if hash == h.to_hex()
    ));
    assert!(matches!(
        CarnetError::from(E::PendingPhotosFull {
            pending: 5,
            limit: 4
        }),
        CarnetError::PendingPhotosFull {
            pending: 5,
            limit: 4
        }
    ));
    // A damaged download is fetched again: retry later, like the network.
    assert!(matches!(
        CarnetError::from(E::PhotoCorrupt(h)),
        CarnetError::Network { .. }
    ));

    let progress = carnet_core::sync::Progress::of(
        carnet_core::sync::Phase::Photos,
        &carnet_core::sync::SyncSummary::default(),
    )
    .with_photos((1, 3, 100, 900));
    let state = SyncState::from(&progress);
    assert_eq!(state.phase, SyncPhase::Photos);
    assert_eq!(
        (
            state.photos_done,
            state.photos_total,
            state.photo_bytes_done,
            state.photo_bytes_total
        ),
        (1, 3, 100, 900)
    );
    let summary = SyncSummary::from(carnet_core::sync::SyncSummary {
        photos_sent: 2,
        thumbnails_received: 3,
        photo_bytes_sent: 10,
        photos_left: 1,
        photo_problem: Some("quota".into()),
        ..Default::default()
    });
    assert_eq!(
        (
            summary.photos_sent,
            summary.thumbnails_received,
            summary.photo_bytes_sent,
            summary.photos_left,
            summary.photo_problem.as_deref()
        ),
        (2, 3, 10, 1, Some("quota"))
    );
}

/// Collects the phases a sync reports.
#[derive(Default)]
struct Phases(std::sync::Mutex<Vec<SyncState>>);

impl SyncProgress for Phases {
    fn on_progress(&self, state: SyncState) {
        self.0.lock().unwrap().push(state);
    }
}

/// Needs the server's photo routes (`/v1/photos/…`).
#[test]
fn a_photo_reaches_another_device_and_its_removal_erases_it_there() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (team, _) = carnet_server::init_team(&data, "Équipe photo").unwrap();
    let server = carnet_server::RunningServer::start(carnet_server::Config {
        data_dir: data.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let device = |name: &str| {
        let s = CarnetStore::open(
            dir.path()
                .join(format!("{name}.db"))
                .to_string_lossy()
                .into_owned(),
            vec![3; 32],
        )
        .unwrap();
        let code = carnet_server::issue_code(&data, &team, carnet_core::Role::Mediator, Some(name))
            .unwrap();
        let e = s.enroll(server.url(), code, name.into()).unwrap();
        (s, e.token)
    };
    let (amina, amina_token) = device("amina");
    let (karim, karim_token) = device("karim");
    let sync = |s: &CarnetStore, token: &str| {
        let phases = Arc::new(Phases::default());
        let summary = s
            .sync(server.url(), token.into(), phases.clone(), None)
            .unwrap();
        let states = phases.0.lock().unwrap().clone();
        (summary, states)
    };

    let id = new_report(&amina);
    let photo = amina.attach_photo(id.clone(), jpeg(1200, 900)).unwrap();
    let (sent, states) = sync(&amina, &amina_token);
    assert_eq!(sent.photos_sent, 1, "{sent:?}");
    assert_eq!(sent.photo_bytes_sent, photo.size + photo.thumb_size);
    let last_photos = states
        .iter()
        .rfind(|s| s.phase == SyncPhase::Photos)
        .expect("a Photos phase");
    assert_eq!(
        (last_photos.photos_done, last_photos.photos_total),
        (1, 1),
        "{states:?}"
    );
    assert_eq!(last_photos.photo_bytes_done, last_photos.photo_bytes_total);
    assert_eq!(states.last().unwrap().phase, SyncPhase::Done);
    assert!(amina.photos(id.clone()).unwrap()[0].uploaded);

    // Thumbnails come with the sync, the full photo when asked for.
    let (got, _) = sync(&karim, &karim_token);
    assert_eq!(
        (got.thumbnails_received, got.photos_received),
        (1, 0),
        "{got:?}"
    );
    let info = &karim.photos(id.clone()).unwrap()[0];
    assert!(
        info.has_thumbnail && !info.has_full && info.uploaded,
        "{info:?}"
    );
    assert_eq!(
        karim.photo_thumbnail(photo.hash.clone()).unwrap(),
        amina.photo_thumbnail(photo.hash.clone()).unwrap()
    );
    assert!(matches!(
        karim.photo_full(photo.hash.clone()),
        Err(CarnetError::PhotoNotDownloaded { .. })
    ));
    let fetched = karim
        .fetch_photo(
            server.url(),
            karim_token.clone(),
            id.clone(),
            photo.hash.clone(),
            Arc::new(Phases::default()),
            None,
        )
        .unwrap();
    assert_eq!(fetched.photos_received, 1, "{fetched:?}");
    assert_eq!(fetched.photo_bytes_received, photo.size);
    assert_eq!(
        karim.photo_full(photo.hash.clone()).unwrap(),
        amina.photo_full(photo.hash.clone()).unwrap()
    );

    // Removed on one device, erased on the other at its next sync.
    amina.remove_photo(id.clone(), photo.hash.clone()).unwrap();
    sync(&amina, &amina_token);
    sync(&karim, &karim_token);
    assert!(karim.photos(id.clone()).unwrap().is_empty());
    let Record::Report { report } = karim.get(id).unwrap() else {
        panic!("not a report")
    };
    assert!(report.photos.is_empty());
    assert!(matches!(
        karim.photo_thumbnail(photo.hash.clone()),
        Err(CarnetError::PhotoErased { .. })
    ));
}

#[test]
fn consents_and_comments_through_the_surface() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let contact = s
        .create_contact(NewContact {
            name: "Mme Exemple".into(),
            phone: Some("06 00 00 00 00".into()),
            consents: HashMap::from([("telephone".to_string(), 1_764_000_000_000)]),
            ..Default::default()
        })
        .unwrap();
    // A referral needs `orientation`.
    let err = s
        .add_interaction(contact.clone(), "Dossier".into(), Some("CAF".into()))
        .unwrap_err();
    assert!(matches!(err, CarnetError::InvalidInput { ref field, .. } if field == "referral"));
    s.give_consent(contact.clone(), Purpose::Orientation)
        .unwrap();
    s.add_interaction(contact.clone(), "Dossier".into(), Some("CAF".into()))
        .unwrap();
    s.withdraw_consent(contact.clone(), Purpose::Telephone)
        .unwrap();
    let Record::Contact { contact: c } = s.get(contact).unwrap() else {
        panic!("not a contact")
    };
    assert_eq!(c.phone, None);
    let tel = c
        .consents
        .iter()
        .find(|x| x.purpose == "telephone")
        .unwrap();
    assert!(tel.withdrawn_at.is_some());
    assert_eq!(purpose_label(Purpose::Telephone), "contact par téléphone");

    let report = s
        .create_report(NewReport {
            sector: "conte-joliot".into(),
            category: "lift".into(),
            place: "Bât. C".into(),
            text: "y".into(),
            ..Default::default()
        })
        .unwrap();
    s.add_comment(report.clone(), "Bailleur relancé".into())
        .unwrap();
    let Record::Report { report: r } = s.get(report).unwrap() else {
        panic!("not a report")
    };
    assert_eq!(r.comments.len(), 1);
    assert_eq!(r.comments[0].text, "Bailleur relancé");
}
