//! One storage conformance suite, run against the embedded SQLite storage
//! and against PostgreSQL: the same calls, the same answers. Devices are
//! core stores whose change logs are pushed straight into the storage, as
//! the sync routes do.

use carnet_reliability::pg;

use std::sync::Arc;

use carnet_core::store::{Batch, Entry, GroupBy, Payload, Query, StatusChange};
use carnet_core::{Kind, RecordId, ReportStatus, Store, TeamConfig};
use carnet_server::storage::StorageError;
use carnet_server::{PostgresStorage, Role, SqliteStorage, Storage};
use serde_json::{Map, Value, json};

/// A storage under test, with what must outlive it.
struct Backend {
    storage: Arc<dyn Storage>,
    _dir: Option<tempfile::TempDir>,
    db: Option<pg::TestDatabase>,
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            storage: Arc::new(SqliteStorage::open(dir.path()).unwrap()),
            _dir: Some(dir),
            db: None,
        }
    }

    fn postgres() -> Backend {
        let db = pg::TestDatabase::create();
        Backend {
            storage: Arc::new(PostgresStorage::connect(&db.url, 4).unwrap()),
            _dir: None,
            db: Some(db),
        }
    }

    /// Another instance on the same database (PostgreSQL), or the same
    /// storage (SQLite: one process owns its files).
    fn instance(&self) -> Arc<dyn Storage> {
        match &self.db {
            Some(db) => Arc::new(PostgresStorage::connect(&db.url, 4).unwrap()),
            None => self.storage.clone(),
        }
    }
}

/// Runs a test against both storages.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::Backend::sqlite());
            }
            #[test]
            fn postgres() {
                super::$name(&super::Backend::postgres());
            }
        }
    )*};
}

both!(
    enrollment_codes_and_devices,
    pushes_pull_back_in_order_without_the_pushers_own,
    pulls_page_by_size,
    erasure_leaves_a_tombstone_and_refuses_stale_changes,
    pushes_keep_to_their_rules,
    positions_follow_commit_order_under_concurrent_pushes,
    lineages_change_only_when_renewed,
    photo_erasures_travel_and_stale_photos_stay_out,
    accounts_invitations_and_second_factors,
    supervisors_act_through_the_core_and_its_rules,
);

