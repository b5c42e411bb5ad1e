//! [`CarnetStore`]: the encrypted store, one line per call into the core.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use carnet_core::edit::Action;
use carnet_core::sync::client::Client;
use carnet_core::{RecordId, Store};
use serde_json::Value;

use crate::error::{CarnetError, Result};
use crate::inputs::{NewActivity, NewContact, NewNote, NewReport, fields};
use crate::types::{
    Conflict, Count, DeviceEnrollment, GroupBy, Kind, OpenReport, Page, Purpose, Query, Record,
    RecordDetails, StatusChange, SyncSummary, TeamConfig,
};
use crate::{SyncCancel, SyncProgress};

/// A record id as the apps pass it.
pub(crate) fn record_id(s: &str) -> Result<RecordId> {
    Ok(s.parse::<RecordId>()?)
}

fn key(mut bytes: Vec<u8>) -> Result<[u8; 32]> {
    let key: Result<[u8; 32]> =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| CarnetError::InvalidInput {
                field: "key".into(),
                reason: format!("must be exactly 32 bytes (got {})", bytes.len()),
            });
    bytes.fill(0);
    key
}

/// A device's encrypted notebook: every record, its history and the sync state.
///
/// Every method blocks on disk (and `sync` on the network): **call it off the
/// main thread** (a background dispatcher / `Task.detached`). Calls from
/// several threads are safe; they are serialised. A method returns once its
/// write is durable on disk.
#[derive(uniffi::Object)]
pub struct CarnetStore {
    pub(crate) inner: Store,
}

