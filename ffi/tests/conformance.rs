//! The conformance scenarios (`conformance/scenarios.json`, or the file
//! named by `CARNET_CONFORMANCE`) played through carnet-ffi's Rust API, the
//! surface the Kotlin and Swift apps see, against a real carnet-server on a
//! loopback port. Every step of the vocabulary is supported here; a step
//! this runner did not know would fail its scenario (the file is read by
//! `test_hook_scenarios`, which refuses unknown steps).
//!
//! Prints one line per scenario and ends with `N passed, M failed`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use carnet_ffi::test_hooks::*;
use carnet_ffi::*;
use carnet_server::{Config, RunningServer};

/// The scenario file: `CARNET_CONFORMANCE`, or the repository's.
fn scenario_file() -> String {
    std::env::var("CARNET_CONFORMANCE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/scenarios.json").to_string()
    })
}

/// The team server the scenarios enroll into, with its operator's access
/// for issuing codes.
struct Server {
    data: PathBuf,
    team: String,
    running: RunningServer,
}

impl Server {
    fn start(data: &Path) -> Server {
        let (team, _supervisor_code) =
            carnet_server::init_team(data, "Équipe de conformité").expect("team created");
        let running = RunningServer::start(Config {
            data_dir: data.to_path_buf(),
            listen: "127.0.0.1:0".parse().expect("loopback address"),
            ..Config::default()
        })
        .expect("server started");
        Server {
            data: data.to_path_buf(),
            team,
            running,
        }
    }

    fn url(&self) -> String {
        self.running.url()
    }

    /// A one-time code for `role` (`mediator` or `supervisor`).
    fn code(&self, role: &str, name: &str) -> Result<String, String> {
        let typed: carnet_core::Role = role.parse().map_err(|e| format!("{e}"))?;
        carnet_server::issue_code(&self.data, &self.team, typed, Some(name))
            .map_err(|e| format!("no {role} code: {e}"))
    }
}

/// Why a step did not give what it should.
enum Fail {
    /// The API threw.
    Api(CarnetError),
    /// A check failed.
    Check(String),
}

impl From<CarnetError> for Fail {
    fn from(e: CarnetError) -> Self {
        Fail::Api(e)
    }
}

fn fail<T>(what: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Check(what.into()))
}

// ---- the codes the scenario file names the API's enums by

/// The enrollment's role as its code.
fn role_code(e: &DeviceEnrollment) -> String {
    match e.role {
        Role::Mediator => "mediator",
        Role::Supervisor => "supervisor",
    }
    .to_string()
}

/// A progress report's phase as its code.
fn phase_code(s: &SyncState) -> String {
    match s.phase {
        SyncPhase::Push => "push",
        SyncPhase::Pull => "pull",
        SyncPhase::Photos => "photos",
        SyncPhase::Done => "done",
    }
    .to_string()
}

/// A contact link's state as its code.
fn link_state_code(l: &ContactLink) -> String {
    match l.state {
        ContactState::Present => "present",
        ContactState::Erased => "erased",
        ContactState::Unknown => "unknown",
    }
    .to_string()
}

/// A report status as its code (the core's).
fn status_code(s: ReportStatus) -> &'static str {
    carnet_core::ReportStatus::from(s).code()
}