/// Supervisors' accounts: e-mails normalised and unique, invitations by
/// hash, once, the newest only, expiring; TOTP steps used once; disabling
/// scoped to the team; the team's TOTP requirement; accounts' actors named;
/// teams with supervisor devices but no account listed.
fn accounts_invitations_and_second_factors(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let other = self::team(s);
    let sup = s
        .issue_code(&team, Role::Supervisor, None, 60_000)
        .unwrap()
        .code;
    s.redeem_code(&sup, "tablette", None).unwrap();
    assert_eq!(s.teams_without_accounts().unwrap(), vec![team.clone()]);

    let a = s
        .create_account(&team, " Awa Diallo ", "  Awa@Exemple.FR ")
        .unwrap();
    assert_eq!(
        (a.name.as_str(), a.email.as_str()),
        ("Awa Diallo", "awa@exemple.fr")
    );
    assert_eq!(a.actor.len(), 32);
    assert!(a.password_hash.is_none() && a.totp_secret.is_none() && a.disabled_at.is_none());
    assert!(s.teams_without_accounts().unwrap().is_empty());
    assert!(matches!(
        s.create_account(&other, "Autre", "AWA@exemple.fr"),
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        s.create_account(&team, "X", "pas une adresse"),
        Err(StorageError::BadRequest(_))
    ));
    assert!(matches!(
        s.create_account(&uuid(), "X", "x@exemple.fr"),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(
        s.account_by_email(" AWA@exemple.fr").unwrap().unwrap().id,
        a.id
    );
    assert_eq!(s.account(&a.id).unwrap().unwrap(), a);
    assert!(s.account_by_email("nobody@exemple.fr").unwrap().is_none());
    let names = s.actor_names(&team).unwrap();
    assert_eq!(names.get(&a.actor).map(String::as_str), Some("Awa Diallo"));

    // Invitations: the newest works once; an expired one never.
    let first = s.issue_invitation(&a.id, 60_000).unwrap();
    let second = s.issue_invitation(&a.id, 60_000).unwrap();
    assert_eq!(second.code.len(), 64);
    assert!(s.invitation(&first.code).unwrap().is_none());
    assert_eq!(s.invitation(&second.code).unwrap().unwrap().id, a.id);
    assert!(matches!(
        s.accept_invitation(&first.code, "$argon2id$x", None),
        Err(StorageError::InvalidCode)
    ));
    let accepted = s
        .accept_invitation(&second.code, "$argon2id$first", Some("JBSWY3DPEHPK3PXP"))
        .unwrap();
    assert_eq!(accepted.password_hash.as_deref(), Some("$argon2id$first"));
    assert_eq!(accepted.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
    assert!(s.invitation(&second.code).unwrap().is_none());
    let expired = s.issue_invitation(&a.id, -1).unwrap();
    assert!(s.invitation(&expired.code).unwrap().is_none());

    // TOTP steps: each accepted once, never an older one.
    assert!(s.use_totp_step(&a.id, 100).unwrap());
    assert!(!s.use_totp_step(&a.id, 100).unwrap());
    assert!(!s.use_totp_step(&a.id, 99).unwrap());
    assert!(s.use_totp_step(&a.id, 101).unwrap());
    s.set_totp(&a.id, None).unwrap();
    assert!(s.account(&a.id).unwrap().unwrap().totp_last_step.is_none());
    s.set_password(&a.id, "$argon2id$second").unwrap();
    assert_eq!(
        s.account(&a.id).unwrap().unwrap().password_hash.as_deref(),
        Some("$argon2id$second")
    );

    // A reset invitation removes the second factor it does not set again.
    s.set_totp(&a.id, Some("JBSWY3DPEHPK3PXP")).unwrap();
    let reset = s.issue_invitation(&a.id, 60_000).unwrap();
    let after = s
        .accept_invitation(&reset.code, "$argon2id$third", None)
        .unwrap();
    assert!(after.totp_secret.is_none());

    // The team's requirement.
    assert!(!s.require_totp(&team).unwrap());
    s.set_require_totp(&team, true).unwrap();
    assert!(s.require_totp(&team).unwrap() && !s.require_totp(&other).unwrap());
    assert!(matches!(
        s.require_totp(&uuid()),
        Err(StorageError::NotFound(_))
    ));

    // Disabling: only within the team; a disabled account's invitation
    // opens nothing; listing keeps it.
    let b2 = s
        .create_account(&team, "Bruno", "bruno@exemple.fr")
        .unwrap();
    let pending = s.issue_invitation(&b2.id, 60_000).unwrap();
    assert!(s.disable_account(&other, &b2.id).unwrap().is_none());
    assert!(s.invitation(&pending.code).unwrap().is_some());
    let disabled = s.disable_account(&team, &b2.id).unwrap().unwrap();
    assert!(disabled.disabled_at.is_some());
    assert!(s.invitation(&pending.code).unwrap().is_none());
    let listed: Vec<String> = s
        .accounts(&team)
        .unwrap()
        .into_iter()
        .map(|a| a.email)
        .collect();
    assert_eq!(listed, ["awa@exemple.fr", "bruno@exemple.fr"]);
    assert!(s.accounts(&other).unwrap().is_empty());
    // Another instance sees the same.
    assert_eq!(b.instance().account(&b2.id).unwrap().unwrap(), disabled);
}

fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A small camera-like JPEG, larger than a thumbnail.
fn photo_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(480, 360, |x, y| {
        image::Rgb([(x / 2) as u8, (y / 2) as u8, ((x * y) % 251) as u8])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    out
}

/// Photo references and erasures go through either storage as through a
/// device's store: the push reports the erased blobs (for the blob store),
/// the log relays the erasure, and a stale device's change naming the
/// erased photo again is refused and leaves it out of the record.
fn photo_erasures_travel_and_stale_photos_stay_out(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let mut samia = Device::enroll(s, &team, "Samia");
    let mut yanis = Device::enroll(s, &team, "Yanis");
    let mut karim = Device::enroll(s, &team, "Karim");
    let note = samia.note("Tag dans le hall");
    samia.push(s, &team).unwrap();
    karim.pull(s, &team);
    let photo = samia.store.attach_photo(note, &photo_jpeg()).unwrap();
    samia.push(s, &team).unwrap();
    yanis.pull(s, &team);
    let shown = |s: &dyn Storage| -> Vec<carnet_core::photo::PhotoHash> {
        let carnet_core::Record::Note(n) = s.record(&team, note).unwrap().record else {
            panic!("a note")
        };
        n.photos.iter().map(|p| p.hash).collect()
    };
    assert_eq!(shown(s), [photo.hash]);
    assert_eq!(yanis.store.photos(note).unwrap().len(), 1);

    samia.store.remove_photo(note, photo.hash).unwrap();
    let batch = samia
        .store
        .changes_since(samia.pushed, usize::MAX, None)
        .unwrap();
    let report = s
        .push(&team, &samia.id, Some(&samia.actor), &batch)
        .unwrap();
    samia.pushed = batch.upto;
    assert_eq!(report.erased_photos, [(photo.hash, photo.thumb)]);
    assert!(shown(s).is_empty());
    let log = s.pull(&team, "nobody", 0, usize::MAX).unwrap();
    assert!(log.entries.iter().any(|e| e.record_id == note
        && e.payload
            == Payload::PhotoErased {
                hash: photo.hash,
                thumb: photo.thumb
            }));
    yanis.pull(s, &team);
    assert!(yanis.store.photos(note).unwrap().is_empty());

    // Karim, offline since before the photo, attaches the same file.
    assert_eq!(
        karim.store.attach_photo(note, &photo_jpeg()).unwrap().hash,
        photo.hash
    );
    let batch = karim.store.changes_since(0, usize::MAX, None).unwrap();
    let report = s
        .push(&team, &karim.id, Some(&karim.actor), &batch)
        .unwrap();
    assert_eq!((report.applied, report.refused), (0, 1));
    assert!(shown(s).is_empty(), "the erased photo is not shown again");
    karim.pushed = batch.upto;
    karim.pull(s, &team);
    yanis.pull(s, &team);
    for d in [&karim, &yanis] {
        assert!(d.store.photos(note).unwrap().is_empty());
    }
    assert!(karim.store.photo_uploads().unwrap().is_empty());
}

fn lineages_change_only_when_renewed(b: &Backend) {
    let s = &*b.storage;
    let (a, other) = (team(s), team(s));
    let first = s.lineage(&a).unwrap();
    assert_ne!(first, s.lineage(&other).unwrap());
    let mut d = Device::enroll(s, &a, "Samia");
    d.note("Hall propre");
    d.push(s, &a).unwrap();
    assert_eq!(s.lineage(&a).unwrap(), first);
    assert_eq!(s.renew_lineages().unwrap(), 2);
    assert_ne!(s.lineage(&a).unwrap(), first);
    assert!(matches!(
        s.lineage("00000000-0000-0000-0000-000000000000"),
        Err(StorageError::NotFound(_))
    ));
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn team(s: &dyn Storage) -> String {
    let mut config = TeamConfig::carcassonne();
    config.name = "Régie".into();
    s.create_team("Régie", &config).unwrap()
}

/// A device: its store, enrolled in the storage with its actor bound.
struct Device {
    store: Store,
    id: String,
    actor: String,
    pushed: u64,
    pulled: u64,
    _dir: tempfile::TempDir,
}

impl Device {
    fn enroll(s: &dyn Storage, team: &str, name: &str) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_unencrypted(dir.path().join("d.db")).unwrap();
        store.set_config(&TeamConfig::carcassonne()).unwrap();
        store.set_author(name).unwrap();
        let code = s
            .issue_code(team, Role::Mediator, None, 60_000)
            .unwrap()
            .code;
        let actor = store.peer_id();
        let enrolled = s.redeem_code(&code, name, Some(&actor)).unwrap();
        Device {
            store,
            id: enrolled.device_id,
            actor,
            pushed: 0,
            pulled: 0,
            _dir: dir,
        }
    }

    fn note(&self, text: &str) -> RecordId {
        self.store
            .create(
                Kind::Note,
                &fields(json!({"sector": "conte-joliot", "text": text, "axes": ["tranquillite"], "residents_met": 2})),
            )
            .unwrap()
    }

    /// Pushes everything new in its log, as the push route does.
    fn push(&mut self, s: &dyn Storage, team: &str) -> carnet_server::storage::Result<()> {
        let batch = self
            .store
            .changes_since(
                self.pushed,
                usize::MAX,
                Some(carnet_core::sync::protocol::SERVER_ORIGIN),
            )
            .unwrap();
        s.push(team, &self.id, Some(&self.actor), &batch)?;
        self.pushed = batch.upto;
        Ok(())
    }

    /// Pulls and applies the team's log until it has it all.
    fn pull(&mut self, s: &dyn Storage, team: &str) {
        loop {
            let page = s.pull(team, &self.id, self.pulled, 64 * 1024).unwrap();
            self.store
                .apply(carnet_core::sync::protocol::SERVER_ORIGIN, &page)
                .unwrap();
            self.pulled = page.upto;
            if !page.more {
                return;
            }
        }
    }

    fn texts(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .store
            .list(&Query {
                limit: Some(1000),
                ..Default::default()
            })
            .unwrap()
            .items
            .iter()
            .map(|r| {
                serde_json::to_value(r).unwrap()["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        t.sort();
        t
    }
}

fn enrollment_codes_and_devices(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let code = s
        .issue_code(&team, Role::Mediator, Some("tablette 3"), 60_000)
        .unwrap();
    assert_eq!(code.code.len(), 19);
    let actor = "ab".repeat(16);
    let a = s
        .redeem_code(&code.code.to_lowercase(), "", Some(&actor))
        .unwrap();
    assert_eq!(a.team_id, team);
    assert_eq!(a.role, Role::Mediator);
    assert_eq!(a.config.name, "Régie");
    // A retry after a lost answer gets the same token; another store cannot.
    let again = s.redeem_code(&code.code, "", Some(&actor)).unwrap();
    assert_eq!(again.token, a.token);
    let device = s.authenticate(&a.token).unwrap().unwrap();
    assert_eq!(device.name, "tablette 3");
    assert_eq!(device.actor.as_deref(), Some(actor.as_str()));
    assert!(s.authenticate("00").unwrap().is_none());
    // One store, one device.
    let other = s
        .issue_code(&team, Role::Mediator, None, 60_000)
        .unwrap()
        .code;
    assert!(matches!(
        s.redeem_code(&other, "x", Some(&actor)),
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        s.redeem_code("AAAA-BBBB-CCCC-DDDD", "x", None),
        Err(StorageError::InvalidCode)
    ));
    let m = s
        .issue_code(&team, Role::Mediator, None, 60_000)
        .unwrap()
        .code;
    let m_dev = s.redeem_code(&m, "phone", None).unwrap();
    s.bind_actor(&m_dev.device_id, &"cd".repeat(16)).unwrap();
    s.bind_actor(&m_dev.device_id, &"CD".repeat(16)).unwrap();
    assert!(matches!(
        s.bind_actor(&m_dev.device_id, &"ef".repeat(16)),
        Err(StorageError::Conflict(_))
    ));
    let names = s.actor_names(&team).unwrap();
    assert_eq!(names.get(&actor).map(String::as_str), Some("tablette 3"));

    // Rotation: the old token stops working at once.
    let new_token = s.rotate_token(&a.device_id).unwrap();
    assert!(s.authenticate(&a.token).unwrap().is_none());
    assert_eq!(s.authenticate(&new_token).unwrap().unwrap().id, a.device_id);
    s.touch(&a.device_id).unwrap();
    assert!(
        s.authenticate(&new_token)
            .unwrap()
            .unwrap()
            .last_seen
            .is_some()
    );

    // Revocation, wipe orders, and nothing across teams.
    let elsewhere = self::team(s);
    assert_eq!(s.revoke(&elsewhere, &a.device_id).unwrap(), None);
    assert_eq!(s.order_wipe(&elsewhere, &a.device_id).unwrap(), None);
    let wiped = s.order_wipe(&team, &m_dev.device_id).unwrap().unwrap();
    assert!(wiped.wipe_ordered_at.is_some());
    let revoked = s.revoke(&team, &a.device_id).unwrap().unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("supervisor"));
    assert!(matches!(
        s.rotate_token(&a.device_id),
        Err(StorageError::Unauthorized)
    ));
    let devices = s.devices(&team).unwrap();
    assert_eq!(devices.len(), 2);
    assert!(s.devices(&elsewhere).unwrap().is_empty());
    // Every device in good standing was seen just now or enrolled just now.
    assert!(s.revoke_inactive(3_600_000).unwrap().is_empty());
    assert!(matches!(
        s.issue_code(
            "00000000-0000-0000-0000-000000000000",
            Role::Mediator,
            None,
            1
        ),
        Err(StorageError::NotFound(_))
    ));
}

fn pushes_pull_back_in_order_without_the_pushers_own(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let mut samia = Device::enroll(s, &team, "Samia");
    let mut yanis = Device::enroll(s, &team, "Yanis");
    assert_eq!(s.log_head(&team).unwrap(), 0);
    let first = samia.note("Hall propre");
    samia.note("Lampe cassée");
    samia.push(s, &team).unwrap();
    let head = s.log_head(&team).unwrap();
    assert_eq!(head, 2);
    // Her own changes do not come back to her; the position moves past them.
    let own = s.pull(&team, &samia.id, 0, usize::MAX).unwrap();
    assert!(own.entries.is_empty());
    assert_eq!(own.upto, head);
    yanis.pull(s, &team);
    assert_eq!(yanis.texts(), ["Hall propre", "Lampe cassée"]);
    // An edit from Yanis reaches Samia; a second push of the same is a no-op.
    yanis
        .store
        .set_field(first, "text", &json!("Hall propre, lampe à changer"))
        .unwrap();
    yanis.push(s, &team).unwrap();
    let again = yanis
        .store
        .changes_since(
            0,
            usize::MAX,
            Some(carnet_core::sync::protocol::SERVER_ORIGIN),
        )
        .unwrap();
    let report = s
        .push(&team, &yanis.id, Some(&yanis.actor), &again)
        .unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(s.log_head(&team).unwrap(), 3);
    samia.pull(s, &team);
    assert_eq!(
        samia.texts(),
        ["Hall propre, lampe à changer", "Lampe cassée"]
    );
    let details = s.record(&team, first).unwrap();
    assert_eq!(details.history.len(), 2);
    assert!(matches!(
        s.pull("00000000-0000-0000-0000-000000000000", &samia.id, 0, 1),
        Err(StorageError::NotFound(_))
    ));
}

fn pulls_page_by_size(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let mut samia = Device::enroll(s, &team, "Samia");
    let reader = Device::enroll(s, &team, "Lecteur");
    for i in 0..30 {
        samia.note(&format!("Note {i}"));
    }
    samia.push(s, &team).unwrap();
    let mut after = 0;
    let mut pages = 0;
    let mut entries = 0;
    loop {
        let page = s.pull(&team, &reader.id, after, 1).unwrap();
        assert_eq!(
            page.entries.len(),
            1,
            "at least one entry, and no more past the size"
        );
        entries += page.entries.len();
        pages += 1;
        after = page.upto;
        if !page.more {
            break;
        }
    }
    assert_eq!((pages, entries), (30, 30));
    assert_eq!(after, s.log_head(&team).unwrap());
}

fn contact(d: &Device, name: &str) -> RecordId {
    d.store
        .create(
            Kind::Contact,
            &fields(json!({"sector": "conte-joliot", "name": name, "consents": ["telephone", "orientation"], "phone": "0601020304"})),
        )
        .unwrap()
}

/// A supervisor's change (`Storage::act`): made on the stored document
/// with the account's actor, judged like a push, logged at the next
/// position and pulled by every device with the account's name; a move the
/// lifecycle forbids, an unknown record or erasing a report is the core's
/// refusal with nothing changed; a contact is erased as from a phone.
fn supervisors_act_through_the_core_and_its_rules(b: &Backend) {
    use carnet_core::edit::Action;
    let s = &*b.storage;
    let team = team(s);
    assert!(s.team_ids().unwrap().contains(&team));
    let mut samia = Device::enroll(s, &team, "Samia");
    let report = samia
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. C", "text": "Lampadaire éteint"})),
        )
        .unwrap();
    let c = contact(&samia, "Mme Durand");
    samia.push(s, &team).unwrap();
    let claire = s
        .create_account(&team, "Claire Martin", "claire@exemple.fr")
        .unwrap();
    let origin = format!("account:{}", claire.id);
    let head = s.log_head(&team).unwrap();

    let forward = Action::Status(StatusChange {
        status: Some(ReportStatus::Forwarded),
        to: Some("bailleur".into()),
        reference: Some("BL-42".into()),
        ..Default::default()
    });
    let done = s
        .act(
            &team,
            &origin,
            &claire.actor,
            "Claire Martin",
            report,
            &forward,
        )
        .unwrap();
    assert_eq!(done.applied, 1);
    assert_eq!(s.log_head(&team).unwrap(), head + 1);
    let details = s.record(&team, report).unwrap();
    let carnet_core::Record::Report(r) = &details.record else {
        panic!("a report")
    };
    assert_eq!(r.status, ReportStatus::Forwarded);
    let ev = r.events.last().unwrap();
    assert_eq!(
        (ev.by.as_str(), ev.reference.as_deref()),
        ("Claire Martin", Some("BL-42"))
    );
    assert_eq!(details.history.last().unwrap().actor, claire.actor);
    assert_eq!(
        s.actor_names(&team)
            .unwrap()
            .get(&claire.actor)
            .map(String::as_str),
        Some("Claire Martin")
    );

    // Refusals change nothing.
    let close = Action::Status(StatusChange {
        status: Some(ReportStatus::Closed),
        ..Default::default()
    });
    assert!(matches!(
        s.act(
            &team,
            &origin,
            &claire.actor,
            "Claire Martin",
            report,
            &close
        ),
        Err(StorageError::Core(
            carnet_core::Error::InvalidTransition { .. }
        ))
    ));
    assert!(matches!(
        s.act(
            &team,
            &origin,
            &claire.actor,
            "Claire Martin",
            RecordId::new(),
            &close
        ),
        Err(StorageError::Core(carnet_core::Error::NotFound(_)))
    ));
    assert!(matches!(
        s.act(
            &team,
            &origin,
            &claire.actor,
            "Claire Martin",
            report,
            &Action::Erase
        ),
        Err(StorageError::Core(_))
    ));
    assert_eq!(s.log_head(&team).unwrap(), head + 1);

    // The phone pulls the move, named by the account; then the erasure.
    samia.pull(s, &team);
    let carnet_core::Record::Report(r) = samia.store.get(report).unwrap() else {
        panic!("a report")
    };
    assert_eq!(r.status, ReportStatus::Forwarded);
    assert_eq!(r.events.last().unwrap().by, "Claire Martin");
    s.act(
        &team,
        &origin,
        &claire.actor,
        "Claire Martin",
        c,
        &Action::Erase,
    )
    .unwrap();
    assert!(matches!(
        s.record(&team, c),
        Err(StorageError::Core(carnet_core::Error::Erased(_)))
    ));
    samia.pull(s, &team);
    assert!(samia.store.get(c).is_err());
}

fn erasure_leaves_a_tombstone_and_refuses_stale_changes(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let mut samia = Device::enroll(s, &team, "Samia");
    let mut yanis = Device::enroll(s, &team, "Yanis");
    let c = contact(&samia, "Mme Durand");
    samia.push(s, &team).unwrap();
    yanis.pull(s, &team);
    // Yanis edits offline while Samia erases.
    yanis
        .store
        .set_field(c, "phone", &json!("0611111111"))
        .unwrap();
    samia.store.erase(c).unwrap();
    samia.push(s, &team).unwrap();
    let report = {
        let batch = yanis
            .store
            .changes_since(
                0,
                usize::MAX,
                Some(carnet_core::sync::protocol::SERVER_ORIGIN),
            )
            .unwrap();
        s.push(&team, &yanis.id, Some(&yanis.actor), &batch)
            .unwrap()
    };
    assert_eq!((report.applied, report.refused), (0, 1));
    assert!(matches!(
        s.record(&team, c),
        Err(StorageError::Core(carnet_core::Error::Erased(_)))
    ));
    let reads = s.team_reads(&team).unwrap();
    assert!(reads.get(c).is_err());
    // The log holds the erasure and nothing of the contact.
    let log = s.pull(&team, "nobody", 0, usize::MAX).unwrap();
    let of_c: Vec<&Entry> = log.entries.iter().filter(|e| e.record_id == c).collect();
    assert_eq!(of_c.len(), 1);
    assert_eq!(of_c[0].payload, Payload::Erased);
    yanis.pull(s, &team);
    assert!(yanis.store.get(c).is_err());
}

fn pushes_keep_to_their_rules(b: &Backend) {
    let s = &*b.storage;
    let team = team(s);
    let mut samia = Device::enroll(s, &team, "Samia");
    let yanis = Device::enroll(s, &team, "Yanis");
    let note = samia.note("Hall propre");
    samia.push(s, &team).unwrap();
    let head = s.log_head(&team).unwrap();
    // Erasing a note: refused whole.
    let erase_note = Batch {
        entries: vec![Entry {
            record_id: note,
            payload: Payload::Erased,
        }],
        upto: 1,
        more: false,
    };
    assert!(matches!(
        s.push(&team, &yanis.id, Some(&yanis.actor), &erase_note),
        Err(StorageError::Core(carnet_core::Error::Refused {
            erasures: 1,
            ..
        }))
    ));
    // Samia's changes pushed by Yanis: refused whole.
    samia.note("Encore");
    let hers = samia
        .store
        .changes_since(
            samia.pushed,
            usize::MAX,
            Some(carnet_core::sync::protocol::SERVER_ORIGIN),
        )
        .unwrap();
    assert!(matches!(
        s.push(&team, &yanis.id, Some(&yanis.actor), &hers),
        Err(StorageError::Core(carnet_core::Error::Refused { .. }))
    ));
    // Garbage: refused, nothing written.
    let garbage = Batch {
        entries: vec![Entry {
            record_id: RecordId::new(),
            payload: Payload::Change(vec![1, 2, 3]),
        }],
        upto: 1,
        more: false,
    };
    assert!(
        s.push(&team, &yanis.id, Some(&yanis.actor), &garbage)
            .is_err()
    );
    assert_eq!(s.log_head(&team).unwrap(), head);
    // A report's lifecycle holds on the server too: a status change the app
    // refuses cannot be forged.
    let report = samia
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. B", "text": "Lampe"})),
        )
        .unwrap();
    samia
        .store
        .change_status(
            report,
            &StatusChange {
                status: Some(ReportStatus::Forwarded),
                to: Some("ville-eclairage".into()),
                ..Default::default()
            },
        )
        .unwrap();
    samia.push(s, &team).unwrap();
    let rows = s.team_reads(&team).unwrap().open_rows().unwrap();
    assert_eq!(rows.len(), 1);
}

/// Counts one finished pusher when dropped.
struct Finished<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Several pushers and pullers on one team, through two instances when the
/// storage allows it: every puller, pulling from its cursor while pushes
/// commit, ends with every change (a position is never assigned to a change
/// that commits after a later one).
fn positions_follow_commit_order_under_concurrent_pushes(b: &Backend) {
    let team = team(&*b.storage);
    let instances = [b.storage.clone(), b.instance()];
    const PUSHERS: usize = 4;
    const NOTES: usize = 25;
    let mut pushers: Vec<Device> = (0..PUSHERS)
        .map(|i| Device::enroll(&*b.storage, &team, &format!("pousse {i}")))
        .collect();
    let mut pullers: Vec<Device> = (0..2)
        .map(|i| Device::enroll(&*b.storage, &team, &format!("tire {i}")))
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for (i, d) in pushers.iter_mut().enumerate() {
            let s = instances[i % 2].clone();
            let team = &team;
            let done = &done;
            scope.spawn(move || {
                // Counted when the pusher ends, even by a panic: the
                // pullers stop and the test fails instead of hanging.
                let _done = Finished(done);
                for n in 0..NOTES {
                    d.note(&format!("{} {n}", i));
                    d.push(&*s, team).unwrap();
                }
            });
        }
        for (i, d) in pullers.iter_mut().enumerate() {
            let s = instances[i % 2].clone();
            let team = &team;
            let done = &done;
            scope.spawn(move || {
                // Pull while pushes commit, then once more after the last.
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::SeqCst) == PUSHERS;
                    d.pull(&*s, team);
                    if finished {
                        break;
                    }
                }
            });
        }
    });
    let expected: usize = PUSHERS * NOTES;
    assert_eq!(b.storage.log_head(&team).unwrap(), expected as u64);
    for d in &pullers {
        assert_eq!(d.texts().len(), expected, "a puller missed changes");
    }
    let log = b.storage.pull(&team, "nobody", 0, usize::MAX).unwrap();
    assert_eq!(log.entries.len(), expected);
}

