//! The store's behaviour through its public API.

use carnet_core::lifecycle::ReportStatus;
use carnet_core::model::ContactState;
use carnet_core::store::{GroupBy, Query, StatusChange};
use carnet_core::{Error, Kind, Record, Store};
use serde_json::{Map, Value, json};

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn store(dir: &tempfile::TempDir, name: &str) -> Store {
    let s = Store::open(dir.path().join(name), &[7u8; 32]).unwrap();
    s.set_author(name).unwrap();
    s
}

#[test]
fn encrypted_store_refuses_the_wrong_key_and_accepts_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let s = Store::open(&path, &[1u8; 32]).unwrap();
        s.create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "Calme ce soir"})),
        )
        .unwrap();
        s.rekey(&[2u8; 32]).unwrap();
    }
    assert!(matches!(
        Store::open(&path, &[1u8; 32]),
        Err(Error::WrongKey)
    ));
    assert!(matches!(
        Store::open_unencrypted(&path),
        Err(Error::WrongKey)
    ));
    let s = Store::open(&path, &[2u8; 32]).unwrap();
    assert_eq!(s.list(&Query::default()).unwrap().items.len(), 1);
    let raw = std::fs::read(&path).unwrap();
    assert!(
        !raw.windows(4).any(|w| w == b"Calm"),
        "plaintext found in an encrypted file"
    );
}

