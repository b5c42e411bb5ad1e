//! The sync progress callback, the cancel handle, fetching a full photo on
//! demand (a sync brings thumbnails only, unless the team says otherwise)
//! and the lifecycle's buttons.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use carnet_core::sync::client::Client;

use crate::CarnetStore;
use crate::error::Result;
use crate::photos::hash;
use crate::store::record_id;
use crate::types::{ReportStatus, SyncState, SyncSummary};

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

#[uniffi::export]
impl CarnetStore {
    /// Downloads the full image of photo `hash` of record `id` (one a sync
    /// brought as a thumbnail), in resumable ranges: a cut connection keeps
    /// what arrived and the next call continues from there. Afterwards
    /// [`CarnetStore::photo_full`] answers. A photo already here costs
    /// nothing. Network: **call it off the main thread**. `progress` sees
    /// phase `Photos` with the bytes, then `Done`. When the server does not
    /// have it yet (the device that took it has not synced), the summary's
    /// `photos_left` is 1 and `photo_full` still throws `PhotoNotDownloaded`.
    #[uniffi::method(default(cancel = None))]
    pub fn fetch_photo(
        &self,
        server_url: String,
        token: String,
        id: String,
        hash: String,
        progress: Arc<dyn SyncProgress>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncSummary> {
        let never = AtomicBool::new(false);
        let cancel = cancel.as_ref().map_or(&never, |c| &c.flag);
        Ok(Client::new(&server_url)?
            .fetch_photo(
                &self.inner,
                &token,
                record_id(&id)?,
                self::hash(&hash)?,
                &mut |p| progress.on_progress(p.into()),
                cancel,
            )?
            .into())
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
