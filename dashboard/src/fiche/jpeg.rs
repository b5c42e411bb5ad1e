//! What the PDF needs to know of a photo before embedding its JPEG bytes as
//! they are (a PDF reader decodes JPEG itself, the `DCTDecode` filter): its
//! size in pixels and whether it is in colour. Read from the frame header,
//! without decoding a pixel. A blob this cannot read is left out of the
//! fiche rather than written into a PDF a reader would refuse.

/// A photo ready to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jpeg {
    /// The JPEG file, as stored.
    pub bytes: Vec<u8>,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// One component (greyscale) rather than three (colour).
    pub gray: bool,
}

impl Jpeg {
    /// `bytes` if they are a baseline or progressive 8-bit JPEG in grey or
    /// colour (what the devices' photos are); `None` for anything else.
    pub fn read(bytes: Vec<u8>) -> Option<Jpeg> {
        let (width, height, components) = frame(&bytes)?;
        let gray = match components {
            1 => true,
            3 => false,
            _ => return None,
        };
        Some(Jpeg {
            bytes,
            width,
            height,
            gray,
        })
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The frame header's width, height and number of components: the markers
/// are walked from the start of image up to the first start-of-frame.
fn frame(b: &[u8]) -> Option<(u32, u32, u8)> {
    if b.get(..2)? != [0xff, 0xd8] {
        return None;
    }
    let mut at = 2;
    loop {
        if *b.get(at)? != 0xff {
            return None;
        }
        // Fill bytes may precede a marker.
        while *b.get(at + 1)? == 0xff {
            at += 1;
        }
        let marker = *b.get(at + 1)?;
        at += 2;
        match marker {
            // Markers without a segment.
            0x01 | 0xd0..=0xd7 => continue,
            // Baseline, extended sequential, progressive (Huffman).
            0xc0..=0xc2 => {
                let precision = *b.get(at + 2)?;
                let height = be16(b, at + 3)?;
                let width = be16(b, at + 5)?;
                let components = *b.get(at + 7)?;
                return (precision == 8 && width > 0 && height > 0).then_some((
                    u32::from(width),
                    u32::from(height),
                    components,
                ));
            }
            // Other frame types (lossless, arithmetic coding), or image
            // data or its end before any frame.
            0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf | 0xd9 | 0xda => return None,
            _ => {
                let len = usize::from(be16(b, at)?);
                if len < 2 {
                    return None;
                }
                at += len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG head: SOI, an APP0 segment, then a frame header.
    fn head(sof: u8, precision: u8, w: u16, h: u16, components: u8) -> Vec<u8> {
        let mut b = vec![
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0xaa, 0xbb, 0xff, 0xff, sof,
        ];
        b.extend_from_slice(&[0x00, 0x0b, precision]);
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&w.to_be_bytes());
        b.push(components);
        b
    }

    #[test]
    fn reads_size_and_colour_from_the_frame_header() {
        let j = Jpeg::read(head(0xc0, 8, 640, 480, 3)).unwrap();
        assert_eq!((j.width, j.height, j.gray), (640, 480, false));
        assert!(Jpeg::read(head(0xc2, 8, 10, 20, 1)).unwrap().gray);
    }

    #[test]
    fn refuses_what_a_pdf_reader_might_not_draw_and_never_panics() {
        assert_eq!(Jpeg::read(head(0xc0, 8, 10, 10, 4)), None, "CMYK");
        assert_eq!(Jpeg::read(head(0xc0, 12, 10, 10, 3)), None, "12-bit");
        assert_eq!(Jpeg::read(head(0xc9, 8, 10, 10, 3)), None, "arithmetic");
        assert_eq!(Jpeg::read(head(0xc0, 8, 0, 10, 3)), None, "no width");
        assert_eq!(Jpeg::read(b"\x89PNG\r\n\x1a\n".to_vec()), None);
        let full = head(0xc0, 8, 640, 480, 3);
        for n in 0..full.len() {
            assert_eq!(Jpeg::read(full[..n].to_vec()), None);
        }
        // A segment claiming a length too short to hold itself.
        assert_eq!(Jpeg::read(vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]), None);
    }
}
