//! Record ids: UUIDv7, so that ids sort by creation time and never collide
//! between devices that create records offline.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// The id of a record, the same on every device and on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordId(Uuid);

impl RecordId {
    /// A fresh time-ordered id.
    pub fn new() -> Self {
        RecordId(Uuid::now_v7())
    }

    /// The 16 bytes used in the database and on the wire.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Rebuilds an id from its 16 bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        RecordId(Uuid::from_bytes(b))
    }

    /// Reads 16 bytes from a slice, for decoders of untrusted input.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        Uuid::from_slice(b).ok().map(RecordId)
    }
}

impl Default for RecordId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for RecordId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Uuid::parse_str(s.trim()).map(RecordId).map_err(|_| {
            Error::invalid(
                "id",
                "expected a record id like 0192f0c8-7c1e-7d3a-9e1f-3b2a1c0d4e5f",
            )
        })
    }
}
