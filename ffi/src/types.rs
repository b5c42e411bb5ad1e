//! The core's records and enums, mirrored for Kotlin and Swift, with `From`
//! conversions. Ids are strings (UUIDv7), times are milliseconds since the
//! Unix epoch (`Long` / `Int64`).

use carnet_core::{config, consent, doc, lifecycle, model, schema, store, sync};

use crate::photos::{PhotoRef, PhotoSettings, refs};

/// The kinds of records a team keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Kind {
    /// An observation made during a walk or an office hour.
    Note,
    /// A dégradation report (*signalement*), followed until fixed.
    Report,
    /// A resident's contact record: the only place their personal data lives.
    Contact,
    /// A shift, permanence, *aller vers* session, meeting or outing.
    Activity,
}

impl From<schema::Kind> for Kind {
    fn from(k: schema::Kind) -> Self {
        match k {
            schema::Kind::Note => Kind::Note,
            schema::Kind::Report => Kind::Report,
            schema::Kind::Contact => Kind::Contact,
            schema::Kind::Activity => Kind::Activity,
        }
    }
}

impl From<Kind> for schema::Kind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Note => schema::Kind::Note,
            Kind::Report => schema::Kind::Report,
            Kind::Contact => schema::Kind::Contact,
            Kind::Activity => schema::Kind::Activity,
        }
    }
}

/// Where a dégradation report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ReportStatus {
    /// Seen and recorded by a mediator.
    Reported,
    /// Sent to the responsible body (landlord, city service).
    Forwarded,
    /// The responsible body is working on it.
    InProgress,
    /// The body says it is fixed.
    Resolved,
    /// A mediator checked on site that it is fixed.
    Closed,
    /// Not a dégradation, or not for the team.
    Rejected,
    /// Already reported in another report.
    Duplicate,
}

impl From<lifecycle::ReportStatus> for ReportStatus {
    fn from(s: lifecycle::ReportStatus) -> Self {
        use lifecycle::ReportStatus as S;
        match s {
            S::Reported => ReportStatus::Reported,
            S::Forwarded => ReportStatus::Forwarded,
            S::InProgress => ReportStatus::InProgress,
            S::Resolved => ReportStatus::Resolved,
            S::Closed => ReportStatus::Closed,
            S::Rejected => ReportStatus::Rejected,
            S::Duplicate => ReportStatus::Duplicate,
        }
    }
}

impl From<ReportStatus> for lifecycle::ReportStatus {
    fn from(s: ReportStatus) -> Self {
        use lifecycle::ReportStatus as S;
        match s {
            ReportStatus::Reported => S::Reported,
            ReportStatus::Forwarded => S::Forwarded,
            ReportStatus::InProgress => S::InProgress,
            ReportStatus::Resolved => S::Resolved,
            ReportStatus::Closed => S::Closed,
            ReportStatus::Rejected => S::Rejected,
            ReportStatus::Duplicate => S::Duplicate,
        }
    }
}

/// What every record has.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Header {
    /// The record's id.
    pub id: String,
    /// Author id of the mediator who created it.
    pub author: String,
    /// Creation time.
    pub created_at: i64,
    /// Time of the newest change.
    pub updated_at: i64,
}

impl From<model::Header> for Header {
    fn from(h: model::Header) -> Self {
        Header {
            id: h.id.to_string(),
            author: h.author,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// A reference from a note, report or activity to a resident contact.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ContactLink {
    /// The contact's id.
    pub id: String,
    /// Whether this device holds the contact.
    pub state: ContactState,
}

/// What a device knows of a linked contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ContactState {
    /// The contact is on this device.
    Present,
    /// The resident asked to be forgotten; the contact is gone for good.
    Erased,
    /// Not on this device yet (the next sync may bring it).
    Unknown,
}

impl From<model::ContactState> for ContactState {
    fn from(s: model::ContactState) -> Self {
        match s {
            model::ContactState::Present => ContactState::Present,
            model::ContactState::Erased => ContactState::Erased,
            model::ContactState::Unknown => ContactState::Unknown,
        }
    }
}

impl From<model::ContactLink> for ContactLink {
    fn from(l: model::ContactLink) -> Self {
        ContactLink {
            id: l.id.to_string(),
            state: l.state.into(),
        }
    }
}

fn links(v: Vec<model::ContactLink>) -> Vec<ContactLink> {
    v.into_iter().map(Into::into).collect()
}

/// An observation made in the field.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Note {
    /// Id, author, times.
    pub header: Header,
    /// Sector code.
    pub sector: String,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Building or place.
    pub place: Option<String>,
    /// Latitude, degrees.
    pub lat: Option<f64>,
    /// Longitude, degrees.
    pub lon: Option<f64>,
    /// When the observation was made.
    pub observed_at: Option<i64>,
    /// The note itself.
    pub text: String,
    /// Mission axis codes.
    pub axes: Vec<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Team members present.
    pub team: Vec<String>,
    /// Number of residents met.
    pub residents_met: Option<i64>,
    /// Residents concerned, by reference.
    pub contacts: Vec<ContactLink>,
    /// Photos, oldest first (their bytes: [`crate::CarnetStore::photos`]).
    pub photos: Vec<PhotoRef>,
}

