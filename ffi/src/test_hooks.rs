//! Hidden functions for the Kotlin and Swift suites (feature `test-hooks`,
//! never in a shipped library): a deliberate panic, to prove it becomes an
//! exception and the next call still works; and a supervisor's wipe and
//! revoke orders, to prove the app honours them.

use std::sync::Arc;

use carnet_core::sync::admin::Admin;

use crate::CarnetStore;
use crate::error::Result;

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
