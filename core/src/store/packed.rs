//! Change bytes as a store's change log keeps them: each change compressed
//! alone with zstd (level 1). Changes travel uncompressed so that an
//! envelope's zstd sees what a batch shares (`docs/sync-protocol.md`); kept
//! that way they would cost the store a fifth more disk (1,321 → 1,597 B per
//! record in the store bench, over its 1.5 KB budget; 1,392 B packed). The
//! store bench's apply rate did not move beyond this VM's noise (6,381
//! changes/s before packing, 6,217 after; `docs/performance.md`). Rows
//! written before hold automerge's own chunks, which start with automerge's
//! magic bytes, never zstd's: both read back alike.

use std::cell::RefCell;

use crate::sync::wire::MAX_CHANGE;
use crate::{Error, Result};

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

thread_local! {
    static PACKER: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn unreadable(e: std::io::Error) -> Error {
    Error::Unreadable {
        what: "a change in the change log",
        source: Some(Box::new(e)),
    }
}

/// A change's bytes as a log row keeps them.
pub(super) fn pack(change: &[u8]) -> Result<Vec<u8>> {
    PACKER.with(|p| {
        let mut p = p.borrow_mut();
        let packer = match p.as_mut() {
            Some(c) => c,
            None => p.insert(zstd::bulk::Compressor::new(1).map_err(unreadable)?),
        };
        packer.compress(change).map_err(unreadable)
    })
}

/// A change's bytes from a log row, packed or (written before) not: also
/// for a tool that reads a store's file itself (`carnet-server
/// migrate-storage` copies team logs into PostgreSQL, which keeps changes
/// as they are).
pub fn unpack(stored: Vec<u8>) -> Result<Vec<u8>> {
    if !stored.starts_with(&ZSTD_MAGIC) {
        return Ok(stored);
    }
    UNPACKER.with(|u| {
        let mut u = u.borrow_mut();
        let unpacker = match u.as_mut() {
            Some(d) => d,
            None => u.insert(zstd::bulk::Decompressor::new().map_err(unreadable)?),
        };
        let size = zstd::zstd_safe::get_frame_content_size(&stored)
            .ok()
            .flatten()
            .filter(|n| *n <= MAX_CHANGE as u64)
            .ok_or_else(|| unreadable(std::io::Error::other("no size, or too large")))?;
        unpacker
            .decompress(&stored, size as usize)
            .map_err(unreadable)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_and_unpacked_changes_read_back_alike() {
        let change = b"\x85\x6f\x4a\x83 an automerge chunk, field names field names".to_vec();
        let packed = pack(&change).unwrap();
        assert!(packed.starts_with(&ZSTD_MAGIC));
        assert_eq!(unpack(packed).unwrap(), change);
        assert_eq!(
            unpack(change.clone()).unwrap(),
            change,
            "rows written before"
        );
        let mut damaged = pack(&change).unwrap();
        damaged.truncate(damaged.len() - 3);
        assert!(unpack(damaged).is_err());
    }
}
