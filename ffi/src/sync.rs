//! Enrollment, the sync progress callback and the cancel handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use carnet_core::sync::client::Client;

use crate::error::Result;
use crate::types::{Enrollment, ReportStatus, SyncState};

/// Told where a sync stands; implemented by the app (Kotlin/Swift). Called
/// on the syncing thread: post to the main thread to update the UI.
#[uniffi::export(foreign)]
pub trait SyncProgress: Send + Sync {
    /// After every answered request, and once with phase `Done`, last.
    fn on_progress(&self, state: SyncState);
}

/// Cancels a running [`crate::CarnetStore::sync`] from another thread: create
/// one, pass it to `sync`, call `cancel()` (e.g. when WorkManager stops the
/// worker or a BGTask expires).
#[derive(uniffi::Object, Default)]
pub struct SyncCancel {
    pub(crate) flag: AtomicBool,
}

#[uniffi::export]
impl SyncCancel {
    /// A handle not cancelled yet.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancel::default())
    }

    /// Asks the sync to stop before its next request or while it waits to
    /// retry; it throws `Cancelled`.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed)
    }

    /// Whether `cancel()` was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// Exchanges a supervisor's one-time enrollment code for this device's token
/// and the team's configuration. Network: **call it off the main thread**.
/// Then `store.set_config(enrollment.config)` and keep the token
/// (`store.set_setting("token", …)` keeps it encrypted with the store).
#[uniffi::export]
pub fn enroll(server_url: String, code: String, device_name: String) -> Result<Enrollment> {
    Ok(Client::new(&server_url)?
        .enroll(&code, &device_name, None)?
        .into())
}

/// The statuses a report can move to from `status`, for the app's buttons.
#[uniffi::export]
pub fn allowed_next(status: ReportStatus) -> Vec<ReportStatus> {
    carnet_core::ReportStatus::from(status)
        .allowed_next()
        .iter()
        .map(|s| (*s).into())
        .collect()
}
