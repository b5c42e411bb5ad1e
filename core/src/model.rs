//! Typed views of records, read from a document's JSON (see
//! [`crate::doc::RecordDoc::to_json`]). Inputs are plain JSON maps checked by
//! [`crate::schema`]; these types are what callers read back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::consent::Purpose;
use crate::lifecycle::{ReportStatus, StatusEvent};
use crate::photo::PhotoRef;
use crate::{Error, RecordId, Result};

/// What every record has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The record's id.
    pub id: RecordId,
    /// Author id of the mediator who created it.
    pub author: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
    /// Time of the newest change, ms since the Unix epoch.
    pub updated_at: i64,
    /// The automerge actor (hex) that created the record: the server names
    /// the author from its device registry by it, never from `author`.
    #[serde(default)]
    pub created_by: Option<String>,
}

/// A reference from a note, report or activity to a resident contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLink {
    /// The contact's id.
    pub id: RecordId,
    /// Whether this device holds the contact.
    pub state: ContactState,
}

/// What a device knows of a linked contact: the link stays when the contact
/// is erased or not synced yet, so a view says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactState {
    /// The contact is on this device.
    Present,
    /// The resident asked to be forgotten; the contact is gone for good.
    Erased,
    /// Not on this device yet (the next sync may bring it).
    Unknown,
}

/// An observation made in the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Id, author, times.
    #[serde(flatten)]
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
    /// When the observation was made (defaults to creation).
    pub observed_at: Option<i64>,
    /// The note itself.
    #[serde(default)]
    pub text: String,
    /// Mission axes.
    #[serde(default)]
    pub axes: Vec<String>,
    /// Free tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Team members present.
    #[serde(default)]
    pub team: Vec<String>,
    /// Number of residents met.
    pub residents_met: Option<i64>,
    /// Residents concerned, by reference.
    #[serde(default)]
    pub contacts: Vec<ContactLink>,
    /// Photos, oldest first.
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
}

/// A dégradation report and its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Id, author, times.
    #[serde(flatten)]
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
    #[serde(default)]
    pub text: String,
    /// Danger to people.
    #[serde(default)]
    pub urgent: bool,
    /// Body currently responsible (last forwarded to, or set directly).
    pub body: Option<String>,
    /// Mission axes.
    #[serde(default)]
    pub axes: Vec<String>,
    /// Residents concerned, by reference.
    #[serde(default)]
    pub contacts: Vec<ContactLink>,
    /// Photos, oldest first.
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
    /// Current status, derived from the events.
    pub status: ReportStatus,
    /// Every status change, in replay order.
    #[serde(default)]
    pub events: Vec<StatusEvent>,
    /// Comments, oldest first.
    #[serde(default)]
    pub comments: Vec<Comment>,
}

/// A comment on a report (a mediator's or a supervisor's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Unique id of the comment.
    pub id: String,
    /// When, ms since the Unix epoch (the author's clock).
    pub at: i64,
    /// The author's name, as their device wrote it.
    pub by: String,
    /// The automerge actor (hex) that appended it: the server names the
    /// author from its registry by it.
    #[serde(default)]
    pub actor: Option<String>,
    /// The comment.
    #[serde(default)]
    pub text: String,
}

/// A consent given by a resident (see [`crate::consent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The purpose's code ([`Purpose::code`]); older records may hold
    /// other topics, kept readable.
    pub purpose: String,
    /// When it was (last) given, ms since the Unix epoch.
    pub given_at: i64,
    /// Who recorded it; empty when an older version did (it did not say).
    #[serde(default)]
    pub given_by: String,
    /// The automerge actor (hex) that recorded it, when known.
    #[serde(default)]
    pub actor: Option<String>,
    /// When it was withdrawn, if it was.
    #[serde(default)]
    pub withdrawn_at: Option<i64>,
    /// Who recorded the withdrawal.
    #[serde(default)]
    pub withdrawn_by: Option<String>,
}

impl Consent {
    /// Given and not withdrawn.
    pub fn is_active(&self) -> bool {
        self.withdrawn_at.is_none()
    }
}

/// One entry of a contact's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// Unique id of the entry.
    pub id: String,
    /// When, ms since the Unix epoch.
    pub at: i64,
    /// Author id, as the author's device wrote it.
    pub by: String,
    /// The automerge actor (hex) that appended it: the server names the
    /// author from its device registry by it.
    #[serde(default)]
    pub actor: Option<String>,
    /// What happened.
    #[serde(default)]
    pub text: String,
    /// Partner the resident was referred to (CAF, France Services…).
    #[serde(default)]
    pub referral: Option<String>,
}

