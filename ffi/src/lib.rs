//! `carnet-ffi`: the surface the Android and iOS apps reach Carnet's core
//! through, generated into Kotlin (`org.carnet.core`) and Swift
//! (`CarnetCore`) by uniffi in library mode (see `uniffi.toml`).
//!
//! Only wrappers live here: [`CarnetStore`] holds the core's `Store` and
//! calls it in one line per method; records and enums are mirrored in
//! [`types`] and [`inputs`] with `From` conversions; [`CarnetError`] is the
//! public error. Rules, SQL and sync are the core's.
//!
//! Every call blocks (disk, and network for `sync`, `fetch_photo` and
//! `enroll`; attaching a photo also resizes it): call it off the main
//! thread. A panic in Rust is caught at the boundary and thrown as an
//! exception; the store stays usable (no `panic = "abort"`, and the core's
//! lock recovers from poisoning).

#![forbid(unsafe_code)]

mod error;
mod inputs;
mod labels;
mod photos;
mod store;
mod sync;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
mod types;

pub use error::CarnetError;
pub use inputs::{NewActivity, NewContact, NewNote, NewReport};
pub use labels::{kind_label, purpose_label, status_label};
pub use photos::{PhotoInfo, PhotoRef, PhotoSettings};
pub use store::CarnetStore;
pub use sync::{SyncCancel, SyncProgress, allowed_next};
pub use types::*;

uniffi::setup_scaffolding!();
