//! Photos over HTTP, on a real server on loopback, over SQLite (files) and
//! over PostgreSQL (rows): a record referencing a photo is pushed, its
//! blobs uploaded in several requests with a cut one resumed, checked,
//! downloaded by ranges, and erased everywhere with their bytes; the
//! collection round deletes what no record references after the grace.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use carnet_core::photo::process::prepare;
use carnet_core::photo::{PhotoHash, PhotoSettings};
use carnet_core::sync::protocol::PushHeader;
use carnet_core::sync::wire;
use carnet_core::{Kind, RecordId};
use carnet_reliability::pg;
use carnet_server::storage::Collected;
use carnet_server::{AppState, Config, Role};
use common::*;
use serde_json::{Value, json};

/// A deployment serving on loopback, with its state in hand (the test
/// issues codes, looks at blobs and runs the collection round on it).
struct Deployment {
    state: AppState,
    server: TestServer,
    rt: tokio::runtime::Runtime,
    data: tempfile::TempDir,
    db: Option<pg::TestDatabase>,
}

impl Deployment {
    fn start(postgres: bool, tweak: impl FnOnce(Config) -> Config) -> Deployment {
        let data = tempfile::tempdir().unwrap();
        let db = postgres.then(pg::TestDatabase::create);
        let config = tweak(Config {
            data_dir: data.path().to_path_buf(),
            database: db.as_ref().map(|db| db.url.clone()),
            database_pool: 4,
            ..Config::default()
        });
        let state = AppState::open(config).unwrap();
        let server = TestServer::with_state(state.clone(), data.path());
        Deployment {
            state,
            server,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            data,
            db,
        }
    }

    fn team(&self) -> String {
        carnet_server::init_team_in(&*self.state.storage, "Carcassonne")
            .unwrap()
            .0
    }

    fn enroll(&self, team: &str, name: &str) -> Phone {
        let code =
            carnet_server::issue_code_in(&*self.state.storage, team, Role::Mediator, Some(name))
                .unwrap();
        Phone {
            device: enroll_with_code(&self.server, &code, name),
            pushed: 0,
        }
    }

    /// Everything of the team's photos still stored: files under its
    /// directory, or rows.
    fn leftovers(&self, team: &str) -> usize {
        blob_leftovers(self.data.path(), self.db.as_ref(), team)
    }

    fn collect(&self, now: i64) -> Collected {
        self.rt
            .block_on(carnet_server::collect_photos(&self.state, now))
            .unwrap()
            .expect("one instance: it collects")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }
}

/// A device that pushes its records with plain requests (no photo phase:
/// the test moves the photos itself).
struct Phone {
    device: Device,
    pushed: u64,
}

impl Phone {
    fn token(&self) -> &str {
        self.device.token()
    }

    fn push(&mut self, d: &Deployment) {
        let batch = self
            .device
            .store
            .changes_since(self.pushed, 1 << 20, Some("server"))
            .unwrap();
        let body = wire::encode(
            &PushHeader {
                upto: batch.upto,
                lineage: None,
            },
            &batch.entries,
        )
        .unwrap();
        let r = http()
            .post(d.url("/v1/sync/push"))
            .bearer_auth(self.token())
            .header("content-type", wire::CONTENT_TYPE)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
        self.pushed = batch.upto;
    }

    fn report(&self) -> RecordId {
        self.device
            .store
            .create(
                Kind::Report,
                &fields(json!({
                    "sector": "ozanam-albignac", "category": "lift", "place": "Bât. B",
                    "text": "Ascenseur en panne"
                })),
            )
            .unwrap()
    }

    /// A blob's bytes as the phone stores them.
    fn blob(&self, hash: PhotoHash) -> Vec<u8> {
        self.device.store.photo_chunk(hash, 0, usize::MAX).unwrap()
    }
}