impl From<model::Note> for Note {
    fn from(n: model::Note) -> Self {
        Note {
            header: n.header.into(),
            sector: n.sector,
            quartier: n.quartier,
            place: n.place,
            lat: n.lat,
            lon: n.lon,
            observed_at: n.observed_at,
            text: n.text,
            axes: n.axes,
            tags: n.tags,
            team: n.team,
            residents_met: n.residents_met,
            contacts: links(n.contacts),
            photos: refs(n.photos),
        }
    }
}

/// One status change of a report.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StatusEvent {
    /// Unique id of the event.
    pub id: String,
    /// The status the report moved to.
    pub status: ReportStatus,
    /// When.
    pub at: i64,
    /// Who recorded it (author id).
    pub by: String,
    /// For `Forwarded`: the responsible body's code.
    pub to: Option<String>,
    /// For `Forwarded`: the body's own reference for the case.
    pub reference: Option<String>,
    /// A free comment.
    pub comment: Option<String>,
    /// For `Duplicate`: the report this one duplicates.
    pub duplicate_of: Option<String>,
    /// False when a concurrent change made this event impossible at its
    /// place; it stays in the history.
    pub applied: bool,
}

impl From<lifecycle::StatusEvent> for StatusEvent {
    fn from(e: lifecycle::StatusEvent) -> Self {
        StatusEvent {
            id: e.id,
            status: e.status.into(),
            at: e.at,
            by: e.by,
            to: e.to,
            reference: e.reference,
            comment: e.comment,
            duplicate_of: e.duplicate_of.map(|id| id.to_string()),
            applied: e.applied,
        }
    }
}

/// A dégradation report and its lifecycle.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Report {
    /// Id, author, times.
    pub header: Header,
    /// Sector code.
    pub sector: String,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Category code.
    pub category: String,
    /// Precise location.
    pub place: String,
    /// Latitude, degrees.
    pub lat: Option<f64>,
    /// Longitude, degrees.
    pub lon: Option<f64>,
    /// Description.
    pub text: String,
    /// Danger to people.
    pub urgent: bool,
    /// Body currently responsible (last forwarded to, or set directly).
    pub body: Option<String>,
    /// Mission axis codes.
    pub axes: Vec<String>,
    /// Residents concerned, by reference.
    pub contacts: Vec<ContactLink>,
    /// Current status, derived from the events.
    pub status: ReportStatus,
    /// Every status change, in replay order.
    pub events: Vec<StatusEvent>,
    /// Photos, oldest first (their bytes: [`crate::CarnetStore::photos`]).
    pub photos: Vec<PhotoRef>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
}

/// A comment on a report, a mediator's or a supervisor's.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Comment {
    /// Unique id of the comment.
    pub id: String,
    /// When.
    pub at: i64,
    /// Who wrote it (the name their device or the dashboard wrote).
    pub by: String,
    /// The comment.
    pub text: String,
}

impl From<model::Comment> for Comment {
    fn from(c: model::Comment) -> Self {
        Comment {
            id: c.id,
            at: c.at,
            by: c.by,
            text: c.text,
        }
    }
}

/// What a resident may consent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Purpose {
    /// Individual follow-up ("suivi individuel").
    Suivi,
    /// Referral to a partner ("orientation vers un partenaire"): needed
    /// for an interaction's referral.
    Orientation,
    /// Being called ("contact par téléphone"): needed to keep a phone
    /// number; withdrawing it clears the number.
    Telephone,
}

