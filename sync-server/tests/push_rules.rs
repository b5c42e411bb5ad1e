//! What a device may push, tried as an attacker would with a mediator's own
//! enrolled device and hand-made envelopes against the real server: forged
//! erasures, changes made by another device, changes the app would refuse.
//! Each is a 403 problem that counts what it refused and changes nothing;
//! honest pushes still go through. And an erased resident leaves no byte in
//! any of the running server's files.

mod common;

use carnet_core::store::{Entry, Payload};
use carnet_core::sync::{PushHeader, wire};
use carnet_core::{Kind, RecordId};
use common::*;
use serde_json::{Value, json};

fn envelope(entries: &[Entry]) -> Vec<u8> {
    wire::encode(
        &PushHeader {
            upto: 1,
            lineage: None,
        },
        entries,
    )
    .unwrap()
}

fn push(server: &TestServer, token: &str, entries: &[Entry]) -> (u16, Value) {
    let (status, body) = post(server, "/v1/sync/push", token, envelope(entries));
    (status, json_of(&body))
}

fn erased(id: RecordId) -> Entry {
    Entry {
        record_id: id,
        payload: Payload::Erased,
    }
}

/// Every file under `dir` that holds `needle`, the running server's WAL
/// included.
fn files_with(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn erasing_anything_but_a_contact_is_refused_counted_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "Régie");
    let server = TestServer::start(data.path());
    let author = enroll(&server, &team, "mediator", "Samia");
    let attacker = enroll(&server, &team, "mediator", "Yanis");
    let note = author.note("conte-joliot", "Hall propre");
    let report = author
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. B", "text": "Lampe"})),
        )
        .unwrap();
    author.sync(&server.url()).unwrap();
    let head = server_log_head(data.path(), &team);

    let (status, problem) = push(&server, attacker.token(), &[erased(note), erased(report)]);
    assert_eq!(status, 403, "{problem}");
    assert!(problem["type"].as_str().unwrap().ends_with("/refused"));
    assert_eq!(problem["refused_erasures"], 2);
    assert_eq!(server_log_head(data.path(), &team), head);

    // Another device still receives both records.
    let other = enroll(&server, &team, "supervisor", "Coordination");
    other.sync(&server.url()).unwrap();
    assert_eq!(other.all().len(), 2);
}

#[test]
fn a_change_made_by_another_device_or_one_its_app_would_refuse_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "Régie");
    let server = TestServer::start(data.path());
    let author = enroll(&server, &team, "mediator", "Samia");
    let attacker = enroll(&server, &team, "mediator", "supA");
    let note = author.note("conte-joliot", "Hall propre");
    // The attacker replays the author's change as its own push.
    let theirs = author.store.changes_since(0, 1 << 20, None).unwrap();
    let (status, problem) = push(&server, attacker.token(), &theirs.entries);
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["refused_changes"], 1);
    assert_eq!(server_log_head(data.path(), &team), 0);

    // A change of its own that its app would have refused: an unknown sector.
    let forged = attacker
        .store
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "x"})),
        )
        .unwrap();
    let mut mine = attacker.store.changes_since(0, 1 << 20, None).unwrap();
    let Payload::Change(bytes) = &mine.entries[0].payload else {
        panic!()
    };
    let mut doc = automerge::Automerge::load(bytes).unwrap();
    let own = hex::decode(attacker.store.peer_id()).unwrap();
    doc.set_actor(automerge::ActorId::from(own.as_slice()));
    {
        use automerge::transaction::Transactable;
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "sector", "atlantis").unwrap();
        tx.commit();
    }
    let bad = doc.get_last_local_change().unwrap().bytes().into_owned();
    mine.entries.push(Entry {
        record_id: forged,
        payload: Payload::Change(bad),
    });
    let (status, problem) = push(&server, attacker.token(), &mine.entries);
    assert_eq!(status, 403, "{problem}");
    assert_eq!(server_log_head(data.path(), &team), 0);

    // Honest pushes still go through.
    author.sync(&server.url()).unwrap();
    let other = enroll(&server, &team, "supervisor", "Coordination");
    other.sync(&server.url()).unwrap();
    assert_eq!(other.all().len(), 1);
    assert_eq!(other.all()[0]["id"], note.to_string());
}

#[test]
fn a_device_enrolled_without_an_actor_is_bound_to_the_actor_of_its_first_push() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "Régie");
    let server = TestServer::start(data.path());
    let code =
        carnet_server::issue_code(data.path(), &team, carnet_server::Role::Mediator, None).unwrap();
    let legacy = carnet_core::sync::client::Client::new(&server.url())
        .unwrap()
        .enroll(&code, "ancien", None)
        .unwrap();
    let phone = tempfile::tempdir().unwrap();
    let store = carnet_core::Store::open_unencrypted(phone.path().join("d.db")).unwrap();
    store
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "a"})),
        )
        .unwrap();
    let first = store.changes_since(0, 1 << 20, None).unwrap();
    let (status, _) = push(&server, &legacy.token, &first.entries);
    assert_eq!(status, 200);
    // From now on only that actor's changes are its own.
    let other = enroll(&server, &team, "mediator", "Samia");
    other.note("conte-joliot", "b");
    let foreign = other.store.changes_since(0, 1 << 20, None).unwrap();
    let (status, _) = push(&server, &legacy.token, &foreign.entries);
    assert_eq!(status, 403);
}

#[test]
fn an_erased_contact_leaves_no_byte_in_any_file_of_the_running_server() {
    const NAME: &str = "Zoubida Quetzalcoatl-Marchand";
    const PHONE: &str = "07 98 76 54 32";
    const ADDRESS: &str = "12 rue des Lilas";
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "Régie");
    let server = TestServer::start(data.path());
    let a = enroll(&server, &team, "mediator", "Samia");
    let b = enroll(&server, &team, "supervisor", "Coordination");
    let contact = a
        .store
        .create(
            Kind::Contact,
            &fields(json!({"name": NAME, "consents": ["telephone", "orientation"], "phone": PHONE, "address": ADDRESS})),
        )
        .unwrap();
    a.store
        .add_interaction(contact, "Orientée vers la CAF", Some("CAF"))
        .unwrap();
    a.sync(&server.url()).unwrap();
    b.sync(&server.url()).unwrap();
    assert!(
        !files_with(data.path(), "Quetzalcoatl").is_empty(),
        "the check cannot see the name at all"
    );
    a.store.erase(contact).unwrap();
    a.sync(&server.url()).unwrap();
    b.sync(&server.url()).unwrap();
    // The server is still running: its WAL is checked as it is now.
    for needle in [NAME, "Quetzalcoatl", PHONE, ADDRESS] {
        assert_eq!(
            files_with(data.path(), needle),
            Vec::<String>::new(),
            "{needle} left on the server"
        );
        let store_dir = b.store.path().unwrap();
        assert_eq!(
            files_with(store_dir.parent().unwrap(), needle),
            Vec::<String>::new(),
            "{needle} left on the device that received the erasure"
        );
    }
}