#[test]
fn every_kind_is_created_read_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "samia");
    let c = s.create(Kind::Contact, &fields(json!({"name": "Mme A.", "phone": "06 12 34 56 78", "topics": ["energie"], "consents": ["suivi", "telephone"]}))).unwrap();
    let n = s
        .create(Kind::Note, &fields(json!({"sector": "Viguier + Saint Jacques", "quartier": "viguier", "text": "Regroupement de jeunes près du city stade", "axes": ["tranquillite", "jeunesse"], "residents_met": "4", "contacts": [c.to_string()]})))
        .unwrap();
    let r = s.create(Kind::Report, &fields(json!({"sector": "ozanam-albignac", "category": "lift", "place": "Bât. C", "text": "Ascenseur en panne", "urgent": true}))).unwrap();
    let a = s.create(Kind::Activity, &fields(json!({"activity_type": "aller_vers", "sector": "grazailles-fleming", "met_known": 12, "met_new": 3}))).unwrap();
    match s.get(n).unwrap() {
        Record::Note(note) => {
            assert_eq!(note.sector, "viguier-saint-jacques");
            assert_eq!(note.axes, ["jeunesse", "tranquillite"]);
            assert_eq!(note.residents_met, Some(4));
            assert_eq!(note.contacts[0].state, ContactState::Present);
            assert_eq!(note.header.author, "samia");
        }
        other => panic!("{other:?}"),
    }
    match s.get(r).unwrap() {
        Record::Report(rep) => assert_eq!(rep.status, ReportStatus::Reported),
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.get(a).unwrap(), Record::Activity(_)));
    assert!(matches!(s.get(c).unwrap(), Record::Contact(_)));
    let notes = s
        .list(&Query {
            kind: Some(Kind::Note),
            axis: Some("jeunesse".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(notes.items.len(), 1);
    let found = s
        .list(&Query {
            text: Some("city".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let found = s
        .list(&Query {
            kind: Some(Kind::Contact),
            text: Some("mme".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let by_kind = s.count(&Query::default(), GroupBy::Kind).unwrap();
    assert_eq!(by_kind.len(), 4);
}

#[test]
fn invalid_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let before = s.log_head().unwrap();
    let err = s.create(Kind::Report, &fields(json!({"sector": "conte-joliot", "category": "unicorns", "place": "x", "text": "y"}))).unwrap_err();
    assert!(
        err.to_string().starts_with("category: unknown category"),
        "{err}"
    );
    let id = s
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "ok"})),
        )
        .unwrap();
    assert!(s.set_field(id, "lat", &json!("95")).is_err());
    assert!(s.set_field(id, "nonsense", &json!("1")).is_err());
    assert_eq!(s.log_head().unwrap(), before + 1);
}

#[test]
fn report_lifecycle_and_invalid_transition() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let r = s.create(Kind::Report, &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Rue A", "text": "Lampadaire éteint"}))).unwrap();
    let st = |status: &str| StatusChange {
        status: Some(status.parse().unwrap()),
        ..Default::default()
    };
    let err = s.change_status(r, &st("closed")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: ReportStatus::Reported,
                to: ReportStatus::Closed
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "a report cannot go from reported to closed; allowed from reported: forwarded, in_progress, resolved, rejected, duplicate"
    );
    assert!(
        s.change_status(r, &st("forwarded"))
            .unwrap_err()
            .to_string()
            .starts_with("to:")
    );
    s.change_status(
        r,
        &StatusChange {
            to: Some("ville-eclairage".into()),
            reference: Some("TK-42".into()),
            ..st("forwarded")
        },
    )
    .unwrap();
    for next in ["in_progress", "resolved", "closed", "reported"] {
        s.change_status(r, &st(next)).unwrap();
    }
    let Record::Report(rep) = s.get(r).unwrap() else {
        panic!()
    };
    assert_eq!(rep.status, ReportStatus::Reported);
    assert_eq!(rep.body.as_deref(), Some("ville-eclairage"));
    assert_eq!(rep.events.len(), 5);
    assert_eq!(s.open_reports(Some("conte-joliot")).unwrap().len(), 1);
}

#[test]
fn concurrent_scalar_writes_surface_as_a_conflict_until_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(&dir, "a");
    let b = store(&dir, "b");
    let id = a.create(Kind::Report, &fields(json!({"sector": "conte-joliot", "category": "graffiti", "place": "Hall 1", "text": "Tags"}))).unwrap();
    sync_pair(&a, &b);
    a.set_field(id, "place", &json!("Hall 1, rez-de-chaussée"))
        .unwrap();
    b.set_field(id, "place", &json!("Hall 1 côté parking"))
        .unwrap();
    a.set_field(id, "text", &json!("Tags racistes")).unwrap();
    b.set_field(id, "text", &json!("Tags à effacer vite"))
        .unwrap();
    sync_pair(&a, &b);
    sync_pair(&a, &b);
    let da = a.details(id).unwrap();
    let db = b.details(id).unwrap();
    assert_eq!(da.record, db.record);
    assert_eq!(da.conflicts.len(), 1);
    assert_eq!(da.conflicts[0].field, "place");
    assert_eq!(da.conflicts[0].values.len(), 2);
    let Record::Report(r) = &da.record else {
        panic!()
    };
    assert!(
        r.text.contains("racistes") && r.text.contains("effacer"),
        "{}",
        r.text
    );
    a.set_field(id, "place", &json!("Hall 1")).unwrap();
    assert!(a.details(id).unwrap().conflicts.is_empty());
    assert!(da.history.len() >= 3);
}

#[test]
fn garbage_and_foreign_changes_are_rejected_and_change_nothing() {
    use carnet_core::store::{Batch, Entry, Payload};
    let dir = tempfile::tempdir().unwrap();
    let a = store(&dir, "a");
    let b = store(&dir, "b");
    let id = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "x"})),
        )
        .unwrap();
    a.set_field(id, "text", &json!("xy")).unwrap();
    let batch = a.changes_since(0, 1 << 20, None).unwrap();
    let Payload::Change(first) = batch.entries[0].payload.clone() else {
        panic!()
    };
    let head = b.log_head().unwrap();
    let bad = |entries: Vec<Entry>| {
        b.apply(
            "a",
            &Batch {
                entries,
                upto: 1,
                more: false,
            },
        )
    };
    // Garbage, truncated, and a second change without its dependency.
    assert!(
        bad(vec![Entry {
            record_id: id,
            payload: Payload::Change(vec![1, 2, 3])
        }])
        .is_err()
    );
    assert!(
        bad(vec![Entry {
            record_id: id,
            payload: Payload::Change(first[..first.len() - 3].to_vec())
        }])
        .is_err()
    );
    assert!(bad(vec![batch.entries[1].clone()]).is_err());
    // A valid change presented as another record's.
    let other = carnet_core::RecordId::new();
    assert!(
        bad(vec![Entry {
            record_id: other,
            payload: Payload::Change(first.clone())
        }])
        .is_err()
    );
    // A good change followed by garbage: all or nothing.
    assert!(
        bad(vec![
            batch.entries[0].clone(),
            Entry {
                record_id: id,
                payload: Payload::Change(vec![0; 40])
            }
        ])
        .is_err()
    );
    assert_eq!(b.log_head().unwrap(), head);
    assert!(b.list(&Query::default()).unwrap().items.is_empty());
    b.apply("a", &batch).unwrap();
    b.apply("a", &batch).unwrap();
    assert_eq!(b.get(id).unwrap(), a.get(id).unwrap());
}

