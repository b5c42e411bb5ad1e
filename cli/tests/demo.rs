//! `carnet demo --json` end to end: the real server in-process, three
//! mediators' stores, a concurrent edit; then the stores it leaves behind are
//! read again through the binary to check they converged.

mod common;

use common::run_env;
use serde_json::Value;

#[test]
fn demo_converges_and_reports_the_concurrent_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let started = std::time::Instant::now();
    let v = run_env(&["demo", "--json", "--dir", dir.to_str().unwrap()], &[]).json();
    assert!(started.elapsed().as_secs() < 60, "the demo must be quick");

    assert_eq!(v["converged"], true, "{v:#}");
    let records = v["records_per_store"].as_u64().unwrap();
    assert_eq!(v["server"]["records"].as_u64(), Some(records));
    let pic = &v["picture"];
    // Every sector has work; every kind is there.
    let sectors = pic["by_sector"].as_array().unwrap();
    assert_eq!(sectors.len(), 4, "{pic:#}");
    for s in sectors {
        let n: u64 = s["counts"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert!(n > 0, "sector without work: {s}");
    }
    for kind in ["note", "report", "contact", "activity"] {
        assert!(pic["totals"][kind].as_u64().unwrap() >= 1, "{kind}");
    }
    let total: u64 = pic["totals"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, records);
    assert!(!pic["open_reports"].as_array().unwrap().is_empty());
    assert!(pic["met_new"].as_i64().unwrap() > 0);

    // The concurrent edit: the same field conflicts with both values kept;
    // both additions to the text survive.
    let shared = &pic["shared"];
    let conflicts = shared["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{shared:#}");
    assert_eq!(conflicts[0]["field"], "place");
    let mut values: Vec<&str> = conflicts[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    values.sort();
    let mut written: Vec<&str> = shared["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["place"].as_str().unwrap())
        .collect();
    written.sort();
    assert_eq!(values, written);
    assert_eq!(shared["both_texts_kept"], true);
    for e in shared["edits"].as_array().unwrap() {
        assert!(
            shared["text"]
                .as_str()
                .unwrap()
                .contains(e["added"].as_str().unwrap().trim())
        );
    }
    // Syncs reported the conflict to those who received it.
    assert!(
        v["syncs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| !s["conflicts"].as_array().unwrap().is_empty())
    );

    // The stores it kept open with their key files and say the same thing.
    let id = shared["id"].as_str().unwrap();
    let stores = v["stores"].as_object().unwrap();
    let list = |who: &str, kind: &str| -> Value {
        let store = stores[who].as_str().unwrap();
        run_env(
            &["--json", "--store", store, "list", kind, "--limit", "1000"],
            &[],
        )
        .json()["items"]
            .clone()
    };
    for kind in ["notes", "reports", "contacts", "activities"] {
        let a = list("amina", kind);
        assert_eq!(a, list("karim", kind), "{kind}");
        assert_eq!(a, list("lucie", kind), "{kind}");
    }
    for who in ["amina", "karim", "lucie"] {
        let d = run_env(
            &[
                "--json",
                "--store",
                stores[who].as_str().unwrap(),
                "show",
                id,
            ],
            &[],
        )
        .json();
        assert_eq!(d["conflicts"], shared["conflicts"], "{who}");
    }
    // The printed commands are runnable as they are.
    let first = v["commands"][0].as_str().unwrap();
    assert!(
        first.starts_with("carnet --store ") && first.ends_with(&format!("show {id}")),
        "{first}"
    );
}

#[test]
fn demo_prints_a_readable_story() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = run_env(&["demo", "--dir", dir.to_str().unwrap()], &[])
        .ok()
        .to_string();
    for want in [
        "converged",
        "Grazailles + Fleming",
        "Open signalements",
        "CONFLICT",
        "both sentences kept",
        "carnet --store",
        "everything is kept in",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    // A second run refuses a directory that is not empty.
    let r = run_env(&["demo", "--dir", dir.to_str().unwrap()], &[]);
    assert!(r.fails(2).contains("not empty"));
}
