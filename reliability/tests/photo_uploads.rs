//! Twenty photos of about 3 MB go up from a phone on a poor mobile link: the
//! fault proxy as a weak link of about 1 Mbit/s each way that cuts a tenth
//! of the requests at a random byte of their body. Every photo reaches the
//! server whole (a second device fetches each and compares), the bytes the
//! phone sent stay within 1.3× the photos' size (a cut upload resumes from
//! what the server kept, it does not start over), and the records' text
//! went up before the first photo byte.
//!
//! `RELIABILITY_PHOTOS` (default 20), `RELIABILITY_LINK_BYTES_PER_SEC`
//! (default 125000, 1 Mbit/s), `RELIABILITY_CUT_PER_MILLE` (default 100),
//! `RELIABILITY_SEED` (default 13).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use carnet_core::Kind;
use carnet_core::photo::{PhotoRef, Variant};
use carnet_core::sync::client::Client;
use carnet_reliability::env_or;
use carnet_reliability::photos::noisy_jpeg;
use carnet_reliability::proxy::Proxy;
use carnet_reliability::server::{Device, ServerProc, init_team, mediator_code, test_retry};
use serde_json::json;

#[test]
fn photos_reach_the_server_whole_over_a_weak_link_that_cuts() {
    let n = env_or("RELIABILITY_PHOTOS", 20) as usize;
    let rate = env_or("RELIABILITY_LINK_BYTES_PER_SEC", 125_000);
    let cut = env_or("RELIABILITY_CUT_PER_MILLE", 100) as u32;
    let seed = env_or("RELIABILITY_SEED", 13);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (team, _) = init_team(&data);
    let server = ServerProc::start(
        env!("CARGO_BIN_EXE_carnet-test-server").as_ref(),
        &data,
        "127.0.0.1:0".parse().unwrap(),
        &["--rate", "1000"],
    )
    .unwrap();
    let mut phone = Device::enroll(
        &server.base(),
        dir.path(),
        "telephone",
        &mediator_code(&data, &team, "telephone"),
        seed,
        test_retry(),
    )
    .unwrap();
    let mut photos: Vec<PhotoRef> = Vec::new();
    for i in 0..n {
        let fields = json!({
            "sector": "conte-joliot", "category": "lighting",
            "place": format!("Bâtiment {i}, hall"), "text": "Éclairage du hall en panne",
        });
        let id = phone
            .store
            .create(Kind::Report, fields.as_object().unwrap())
            .unwrap();
        photos.push(
            phone
                .store
                .attach_photo(id, &noisy_jpeg(1600, 1200, i as u32 + 1))
                .unwrap(),
        );
    }
    let photo_bytes: u64 = photos.iter().map(|p| p.size + p.thumb_size).sum();

    let proxy = Proxy::start(server.addr, seed, 0);
    proxy.set_weak_link(rate, cut);
    phone.set_server(&proxy.base(), test_retry()).unwrap();
    let started = Instant::now();
    let (mut syncs, mut failed, mut sent) = (0, 0, 0);
    while !phone.store.photo_uploads().unwrap().is_empty() {
        syncs += 1;
        assert!(syncs <= 200, "uploads never finished");
        match phone.sync() {
            Ok(s) => sent += s.photos_sent,
            Err(_) => failed += 1,
        }
    }
    let elapsed = started.elapsed();
    let bytes_sent = proxy.bytes_sent();
    let requests = proxy.requests();
    let cuts = proxy.counts()[2];
    println!(
        "{n} photos, {:.1} MB with thumbnails (largest {:.2} MB), through {} kB/s cutting {cut}‰: \
         {:.1?}, {syncs} syncs ({failed} failed), {cuts} requests cut, {:.1} MB sent = {:.3}× the photos, \
         {:.0} kB/s of photo",
        photo_bytes as f64 / 1e6,
        photos.iter().map(|p| p.size).max().unwrap_or(0) as f64 / 1e6,
        rate / 1000,
        elapsed,
        bytes_sent as f64 / 1e6,
        bytes_sent as f64 / photo_bytes as f64,
        photo_bytes as f64 / elapsed.as_secs_f64() / 1e3
    );
    assert_eq!(sent, n as u64, "every photo counted sent once");
    assert!(cuts > 0, "the link never cut an upload");
    assert!(
        bytes_sent as f64 <= 1.3 * photo_bytes as f64,
        "{bytes_sent} bytes sent for {photo_bytes} bytes of photos"
    );
    let last_push = requests
        .iter()
        .rposition(|r| r.starts_with("POST /v1/sync/push"));
    let first_photo = requests.iter().position(|r| r.contains("/v1/photos/"));
    assert!(
        last_push.is_some() && first_photo.is_some() && last_push < first_photo,
        "the records' text must go up before the photos: {:?}",
        &requests[..requests.len().min(12)]
    );

    // Every photo as the phone took it, fetched by another device.
    let other = Device::enroll(
        &server.base(),
        dir.path(),
        "bureau",
        &mediator_code(&data, &team, "bureau"),
        seed + 1,
        test_retry(),
    );
    let mut other = other.unwrap();
    let s = other.sync().unwrap();
    assert_eq!(s.thumbnails_received, n as u64);
    let client = Client::new(&server.base()).unwrap();
    for p in &photos {
        let id = other
            .store
            .list(&Default::default())
            .unwrap()
            .items
            .iter()
            .find(|r| match r {
                carnet_core::Record::Report(rep) => rep.photos.iter().any(|q| q.hash == p.hash),
                _ => false,
            })
            .map(|r| r.header().id)
            .expect("the report of each photo");
        client
            .fetch_photo(
                &other.store,
                &other.token,
                id,
                p.hash,
                &mut |_| {},
                &AtomicBool::new(false),
            )
            .unwrap();
        assert_eq!(
            other.store.photo(p.hash, Variant::Full).unwrap(),
            phone.store.photo(p.hash, Variant::Full).unwrap(),
            "a photo arrived changed"
        );
    }
    drop(proxy);
}
