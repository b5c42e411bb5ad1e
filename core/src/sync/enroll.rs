//! Enrolling a device's store and rotating its token: the one sequence
//! every face follows, so that none of them forgets to bind the store's
//! actor or to save the token.

use super::client::Client;
use super::http::ExtraRoots;
use crate::{DeviceEnrollment, Error, Result, Store};

/// Exchanges a supervisor's one-time `code` for a device token at `server`,
/// binding the device to `store`'s actor ([`Store::peer_id`]) so that every
/// change the server receives from it names it, then saves the enrollment
/// and the team's configuration in the store, in one transaction. Blocking
/// (network): call it off the UI thread. Nothing is saved when the server
/// refuses the code. `roots`: CAs trusted besides the built-in ones (a
/// deployment's own; usually none).
pub fn enroll(
    store: &Store,
    server: &str,
    roots: &ExtraRoots,
    code: &str,
    device_name: &str,
) -> Result<DeviceEnrollment> {
    let e = Client::trusting(server, roots)?.enroll(code, device_name, Some(&store.peer_id()))?;
    let enrollment = DeviceEnrollment {
        server: server.trim().trim_end_matches('/').to_string(),
        token: e.token,
        device_id: e.device_id,
        team_id: e.team_id,
        role: e.role,
    };
    store.set_enrollment(&enrollment, &e.config)?;
    Ok(enrollment)
}

/// Swaps `store`'s device token for a new one at its server and saves it.
/// The old token stops working at once. A store that is not enrolled is
/// [`Error::Unauthorized`], as a revoked one would be. `roots` as for
/// [`enroll`].
pub fn rotate_token(store: &Store, roots: &ExtraRoots) -> Result<()> {
    let e = store.enrollment()?.ok_or(Error::Unauthorized)?;
    let token = Client::trusting(&e.server, roots)?.rotate_token(&e.token)?;
    store.set_token(&token)
}
