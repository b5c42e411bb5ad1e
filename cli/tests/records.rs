//! Every recording, reading and editing command through the real binary, on
//! a temporary store: `--json` outputs, human outputs, and bad input (a clear
//! `error:`, a non-zero exit, nothing written, no resident data echoed).

mod common;

use common::{KEY, TestStore, has_files, run_env};

#[test]
fn init_creates_a_store_and_a_private_key_file() {
    let s = TestStore::uninit();
    let dir = s.dir.to_str().unwrap();
    // Without CARNET_KEY: a key file readable by its owner only.
    let v = run_env(&["--json", "--store", dir, "init", "--name", "amina"], &[]).json();
    assert_eq!(v["key_source"], "file");
    assert_eq!(v["author"], "amina");
    assert_eq!(v["enrolled"], false);
    let key = s.dir.join("carnet.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&s.dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    // The key file opens the store; init again keeps the same key and data.
    let id = run_env(
        &[
            "--json",
            "--store",
            dir,
            "note",
            "add",
            "--sector",
            "conte-joliot",
            "--text",
            "x",
        ],
        &[],
    )
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    run_env(&["--store", dir, "init"], &[]).ok();
    run_env(&["--store", dir, "show", &id], &[]).ok();
    // The database holds no readable text (encrypted).
    let db = std::fs::read(s.dir.join("carnet.db")).unwrap();
    assert!(
        !db.windows(6)
            .any(|w| w == b"amina" as &[u8] || w == b"SQLite")
    );
}

#[test]
fn a_readable_key_file_is_refused() {
    let s = TestStore::uninit();
    let dir = s.dir.to_str().unwrap();
    run_env(&["--store", dir, "init"], &[]).ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = s.dir.join("carnet.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = run_env(&["--store", dir, "list", "notes"], &[])
            .fails(1)
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}

#[test]
fn keys_are_checked_and_never_echoed() {
    let s = TestStore::new("amina");
    let dir = s.dir.to_str().unwrap();
    let bad = "not-a-key-zzzz";
    let err = run_env(&["--store", dir, "list", "notes"], &[("CARNET_KEY", bad)])
        .fails(1)
        .to_string();
    assert!(err.contains("CARNET_KEY") && !err.contains(bad), "{err}");
    let other = "f".repeat(64);
    let err = run_env(
        &["--store", dir, "list", "notes"],
        &[("CARNET_KEY", &other)],
    )
    .fails(1)
    .to_string();
    assert!(err.contains("key does not open this store"), "{err}");
    assert!(!err.contains(&other));
    // A store created with CARNET_KEY has no key file; without the variable it cannot be opened.
    let err = run_env(&["--store", dir, "list", "notes"], &[])
        .fails(1)
        .to_string();
    assert!(err.contains("no key"), "{err}");
    assert!(!s.dir.join("carnet.key").exists());
}

#[test]
fn commands_never_create_a_store_by_accident() {
    let s = TestStore::uninit();
    let err = s
        .run(&["note", "add", "--sector", "conte-joliot", "--text", "x"])
        .fails(1)
        .to_string();
    assert!(
        err.contains("no Carnet store") && err.contains("init"),
        "{err}"
    );
    assert!(!s.dir.exists());
    // No --store at all is a usage error.
    let err = run_env(&["list", "notes"], &[("CARNET_KEY", KEY)])
        .fails(2)
        .to_string();
    assert!(err.contains("--store"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let s = TestStore::new("amina");
    // Missing required flag, unknown kind, --lat without --lon, non-numeric count.
    for args in [
        &["note", "add", "--sector", "conte-joliot"][..],
        &["list", "photos"],
        &[
            "note",
            "add",
            "--sector",
            "conte-joliot",
            "--text",
            "x",
            "--lat",
            "43.2",
        ],
        &[
            "activity",
            "add",
            "--type",
            "shift",
            "--sector",
            "conte-joliot",
            "--met",
            "lots",
        ],
        &["export", "--format", "xls"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("error:"), "{r:?}");
    }
    assert!(s.list("notes").is_empty());
    assert!(s.list("activities").is_empty());
}

#[test]
fn note_add_with_every_flag() {
    let s = TestStore::new("amina");
    let id = s.create(&[
        "note",
        "add",
        "--sector",
        "Ozanam + Albignac",
        "--quartier",
        "albignac",
        "--text",
        "Réunion d'habitants",
        "--axis",
        "participation",
        "--axis",
        "Jeunesse",
        "--place",
        "Bât. 2",
        "--lat",
        "43.2",
        "--lon",
        "2.35",
        "--tag",
        "réunion",
        "--with",
        "karim",
        "--met",
        "12",
        "--at",
        "2026-11-20T10:00:00Z",
    ]);
    let notes = s.list("notes");
    assert_eq!(notes.len(), 1);
    let n = &notes[0];
    assert_eq!(n["id"], id.as_str());
    assert_eq!(n["sector"], "ozanam-albignac");
    assert_eq!(n["axes"], serde_json::json!(["jeunesse", "participation"]));
    assert_eq!(n["residents_met"], 12);
    assert_eq!(n["lat"], 43.2);
    assert_eq!(n["observed_at"], 1_795_168_800_000i64);
    assert_eq!(n["author"], "amina");
    // Human output names the record.
    let out = s
        .run(&["note", "add", "--sector", "conte-joliot", "--text", "Calme"])
        .ok()
        .to_string();
    assert!(out.starts_with("note recorded: "), "{out}");
}

#[test]
fn invalid_records_are_refused_and_nothing_is_written() {
    let s = TestStore::new("amina");
    for (args, field) in [
        (
            &["note", "add", "--sector", "nowhere", "--text", "x"][..],
            "sector",
        ),
        (
            &["note", "add", "--sector", "conte-joliot", "--text", "   "],
            "text",
        ),
        (
            &[
                "note",
                "add",
                "--sector",
                "conte-joliot",
                "--quartier",
                "fleming",
                "--text",
                "x",
            ],
            "quartier",
        ),
        (
            &[
                "note",
                "add",
                "--sector",
                "conte-joliot",
                "--text",
                "x",
                "--lat",
                "95",
                "--lon",
                "2",
            ],
            "lat",
        ),
        (
            &[
                "note",
                "add",
                "--sector",
                "conte-joliot",
                "--text",
                "x",
                "--axis",
                "sport",
            ],
            "axes",
        ),
        (
            &[
                "report",
                "add",
                "--sector",
                "conte-joliot",
                "--category",
                "potholes",
                "--place",
                "p",
                "--text",
                "x",
            ],
            "category",
        ),
        (
            &[
                "activity",
                "add",
                "--type",
                "party",
                "--sector",
                "conte-joliot",
            ],
            "activity_type",
        ),
        (
            &[
                "note",
                "add",
                "--sector",
                "conte-joliot",
                "--text",
                "x",
                "--at",
                "yesterday",
            ],
            "observed_at",
        ),
    ] {
        let err = s.run(args).fails(1).to_string();
        assert!(
            err.starts_with(&format!("error: {field}:")),
            "{args:?}: {err}"
        );
    }
    assert!(s.list("notes").is_empty());
    assert!(s.list("reports").is_empty());
    assert!(s.list("activities").is_empty());
}

#[test]
fn resident_data_never_appears_in_errors() {
    let s = TestStore::new("amina");
    let err = s
        .run(&[
            "contact",
            "add",
            "--name",
            "Jeanne Dupont",
            "--phone",
            "Jeanne Dupont 06",
        ])
        .fails(1)
        .to_string();
    assert!(err.contains("phone") && !err.contains("Jeanne"), "{err}");
    let err = s
        .run(&[
            "contact",
            "add",
            "--name",
            "Jeanne",
            "--landlord",
            "Jeanne's landlord",
        ])
        .fails(1)
        .to_string();
    assert!(!err.contains("Jeanne"), "{err}");
    let id = s.create(&["contact", "add", "--name", "Jeanne Dupont"]);
    let err = s.run(&["set", &id, "phone", "Dupont"]).fails(1).to_string();
    assert!(!err.contains("Dupont"), "{err}");
    assert_eq!(s.list("contacts").len(), 1);
}

#[test]
fn report_lifecycle_through_the_command_line() {
    let s = TestStore::new("karim");
    let id = s.create(&[
        "report",
        "add",
        "--sector",
        "grazailles-fleming",
        "--category",
        "lift",
        "--place",
        "Bât. F",
        "--text",
        "Ascenseur en panne",
        "--urgent",
    ]);
    // Comments: appended, shown with who wrote them.
    s.json(&["comment", &id, "Bailleur prévenu par téléphone"]);
    let d = s.json(&["show", &id]);
    assert_eq!(d["record"]["comments"][0]["by"], "karim");
    let text = s.run(&["show", &id]).ok().to_string();
    assert!(
        text.contains("Comments:") && text.contains("by karim  Bailleur prévenu"),
        "{text}"
    );
    s.run(&["comment", &id, "   "]).fails(1);
    let r = &s.list("reports")[0];
    assert_eq!(r["status"], "reported");
    assert_eq!(r["urgent"], true);
    assert_eq!(r["axes"], serde_json::json!(["cadre-de-vie"]));

    // Forwarding needs a known body; the error lists them.
    let err = s
        .run(&["report", "status", &id, "forwarded"])
        .fails(1)
        .to_string();
    assert!(err.contains("to:"), "{err}");
    let err = s
        .run(&["report", "status", &id, "forwarded", "--to", "mairie"])
        .fails(1)
        .to_string();
    assert!(err.contains("bailleur"), "{err}");
    // A transition the lifecycle forbids.
    let err = s
        .run(&["report", "status", &id, "closed"])
        .fails(1)
        .to_string();
    assert!(err.contains("cannot go from reported to closed"), "{err}");
    let err = s
        .run(&["report", "status", &id, "done"])
        .fails(1)
        .to_string();
    assert!(err.contains("status:"), "{err}");

    let v = s.json(&[
        "report",
        "status",
        &id,
        "forwarded",
        "--to",
        "bailleur",
        "--ref",
        "ASC-1",
        "--comment",
        "appel",
    ]);
    assert_eq!(v["status"], "forwarded");
    assert_eq!(v["body"], "bailleur");
    for st in ["in_progress", "resolved", "closed"] {
        assert_eq!(s.json(&["report", "status", &id, st])["status"], st);
    }
    let out = s.run(&["report", "status", &id, "reopen"]).ok().to_string();
    assert!(out.contains("is now reported"), "{out}");

    // Duplicates need the other report.
    let other = s.create(&[
        "report",
        "add",
        "--sector",
        "grazailles-fleming",
        "--category",
        "lift",
        "--place",
        "F",
        "--text",
        "idem",
    ]);
    let err = s
        .run(&["report", "status", &other, "duplicate"])
        .fails(1)
        .to_string();
    assert!(err.contains("duplicate_of"), "{err}");
    assert_eq!(
        s.json(&[
            "report",
            "status",
            &other,
            "duplicate",
            "--duplicate-of",
            &id
        ])["status"],
        "duplicate"
    );

    let d = s.json(&["show", &id]);
    let events = d["record"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["ref"], "ASC-1");
    assert!(d["history"].as_array().unwrap().len() >= 6);
    let text = s.run(&["show", &id]).ok().to_string();
    for want in [
        "Status history:",
        "forwarded",
        "to bailleur (Bailleur social)",
        "ref ASC-1",
        "Change history:",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // Status changes are for reports only.
    let note = s.create(&["note", "add", "--sector", "conte-joliot", "--text", "x"]);
    s.run(&["report", "status", &note, "forwarded", "--to", "bailleur"])
        .fails(1);
}

#[test]
fn contacts_consent_log_and_erasure() {
    let s = TestStore::new("karim");
    let id = s.create(&[
        "contact",
        "add",
        "--name",
        "Mme Exemple",
        "--phone",
        "06 00 00 00 00",
        "--address",
        "3 rue X",
        "--consent",
        "telephone",
        "--consent",
        "orientation",
        "--topic",
        "énergie",
        "--sector",
        "ozanam-albignac",
        "--landlord",
        "bailleur",
        "--new-tenant-visit",
    ]);
    s.json(&[
        "contact",
        "log",
        &id,
        "--text",
        "Dossier chèque énergie",
        "--referral",
        "France Services",
    ]);
    let d = s.json(&["show", &id]);
    let c = &d["record"];
    assert_eq!(c["name"], "Mme Exemple");
    assert_eq!(c["consents"].as_array().unwrap().len(), 2);
    assert_eq!(c["new_tenant_visit"], true);
    assert_eq!(c["interactions"][0]["referral"], "France Services");
    // Withdrawing `telephone` clears the number; show says who did what.
    s.json(&["consent", "withdraw", &id, "téléphone"]);
    let d = s.json(&["show", &id]);
    assert!(d["record"]["phone"].is_null(), "{d}");
    let text = s.run(&["show", &id]).ok().to_string();
    assert!(text.contains("contact par téléphone: given"), "{text}");
    assert!(
        text.contains("withdrawn") && text.contains("by karim"),
        "{text}"
    );
    s.run(&["consent", "give", &id, "newsletter"]).fails(1);
    assert_eq!(
        s.json(&["list", "contacts", "--search", "Exemple"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A note refers to the contact; erasing the contact leaves the note.
    let note = s.create(&[
        "note",
        "add",
        "--sector",
        "conte-joliot",
        "--text",
        "Visite",
    ]);
    s.json(&["set", &note, "contacts", &id]);
    let v = s.json(&["contact", "erase", &id]);
    assert_eq!(v["erased"], true);
    assert!(s.list("contacts").is_empty());
    let err = s.run(&["show", &id]).fails(1).to_string();
    assert!(err.contains("erased"), "{err}");
    assert_eq!(
        s.json(&["show", &note])["record"]["contacts"][0]["state"],
        "erased"
    );
    // Only contacts are erased.
    let err = s.run(&["contact", "erase", &note]).fails(1).to_string();
    assert!(err.contains("only resident contacts"), "{err}");
}

#[test]
fn activity_add_maps_flags_to_fields() {
    let s = TestStore::new("lucie");
    let id = s.create(&[
        "activity",
        "add",
        "--type",
        "aller-vers",
        "--sector",
        "grazailles-fleming",
        "--quartier",
        "grazailles",
        "--place",
        "Place de Grazailles",
        "--started",
        "2026-11-20T13:00:00Z",
        "--ended",
        "2026-11-20T16:00:00Z",
        "--met",
        "14",
        "--new-contacts",
        "9",
        "--referrals",
        "3",
        "--with",
        "karim",
        "--topic",
        "énergie",
        "--partner",
        "CAF",
        "--axis",
        "participation",
        "--text",
        "Barnum et café",
    ]);
    let a = &s.list("activities")[0];
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["activity_type"], "aller_vers");
    assert_eq!(a["met_known"], 14);
    assert_eq!(a["met_new"], 9);
    assert_eq!(a["referrals"], 3);
    assert_eq!(a["partners"], serde_json::json!(["CAF"]));
    assert_eq!(
        a["ended_at"].as_i64().unwrap() - a["started_at"].as_i64().unwrap(),
        3 * 3600 * 1000
    );
}

#[test]
fn set_edits_any_field_and_explains_refusals() {
    let s = TestStore::new("amina");
    let id = s.create(&[
        "report",
        "add",
        "--sector",
        "conte-joliot",
        "--category",
        "lighting",
        "--place",
        "Parking",
        "--text",
        "Lampe",
    ]);
    s.json(&["set", &id, "place", "Parking nord"]);
    s.json(&["set", &id, "urgent", "oui"]);
    s.json(&["set", &id, "axes", "cadre-de-vie,tranquillite"]);
    s.json(&["set", &id, "text", "Lampe cassée"]);
    s.json(&["set", &id, "quartier", "la-conte"]);
    s.json(&["set", &id, "quartier", ""]);
    let r = &s.list("reports")[0];
    assert_eq!(r["place"], "Parking nord");
    assert_eq!(r["urgent"], true);
    assert_eq!(r["text"], "Lampe cassée");
    assert_eq!(r["quartier"], serde_json::Value::Null);
    assert_eq!(r["axes"].as_array().unwrap().len(), 2);

    let err = s.run(&["set", &id, "colour", "red"]).fails(1).to_string();
    assert!(
        err.contains("editable fields:") && err.contains("place"),
        "{err}"
    );
    let err = s.run(&["set", &id, "events", "x"]).fails(1).to_string();
    assert!(err.contains("own operation"), "{err}");
    let err = s.run(&["set", &id, "place", ""]).fails(1).to_string();
    assert!(err.contains("place"), "{err}");
    let err = s
        .run(&["set", "not-an-id", "place", "x"])
        .fails(1)
        .to_string();
    assert!(err.contains("id:"), "{err}");
    let missing = "0192f0c8-7c1e-7d3a-9e1f-3b2a1c0d4e5f";
    let err = s.run(&["set", missing, "place", "x"]).fails(1).to_string();
    assert!(err.contains("no record"), "{err}");
    assert_eq!(s.list("reports")[0]["place"], "Parking nord");
}

#[test]
fn list_filters_pages_and_searches() {
    let s = TestStore::new("amina");
    for (sector, text, axis) in [
        ("conte-joliot", "Jeunes au city stade", "jeunesse"),
        ("conte-joliot", "Dépôt sauvage rue Fleming", "cadre-de-vie"),
        (
            "grazailles-fleming",
            "Réunion de locataires",
            "participation",
        ),
    ] {
        s.create(&[
            "note", "add", "--sector", sector, "--text", text, "--axis", axis,
        ]);
    }
    let lights = s.create(&[
        "report",
        "add",
        "--sector",
        "conte-joliot",
        "--category",
        "lighting",
        "--place",
        "P",
        "--text",
        "x",
    ]);
    s.create(&[
        "report",
        "add",
        "--sector",
        "conte-joliot",
        "--category",
        "lift",
        "--place",
        "Q",
        "--text",
        "y",
    ]);
    s.json(&["report", "status", &lights, "rejected"]);

    let count = |args: &[&str]| {
        let mut a = vec!["list"];
        a.extend_from_slice(args);
        s.json(&a)["items"].as_array().unwrap().len()
    };
    assert_eq!(count(&["notes"]), 3);
    assert_eq!(count(&["note", "--sector", "conte-joliot"]), 2);
    assert_eq!(count(&["notes", "--sector", "La Conte + Joliot Curie"]), 2);
    assert_eq!(count(&["notes", "--axis", "jeunesse"]), 1);
    assert_eq!(count(&["notes", "--search", "locataire"]), 1);
    assert_eq!(
        count(&["notes", "--since", "2000-01-01", "--until", "2100-01-01"]),
        3
    );
    assert_eq!(count(&["notes", "--since", "2100-01-01"]), 0);
    assert_eq!(count(&["reports", "--status", "rejected"]), 1);
    assert_eq!(count(&["reports", "--open"]), 1);
    let page = s.json(&["list", "notes", "--limit", "2"]);
    assert_eq!(page["has_more"], true);
    assert_eq!(count(&["notes", "--limit", "2", "--offset", "2"]), 1);
    let text = s.run(&["list", "notes", "--limit", "2"]).ok().to_string();
    assert!(text.contains("--offset 2"), "{text}");
    let text = s.run(&["list", "activities"]).ok().to_string();
    assert!(text.contains("no activity match"), "{text}");
    s.run(&["list", "reports", "--status", "done"]).fails(1);
    s.run(&["list", "notes", "--since", "soon"]).fails(1);
}

#[test]
fn sync_and_export_need_an_enrolled_store() {
    let s = TestStore::new("amina");
    for args in [
        &["sync"][..],
        &["export", "--format", "csv"],
        &["show", "0192f0c8-7c1e-7d3a-9e1f-3b2a1c0d4e5f", "--server"],
    ] {
        let err = s.run(args).fails(1).to_string();
        assert!(err.contains("not enrolled"), "{args:?}: {err}");
    }
    assert!(has_files(&s.dir));
}