/// The same records pushed to both storages answer every read alike:
/// lists with each filter, French full-text search (accents and case
/// folded, the last word a prefix), counts, the dashboard's aggregates and
/// a record's details.
#[test]
fn both_storages_answer_reads_alike() {
    let backends = [Backend::sqlite(), Backend::postgres()];
    let teams: Vec<String> = backends.iter().map(|b| team(&*b.storage)).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_unencrypted(dir.path().join("d.db")).unwrap();
    store.set_config(&TeamConfig::carcassonne()).unwrap();
    store.set_author("Samia").unwrap();
    let day = 86_400_000i64;
    let t0 = 1_767_225_600_000i64; // 2026-01-01
    let mut ids = Vec::new();
    for (i, (text, sector, axes)) in [
        (
            "Lampe cassée rue Jean Moulin",
            "conte-joliot",
            json!(["cadre-de-vie"]),
        ),
        (
            "Tag sur le mur de l'école",
            "ozanam-albignac",
            json!(["tranquillite"]),
        ),
        (
            "Encombrants devant le local poubelles",
            "conte-joliot",
            json!(["cadre-de-vie", "tranquillite"]),
        ),
        (
            "Discussion avec des jeunes au city stade",
            "viguier-saint-jacques",
            json!(["jeunesse"]),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(
            store
                .create(
                    Kind::Note,
                    &fields(json!({"sector": sector, "text": text, "axes": axes,
                                   "observed_at": t0 + i as i64 * day, "residents_met": i})),
                )
                .unwrap(),
        );
    }
    let report = store
        .create(
            Kind::Report,
            &fields(
                json!({"sector": "ozanam-albignac", "category": "lighting", "place": "Bât. B",
                           "text": "Éclairage du hall en panne"}),
            ),
        )
        .unwrap();
    for (status, to) in [
        (ReportStatus::Forwarded, Some("ville-eclairage")),
        (ReportStatus::Resolved, None),
    ] {
        store
            .change_status(
                report,
                &StatusChange {
                    status: Some(status),
                    to: to.map(str::to_string),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let open = store
        .create(
            Kind::Report,
            &fields(
                json!({"sector": "conte-joliot", "category": "graffiti", "place": "Parking",
                           "text": "Tags sur la porte du parking"}),
            ),
        )
        .unwrap();
    let resident = store
        .create(
            Kind::Contact,
            &fields(
                json!({"sector": "ozanam-albignac", "name": "Mme Durand", "consents": ["telephone", "orientation"], "phone": "0601020304"}),
            ),
        )
        .unwrap();
    store
        .add_interaction(resident, "Orientée vers le CCAS", Some("ccas"))
        .unwrap();
    store
        .set_field(ids[0], "contacts", &json!([resident.to_string()]))
        .unwrap();
    let batch = store
        .changes_since(
            0,
            usize::MAX,
            Some(carnet_core::sync::protocol::SERVER_ORIGIN),
        )
        .unwrap();
    for (b, team) in backends.iter().zip(&teams) {
        let s = &*b.storage;
        let code = s
            .issue_code(team, Role::Mediator, None, 60_000)
            .unwrap()
            .code;
        let device = s
            .redeem_code(&code, "Samia", Some(&store.peer_id()))
            .unwrap();
        s.push(team, &device.device_id, Some(&store.peer_id()), &batch)
            .unwrap();
    }
    let q = |f: Value| -> Query { serde_json::from_value(f).unwrap() };
    let queries = [
        q(json!({})),
        q(json!({"kind": "note"})),
        q(json!({"kind": "report", "open_only": true})),
        q(json!({"sector": "conte-joliot"})),
        q(json!({"axis": "tranquillite"})),
        q(json!({"axis": "cadre-de-vie", "oldest_first": true})),
        q(json!({"since": t0 + day, "until": t0 + 3 * day})),
        q(json!({"text": "lampe"})),
        q(json!({"text": "LAMPE cassee"})),
        q(json!({"text": "ecole"})),
        q(json!({"text": "poubelle"})),
        q(json!({"text": "eclairage", "kind": "report"})),
        q(json!({"text": "mur éco"})),
        q(json!({"text": "parking", "sector": "conte-joliot"})),
        q(json!({"text": "introuvable"})),
        q(json!({"kind": "contact", "text": "durand"})),
        q(json!({"limit": 2})),
        q(json!({"limit": 2, "offset": 2})),
    ];
    let reads: Vec<_> = backends
        .iter()
        .zip(&teams)
        .map(|(b, t)| b.storage.team_reads(t).unwrap())
        .collect();
    for query in &queries {
        let pages: Vec<_> = reads.iter().map(|r| r.list(query).unwrap()).collect();
        assert_eq!(pages[0], pages[1], "{query:?}");
        for by in [
            GroupBy::Sector,
            GroupBy::Axis,
            GroupBy::Kind,
            GroupBy::Status,
            GroupBy::Category,
        ] {
            let counts: Vec<_> = reads.iter().map(|r| r.count(query, by).unwrap()).collect();
            assert_eq!(counts[0], counts[1], "{query:?} by {by:?}");
        }
    }
    // The searches found what they should (not only the same on both).
    let found = |text: &str| {
        reads[1]
            .list(&q(json!({"text": text})))
            .unwrap()
            .items
            .len()
    };
    assert_eq!(found("lampe"), 1);
    assert_eq!(found("LAMPE cassee"), 1);
    assert_eq!(found("ecole"), 1);
    assert_eq!(found("poubelle"), 1);
    assert_eq!(found("introuvable"), 0);
    let (since, until) = (t0 - day, t0 + 30 * day);
    let now = carnet_core::now_ms();
    for r in &reads {
        assert_eq!(r.open_rows().unwrap().len(), 1);
        assert_eq!(r.open_rows().unwrap()[0].id, open);
    }
    assert_eq!(
        reads[0].fixes(0, now + day).unwrap(),
        reads[1].fixes(0, now + day).unwrap()
    );
    assert_eq!(reads[1].fixes(0, now + day).unwrap().len(), 1);
    assert_eq!(
        reads[0].forwarded_count(0, now + day).unwrap(),
        reads[1].forwarded_count(0, now + day).unwrap()
    );
    assert_eq!(
        reads[0].residents_met_on_notes(since, until).unwrap(),
        reads[1].residents_met_on_notes(since, until).unwrap()
    );
    assert_eq!(reads[1].residents_met_on_notes(since, until).unwrap(), 6);
    assert_eq!(
        reads[0].referrals_by_partner(0, now + day).unwrap(),
        reads[1].referrals_by_partner(0, now + day).unwrap()
    );
    assert_eq!(
        reads[1].referrals_by_partner(0, now + day).unwrap().len(),
        1
    );
    assert_eq!(
        reads[0].axes_by_kind(since, until).unwrap(),
        reads[1].axes_by_kind(since, until).unwrap()
    );
    assert_eq!(
        reads[0].activity_rows(since, until).unwrap(),
        reads[1].activity_rows(since, until).unwrap()
    );
    for id in [ids[0], report, resident] {
        assert_eq!(reads[0].get(id).unwrap(), reads[1].get(id).unwrap());
        let details: Vec<_> = reads.iter().map(|r| r.details(id).unwrap()).collect();
        assert_eq!(details[0], details[1]);
    }
    assert_eq!(reads[0].log_head().unwrap(), reads[1].log_head().unwrap());
}

/// Both storages say the same of a photo's blobs: referenced (with its
/// size and variant) while a record names it, erased once removed, unknown
/// otherwise.
fn blob_statuses(
    s: &dyn Storage,
    status: &dyn Fn(&str, &carnet_core::photo::PhotoHash) -> carnet_core::photo::BlobStatus,
) {
    use carnet_core::photo::{BlobStatus, PhotoHash, Variant};
    let team = team(s);
    let mut samia = Device::enroll(s, &team, "Samia");
    let note = samia.note("Boîte aux lettres arrachée");
    let photo = samia.store.attach_photo(note, &photo_jpeg()).unwrap();
    samia.push(s, &team).unwrap();
    assert_eq!(
        status(&team, &photo.hash),
        BlobStatus::Referenced {
            size: photo.size,
            variant: Variant::Full
        }
    );
    assert_eq!(
        status(&team, &photo.thumb),
        BlobStatus::Referenced {
            size: photo.thumb_size,
            variant: Variant::Thumb
        }
    );
    assert_eq!(status(&team, &PhotoHash::of(b"x")), BlobStatus::Unknown);
    let other = self::team(s);
    assert_eq!(
        status(&other, &photo.hash),
        BlobStatus::Unknown,
        "another team's"
    );
    samia.store.remove_photo(note, photo.hash).unwrap();
    samia.push(s, &team).unwrap();
    assert_eq!(status(&team, &photo.hash), BlobStatus::Erased);
    assert_eq!(status(&team, &photo.thumb), BlobStatus::Erased);
}

#[test]
fn blob_statuses_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    blob_statuses(&s, &|team, blob| s.photo_blob_status(team, blob).unwrap());
}

#[test]
fn blob_statuses_on_postgres() {
    let db = pg::TestDatabase::create();
    let s = PostgresStorage::connect(&db.url, 4).unwrap();
    blob_statuses(&s, &|team, blob| s.photo_blob_status(team, blob).unwrap());
}
