//! The one error type of `carnet-core`.
//!
//! Messages tell a person what to fix and never carry a resident's data: a
//! field is named, its value is not.

use crate::photo::PhotoHash;
use crate::{Kind, RecordId, ReportStatus};

/// The cause of an [`Error::Unreadable`], kept for diagnosis.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure the core reports to its callers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule; nothing was written.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field to fix, as the API names it.
        field: String,
        /// What is wrong with it and what is expected.
        reason: String,
    },
    /// The record does not exist in this store.
    #[error("no record with id {0}")]
    NotFound(RecordId),
    /// The record was erased (RGPD art. 17); it can no longer be read or changed.
    #[error("record {0} was erased and cannot be changed")]
    Erased(RecordId),
    /// A report status change that the lifecycle does not allow.
    /// The statuses reachable instead are `from.allowed_next()`: the
    /// lifecycle's one list, not a copy carried in the error.
    #[error(
        "a report cannot go from {from} to {to}; allowed from {from}: {}",
        codes(from.allowed_next())
    )]
    InvalidTransition {
        /// The current status.
        from: ReportStatus,
        /// The requested status.
        to: ReportStatus,
    },
    /// The key does not open this store, or the file is not a Carnet store.
    #[error("the key does not open this store (wrong key, or not a Carnet database)")]
    WrongKey,
    /// The database was written by a newer version of Carnet.
    #[error(
        "this store has schema version {found} but this Carnet understands up to {supported}; update the app"
    )]
    NewerSchema {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Replicated bytes that cannot be verified and applied; the store is unchanged.
    #[error("rejected changes: {0}; nothing was applied")]
    RejectedChanges(String),
    /// A batch with entries its sender may not send: a change made by another
    /// device than the one pushing it, an erasure of something that is not a
    /// resident contact, or a change that the app of the device that made it
    /// would have refused. Nothing was applied.
    #[error(
        "refused: {reason} ({erasures} erasures and {changes} changes refused); nothing was applied"
    )]
    Refused {
        /// The rule broken (never a value).
        reason: String,
        /// Erasures the rules refused.
        erasures: usize,
        /// Changes the rules refused.
        changes: usize,
    },
    /// A body past the protocol's size limits; nothing was decoded.
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge {
        /// What was too large (the body, once decompressed…).
        what: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The local database failed (disk full, file locked or damaged…).
    /// SQLite's messages name tables and constraints, never row values, so
    /// the message carries its text; the error itself is the source.
    #[error("storage error: {0}")]
    Storage(#[source] rusqlite::Error),
    /// The database under a [`crate::store::LogStore`] other than SQLite
    /// (the server's PostgreSQL) failed; the error is the source, not in the
    /// message, since a database may quote values in its details.
    #[error("the team log's database failed; retry, or see the server's log")]
    Backend(#[source] Source),
    /// Data in the store that this build cannot read back: a damaged file,
    /// or something written in a shape this version does not know. `what`
    /// names the data; the decoder's own error is only the source, never in
    /// the message, because a decoder may quote the text it choked on.
    #[error("the store holds {what} that cannot be read; the file may be damaged")]
    Unreadable {
        /// What could not be read (`a record's document`, `the team configuration`…).
        what: &'static str,
        /// Why, when a decoder said so.
        #[source]
        source: Option<Source>,
    },
    /// A file of the store could not be read or written.
    #[error("file error: {0}")]
    Io(String),
    /// Reaching the sync server failed; retrying later is safe.
    #[error("network error: {0}")]
    Network(String),
    /// The server refused this device's credentials.
    #[error("this device is not enrolled or was revoked; enroll it again with a new code")]
    Unauthorized,
    /// The server ordered this device's store wiped; it has been erased.
    #[error("this device was ordered wiped by a supervisor; its local data has been erased")]
    Wiped,
    /// The server refused the request for a reason it explained.
    #[error("the server refused the request ({status}): {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's explanation.
        detail: String,
    },
    /// A photo past a team's size limit: the camera's file when attaching
    /// (`max_input_bytes`), or the stored photo (`max_photo_bytes`).
    #[error(
        "the photo is {bytes} bytes, more than the {limit} allowed; take it again at a lower resolution"
    )]
    PhotoTooLarge {
        /// Its size.
        bytes: u64,
        /// The team's limit.
        limit: u64,
    },
    /// The record already has as many photos as the team allows.
    #[error("a record holds at most {limit} photos; remove one before adding another")]
    TooManyPhotos {
        /// Photos per record.
        limit: u32,
    },
    /// Photos waiting for upload fill the room the team allows on a device.
    #[error(
        "{pending} bytes of photos are waiting to be sent (the limit is {limit}); sync before adding more"
    )]
    PendingPhotosFull {
        /// Bytes waiting, before this photo.
        pending: u64,
        /// The team's limit.
        limit: u64,
    },
    /// The bytes are not a photo this app can take (a JPEG or PNG), or are
    /// damaged. The reason names what is wrong, never the content.
    #[error("not a usable photo: {0}")]
    NotAnImage(String),
    /// No photo with this hash here (not on the record, or never seen).
    #[error("no photo {0} here")]
    PhotoNotFound(PhotoHash),
    /// The photo is known but its bytes have not been downloaded yet.
    #[error("photo {0} has not been downloaded yet; sync to get it")]
    PhotoNotDownloaded(PhotoHash),
    /// The photo was removed from its record and its bytes erased everywhere.
    #[error("photo {0} was removed and erased; it cannot be read or added again")]
    PhotoErased(PhotoHash),
    /// Photos go on dégradation reports and field notes only.
    #[error("photos go on reports and notes, not on a {}", .0.code())]
    PhotosNotAllowed(Kind),
    /// Downloaded bytes that do not hash to the photo they were fetched as;
    /// they were dropped and the download starts over.
    #[error("the downloaded photo {0} is damaged; it will be fetched again")]
    PhotoCorrupt(PhotoHash),
    /// The team's server no longer serves this app's sync format (it
    /// answered 426): only updating the app helps, so the sync stops at
    /// once and is not retried. Nothing was applied on either side.
    #[error(
        "this app is too old for your team's server: update Carnet, then sync again. Nothing was lost: your notes stay on this phone"
    )]
    UpdateRequired,
    /// The team's server speaks an older sync format than this app: it
    /// could misread what this app sends, so the sync stopped at its first
    /// answer, before applying anything that answer carried.
    #[error(
        "the team's server is older than this app (format {server}, this app {app}): ask whoever runs it to update it, then sync again. Nothing was lost: your notes stay on this phone"
    )]
    ServerTooOld {
        /// The format the server named (2 when it names none).
        server: u32,
        /// This app's format.
        app: u32,
    },
    /// The user cancelled the operation.
    #[error("cancelled")]
    Cancelled,
    /// A bug inside Carnet, caught before it could crash the app.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for an [`Error::Unreadable`] caused by `source`.
    /// For `map_err` on a decoder's result.
    pub(crate) fn unreadable<E: Into<Source>>(what: &'static str) -> impl FnOnce(E) -> Self {
        move |source| Error::Unreadable {
            what,
            source: Some(source.into()),
        }
    }

    /// Shorthand for an [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        // SQLite's messages name tables and constraints, never row values.
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => Error::WrongKey,
            _ => Error::Storage(e),
        }
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Internal(format!("document: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// Status codes as a message lists them.
fn codes(statuses: &[ReportStatus]) -> String {
    statuses
        .iter()
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Result type of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