/// A camera-like JPEG: noisy enough that its stored form is a few hundred
/// KiB, so that uploads take several requests.
fn camera_jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state & 0x3f) as u8;
        image::Rgb([
            (x % 256) as u8 ^ n,
            (y % 256) as u8 ^ n,
            ((x + y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(&img)
        .unwrap();
    out
}

/// An answer: status, the problem's short name (if a problem), its JSON.
struct Answer {
    status: u16,
    problem: Option<String>,
    json: Value,
}

fn answer(r: reqwest::blocking::Response) -> Answer {
    let status = r.status().as_u16();
    let is_problem = r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let json: Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null);
    let problem = is_problem.then(|| {
        json["type"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    });
    Answer {
        status,
        problem,
        json,
    }
}

fn status(d: &Deployment, token: &str, blob: PhotoHash) -> Answer {
    answer(
        http()
            .get(d.url(&format!("/v1/photos/{blob}/upload")))
            .bearer_auth(token)
            .send()
            .unwrap(),
    )
}

fn put(d: &Deployment, token: &str, blob: PhotoHash, offset: u64, bytes: &[u8]) -> Answer {
    answer(
        http()
            .put(d.url(&format!("/v1/photos/{blob}/upload?offset={offset}")))
            .bearer_auth(token)
            .body(bytes.to_vec())
            .send()
            .unwrap(),
    )
}

fn held(a: &Answer) -> (u64, bool) {
    assert_eq!(a.status, 200, "{:?} {}", a.problem, a.json);
    (
        a.json["received"].as_u64().unwrap(),
        a.json["complete"].as_bool().unwrap(),
    )
}

/// Sends the headers of an upload of `bytes.len()` bytes and only `sent`
/// of them, then ends the connection: a phone losing its signal mid-body.
fn cut_upload(
    d: &Deployment,
    token: &str,
    blob: PhotoHash,
    offset: u64,
    bytes: &[u8],
    sent: usize,
) {
    let mut s = std::net::TcpStream::connect(d.server.addr).unwrap();
    let head = format!(
        "PUT /v1/photos/{blob}/upload?offset={offset} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n{}: {}\r\nContent-Length: {}\r\n\r\n",
        d.server.addr,
        carnet_core::sync::protocol::FORMAT_HEADER,
        carnet_core::sync::protocol::FORMAT,
        bytes.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&bytes[..sent]).unwrap();
    s.flush().unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    // Whatever the server says, if anything, on a request it saw cut.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

/// The bytes the server holds of `blob`, once it has dealt with a cut
/// request (it appends what arrived on its own time after the cut).
fn held_after_cut(d: &Deployment, token: &str, blob: PhotoHash, expected: u64) -> u64 {
    for _ in 0..400 {
        let (received, _) = held(&status(d, token, blob));
        if received == expected {
            return received;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    held(&status(d, token, blob)).0
}

/// Runs a test over SQLite and over PostgreSQL.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(false);
            }
            #[test]
            fn postgres() {
                super::$name(true);
            }
        }
    )*};
}

both!(
    a_photo_uploads_in_requests_resumes_after_a_cut_and_downloads_by_ranges,
    wrong_bytes_oversized_uploads_and_other_teams_are_refused,
    the_team_quota_is_kept,
    an_erased_photo_is_gone_from_the_server_and_never_taken_again,
    the_collection_round_deletes_erased_and_long_unreferenced_blobs,
);

fn a_photo_uploads_in_requests_resumes_after_a_cut_and_downloads_by_ranges(pg: bool) {
    let d = Deployment::start(pg, |c| c);
    let team = d.team();
    let mut a = d.enroll(&team, "amina");
    let report = a.report();
    let p = a
        .device
        .store
        .attach_photo(report, &camera_jpeg(1200, 900, 1))
        .unwrap();
    let full = a.blob(p.hash);
    assert_eq!(full.len() as u64, p.size);
    assert!(
        full.len() > 300_000,
        "{} bytes: too small a photo to test",
        full.len()
    );
    let tok = a.token().to_string();

    // Not before its record is on the server.
    let early = status(&d, &tok, p.hash);
    assert_eq!(
        (early.status, early.problem.as_deref()),
        (404, Some("photo-unreferenced"))
    );
    assert_eq!(put(&d, &tok, p.hash, 0, &full[..1000]).status, 404);
    a.push(&d);
    assert_eq!(held(&status(&d, &tok, p.hash)), (0, false));

    // A first request, then its retry (its answer lost): a conflict that
    // says where to resume.
    let third = full.len() / 3;
    assert_eq!(
        held(&put(&d, &tok, p.hash, 0, &full[..third])),
        (third as u64, false)
    );
    let again = put(&d, &tok, p.hash, 0, &full[..third]);
    assert_eq!(
        (again.status, again.problem.as_deref()),
        (409, Some("photo-offset"))
    );
    assert_eq!(again.json["received"], json!(third));

    // A request cut after 50 000 of its bytes: those are kept.
    cut_upload(
        &d,
        &tok,
        p.hash,
        third as u64,
        &full[third..2 * third],
        50_000,
    );
    let at = held_after_cut(&d, &tok, p.hash, third as u64 + 50_000);
    assert_eq!(
        at,
        third as u64 + 50_000,
        "what arrived before the cut is kept"
    );

    // Resumed from there to the end, in requests of 256 KiB at most.
    let mut at = at as usize;
    let mut last = (0, false);
    while at < full.len() {
        let end = (at + 256 * 1024).min(full.len());
        last = held(&put(&d, &tok, p.hash, at as u64, &full[at..end]));
        at = end;
    }
    assert_eq!(last, (full.len() as u64, true));
    // Sent again (a phone that never heard the answer): complete, untouched.
    assert_eq!(
        held(&put(&d, &tok, p.hash, 0, &full[..1000])),
        (full.len() as u64, true)
    );

    // Downloads: whole, then from an offset (a cut download resumed).
    let r = http()
        .get(d.url(&format!("/v1/photos/{}", p.hash)))
        .bearer_auth(&tok)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().unwrap().to_vec(), full);
    let r = http()
        .get(d.url(&format!("/v1/photos/{}", p.hash)))
        .bearer_auth(&tok)
        .header("range", "bytes=100000-")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100000-{}/{}", full.len() - 1, full.len())
    );
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert_eq!(r.bytes().unwrap().to_vec(), &full[100_000..]);
    let r = http()
        .get(d.url(&format!("/v1/photos/{}", p.hash)))
        .bearer_auth(&tok)
        .header("range", format!("bytes={}-", full.len()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);

    // The thumbnail is not there yet: a device asking for it retries later.
    let r = answer(
        http()
            .get(d.url(&format!("/v1/photos/{}", p.thumb)))
            .bearer_auth(&tok)
            .send()
            .unwrap(),
    );
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (404, Some("photo-missing"))
    );
    let thumb = a.blob(p.thumb);
    assert_eq!(
        held(&put(&d, &tok, p.thumb, 0, &thumb)),
        (p.thumb_size, true)
    );
    assert_eq!(
        d.state.storage.blobs().usage(&team).unwrap(),
        p.size + p.thumb_size
    );
}

