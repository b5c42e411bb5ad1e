//! Backups of a running server and restores from them: the team keeps
//! working after the backup, the server goes back to it, and every device's
//! next syncs give back what it lost, with nothing doubled.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use carnet_core::Kind;
use carnet_server::Storage;
use common::*;
use serde_json::json;

/// Every change hash a store's log holds, and how many log rows hold one.
fn hashes(db: &Path) -> (BTreeSet<Vec<u8>>, usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let rows: Vec<Vec<u8>> = conn
        .prepare("SELECT hash FROM change_log WHERE hash IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let n = rows.len();
    (rows.into_iter().collect(), n)
}

fn team_db(data: &Path, team: &str) -> std::path::PathBuf {
    data.join("teams").join(format!("{team}.db"))
}

/// The team's records as the server holds them, in the devices' order.
fn server_records(data: &Path, team: &str) -> Vec<serde_json::Value> {
    let store = carnet_core::Store::open_unencrypted(team_db(data, team)).unwrap();
    let page = store.list(&carnet_core::store::Query::default()).unwrap();
    assert!(!page.has_more);
    let mut all: Vec<_> = page
        .items
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    all
}

#[test]
fn a_restore_from_an_older_backup_loses_nothing_a_device_holds() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "Carcassonne");
    let server = TestServer::start(data.path());
    let devices: Vec<Device> = ["amina", "bruno", "chloé"]
        .iter()
        .map(|n| enroll(&server, &team_id, "mediator", n))
        .collect();
    let [a, b, c] = [&devices[0], &devices[1], &devices[2]];

    // Work the backup will hold.
    let report = a
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "ozanam-albignac", "category": "lift", "place": "Bât. B", "text": "Ascenseur en panne"})),
        )
        .unwrap();
    b.note("conte-joliot", "avant la sauvegarde");
    let contact = c
        .store
        .create(
            Kind::Contact,
            &fields(json!({"name": "Mme Exemple", "consents": ["telephone", "orientation"], "phone": "0600000000"})),
        )
        .unwrap();
    for d in [a, b, c, a, b] {
        d.sync(&server.url()).unwrap();
    }

    // A supervisor's account, a pending invitation, the team's TOTP rule.
    let lite = carnet_server::SqliteStorage::open(data.path()).unwrap();
    let awa = account(&lite, &team_id, "Awa", "awa@exemple.fr");
    lite.set_require_totp(&team_id, true).unwrap();
    let invited = lite
        .create_account(&team_id, "Bruno", "bruno@exemple.fr")
        .unwrap();
    let invitation = lite.issue_invitation(&invited.id, 60_000).unwrap();
    drop(lite);

    // Backed up while it runs.
    let file = out.path().join("carnet.backup");
    let backed = carnet_server::backup::backup(data.path(), &file).unwrap();
    assert_eq!(backed.teams, 1);
    assert!(
        backed
            .databases
            .iter()
            .any(|d| d.path == format!("teams/{team_id}.db"))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The team keeps working and syncing: new records, edits, an erasure.
    let later = a.note("viguier-saint-jacques", "après la sauvegarde");
    b.store
        .set_field(report, "text", &json!("Ascenseur en panne depuis lundi"))
        .unwrap();
    c.note("grazailles-fleming", "après la sauvegarde aussi");
    c.store.erase(contact).unwrap();
    for d in [a, b, c, a, b, c] {
        d.sync(&server.url()).unwrap();
    }
    let expected = a.all();
    assert_eq!(expected.len(), 4);
    let (expected_hashes, _) = hashes(&team_db(data.path(), &team_id));
    server.stop();

    // The server goes back to the backup.
    let restored = carnet_server::backup::restore(&file, data.path(), true).unwrap();
    assert_eq!(restored.teams, 1);
    assert_eq!(server_records(data.path(), &team_id).len(), 3, "older");
    {
        let lite = carnet_server::SqliteStorage::open(data.path()).unwrap();
        let back = lite.account(&awa).unwrap().unwrap();
        assert!(carnet_dashboard::accounts::verify_password(
            back.password_hash.as_deref().unwrap(),
            PASSWORD
        ));
        assert!(lite.require_totp(&team_id).unwrap());
        assert_eq!(
            lite.invitation(&invitation.code).unwrap().unwrap().id,
            invited.id
        );
    }
    let server = TestServer::start(data.path());
    // `a` builds on a change of its own the server lost before it syncs.
    a.store
        .set_field(later, "text", &json!("après la restauration"))
        .unwrap();

    for d in [a, b, c] {
        let s = d.sync(&server.url()).unwrap();
        assert!(s.restarted, "{} did not notice the restore", d.name);
    }
    for d in [a, b, c] {
        let s = d.sync(&server.url()).unwrap();
        assert!(!s.restarted);
    }
    server.stop();

    let all = a.all();
    assert_eq!(all.len(), 4);
    assert_eq!(b.all(), all);
    assert_eq!(c.all(), all);
    assert_eq!(server_records(data.path(), &team_id), all);
    assert!(a.store.get(contact).is_err(), "the erasure came back too");
    let text = |id| serde_json::to_value(a.store.get(id).unwrap()).unwrap()["text"].clone();
    assert_eq!(text(later), json!("après la restauration"));
    assert_eq!(text(report), json!("Ascenseur en panne depuis lundi"));
    // Every change once, on the server and on every device.
    let (server_hashes, rows) = hashes(&team_db(data.path(), &team_id));
    assert_eq!(rows, server_hashes.len(), "a change is twice in the log");
    assert!(
        server_hashes.is_superset(&expected_hashes),
        "a change was lost"
    );
    assert_eq!(server_hashes.len(), expected_hashes.len() + 1);
    for d in &devices {
        let (got, rows) = hashes(&d.store.path().unwrap());
        assert_eq!(rows, got.len(), "{} logged a change twice", d.name);
        assert_eq!(got, server_hashes, "{}", d.name);
    }
}

