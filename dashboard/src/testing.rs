//! An in-memory [`Backend`] and a small demo team, for tests, the benchmark
//! and the browser test's server. Not used by the real server, which
//! implements [`Backend`] over its own device registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use carnet_core::photo::PhotoHash;
use carnet_core::store::StatusChange;
use carnet_core::sync::sim::Sim;
use carnet_core::sync::{SyncOptions, SyncSummary};
use carnet_core::{Kind, RecordId, ReportStatus, Store};
use serde_json::{Map, Value, json};

use crate::{Backend, DashboardError, LapsedDevice, Supervisor, TeamReads};

/// A backend with fixed credentials and one store per team.
#[derive(Default)]
pub struct StaticBackend {
    /// Credential → who it signs in.
    pub credentials: HashMap<String, Supervisor>,
    /// Team id → its store.
    pub stores: HashMap<String, Arc<Store>>,
    /// The registry: actor (hex) → device name, for every team.
    pub names: HashMap<String, String>,
    /// Devices revoked for inactivity, for every team.
    pub lapsed: Vec<LapsedDevice>,
    /// Failed sign-ins a client address may make before it is refused
    /// (0: no limit). Counted for good: tests need no clock.
    pub max_failures: u32,
    failures: Mutex<HashMap<String, u32>>,
    /// The photo blobs the server holds, by team and hash (see
    /// [`StaticBackend::put_blob`]).
    blobs: Mutex<HashMap<(String, PhotoHash), Vec<u8>>>,
}

impl StaticBackend {
    /// One team, one supervisor credential.
    pub fn single(team_id: &str, store: Arc<Store>, credential: &str, name: &str) -> Self {
        let who = Supervisor {
            team_id: team_id.into(),
            device_id: format!("device-{name}").to_lowercase(),
            name: name.into(),
        };
        StaticBackend {
            credentials: HashMap::from([(credential.to_string(), who)]),
            stores: HashMap::from([(team_id.to_string(), store)]),
            max_failures: 10,
            ..Default::default()
        }
    }
}

impl StaticBackend {
    /// Stores a photo blob (a full photo or a thumbnail) for `team_id`, as
    /// if a device had finished uploading it, at any time (a test may show
    /// a page before and after); returns its hash.
    pub fn put_blob(&self, team_id: &str, bytes: &[u8]) -> PhotoHash {
        let hash = PhotoHash::of(bytes);
        self.blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((team_id.to_string(), hash), bytes.to_vec());
        hash
    }
}

impl Backend for StaticBackend {
    fn sign_in(
        &self,
        credential: &str,
        client: &str,
    ) -> Result<Option<Supervisor>, DashboardError> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let failed = failures.entry(client.to_string()).or_default();
        if self.max_failures > 0 && *failed >= self.max_failures {
            return Err(DashboardError::TooManyAttempts(60));
        }
        let who = self.credentials.get(credential).cloned();
        if who.is_none() {
            *failed += 1;
        }
        Ok(who)
    }

    fn team(&self, team_id: &str) -> Result<Arc<dyn TeamReads>, DashboardError> {
        match self.stores.get(team_id) {
            Some(store) => Ok(store.clone()),
            None => Err(DashboardError::NotFound("équipe inconnue".into())),
        }
    }

    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError> {
        Ok(self.credentials.values().any(|s| s == who))
    }

    fn actor_names(&self, _team_id: &str) -> Result<HashMap<String, String>, DashboardError> {
        Ok(self.names.clone())
    }

    fn lapsed_devices(&self, _team_id: &str) -> Result<Vec<LapsedDevice>, DashboardError> {
        Ok(self.lapsed.clone())
    }

    fn photo(&self, team_id: &str, blob: &PhotoHash) -> Result<Option<Vec<u8>>, DashboardError> {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(blobs.get(&(team_id.to_string(), *blob)).cloned())
    }
}

/// Syncs `device` with the team's store as the server would, through the
/// core's protocol over its simulated (here: perfect) network.
pub fn sync_device(device: &Store, team: &Store) -> Result<SyncSummary, DashboardError> {
    let mut sim = Sim::new(team, 0, SyncOptions::default());
    let d = sim.enroll(device);
    Ok(sim.sync(d)?)
}

