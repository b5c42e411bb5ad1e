//! What the apps fill in to create records: one typed record per kind,
//! turned into the core's field map (names as in `carnet_core::schema`),
//! which validates and normalises it. Codes or labels are accepted where the
//! team's configuration names things (sector, quartier, axes, category, body).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{CarnetError, Result};

/// The core's input shape: a JSON object of fields. Unset options and empty
/// lists are left out, as if the field was not given.
pub(crate) fn fields(input: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(input) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(CarnetError::Internal {
            reason: "an input record did not serialise to fields".into(),
        }),
    }
}

/// A new field note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, uniffi::Record)]
pub struct NewNote {
    /// Sector code or label. Required.
    pub sector: String,
    /// The note. Required.
    pub text: String,
    /// Quartier of the sector.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quartier: Option<String>,
    /// Building or place.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Latitude, degrees.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, degrees.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// When the observation was made (default: now).
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<i64>,
    /// Mission axes.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub axes: Vec<String>,
    /// Free tags.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Team members present.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub team: Vec<String>,
    /// Number of residents met.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residents_met: Option<i64>,
    /// Ids of the resident contacts concerned.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
}

/// A new dégradation report (it starts as `Reported`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, uniffi::Record)]
pub struct NewReport {
    /// Sector code or label. Required.
    pub sector: String,
    /// Category code or label. Required.
    pub category: String,
    /// Precise location. Required.
    pub place: String,
    /// Description. Required.
    pub text: String,
    /// Quartier of the sector.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quartier: Option<String>,
    /// Latitude, degrees.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, degrees.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Danger to people.
    #[uniffi(default)]
    pub urgent: bool,
    /// Responsible body (code or label).
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Mission axes.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub axes: Vec<String>,
    /// Ids of the resident contacts concerned.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
}

/// A new resident contact. Personal data: record only what the resident
/// agreed to, and erase it when they ask ([`crate::CarnetStore::erase`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, uniffi::Record)]
pub struct NewContact {
    /// Name. Required.
    pub name: String,
    /// Household composition.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household: Option<String>,
    /// Address.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Building.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// Flat.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    /// Phone number (digits, spaces and + . - ( )).
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Languages spoken.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Landlord (a body code or label).
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlord: Option<String>,
    /// Sector code or label.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Topics followed (housing, energy, health…).
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Consents given: purpose (`suivi`, `orientation`, `telephone`) → when
    /// (ms since the Unix epoch). A phone number needs `telephone`.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub consents: HashMap<String, i64>,
    /// New-tenant welcome visit done.
    #[uniffi(default)]
    pub new_tenant_visit: bool,
}

/// A new activity: shift, permanence, *aller vers* session, meeting, school
/// outing or welcome visit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, uniffi::Record)]
pub struct NewActivity {
    /// `shift`, `permanence`, `aller_vers`, `meeting`, `school_outing` or `welcome_visit`. Required.
    pub activity_type: String,
    /// Sector code or label. Required.
    pub sector: String,
    /// Quartier of the sector.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quartier: Option<String>,
    /// Place.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Start (default: now).
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// End.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Team members present.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub team: Vec<String>,
    /// Residents met who were already known.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_known: Option<i64>,
    /// Residents met for the first time.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_new: Option<i64>,
    /// Referrals to partners made.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrals: Option<i64>,
    /// Topics raised.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Partners present or whose actions were presented.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<String>,
    /// Mission axes.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub axes: Vec<String>,
    /// Notes.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Ids of the resident contacts concerned.
    #[uniffi(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
}
