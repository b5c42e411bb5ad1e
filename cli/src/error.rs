//! The one error type of the command line.
//!
//! Every failure ends as `error: …` on stderr and a non-zero exit code: 2 for
//! a command typed wrong (as clap does), 1 for everything else. Messages name
//! what to fix — a flag, a field, a file — and never repeat a value typed by
//! the user, because that value may be a resident's name or phone number.

use std::path::PathBuf;

/// Everything `carnet` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The core refused or failed (validation, storage, network…); its
    /// messages are already free of residents' data.
    #[error("{}", core_message(.0))]
    Core(#[from] carnet_core::Error),
    /// The command line is incomplete or contradictory.
    #[error("{0}")]
    Usage(String),
    /// No key to open the store with.
    #[error(
        "no key for the store in {}: set CARNET_KEY (64 hexadecimal characters) or keep the key file carnet.key that `carnet init` wrote there",
        .0.display()
    )]
    NoKey(PathBuf),
    /// The key (from CARNET_KEY or the key file) is malformed or unsafe.
    #[error("{0}")]
    BadKey(String),
    /// `--store DIR` holds no store yet.
    #[error(
        "no Carnet store in {}: create one with `carnet --store {} init` (add --server URL --code CODE to enroll it)",
        .0.display(),
        .0.display()
    )]
    NoStore(PathBuf),
    /// The store was never enrolled with a server.
    #[error(
        "this store is not enrolled with a server: run `carnet --store DIR init --server URL --code CODE` with a code from your supervisor"
    )]
    NotEnrolled,
    /// A full photo that is not on this device, and no server to fetch it
    /// from.
    #[error(
        "the full photo {0} is not on this device and this store is not enrolled with a server to fetch it from; save its thumbnail with --thumbnail, or enroll the store with `carnet --store DIR init --server URL --code CODE`"
    )]
    PhotoNotHere(carnet_core::photo::PhotoHash),
    /// The server did not give a full photo (not uploaded yet, or erased).
    #[error(
        "the server has no full copy of this photo yet: the device that took it sends it at its next sync (or it was removed); run `carnet sync` and try again later{}",
        .0.as_deref().map(|p| format!(" ({p})")).unwrap_or_default()
    )]
    PhotoNotOnServer(Option<String>),
    /// A file of the command line's own (key file, demo directory) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The demo could not run (its server did not start, a step failed).
    #[error("demo: {0}")]
    Demo(String),
}

impl CliError {
    /// Process exit code: 2 for usage errors (as clap), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Shorthand for an I/O error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// The core's message, with a hint where the command line knows a better
/// next step than the core can.
fn core_message(e: &carnet_core::Error) -> String {
    match e {
        carnet_core::Error::Server { status: 403, .. } => {
            format!(
                "{e} (this route is for a supervisor's device: enroll one with a supervisor code)"
            )
        }
        carnet_core::Error::Network(cause) if cause.contains("certificate") => format!(
            "{e} (if the server's certificate was issued by the deployment's own CA, trust it with --ca-cert FILE or CARNET_CA_CERT)"
        ),
        carnet_core::Error::NotAnImage(_) => {
            format!("{e}; a HEIC photo must be converted to JPEG first")
        }
        carnet_core::Error::PendingPhotosFull { .. } => {
            format!("{e}: run `carnet sync`")
        }
        _ => e.to_string(),
    }
}

/// Result type of the command line.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::CliError;
    use carnet_core::Error;

    #[test]
    fn format_mismatches_say_who_must_update_and_fail_the_command() {
        let e = CliError::from(Error::UpdateRequired);
        assert!(
            e.to_string().contains("update Carnet, then sync again"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 1);
        let e = CliError::from(Error::ServerTooOld { server: 2, app: 3 });
        assert!(
            e.to_string().contains("ask whoever runs it to update it"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 1);
    }
}
