//! The errors Kotlin and Swift see: a few exceptions a person can act on.
//!
//! They carry field names, record ids and the core's explanations, never a
//! resident's data (the core's messages never contain values).

use crate::types::ReportStatus;

/// Why a call failed. In Kotlin `CarnetException.*`, in Swift `CarnetError.*`.
///
/// A panic inside Rust (a bug) is caught at the boundary and thrown as
/// uniffi's internal error (`InternalException` in Kotlin,
/// `UniffiInternalError.rustPanic` in Swift); the store stays usable.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum CarnetError {
    /// Input that breaks a rule; nothing was written. `field` names what to fix.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The field to fix, as the API names it (`sector`, `key`, `id`…).
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A report status change the lifecycle does not allow; nothing was
    /// written. `allowed` is what [`crate::allowed_next`] gives for `from`:
    /// the buttons to offer instead.
    #[error(
        "a report cannot go from {} to {}; allowed: {}",
        code(*from),
        code(*to),
        allowed.iter().map(|s| code(*s)).collect::<Vec<_>>().join(", ")
    )]
    InvalidTransition {
        /// The report's current status.
        from: ReportStatus,
        /// The status asked for.
        to: ReportStatus,
        /// The statuses reachable from `from`.
        allowed: Vec<ReportStatus>,
    },
    /// No record with this id in this store.
    #[error("no record with id {id}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The record was erased at the resident's request; it is gone for good.
    #[error("record {id} was erased")]
    Erased {
        /// The erased record's id.
        id: String,
    },
    /// The key does not open this store (or the file is not a Carnet store).
    #[error("the key does not open this store")]
    WrongKey,
    /// The server does not know this device, or a supervisor revoked it:
    /// enroll again with a new code.
    #[error("this device is not enrolled or was revoked; enroll it again with a new code")]
    NotEnrolled,
    /// A supervisor ordered this device wiped; its store has been erased.
    #[error("this device was ordered wiped; its local data has been erased")]
    Wiped,
    /// The server could not be reached or refused the request; retrying later is safe.
    #[error("network: {reason}")]
    Network {
        /// What failed (no record content).
        reason: String,
    },
    /// The sync was cancelled through its [`crate::SyncCancel`].
    #[error("cancelled")]
    Cancelled,
    /// The local database or its files failed (disk full, newer app version…).
    #[error("storage: {reason}")]
    Storage {
        /// What failed (no record content).
        reason: String,
    },
    /// A bug inside Carnet, caught before it could crash the app.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl From<carnet_core::Error> for CarnetError {
    fn from(e: carnet_core::Error) -> Self {
        use carnet_core::Error as E;
        match e {
            E::Invalid { field, reason } => CarnetError::InvalidInput { field, reason },
            E::InvalidTransition { from, to } => CarnetError::InvalidTransition {
                from: from.into(),
                to: to.into(),
                allowed: from.allowed_next().iter().map(|s| (*s).into()).collect(),
            },
            E::NotFound(id) => CarnetError::NotFound { id: id.to_string() },
            E::Erased(id) => CarnetError::Erased { id: id.to_string() },
            E::WrongKey => CarnetError::WrongKey,
            E::Unauthorized => CarnetError::NotEnrolled,
            E::Wiped => CarnetError::Wiped,
            e @ (E::Network(_) | E::Server { .. }) => CarnetError::Network {
                reason: e.to_string(),
            },
            E::Cancelled => CarnetError::Cancelled,
            e @ (E::Storage(_)
            | E::Backend(_)
            | E::Unreadable { .. }
            | E::Io(_)
            | E::NewerSchema { .. }
            | E::RejectedChanges(_)
            | E::Refused { .. }
            | E::TooLarge { .. }) => CarnetError::Storage {
                reason: e.to_string(),
            },
            // Until the bindings expose photos with errors of their own:
            // what to fix, in the core's words.
            e @ (E::PhotoTooLarge { .. }
            | E::TooManyPhotos { .. }
            | E::PendingPhotosFull { .. }
            | E::NotAnImage(_)
            | E::PhotoNotFound(_)
            | E::PhotoNotDownloaded(_)
            | E::PhotoErased(_)
            | E::PhotosNotAllowed(_)
            | E::PhotoCorrupt(_)) => CarnetError::InvalidInput {
                field: "photo".into(),
                reason: e.to_string(),
            },
            E::Internal(reason) => CarnetError::Internal { reason },
        }
    }
}

/// A status as the core's messages spell it (`in_progress`).
fn code(s: ReportStatus) -> &'static str {
    carnet_core::ReportStatus::from(s).code()
}

/// Shorthand for the exported functions' results.
pub type Result<T, E = CarnetError> = std::result::Result<T, E>;
