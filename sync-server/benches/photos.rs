//! Photo transfer benchmark: prints the figures of `docs/performance.md`.
//!
//! `cargo bench -p carnet-server --bench photos`: the real `carnet-server`
//! on loopback (SQLite, blobs in files); one device attaches 20 camera-like
//! photos of about 3 MB to 20 reports and syncs (records, then photos up);
//! a second device syncs (records and thumbnails down) and then fetches every
//! full photo. Prints each phase's time and throughput, and the server's
//! peak memory. `CARNET_BENCH_PHOTOS` sets the count.

mod support;

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use carnet_core::Kind;
use carnet_core::photo::{PhotoRef, Variant};
use carnet_reliability::photos::noisy_jpeg;
use serde_json::json;
use support::{Server, client, device, sync, team};

fn main() {
    let n: usize = std::env::var("CARNET_BENCH_PHOTOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("server"));
    let team = team(&server, "photos");
    let (phone, token) = device(&server, &team, dir.path(), "telephone");
    let mut photos: Vec<(carnet_core::RecordId, PhotoRef)> = Vec::new();
    for i in 0..n {
        let fields = json!({"sector": "conte-joliot", "category": "lighting", "place": format!("Bât. {i}"), "text": "Éclairage en panne"});
        let id = phone
            .create(Kind::Report, fields.as_object().expect("object"))
            .expect("report");
        let p = phone
            .attach_photo(id, &noisy_jpeg(1600, 1200, i as u32 + 1))
            .expect("attach");
        photos.push((id, p));
    }
    let full: u64 = photos.iter().map(|(_, p)| p.size).sum();
    let thumbs: u64 = photos.iter().map(|(_, p)| p.thumb_size).sum();

    let t = Instant::now();
    let up = sync(&server.url, &phone, &token).expect("upload");
    let up_time = t.elapsed();
    assert_eq!(up.photos_sent, n as u64);

    let (office, office_token) = device(&server, &team, dir.path(), "bureau");
    let t = Instant::now();
    let down = sync(&server.url, &office, &office_token).expect("thumbnails");
    let thumb_time = t.elapsed();
    assert_eq!(down.thumbnails_received, n as u64);
    let c = client(&server.url);
    let t = Instant::now();
    for (id, p) in &photos {
        c.fetch_photo(
            &office,
            &office_token,
            *id,
            p.hash,
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect("fetch");
        assert_eq!(
            office.photo(p.hash, Variant::Full).expect("full").len() as u64,
            p.size
        );
    }
    let fetch_time = t.elapsed();

    let mb = |b: u64| b as f64 / 1e6;
    println!("{n} photos on loopback (carnet-server, SQLite, blobs in files):");
    println!(
        "  upload (records, then {:.1} MB of photos and thumbnails): {:.2} s, {:.1} MB/s",
        mb(full + thumbs),
        up_time.as_secs_f64(),
        mb(full + thumbs) / up_time.as_secs_f64()
    );
    println!(
        "  a new device's sync (records and {:.2} MB of thumbnails): {:.2} s",
        mb(thumbs),
        thumb_time.as_secs_f64()
    );
    println!(
        "  full photos fetched one by one ({:.1} MB): {:.2} s, {:.1} MB/s",
        mb(full),
        fetch_time.as_secs_f64(),
        mb(full) / fetch_time.as_secs_f64()
    );
    println!(
        "  server peak memory: {:.0} MB",
        server.vm_hwm_kb() as f64 / 1e3
    );
}