impl From<Purpose> for consent::Purpose {
    fn from(p: Purpose) -> Self {
        match p {
            Purpose::Suivi => consent::Purpose::Suivi,
            Purpose::Orientation => consent::Purpose::Orientation,
            Purpose::Telephone => consent::Purpose::Telephone,
        }
    }
}

impl From<model::Report> for Report {
    fn from(r: model::Report) -> Self {
        Report {
            header: r.header.into(),
            sector: r.sector,
            quartier: r.quartier,
            category: r.category,
            place: r.place,
            lat: r.lat,
            lon: r.lon,
            text: r.text,
            urgent: r.urgent,
            body: r.body,
            axes: r.axes,
            contacts: links(r.contacts),
            status: r.status.into(),
            events: r.events.into_iter().map(Into::into).collect(),
            photos: refs(r.photos),
            comments: r.comments.into_iter().map(Into::into).collect(),
        }
    }
}

/// A consent given by a resident, and its withdrawal.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Consent {
    /// The purpose's code (`suivi`, `orientation`, `telephone`; older
    /// records may hold other topics).
    pub purpose: String,
    /// When it was (last) given.
    pub given_at: i64,
    /// Who recorded it; empty when an older version did.
    pub given_by: String,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<i64>,
    /// Who recorded the withdrawal.
    pub withdrawn_by: Option<String>,
}

/// One entry of a contact's log.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Interaction {
    /// Unique id of the entry.
    pub id: String,
    /// When.
    pub at: i64,
    /// Author id.
    pub by: String,
    /// What happened.
    pub text: String,
    /// Partner the resident was referred to (CAF, France Services…).
    pub referral: Option<String>,
}

/// A resident's contact record: personal data, erased on request.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Contact {
    /// Id, author, times.
    pub header: Header,
    /// Name.
    pub name: String,
    /// Household composition.
    pub household: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Building.
    pub building: Option<String>,
    /// Flat.
    pub flat: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Languages spoken.
    pub languages: Vec<String>,
    /// Landlord (a body code).
    pub landlord: Option<String>,
    /// Sector code.
    pub sector: Option<String>,
    /// Topics followed (housing, energy, health…).
    pub topics: Vec<String>,
    /// Consents given.
    pub consents: Vec<Consent>,
    /// New-tenant welcome visit done.
    pub new_tenant_visit: bool,
    /// Interactions and referrals.
    pub interactions: Vec<Interaction>,
    /// Kept past the team's retention until then, if a supervisor said so.
    pub keep_until: Option<i64>,
}

impl From<model::Contact> for Contact {
    fn from(c: model::Contact) -> Self {
        Contact {
            header: c.header.into(),
            name: c.name,
            household: c.household,
            address: c.address,
            building: c.building,
            flat: c.flat,
            phone: c.phone,
            languages: c.languages,
            landlord: c.landlord,
            sector: c.sector,
            topics: c.topics,
            consents: c
                .consents
                .into_iter()
                .map(|x| Consent {
                    purpose: x.purpose,
                    given_at: x.given_at,
                    given_by: x.given_by,
                    withdrawn_at: x.withdrawn_at,
                    withdrawn_by: x.withdrawn_by,
                })
                .collect(),
            new_tenant_visit: c.new_tenant_visit,
            interactions: c
                .interactions
                .into_iter()
                .map(|i| Interaction {
                    id: i.id,
                    at: i.at,
                    by: i.by,
                    text: i.text,
                    referral: i.referral,
                })
                .collect(),
            keep_until: c.keep_until,
        }
    }
}

/// A shift, permanence, *aller vers* session, meeting, school outing or
/// welcome visit.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Activity {
    /// Id, author, times.
    pub header: Header,
    /// `shift`, `permanence`, `aller_vers`, `meeting`, `school_outing` or `welcome_visit`.
    pub activity_type: String,
    /// Sector code.
    pub sector: String,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Place.
    pub place: Option<String>,
    /// Start.
    pub started_at: Option<i64>,
    /// End.
    pub ended_at: Option<i64>,
    /// Team members present.
    pub team: Vec<String>,
    /// Residents met who were already known.
    pub met_known: Option<i64>,
    /// Residents met for the first time.
    pub met_new: Option<i64>,
    /// Referrals to partners made.
    pub referrals: Option<i64>,
    /// Topics raised.
    pub topics: Vec<String>,
    /// Partners present or whose actions were presented.
    pub partners: Vec<String>,
    /// Mission axis codes.
    pub axes: Vec<String>,
    /// Notes.
    pub text: String,
    /// Residents concerned, by reference.
    pub contacts: Vec<ContactLink>,
}

