//! The errors Kotlin and Swift see: a few exceptions a person can act on.
//!
//! They carry field names, record ids and the core's explanations, never a
//! resident's data (the core's messages never contain values).

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
    /// A report status change the lifecycle does not allow; nothing was written.
    /// Statuses are given by their codes (`reported`, `in_progress`…); the
    /// typed list is [`crate::allowed_next`].
    #[error("a report cannot go from {from} to {to}; allowed: {allowed}")]
    InvalidTransition {
        /// The report's current status code.
        from: String,
        /// The status code asked for.
        to: String,
        /// The status codes reachable from `from`, comma-separated.
        allowed: String,
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
            E::InvalidTransition { from, to, allowed } => {
                CarnetError::InvalidTransition { from, to, allowed }
            }
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
            | E::Io(_)
            | E::NewerSchema { .. }
            | E::RejectedChanges(_)
            | E::Refused { .. }
            | E::TooLarge { .. }) => CarnetError::Storage {
                reason: e.to_string(),
            },
            E::Internal(reason) => CarnetError::Internal { reason },
        }
    }
}

/// Shorthand for the exported functions' results.
pub type Result<T, E = CarnetError> = std::result::Result<T, E>;