/// A resident's contact record: personal data, erased on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Id, author, times.
    #[serde(flatten)]
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
    #[serde(default)]
    pub languages: Vec<String>,
    /// Landlord (a body code).
    pub landlord: Option<String>,
    /// Sector code.
    pub sector: Option<String>,
    /// Topics followed (housing, energy, health…).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Consents given.
    #[serde(default)]
    pub consents: Vec<Consent>,
    /// New-tenant welcome visit done.
    #[serde(default)]
    pub new_tenant_visit: bool,
    /// Interactions and referrals.
    #[serde(default)]
    pub interactions: Vec<Interaction>,
    /// Kept past the team's retention until then (ms), if a supervisor
    /// said so (see [`crate::retention`]).
    #[serde(default)]
    pub keep_until: Option<i64>,
}

impl Contact {
    /// Whether the resident has given `purpose` and not withdrawn it.
    pub fn has_consent(&self, purpose: Purpose) -> bool {
        self.consents
            .iter()
            .any(|c| c.purpose == purpose.code() && c.is_active())
    }
}

/// A shift, permanence, *aller vers* session, meeting, school outing or
/// welcome visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Id, author, times.
    #[serde(flatten)]
    pub header: Header,
    /// One of [`crate::schema::ACTIVITY_TYPES`].
    pub activity_type: String,
    /// Sector code.
    pub sector: String,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Place.
    pub place: Option<String>,
    /// Start, ms since the Unix epoch.
    pub started_at: Option<i64>,
    /// End, ms since the Unix epoch.
    pub ended_at: Option<i64>,
    /// Team members present.
    #[serde(default)]
    pub team: Vec<String>,
    /// Residents met who were already known.
    pub met_known: Option<i64>,
    /// Residents met for the first time.
    pub met_new: Option<i64>,
    /// Referrals to partners made.
    pub referrals: Option<i64>,
    /// Topics raised.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Partners present or whose actions were presented.
    #[serde(default)]
    pub partners: Vec<String>,
    /// Mission axes.
    #[serde(default)]
    pub axes: Vec<String>,
    /// Notes.
    #[serde(default)]
    pub text: String,
    /// Residents concerned, by reference.
    #[serde(default)]
    pub contacts: Vec<ContactLink>,
}

/// Any record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A field note.
    Note(Note),
    /// A dégradation report.
    Report(Report),
    /// A resident contact.
    Contact(Contact),
    /// An activity.
    Activity(Activity),
}

impl Record {
    /// Reads a record from its JSON view.
    pub fn from_json(mut v: Value) -> Result<Record> {
        if let Some(m) = v.as_object_mut() {
            normalise(m);
        }
        serde_json::from_value(v)
            .map_err(Error::unreadable("a record that does not match its kind"))
    }

    /// Its header.
    pub fn header(&self) -> &Header {
        match self {
            Record::Note(r) => &r.header,
            Record::Report(r) => &r.header,
            Record::Contact(r) => &r.header,
            Record::Activity(r) => &r.header,
        }
    }

    /// Its photos, for a reader that leaves out the erased ones a record's
    /// document may still name (a stale device's change); None for kinds
    /// that take none.
    pub fn photos_mut(&mut self) -> Option<&mut Vec<PhotoRef>> {
        match self {
            Record::Note(r) => Some(&mut r.photos),
            Record::Report(r) => Some(&mut r.photos),
            Record::Contact(_) | Record::Activity(_) => None,
        }
    }
}

/// Turns the document's storage shapes into the views' shapes: contact ids
/// into links, consents map into a list.
fn normalise(m: &mut Map<String, Value>) {
    if let Some(Value::Array(ids)) = m.get_mut("contacts") {
        for id in ids.iter_mut() {
            if let Value::String(s) = id {
                *id = serde_json::json!({"id": s, "state": "present"});
            }
        }
    }
    if let Some(Value::Object(c)) = m.get("consents") {
        let list: Vec<Value> = c
            .iter()
            .map(|(purpose, entry)| match entry {
                Value::Object(e) => serde_json::json!({
                    "purpose": purpose,
                    "given_at": e.get("at").and_then(Value::as_i64).unwrap_or_default(),
                    "given_by": e.get("by").and_then(Value::as_str).unwrap_or_default(),
                    "actor": e.get("actor"),
                    "withdrawn_at": e.get("withdrawn_at").and_then(Value::as_i64),
                    "withdrawn_by": e.get("withdrawn_by").and_then(Value::as_str),
                }),
                // The old shape: topic → time.
                at => serde_json::json!({
                    "purpose": purpose,
                    "given_at": at.as_i64().unwrap_or_default(),
                }),
            })
            .collect();
        m.insert("consents".into(), Value::Array(list));
    }
}