impl From<model::Activity> for Activity {
    fn from(a: model::Activity) -> Self {
        Activity {
            header: a.header.into(),
            activity_type: a.activity_type,
            sector: a.sector,
            quartier: a.quartier,
            place: a.place,
            started_at: a.started_at,
            ended_at: a.ended_at,
            team: a.team,
            met_known: a.met_known,
            met_new: a.met_new,
            referrals: a.referrals,
            topics: a.topics,
            partners: a.partners,
            axes: a.axes,
            text: a.text,
            contacts: links(a.contacts),
        }
    }
}

/// Any record.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Record {
    /// A field note.
    Note {
        /// The note.
        note: Note,
    },
    /// A dégradation report.
    Report {
        /// The report.
        report: Report,
    },
    /// A resident contact.
    Contact {
        /// The contact.
        contact: Contact,
    },
    /// An activity.
    Activity {
        /// The activity.
        activity: Activity,
    },
}

impl From<model::Record> for Record {
    fn from(r: model::Record) -> Self {
        match r {
            model::Record::Note(note) => Record::Note { note: note.into() },
            model::Record::Report(report) => Record::Report {
                report: report.into(),
            },
            model::Record::Contact(contact) => Record::Contact {
                contact: contact.into(),
            },
            model::Record::Activity(activity) => Record::Activity {
                activity: activity.into(),
            },
        }
    }
}

/// Two or more values written concurrently to the same field, kept until
/// the next write to the field resolves it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    /// The field's name.
    pub field: String,
    /// Every concurrent value as JSON text (`"Hall B"`, `true`, `12`), the
    /// first being the one lists show.
    pub values: Vec<String>,
}

impl From<doc::Conflict> for Conflict {
    fn from(c: doc::Conflict) -> Self {
        Conflict {
            field: c.field,
            values: c.values.iter().map(|v| v.to_string()).collect(),
        }
    }
}

/// One change in a record's history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HistoryEntry {
    /// Hex hash of the change.
    pub hash: String,
    /// Author id of whoever made it.
    pub by: String,
    /// When (the author's clock).
    pub at: i64,
    /// What kind of operation: create, set, status, interaction, resolve.
    pub op: String,
    /// Names of the fields it touched (never their values).
    pub fields: Vec<String>,
}

impl From<doc::HistoryEntry> for HistoryEntry {
    fn from(h: doc::HistoryEntry) -> Self {
        HistoryEntry {
            hash: h.hash,
            by: h.by,
            at: h.at,
            op: h.op,
            fields: h.fields,
        }
    }
}

/// A record with its unresolved conflicts and its history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordDetails {
    /// The record.
    pub record: Record,
    /// Unresolved concurrent values.
    pub conflicts: Vec<Conflict>,
    /// Who changed what, when.
    pub history: Vec<HistoryEntry>,
}

impl From<store::RecordDetails> for RecordDetails {
    fn from(d: store::RecordDetails) -> Self {
        RecordDetails {
            record: d.record.into(),
            conflicts: d.conflicts.into_iter().map(Into::into).collect(),
            history: d.history.into_iter().map(Into::into).collect(),
        }
    }
}

