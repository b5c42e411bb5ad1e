//! From a camera's bytes to the stored photo and its thumbnail, and the
//! check a server runs on a blob it receives.
//!
//! Decoding, orientation, resizing and encoding use the `image` crate
//! (built with its JPEG and PNG codecs only, see `docs/photos.md`): pure
//! Rust, so nothing to cross-compile for Android and iOS, and no decoder
//! for a format a camera does not hand over reachable by a crafted file.
//!
//! The stored photo is re-encoded from pixels: nothing of the camera's file
//! but its pixels survives, so EXIF (GPS position, date, device serial),
//! XMP and maker notes are gone by construction, not by a list of tags to
//! strip. The EXIF orientation is applied to the pixels first, so that the
//! photo shows the right way up without it.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::imageops::FilterType;
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage,
    codecs::jpeg::JpegEncoder, error::LimitErrorKind,
};

use super::{PhotoHash, PhotoRef, PhotoSettings};
use crate::{Error, Result};

/// Longest side a camera file may declare, pixels. A 108-megapixel sensor
/// is 12 000 × 9 000; a file that claims more is not a photo from a phone.
pub const MAX_INPUT_SIDE: u32 = 20_000;

/// Memory the decoded pixels may take, bytes: a 108-megapixel photo in RGB
/// (324 MB) fits. Checked from the file's header before anything is
/// allocated, so that a small file declaring a huge image (a decompression
/// bomb) is refused instead of exhausting a phone's memory.
pub const MAX_DECODED_BYTES: u64 = 384 << 20;

/// A photo ready to store: the two blobs and what the document says of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The stored photo, JPEG, no metadata.
    pub full: Vec<u8>,
    /// Its thumbnail, JPEG, no metadata.
    pub thumb: Vec<u8>,
    /// The reference to write into the record's document (`added_at` is 0:
    /// the store sets it when it attaches the photo).
    pub photo: PhotoRef,
}

/// Turns a camera's JPEG or PNG into the stored photo and its thumbnail:
/// size checked (`max_input_bytes`, [`Error::PhotoTooLarge`]), decoded
/// within [`MAX_INPUT_SIDE`] and [`MAX_DECODED_BYTES`], EXIF orientation
/// applied, the longest side brought down to `max_side` (never up), encoded
/// as JPEG at `quality`, and a thumbnail of `thumb_side` made from it.
/// Anything that is not such an image is [`Error::NotAnImage`].
///
/// Deterministic: the same input and settings give the same bytes, so the
/// same camera file attached twice is the same photo (same hash).
pub fn prepare(input: &[u8], s: &PhotoSettings) -> Result<Prepared> {
    if input.len() as u64 > s.max_input_bytes {
        return Err(Error::PhotoTooLarge {
            bytes: input.len() as u64,
            limit: s.max_input_bytes,
        });
    }
    let quality = s.quality.clamp(1, 100);
    let img = decode(input)?;
    let full_img = shrink(&img, s.max_side.max(1));
    drop(img);
    let full = encode(&full_img, quality)?;
    if full.len() as u64 > s.max_photo_bytes {
        return Err(Error::PhotoTooLarge {
            bytes: full.len() as u64,
            limit: s.max_photo_bytes,
        });
    }
    let (width, height) = full_img.dimensions();
    let thumb_img = shrink(&DynamicImage::ImageRgb8(full_img), s.thumb_side.max(1));
    let thumb = encode(&thumb_img, quality)?;
    let photo = PhotoRef {
        hash: PhotoHash::of(&full),
        thumb: PhotoHash::of(&thumb),
        size: full.len() as u64,
        thumb_size: thumb.len() as u64,
        width,
        height,
        added_at: 0,
    };
    Ok(Prepared { full, thumb, photo })
}

/// What a server runs on a blob it received in full: a JPEG or PNG that
/// decodes entirely, no side longer than `max_side`. Returns its width and
/// height. Anything else is [`Error::NotAnImage`].
pub fn check_image(bytes: &[u8], max_side: u32) -> Result<(u32, u32)> {
    let img = decode(bytes)?;
    let (w, h) = (img.width(), img.height());
    if w.max(h) > max_side {
        return Err(Error::NotAnImage(format!(
            "{w}×{h} pixels, larger than the {max_side} pixels a stored photo may have a side"
        )));
    }
    Ok((w, h))
}