#[test]
fn erasure_replicates_and_refuses_stale_changes() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(&dir, "a");
    let b = store(&dir, "b");
    let c = a
        .create(
            Kind::Contact,
            &fields(json!({"name": "Résident X", "consents": ["telephone"]})),
        )
        .unwrap();
    let n = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "vu", "contacts": [c.to_string()]})),
        )
        .unwrap();
    sync_pair(&a, &b);
    b.set_field(c, "phone", &json!("0600000000")).unwrap();
    a.erase(c).unwrap();
    sync_pair(&a, &b);
    sync_pair(&a, &b);
    for s in [&a, &b] {
        assert!(matches!(s.get(c), Err(Error::Erased(_))));
        let Record::Note(note) = s.get(n).unwrap() else {
            panic!()
        };
        assert_eq!(note.contacts[0].state, ContactState::Erased);
    }
    assert!(matches!(
        b.set_field(c, "name", &json!("Y")),
        Err(Error::Erased(_))
    ));
}

fn sync_pair(a: &Store, b: &Store) {
    for (from, to) in [(a, b), (b, a)] {
        let mut after = 0;
        loop {
            let batch = from
                .changes_since(after, 1 << 20, Some(&to.peer_id()))
                .unwrap();
            to.apply(&from.peer_id(), &batch).unwrap();
            after = batch.upto;
            if !batch.more {
                break;
            }
        }
    }
}

#[test]
fn the_first_conflict_value_is_the_one_lists_show_and_history_names_fields() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(&dir, "a");
    let b = store(&dir, "b");
    let id = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "x", "place": "p"})),
        )
        .unwrap();
    sync_pair(&a, &b);
    a.set_field(id, "place", &json!("A")).unwrap();
    b.set_field(id, "place", &json!("B")).unwrap();
    sync_pair(&a, &b);
    sync_pair(&a, &b);
    let d = a.details(id).unwrap();
    let Record::Note(n) = a.get(id).unwrap() else {
        panic!()
    };
    assert_eq!(d.conflicts[0].values[0], json!(n.place.unwrap()));
    assert_eq!(d.history[0].op, "create");
    assert!(d.history[0].fields.contains(&"place".to_string()));
}

#[test]
fn a_record_edited_many_times_is_snapshotted_and_still_replicates_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    let a = Store::open_unencrypted(&path).unwrap();
    a.set_author("a").unwrap();
    let b = store(&dir, "b");
    let id = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "Version 0"})),
        )
        .unwrap();
    for i in 1..=20 {
        a.set_field(id, "text", &json!(format!("Version {i}")))
            .unwrap();
    }
    // The busy record got a snapshot; its changes all stay in the log.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let snapshots: i64 = conn
        .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
        .unwrap();
    assert!(snapshots >= 1, "no snapshot after 21 changes");
    let details = a.details(id).unwrap();
    assert_eq!(details.history.len(), 21);
    let text = |s: &Store| match s.get(id).unwrap() {
        Record::Note(n) => n.text,
        other => panic!("not a note: {other:?}"),
    };
    assert_eq!(text(&a), "Version 20");

    sync_pair(&a, &b);
    assert_eq!(text(&b), "Version 20");
    assert_eq!(b.details(id).unwrap().history.len(), 21);
    b.set_field(id, "text", &json!("Version 21")).unwrap();
    sync_pair(&a, &b);
    assert_eq!(text(&a), "Version 21");
    assert_eq!(a.details(id).unwrap().history.len(), 22);
}

