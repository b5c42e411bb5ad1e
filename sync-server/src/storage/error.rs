//! The storage's own error: what a [`super::Storage`] call can fail with,
//! whichever database holds the teams. The server turns it into its
//! answers (`ServerError`, then a problem response) in one place.

/// Every failure of a storage call. Messages tell the person at the other
/// end what to do and never carry a resident's data (database errors are
/// sources, not messages, where a database may quote values).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Input the storage refuses (a name too long, a malformed actor);
    /// nothing was changed.
    #[error("{0}")]
    BadRequest(String),
    /// The enrollment code is unknown, already used, or expired.
    #[error(
        "the enrollment code is unknown, already used or expired; ask a supervisor for a new one"
    )]
    InvalidCode,
    /// The device may not do this any more (revoked, or wipe ordered).
    #[error("missing, unknown or revoked device token; enroll the device again")]
    Unauthorized,
    /// The code's role may not be used this way.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such team or device.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is stored (an actor bound to another
    /// device); the message says what to do.
    #[error("{0}")]
    Conflict(String),
    /// A photo upload resumed at another offset than the bytes the server
    /// holds (a lost answer, or two uploads of one photo at once): the
    /// device resumes from `received`.
    #[error("the server holds {received} bytes of this photo: resume the upload from there")]
    PhotoOffset {
        /// Bytes of the photo the server holds.
        received: u64,
    },
    /// A photo's received bytes are not the photo its hash names (or not an
    /// image): they were dropped, and the upload starts over.
    #[error("{0}")]
    PhotoCorrupt(String),
    /// The storage cannot be opened as configured (a directory, a URL, a
    /// schema from a newer server).
    #[error("configuration: {0}")]
    Config(String),
    /// The core refused or failed (rules, documents, a team's SQLite store).
    #[error(transparent)]
    Core(#[from] carnet_core::Error),
    /// `server.db` failed.
    #[error("server database: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed or could not be reached.
    #[error("the server's database is unavailable or failed; retry later")]
    Postgres(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file of the data directory failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data this server cannot read back.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result of a storage call.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Postgres(Box::new(e))
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
        StorageError::Postgres(Box::new(e))
    }
}

impl From<StorageError> for crate::ServerError {
    fn from(e: StorageError) -> Self {
        use crate::ServerError as S;
        match e {
            StorageError::BadRequest(m) => S::BadRequest(m),
            StorageError::InvalidCode => S::InvalidCode,
            StorageError::Unauthorized => S::Unauthorized,
            StorageError::Forbidden(m) => S::Forbidden(m),
            StorageError::NotFound(m) => S::NotFound(m),
            StorageError::Conflict(m) => S::Conflict(m),
            StorageError::PhotoOffset { received } => S::PhotoOffset { received },
            StorageError::PhotoCorrupt(m) => S::PhotoCorrupt(m),
            StorageError::Config(m) => S::Config(m),
            StorageError::Core(e) => S::Core(e),
            StorageError::Database(e) => S::Database(e),
            StorageError::Postgres(e) => S::Storage(e),
            StorageError::Io(e) => S::Io(e),
            StorageError::Internal(m) => S::Internal(m),
        }
    }
}
