//! Residents' rights and supervisors' actions through the core: a change
//! made for a supervisor on the server's log (`act_in` by a foreign actor)
//! is judged like a push; conflicts settled by writing the winning value;
//! report comments; consents and the rules that depend on them; retention;
//! names redacted from free text.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
use carnet_core::consent::Purpose;
use carnet_core::edit::Action;
use carnet_core::model::{Contact, Record};
use carnet_core::retention::{NOTICE_DAYS, Retention, due_at, retention};
use carnet_core::store::{Batch, Entry, Payload, StatusChange};
use carnet_core::{Error, Kind, RecordId, ReportStatus, Store, TeamConfig};
use serde_json::{Map, Value, json};

/// The actor the server binds to a supervisor's account.
const SUPERVISOR: &str = "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c";
const DAY: i64 = 86_400_000;

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn store(dir: &tempfile::TempDir, name: &str) -> Store {
    let s = Store::open_unencrypted(dir.path().join(format!("{name}.db"))).unwrap();
    s.set_author(name).unwrap();
    s
}

fn relay(from: &Store, to: &Store) {
    let batch = from.changes_since(0, 1 << 24, Some(&to.peer_id())).unwrap();
    to.apply(&from.peer_id(), &batch).unwrap();
}

fn report(s: &Store) -> RecordId {
    s.create(
        Kind::Report,
        &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. B", "text": "Lampe"})),
    )
    .unwrap()
}

fn contact(s: &Store, v: Value) -> RecordId {
    s.create(Kind::Contact, &fields(v)).unwrap()
}

fn get_contact(s: &Store, id: RecordId) -> Contact {
    match s.get(id).unwrap() {
        Record::Contact(c) => c,
        other => panic!("not a contact: {other:?}"),
    }
}

/// The record's changes as `store` holds them, loaded with automerge.
fn raw_doc(store: &Store, id: RecordId, actor: &str) -> Automerge {
    let mut bytes = Vec::new();
    for e in store.changes_since(0, 1 << 24, None).unwrap().entries {
        if let (true, Payload::Change(b)) = (e.record_id == id, e.payload) {
            bytes.extend_from_slice(&b);
        }
    }
    Automerge::load(&bytes)
        .unwrap()
        .with_actor(ActorId::from(hex::decode(actor).unwrap().as_slice()))
}