#[test]
fn an_axis_filter_lists_newest_first_within_dates_and_follows_edits() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let day = 86_400_000;
    let t0 = 1_780_000_000_000i64;
    let mut ids = Vec::new();
    for i in 0..6 {
        let axes = if i % 2 == 0 {
            json!(["jeunesse", "tranquillite"])
        } else {
            json!(["tranquillite"])
        };
        ids.push(
            s.create(
                Kind::Note,
                &fields(json!({"sector": "conte-joliot", "text": format!("Note {i}"), "axes": axes, "observed_at": t0 + i * day})),
            )
            .unwrap(),
        );
    }
    let listed = |q: Query| -> Vec<_> {
        s.list(&q)
            .unwrap()
            .items
            .iter()
            .map(|r| r.header().id)
            .collect()
    };
    let young = Query {
        axis: Some("jeunesse".into()),
        ..Default::default()
    };
    assert_eq!(listed(young.clone()), vec![ids[4], ids[2], ids[0]]);
    assert_eq!(
        listed(Query {
            since: Some(t0 + day),
            until: Some(t0 + 5 * day),
            oldest_first: true,
            ..young.clone()
        }),
        vec![ids[2], ids[4]]
    );
    // Moving a note's date and axes moves its axis rows, without leftovers.
    s.set_field(ids[0], "observed_at", &json!(t0 + 10 * day))
        .unwrap();
    s.set_field(ids[2], "axes", &json!(["tranquillite"]))
        .unwrap();
    assert_eq!(listed(young.clone()), vec![ids[0], ids[4]]);
    let counts = s.count(&Query::default(), GroupBy::Axis).unwrap();
    let of = |axis: &str| counts.iter().find(|c| c.key == axis).map(|c| c.count);
    assert_eq!(of("jeunesse"), Some(2));
    assert_eq!(of("tranquillite"), Some(6));
}

#[test]
fn a_change_with_a_wrong_checksum_is_refused_and_changes_nothing() {
    use carnet_core::doc::RecordDoc;
    use carnet_core::store::{Batch, Entry, Payload};
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let actor = automerge::ActorId::random();
    let id = carnet_core::RecordId::new();
    let (doc, hash) = RecordDoc::create(
        &actor,
        id,
        Kind::Note,
        "peer",
        1_780_000_000_000,
        &fields(json!({"sector": "conte-joliot", "text": "Hall propre"})),
    )
    .unwrap();
    let mut bytes = doc.change_bytes(&hash).unwrap();
    bytes[5] ^= 0x01;
    let batch = Batch {
        entries: vec![Entry {
            record_id: id,
            payload: Payload::Change(bytes),
        }],
        upto: 1,
        more: false,
    };
    let err = s.apply("peer", &batch).unwrap_err();
    assert!(matches!(err, Error::RejectedChanges(_)), "{err}");
    assert_eq!(s.log_head().unwrap(), 0);
    assert!(matches!(s.get(id), Err(Error::NotFound(_))));
}

#[test]
fn aggregates_count_fixes_forwardings_residents_and_referrals_without_views() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let before = carnet_core::now_ms() - 1;
    let report = s
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. A", "text": "Lampe", "axes": ["cadre-de-vie"]})),
        )
        .unwrap();
    let status = |st: ReportStatus, to: Option<&str>| StatusChange {
        status: Some(st),
        to: to.map(str::to_string),
        ..Default::default()
    };
    s.change_status(
        report,
        &status(ReportStatus::Forwarded, Some("ville-eclairage")),
    )
    .unwrap();
    s.change_status(report, &status(ReportStatus::Resolved, None))
        .unwrap();
    s.create(
        Kind::Activity,
        &fields(json!({"activity_type": "aller_vers", "sector": "conte-joliot", "met_known": 4, "met_new": 2, "referrals": 1, "axes": ["cadre-de-vie"]})),
    )
    .unwrap();
    s.create(
        Kind::Note,
        &fields(json!({"sector": "conte-joliot", "text": "Rencontres", "residents_met": 3})),
    )
    .unwrap();
    let contact = s
        .create(
            Kind::Contact,
            &fields(json!({"name": "Résident Test", "consents": ["orientation"]})),
        )
        .unwrap();
    s.add_interaction(contact, "Orienté", Some("CCAS")).unwrap();
    s.add_interaction(contact, "Suivi", Some("CCAS")).unwrap();
    let after = carnet_core::now_ms() + 1;

    let fixes = s.fixes(before, after).unwrap();
    assert_eq!(fixes.len(), 1);
    assert_eq!(fixes[0].body, "ville-eclairage");
    assert!(fixes[0].fixed_at >= fixes[0].created_at);
    assert!(s.fixes(after, after + 1).unwrap().is_empty());
    assert_eq!(s.forwarded_count(before, after).unwrap(), 1);
    let acts = s.activity_rows(before, after).unwrap();
    assert_eq!(
        (
            acts.len(),
            acts[0].met_known,
            acts[0].met_new,
            acts[0].referrals
        ),
        (1, 4, 2, 1)
    );
    assert_eq!(s.residents_met_on_notes(before, after).unwrap(), 3);
    assert_eq!(
        s.referrals_by_partner(before, after).unwrap(),
        vec![("CCAS".to_string(), 2)]
    );
    let axes = s.axes_by_kind(before, after).unwrap();
    assert_eq!(
        axes.get(&("report".into(), "cadre-de-vie".into())),
        Some(&1)
    );
    assert_eq!(
        axes.get(&("activity".into(), "cadre-de-vie".into())),
        Some(&1)
    );
    assert!(s.open_rows().unwrap().is_empty(), "the report is resolved");
    // Erasing the contact takes its referrals with it.
    s.erase(contact).unwrap();
    assert!(s.referrals_by_partner(before, after).unwrap().is_empty());
}

