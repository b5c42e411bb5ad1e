//! RGPD art. 17 on raw bytes: after a contact is erased, no byte of the
//! resident's name or phone remains in the database or its WAL. Checked on an
//! unencrypted store, where plaintext is visible — and the same check finds
//! the name before erasure, so it is not vacuous.

use carnet_core::{Kind, Store};
use serde_json::json;

const NAME: &str = "Zoubida Quetzalcoatl-Marchand";
const PHONE: &str = "07 98 76 54 32";

fn files_contain(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            hits.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    hits
}

#[test]
fn erased_contact_leaves_no_byte_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_unencrypted(dir.path().join("store.db")).unwrap();
    store.set_author("samia").unwrap();
    let contact = store
        .create(Kind::Contact, json!({"name": NAME, "phone": PHONE, "consents": ["telephone", "orientation"], "address": "12 rue des Lilas", "topics": ["energie"]}).as_object().unwrap())
        .unwrap();
    store
        .add_interaction(
            contact,
            "Orientée vers France Services",
            Some("France Services"),
        )
        .unwrap();
    store.set_field(contact, "phone", &json!(PHONE)).unwrap();
    let note = store
        .create(
            Kind::Note,
            json!({"sector": "conte-joliot", "text": "Visite", "contacts": [contact.to_string()]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    // Before: the name is on disk (in the WAL before a checkpoint, in the file after).
    assert!(
        !files_contain(dir.path(), NAME).is_empty(),
        "the check cannot see the name at all"
    );
    store.checkpoint().unwrap();
    assert_eq!(files_contain(dir.path(), NAME), ["store.db"]);
    assert_eq!(files_contain(dir.path(), PHONE), ["store.db"]);

    store.erase(contact).unwrap();
    store.checkpoint().unwrap();
    for needle in [NAME, PHONE, "Quetzalcoatl", "rue des Lilas"] {
        assert_eq!(
            files_contain(dir.path(), needle),
            Vec::<String>::new(),
            "{needle} still on disk"
        );
    }
    // The note still reads, and says the contact was erased.
    let carnet_core::Record::Note(n) = store.get(note).unwrap() else {
        panic!()
    };
    assert_eq!(
        n.contacts[0].state,
        carnet_core::model::ContactState::Erased
    );
    drop(store);
    for needle in [NAME, PHONE] {
        assert!(
            files_contain(dir.path(), needle).is_empty(),
            "{needle} on disk after close"
        );
    }
}
