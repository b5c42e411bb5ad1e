//! Hidden functions for the conformance runners (feature `test-hooks`,
//! never in a shipped library): the scenarios read into typed records; a
//! deliberate panic, to prove it becomes an exception and the next call
//! still works; and a supervisor's wipe and revoke orders and record reads,
//! to prove the app honours them and its work reached the team's log.

use std::sync::Arc;

use carnet_core::sync::admin::Admin;

use crate::error::Result;
use crate::{CarnetStore, RecordDetails};

pub mod scenario;

pub use scenario::*;

/// The conformance scenarios of the file at `path`
/// (`conformance/scenarios.json`), typed; `InvalidInput` (field
/// `scenarios`) says which scenario and step do not read.
#[uniffi::export]
pub fn test_hook_scenarios(path: String) -> Result<Vec<Scenario>> {
    scenario::read(&path)
}

/// As a supervisor, one record of the team's merged log as the server
/// serves it (`GET /v1/records/{id}`), with its conflicts and history.
#[uniffi::export]
pub fn test_hook_server_record(
    server_url: String,
    supervisor_token: String,
    id: String,
) -> Result<RecordDetails> {
    let id = id.parse()?;
    Ok(Admin::new(&server_url, &supervisor_token)?
        .record(id)?
        .into())
}

/// Panics inside Rust. The caller gets an exception, and `store` (and every
/// other object) keeps working.
#[uniffi::export]
pub fn test_hook_panic(store: Arc<CarnetStore>) -> Result<()> {
    let _keep_alive = store;
    panic!("test hook: a deliberate panic");
}

/// As a supervisor (its device token), orders the device `device_id` wiped.
#[uniffi::export]
pub fn test_hook_order_wipe(
    server_url: String,
    supervisor_token: String,
    device_id: String,
) -> Result<()> {
    Admin::new(&server_url, &supervisor_token)?.wipe(&device_id)?;
    Ok(())
}

/// As a supervisor, revokes the device `device_id`.
#[uniffi::export]
pub fn test_hook_revoke(
    server_url: String,
    supervisor_token: String,
    device_id: String,
) -> Result<()> {
    Admin::new(&server_url, &supervisor_token)?.revoke(&device_id)?;
    Ok(())
}
