//! `carnet photo add|list|get|remove` through the real binary: on a local
//! store (the photo made, listed, saved, removed; bad files and records that
//! take no photo refused with nothing changed), and between two mediators
//! through the real server (thumbnail at sync, full photo on demand, a
//! removal erasing it on the other device).

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use common::{TestServer, TestStore};
use serde_json::Value;

/// A JPEG of `w`×`h` pixels (a gradient, so it compresses like a photo
/// rather than to nothing), written into `dir`.
fn jpeg(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&img)
        .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Width and height of an image file.
fn dimensions(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let img = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap();
    (img.width(), img.height())
}

fn report(s: &TestStore) -> String {
    s.create(&[
        "report",
        "add",
        "--sector",
        "conte-joliot",
        "--category",
        "graffiti",
        "--place",
        "Bât. C, hall",
        "--text",
        "Tags sur la porte.",
    ])
}

fn photos(s: &TestStore, id: &str) -> Vec<Value> {
    s.json(&["photo", "list", id])["photos"]
        .as_array()
        .unwrap()
        .clone()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_photo_is_added_listed_saved_and_removed() {
    let s = TestStore::new("amina");
    let tmp = tempfile::tempdir().unwrap();
    let id = report(&s);
    let big = jpeg(tmp.path(), "porte.jpg", 2400, 1800);

    let added = s.json(&["photo", "add", &id, path(&big)]);
    let hash = added["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64, "{added}");
    // Reduced to the team's 1600 px, proportions kept.
    assert_eq!(
        (added["width"].as_u64(), added["height"].as_u64()),
        (Some(1600), Some(1200))
    );

    // The human face prints the hash too; a second photo is a second entry.
    let small = jpeg(tmp.path(), "serrure.jpg", 640, 480);
    let text = s.run(&["photo", "add", &id, path(&small)]).ok().to_string();
    assert!(text.contains(&id) && text.contains("640×480"), "{text}");

    let list = photos(&s, &id);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["hash"], hash.as_str());
    for p in &list {
        assert_eq!(p["has_full"], true);
        assert_eq!(p["has_thumbnail"], true);
        assert_eq!(p["uploaded"], false, "not synced yet");
        assert!(p["size"].as_u64().unwrap() > p["thumb_size"].as_u64().unwrap());
    }
    let small_hash = list[1]["hash"].as_str().unwrap().to_string();
    assert!(text.contains(&small_hash), "{text}");
    let human = s.run(&["photo", "list", &id]).ok().to_string();
    assert!(
        human.contains(&hash)
            && human.contains("1600×1200")
            && human.contains("waiting to be sent"),
        "{human}"
    );
    let shown = s.run(&["show", &id]).ok().to_string();
    assert!(
        shown.contains("photos") && shown.contains("carnet photo list"),
        "{shown}"
    );

    // Saved whole, as a JPEG readable by its owner only.
    let out = tmp.path().join("full.jpg");
    let got = s.json(&["photo", "get", &id, &hash, "--out", path(&out)]);
    assert_eq!(got["variant"], "full");
    assert_eq!(dimensions(&out), (1600, 1200));
    assert_eq!(
        std::fs::read(&out).unwrap().len() as u64,
        list[0]["size"].as_u64().unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
    }
    let thumb = tmp.path().join("thumb.jpg");
    s.json(&[
        "photo",
        "get",
        &id,
        &hash,
        "--out",
        path(&thumb),
        "--thumbnail",
    ]);
    assert_eq!(dimensions(&thumb), (320, 240));

    // Removed: gone from the list, erased (not readable, not addable again).
    let v = s.json(&["photo", "remove", &id, &hash]);
    assert_eq!(v["removed"], true);
    let list = photos(&s, &id);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["hash"], small_hash.as_str());
    let err = s
        .run(&[
            "photo",
            "get",
            &id,
            &hash,
            "--out",
            path(&tmp.path().join("x.jpg")),
        ])
        .fails(1)
        .to_string();
    assert!(err.contains("erased"), "{err}");
    assert!(!tmp.path().join("x.jpg").exists());
    let err = s.run(&["photo", "remove", &id, &hash]).fails(1).to_string();
    assert!(err.contains("erased"), "{err}");
    let err = s
        .run(&["photo", "add", &id, path(&big)])
        .fails(1)
        .to_string();
    assert!(err.contains("erased"), "{err}");
    assert_eq!(photos(&s, &id).len(), 1);
}