fn wrong_bytes_oversized_uploads_and_other_teams_are_refused(pg: bool) {
    let d = Deployment::start(pg, |c| c);
    let team = d.team();
    let mut a = d.enroll(&team, "amina");
    let report = a.report();
    let p = a
        .device
        .store
        .attach_photo(report, &camera_jpeg(800, 600, 2))
        .unwrap();
    a.push(&d);
    let tok = a.token().to_string();
    let thumb = a.blob(p.thumb);

    // More bytes than the reference says: refused, nothing kept.
    let mut longer = thumb.clone();
    longer.push(0);
    let r = put(&d, &tok, p.thumb, 0, &longer);
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (413, Some("photo-too-large"))
    );
    assert_eq!(held(&status(&d, &tok, p.thumb)), (0, false));

    // The right length, one byte wrong: dropped at completion.
    let mut wrong = thumb.clone();
    let last = wrong.len() - 1;
    wrong[last] ^= 0x55;
    let r = put(&d, &tok, p.thumb, 0, &wrong);
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (400, Some("photo-corrupt"))
    );
    assert_eq!(held(&status(&d, &tok, p.thumb)), (0, false));
    assert_eq!(d.leftovers(&team), 0);

    // Not a name a photo has.
    let r = answer(
        http()
            .get(d.url("/v1/photos/not-a-hash/upload"))
            .bearer_auth(&tok)
            .send()
            .unwrap(),
    );
    assert_eq!(r.status, 400);
    let r = answer(
        http()
            .put(d.url(&format!("/v1/photos/{}/upload", p.thumb)))
            .bearer_auth(&tok)
            .body(thumb.clone())
            .send()
            .unwrap(),
    );
    assert_eq!(r.status, 400, "no offset");
    let r = put(&d, &tok, p.thumb, 0, &vec![0; (1 << 20) + 1]);
    assert_eq!(r.status, 400, "more than 1 MiB in one request");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("several requests")
    );

    // Every byte held but not yet checked (a crash between the last append
    // and the check): an empty request at the end completes it.
    d.state
        .storage
        .blobs()
        .append(&team, &p.thumb, 0, &thumb)
        .unwrap();
    assert_eq!(held(&status(&d, &tok, p.thumb)), (p.thumb_size, false));
    assert_eq!(
        held(&put(&d, &tok, p.thumb, p.thumb_size, &[])),
        (p.thumb_size, true)
    );
    // Another team neither sees nor takes them.
    let other_team = d.team();
    let b = d.enroll(&other_team, "bruno");
    let r = status(&d, b.token(), p.thumb);
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (404, Some("photo-unreferenced"))
    );
    let r = answer(
        http()
            .get(d.url(&format!("/v1/photos/{}", p.thumb)))
            .bearer_auth(b.token())
            .send()
            .unwrap(),
    );
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (404, Some("photo-missing"))
    );
    // Without a token, nothing.
    let r = http()
        .get(d.url(&format!("/v1/photos/{}", p.thumb)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

fn the_team_quota_is_kept(pg: bool) {
    let (first, second) = (camera_jpeg(800, 600, 3), camera_jpeg(800, 600, 4));
    let made = prepare(&first, &PhotoSettings::default()).unwrap();
    let quota = made.full.len() + made.thumb.len() + 1000;
    let d = Deployment::start(pg, |c| Config {
        photo_quota_bytes: quota as u64,
        ..c
    });
    let team = d.team();
    let mut a = d.enroll(&team, "amina");
    let report = a.report();
    let p1 = a.device.store.attach_photo(report, &first).unwrap();
    let p2 = a.device.store.attach_photo(report, &second).unwrap();
    a.push(&d);
    let tok = a.token().to_string();
    for blob in [p1.thumb, p1.hash] {
        let bytes = a.blob(blob);
        assert!(held(&put(&d, &tok, blob, 0, &bytes)).1);
    }
    let r = put(&d, &tok, p2.thumb, 0, &a.blob(p2.thumb));
    assert_eq!((r.status, r.problem.as_deref()), (413, Some("photo-quota")));
    assert!(
        r.json["detail"].as_str().unwrap().contains("quota"),
        "{}",
        r.json
    );
    assert_eq!(held(&status(&d, &tok, p2.thumb)), (0, false));
}

fn an_erased_photo_is_gone_from_the_server_and_never_taken_again(pg: bool) {
    let d = Deployment::start(pg, |c| c);
    let team = d.team();
    let mut a = d.enroll(&team, "amina");
    let report = a.report();
    let p = a
        .device
        .store
        .attach_photo(report, &camera_jpeg(800, 600, 5))
        .unwrap();
    a.push(&d);
    let tok = a.token().to_string();
    let full = a.blob(p.hash);
    assert!(held(&put(&d, &tok, p.thumb, 0, &a.blob(p.thumb))).1);
    // The full image only partly uploaded when it is removed.
    put(&d, &tok, p.hash, 0, &full[..10_000]);
    assert!(d.leftovers(&team) >= 2);

    a.device.store.remove_photo(report, p.hash).unwrap();
    a.push(&d);
    assert_eq!(
        d.leftovers(&team),
        0,
        "bytes gone: thumbnail, partial upload"
    );
    for blob in [p.hash, p.thumb] {
        let r = status(&d, &tok, blob);
        assert_eq!(
            (r.status, r.problem.as_deref()),
            (410, Some("photo-erased"))
        );
        let r = answer(
            http()
                .get(d.url(&format!("/v1/photos/{blob}")))
                .bearer_auth(&tok)
                .send()
                .unwrap(),
        );
        assert_eq!(
            (r.status, r.problem.as_deref()),
            (410, Some("photo-erased"))
        );
    }
    let r = put(&d, &tok, p.hash, 0, &full);
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (410, Some("photo-erased"))
    );
    assert_eq!(d.leftovers(&team), 0);
}

fn the_collection_round_deletes_erased_and_long_unreferenced_blobs(pg: bool) {
    let d = Deployment::start(pg, |c| c);
    let team = d.team();
    let mut a = d.enroll(&team, "amina");
    let report = a.report();
    let kept = a
        .device
        .store
        .attach_photo(report, &camera_jpeg(400, 300, 6))
        .unwrap();
    let erased = a
        .device
        .store
        .attach_photo(report, &camera_jpeg(400, 300, 7))
        .unwrap();
    a.push(&d);
    let erased_thumb = a.blob(erased.thumb);
    a.device.store.remove_photo(report, erased.hash).unwrap();
    a.push(&d);
    let blobs = d.state.storage.blobs();
    let put_blob = |bytes: &[u8]| {
        let hash = PhotoHash::of(bytes);
        blobs.append(&team, &hash, 0, bytes).unwrap();
        blobs.complete(&team, &hash, &|_| Ok(())).unwrap();
        hash
    };
    // What a crash between a push and its deletions would leave, a blob
    // no record names, and a referenced one.
    put_blob(&erased_thumb);
    let stray = put_blob(b"bytes no record names");
    put_blob(&a.blob(kept.hash));
    let now = carnet_core::now_ms();
    assert_eq!(
        d.collect(now),
        Collected {
            erased: 1,
            unreferenced: 0
        },
        "the stray blob is in its grace period"
    );
    let grace = d.state.config.photo_grace.as_millis() as i64;
    assert_eq!(
        d.collect(now + grace + 60_000),
        Collected {
            erased: 0,
            unreferenced: 1
        }
    );
    assert_eq!(blobs.state(&team, &stray).unwrap().received, 0);
    assert_eq!(blobs.size(&team, &kept.hash).unwrap(), Some(kept.size));
    assert_eq!(blobs.list(&team).unwrap().len(), 1);
}

#[test]
fn photo_requests_spend_the_devices_request_budget() {
    let d = Deployment::start(false, |c| Config {
        rate_per_second: 0.001,
        rate_burst: 3,
        ..c
    });
    let team = d.team();
    let a = d.enroll(&team, "amina");
    let blob = PhotoHash::of(b"x");
    let answers: Vec<Answer> = (0..3).map(|_| status(&d, a.token(), blob)).collect();
    // Enrollment took no token of the device's budget; three requests did.
    assert!(
        answers.iter().all(|r| r.status == 404),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let r = status(&d, a.token(), blob);
    assert_eq!(
        (r.status, r.problem.as_deref()),
        (429, Some("rate-limited"))
    );
}