#[uniffi::export]
impl CarnetStore {
    /// Opens (or creates) the store at `path`, encrypted with `key`: 32 random
    /// bytes kept by the Android Keystore / iOS Keychain. Throws `WrongKey`
    /// when the key does not open an existing file.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(CarnetStore {
            inner: Store::open(path, &self::key(key)?)?,
        }))
    }

    /// Replaces the encryption key (after a key rotation).
    pub fn rekey(&self, new_key: Vec<u8>) -> Result<()> {
        Ok(self.inner.rekey(&key(new_key)?)?)
    }

    /// The author id written into new records and history.
    pub fn author(&self) -> Result<String> {
        Ok(self.inner.author())
    }

    /// Sets the author id (the mediator's name or team id), 1 to 100 characters.
    pub fn set_author(&self, author: String) -> Result<()> {
        Ok(self.inner.set_author(&author)?)
    }

    /// This device's replication id.
    pub fn peer_id(&self) -> Result<String> {
        Ok(self.inner.peer_id())
    }

    /// The team's configuration: sectors, quartiers, axes, categories, bodies.
    pub fn config(&self) -> Result<TeamConfig> {
        Ok(self.inner.config().into())
    }

    /// Replaces the team's configuration (the one enrollment returned).
    pub fn set_config(&self, config: TeamConfig) -> Result<()> {
        Ok(self.inner.set_config(&config.into())?)
    }

    /// An app's own setting, kept inside the encrypted store.
    pub fn setting(&self, key: String) -> Result<Option<String>> {
        Ok(self.inner.setting(&key)?)
    }

    /// Writes an app's own setting inside the encrypted store; `None`
    /// removes it. The keys of the sync (`sync.…`) and of the enrollment
    /// (`server`, `token`, `device_id`, `team_id`, `role`) are refused with
    /// `InvalidInput`: they have their own calls.
    pub fn set_setting(&self, key: String, value: Option<String>) -> Result<()> {
        Ok(self.inner.set_setting(&key, value.as_deref())?)
    }

    /// Enrolls this device with the supervisor's one-time `code`: the server
    /// binds the device to this store (its `peer_id`), and the enrollment
    /// and the team's configuration are saved inside the encrypted store,
    /// together. Network: **call it off the main thread**. A refused code
    /// saves nothing.
    pub fn enroll(
        &self,
        server_url: String,
        code: String,
        device_name: String,
    ) -> Result<DeviceEnrollment> {
        // The apps trust the built-in roots only (no setting for a private CA yet).
        let roots = carnet_core::sync::ExtraRoots::default();
        Ok(
            carnet_core::sync::enroll(&self.inner, &server_url, &roots, &code, &device_name)?
                .into(),
        )
    }

    /// This device's enrollment (server, token, role…), or null when it
    /// was never enrolled or was wiped since.
    pub fn enrollment(&self) -> Result<Option<DeviceEnrollment>> {
        Ok(self.inner.enrollment()?.map(Into::into))
    }

    /// Swaps the device's token for a new one (a token that may have been
    /// seen) and saves it; the old one stops working at once. A store never
    /// enrolled gets `NotEnrolled`. Network: **call it off the main thread**.
    pub fn rotate_token(&self) -> Result<()> {
        Ok(carnet_core::sync::enroll::rotate_token(
            &self.inner,
            &carnet_core::sync::ExtraRoots::default(),
        )?)
    }

    /// Records a field note; returns its id.
    pub fn create_note(&self, note: NewNote) -> Result<String> {
        Ok(self
            .inner
            .create(carnet_core::Kind::Note, &fields(&note)?)?
            .to_string())
    }

    /// Records a dégradation report (status `Reported`); returns its id.
    pub fn create_report(&self, report: NewReport) -> Result<String> {
        Ok(self
            .inner
            .create(carnet_core::Kind::Report, &fields(&report)?)?
            .to_string())
    }

    /// Records a resident contact; returns its id.
    pub fn create_contact(&self, contact: NewContact) -> Result<String> {
        Ok(self
            .inner
            .create(carnet_core::Kind::Contact, &fields(&contact)?)?
            .to_string())
    }

    /// Records an activity; returns its id.
    pub fn create_activity(&self, activity: NewActivity) -> Result<String> {
        Ok(self
            .inner
            .create(carnet_core::Kind::Activity, &fields(&activity)?)?
            .to_string())
    }

    /// Sets one field of a record from text, as a form gives it: numbers
    /// (`"12"`, `"43.2"`), yes/no (`"true"`), dates (`"2026-11-29"` or ms),
    /// lists as comma-separated text (`"jeunesse, cadre-de-vie"`), codes or
    /// labels. Writing a field resolves a conflict on it. `InvalidInput`
    /// names the field when the value does not fit.
    pub fn set_field(&self, id: String, field: String, value: String) -> Result<()> {
        Ok(self
            .inner
            .set_field(record_id(&id)?, &field, &Value::String(value))?)
    }

    /// Clears an optional field (required ones refuse with `InvalidInput`).
    pub fn clear_field(&self, id: String, field: String) -> Result<()> {
        Ok(self
            .inner
            .set_field(record_id(&id)?, &field, &Value::Null)?)
    }

    /// Moves a report to a new status, checked against the lifecycle
    /// (`InvalidTransition` when not allowed).
    pub fn change_status(&self, id: String, change: StatusChange) -> Result<()> {
        Ok(self
            .inner
            .change_status(record_id(&id)?, &change.try_into()?)?)
    }

    /// Adds an entry to a contact's log of interactions and referrals.
    #[uniffi::method(default(referral = None))]
    pub fn add_interaction(
        &self,
        id: String,
        text: String,
        referral: Option<String>,
    ) -> Result<()> {
        Ok(self
            .inner
            .add_interaction(record_id(&id)?, &text, referral.as_deref())?)
    }

    /// Adds a comment to a report (1 to 2000 characters).
    pub fn add_comment(&self, id: String, text: String) -> Result<()> {
        Ok(self.inner.act(record_id(&id)?, &Action::Comment { text })?)
    }

    /// Records that the resident gives `purpose` (again, after a
    /// withdrawal); nothing changes if it is already given.
    pub fn give_consent(&self, id: String, purpose: Purpose) -> Result<()> {
        Ok(self.inner.act(
            record_id(&id)?,
            &Action::GiveConsent {
                purpose: purpose.into(),
            },
        )?)
    }

    /// Records that the resident withdraws `purpose`; withdrawing
    /// `Telephone` also clears the phone number.
    pub fn withdraw_consent(&self, id: String, purpose: Purpose) -> Result<()> {
        Ok(self.inner.act(
            record_id(&id)?,
            &Action::WithdrawConsent {
                purpose: purpose.into(),
            },
        )?)
    }

    /// Erases a resident contact for good (RGPD art. 17): its data and whole
    /// history leave this device, and the erasure reaches every other device
    /// at the next sync. Only contacts can be erased.
    pub fn erase(&self, id: String) -> Result<()> {
        Ok(self.inner.erase(record_id(&id)?)?)
    }

    /// One record (`NotFound`, or `Erased` for a forgotten resident).
    pub fn get(&self, id: String) -> Result<Record> {
        Ok(self.inner.get(record_id(&id)?)?.into())
    }

    /// One record with its unresolved conflicts and its history.
    pub fn details(&self, id: String) -> Result<RecordDetails> {
        Ok(self.inner.details(record_id(&id)?)?.into())
    }

    /// The unresolved conflicts of a record (cheap when it has none).
    pub fn conflicts(&self, id: String) -> Result<Vec<Conflict>> {
        Ok(self
            .inner
            .conflicts(record_id(&id)?)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Lists and searches records, newest first; page with `limit`/`offset`.
    pub fn list(&self, query: Query) -> Result<Page> {
        Ok(self.inner.list(&query.into())?.into())
    }

    /// Counts records matching `query`, grouped.
    pub fn count(&self, query: Query, by: GroupBy) -> Result<Vec<Count>> {
        Ok(self
            .inner
            .count(&query.into(), by.into())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Open dégradations, oldest first, with their age and whether overdue.
    #[uniffi::method(default(sector = None))]
    pub fn open_reports(&self, sector: Option<String>) -> Result<Vec<OpenReport>> {
        Ok(self
            .inner
            .open_reports(sector.as_deref())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Syncs with the team's server: pushes this device's changes, pulls the
    /// team's. Blocks until done (seconds on a weak connection): **call it off
    /// the main thread**, e.g. from a WorkManager worker or a BGTask.
    /// `progress` is called on this same thread after each answered request
    /// and once with phase `Done`; `cancel` stops it before its next request
    /// or during a wait to retry (`Cancelled`; what was exchanged is kept and
    /// the next sync resumes). A supervisor's wipe order erases the store and
    /// throws `Wiped`; a revoked device gets `NotEnrolled`.
    #[uniffi::method(default(cancel = None))]
    pub fn sync(
        &self,
        server_url: String,
        token: String,
        progress: Arc<dyn SyncProgress>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncSummary> {
        let never = AtomicBool::new(false);
        let cancel = cancel.as_ref().map_or(&never, |c| &c.flag);
        Ok(Client::new(&server_url)?
            .sync(
                &self.inner,
                &token,
                &mut |p| progress.on_progress(p.into()),
                cancel,
            )?
            .into())
    }

    /// Deletes every record, document, setting and the enrollment, as a
    /// wipe order does; the (empty) store stays usable and can be enrolled
    /// again.
    pub fn wipe(&self) -> Result<()> {
        Ok(self.inner.wipe()?)
    }
}

/// Every kind, in the order the app may show them.
#[uniffi::export]
pub fn all_kinds() -> Vec<Kind> {
    carnet_core::Kind::ALL.into_iter().map(Into::into).collect()
}
