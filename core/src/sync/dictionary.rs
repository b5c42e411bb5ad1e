//! Carnet's zstd dictionary 1: what record changes and envelope headers
//! share (automerge's column layout, field names, the shape of a change's
//! message, the words of the trade). Envelopes are compressed with it from
//! format 4 ([`super::wire`]), so that a page of one or a few changes, the
//! usual end-of-shift sync, is not compressed from nothing; stores pack
//! their change logs' rows with it (`crate::store`'s `packed`).
//!
//! Trained once on generated envelopes of every kind of record and edit
//! (`core/examples/envelope_samples.rs` says how). Its bytes are part of
//! the wire format and of the stores' files and never change: a new
//! dictionary is a new id and a new format. Every zstd frame names the
//! dictionary it was made with, and [`for_frame`] is the one place that
//! reads that name, for both.

use std::sync::OnceLock;

use zstd::dict::DecoderDictionary;

/// The dictionary's bytes.
pub(crate) const DICTIONARY: &[u8] = include_bytes!("dictionary-1.zdict");

/// The id dictionary 1 names itself by, written in every frame made with
/// it ("CRN" and 1).
pub const DICTIONARY_ID: u32 = 0x4352_4e01;

/// A frame made with a dictionary this build does not have: refused,
/// never read with another.
#[derive(Debug)]
pub(crate) struct UnknownDictionary;

/// The dictionary to read `frame` with, as its header names it: none for
/// a frame made without one (an app of format 3, a row packed before the
/// dictionary), dictionary 1 for its frames. A frame made without a
/// dictionary must be read without one: read with it, it would take the
/// dictionary's history and repeat offsets for its own.
pub(crate) fn for_frame(
    frame: &[u8],
) -> Result<Option<&'static DecoderDictionary<'static>>, UnknownDictionary> {
    static D: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    match zstd::zstd_safe::get_dict_id_from_frame(frame).map(|id| id.get()) {
        None => Ok(None),
        Some(DICTIONARY_ID) => Ok(Some(D.get_or_init(|| DecoderDictionary::copy(DICTIONARY)))),
        Some(_) => Err(UnknownDictionary),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Dictionary 1 under another id: what a future dictionary's frames
    /// look like to this build.
    pub(crate) fn another_dictionary() -> Vec<u8> {
        let mut other = DICTIONARY.to_vec();
        other[4..8].copy_from_slice(&(DICTIONARY_ID + 1).to_le_bytes());
        other
    }

    #[test]
    fn the_dictionary_is_dictionary_1_byte_for_byte() {
        // Apps in the field decompress with these bytes, and stores hold
        // rows packed with them: changing them breaks every one. A new
        // dictionary is a new format.
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_dict(DICTIONARY).map(|i| i.get()),
            Some(DICTIONARY_ID)
        );
        assert_eq!(DICTIONARY.len(), 8192);
        assert_eq!(
            crate::photo::PhotoHash::of(DICTIONARY).to_string(),
            "9c31adc6046274a76f2639ba1d8a3da4a45ce72823afd4331e25bcfbb8832e0f"
        );
    }

    #[test]
    fn a_frame_names_the_dictionary_to_read_it_with() {
        let data = b"a change, a change, a change";
        let plain = zstd::bulk::compress(data, 1).unwrap();
        assert!(for_frame(&plain).unwrap().is_none());
        let ours = zstd::bulk::Compressor::with_dictionary(1, DICTIONARY)
            .unwrap()
            .compress(data)
            .unwrap();
        assert!(for_frame(&ours).unwrap().is_some());
        let theirs = zstd::bulk::Compressor::with_dictionary(1, &another_dictionary())
            .unwrap()
            .compress(data)
            .unwrap();
        assert!(for_frame(&theirs).is_err());
    }
}