#[test]
fn a_report_with_no_axis_is_filed_under_cadre_de_vie_whoever_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    let report = |axes: Value| {
        let mut f = fields(
            json!({"sector": "conte-joliot", "category": "lighting", "place": "B", "text": "Lampe"}),
        );
        if !axes.is_null() {
            f.insert("axes".into(), axes);
        }
        let Record::Report(r) = s.get(s.create(Kind::Report, &f).unwrap()).unwrap() else {
            panic!()
        };
        r.axes
    };
    assert_eq!(report(Value::Null), ["cadre-de-vie"]);
    assert_eq!(report(json!([])), ["cadre-de-vie"]);
    assert_eq!(report(json!(["jeunesse"])), ["jeunesse"]);
    // Notes have no default axis.
    let Record::Note(n) = s
        .get(
            s.create(
                Kind::Note,
                &fields(json!({"sector": "conte-joliot", "text": "x"})),
            )
            .unwrap(),
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(n.axes.is_empty());
}

#[test]
fn sync_cursors_are_the_protocols_and_no_app_setting_moves_them() {
    use carnet_core::store::Cursor;
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "a");
    assert_eq!(s.cursor(Cursor::Pull).unwrap(), 0);
    s.set_cursor(Cursor::Pull, 42).unwrap();
    s.set_cursor(Cursor::Push, 7).unwrap();
    assert!(matches!(
        s.set_setting("sync.pull_cursor", Some("0")),
        Err(Error::Invalid { .. })
    ));
    s.set_setting("theme", Some("dark")).unwrap();
    assert_eq!(
        (
            s.cursor(Cursor::Pull).unwrap(),
            s.cursor(Cursor::Push).unwrap()
        ),
        (42, 7)
    );
    // A wipe starts the sync over.
    s.wipe().unwrap();
    assert_eq!(s.cursor(Cursor::Pull).unwrap(), 0);
    assert_eq!(s.setting("theme").unwrap(), None);
}

#[test]
fn cursors_an_older_version_kept_in_meta_move_to_their_table() {
    use carnet_core::store::Cursor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    drop(Store::open_unencrypted(&path).unwrap());
    // As schema 3 kept them: the push cursor under its `sync.` key, the pull
    // cursor still as a setting (older still), beside an app's setting.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP TABLE sync_cursors; DROP TABLE sync_lineage;
         DROP TABLE photos; DROP TABLE photo_parts; DROP TABLE photo_tombstones; DROP TABLE record_photos;
         ALTER TABLE change_log DROP COLUMN photo;
         INSERT INTO meta (key, value) VALUES ('sync.push_acked', '9');
         INSERT INTO meta (key, value) VALUES ('setting.sync.pull_cursor', '5');
         INSERT INTO meta (key, value) VALUES ('setting.theme', 'dark');
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(raw);
    let s = Store::open_unencrypted(&path).unwrap();
    assert_eq!(s.cursor(Cursor::Push).unwrap(), 9);
    assert_eq!(s.cursor(Cursor::Pull).unwrap(), 5);
    assert_eq!(s.setting("sync.pull_cursor").unwrap(), None);
    assert_eq!(s.setting("theme").unwrap().as_deref(), Some("dark"));
    s.set_cursor(Cursor::Pull, 6).unwrap();
    assert_eq!(s.cursor(Cursor::Pull).unwrap(), 6);
    drop(s);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let left: i64 = raw
        .query_row(
            "SELECT count(*) FROM meta WHERE key LIKE '%sync.%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "no cursor is left among the settings");
}

/// Changes travel and are kept uncompressed, whatever form a peer sent them
/// in: automerge's per-change DEFLATE would hide from the envelope's zstd
/// what a batch's changes share. An older app's compressed change is taken,
/// kept under the same hash, and relayed uncompressed.
#[test]
fn changes_are_logged_and_relayed_uncompressed() {
    use automerge::Change;
    use carnet_core::store::{Batch, Entry, Payload};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store(&dir, "a"), store(&dir, "b"));
    let text = "Échange avec des habitants au pied du bâtiment, éclairage défaillant dans la cage d'escalier, à signaler au bailleur; les jeunes du quartier demandent un local.";
    let id = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": text})),
        )
        .unwrap();
    let batch = a.changes_since(0, 1 << 20, None).unwrap();
    let Payload::Change(raw) = batch.entries[0].payload.clone() else {
        panic!("a change");
    };
    let is_deflated = |bytes: &[u8]| bytes[8] == 2;
    assert!(
        !is_deflated(&raw),
        "a store logs its own changes uncompressed"
    );
    let mut change = Change::from_bytes(raw.clone()).unwrap();
    let deflated = change.bytes().into_owned();
    assert!(is_deflated(&deflated) && deflated.len() < raw.len());

    let report = b
        .apply(
            "older-app",
            &Batch {
                entries: vec![Entry {
                    record_id: id,
                    payload: Payload::Change(deflated),
                }],
                upto: 1,
                more: false,
            },
        )
        .unwrap();
    assert_eq!(report.applied, 1);
    assert_eq!(b.get(id).unwrap(), a.get(id).unwrap());
    let relayed = b.changes_since(0, 1 << 20, None).unwrap();
    assert_eq!(relayed.entries[0].payload, Payload::Change(raw));
}