#[test]
fn a_bad_photo_file_is_refused_and_nothing_changes() {
    let s = TestStore::new("amina");
    let tmp = tempfile::tempdir().unwrap();
    let id = report(&s);
    let history = |s: &TestStore| s.json(&["show", &id])["history"].as_array().unwrap().len();
    let before = history(&s);

    let missing = tmp.path().join("absent.jpg");
    let err = s
        .run(&["photo", "add", &id, path(&missing)])
        .fails(1)
        .to_string();
    assert!(
        err.contains("reading the photo") && err.contains("absent.jpg"),
        "{err}"
    );

    let err = s
        .run(&["photo", "add", &id, path(tmp.path())])
        .fails(1)
        .to_string();
    assert!(err.contains("not a file"), "{err}");

    // Not an image (a HEIC the phone did not convert reads the same way).
    let text = tmp.path().join("notes.jpg");
    std::fs::write(&text, "ceci n'est pas une photo").unwrap();
    let err = s
        .run(&["photo", "add", &id, path(&text)])
        .fails(1)
        .to_string();
    assert!(
        err.contains("not a usable photo") && err.contains("JPEG"),
        "{err}"
    );
    assert!(!err.contains("ceci"), "the content is never echoed: {err}");

    // A damaged JPEG: its headers without the image.
    let good = std::fs::read(jpeg(tmp.path(), "ok.jpg", 400, 300)).unwrap();
    let cut = tmp.path().join("cut.jpg");
    std::fs::write(&cut, &good[..100]).unwrap();
    let err = s
        .run(&["photo", "add", &id, path(&cut)])
        .fails(1)
        .to_string();
    assert!(err.contains("not a usable photo"), "{err}");

    assert!(photos(&s, &id).is_empty());
    assert_eq!(history(&s), before, "a refused photo changed the record");

    // Hashes are checked before anything is looked up.
    let out = tmp.path().join("out.jpg");
    let err = s
        .run(&["photo", "get", &id, "zz", "--out", path(&out)])
        .fails(1)
        .to_string();
    assert!(err.contains("64 hexadecimal"), "{err}");
    let unknown = "ab".repeat(32);
    let err = s
        .run(&["photo", "get", &id, &unknown, "--out", path(&out)])
        .fails(1)
        .to_string();
    assert!(err.contains("no photo"), "{err}");
    let err = s
        .run(&["photo", "remove", &id, &unknown])
        .fails(1)
        .to_string();
    assert!(err.contains("no photo"), "{err}");
    assert!(!out.exists());
    // --out is required.
    assert_eq!(s.run(&["photo", "get", &id, &unknown]).code, 2);
}

#[test]
fn only_reports_and_notes_take_photos() {
    let s = TestStore::new("amina");
    let tmp = tempfile::tempdir().unwrap();
    let file = jpeg(tmp.path(), "p.jpg", 300, 200);
    let contact = s.create(&[
        "contact",
        "add",
        "--name",
        "Mme Exemple",
        "--consent",
        "suivi",
    ]);
    let err = s
        .run(&["photo", "add", &contact, path(&file)])
        .fails(1)
        .to_string();
    assert!(err.contains("reports and notes"), "{err}");
    assert!(!err.contains("Exemple"), "{err}");
    assert!(photos(&s, &contact).is_empty());
    let activity = s.create(&[
        "activity",
        "add",
        "--type",
        "shift",
        "--sector",
        "conte-joliot",
    ]);
    s.run(&["photo", "add", &activity, path(&file)]).fails(1);

    let note = s.create(&[
        "note",
        "add",
        "--sector",
        "conte-joliot",
        "--text",
        "Éclairage",
    ]);
    s.json(&["photo", "add", &note, path(&file)]);
    assert_eq!(photos(&s, &note).len(), 1);
}

/// Needs the server's photo routes (`/v1/photos/…`).
#[test]
fn a_photo_travels_to_another_mediator_and_its_removal_erases_it() {
    let server = TestServer::start();
    let amina = server.enrolled("amina", &server.mediator_code("amina"));
    let karim = server.enrolled("karim", &server.mediator_code("karim"));
    let tmp = tempfile::tempdir().unwrap();
    let id = report(&amina);
    let hash = amina.json(&[
        "photo",
        "add",
        &id,
        path(&jpeg(tmp.path(), "p.jpg", 1200, 900)),
    ])["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = photos(&amina, &id)[0].clone();
    let both = mine["size"].as_u64().unwrap() + mine["thumb_size"].as_u64().unwrap();

    let s = amina.json(&["sync"]);
    assert_eq!(s["pushed"], 2, "the report, then its photo: {s}");
    assert_eq!(s["photos_sent"], 1, "{s}");
    assert_eq!(s["photo_bytes_sent"].as_u64(), Some(both), "{s}");
    assert_eq!(s["photos_left"], 0, "{s}");
    assert_eq!(photos(&amina, &id)[0]["uploaded"], true);

    // The other device gets the record and the thumbnail; the full photo
    // comes when asked for.
    let text = karim.run(&["sync"]).ok().to_string();
    assert!(text.contains("1 thumbnail(s) received"), "{text}");
    let theirs = photos(&karim, &id);
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["hash"], hash.as_str());
    assert_eq!(theirs[0]["has_thumbnail"], true);
    assert_eq!(theirs[0]["has_full"], false);
    let (a, k) = (tmp.path().join("a.jpg"), tmp.path().join("k.jpg"));
    amina.json(&["photo", "get", &id, &hash, "--thumbnail", "--out", path(&a)]);
    karim.json(&["photo", "get", &id, &hash, "--thumbnail", "--out", path(&k)]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&k).unwrap());
    amina.json(&["photo", "get", &id, &hash, "--out", path(&a)]);
    karim.json(&["photo", "get", &id, &hash, "--out", path(&k)]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&k).unwrap());
    assert_eq!(photos(&karim, &id)[0]["has_full"], true);
    // Nothing left to move: a second sync sends and receives no photo.
    let s = karim.json(&["sync"]);
    assert_eq!(
        (s["photos_sent"].as_u64(), s["thumbnails_received"].as_u64()),
        (Some(0), Some(0))
    );

    // Removed on one device: erased on the other at its next sync.
    amina.json(&["photo", "remove", &id, &hash]);
    amina.json(&["sync"]);
    karim.json(&["sync"]);
    assert!(photos(&karim, &id).is_empty());
    let err = karim
        .run(&[
            "photo",
            "get",
            &id,
            &hash,
            "--thumbnail",
            "--out",
            path(&tmp.path().join("z.jpg")),
        ])
        .fails(1)
        .to_string();
    assert!(err.contains("erased"), "{err}");
}