/// What the demo team's records add up to, to check pages and downloads.
#[derive(Debug, Clone)]
pub struct DemoFacts {
    /// The lighting report: forwarded, in progress, then resolved.
    pub resolved_report: RecordId,
    /// The urgent lift report, still open.
    pub open_report: RecordId,
    /// The resident's contact.
    pub contact: RecordId,
    /// Activities recorded.
    pub activities: u64,
    /// Aller vers sessions.
    pub aller_vers: u64,
    /// Residents met who were known, on activities.
    pub met_known: u64,
    /// Residents met for the first time, on activities.
    pub met_new: u64,
    /// Residents met on notes.
    pub notes_met: u64,
    /// New contacts.
    pub new_contacts: u64,
    /// Referrals counted on activities.
    pub activity_referrals: u64,
    /// Referrals in residents' logs.
    pub log_referrals: u64,
    /// Reports made.
    pub reported: u64,
    /// Reports forwarded.
    pub forwarded: u64,
    /// Reports resolved.
    pub resolved: u64,
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Records a small team's week on `device`: three dégradations (one fixed),
/// two *aller vers* sessions, a permanence, a note and a resident's contact
/// with a referral. Sync it to the team's store with [`sync_device`].
pub fn demo_records(device: &Store) -> Result<DemoFacts, DashboardError> {
    device.set_author("awa")?;
    let change = |status, to: Option<&str>, reference: Option<&str>| StatusChange {
        status: Some(status),
        to: to.map(str::to_string),
        reference: reference.map(str::to_string),
        comment: None,
        duplicate_of: None,
    };
    let lighting = device.create(
        Kind::Report,
        &fields(json!({"sector": "conte-joliot", "quartier": "la-conte", "category": "lighting", "place": "Bât. B2, hall d'entrée", "text": "Éclairage du hall en panne", "axes": ["cadre-de-vie"]})),
    )?;
    device.change_status(
        lighting,
        &change(ReportStatus::Forwarded, Some("bailleur"), Some("BX-12")),
    )?;
    device.change_status(lighting, &change(ReportStatus::InProgress, None, None))?;
    device.change_status(lighting, &change(ReportStatus::Resolved, None, None))?;
    let lift = device.create(
        Kind::Report,
        &fields(json!({"sector": "ozanam-albignac", "category": "lift", "place": "Tour 5, ascenseur", "text": "Ascenseur bloqué au 3e", "urgent": true, "axes": ["cadre-de-vie"]})),
    )?;
    let tags = device.create(Kind::Report, &fields(json!({"sector": "viguier-saint-jacques", "category": "graffiti", "place": "Mur de l'école", "text": "Tags injurieux"})))?;
    device.change_status(
        tags,
        &change(ReportStatus::Forwarded, Some("ville-proprete"), None),
    )?;
    for (known, new, refs) in [(5, 2, 1), (3, 4, 2)] {
        device.create(
            Kind::Activity,
            &fields(json!({"activity_type": "aller_vers", "sector": "grazailles-fleming", "place": "Square Fleming", "met_known": known, "met_new": new, "referrals": refs, "partners": ["CAF"], "axes": ["participation"]})),
        )?;
    }
    device.create(Kind::Activity, &fields(json!({"activity_type": "permanence", "sector": "conte-joliot", "met_known": 4, "met_new": 0, "referrals": 1, "axes": ["acces-droits"]})))?;
    device.create(Kind::Note, &fields(json!({"sector": "ozanam-albignac", "text": "Regroupement calme devant la tour 5", "residents_met": 3, "axes": ["tranquillite"]})))?;
    let contact = device.create(
        Kind::Contact,
        &fields(
            json!({"name": "Mme Exemple", "consents": ["telephone", "orientation"], "phone": "06 00 00 00 00", "sector": "conte-joliot"}),
        ),
    )?;
    device.add_interaction(contact, "Dossier APL à refaire", Some("CAF"))?;
    Ok(DemoFacts {
        resolved_report: lighting,
        open_report: lift,
        contact,
        activities: 3,
        aller_vers: 2,
        met_known: 12,
        met_new: 6,
        notes_met: 3,
        new_contacts: 1,
        activity_referrals: 4,
        log_referrals: 1,
        reported: 3,
        forwarded: 2,
        resolved: 1,
    })
}
