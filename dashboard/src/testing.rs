//! An in-memory [`Backend`] and a small demo team, for tests, the benchmark
//! and the browser test's server. Not used by the real server, which
//! implements [`Backend`] over its own storage. Its throttle counts
//! failures per client address for good (tests need no clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use carnet_core::photo::PhotoHash;
use carnet_core::store::StatusChange;
use carnet_core::sync::sim::Sim;
use carnet_core::sync::{SyncOptions, SyncSummary};
use carnet_core::{Kind, RecordId, ReportStatus, Store};
use serde_json::{Map, Value, json};

use crate::{
    AccountState, AccountSummary, Backend, DashboardError, InvitationInfo, LapsedDevice, SignIn,
    Supervisor, TeamReads,
};

/// The seeded account's e-mail ([`StaticBackend::single`]).
pub const DEMO_EMAIL: &str = "superviseur@exemple.fr";
/// The seeded account's password: tests and the demo server sign in with it.
pub const DEMO_PASSWORD: &str = "tulipe orage quarante vélo";

/// An account as the in-memory backend keeps it.
#[derive(Debug, Clone)]
pub struct MemAccount {
    /// Who it signs in.
    pub who: Supervisor,
    /// argon2id PHC string, `None` until an invitation is accepted.
    pub password_hash: Option<String>,
    /// Base32 TOTP secret, if enrolled.
    pub totp_secret: Option<String>,
    /// The last TOTP step accepted.
    pub totp_last_step: Option<i64>,
    /// Disabled accounts open nothing.
    pub disabled: bool,
}

#[derive(Default)]
struct Accounts {
    /// account id → account.
    by_id: HashMap<String, MemAccount>,
    /// invitation token → account id (removed once used).
    invitations: HashMap<String, String>,
    /// teams requiring a second factor.
    require_totp: std::collections::HashSet<String>,
}

/// A backend with accounts in memory (the same password and TOTP rules as
/// the server's, [`crate::accounts`]) and one store per team.
#[derive(Default)]
pub struct StaticBackend {
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
    accounts: Mutex<Accounts>,
    /// The photo blobs the server holds, by team and hash (see
    /// [`StaticBackend::put_blob`]).
    blobs: Mutex<HashMap<(String, PhotoHash), Vec<u8>>>,
}

impl StaticBackend {
    /// One team, one supervisor account named `name` (its id is
    /// `compte-<name in lowercase>`), signing in with [`DEMO_EMAIL`] and
    /// [`DEMO_PASSWORD`].
    pub fn single(team_id: &str, store: Arc<Store>, name: &str) -> Self {
        let backend = StaticBackend {
            stores: HashMap::from([(team_id.to_string(), store)]),
            max_failures: 10,
            ..Default::default()
        };
        backend.add_supervisor(team_id, name, DEMO_EMAIL);
        backend
    }

    /// Adds a supervisor who has accepted their invitation: id
    /// `compte-<name in lowercase>`, password [`DEMO_PASSWORD`]; returns the id.
    pub fn add_supervisor(&self, team_id: &str, name: &str, email: &str) -> String {
        let id = format!("compte-{}", name.to_lowercase());
        self.insert_account(&id, team_id, name, email);
        let hash = crate::accounts::hash_password(DEMO_PASSWORD).ok();
        if let Some(a) = self.lock().by_id.get_mut(&id) {
            a.password_hash = hash;
        }
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Accounts> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an account without a password (invite it to set one); returns
    /// its id.
    pub fn add_account(&self, team_id: &str, name: &str, email: &str) -> String {
        let id = format!(
            "compte-{}",
            crate::session::random_token().get(..12).unwrap_or_default()
        );
        self.insert_account(&id, team_id, name, email);
        id
    }

    fn insert_account(&self, id: &str, team_id: &str, name: &str, email: &str) {
        let id = id.to_string();
        let who = Supervisor {
            team_id: team_id.into(),
            account_id: id.clone(),
            name: name.into(),
            email: email.trim().to_lowercase(),
            actor: hex::encode(rand::random::<[u8; 16]>()),
        };
        self.lock().by_id.insert(
            id.clone(),
            MemAccount {
                who,
                password_hash: None,
                totp_secret: None,
                totp_last_step: None,
                disabled: false,
            },
        );
    }

    /// The account with this id, as kept.
    pub fn account(&self, account_id: &str) -> Option<MemAccount> {
        self.lock().by_id.get(account_id).cloned()
    }

    /// Disables an account, as another supervisor would.
    pub fn disable_account(&self, account_id: &str) {
        if let Some(a) = self.lock().by_id.get_mut(account_id) {
            a.disabled = true;
        }
    }

    fn issue(&self, account_id: &str) -> String {
        let token = crate::session::random_token();
        let mut acc = self.lock();
        acc.invitations.retain(|_, id| id != account_id);
        acc.invitations
            .insert(token.clone(), account_id.to_string());
        format!("{}/invitation/{token}", crate::MOUNT)
    }

    fn failed(&self, client: &str) -> Result<(), DashboardError> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures.entry(client.to_string()).or_default() += 1;
        Ok(())
    }