/// A change a tampered app could push: made with automerge directly.
fn forge(
    store: &Store,
    id: RecordId,
    actor: &str,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Batch {
    let mut doc = raw_doc(store, id, actor);
    let mut tx = doc.transaction();
    edit(&mut tx);
    tx.commit_with(CommitOptions::default().with_message(r#"{"by":"x","op":"set"}"#));
    let bytes = doc.get_last_local_change().unwrap().bytes().into_owned();
    Batch {
        entries: vec![Entry {
            record_id: id,
            payload: Payload::Change(bytes),
        }],
        upto: 1,
        more: false,
    }
}

#[test]
fn a_supervisors_change_is_made_by_their_actor_and_judged_like_a_push() {
    let dir = tempfile::tempdir().unwrap();
    let (a, server) = (store(&dir, "a"), store(&dir, "server"));
    let r = report(&a);
    relay(&a, &server);
    let out = server
        .act_as(
            "dashboard",
            SUPERVISOR,
            "Mme Garcia",
            r,
            &Action::Comment {
                text: " Relancé le bailleur ".into(),
            },
        )
        .unwrap();
    assert_eq!((out.applied, out.records.clone()), (1, vec![r]));
    let details = server.details(r).unwrap();
    let last = details.history.last().unwrap();
    assert_eq!(
        (last.by.as_str(), last.actor.as_str(), last.op.as_str()),
        ("Mme Garcia", SUPERVISOR, "comment")
    );
    let Record::Report(rep) = details.record else {
        panic!("not a report")
    };
    assert_eq!(rep.comments.len(), 1);
    assert_eq!(rep.comments[0].text, "Relancé le bailleur");
    assert_eq!(rep.comments[0].by, "Mme Garcia");
    assert_eq!(rep.comments[0].actor.as_deref(), Some(SUPERVISOR));
    // The phone gets it with its next pull.
    relay(&server, &a);
    let Record::Report(seen) = a.get(r).unwrap() else {
        panic!("not a report")
    };
    assert_eq!(seen.comments[0].by, "Mme Garcia");

    // A status move the lifecycle does not allow: refused, nothing logged.
    let head = server.log_head().unwrap();
    let closed = StatusChange {
        status: Some(ReportStatus::Closed),
        ..Default::default()
    };
    let err = server
        .act_as(
            "dashboard",
            SUPERVISOR,
            "Mme Garcia",
            r,
            &Action::Status(closed),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidTransition { .. }), "{err}");
    // An allowed one is an event by the supervisor.
    let resolved = StatusChange {
        status: Some(ReportStatus::Resolved),
        ..Default::default()
    };
    server
        .act_as(
            "dashboard",
            SUPERVISOR,
            "Mme Garcia",
            r,
            &Action::Status(resolved),
        )
        .unwrap();
    let Record::Report(rep) = server.get(r).unwrap() else {
        panic!("not a report")
    };
    assert_eq!(rep.status, ReportStatus::Resolved);
    assert_eq!(server.log_head().unwrap(), head + 1);

    // Erasing a report is refused like a pushed erasure; a contact goes.
    let err = server
        .act_as("dashboard", SUPERVISOR, "Mme Garcia", r, &Action::Erase)
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    let c = contact(&a, json!({"name": "Awa"}));
    relay(&a, &server);
    let out = server
        .act_as("dashboard", SUPERVISOR, "Mme Garcia", c, &Action::Erase)
        .unwrap();
    assert_eq!(out.erased, 1);
    let again = server.act_as(
        "dashboard",
        SUPERVISOR,
        "Mme Garcia",
        c,
        &Action::Comment { text: "x".into() },
    );
    assert!(matches!(again, Err(Error::Erased(id)) if id == c));
    let missing = RecordId::new();
    let none = server.act_as("dashboard", SUPERVISOR, "x", missing, &Action::Erase);
    assert!(matches!(none, Err(Error::NotFound(id)) if id == missing));
}

#[test]
fn writing_the_winning_value_settles_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, server) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "server"));
    let r = report(&a);
    relay(&a, &b);
    a.set_field(r, "place", &json!("Bât. A")).unwrap();
    b.set_field(r, "place", &json!("Bât. C")).unwrap();
    relay(&a, &server);
    relay(&b, &server);
    let conflicts = server.conflicts(r).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let winner = conflicts[0].values[0].clone();
    let out = server
        .act_as(
            "dashboard",
            SUPERVISOR,
            "Mme Garcia",
            r,
            &Action::SetField {
                field: "place".into(),
                value: winner.clone(),
            },
        )
        .unwrap();
    assert_eq!(out.applied, 1, "the same value must still be written");
    assert!(server.conflicts(r).unwrap().is_empty());
    let Record::Report(rep) = server.get(r).unwrap() else {
        panic!("not a report")
    };
    assert_eq!(json!(rep.place), winner);
    // On a phone too.
    relay(&server, &a);
    assert!(a.conflicts(r).unwrap().is_empty());
}

#[test]
fn comments_are_made_at_the_first_and_concurrent_first_comments_all_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store(&dir, "a"), store(&dir, "b"));
    let r = report(&a);
    // What an older version reads: no comments key until the first one.
    assert!(
        raw_doc(&a, r, "00")
            .get(ROOT, "comments")
            .unwrap()
            .is_none()
    );
    relay(&a, &b);
    a.act(
        r,
        &Action::Comment {
            text: "Vu sur place".into(),
        },
    )
    .unwrap();
    b.act(
        r,
        &Action::Comment {
            text: "Appelé la mairie".into(),
        },
    )
    .unwrap();
    relay(&a, &b);
    relay(&b, &a);
    for s in [&a, &b] {
        let Record::Report(rep) = s.get(r).unwrap() else {
            panic!("not a report")
        };
        let mut texts: Vec<&str> = rep.comments.iter().map(|c| c.text.as_str()).collect();
        texts.sort();
        assert_eq!(texts, ["Appelé la mairie", "Vu sur place"]);
    }
    a.act(
        r,
        &Action::Comment {
            text: "Réparé".into(),
        },
    )
    .unwrap();
    let Record::Report(rep) = a.get(r).unwrap() else {
        panic!("not a report")
    };
    assert_eq!(rep.comments.len(), 3);
    for bad in ["   ", &"x".repeat(2001)] {
        let err = a.act(r, &Action::Comment { text: bad.into() }).unwrap_err();
        assert!(
            matches!(err, Error::Invalid { ref field, .. } if field == "text"),
            "{err}"
        );
    }
    // Only reports take comments.
    let c = contact(&a, json!({"name": "Awa"}));
    assert!(a.act(c, &Action::Comment { text: "x".into() }).is_err());
}

