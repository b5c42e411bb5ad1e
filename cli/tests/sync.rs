//! `init --server`, `sync`, `export` and `show --server` against the real
//! server on a loopback port.

mod common;

use common::{TestServer, TestStore, has_files};

#[test]
fn a_bad_code_enrolls_nothing_and_writes_nothing() {
    let server = TestServer::start();
    let s = TestStore::uninit();
    let err = s
        .run(&["init", "--server", &server.url, "--code", "WRONG-CODE"])
        .fails(1)
        .to_string();
    assert!(
        err.contains("server refused") || err.contains("code"),
        "{err}"
    );
    assert!(!has_files(&s.dir), "a failed init left files behind");
    // An address that is not http(s).
    let err = s
        .run(&["init", "--server", "carnet.example.org", "--code", "X"])
        .fails(1)
        .to_string();
    assert!(err.contains("server:"), "{err}");
    // --server without --code is a usage error.
    assert_eq!(s.run(&["init", "--server", &server.url]).code, 2);
    assert!(!has_files(&s.dir));
}

#[test]
fn two_mediators_sync_and_see_the_conflict() {
    let server = TestServer::start();
    let amina = common::TestStore::uninit();
    let v = amina.json(&[
        "init",
        "--server",
        &server.url,
        "--code",
        &server.mediator_code("amina"),
        "--name",
        "amina",
    ]);
    assert_eq!(v["role"], "mediator");
    assert_eq!(v["team"], "Équipe de test");
    let karim = server.enrolled("karim", &server.mediator_code("karim"));
    // One store is one device: enrolling it again while its device is in
    // good standing is refused, and the store keeps its enrollment.
    let err = amina
        .run(&[
            "init",
            "--server",
            &server.url,
            "--code",
            &server.mediator_code("amina2"),
        ])
        .fails(1)
        .to_string();
    assert!(err.contains("409") && err.contains("revoke"), "{err}");

    let id = amina.create(&[
        "report",
        "add",
        "--sector",
        "viguier-saint-jacques",
        "--category",
        "doors-locks",
        "--place",
        "12 rue",
        "--text",
        "Porte forcée.",
    ]);
    amina.create(&["note", "add", "--sector", "conte-joliot", "--text", "Calme"]);
    let s = amina.json(&["sync"]);
    assert_eq!(s["pushed"], 2);
    assert_eq!(s["pulled"], 0);
    let s = karim.json(&["sync"]);
    assert_eq!(s["pulled"], 2);
    assert_eq!(karim.list("reports")[0]["id"], id.as_str());

    // Both edit the same report offline.
    amina.json(&["set", &id, "place", "12 rue, hall A"]);
    amina.json(&["set", &id, "text", "Porte forcée. Serrure arrachée."]);
    karim.json(&["set", &id, "place", "12 rue, hall B"]);
    karim.json(&[
        "set",
        &id,
        "text",
        "Porte forcée. Allées et venues la nuit.",
    ]);
    amina.json(&["sync"]);
    let s = karim.json(&["sync"]);
    assert_eq!(s["conflicts"][0]["id"], id.as_str(), "{s}");
    assert_eq!(s["conflicts"][0]["conflicts"][0]["field"], "place");
    let human = amina.run(&["sync"]).ok().to_string();
    assert!(
        human.contains("pulled") && human.contains(&id) && human.contains("place"),
        "{human}"
    );

    for store in [&amina, &karim] {
        let d = store.json(&["show", &id]);
        let text = d["record"]["text"].as_str().unwrap();
        assert!(
            text.contains("Serrure arrachée") && text.contains("Allées et venues"),
            "{text}"
        );
        assert_eq!(d["conflicts"][0]["values"].as_array().unwrap().len(), 2);
        let shown = store.run(&["show", &id]).ok().to_string();
        assert!(
            shown.contains("Conflicts") && shown.contains("hall A") && shown.contains("hall B"),
            "{shown}"
        );
    }
    // Writing the field resolves the conflict, everywhere after a sync.
    karim.json(&["set", &id, "place", "12 rue, hall B"]);
    karim.json(&["sync"]);
    amina.json(&["sync"]);
    assert!(
        amina.json(&["show", &id])["conflicts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // An erasure travels.
    let c = amina.create(&[
        "contact",
        "add",
        "--name",
        "Mme Exemple",
        "--consent",
        "suivi",
    ]);
    amina.json(&["sync"]);
    karim.json(&["sync"]);
    assert_eq!(karim.list("contacts").len(), 1);
    karim.json(&["contact", "erase", &c]);
    karim.json(&["sync"]);
    let s = amina.json(&["sync"]);
    assert_eq!(s["erased"], 1);
    assert!(amina.list("contacts").is_empty());

    // A mediator may not pull the merged log.
    let err = amina
        .run(&["export", "--format", "csv"])
        .fails(1)
        .to_string();
    assert!(err.contains("403") && err.contains("supervisor"), "{err}");
}

#[test]
fn a_supervisor_exports_the_merged_log() {
    let server = TestServer::start();
    let amina = server.enrolled("amina", &server.mediator_code("amina"));
    let sup = server.enrolled("coordination", &server.supervisor_code);
    let r = amina.create(&[
        "report",
        "add",
        "--sector",
        "grazailles-fleming",
        "--category",
        "lift",
        "--place",
        "Bât. F",
        "--text",
        "=1+1 panne",
    ]);
    amina.create(&[
        "note",
        "add",
        "--sector",
        "conte-joliot",
        "--text",
        "Calme",
        "--at",
        "2020-01-01",
    ]);
    amina.json(&["sync"]);

    let csv = sup.run(&["export", "--format", "csv"]).ok().to_string();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,kind,author"), "{csv}");
    assert_eq!(lines.count(), 2, "{csv}");
    assert!(csv.contains("'=1+1 panne"), "formulas are defused: {csv}");

    let v: serde_json::Value = serde_json::from_str(
        sup.run(&["export", "--format", "json", "--kind", "reports"])
            .ok(),
    )
    .unwrap();
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["id"], r.as_str());
    let v: serde_json::Value = serde_json::from_str(
        sup.run(&["export", "--format", "json", "--since", "2021-01-01"])
            .ok(),
    )
    .unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    let v: serde_json::Value = serde_json::from_str(
        sup.run(&[
            "export",
            "--format",
            "json",
            "--sector",
            "Grazailles + Fleming",
        ])
        .ok(),
    )
    .unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    sup.run(&["export", "--kind", "photos"]).fails(1);
    sup.run(&["export", "--since", "someday"]).fails(1);

    // A record's history from the server, without syncing it to this device.
    let d = sup.json(&["show", &r, "--server"]);
    assert_eq!(d["record"]["id"], r.as_str());
    assert!(!d["history"].as_array().unwrap().is_empty());
    let text = sup.run(&["show", &r, "--server"]).ok().to_string();
    assert!(
        text.starts_with(&format!("report {r}")) && text.contains("Change history:"),
        "{text}"
    );
    let err = sup
        .run(&["show", "0192f0c8-7c1e-7d3a-9e1f-3b2a1c0d4e5f", "--server"])
        .fails(1)
        .to_string();
    assert!(err.contains("no record"), "{err}");
}

#[test]
fn a_supervisor_manages_codes_and_devices() {
    let server = TestServer::start();
    let sup = server.enrolled("coordination", &server.supervisor_code);
    let code = sup.json(&[
        "admin",
        "code",
        "--role",
        "mediator",
        "--name",
        "tablette 3",
    ])["code"]
        .as_str()
        .unwrap()
        .to_string();
    let lost = server.enrolled("amina", &code);
    let revoked = server.enrolled("karim", &server.mediator_code("karim"));
    lost.create(&["note", "add", "--sector", "conte-joliot", "--text", "x"]);
    lost.json(&["sync"]);

    let devices = sup.json(&["admin", "devices"])["devices"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(devices.len(), 3);
    let device_id = |name: &str| {
        devices
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {devices:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let text = sup.run(&["admin", "devices"]).ok().to_string();
    assert!(
        text.contains("tablette 3") || text.contains("amina"),
        "{text}"
    );

    // Revoked: the next sync is refused.
    let v = sup.json(&["admin", "revoke", &device_id("karim")]);
    assert!(v["revoked_at"].is_i64(), "{v}");
    let err = revoked.run(&["sync"]).fails(1).to_string();
    assert!(err.contains("revoked"), "{err}");

    // Wiped: the next contact erases the store.
    sup.json(&["admin", "wipe", &device_id("amina")]);
    let err = lost.run(&["sync"]).fails(1).to_string();
    assert!(err.contains("wiped"), "{err}");
    assert!(lost.list("notes").is_empty());

    // Mediators may not manage devices; bad ids are refused before any request.
    let m = server.enrolled("lucie", &server.mediator_code("lucie"));
    assert!(m.run(&["admin", "devices"]).fails(1).contains("403"));
    assert!(
        sup.run(&["admin", "revoke", "../x"])
            .fails(1)
            .contains("device")
    );
    assert_eq!(sup.run(&["admin", "code", "--role", "boss"]).code, 2);
}

#[test]
fn rotate_token_saves_the_new_token_and_syncing_goes_on() {
    let server = TestServer::start();
    let s = server.enrolled("samia", &server.mediator_code("samia"));
    let v = s.json(&["rotate-token"]);
    assert_eq!(v["rotated"], true);
    // The old token is dead at once (sync-server/tests/trust.rs): a sync
    // works only if the store now holds the new one.
    s.create(&["note", "add", "--sector", "conte-joliot", "--text", "Calme"]);
    assert_eq!(s.json(&["sync"])["pushed"], 1);
}