/// Decodes a JPEG or PNG with its orientation applied, within the limits;
/// a panic inside a decoder (a bug on a crafted file) is an error too.
fn decode(input: &[u8]) -> Result<DynamicImage> {
    catch_unwind(AssertUnwindSafe(|| decode_unguarded(input))).unwrap_or_else(|_| {
        Err(Error::NotAnImage(
            "the decoder failed on this file; it may be damaged".into(),
        ))
    })
}

fn decode_unguarded(input: &[u8]) -> Result<DynamicImage> {
    let reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|_| Error::NotAnImage("the file could not be read".into()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png) => {}
        _ => {
            return Err(Error::NotAnImage(
                "not a JPEG or PNG file (a camera's photo, or a screenshot, is expected)".into(),
            ));
        }
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(not_an_image)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::NotAnImage("the image has no pixels".into()));
    }
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(too_many_pixels(w, h));
    }
    let orientation = decoder.orientation().map_err(not_an_image)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(not_an_image)?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn too_many_pixels(w: u32, h: u32) -> Error {
    Error::NotAnImage(format!(
        "the file declares {w}×{h} pixels, more than {} megabytes once decoded; not a photo from a phone",
        MAX_DECODED_BYTES >> 20
    ))
}

/// The decoder's verdict, said without quoting the file.
fn not_an_image(e: ImageError) -> Error {
    Error::NotAnImage(match e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => format!(
                "the file declares an image larger than {MAX_INPUT_SIDE} pixels a side; not a photo from a phone"
            ),
            _ => format!(
                "decoding it would take more than {} megabytes; not a photo from a phone",
                MAX_DECODED_BYTES >> 20
            ),
        },
        ImageError::Unsupported(_) => "an image format or variant that is not supported".into(),
        ImageError::Decoding(_) | ImageError::IoError(_) => {
            "the image data is damaged or incomplete".into()
        }
        ImageError::Parameter(_) | ImageError::Encoding(_) => "the image cannot be read".into(),
    })
}

/// RGB pixels whose longest side is at most `side` (never enlarged).
/// Transparent pixels (a PNG) are laid on white, as a page would show them.
fn shrink(img: &DynamicImage, side: u32) -> RgbImage {
    let small = if img.width().max(img.height()) > side {
        img.resize(side, side, FilterType::CatmullRom)
    } else {
        img.clone()
    };
    if small.color().has_alpha() {
        let rgba = small.to_rgba8();
        RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let p = rgba.get_pixel(x, y).0;
            let a = u16::from(p[3]);
            let over = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
            image::Rgb([over(p[0]), over(p[1]), over(p[2])])
        })
    } else {
        small.to_rgb8()
    }
}