/// An error's kind name and the attributes a scenario may check.
fn error_kind(e: &CarnetError) -> (&'static str, Vec<(&'static str, String)>) {
    use CarnetError as E;
    match e {
        E::InvalidInput { field, .. } => ("InvalidInput", vec![("field", field.clone())]),
        E::InvalidTransition { from, to, .. } => (
            "InvalidTransition",
            vec![
                ("from", status_code(*from).to_string()),
                ("to", status_code(*to).to_string()),
            ],
        ),
        E::NotFound { id } => ("NotFound", vec![("id", id.clone())]),
        E::Erased { id } => ("Erased", vec![("id", id.clone())]),
        E::WrongKey => ("WrongKey", vec![]),
        E::NotEnrolled => ("NotEnrolled", vec![]),
        E::Wiped => ("Wiped", vec![]),
        E::UpdateRequired => ("UpdateRequired", vec![]),
        E::ServerTooOld { .. } => ("ServerTooOld", vec![]),
        E::Network { .. } => ("Network", vec![]),
        E::Cancelled => ("Cancelled", vec![]),
        E::Storage { .. } => ("Storage", vec![]),
        E::Internal { .. } => ("Internal", vec![]),
        E::PhotoTooLarge { .. } => ("PhotoTooLarge", vec![]),
        E::TooManyPhotos { limit } => ("TooManyPhotos", vec![("limit", limit.to_string())]),
        E::PendingPhotosFull { .. } => ("PendingPhotosFull", vec![]),
        E::NotAnImage { .. } => ("NotAnImage", vec![]),
        E::PhotoNotFound { hash } => ("PhotoNotFound", vec![("hash", hash.clone())]),
        E::PhotoNotDownloaded { hash } => ("PhotoNotDownloaded", vec![("hash", hash.clone())]),
        E::PhotoErased { hash } => ("PhotoErased", vec![("hash", hash.clone())]),
        E::PhotosNotAllowed { kind } => (
            "PhotosNotAllowed",
            vec![("kind", format!("{kind:?}").to_lowercase())],
        ),
    }
}

// ---- reading records by path

/// A value read from a record, before it is rendered as canonical text.
enum Val {
    Null,
    Text(String),
    List(Vec<Val>),
    Obj(Box<dyn Fields>),
}

/// A record type whose fields can be read by name.
trait Fields {
    fn field(&self, name: &str) -> Option<Val>;
}

trait IntoVal {
    fn into_val(self) -> Val;
}

impl IntoVal for String {
    fn into_val(self) -> Val {
        Val::Text(self)
    }
}
impl IntoVal for i64 {
    fn into_val(self) -> Val {
        Val::Text(self.to_string())
    }
}
impl IntoVal for f64 {
    fn into_val(self) -> Val {
        Val::Text(format!("{self:?}"))
    }
}
impl IntoVal for bool {
    fn into_val(self) -> Val {
        Val::Text(self.to_string())
    }
}
impl IntoVal for ReportStatus {
    fn into_val(self) -> Val {
        Val::Text(status_code(self).to_string())
    }
}
impl<T: IntoVal> IntoVal for Option<T> {
    fn into_val(self) -> Val {
        self.map_or(Val::Null, IntoVal::into_val)
    }
}
impl<T: IntoVal> IntoVal for Vec<T> {
    fn into_val(self) -> Val {
        Val::List(self.into_iter().map(IntoVal::into_val).collect())
    }
}

/// Reads the listed fields of a record type by their names.
macro_rules! fields {
    ($t:ty { $($f:ident),* $(,)? }) => {
        impl Fields for $t {
            fn field(&self, name: &str) -> Option<Val> {
                match name {
                    $(stringify!($f) => Some(self.$f.clone().into_val()),)*
                    _ => None,
                }
            }
        }
        impl IntoVal for $t {
            fn into_val(self) -> Val {
                Val::Obj(Box::new(self))
            }
        }
    };
}

fields!(Header {
    id,
    author,
    created_at,
    updated_at
});
fields!(StatusEvent {
    id,
    status,
    at,
    by,
    to,
    reference,
    comment,
    duplicate_of,
    applied
});
fields!(Consent {
    purpose,
    given_at,
    given_by,
    withdrawn_at,
    withdrawn_by
});
fields!(Interaction {
    id,
    at,
    by,
    text,
    referral
});
fields!(Note {
    header,
    sector,
    quartier,
    place,
    lat,
    lon,
    observed_at,
    text,
    axes,
    tags,
    team,
    residents_met,
    contacts,
});
fields!(Report {
    header,
    sector,
    quartier,
    category,
    place,
    lat,
    lon,
    text,
    urgent,
    body,
    axes,
    contacts,
    status,
    events,
});
fields!(Contact {
    header,
    name,
    household,
    address,
    building,
    flat,
    phone,
    languages,
    landlord,
    sector,
    topics,
    consents,
    new_tenant_visit,
    interactions,
});
fields!(Activity {
    header,
    activity_type,
    sector,
    quartier,
    place,
    started_at,
    ended_at,
    team,
    met_known,
    met_new,
    referrals,
    topics,
    partners,
    axes,
    text,
    contacts,
});