#[test]
fn a_backup_taken_while_devices_push_is_a_consistent_deployment() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let devices: Vec<Device> = ["a", "b"]
        .iter()
        .map(|n| enroll(&server, &team_id, "mediator", n))
        .collect();
    let files: Vec<_> = (0..3)
        .map(|i| out.path().join(format!("backup-{i}")))
        .collect();
    std::thread::scope(|s| {
        for d in &devices {
            let url = server.url();
            s.spawn(move || {
                for i in 0..20 {
                    d.note("conte-joliot", &format!("note {i}"));
                    d.sync(&url).unwrap();
                }
            });
        }
        for f in &files {
            carnet_server::backup::backup(data.path(), f).unwrap();
        }
    });
    for d in &devices {
        d.sync(&server.url()).unwrap();
    }
    server.stop();
    let expected = devices[0].all();
    assert_eq!(expected.len(), 40);
    assert_eq!(devices[1].all(), expected);

    // Each backup is a deployment that serves, and devices complete it.
    for f in &files {
        let dir = tempfile::tempdir().unwrap();
        let restored = dir.path().join("data");
        carnet_server::backup::restore(f, &restored, false).unwrap();
        let held = server_records(&restored, &team_id);
        assert!(held.iter().all(|r| expected.contains(r)));
        let (got, rows) = hashes(&team_db(&restored, &team_id));
        assert_eq!(rows, got.len());
        let server = TestServer::start(&restored);
        for d in &devices {
            d.sync(&server.url()).unwrap();
        }
        server.stop();
        assert_eq!(server_records(&restored, &team_id), expected);
    }
}

#[test]
fn a_restore_refuses_what_is_not_a_whole_backup_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let file = out.path().join("b");
    carnet_server::backup::backup(data.path(), &file).unwrap();

    // Not over a deployment without --force.
    let err = carnet_server::backup::restore(&file, data.path(), false).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");

    // Not a backup, or a damaged one: refused before anything is touched.
    let garbage = out.path().join("garbage");
    std::fs::write(&garbage, b"not a tar archive at all").unwrap();
    let mut cut = std::fs::read(&file).unwrap();
    cut.truncate(cut.len() / 2);
    let truncated = out.path().join("truncated");
    std::fs::write(&truncated, &cut).unwrap();
    let before = std::fs::read(team_db(data.path(), &team_id)).unwrap();
    for bad in [&garbage, &truncated] {
        let err = carnet_server::backup::restore(bad, data.path(), true).unwrap_err();
        assert!(err.to_string().contains("not a Carnet backup"), "{err}");
        let fresh = out.path().join("fresh");
        assert!(carnet_server::backup::restore(bad, &fresh, false).is_err());
        assert!(!fresh.exists(), "a directory made for nothing");
    }
    assert_eq!(
        std::fs::read(team_db(data.path(), &team_id)).unwrap(),
        before
    );
    assert!(
        carnet_server::backup::backup(&out.path().join("nowhere"), &file).is_err(),
        "no deployment there"
    );
}

#[test]
fn photos_are_backed_up_and_restored_with_the_databases() {
    use carnet_core::photo::PhotoHash;
    use carnet_server::storage::BlobStore;
    use carnet_server::storage::blobs::FilesBlobStore;

    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let blobs = FilesBlobStore::new(&data.path().join("blobs"));
    let put = |bytes: &[u8], complete: bool| {
        let hash = PhotoHash::of(bytes);
        blobs.append(&team_id, &hash, 0, bytes).unwrap();
        if complete {
            blobs.complete(&team_id, &hash, &|_| Ok(())).unwrap();
        }
        hash
    };
    let kept = put(b"a photo's bytes", true);
    let partial = put(b"an upload in progress", false);
    let file = out.path().join("b");
    let backed = carnet_server::backup::backup(data.path(), &file).unwrap();
    assert_eq!((backed.photos, backed.photo_bytes), (1, 15));

    // After the backup: the photo erased, another one uploaded.
    blobs.delete(&team_id, &kept).unwrap();
    let later = put(b"a later photo", true);
    let restored = carnet_server::backup::restore(&file, data.path(), true).unwrap();
    assert_eq!(restored.photos, 1);
    let blobs = FilesBlobStore::new(&data.path().join("blobs"));
    assert_eq!(
        blobs.read(&team_id, &kept, 0, 100).unwrap().unwrap(),
        b"a photo's bytes"
    );
    assert_eq!(blobs.state(&team_id, &later).unwrap().received, 0);
    assert_eq!(blobs.state(&team_id, &partial).unwrap().received, 0);

    // Into a fresh directory, owner-only.
    let fresh = out.path().join("fresh");
    carnet_server::backup::restore(&file, &fresh, false).unwrap();
    let hex = kept.to_hex();
    let path = fresh
        .join("blobs")
        .join(&team_id)
        .join(&hex[..2])
        .join(&hex);
    assert_eq!(std::fs::read(&path).unwrap(), b"a photo's bytes");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