/// A phone's store written before SQLCipher's crypto came from
/// `sqlcipher-crypto` (SQLCipher 4.20 through a vendored OpenSSL 3.6, key
/// `[0x42; 32]`, one contact and one note citing her; written 2026-12-07)
/// opens, reads and takes new records: updating the app keeps the data.
#[test]
fn a_store_written_through_openssl_opens_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/store-written-through-openssl.db"
        ),
        &path,
    )
    .unwrap();
    let key = [0x42u8; 32];
    assert!(matches!(
        Store::open(&path, &[0x43u8; 32]),
        Err(Error::WrongKey)
    ));
    let s = Store::open(&path, &key).unwrap();
    let items = s.list(&Query::default()).unwrap().items;
    assert_eq!(items.len(), 2);
    let note = items
        .iter()
        .find_map(|r| match r {
            Record::Note(n) => Some(n),
            _ => None,
        })
        .expect("the fixture's note");
    assert_eq!(note.text, "Écrite par la bibliothèque OpenSSL de SQLCipher");
    assert_eq!(note.contacts[0].state, ContactState::Present);
    s.create(
        Kind::Note,
        &fields(json!({"sector": "conte-joliot", "text": "Après la mise à jour"})),
    )
    .unwrap();
    drop(s);
    let s = Store::open(&path, &key).unwrap();
    assert_eq!(s.list(&Query::default()).unwrap().items.len(), 3);
}

