//! Writes `reliability/fixtures/{base,extra}.crn`: the fixed change sets the
//! change-application fuzz target starts from (base: the store's content;
//! extra: valid changes that build on it, for the fuzzer to mutate).
//! Run once; the files are committed so that crashers replay exactly.
//!
//! `make-fuzz-fixtures OUT_DIR`

#![forbid(unsafe_code)]

use carnet_core::lifecycle::ReportStatus;
use carnet_core::store::StatusChange;
use carnet_core::sync::wire;
use carnet_core::{Kind, Store};
use serde_json::json;

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: make-fuzz-fixtures OUT_DIR"),
    );
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open_unencrypted(dir.path().join("a.db")).unwrap();
    let b = Store::open_unencrypted(dir.path().join("b.db")).unwrap();
    a.set_author("mediatrice-a").unwrap();
    b.set_author("mediateur-b").unwrap();
    let f = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let r1 = a.create(Kind::Report, &f(json!({"sector": "conte-joliot", "category": "lighting", "place": "hall B", "text": "ampoule grillée"}))).unwrap();
    let r2 = a.create(Kind::Report, &f(json!({"sector": "ozanam-albignac", "category": "lighting", "place": "parking", "text": "lampadaire"}))).unwrap();
    let c1 = a
        .create(
            Kind::Contact,
            &f(json!({"name": "Résidente A", "consents": ["telephone", "orientation"], "phone": "06 00 00 00 01"})),
        )
        .unwrap();
    let c2 = a
        .create(Kind::Contact, &f(json!({"name": "Résident B"})))
        .unwrap();
    a.create(Kind::Note, &f(json!({"sector": "ozanam-albignac", "text": "ronde", "tags": ["t1"], "contacts": [c1.to_string()]}))).unwrap();
    a.set_field(r1, "text", &json!("ampoule grillée au 3e"))
        .unwrap();
    a.change_status(
        r1,
        &StatusChange {
            status: Some(ReportStatus::Forwarded),
            to: Some("bailleur".into()),
            ..Default::default()
        },
    )
    .unwrap();
    a.add_interaction(c1, "orientée vers la CAF", Some("CAF"))
        .unwrap();
    let base = a.changes_since(0, usize::MAX, None).unwrap();
    b.apply(&a.peer_id(), &base).unwrap();
    let head = b.log_head().unwrap();
    // Changes that build on the base, made on another device.
    b.set_field(r1, "text", &json!("ampoule grillée au 3e, escalier C"))
        .unwrap();
    b.set_field(r2, "place", &json!("parking nord")).unwrap();
    b.change_status(
        r2,
        &StatusChange {
            status: Some(ReportStatus::InProgress),
            ..Default::default()
        },
    )
    .unwrap();
    b.add_interaction(c1, "rappelée", None).unwrap();
    b.create(Kind::Activity, &f(json!({"activity_type": "permanence", "sector": "conte-joliot", "text": "permanence du mardi"}))).unwrap();
    b.erase(c2).unwrap();
    let extra = b
        .changes_since(head, usize::MAX, Some(&a.peer_id()))
        .unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("base.crn"),
        wire::encode(&json!({"upto": base.upto}), &base.entries).unwrap(),
    )
    .unwrap();
    std::fs::write(
        out.join("extra.crn"),
        wire::encode(&json!({"upto": extra.upto}), &extra.entries).unwrap(),
    )
    .unwrap();
    println!(
        "base: {} entries, extra: {} entries",
        base.entries.len(),
        extra.entries.len()
    );
}
