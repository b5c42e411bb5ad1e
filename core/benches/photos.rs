//! Photo benchmark: prints the figures of `docs/performance.md` for
//! attaching a photo as a phone does.
//!
//! `cargo bench -p carnet-core --bench photos`. A 12-megapixel camera JPEG
//! (4000×3000, smooth shading with sensor-like noise, quality 92, with an
//! EXIF segment) is attached to a report in an encrypted store — strip,
//! orient, resize to 1,600 px, thumbnail to 320 px, encode, hash, encrypt,
//! store — several times; the median and the sizes are printed, and the
//! decoding and encoding alone beside it.

use std::time::{Duration, Instant};

use carnet_core::photo::process::prepare;
use carnet_core::{Kind, Store};
use serde_json::json;

const KEY: [u8; 32] = [42; 32];
const RUNS: usize = 7;

/// What a phone's camera hands over: 4000×3000, shading and noise.
fn camera_jpeg(seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let img = image::RgbImage::from_fn(4000, 3000, |px, py| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = (x % 24) as i32 - 12;
        let base = |v: u32, d: u32| ((v * 255 / d) as i32 + n).clamp(0, 255) as u8;
        image::Rgb([base(px, 4000), base(py, 3000), base(px + py, 7000)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&img)
        .expect("encode");
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("bench.db"), &KEY).expect("store");
    let settings = store.config().photos;
    let inputs: Vec<Vec<u8>> = (0..RUNS as u32).map(camera_jpeg).collect();
    let mut prepared = Vec::new();
    for input in &inputs {
        let t = Instant::now();
        let p = prepare(input, &settings).expect("prepare");
        prepared.push(t.elapsed());
        std::hint::black_box(p);
    }
    let mut attached = Vec::new();
    let mut sizes = (0, 0, 0, 0);
    for input in &inputs {
        let fields = json!({"sector": "conte-joliot", "category": "lighting", "place": "Hall A"});
        let id = store
            .create(Kind::Report, fields.as_object().expect("object"))
            .expect("report");
        let t = Instant::now();
        let photo = store.attach_photo(id, input).expect("attach");
        attached.push(t.elapsed());
        sizes = (photo.size, photo.thumb_size, photo.width, photo.height);
    }
    let input_mb = inputs.iter().map(Vec::len).sum::<usize>() as f64 / RUNS as f64 / 1e6;
    println!("attach a 12-megapixel JPEG (4000×3000, {input_mb:.1} MB), median of {RUNS}:");
    println!(
        "  decode + orient + resize + thumbnail + encode + hash: {:.0} ms",
        median(prepared).as_secs_f64() * 1e3
    );
    println!(
        "  attach_photo (the above + encrypt + store, one transaction): {:.0} ms",
        median(attached).as_secs_f64() * 1e3
    );
    println!(
        "  stored: {}×{} photo {:.0} kB, thumbnail {:.1} kB",
        sizes.2,
        sizes.3,
        sizes.0 as f64 / 1e3,
        sizes.1 as f64 / 1e3
    );
}