/// A list request. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct Query {
    /// The kind listed.
    #[uniffi(default)]
    pub kind: Option<Kind>,
    /// Sector code.
    #[uniffi(default)]
    pub sector: Option<String>,
    /// Quartier code.
    #[uniffi(default)]
    pub quartier: Option<String>,
    /// Mission axis code.
    #[uniffi(default)]
    pub axis: Option<String>,
    /// Report status.
    #[uniffi(default)]
    pub status: Option<ReportStatus>,
    /// Only reports still open (reported, forwarded, in progress).
    #[uniffi(default)]
    pub open_only: bool,
    /// Author id.
    #[uniffi(default)]
    pub author: Option<String>,
    /// Category code (reports).
    #[uniffi(default)]
    pub category: Option<String>,
    /// Activity type.
    #[uniffi(default)]
    pub activity_type: Option<String>,
    /// From this time (inclusive), on the record's date.
    #[uniffi(default)]
    pub since: Option<i64>,
    /// Before this time (exclusive).
    #[uniffi(default)]
    pub until: Option<i64>,
    /// Words to find (full text for notes, reports, activities; the name for contacts).
    #[uniffi(default)]
    pub text: Option<String>,
    /// Oldest first instead of newest first.
    #[uniffi(default)]
    pub oldest_first: bool,
    /// Page size (default 50, at most 1000).
    #[uniffi(default)]
    pub limit: Option<u32>,
    /// Records to skip.
    #[uniffi(default)]
    pub offset: u32,
}

impl From<Query> for store::Query {
    fn from(q: Query) -> Self {
        store::Query {
            kind: q.kind.map(Into::into),
            sector: q.sector,
            quartier: q.quartier,
            axis: q.axis,
            status: q
                .status
                .map(|s| lifecycle::ReportStatus::from(s).code().to_string()),
            open_only: q.open_only,
            author: q.author,
            category: q.category,
            activity_type: q.activity_type,
            since: q.since,
            until: q.until,
            text: q.text,
            oldest_first: q.oldest_first,
            limit: q.limit,
            offset: q.offset,
        }
    }
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Page {
    /// The records.
    pub items: Vec<Record>,
    /// Whether more records match after this page.
    pub has_more: bool,
}

impl From<store::Page> for Page {
    fn from(p: store::Page) -> Self {
        Page {
            items: p.items.into_iter().map(Into::into).collect(),
            has_more: p.has_more,
        }
    }
}

/// What counts are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GroupBy {
    /// Sector code.
    Sector,
    /// Mission axis (a record under two axes counts in both).
    Axis,
    /// Report status.
    Status,
    /// Activity type.
    ActivityType,
    /// Report category.
    Category,
    /// Kind of record.
    Kind,
}

impl From<GroupBy> for store::GroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Sector => store::GroupBy::Sector,
            GroupBy::Axis => store::GroupBy::Axis,
            GroupBy::Status => store::GroupBy::Status,
            GroupBy::ActivityType => store::GroupBy::ActivityType,
            GroupBy::Category => store::GroupBy::Category,
            GroupBy::Kind => store::GroupBy::Kind,
        }
    }
}

/// One group of a count.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Count {
    /// The group's code (empty when the field is not set).
    pub key: String,
    /// How many records.
    pub count: u64,
}

impl From<store::Count> for Count {
    fn from(c: store::Count) -> Self {
        Count {
            key: c.key,
            count: c.count,
        }
    }
}

/// An open dégradation and how long it has been open.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OpenReport {
    /// The report.
    pub report: Record,
    /// Whole days since it was reported.
    pub age_days: i64,
    /// Older than its category's delay.
    pub overdue: bool,
}

impl From<store::OpenReport> for OpenReport {
    fn from(o: store::OpenReport) -> Self {
        OpenReport {
            report: o.report.into(),
            age_days: o.age_days,
            overdue: o.overdue,
        }
    }
}

/// A requested change of a report's status.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StatusChange {
    /// The new status (`Reported` again means reopening).
    pub status: ReportStatus,
    /// For `Forwarded`: the responsible body (code or label). Required.
    #[uniffi(default)]
    pub to: Option<String>,
    /// For `Forwarded`: the body's reference for the case.
    #[uniffi(default)]
    pub reference: Option<String>,
    /// Any status: a comment.
    #[uniffi(default)]
    pub comment: Option<String>,
    /// For `Duplicate`: the id of the report this one duplicates. Required.
    #[uniffi(default)]
    pub duplicate_of: Option<String>,
}

impl TryFrom<StatusChange> for store::StatusChange {
    type Error = carnet_core::Error;
    fn try_from(c: StatusChange) -> Result<Self, Self::Error> {
        Ok(store::StatusChange {
            status: Some(c.status.into()),
            to: c.to,
            reference: c.reference,
            comment: c.comment,
            duplicate_of: c.duplicate_of.as_deref().map(str::parse).transpose()?,
        })
    }
}

/// A named entry of the team's configuration.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConfigEntry {
    /// Stable identifier stored in records.
    pub code: String,
    /// What people read.
    pub label: String,
}

