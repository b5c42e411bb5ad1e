//! The binary envelope of push bodies and pull responses (see
//! `docs/sync-protocol.md`): a JSON header and raw change entries, compressed
//! with zstd, from format 4 with Carnet's dictionary. Decoding is defensive:
//! sizes are checked before anything is allocated, and no input makes it
//! panic.

use std::io::{BufReader, Read};
use std::sync::OnceLock;

use zstd::dict::EncoderDictionary;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::dictionary;
use crate::photo::PhotoHash;
use crate::store::{Entry, Payload};
use crate::{Error, RecordId, Result};

/// Content type of an envelope.
pub const CONTENT_TYPE: &str = "application/vnd.carnet.v1+zstd";
/// Largest compressed body accepted.
pub const MAX_BODY: usize = 8 << 20;
/// Largest decompressed body accepted.
pub const MAX_DECOMPRESSED: usize = 32 << 20;
const MAX_HEADER: usize = 64 << 10;
/// Largest change accepted, in an envelope or a store's change log.
pub(crate) const MAX_CHANGE: usize = 1 << 20;
const MAGIC: &[u8; 4] = b"CRN1";
/// zstd's level: most of the gain at a small CPU cost on a phone.
const LEVEL: i32 = 3;

/// The first format whose apps and servers hold Carnet's zstd dictionary
/// ([`super::dictionary`]): a reader of an older one gets envelopes
/// compressed without it.
pub const DICTIONARY_FORMAT: u32 = 4;
// This build's apps and servers hold it.
const _: () = assert!(super::protocol::FORMAT >= DICTIONARY_FORMAT);

fn encoder_dictionary() -> &'static EncoderDictionary<'static> {
    static D: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    D.get_or_init(|| EncoderDictionary::copy(dictionary::DICTIONARY, LEVEL))
}

/// Encodes a header and entries into a compressed envelope for a reader of
/// this build's format (a push; a server's answer to an app as new as
/// itself). See [`encode_for`].
pub fn encode<H: Serialize>(header: &H, entries: &[Entry]) -> Result<Vec<u8>> {
    encode_for(super::protocol::FORMAT, header, entries)
}

/// Encodes a header and entries into a compressed envelope that an app of
/// `format` reads: with the dictionary from [`DICTIONARY_FORMAT`] on,
/// without it before. Fails rather than produce a body that [`decode`]
/// would refuse: a header that does not serialise ([`Error::Internal`]),
/// or one or a change past the limits ([`Error::TooLarge`]).
pub fn encode_for<H: Serialize>(format: u32, header: &H, entries: &[Entry]) -> Result<Vec<u8>> {
    let head = serde_json::to_vec(header)
        .map_err(|e| Error::Internal(format!("an envelope header does not serialise: {e}")))?;
    if head.len() > MAX_HEADER {
        return Err(Error::TooLarge {
            what: "an envelope header".into(),
            limit: MAX_HEADER,
        });
    }
    let mut raw = Vec::with_capacity(8 + head.len() + entries.len() * 512);
    raw.extend_from_slice(MAGIC);
    raw.extend_from_slice(&(head.len() as u32).to_le_bytes());
    raw.extend_from_slice(&head);
    for e in entries {
        match &e.payload {
            Payload::Change(bytes) => {
                if bytes.len() > MAX_CHANGE {
                    return Err(Error::TooLarge {
                        what: "a change".into(),
                        limit: MAX_CHANGE,
                    });
                }
                raw.push(1);
                raw.extend_from_slice(e.record_id.as_bytes());
                raw.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                raw.extend_from_slice(bytes);
            }
            Payload::Erased => {
                raw.push(2);
                raw.extend_from_slice(e.record_id.as_bytes());
            }
            Payload::PhotoErased { hash, thumb } => {
                raw.push(3);
                raw.extend_from_slice(e.record_id.as_bytes());
                raw.extend_from_slice(hash.as_bytes());
                raw.extend_from_slice(thumb.as_bytes());
            }
        }
    }
    let compressed = if format >= DICTIONARY_FORMAT {
        zstd::bulk::Compressor::with_prepared_dictionary(encoder_dictionary())
            .and_then(|mut c| c.compress(&raw))
    } else {
        zstd::bulk::compress(&raw, LEVEL)
    };
    compressed.map_err(|e| Error::Internal(format!("an envelope could not be compressed: {e}")))
}

fn bad(why: &str) -> Error {
    Error::RejectedChanges(format!("malformed envelope: {why}"))
}