#[test]
fn a_forged_comment_edit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, server) = (store(&dir, "a"), store(&dir, "server"));
    let r = report(&a);
    a.act(r, &Action::Comment { text: "Vu".into() }).unwrap();
    relay(&a, &server);
    let batch = forge(&a, r, &a.peer_id(), |tx| {
        let (_, list) = tx.get(ROOT, "comments").unwrap().unwrap();
        let (_, item) = tx.get(&list, 0).unwrap().unwrap();
        tx.put(&item, "text", "Autre chose").unwrap();
    });
    let err = server
        .apply_pushed("a", Some(&a.peer_id()), &batch)
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
}

#[test]
fn consents_given_withdrawn_and_the_rules_that_depend_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    // A phone needs the consent to be called.
    let err = s
        .create(
            Kind::Contact,
            &fields(json!({"name": "Awa", "phone": "06 12 34 56 78"})),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid { ref field, .. } if field == "phone"),
        "{err}"
    );
    let c = contact(
        &s,
        json!({"name": "Awa", "phone": "06 12 34 56 78", "consents": ["telephone", "suivi"]}),
    );
    let got = get_contact(&s, c);
    assert!(got.has_consent(Purpose::Telephone) && got.has_consent(Purpose::Suivi));
    assert!(!got.has_consent(Purpose::Orientation));
    assert!(got.consents.iter().all(|x| x.given_by == "a"));
    // No referral without `orientation`.
    let err = s
        .add_interaction(c, "Dossier CAF", Some("CAF"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid { ref field, .. } if field == "referral"),
        "{err}"
    );
    s.add_interaction(c, "Passée à la permanence", None)
        .unwrap();
    s.act(
        c,
        &Action::GiveConsent {
            purpose: Purpose::Orientation,
        },
    )
    .unwrap();
    s.add_interaction(c, "Dossier CAF", Some("CAF")).unwrap();
    // Withdrawing `telephone` clears the phone in the same change.
    let head = s.log_head().unwrap();
    s.act(
        c,
        &Action::WithdrawConsent {
            purpose: Purpose::Telephone,
        },
    )
    .unwrap();
    assert_eq!(s.log_head().unwrap(), head + 1);
    let got = get_contact(&s, c);
    assert_eq!(got.phone, None);
    assert!(!got.has_consent(Purpose::Telephone));
    let tel = got
        .consents
        .iter()
        .find(|x| x.purpose == "telephone")
        .unwrap();
    assert_eq!(tel.withdrawn_by.as_deref(), Some("a"));
    let err = s
        .set_field(c, "phone", &json!("06 00 00 00 00"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid { ref field, .. } if field == "phone"),
        "{err}"
    );
    // Withdrawing again: nothing to withdraw.
    assert!(
        s.act(
            c,
            &Action::WithdrawConsent {
                purpose: Purpose::Telephone
            }
        )
        .is_err()
    );
    // Given again: active, the withdrawal gone.
    s.act(
        c,
        &Action::GiveConsent {
            purpose: Purpose::Telephone,
        },
    )
    .unwrap();
    let got = get_contact(&s, c);
    let tel = got
        .consents
        .iter()
        .find(|x| x.purpose == "telephone")
        .unwrap();
    assert!(tel.is_active() && tel.withdrawn_by.is_none());
    s.set_field(c, "phone", &json!("06 00 00 00 00")).unwrap();
    // Consents are not set as a field.
    assert!(s.set_field(c, "consents", &json!(["suivi"])).is_err());
}

