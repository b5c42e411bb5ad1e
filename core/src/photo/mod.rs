//! Photos of dégradations and field notes: what a record's document says of
//! them, how they are named (the SHA-256 of their stored bytes), the limits
//! a team sets, and (in [`process`]) how a camera's bytes become the stored
//! photo and its thumbnail.
//!
//! A photo is two content-addressed blobs: the full image (longest side at
//! most [`PhotoSettings::max_side`]) and its thumbnail (at most
//! [`PhotoSettings::thumb_side`]), both JPEG with no metadata. The record's
//! document holds a [`PhotoRef`] per photo under its root key `photos`
//! (a map from the full image's hash), so references merge like any field;
//! the bytes travel apart from the change feed (see `docs/photos.md`).

pub mod process;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{Error, Kind, Result};

/// Whether records of `kind` take photos: dégradation reports and field
/// notes. A resident's contact never does (a face is personal data the
/// contact's fields are kept free of); nor does an activity.
pub fn takes_photos(kind: Kind) -> bool {
    matches!(kind, Kind::Report | Kind::Note)
}

/// A blob to move between a device and the server: which photo it belongs
/// to, which of its two blobs it is, and its size (known from the record's
/// document before any byte arrives, so a transfer can be resumed and
/// checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobTransfer {
    /// The photo's hash (its full image's).
    pub photo: PhotoHash,
    /// The blob's own hash: `photo` for the full image, the thumbnail's otherwise.
    pub blob: PhotoHash,
    /// Which blob.
    pub variant: Variant,
    /// Its size, bytes.
    pub size: u64,
}

/// What a team's log says of a blob: what a server checks before it takes
/// or serves bytes under that hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStatus {
    /// A live record's document names it, as this variant of this size.
    Referenced {
        /// Its size, bytes, as the document says.
        size: u64,
        /// Full image or thumbnail.
        variant: Variant,
    },
    /// The photo was removed and erased: its bytes must never come back.
    Erased,
    /// No live record names it.
    Unknown,
}

/// A record's photo as this device holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoInfo {
    /// The reference in the record's document.
    pub photo: PhotoRef,
    /// Whether the thumbnail's bytes are here.
    pub has_thumbnail: bool,
    /// Whether the full image's bytes are here.
    pub has_full: bool,
    /// Whether the server has it: sent from here, or received from it.
    pub uploaded: bool,
}

/// The SHA-256 of a blob's bytes: its name everywhere (device, wire, server).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhotoHash(pub [u8; 32]);

impl PhotoHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> PhotoHash {
        PhotoHash(Sha256::digest(bytes).into())
    }

    /// Lowercase hex, as in paths, documents and JSON.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads 64 hex digits (either case).
    pub fn parse(s: &str) -> Result<PhotoHash> {
        let s = s.trim();
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(Error::invalid(
                "photo",
                "a photo is named by 64 hexadecimal digits (its SHA-256)",
            ));
        }
        Ok(PhotoHash(out))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From 32 raw bytes (a database column); `None` for another length.
    pub fn from_slice(bytes: &[u8]) -> Option<PhotoHash> {
        bytes.try_into().ok().map(PhotoHash)
    }
}

impl fmt::Display for PhotoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PhotoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhotoHash({})", self.to_hex())
    }
}

impl FromStr for PhotoHash {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PhotoHash::parse(s)
    }
}

impl Serialize for PhotoHash {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PhotoHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhotoHash::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which of a photo's two blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The stored photo (longest side at most `max_side`).
    Full,
    /// Its thumbnail (longest side at most `thumb_side`).
    Thumb,
}

/// A photo as a record's document references it: enough to fetch and check
/// both blobs and to lay them out before they arrive. Never anything about
/// what the photo shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// SHA-256 of the full image's bytes.
    pub hash: PhotoHash,
    /// SHA-256 of the thumbnail's bytes.
    pub thumb: PhotoHash,
    /// Bytes of the full image.
    pub size: u64,
    /// Bytes of the thumbnail.
    pub thumb_size: u64,
    /// Pixels, after orientation and resizing.
    pub width: u32,
    /// Pixels, after orientation and resizing.
    pub height: u32,
    /// When it was attached, ms since the Unix epoch (the order photos show in).
    pub added_at: i64,
}

impl PhotoRef {
    /// The blob of `variant`: its hash and size.
    pub fn blob(&self, variant: Variant) -> (PhotoHash, u64) {
        match variant {
            Variant::Full => (self.hash, self.size),
            Variant::Thumb => (self.thumb, self.thumb_size),
        }
    }
}

/// What a team allows and how photos are made; part of the team's
/// configuration, so the server sets it for every device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoSettings {
    /// Longest side of the stored photo, pixels.
    pub max_side: u32,
    /// Longest side of the thumbnail, pixels.
    pub thumb_side: u32,
    /// JPEG quality of the stored photo (1–100).
    pub quality: u8,
    /// Largest camera file accepted for attaching, bytes.
    pub max_input_bytes: u64,
    /// Largest stored photo (after resizing), bytes: what the server accepts.
    pub max_photo_bytes: u64,
    /// Photos per record.
    pub max_per_record: u32,
    /// Photo bytes a device may hold waiting for upload.
    pub max_pending_bytes: u64,
    /// Whether devices download every full photo at sync, rather than only
    /// thumbnails (full photos then come when someone opens one).
    pub download_full: bool,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings {
            max_side: 1600,
            thumb_side: 320,
            quality: 85,
            max_input_bytes: 40 << 20,
            max_photo_bytes: 8 << 20,
            max_per_record: 10,
            max_pending_bytes: 300 << 20,
            download_full: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_read_back_from_hex_and_refuse_anything_else() {
        let h = PhotoHash::of(b"photo");
        assert_eq!(PhotoHash::parse(&h.to_hex()).unwrap(), h);
        assert_eq!(PhotoHash::parse(&h.to_hex().to_uppercase()).unwrap(), h);
        for bad in ["", "zz", &h.to_hex()[..63], &format!("{}0", h.to_hex())] {
            assert!(PhotoHash::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<PhotoHash>(&json).unwrap(), h);
    }
}
