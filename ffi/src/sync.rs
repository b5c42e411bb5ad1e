//! The sync progress callback, the cancel handle and the lifecycle's buttons.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::types::{ReportStatus, SyncState};

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

/// The statuses a report can move to from `status`, for the app's buttons.
#[uniffi::export]
pub fn allowed_next(status: ReportStatus) -> Vec<ReportStatus> {
    carnet_core::ReportStatus::from(status)
        .allowed_next()
        .iter()
        .map(|s| (*s).into())
        .collect()
}