impl Fields for ContactLink {
    fn field(&self, name: &str) -> Option<Val> {
        match name {
            "id" => Some(Val::Text(self.id.clone())),
            "state" => Some(Val::Text(link_state_code(self))),
            _ => None,
        }
    }
}
impl IntoVal for ContactLink {
    fn into_val(self) -> Val {
        Val::Obj(Box::new(self))
    }
}

/// The value at `path` of `record` (`id` and `kind` are the record's own).
fn read_path(record: &Record, path: &str) -> Result<Val, Fail> {
    let (kind, inner): (&str, Val) = match record.clone() {
        Record::Note { note } => ("note", note.into_val()),
        Record::Report { report } => ("report", report.into_val()),
        Record::Contact { contact } => ("contact", contact.into_val()),
        Record::Activity { activity } => ("activity", activity.into_val()),
    };
    match path {
        "kind" => return Ok(Val::Text(kind.into())),
        "id" => return read_path(record, "header.id"),
        _ => {}
    }
    path.split('.').try_fold(inner, |v, seg| walk(v, seg, path))
}

fn walk(v: Val, seg: &str, path: &str) -> Result<Val, Fail> {
    match v {
        Val::Null => Ok(Val::Null),
        Val::Obj(o) => match o.field(seg) {
            Some(v) => Ok(v),
            None => fail(format!("no field `{seg}` in path `{path}`")),
        },
        Val::List(items) => Ok(Val::List(
            items
                .into_iter()
                .map(|i| walk(i, seg, path))
                .collect::<Result<_, _>>()?,
        )),
        Val::Text(_) => fail(format!(
            "`{seg}` in path `{path}` goes inside a plain value"
        )),
    }
}

/// The canonical text of a value (see `ValueCheck`); `None` for null.
fn render(v: &Val, path: &str) -> Result<Option<String>, Fail> {
    Ok(match v {
        Val::Null => None,
        Val::Text(s) => Some(s.clone()),
        Val::List(items) => Some(format!(
            "[{}]",
            items
                .iter()
                .map(|i| Ok(render(i, path)?.unwrap_or_else(|| "null".into())))
                .collect::<Result<Vec<_>, Fail>>()?
                .join(", ")
        )),
        Val::Obj(_) => return fail(format!("`{path}` is a record, not a value: name a field")),
    })
}

// ---- playing a scenario

struct Device {
    path: PathBuf,
    store: Option<Arc<CarnetStore>>,
    enrollment: Option<DeviceEnrollment>,
}

struct Player<'a> {
    server: &'a Server,
    dir: PathBuf,
    devices: HashMap<String, Device>,
    saved: HashMap<String, String>,
}

struct Phases(Mutex<Vec<String>>);

impl SyncProgress for Phases {
    fn on_progress(&self, state: SyncState) {
        self.0.lock().expect("phases").push(phase_code(&state));
    }
}