/// A large batch is merged on every core, and each record's rows, packed
/// changes and snapshot are derived there; a batch of one entry is merged
/// on the calling thread. Both must leave the same store: the same records,
/// lists, searches and conflicts, the same changes relayed, the same
/// snapshots, every change packed in the log.
#[test]
fn a_large_batch_leaves_the_same_store_as_its_entries_one_by_one() {
    use carnet_core::store::{Batch, Entry, Payload};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store(&dir, "a"), store(&dir, "b"));
    let words = ["ascenseur", "escalier", "jeunes", "poubelles", "lampadaire"];
    let mut ids = Vec::new();
    for i in 0..120 {
        let w = words[i % words.len()];
        let (kind, f) = match i % 4 {
            0 | 1 => (
                Kind::Note,
                json!({"sector": "conte-joliot", "text": format!("Note {i}: {w} au bâtiment {}", i % 7), "axes": ["tranquillite"], "tags": [w]}),
            ),
            2 => (
                Kind::Report,
                json!({"sector": "ozanam-albignac", "category": "lift", "place": format!("Bât. {i}"), "text": format!("{w} en panne")}),
            ),
            _ => (
                Kind::Contact,
                json!({"name": format!("Résident {i}"), "phone": "06 12 34 56 78", "consents": ["telephone"]}),
            ),
        };
        ids.push(a.create(kind, &fields(f)).unwrap());
    }
    // A few busy records: past the snapshot threshold, and in conflict.
    for (k, id) in ids.iter().step_by(40).enumerate() {
        for v in 0..10 {
            a.set_field(*id, "place", &json!(format!("Lieu {k}.{v}")))
                .unwrap();
        }
    }
    let conflicted = ids[1];
    sync_pair(&a, &b);
    a.set_field(conflicted, "place", &json!("ici")).unwrap();
    b.set_field(conflicted, "place", &json!("là")).unwrap();
    let from_b = b.changes_since(0, 1 << 30, Some(&a.peer_id())).unwrap();
    a.apply(&b.peer_id(), &from_b).unwrap();

    let all = a.changes_since(0, 1 << 30, None).unwrap();
    assert_eq!(all.entries.len(), 120 + 3 * 10 + 2);
    let whole = Store::open_unencrypted(dir.path().join("whole")).unwrap();
    let report = whole.apply("a", &all).unwrap();
    assert_eq!(report.applied, all.entries.len());
    // Sent again (an acknowledgement lost): all duplicates, nothing written.
    let again = whole.apply("a", &all).unwrap();
    assert_eq!((again.applied, again.duplicates), (0, all.entries.len()));
    assert!(again.records.is_empty());
    let piecemeal = Store::open_unencrypted(dir.path().join("piecemeal")).unwrap();
    for e in &all.entries {
        let one = Batch {
            entries: vec![Entry::clone(e)],
            upto: 0,
            more: false,
        };
        piecemeal.apply("a", &one).unwrap();
    }

    let listed = |s: &Store, q: Query| {
        s.list(&Query {
            limit: Some(1000),
            ..q
        })
        .unwrap()
        .items
    };
    for q in [
        Query::default(),
        Query {
            text: Some("escalier".into()),
            ..Default::default()
        },
        Query {
            axis: Some("tranquillite".into()),
            ..Default::default()
        },
    ] {
        let whole_items = listed(&whole, q.clone());
        assert!(!whole_items.is_empty());
        assert_eq!(whole_items, listed(&piecemeal, q.clone()));
        assert_eq!(whole_items, listed(&a, q));
    }
    for id in &ids {
        assert_eq!(whole.details(*id).unwrap(), piecemeal.details(*id).unwrap());
    }
    assert!(!whole.details(conflicted).unwrap().conflicts.is_empty());
    // The same changes, byte for byte (a batch is logged record by record,
    // so the order may differ from the sender's: still causal).
    let relayed = |entries: Vec<Entry>| {
        let mut v: Vec<(String, Vec<u8>)> = entries
            .into_iter()
            .map(|e| match e.payload {
                Payload::Change(b) => (e.record_id.to_string(), b),
                other => panic!("not a change: {other:?}"),
            })
            .collect();
        v.sort();
        v
    };
    let sent = relayed(all.entries.clone());
    for s in [&whole, &piecemeal] {
        let got = relayed(s.changes_since(0, 1 << 30, None).unwrap().entries);
        assert!(got == sent, "a store relays other changes than it got");
    }
    let on_disk = |name: &str| {
        let conn = rusqlite::Connection::open(dir.path().join(name)).unwrap();
        let snapshots: i64 = conn
            .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
            .unwrap();
        let unpacked: i64 = conn
            .query_row(
                "SELECT count(*) FROM change_log WHERE bytes IS NOT NULL AND substr(bytes, 1, 4) != x'28b52ffd'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (snapshots, unpacked)
    };
    let (snapshots, unpacked) = on_disk("whole");
    assert!(snapshots >= 3, "the busy records got snapshots");
    assert_eq!(unpacked, 0, "every logged change is packed");
    assert_eq!(on_disk("piecemeal"), (snapshots, 0));

    // Sent again with new changes among the known ones, to a record past
    // its snapshot and to a new record: those, and only those, are taken.
    a.set_field(ids[0], "place", &json!("Lieu neuf")).unwrap();
    let added = a
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "Après la coupure"})),
        )
        .unwrap();
    let more = a.changes_since(0, 1 << 30, None).unwrap();
    let report = whole.apply("a", &more).unwrap();
    assert_eq!((report.applied, report.duplicates), (2, all.entries.len()));
    assert_eq!(report.records.len(), 2);
    for id in [ids[0], added] {
        assert_eq!(whole.details(id).unwrap(), a.details(id).unwrap());
    }
}