/// Decodes an envelope, compressed with or without the dictionary (its
/// frame says which: an app of format 3 pushes without). Errors are
/// [`Error::RejectedChanges`], or [`Error::TooLarge`] past the size limits
/// (a server answers 413).
pub fn decode<H: DeserializeOwned>(body: &[u8]) -> Result<(H, Vec<Entry>)> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge {
            what: "body".into(),
            limit: MAX_BODY,
        });
    }
    // One frame, as every encoder of Carnet's makes: the decoder names its
    // dictionary (or none) from the first frame, and a second one made
    // otherwise would be read with the wrong one.
    if zstd::zstd_safe::find_frame_compressed_size(body) != Ok(body.len()) {
        return Err(bad("not one zstd frame"));
    }
    let dictionary = dictionary::for_frame(body)
        .map_err(|_| bad("compressed with a dictionary this build does not have"))?;
    let reader = BufReader::new(body);
    let decoder = match dictionary {
        None => zstd::stream::read::Decoder::with_buffer(reader),
        Some(d) => zstd::stream::read::Decoder::with_prepared_dictionary(reader, d),
    }
    .map_err(|_| bad("not zstd"))?;
    let mut raw = Vec::new();
    decoder
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|_| bad("corrupt compression"))?;
    if raw.len() > MAX_DECOMPRESSED {
        return Err(Error::TooLarge {
            what: "decompressed body".into(),
            limit: MAX_DECOMPRESSED,
        });
    }
    let mut r = Reader { buf: &raw, pos: 0 };
    if r.take(4)? != MAGIC {
        return Err(bad("wrong magic; not a Carnet v1 envelope"));
    }
    let hlen = r.u32()? as usize;
    if hlen > MAX_HEADER {
        return Err(bad("header too large"));
    }
    let header: H = serde_json::from_slice(r.take(hlen)?).map_err(|_| bad("unreadable header"))?;
    let mut entries = Vec::new();
    while r.pos < raw.len() {
        let tag = r.take(1)?[0];
        let id = RecordId::from_slice(r.take(16)?).ok_or_else(|| bad("bad record id"))?;
        let payload = match tag {
            1 => {
                let len = r.u32()? as usize;
                if len > MAX_CHANGE {
                    return Err(bad("change too large"));
                }
                Payload::Change(r.take(len)?.to_vec())
            }
            2 => Payload::Erased,
            3 => Payload::PhotoErased {
                hash: PhotoHash::from_slice(r.take(32)?).ok_or_else(|| bad("bad photo hash"))?,
                thumb: PhotoHash::from_slice(r.take(32)?).ok_or_else(|| bad("bad photo hash"))?,
            },
            _ => return Err(bad("unknown entry tag")),
        };
        entries.push(Entry {
            record_id: id,
            payload,
        });
    }
    Ok((header, entries))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    #[test]
    fn round_trip() {
        let entries = vec![
            Entry {
                record_id: RecordId::new(),
                payload: Payload::Change(vec![1, 2, 3]),
            },
            Entry {
                record_id: RecordId::new(),
                payload: Payload::Erased,
            },
            Entry {
                record_id: RecordId::new(),
                payload: Payload::PhotoErased {
                    hash: PhotoHash::of(b"full"),
                    thumb: PhotoHash::of(b"thumb"),
                },
            },
        ];
        let body = encode(&json!({"upto": 7}), &entries).unwrap();
        let (h, back): (Value, _) = decode(&body).unwrap();
        assert_eq!(h["upto"], 7);
        assert_eq!(back, entries);
    }

    #[test]
    fn truncations_are_errors() {
        let entries = vec![
            Entry {
                record_id: RecordId::new(),
                payload: Payload::Change(vec![9; 100]),
            },
            Entry {
                record_id: RecordId::new(),
                payload: Payload::PhotoErased {
                    hash: PhotoHash::of(b"full"),
                    thumb: PhotoHash::of(b"thumb"),
                },
            },
        ];
        let body = encode(&json!({"upto": 1}), &entries).unwrap();
        for n in 0..body.len() {
            assert!(decode::<Value>(&body[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn oversized_bodies_are_too_large_not_malformed() {
        let big = vec![0u8; MAX_BODY + 1];
        assert!(matches!(decode::<Value>(&big), Err(Error::TooLarge { .. })));
        // A small body that decompresses past the limit (a "zip bomb").
        let bomb = zstd::bulk::compress(&vec![0u8; MAX_DECOMPRESSED + 1], 19).unwrap();
        assert!(bomb.len() < MAX_BODY);
        assert!(matches!(
            decode::<Value>(&bomb),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn what_decode_would_refuse_is_not_encoded() {
        let huge = vec![Entry {
            record_id: RecordId::new(),
            payload: Payload::Change(vec![0; MAX_CHANGE + 1]),
        }];
        assert!(matches!(
            encode(&json!({"upto": 1}), &huge),
            Err(Error::TooLarge { .. })
        ));
        let long_header = json!({ "pad": "x".repeat(MAX_HEADER) });
        assert!(matches!(
            encode(&long_header, &[]),
            Err(Error::TooLarge { .. })
        ));
        /// A header whose serialisation fails.
        struct Unserialisable;
        impl Serialize for Unserialisable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("refused"))
            }
        }
        assert!(matches!(
            encode(&Unserialisable, &[]),
            Err(Error::Internal(_))
        ));
    }

    /// A field note's change, as the one entry of a device's push.
    pub(crate) fn one_note() -> Vec<Entry> {
        let cfg = crate::TeamConfig::carcassonne();
        let fields = json!({
            "sector": "conte-joliot",
            "text": "Deux jeunes assis dans l'escalier du 12, échange tranquille ; \
                     la lumière du palier ne marche plus, signalé au gardien.",
            "axes": ["tranquillite"],
        });
        let fields =
            crate::schema::validate_new(&cfg, crate::Kind::Note, fields.as_object().unwrap())
                .unwrap();
        let actor = automerge::ActorId::random();
        let id = RecordId::new();
        let (doc, hash) = crate::doc::RecordDoc::create(
            &actor,
            id,
            crate::Kind::Note,
            "amina",
            crate::now_ms(),
            &fields,
        )
        .unwrap();
        vec![Entry {
            record_id: id,
            payload: Payload::Change(doc.change_bytes(&hash).unwrap()),
        }]
    }

    #[test]
    fn an_app_of_format_3_reads_what_is_encoded_for_it_and_newer_ones_get_the_dictionary() {
        let entries = one_note();
        let header = json!({"upto": 1});
        let old = encode_for(3, &header, &entries).unwrap();
        let new = encode(&header, &entries).unwrap();
        // Format 3: plain zstd, what an app built before the dictionary has.
        assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&old), None);
        let plain = zstd::bulk::decompress(&old, MAX_DECOMPRESSED).unwrap();
        assert_eq!(&plain[..4], MAGIC);
        // From format 4: the frame names dictionary 1, and cannot be read
        // without it.
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&new).map(|i| i.get()),
            Some(dictionary::DICTIONARY_ID)
        );
        assert!(zstd::bulk::decompress(&new, MAX_DECOMPRESSED).is_err());
        // Both decode to the same envelope (a server takes pushes of both).
        for body in [&old, &new] {
            let (h, back): (Value, _) = decode(body).unwrap();
            assert_eq!((h, &back), (header.clone(), &entries));
        }
        // What it is for: one note's envelope, the usual sync of a record
        // or two, is about half as large.
        assert!(
            new.len() * 10 < old.len() * 7,
            "{} B with the dictionary, {} B without",
            new.len(),
            old.len()
        );
    }

    #[test]
    fn a_frame_made_with_another_dictionary_is_refused_not_misread() {
        // Dictionary 1 under another id: what a future dictionary's frame
        // looks like to this build.
        let other = dictionary::tests::another_dictionary();
        let body = zstd::bulk::Compressor::with_dictionary(LEVEL, &other)
            .unwrap()
            .compress(b"CRN1\x02\0\0\0{}")
            .unwrap();
        let err = decode::<Value>(&body).unwrap_err().to_string();
        assert!(
            err.contains("a dictionary this build does not have"),
            "{err}"
        );
    }

    #[test]
    fn a_body_of_two_frames_is_refused() {
        // A plain frame after a dictionary one would be decoded with the
        // dictionary; no encoder of Carnet's makes more than one frame.
        let header = json!({"upto": 1});
        let mut body = encode(&header, &one_note()).unwrap();
        body.extend_from_slice(&encode_for(3, &header, &one_note()).unwrap());
        let err = decode::<Value>(&body).unwrap_err().to_string();
        assert!(err.contains("not one zstd frame"), "{err}");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = decode::<Value>(&bytes);
            let _ = decode::<Value>(&zstd::bulk::compress(&bytes, 1).unwrap());
            let with_dictionary = zstd::bulk::Compressor::with_dictionary(1, dictionary::DICTIONARY)
                .unwrap()
                .compress(&bytes)
                .unwrap();
            let _ = decode::<Value>(&with_dictionary);
        }
    }
}