impl From<config::Entry> for ConfigEntry {
    fn from(e: config::Entry) -> Self {
        ConfigEntry {
            code: e.code,
            label: e.label,
        }
    }
}

impl From<ConfigEntry> for config::Entry {
    fn from(e: ConfigEntry) -> Self {
        config::Entry {
            code: e.code,
            label: e.label,
        }
    }
}

/// A sector and its quartiers.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Sector {
    /// Stable identifier stored in records.
    pub code: String,
    /// What people read.
    pub label: String,
    /// The quartiers of the sector.
    pub quartiers: Vec<ConfigEntry>,
}

/// A dégradation category and the delay after which an open report is overdue.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Category {
    /// Stable identifier stored in records.
    pub code: String,
    /// What people read.
    pub label: String,
    /// Days after which an unresolved report of this category is overdue.
    pub overdue_after_days: u32,
}

/// A team's territory, mission axes, categories and bodies: what pickers offer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TeamConfig {
    /// The team's name.
    pub name: String,
    /// Sectors and their quartiers.
    pub sectors: Vec<Sector>,
    /// Mission axes records are filed under.
    pub axes: Vec<ConfigEntry>,
    /// Dégradation categories.
    pub categories: Vec<Category>,
    /// Bodies that fix dégradations (landlords, city services).
    pub bodies: Vec<ConfigEntry>,
    /// Photo sizes and limits, and whether syncs bring full photos.
    pub photos: PhotoSettings,
    /// Months a resident's contact is kept after the last thing that
    /// happened with them.
    #[uniffi(default = 24)]
    pub retention_months: u32,
}

fn entries<A: Into<B>, B>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(Into::into).collect()
}

impl From<config::TeamConfig> for TeamConfig {
    fn from(c: config::TeamConfig) -> Self {
        TeamConfig {
            name: c.name,
            sectors: c
                .sectors
                .into_iter()
                .map(|s| Sector {
                    code: s.code,
                    label: s.label,
                    quartiers: entries(s.quartiers),
                })
                .collect(),
            axes: entries(c.axes),
            categories: c
                .categories
                .into_iter()
                .map(|k| Category {
                    code: k.code,
                    label: k.label,
                    overdue_after_days: k.overdue_after_days,
                })
                .collect(),
            bodies: entries(c.bodies),
            photos: c.photos.into(),
            retention_months: c.retention_months,
        }
    }
}

impl From<TeamConfig> for config::TeamConfig {
    fn from(c: TeamConfig) -> Self {
        config::TeamConfig {
            name: c.name,
            sectors: c
                .sectors
                .into_iter()
                .map(|s| config::Sector {
                    code: s.code,
                    label: s.label,
                    quartiers: entries(s.quartiers),
                })
                .collect(),
            axes: entries(c.axes),
            categories: c
                .categories
                .into_iter()
                .map(|k| config::Category {
                    code: k.code,
                    label: k.label,
                    overdue_after_days: k.overdue_after_days,
                })
                .collect(),
            bodies: entries(c.bodies),
            photos: c.photos.into(),
            retention_months: c.retention_months,
        }
    }
}

/// The phase a sync is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Sending this device's changes.
    Push,
    /// Receiving the team's.
    Pull,
    /// After the records: sending this device's photos, then receiving the
    /// team's thumbnails (and full photos when the team asks for them).
    Photos,
    /// Finished: reported once, last.
    Done,
}

impl From<sync::Phase> for SyncPhase {
    fn from(p: sync::Phase) -> Self {
        match p {
            sync::Phase::Push => SyncPhase::Push,
            sync::Phase::Pull => SyncPhase::Pull,
            sync::Phase::Photos => SyncPhase::Photos,
            sync::Phase::Done => SyncPhase::Done,
        }
    }
}

/// Where a sync stands, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncState {
    /// The phase of the request just answered; `Done` once, last.
    pub phase: SyncPhase,
    /// Entries pushed so far.
    pub pushed: u64,
    /// Entries pulled so far.
    pub pulled: u64,
    /// Bytes sent and received so far.
    pub bytes: u64,
    /// Photos moved so far in the `Photos` phase (uploads, then
    /// thumbnails and full photos downloaded, each counted).
    pub photos_done: u64,
    /// Photos the `Photos` phase has to move (known once it starts).
    pub photos_total: u64,
    /// Photo bytes moved so far: a progress bar for a slow upload.
    pub photo_bytes_done: u64,
    /// Photo bytes the `Photos` phase has to move.
    pub photo_bytes_total: u64,
}