/// Baseline JPEG at `quality`, with no metadata segment at all.
fn encode(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| Error::Internal(format!("encoding a photo as JPEG: {e}")))?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gradient with some noise, so that JPEG has something to encode.
    pub(crate) fn sample(w: u32, h: u32) -> RgbImage {
        sample_seeded(w, h, 0x2545_f491)
    }

    /// [`sample`] with another noise: another photo.
    pub(crate) fn sample_seeded(w: u32, h: u32, mut seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed & 0x1f) as u8;
            image::Rgb([
                ((x * 255 / w.max(1)) as u8).wrapping_add(n),
                ((y * 255 / h.max(1)) as u8).wrapping_add(n),
                n.wrapping_mul(3),
            ])
        })
    }

    pub(crate) fn jpeg(w: u32, h: u32) -> Vec<u8> {
        encode(&sample(w, h), 90).unwrap()
    }

    fn png(img: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    /// An EXIF APP1 segment (big-endian TIFF) with Orientation = `orientation`
    /// and a GPS IFD holding a latitude reference, like a phone writes.
    fn exif_app1(orientation: u16) -> Vec<u8> {
        let mut tiff: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
        // IFD0: 2 entries: Orientation (0x0112, SHORT), GPS IFD pointer (0x8825, LONG).
        tiff.extend_from_slice(&2u16.to_be_bytes());
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        let gps_at = 8 + 2 + 12 * 2 + 4;
        tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]);
        tiff.extend_from_slice(&(gps_at as u32).to_be_bytes());
        tiff.extend_from_slice(&0u32.to_be_bytes());
        // GPS IFD: GPSLatitudeRef = "N".
        tiff.extend_from_slice(&1u16.to_be_bytes());
        tiff.extend_from_slice(&[0x00, 0x01, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes());
        let mut body = b"Exif\0\0".to_vec();
        body.extend_from_slice(&tiff);
        let mut seg = vec![0xFF, 0xE1];
        seg.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        seg.extend_from_slice(&body);
        seg
    }

    fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&exif_app1(orientation));
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn has_app1(jpeg: &[u8]) -> bool {
        jpeg.windows(2).any(|w| w == [0xFF, 0xE1]) && jpeg.windows(4).any(|w| w == b"Exif")
    }

    #[test]
    fn a_camera_jpeg_is_turned_upright_stripped_shrunk_and_thumbnailed() {
        let input = with_exif(&jpeg(2000, 1500), 6);
        assert!(has_app1(&input), "the test input carries EXIF");
        let p = prepare(&input, &PhotoSettings::default()).unwrap();
        // Orientation 6: rotated 90°, so the landscape file is a portrait photo.
        assert_eq!((p.photo.width, p.photo.height), (1200, 1600));
        assert!(!has_app1(&p.full) && !has_app1(&p.thumb));
        assert!(!p.full.windows(4).any(|w| w == b"Exif"));
        let thumb = image::load_from_memory(&p.thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (240, 320));
        assert_eq!(p.photo.hash, PhotoHash::of(&p.full));
        assert_eq!(p.photo.thumb, PhotoHash::of(&p.thumb));
        assert_eq!(p.photo.size, p.full.len() as u64);
        assert_eq!(check_image(&p.full, 1600).unwrap(), (1200, 1600));
        assert_eq!(prepare(&input, &PhotoSettings::default()).unwrap(), p);
    }

    #[test]
    fn a_small_png_with_transparency_is_kept_at_its_size() {
        let mut img = DynamicImage::ImageRgb8(sample(300, 200)).to_rgba8();
        img.get_pixel_mut(0, 0).0[3] = 0;
        let p = prepare(
            &png(&DynamicImage::ImageRgba8(img)),
            &PhotoSettings::default(),
        )
        .unwrap();
        assert_eq!((p.photo.width, p.photo.height), (300, 200));
        let back = image::load_from_memory(&p.full).unwrap().to_rgb8();
        assert!(
            back.get_pixel(0, 0).0.iter().all(|c| *c > 200),
            "laid on white"
        );
    }

    #[test]
    fn garbage_cut_pngs_and_other_formats_are_not_images() {
        // A JPEG cut short decodes as far as its data goes, as viewers
        // show it; a PNG cut short fails its checks.
        let good = png(&DynamicImage::ImageRgb8(sample(64, 48)));
        let gif = b"GIF89a\x01\0\x01\0\0\0\0;".to_vec();
        for bad in [
            vec![],
            b"hello, not a photo".to_vec(),
            good[..good.len() / 2].to_vec(),
            gif,
        ] {
            let err = prepare(&bad, &PhotoSettings::default()).unwrap_err();
            assert!(matches!(err, Error::NotAnImage(_)), "{err}");
            assert!(check_image(&bad, 1600).is_err());
        }
    }

    /// Patches a JPEG's frame header (SOF0) to declare `w`×`h`.
    fn declaring(mut jpeg: Vec<u8>, w: u16, h: u16) -> Vec<u8> {
        let at = jpeg.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        jpeg[at + 5..at + 7].copy_from_slice(&h.to_be_bytes());
        jpeg[at + 7..at + 9].copy_from_slice(&w.to_be_bytes());
        jpeg
    }

    #[test]
    fn a_small_file_declaring_a_huge_image_is_refused_before_decoding() {
        for (w, h) in [(60_000, 60_000), (19_000, 19_000)] {
            let bomb = declaring(jpeg(64, 48), w, h);
            let err = prepare(&bomb, &PhotoSettings::default()).unwrap_err();
            let Error::NotAnImage(reason) = &err else {
                panic!("{err}");
            };
            assert!(reason.contains("not a photo from a phone"), "{reason}");
        }
    }

    #[test]
    fn inputs_and_results_past_the_limits_are_refused_with_the_limit() {
        let s = PhotoSettings {
            max_input_bytes: 100,
            ..PhotoSettings::default()
        };
        let err = prepare(&jpeg(64, 48), &s).unwrap_err();
        assert!(
            matches!(err, Error::PhotoTooLarge { limit: 100, .. }),
            "{err}"
        );
        let s = PhotoSettings {
            max_photo_bytes: 100,
            ..PhotoSettings::default()
        };
        let err = prepare(&jpeg(64, 48), &s).unwrap_err();
        assert!(
            matches!(err, Error::PhotoTooLarge { limit: 100, .. }),
            "{err}"
        );
        let p = prepare(&jpeg(640, 480), &PhotoSettings::default()).unwrap();
        assert!(check_image(&p.full, 320).is_err(), "larger than max_side");
    }
}