fn key(seed: u8, len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

impl Player<'_> {
    /// `text` with every `$name` replaced by what the step that saved
    /// `name` returned.
    fn resolve(&self, text: &str) -> Result<String, Fail> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            match self.saved.get(name) {
                Some(v) => out.push_str(v),
                None => return fail(format!("`${name}` was not saved by an earlier step")),
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn resolve_all(&self, items: &[String]) -> Result<Vec<String>, Fail> {
        items.iter().map(|i| self.resolve(i)).collect()
    }

    fn device(&mut self, name: &str) -> &mut Device {
        let path = self.dir.join(format!("{name}.db"));
        self.devices.entry(name.to_string()).or_insert(Device {
            path,
            store: None,
            enrollment: None,
        })
    }

    fn store(&self, name: &str) -> Result<Arc<CarnetStore>, Fail> {
        match self.devices.get(name).and_then(|d| d.store.clone()) {
            Some(s) => Ok(s),
            None => fail(format!("device `{name}` has no open store")),
        }
    }

    fn enrollment(&self, name: &str) -> Result<DeviceEnrollment, Fail> {
        match self.devices.get(name).and_then(|d| d.enrollment.clone()) {
            Some(e) => Ok(e),
            None => fail(format!("device `{name}` is not enrolled")),
        }
    }

    fn check_fields(&self, record: &Record, checks: &[FieldCheck]) -> Result<(), Fail> {
        for c in checks {
            let got = render(&read_path(record, &c.path)?, &c.path)?;
            let ok = match &c.check {
                ValueCheck::Equals { value } => got.as_deref() == Some(&*self.resolve(value)?),
                ValueCheck::Contains { parts } => got
                    .as_deref()
                    .is_some_and(|g| parts.iter().all(|p| g.contains(p.as_str()))),
                ValueCheck::Present => got.is_some(),
                ValueCheck::Absent => got.is_none(),
            };
            if !ok {
                return fail(format!(
                    "`{}`: expected {:?}, got {}",
                    c.path,
                    c.check,
                    got.as_deref().unwrap_or("null")
                ));
            }
        }
        Ok(())
    }

    /// Plays one step; returns the id it saves, if any.
    fn act(&mut self, step: &ScenarioStep) -> Result<Option<String>, Fail> {
        let name = step.device.clone().unwrap_or_default();
        let url = self.server.url();
        Ok(match &step.action {
            StepAction::Open {
                key_seed,
                key_bytes,
                author,
            } => {
                let path = self.device(&name).path.to_string_lossy().into_owned();
                let store = CarnetStore::open(path, key(*key_seed, *key_bytes))?;
                if let Some(a) = author {
                    store.set_author(a.clone())?;
                }
                self.device(&name).store = Some(store);
                None
            }
            StepAction::Close => {
                self.device(&name).store = None;
                None
            }
            StepAction::Enroll { role } => {
                let code = self.server.code(role, &name).map_err(Fail::Check)?;
                let path = self.device(&name).path.to_string_lossy().into_owned();
                let store = CarnetStore::open(path, key(1, 32))?;
                let e = store.enroll(url, code, name.clone())?;
                if role_code(&e) != *role {
                    return fail(format!("enrolled as {}, not {role}", role_code(&e)));
                }
                store.set_author(name.clone())?;
                let d = self.device(&name);
                d.store = Some(store);
                d.enrollment = Some(e);
                None
            }
            StepAction::CreateNote { note } => {
                let mut note = note.clone();
                note.contacts = self.resolve_all(&note.contacts)?;
                Some(self.store(&name)?.create_note(note)?)
            }
            StepAction::CreateReport { report } => {
                let mut report = report.clone();
                report.contacts = self.resolve_all(&report.contacts)?;
                Some(self.store(&name)?.create_report(report)?)
            }
            StepAction::CreateContact { contact } => {
                Some(self.store(&name)?.create_contact(contact.clone())?)
            }
            StepAction::CreateActivity { activity } => {
                let mut activity = activity.clone();
                activity.contacts = self.resolve_all(&activity.contacts)?;
                Some(self.store(&name)?.create_activity(activity)?)
            }
            StepAction::SetField {
                record,
                field,
                value,
            } => {
                self.store(&name)?.set_field(
                    self.resolve(record)?,
                    field.clone(),
                    value.clone(),
                )?;
                None
            }
            StepAction::ClearField { record, field } => {
                self.store(&name)?
                    .clear_field(self.resolve(record)?, field.clone())?;
                None
            }
            StepAction::ChangeStatus { record, change } => {
                let mut change = change.clone();
                change.duplicate_of = change.duplicate_of.map(|d| self.resolve(&d)).transpose()?;
                self.store(&name)?
                    .change_status(self.resolve(record)?, change)?;
                None
            }
            StepAction::AddInteraction {
                record,
                text,
                referral,
            } => {
                self.store(&name)?.add_interaction(
                    self.resolve(record)?,
                    text.clone(),
                    referral.clone(),
                )?;
                None
            }
            StepAction::Erase { record } => {
                self.store(&name)?.erase(self.resolve(record)?)?;
                None
            }
            StepAction::SetSetting { key, value } => {
                self.store(&name)?.set_setting(key.clone(), value.clone())?;
                None
            }
            StepAction::Setting { key, expect } => {
                let got = self.store(&name)?.setting(key.clone())?;
                if got != *expect {
                    return fail(format!("setting `{key}`: expected {expect:?}, got {got:?}"));
                }
                None
            }
            StepAction::Get { record, expect } => {
                let r = self.store(&name)?.get(self.resolve(record)?)?;
                self.check_fields(&r, expect)?;
                None
            }
            StepAction::ListRecords {
                query,
                count,
                has_more,
                first,
            } => {
                let page = self.store(&name)?.list(query.clone())?;
                if page.items.len() != *count as usize {
                    return fail(format!("{} items, expected {count}", page.items.len()));
                }
                if has_more.is_some_and(|h| h != page.has_more) {
                    return fail(format!("has_more is {}", page.has_more));
                }
                if !first.is_empty() {
                    match page.items.first() {
                        Some(r) => self.check_fields(r, first)?,
                        None => return fail("no first item to check"),
                    }
                }
                None
            }
            StepAction::CountRecords { query, by, expect } => {
                let mut got = self.store(&name)?.count(query.clone(), *by)?;
                let mut want = expect.clone();
                got.sort_by(|a, b| a.key.cmp(&b.key));
                want.sort_by(|a, b| a.key.cmp(&b.key));
                if got != want {
                    return fail(format!("counts {got:?}, expected {want:?}"));
                }
                None
            }
            StepAction::OpenReports { count } => {
                let n = self.store(&name)?.open_reports(None)?.len();
                if n != *count as usize {
                    return fail(format!("{n} open reports, expected {count}"));
                }
                None
            }
            StepAction::AllowedNext { status, expect } => {
                let got = allowed_next(*status);
                if got != *expect {
                    return fail(format!("allowed {got:?}, expected {expect:?}"));
                }
                None
            }
            StepAction::History { record, has_op } => {
                let d = self.store(&name)?.details(self.resolve(record)?)?;
                if !d.history.iter().any(|h| h.op == *has_op) {
                    return fail(format!("no `{has_op}` in the history"));
                }
                None
            }
            StepAction::Conflicts { record, expect } => {
                let id = self.resolve(record)?;
                let store = self.store(&name)?;
                let sorted = |cs: Vec<Conflict>| {
                    let mut cs: Vec<(String, Vec<String>)> = cs
                        .into_iter()
                        .map(|mut c| {
                            c.values.sort();
                            (c.field, c.values)
                        })
                        .collect();
                    cs.sort();
                    cs
                };
                let want = sorted(expect.clone());
                let from_details = sorted(store.details(id.clone())?.conflicts);
                let direct = sorted(store.conflicts(id)?);
                if from_details != want || direct != want {
                    return fail(format!(
                        "conflicts {direct:?} (details: {from_details:?}), expected {want:?}"
                    ));
                }
                None
            }
            StepAction::Agree {
                record,
                other,
                paths,
            } => {
                let id = self.resolve(record)?;
                let mine = self.store(&name)?.get(id.clone())?;
                let theirs = self.store(other)?.get(id)?;
                for p in paths {
                    let (a, b) = (
                        render(&read_path(&mine, p)?, p)?,
                        render(&read_path(&theirs, p)?, p)?,
                    );
                    if a != b {
                        return fail(format!("`{p}`: {a:?} here, {b:?} on {other}"));
                    }
                }
                None
            }
            StepAction::Sync {
                server,
                token,
                cancelled,
                expect,
            } => {
                let token = match token {
                    Some(t) => t.clone(),
                    None => self.enrollment(&name)?.token,
                };
                let cancel = SyncCancel::new();
                if *cancelled {
                    cancel.cancel();
                }
                let phases = Arc::new(Phases(Mutex::new(Vec::new())));
                let summary = self.store(&name)?.sync(
                    server.clone().unwrap_or(url),
                    token,
                    phases.clone(),
                    Some(cancel),
                )?;
                self.check_sync(&summary, expect, &phases.0.lock().expect("phases"))?;
                None
            }
            StepAction::OrderWipe { target } => {
                let by = self.enrollment(&name)?;
                let device_id = self.enrollment(target)?.device_id;
                test_hook_order_wipe(url, by.token, device_id)?;
                None
            }
            StepAction::Revoke { target } => {
                let by = self.enrollment(&name)?;
                let device_id = self.enrollment(target)?.device_id;
                test_hook_revoke(url, by.token, device_id)?;
                None
            }
            StepAction::ServerGet { record, expect } => {
                let by = self.enrollment(&name)?;
                let d = test_hook_server_record(url, by.token, self.resolve(record)?)?;
                self.check_fields(&d.record, expect)?;
                None
            }
        })
    }

    fn check_sync(
        &self,
        s: &SyncSummary,
        want: &SyncExpect,
        phases: &[String],
    ) -> Result<(), Fail> {
        if want.pushed_at_least.is_some_and(|n| s.pushed < n) {
            return fail(format!("pushed {}", s.pushed));
        }
        if want.pulled_at_least.is_some_and(|n| s.pulled < n) {
            return fail(format!("pulled {}", s.pulled));
        }
        if want.erased.is_some_and(|n| s.erased != n) {
            return fail(format!("erased {}", s.erased));
        }
        for c in &want.conflicts {
            let id = self.resolve(&c.record)?;
            if !s
                .conflicts
                .iter()
                .any(|rc| rc.id == id && rc.conflicts.iter().any(|x| x.field == c.field))
            {
                return fail(format!("no conflict on `{}` in {:?}", c.field, s.conflicts));
            }
        }
        if let Some(p) = &want.last_phase
            && phases.last() != Some(p)
        {
            return fail(format!("last phase {:?}, expected {p}", phases.last()));
        }
        Ok(())
    }

    /// Plays a step and checks its outcome against its expected error.
    fn step(&mut self, step: &ScenarioStep) -> Result<(), String> {
        let outcome = self.act(step);
        let at = &step.label;
        match (outcome, &step.error) {
            (Ok(saved), None) => {
                if let (Some(name), Some(v)) = (&step.save_as, saved) {
                    self.saved.insert(name.clone(), v);
                }
                Ok(())
            }
            (Ok(_), Some(want)) => Err(format!("{at}: expected {}, nothing was thrown", want.kind)),
            (Err(Fail::Check(why)), _) => Err(format!("{at}: {why}")),
            (Err(Fail::Api(e)), None) => Err(format!("{at}: unexpected error {e:?}")),
            (Err(Fail::Api(e)), Some(want)) => {
                let (kind, attrs) = error_kind(&e);
                if kind != want.kind {
                    return Err(format!("{at}: expected {}, got {e:?}", want.kind));
                }
                for (k, v) in &want.attrs {
                    let v = self.resolve(v).map_err(|f| match f {
                        Fail::Check(s) => format!("{at}: {s}"),
                        Fail::Api(e) => format!("{at}: {e}"),
                    })?;
                    match attrs.iter().find(|(name, _)| name == k) {
                        Some((_, got)) if *got == v => {}
                        _ => return Err(format!("{at}: expected {k} = {v} in {e:?}")),
                    }
                }
                if let Some(lacks) = &want.message_lacks
                    && e.to_string().contains(lacks.as_str())
                {
                    return Err(format!("{at}: the message repeats the value: {e}"));
                }
                Ok(())
            }
        }
    }
}

#[test]
fn every_scenario_passes_through_the_rust_api() {
    let scenarios = test_hook_scenarios(scenario_file()).expect("the scenario file reads");
    assert!(!scenarios.is_empty(), "no scenario in {}", scenario_file());
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&data.path().join("server"));
    let (mut passed, mut failed) = (0, 0);
    for (i, sc) in scenarios.iter().enumerate() {
        let dir = data.path().join(format!("scenario-{}", i + 1));
        std::fs::create_dir_all(&dir).expect("scenario dir");
        let mut player = Player {
            server: &server,
            dir,
            devices: HashMap::new(),
            saved: HashMap::new(),
        };
        match sc.steps.iter().try_for_each(|s| player.step(s)) {
            Ok(()) => {
                passed += 1;
                println!("ok   - {}", sc.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL - {}: {why}", sc.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} scenario(s) failed (see above)");
}

#[test]
fn an_unknown_step_fails_the_file_loudly() {
    let err = test_hooks::scenario::parse(
        r#"{"scenarios": [{"name": "x", "steps": [{"op": "teleport", "device": "a"}]}]}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, CarnetError::InvalidInput { field, reason } if field == "scenarios" && reason.contains("teleport")),
        "{err:?}"
    );
    let err = test_hooks::scenario::parse(
        r#"{"scenarios": [{"name": "x", "steps": [{"op": "close", "device": "a", "colour": 1}]}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}
