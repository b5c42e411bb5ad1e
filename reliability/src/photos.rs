//! Photos for the harnesses and benchmarks: what a phone's camera hands
//! over at its worst for transfer, pure noise that compresses badly.

/// A `w`×`h` JPEG of noise (quality 98), different for every `seed`: a
/// 1600×1200 one is stored as about 3 MB at the team's default quality.
pub fn noisy_jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 98)
        .encode_image(&img)
        .expect("a JPEG of an in-memory image always encodes");
    out
}