#[test]
fn forged_phone_or_referral_without_consent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, server) = (store(&dir, "a"), store(&dir, "server"));
    let c = contact(&a, json!({"name": "Awa"}));
    relay(&a, &server);
    let head = server.log_head().unwrap();
    let phone = forge(&a, c, &a.peer_id(), |tx| {
        tx.put(ROOT, "phone", "06 12 34 56 78").unwrap();
    });
    let err = server
        .apply_pushed("a", Some(&a.peer_id()), &phone)
        .unwrap_err();
    assert!(
        matches!(err, Error::Refused { ref reason, .. } if reason.contains("phone")),
        "{err}"
    );
    let referral = forge(&a, c, &a.peer_id(), |tx| {
        let (_, list) = tx.get(ROOT, "interactions").unwrap().unwrap();
        let item = tx.insert_object(&list, 0, ObjType::Map).unwrap();
        tx.put(&item, "id", RecordId::new().to_string()).unwrap();
        tx.put(&item, "at", ScalarValue::Int(1)).unwrap();
        tx.put(&item, "by", "a").unwrap();
        tx.put(&item, "text", "Dossier").unwrap();
        tx.put(&item, "referral", "CAF").unwrap();
    });
    let err = server
        .apply_pushed("a", Some(&a.peer_id()), &referral)
        .unwrap_err();
    assert!(
        matches!(err, Error::Refused { ref reason, .. } if reason.contains("referral")),
        "{err}"
    );
    assert_eq!(server.log_head().unwrap(), head);
    // With the consent given by the app, the same phone passes.
    a.act(
        c,
        &Action::GiveConsent {
            purpose: Purpose::Telephone,
        },
    )
    .unwrap();
    relay(&a, &server);
    let phone = forge(&a, c, &a.peer_id(), |tx| {
        tx.put(ROOT, "phone", "06 12 34 56 78").unwrap();
    });
    server
        .apply_pushed("a", Some(&a.peer_id()), &phone)
        .unwrap();
}

#[test]
fn retention_lists_then_dues_a_contact_and_an_extension_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let mut cfg = TeamConfig::carcassonne();
    cfg.retention_months = 12;
    let c = contact(&s, json!({"name": "Awa"}));
    let got = get_contact(&s, c);
    let created = got.header.created_at;
    let due = due_at(&got, &cfg);
    // Twelve calendar months: between 365 and 366 days.
    assert!(
        (365 * DAY..=366 * DAY).contains(&(due - created)),
        "{due} {created}"
    );
    assert_eq!(retention(&got, &cfg, created + DAY), Retention::Kept);
    assert_eq!(
        retention(&got, &cfg, due - NOTICE_DAYS * DAY + 1),
        Retention::Listed { due_at: due }
    );
    assert_eq!(retention(&got, &cfg, due), Retention::Due { due_at: due });
    // An extension past the due date moves it.
    let until = created + 3 * 365 * DAY;
    s.act(c, &Action::KeepUntil { until }).unwrap();
    let got = get_contact(&s, c);
    assert_eq!(got.keep_until, Some(until));
    assert_eq!(due_at(&got, &cfg), until);
    assert_eq!(retention(&got, &cfg, due), Retention::Kept);
    // Not in the past, not beyond five years.
    for bad in [created - DAY, created + 6 * 365 * DAY] {
        let err = s.act(c, &Action::KeepUntil { until: bad }).unwrap_err();
        assert!(
            matches!(err, Error::Invalid { ref field, .. } if field == "until"),
            "{err}"
        );
    }
    assert!(s.set_field(c, "keep_until", &json!(until)).is_err());
    // Older configurations load with the default.
    let mut v = serde_json::to_value(TeamConfig::carcassonne()).unwrap();
    v.as_object_mut().unwrap().remove("retention_months");
    let old: TeamConfig = serde_json::from_value(v).unwrap();
    assert_eq!(old.retention_months, 24);
    cfg.retention_months = 0;
    assert!(cfg.check().is_err());
}

#[test]
fn a_name_is_redacted_from_free_text_and_concurrent_edits_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store(&dir, "a"), store(&dir, "b"));
    let n = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "eloise DUPRE est passée."})),
        )
        .unwrap();
    relay(&a, &b);
    b.set_field(n, "text", &json!("eloise DUPRE est passée. Hall propre."))
        .unwrap();
    a.act(
        n,
        &Action::Redact {
            name: "Éloïse Dupré".into(),
        },
    )
    .unwrap();
    relay(&a, &b);
    relay(&b, &a);
    for s in [&a, &b] {
        let Record::Note(note) = s.get(n).unwrap() else {
            panic!("not a note")
        };
        assert_eq!(note.text, "[nom effacé] est passée. Hall propre.");
    }
    // Nothing left to redact: an error naming the field, never the name.
    let err = a
        .act(
            n,
            &Action::Redact {
                name: "Éloïse Dupré".into(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid { ref field, .. } if field == "text"),
        "{err}"
    );
    assert!(!err.to_string().contains("Dupr"), "{err}");
}
