//! The errors Kotlin and Swift see: a few exceptions a person can act on.
//!
//! They carry field names, record ids and the core's explanations, never a
//! resident's data (the core's messages never contain values).

use crate::types::{Kind, ReportStatus};

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
    /// The photo is larger than the team allows: the camera's file
    /// (`max_input_bytes`) or the photo once made (`max_photo_bytes`).
    /// Nothing was written; take it again at a lower resolution.
    #[error("the photo is {bytes} bytes, more than the {limit} allowed")]
    PhotoTooLarge {
        /// Its size.
        bytes: u64,
        /// The team's limit.
        limit: u64,
    },
    /// The record already holds as many photos as the team allows; remove
    /// one first. Nothing was written.
    #[error("a record holds at most {limit} photos")]
    TooManyPhotos {
        /// Photos per record.
        limit: u32,
    },
    /// Photos waiting to be sent fill the room the team allows on a device:
    /// sync, then attach again. Nothing was written.
    #[error("{pending} bytes of photos are waiting to be sent (the limit is {limit}); sync first")]
    PendingPhotosFull {
        /// Bytes waiting.
        pending: u64,
        /// The team's limit.
        limit: u64,
    },
    /// The bytes are not a JPEG or PNG photo, or are damaged (a HEIC photo
    /// must be converted to JPEG first). Nothing was written.
    #[error("not a usable photo: {reason}")]
    NotAnImage {
        /// What is wrong (never the content).
        reason: String,
    },
    /// No photo with this hash on this record or device.
    #[error("no photo {hash} here")]
    PhotoNotFound {
        /// The hash asked for.
        hash: String,
    },
    /// The record names this photo but its bytes are not here yet: a
    /// thumbnail comes with the next sync, a full photo with
    /// [`crate::CarnetStore::fetch_photo`].
    #[error("photo {hash} has not been downloaded yet")]
    PhotoNotDownloaded {
        /// The photo's hash.
        hash: String,
    },
    /// The photo was removed from its record and erased everywhere; it
    /// cannot be read or attached again.
    #[error("photo {hash} was removed and erased")]
    PhotoErased {
        /// The photo's hash.
        hash: String,
    },
    /// Only reports and notes take photos (never a resident's contact).
    #[error(
        "photos go on reports and notes, not on a {}",
        carnet_core::Kind::from(*kind).code()
    )]
    PhotosNotAllowed {
        /// The record's kind.
        kind: Kind,
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
    /// The team's server no longer serves this app's sync format: the app
    /// must be updated from its store. Retrying cannot help; nothing was
    /// lost (the notes stay on the phone and sync after the update).
    #[error(
        "this app is too old for your team's server: update Carnet, then sync again. Nothing was lost: your notes stay on this phone"
    )]
    UpdateRequired,
    /// The team's server is older than this app: whoever runs it must
    /// update it. Retrying cannot help until then; nothing was lost.
    #[error(
        "the team's server is older than this app (format {server}, this app {app}): ask whoever runs it to update it, then sync again. Nothing was lost: your notes stay on this phone"
    )]
    ServerTooOld {
        /// The format the server named (2 when it names none).
        server: u32,
        /// This app's format.
        app: u32,
    },
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
            E::UpdateRequired => CarnetError::UpdateRequired,
            E::ServerTooOld { server, app } => CarnetError::ServerTooOld { server, app },
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
            E::PhotoTooLarge { bytes, limit } => CarnetError::PhotoTooLarge { bytes, limit },
            E::TooManyPhotos { limit } => CarnetError::TooManyPhotos { limit },
            E::PendingPhotosFull { pending, limit } => {
                CarnetError::PendingPhotosFull { pending, limit }
            }
            E::NotAnImage(reason) => CarnetError::NotAnImage { reason },
            E::PhotoNotFound(h) => CarnetError::PhotoNotFound { hash: h.to_hex() },
            E::PhotoNotDownloaded(h) => CarnetError::PhotoNotDownloaded { hash: h.to_hex() },
            E::PhotoErased(h) => CarnetError::PhotoErased { hash: h.to_hex() },
            E::PhotosNotAllowed(kind) => CarnetError::PhotosNotAllowed { kind: kind.into() },
            // Dropped and fetched again by the next attempt: like a network failure.
            e @ E::PhotoCorrupt(_) => CarnetError::Network {
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

#[cfg(test)]
mod tests {
    use super::CarnetError;

    #[test]
    fn format_mismatches_are_their_own_exceptions() {
        assert!(matches!(
            CarnetError::from(carnet_core::Error::UpdateRequired),
            CarnetError::UpdateRequired
        ));
        assert!(matches!(
            CarnetError::from(carnet_core::Error::ServerTooOld { server: 2, app: 3 }),
            CarnetError::ServerTooOld { server: 2, app: 3 }
        ));
    }
}
