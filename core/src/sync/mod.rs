//! Sync with the team's server: the wire format, the protocol state machine
//! and (feature `http-client`) the HTTP client.

#[cfg(feature = "http-client")]
pub mod admin;
#[cfg(feature = "http-client")]
pub mod client;
#[cfg(feature = "http-client")]
pub mod enroll;
#[cfg(feature = "http-client")]
mod http;
pub mod protocol;
pub mod wire;

#[cfg(feature = "http-client")]
pub use enroll::enroll;
pub use protocol::{PullHeader, PushAck, PushHeader, Request, SyncSession, SyncSummary};
