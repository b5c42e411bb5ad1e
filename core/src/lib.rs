//! Carnet's core: what a mediator's phone embeds to record field work with no
//! network, keep it encrypted, and merge it with the rest of the team's.
//!
//! - [`schema`], [`model`], [`lifecycle`], [`config`]: the records and their rules;
//! - [`edit`]: every change to an existing record, as one typed action;
//! - [`consent`], [`retention`], [`redact`]: residents' rights (consent
//!   per purpose, how long a contact is kept, names out of free text);
//!   [`labels`]: the French words for their codes;
//! - [`doc`]: one automerge document per record, and how fields map onto it;
//! - [`photo`]: photos attached to reports and notes;
//! - [`store`]: the SQLite/SQLCipher store, its read model and replication;
//! - [`sync`]: the sync protocol as a pure state machine, its wire format,
//!   and (feature `http-client`) the HTTP client that drives it.

#![forbid(unsafe_code)]

// SQLCipher's crypto provider: no item is used from Rust, but SQLCipher
// calls into it, so it must be linked wherever the core is.
use carnet_sqlcipher_crypto as _;

pub mod config;
pub mod consent;
pub mod csv;
pub mod doc;
pub mod edit;
mod error;
mod id;
pub mod labels;
pub mod lifecycle;
pub mod migrate;
pub mod model;
pub mod photo;
pub mod redact;
pub mod retention;
mod role;
pub mod rules;
pub mod schema;
pub mod store;
pub mod sync;

pub use config::TeamConfig;
pub use error::{Error, Result};
pub use id::RecordId;
pub use lifecycle::ReportStatus;
pub use model::Record;
pub use role::Role;
pub use schema::Kind;
pub use store::{DeviceEnrollment, Store};

/// Now, in milliseconds since the Unix epoch: the unit of every time Carnet stores.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
