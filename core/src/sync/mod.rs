//! Sync with the team's server: the wire format, the protocol's messages,
//! the sans-IO session that runs it, the retry rules, a simulated network
//! that drives the session deterministically, and (feature `http-client`)
//! the HTTP clients.

#[cfg(feature = "http-client")]
pub mod admin;
#[cfg(feature = "http-client")]
pub mod client;
pub mod dictionary;
#[cfg(feature = "http-client")]
pub mod enroll;
#[cfg(feature = "http-client")]
mod http;
mod photos;
mod problem;
pub mod protocol;
pub mod retry;
pub mod session;
pub mod sim;
pub mod wire;

#[cfg(feature = "http-client")]
pub use enroll::enroll;
#[cfg(feature = "http-client")]
pub use http::ExtraRoots;
pub use protocol::{
    BlobProgress, Phase, Progress, PullHeader, PushAck, PushHeader, RecordConflicts, Request,
    SyncSummary,
};
pub use retry::Retry;
pub use session::{Effect, Event, SyncOptions, SyncSession, SyncStore};