impl From<&sync::Progress> for SyncState {
    fn from(p: &sync::Progress) -> Self {
        SyncState {
            phase: p.phase.into(),
            pushed: p.pushed,
            pulled: p.pulled,
            bytes: p.bytes,
            photos_done: p.photos_done,
            photos_total: p.photos_total,
            photo_bytes_done: p.photo_bytes_done,
            photo_bytes_total: p.photo_bytes_total,
        }
    }
}

/// The conflicts of one record, as a sync found them.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordConflicts {
    /// The record's id.
    pub id: String,
    /// Its unresolved fields.
    pub conflicts: Vec<Conflict>,
}

/// What a sync did, for the person who asked for it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncSummary {
    /// Log entries pushed (changes and erasures).
    pub pushed: u64,
    /// Log entries pulled and new to this device.
    pub pulled: u64,
    /// Records erased on this device by the pull.
    pub erased: u64,
    /// Records touched by the pull that now hold concurrent values.
    pub conflicts: Vec<RecordConflicts>,
    /// Request body bytes.
    pub bytes_sent: u64,
    /// Response body bytes.
    pub bytes_received: u64,
    /// HTTP round trips.
    pub round_trips: u32,
    /// Photos sent (both blobs on the server).
    pub photos_sent: u64,
    /// Full photos received.
    pub photos_received: u64,
    /// Thumbnails received.
    pub thumbnails_received: u64,
    /// Photo bytes sent (also counted in `bytes_sent`).
    pub photo_bytes_sent: u64,
    /// Photo bytes received (also counted in `bytes_received`).
    pub photo_bytes_received: u64,
    /// Photos left for a later sync: not on the server yet for a download,
    /// or refused by it for an upload (`photo_problem` says why).
    pub photos_left: u64,
    /// The server's last refusal of a photo (quota, size), to show the person.
    pub photo_problem: Option<String>,
}

impl From<sync::SyncSummary> for SyncSummary {
    fn from(s: sync::SyncSummary) -> Self {
        SyncSummary {
            pushed: s.pushed as u64,
            pulled: s.pulled as u64,
            erased: s.erased as u64,
            conflicts: s
                .conflicts
                .into_iter()
                .map(|r| RecordConflicts {
                    id: r.id.to_string(),
                    conflicts: entries(r.conflicts),
                })
                .collect(),
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            round_trips: s.round_trips,
            photos_sent: s.photos_sent,
            photos_received: s.photos_received,
            thumbnails_received: s.thumbnails_received,
            photo_bytes_sent: s.photo_bytes_sent,
            photo_bytes_received: s.photo_bytes_received,
            photos_left: s.photos_left,
            photo_problem: s.photo_problem,
        }
    }
}

/// A device's role in its team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Role {
    /// Records and syncs the team's notebook.
    Mediator,
    /// Also reads the merged log, issues codes and manages devices.
    Supervisor,
}

impl From<carnet_core::Role> for Role {
    fn from(r: carnet_core::Role) -> Self {
        match r {
            carnet_core::Role::Mediator => Role::Mediator,
            carnet_core::Role::Supervisor => Role::Supervisor,
        }
    }
}

/// Where and as what this device syncs, as
/// [`crate::CarnetStore::enroll`] saved it inside the encrypted store. Keep
/// `token` secret: never show or log it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeviceEnrollment {
    /// The server's base address, for [`crate::CarnetStore::sync`].
    pub server: String,
    /// The device's secret token, for [`crate::CarnetStore::sync`].
    pub token: String,
    /// The device's id on the server.
    pub device_id: String,
    /// The team's id.
    pub team_id: String,
    /// What the device may do.
    pub role: Role,
}

impl From<carnet_core::DeviceEnrollment> for DeviceEnrollment {
    fn from(e: carnet_core::DeviceEnrollment) -> Self {
        DeviceEnrollment {
            server: e.server,
            token: e.token,
            device_id: e.device_id,
            team_id: e.team_id,
            role: e.role.into(),
        }
    }
}
