//! Change bytes as a store's change log keeps them: each change compressed
//! alone with zstd (level 1) and Carnet's dictionary
//! ([`crate::sync::dictionary`]), which holds what every change shares: the
//! store bench's 100k records take 1,190 B each on disk with it, 1,392
//! without (`docs/performance.md`, with a probe's timing of the packing
//! itself). Changes travel uncompressed so that an
//! envelope's zstd sees what a batch shares (`docs/sync-protocol.md`); kept
//! that way they would cost the store a fifth more disk (1,321 → 1,597 B per
//! record in the store bench, over its 1.5 KB budget; 1,392 B packed). The
//! store bench's apply rate did not move beyond this VM's noise (6,381
//! changes/s before packing, 6,217 after; `docs/performance.md`). Rows
//! written before hold zstd frames without the dictionary, or automerge's
//! own chunks, which start with automerge's magic bytes, never zstd's: all
//! read back alike.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::thread::LocalKey;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::EncoderDictionary;

use crate::sync::dictionary::{self, DICTIONARY};
use crate::sync::wire::MAX_CHANGE;
use crate::{Error, Result};

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

thread_local! {
    static PACKER: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    static DICTIONARY_UNPACKER: RefCell<Option<Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Carnet's dictionary, at the log's level.
fn packing_dictionary() -> &'static EncoderDictionary<'static> {
    static D: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    D.get_or_init(|| EncoderDictionary::copy(DICTIONARY, 1))
}

fn unreadable(e: std::io::Error) -> Error {
    Error::Unreadable {
        what: "a change in the change log",
        source: Some(Box::new(e)),
    }
}

/// Runs `f` on this thread's (de)compressor in `key`, made by `make` the
/// first time: a context made once per thread, not once per change.
fn with_cached<T: 'static, R>(
    key: &'static LocalKey<RefCell<Option<T>>>,
    make: impl FnOnce() -> std::io::Result<T>,
    f: impl FnOnce(&mut T) -> std::io::Result<R>,
) -> Result<R> {
    key.with(|cell| {
        let mut cell = cell.borrow_mut();
        let it = match cell.as_mut() {
            Some(it) => it,
            None => cell.insert(make().map_err(unreadable)?),
        };
        f(it).map_err(unreadable)
    })
}

/// A change's bytes as a log row keeps them.
pub(super) fn pack(change: &[u8]) -> Result<Vec<u8>> {
    with_cached(
        &PACKER,
        || Compressor::with_prepared_dictionary(packing_dictionary()),
        |c| c.compress(change),
    )
}

/// A change's bytes from a log row, packed with the dictionary, packed
/// without it (written before it) or (written before packing) not at all:
/// also for a tool that reads a store's file itself (`carnet-server
/// migrate-storage` copies team logs into PostgreSQL, which keeps changes
/// as they are).
pub fn unpack(stored: Vec<u8>) -> Result<Vec<u8>> {
    if !stored.starts_with(&ZSTD_MAGIC) {
        return Ok(stored);
    }
    let size = zstd::zstd_safe::get_frame_content_size(&stored)
        .ok()
        .flatten()
        .filter(|n| *n <= MAX_CHANGE as u64)
        .ok_or_else(|| unreadable(std::io::Error::other("no size, or too large")))?
        as usize;
    let dictionary = dictionary::for_frame(&stored).map_err(|_| {
        unreadable(std::io::Error::other(
            "packed with a dictionary this build does not have",
        ))
    })?;
    match dictionary {
        None => with_cached(&UNPACKER, Decompressor::new, |d| {
            d.decompress(&stored, size)
        }),
        Some(dict) => with_cached(
            &DICTIONARY_UNPACKER,
            || Decompressor::with_prepared_dictionary(dict),
            |d| d.decompress(&stored, size),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_and_unpacked_changes_read_back_alike() {
        let change = b"\x85\x6f\x4a\x83 an automerge chunk, field names field names".to_vec();
        let packed = pack(&change).unwrap();
        assert!(packed.starts_with(&ZSTD_MAGIC));
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&packed).map(|i| i.get()),
            Some(dictionary::DICTIONARY_ID)
        );
        assert_eq!(unpack(packed).unwrap(), change);
        assert_eq!(
            unpack(change.clone()).unwrap(),
            change,
            "rows written before packing"
        );
        let plain = zstd::bulk::compress(&change, 1).unwrap();
        assert_eq!(
            unpack(plain).unwrap(),
            change,
            "rows packed before the dictionary"
        );
        let mut damaged = pack(&change).unwrap();
        damaged.truncate(damaged.len() - 3);
        assert!(unpack(damaged).is_err());
        // Dictionary 1 under another id: a row this build cannot read is
        // an error, never other bytes.
        let other = dictionary::tests::another_dictionary();
        let foreign = Compressor::with_dictionary(1, &other)
            .unwrap()
            .compress(&change)
            .unwrap();
        let err = unpack(foreign).unwrap_err();
        assert!(matches!(err, Error::Unreadable { .. }), "{err}");
    }

    #[test]
    fn the_dictionary_packs_a_field_note_in_about_half() {
        let crate::store::Payload::Change(note) =
            crate::sync::wire::tests::one_note().remove(0).payload
        else {
            panic!("a change");
        };
        let plain = zstd::bulk::compress(&note, 1).unwrap();
        let packed = pack(&note).unwrap();
        assert!(
            packed.len() * 10 < plain.len() * 7,
            "{} B with the dictionary, {} B without",
            packed.len(),
            plain.len()
        );
        assert_eq!(unpack(packed).unwrap(), note);
    }
}