    fn throttled(&self, client: &str) -> Result<(), DashboardError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if self.max_failures > 0 && failures.get(client).copied().unwrap_or(0) >= self.max_failures
        {
            return Err(DashboardError::TooManyAttempts(60));
        }
        Ok(())
    }

    fn live(&self, who: &Supervisor) -> Result<MemAccount, DashboardError> {
        self.account(&who.account_id)
            .filter(|a| !a.disabled)
            .ok_or(DashboardError::Unauthorized)
    }

    fn now_secs() -> u64 {
        crate::accounts::now_secs(carnet_core::now_ms())
    }

    /// Checks a code against a secret and spends its step.
    fn spend(&self, account_id: &str, secret: &str, email: &str, code: &str) -> bool {
        let Some(step) = crate::accounts::totp_step(secret, email, code, Self::now_secs()) else {
            return false;
        };
        let mut acc = self.lock();
        let Some(a) = acc.by_id.get_mut(account_id) else {
            return false;
        };
        if a.totp_last_step.is_some_and(|last| last >= step) {
            return false;
        }
        a.totp_last_step = Some(step);
        true
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
    fn sign_in(&self, email: &str, password: &str, client: &str) -> Result<SignIn, DashboardError> {
        self.throttled(client)?;
        let email = email.trim().to_lowercase();
        let found = self
            .lock()
            .by_id
            .values()
            .find(|a| a.who.email == email)
            .cloned();
        let required = found
            .as_ref()
            .is_some_and(|a| self.lock().require_totp.contains(&a.who.team_id));
        match found {
            Some(a)
                if !a.disabled
                    && (a.totp_secret.is_some() || !required)
                    && a.password_hash
                        .as_deref()
                        .is_some_and(|h| crate::accounts::verify_password(h, password)) =>
            {
                Ok(if a.totp_secret.is_some() {
                    SignIn::NeedsTotp(a.who)
                } else {
                    SignIn::Signed(a.who)
                })
            }
            other => {
                self.failed(client)?;
                Ok(SignIn::Refused(other.map(|a| a.who)))
            }
        }
    }

    fn verify_totp(
        &self,
        who: &Supervisor,
        code: &str,
        client: &str,
    ) -> Result<bool, DashboardError> {
        self.throttled(client)?;
        let a = self.live(who)?;
        let ok = a
            .totp_secret
            .as_deref()
            .is_some_and(|s| self.spend(&a.who.account_id, s, &a.who.email, code));
        if !ok {
            self.failed(client)?;
        }
        Ok(ok)
    }

    fn invitation(&self, token: &str) -> Result<Option<InvitationInfo>, DashboardError> {
        let acc = self.lock();
        Ok(acc
            .invitations
            .get(token)
            .and_then(|id| acc.by_id.get(id))
            .filter(|a| !a.disabled)
            .map(|a| InvitationInfo {
                name: a.who.name.clone(),
                email: a.who.email.clone(),
                totp_required: acc.require_totp.contains(&a.who.team_id),
            }))
    }

    fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        totp: Option<(&str, &str)>,
        _client: &str,
    ) -> Result<Supervisor, DashboardError> {
        let info = self.invitation(token)?.ok_or_else(|| {
            DashboardError::Refused("Cette invitation ne fonctionne plus.".into())
        })?;
        crate::accounts::check_password(password, &info.name, &info.email)
            .map_err(DashboardError::Refused)?;
        let secret = match totp {
            Some((secret, code)) => {
                if crate::accounts::totp_step(secret, &info.email, code, Self::now_secs()).is_none()
                {
                    return Err(DashboardError::Refused("Code incorrect.".into()));
                }
                Some(secret.to_string())
            }
            None if info.totp_required => {
                return Err(DashboardError::Refused(
                    "Votre équipe exige une double authentification.".into(),
                ));
            }
            None => None,
        };
        let hash = crate::accounts::hash_password(password)?;
        let mut acc = self.lock();
        let id = acc.invitations.remove(token).ok_or_else(|| {
            DashboardError::Refused("Cette invitation ne fonctionne plus.".into())
        })?;
        let a = acc.by_id.get_mut(&id).ok_or(DashboardError::Unauthorized)?;
        a.password_hash = Some(hash);
        a.totp_secret = secret;
        a.totp_last_step = None;
        Ok(a.who.clone())
    }

    fn account_state(&self, who: &Supervisor) -> Result<AccountState, DashboardError> {
        let a = self.live(who)?;
        Ok(AccountState {
            totp_enrolled: a.totp_secret.is_some(),
            totp_required: self.lock().require_totp.contains(&who.team_id),
        })
    }

    fn change_password(
        &self,
        who: &Supervisor,
        current: &str,
        new: &str,
        client: &str,
    ) -> Result<(), DashboardError> {
        self.throttled(client)?;
        let a = self.live(who)?;
        if !a
            .password_hash
            .as_deref()
            .is_some_and(|h| crate::accounts::verify_password(h, current))
        {
            self.failed(client)?;
            return Err(DashboardError::Refused(
                "Mot de passe actuel incorrect.".into(),
            ));
        }
        crate::accounts::check_password(new, &a.who.name, &a.who.email)
            .map_err(DashboardError::Refused)?;
        let hash = crate::accounts::hash_password(new)?;
        if let Some(a) = self.lock().by_id.get_mut(&who.account_id) {
            a.password_hash = Some(hash);
        }
        Ok(())
    }

    fn enrol_totp(&self, who: &Supervisor, secret: &str, code: &str) -> Result<(), DashboardError> {
        let a = self.live(who)?;
        if crate::accounts::totp_step(secret, &a.who.email, code, Self::now_secs()).is_none() {
            return Err(DashboardError::Refused("Code incorrect.".into()));
        }
        if let Some(a) = self.lock().by_id.get_mut(&who.account_id) {
            a.totp_secret = Some(secret.to_string());
            a.totp_last_step = None;
        }
        Ok(())
    }

    fn remove_totp(&self, who: &Supervisor) -> Result<(), DashboardError> {
        if self.account_state(who)?.totp_required {
            return Err(DashboardError::Refused(
                "Votre équipe exige la double authentification.".into(),
            ));
        }
        if let Some(a) = self.lock().by_id.get_mut(&who.account_id) {
            a.totp_secret = None;
        }
        Ok(())
    }

    fn accounts(&self, team_id: &str) -> Result<Vec<AccountSummary>, DashboardError> {
        let mut list: Vec<AccountSummary> = self
            .lock()
            .by_id
            .values()
            .filter(|a| a.who.team_id == team_id)
            .map(|a| AccountSummary {
                account_id: a.who.account_id.clone(),
                name: a.who.name.clone(),
                email: a.who.email.clone(),
                active: a.password_hash.is_some(),
                totp: a.totp_secret.is_some(),
                disabled: a.disabled,
            })
            .collect();
        list.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(list)
    }

    fn invite(&self, team_id: &str, name: &str, email: &str) -> Result<String, DashboardError> {
        let email = email.trim().to_lowercase();
        if self.lock().by_id.values().any(|a| a.who.email == email) {
            return Err(DashboardError::Refused(
                "Un compte utilise déjà cette adresse e-mail.".into(),
            ));
        }
        let id = self.add_account(team_id, name.trim(), &email);
        Ok(self.issue(&id))
    }

    fn reinvite(&self, team_id: &str, account_id: &str) -> Result<String, DashboardError> {
        match self.account(account_id) {
            Some(a) if a.who.team_id == team_id && !a.disabled => Ok(self.issue(account_id)),
            _ => Err(DashboardError::NotFound(
                "ce compte n'existe pas dans votre équipe".into(),
            )),
        }
    }

    fn disable(&self, team_id: &str, account_id: &str) -> Result<bool, DashboardError> {
        let mut acc = self.lock();
        match acc.by_id.get_mut(account_id) {
            Some(a) if a.who.team_id == team_id => {
                a.disabled = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn set_require_totp(&self, team_id: &str, on: bool) -> Result<(), DashboardError> {
        let mut acc = self.lock();
        if on {
            acc.require_totp.insert(team_id.to_string());
        } else {
            acc.require_totp.remove(team_id);
        }
        Ok(())
    }

    fn team(&self, team_id: &str) -> Result<Arc<dyn TeamReads>, DashboardError> {
        match self.stores.get(team_id) {
            Some(store) => Ok(store.clone()),
            None => Err(DashboardError::NotFound("équipe inconnue".into())),
        }
    }

    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError> {
        Ok(self.live(who).is_ok())
    }

    fn act(
        &self,
        who: &Supervisor,
        id: RecordId,
        action: &carnet_core::edit::Action,
    ) -> Result<(), DashboardError> {
        let store = self
            .stores
            .get(&who.team_id)
            .ok_or_else(|| DashboardError::NotFound("équipe inconnue".into()))?;
        store.act_as(&who.origin(), &who.actor, &who.name, id, action)?;
        Ok(())
    }

    fn actor_names(&self, _team_id: &str) -> Result<HashMap<String, String>, DashboardError> {
        let mut names = self.names.clone();
        names.extend(
            self.lock()
                .by_id
                .values()
                .map(|a| (a.who.actor.clone(), a.who.name.clone())),
        );
        Ok(names)
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
