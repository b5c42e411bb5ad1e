//! The fields of each kind of record, their types, and their validation.
//!
//! One table drives creation, editing (`set ID FIELD VALUE`), the automerge
//! mapping and the conflict report, so that a field added here is handled the
//! same way everywhere.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::consent::Purpose;
use crate::{Error, RecordId, Result, TeamConfig};

/// The kinds of records a team keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Note, Kind::Report, Kind::Contact, Kind::Activity];

    /// The code used in documents, the database and on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Note => "note",
            Kind::Report => "report",
            Kind::Contact => "contact",
            Kind::Activity => "activity",
        }
    }

    /// Parses a code, singular or plural (`notes`, `reports`…).
    pub fn parse(s: &str) -> Result<Kind> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_suffix("ies").map(|x| format!("{x}y")).unwrap_or(s);
        let s = s.strip_suffix('s').map(str::to_string).unwrap_or(s);
        Kind::ALL
            .into_iter()
            .find(|k| k.code() == s)
            .ok_or_else(|| Error::invalid("kind", "expected note, report, contact or activity"))
    }

    /// The fields of this kind, beyond the header every record has.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::Note => NOTE,
            Kind::Report => REPORT,
            Kind::Contact => CONTACT,
            Kind::Activity => ACTIVITY,
        }
    }

    /// The field called `name`, or a clear error listing the editable ones.
    pub fn field(self, name: &str) -> Result<&'static Field> {
        let name = name.trim().replace('-', "_");
        self.fields()
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = self
                    .fields()
                    .iter()
                    .filter(|f| f.editable())
                    .map(|f| f.name)
                    .collect();
                Error::invalid(
                    "field",
                    format!(
                        "a {} has no field {name:?}; editable fields: {}",
                        self.code(),
                        names.join(", ")
                    ),
                )
            })
    }
}

/// The activity types a team records, with their French labels, in the
/// order pages list them: the one table validation, the dashboard and the
/// exports read.
pub const ACTIVITY_TYPES: [(&str, &str); 6] = [
    ("shift", "Tournée / déambulation"),
    ("permanence", "Permanence"),
    ("aller_vers", "Aller vers"),
    ("meeting", "Réunion participative"),
    ("school_outing", "Sortie scolaire"),
    ("welcome_visit", "Visite d'accueil"),
];

/// The French label of an activity type, if `code` is one.
pub fn activity_type(code: &str) -> Option<&'static str> {
    ACTIVITY_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
}

/// The French label of an activity type; an unknown code as it is.
pub fn activity_type_label(code: &str) -> String {
    activity_type(code).map_or_else(|| code.to_string(), str::to_string)
}

impl Kind {
    /// The French label of a field of this kind (history lists field names);
    /// an unknown name as it is.
    pub fn field_label(self, name: &str) -> String {
        self.fields()
            .iter()
            .find(|f| f.name == name)
            .map_or_else(|| name.to_string(), |f| f.label.to_string())
    }
}

/// How a field is stored and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Collaborative text (automerge text): concurrent edits interleave.
    Text { max_chars: usize },
    /// A short scalar string; concurrent writes surface as a conflict.
    Str { max_chars: usize },
    /// A sector code of the team's configuration.
    Sector,
    /// A quartier code of the record's sector.
    Quartier,
    /// A dégradation category code.
    Category,
    /// A responsible body code.
    Body,
    /// One of [`ACTIVITY_TYPES`].
    ActivityType,
    /// A whole number in a range.
    Int { min: i64, max: i64 },
    /// A latitude in degrees.
    Lat,
    /// A longitude in degrees.
    Lon,
    /// Yes or no.
    Bool,
    /// A time, milliseconds since the Unix epoch.
    Time,
    /// A set of mission axis codes.
    Axes,
    /// A set of short free strings (tags, team members, topics, languages).
    Set { max_items: usize, max_chars: usize },
    /// A set of contact ids: references, never copies of personal data.
    ContactRefs,
    /// Consents: purpose → when and by whom it was given (and withdrawn),
    /// changed through [`crate::edit::Action::GiveConsent`] and
    /// [`crate::edit::Action::WithdrawConsent`] after creation.
    Consents,
    /// A report's comments (appended only, made at the first one).
    Comments,
    /// A time until which a contact is kept past the team's retention,
    /// written through [`crate::edit::Action::KeepUntil`] only.
    Until,
    /// The report's status events (changed through transitions only).
    StatusEvents,
    /// The contact's log of interactions and referrals (appended only).
    Interactions,
}

/// One field of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name in documents, JSON and on the command line.
    pub name: &'static str,
    /// How supervisors and mediators call it (French): the one label the
    /// dashboard, the exports and the command line show.
    pub label: &'static str,
    /// How it is stored and checked.
    pub ty: FieldType,
    /// Whether a new record must have it.
    pub required: bool,
}

impl Field {
    /// Whether `set ID FIELD VALUE` may write it (lists with their own
    /// operations are appended through those).
    pub fn editable(&self) -> bool {
        !matches!(
            self.ty,
            FieldType::StatusEvents
                | FieldType::Interactions
                | FieldType::Comments
                | FieldType::Consents
                | FieldType::Until
        )
    }

    /// Whether the field is a single scalar whose concurrent writes conflict.
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self.ty,
            FieldType::Text { .. }
                | FieldType::Axes
                | FieldType::Set { .. }
                | FieldType::ContactRefs
                | FieldType::Consents
                | FieldType::StatusEvents
                | FieldType::Interactions
                | FieldType::Comments
        )
    }
}

const fn f(name: &'static str, label: &'static str, ty: FieldType, required: bool) -> Field {
    Field {
        name,
        label,
        ty,
        required,
    }
}

const TEXT: FieldType = FieldType::Text { max_chars: 20_000 };
const SHORT: FieldType = FieldType::Str { max_chars: 200 };
const TAGS: FieldType = FieldType::Set {
    max_items: 30,
    max_chars: 60,
};
const COUNT: FieldType = FieldType::Int {
    min: 0,
    max: 100_000,
};

static NOTE: &[Field] = &[
    f("sector", "Secteur", FieldType::Sector, true),
    f("quartier", "Quartier", FieldType::Quartier, false),
    f("place", "Lieu", SHORT, false),
    f("lat", "Latitude", FieldType::Lat, false),
    f("lon", "Longitude", FieldType::Lon, false),
    f("observed_at", "Observé le", FieldType::Time, false),
    f("text", "Texte", TEXT, true),
    f("axes", "Axes de mission", FieldType::Axes, false),
    f("tags", "Mots-clés", TAGS, false),
    f("team", "Équipe présente", TAGS, false),
    f("residents_met", "Habitants rencontrés", COUNT, false),
    f(
        "contacts",
        "Habitants concernés",
        FieldType::ContactRefs,
        false,
    ),
];

static REPORT: &[Field] = &[
    f("sector", "Secteur", FieldType::Sector, true),
    f("quartier", "Quartier", FieldType::Quartier, false),
    f("category", "Catégorie", FieldType::Category, true),
    f("place", "Lieu", SHORT, true),
    f("lat", "Latitude", FieldType::Lat, false),
    f("lon", "Longitude", FieldType::Lon, false),
    f("text", "Texte", TEXT, true),
    f("urgent", "Urgent (danger)", FieldType::Bool, false),
    f("body", "Organisme responsable", FieldType::Body, false),
    f("axes", "Axes de mission", FieldType::Axes, false),
    f(
        "contacts",
        "Habitants concernés",
        FieldType::ContactRefs,
        false,
    ),
    f("events", "Statut", FieldType::StatusEvents, false),
    f("comments", "Commentaires", FieldType::Comments, false),
];

static CONTACT: &[Field] = &[
    f("name", "Nom", SHORT, true),
    f("household", "Foyer", SHORT, false),
    f("address", "Adresse", SHORT, false),
    f(
        "building",
        "Bâtiment",
        FieldType::Str { max_chars: 80 },
        false,
    ),
    f("flat", "Logement", FieldType::Str { max_chars: 40 }, false),
    f(
        "phone",
        "Téléphone",
        FieldType::Str { max_chars: 30 },
        false,
    ),
    f("languages", "Langues", TAGS, false),
    f("landlord", "Bailleur", FieldType::Body, false),
    f("sector", "Secteur", FieldType::Sector, false),
    f("topics", "Sujets", TAGS, false),
    f("consents", "Consentements", FieldType::Consents, false),
    f(
        "new_tenant_visit",
        "Visite d'accueil faite",
        FieldType::Bool,
        false,
    ),
    f(
        "interactions",
        "Suivi et orientations",
        FieldType::Interactions,
        false,
    ),
    f("keep_until", "Conservé jusqu'au", FieldType::Until, false),
];

static ACTIVITY: &[Field] = &[
    f(
        "activity_type",
        "Type d'activité",
        FieldType::ActivityType,
        true,
    ),
    f("sector", "Secteur", FieldType::Sector, true),
    f("quartier", "Quartier", FieldType::Quartier, false),
    f("place", "Lieu", SHORT, false),
    f("started_at", "Début", FieldType::Time, false),
    f("ended_at", "Fin", FieldType::Time, false),
    f("team", "Équipe présente", TAGS, false),
    f("met_known", "Habitants connus rencontrés", COUNT, false),
    f("met_new", "Nouveaux habitants rencontrés", COUNT, false),
    f("referrals", "Orientations", COUNT, false),
    f("topics", "Sujets", TAGS, false),
    f("partners", "Partenaires", TAGS, false),
    f("axes", "Axes de mission", FieldType::Axes, false),
    f("text", "Texte", TEXT, false),
    f(
        "contacts",
        "Habitants concernés",
        FieldType::ContactRefs,
        false,
    ),
];

/// Characters that change how text reads without being seen: direction
/// overrides and embeddings (a name shown as "moc.elgoog" backwards), isolates,
/// marks, and zero-width spaces or joiners that make two equal-looking names
/// differ. Zero-width (non-)joiners U+200C/U+200D are kept: Persian, Indic
/// scripts and emoji need them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Removes the characters of [`is_invisible`]: what a person typed (or
/// pasted) is kept, minus what would mislead the next reader.
pub fn strip_invisible(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(is_invisible) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !is_invisible(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Checks a text value as stored: at most `max` characters, no control
/// characters but line breaks and tabs, no invisible ones (inputs are
/// stripped of those first; a change from elsewhere that has them is forged).
pub fn check_text(field: &str, s: &str, max: usize) -> Result<()> {
    let n = s.chars().count();
    if n > max {
        return Err(Error::invalid(
            field,
            format!("too long ({n} characters, at most {max})"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::invalid(field, "contains control characters"));
    }
    if s.chars().any(is_invisible) {
        return Err(Error::invalid(
            field,
            "contains invisible or direction-changing characters",
        ));
    }
    Ok(())
}

fn as_str<'a>(field: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::invalid(field, "expected text"))
}

fn string_list(field: &str, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| as_str(field, i).map(|s| strip_invisible(s).trim().to_string()))
            .collect(),
        Value::String(s) => Ok(strip_invisible(s)
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()),
        Value::Null => Ok(vec![]),
        _ => Err(Error::invalid(field, "expected a list of text values")),
    }
}

/// Checks one field's value and returns it normalised (codes for labels,
/// trimmed strings, sorted sets). `sector` is the record's sector, needed to
/// check a quartier.
pub fn validate_field(
    cfg: &TeamConfig,
    field: &Field,
    v: &Value,
    sector: Option<&str>,
) -> Result<Value> {
    let name = field.name;
    if v.is_null() {
        if field.required {
            return Err(Error::invalid(name, "is required"));
        }
        return Ok(Value::Null);
    }
    let code = |found: Option<String>, what: &str, options: Vec<&str>| -> Result<Value> {
        found.map(Value::String).ok_or_else(|| {
            Error::invalid(
                name,
                format!("unknown {what}; known: {}", options.join(", ")),
            )
        })
    };
    Ok(match field.ty {
        FieldType::Text { max_chars } | FieldType::Str { max_chars } => {
            let s = strip_invisible(as_str(name, v)?);
            let s = if matches!(field.ty, FieldType::Str { .. }) {
                s.trim()
            } else {
                &s
            };
            check_text(name, s, max_chars)?;
            if field.required && s.trim().is_empty() {
                return Err(Error::invalid(name, "is required and cannot be empty"));
            }
            if name == "phone"
                && !s
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +.-()".contains(c))
            {
                return Err(Error::invalid(
                    name,
                    "may only contain digits, spaces and + . - ( )",
                ));
            }
            if s.is_empty() {
                Value::Null
            } else {
                Value::String(s.to_string())
            }
        }
        FieldType::Sector => {
            let s = as_str(name, v)?;
            code(
                cfg.sector(s).map(|x| x.code.clone()),
                "sector",
                cfg.sectors.iter().map(|x| x.code.as_str()).collect(),
            )?
        }
        FieldType::Quartier => {
            let s = as_str(name, v)?;
            let sec = sector
                .and_then(|sc| cfg.sector(sc))
                .ok_or_else(|| Error::invalid(name, "needs the record's sector to be set first"))?;
            code(
                cfg.quartier(sec, s).map(|x| x.code.clone()),
                "quartier for this sector",
                sec.quartiers.iter().map(|x| x.code.as_str()).collect(),
            )?
        }
        FieldType::Category => {
            let s = as_str(name, v)?;
            code(
                cfg.category(s).map(|x| x.code.clone()),
                "category",
                cfg.categories.iter().map(|x| x.code.as_str()).collect(),
            )?
        }
        FieldType::Body => {
            let s = as_str(name, v)?;
            code(
                cfg.body(s).map(|x| x.code.clone()),
                "responsible body",
                cfg.bodies.iter().map(|x| x.code.as_str()).collect(),
            )?
        }
        FieldType::ActivityType => {
            let s = as_str(name, v)?
                .trim()
                .to_ascii_lowercase()
                .replace(['-', ' '], "_");
            code(
                ACTIVITY_TYPES
                    .iter()
                    .find(|(t, _)| *t == s)
                    .map(|(t, _)| t.to_string()),
                "activity type",
                ACTIVITY_TYPES.iter().map(|(t, _)| *t).collect(),
            )?
        }
        FieldType::Int { min, max } => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| Error::invalid(name, "expected a whole number"))?;
            if n < min || n > max {
                return Err(Error::invalid(
                    name,
                    format!("must be between {min} and {max}"),
                ));
            }
            Value::from(n)
        }
        FieldType::Lat | FieldType::Lon => {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .filter(|x: &f64| x.is_finite())
            .ok_or_else(|| Error::invalid(name, "expected a number of degrees"))?;
            let lim = if field.ty == FieldType::Lat {
                90.0
            } else {
                180.0
            };
            if !(-lim..=lim).contains(&x) {
                return Err(Error::invalid(
                    name,
                    format!("must be between -{lim} and {lim} degrees"),
                ));
            }
            Value::from(x)
        }
        FieldType::Bool => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "oui" | "1" => Value::Bool(true),
                "false" | "no" | "non" | "0" => Value::Bool(false),
                _ => return Err(Error::invalid(name, "expected true or false")),
            },
            _ => return Err(Error::invalid(name, "expected true or false")),
        },
        FieldType::Time => Value::from(parse_time(name, v)?),
        FieldType::Axes => {
            let mut out = Vec::new();
            for a in string_list(name, v)? {
                let c = cfg.axis(&a).ok_or_else(|| {
                    Error::invalid(
                        name,
                        format!(
                            "unknown mission axis; known: {}",
                            cfg.axes
                                .iter()
                                .map(|x| x.code.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                out.push(c.code.clone());
            }
            sorted_set(out)
        }
        FieldType::Set {
            max_items,
            max_chars,
        } => {
            let items = string_list(name, v)?;
            if items.len() > max_items {
                return Err(Error::invalid(name, format!("at most {max_items} items")));
            }
            for i in &items {
                check_text(name, i, max_chars)?;
            }
            sorted_set(items.into_iter().filter(|i| !i.is_empty()).collect())
        }
        FieldType::ContactRefs => {
            let mut ids = Vec::new();
            for s in string_list(name, v)? {
                ids.push(
                    s.parse::<RecordId>()
                        .map_err(|_| Error::invalid(name, "expected contact ids"))?
                        .to_string(),
                );
            }
            sorted_set(ids)
        }
        FieldType::Consents => {
            // Purposes given now (a list), or given earlier (purpose → time).
            let given: Vec<(String, i64)> = match v {
                Value::Object(m) => m
                    .iter()
                    .map(|(p, at)| Ok((p.clone(), parse_time(name, at)?)))
                    .collect::<Result<_>>()?,
                _ => {
                    let now = crate::now_ms();
                    string_list(name, v)?
                        .into_iter()
                        .map(|p| (p, now))
                        .collect()
                }
            };
            let mut out = Map::new();
            for (p, at) in given {
                let purpose: Purpose = p.parse().map_err(|_| {
                    Error::invalid(
                        name,
                        "unknown purpose; known: suivi, orientation, telephone",
                    )
                })?;
                out.insert(purpose.code().into(), json!({ "at": at }));
            }
            Value::Object(out)
        }
        FieldType::StatusEvents
        | FieldType::Interactions
        | FieldType::Comments
        | FieldType::Until => {
            return Err(Error::invalid(
                name,
                "is changed through its own operation, not set directly",
            ));
        }
    })
}

fn sorted_set(mut items: Vec<String>) -> Value {
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Reads a time: milliseconds, or an RFC 3339 timestamp, or a civil date
/// (`2026-11-29`, taken as midnight UTC).
pub fn parse_time(field: &str, v: &Value) -> Result<i64> {
    let bad = || {
        Error::invalid(
            field,
            "expected a date like 2026-11-29 or 2026-11-29T14:30:00Z",
        )
    };
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(ms) = s.parse::<i64>() {
                return Ok(ms);
            }
            if let Ok(ts) = s.parse::<jiff::Timestamp>() {
                return Ok(ts.as_millisecond());
            }
            let d: jiff::civil::Date = s.parse().map_err(|_| bad())?;
            let ts = d
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_err(|_| bad())?
                .timestamp();
            Ok(ts.as_millisecond())
        }
        _ => Err(bad()),
    }
}

/// Validates a whole new record: unknown fields are refused, required ones
/// checked, every value normalised. Returns the normalised field map.
pub fn validate_new(
    cfg: &TeamConfig,
    kind: Kind,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    for key in input.keys() {
        kind.field(key)?;
    }
    let sector = input
        .get("sector")
        .and_then(Value::as_str)
        .and_then(|s| cfg.sector(s))
        .map(|s| s.code.clone());
    let mut out = Map::new();
    for field in kind.fields() {
        // Consents are given at creation, then through their own actions.
        if !field.editable() && field.ty != FieldType::Consents {
            continue;
        }
        let v = input.get(field.name).cloned().unwrap_or(Value::Null);
        let v = validate_field(cfg, field, &v, sector.as_deref())?;
        if !v.is_null() {
            out.insert(field.name.to_string(), v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TeamConfig {
        TeamConfig::carcassonne()
    }

    #[test]
    fn labels_become_codes_and_unknown_codes_are_refused() {
        let m = json!({"sector": "Ozanam + Albignac", "quartier": "Albignac", "text": "x", "axes": "Jeunesse,cadre-de-vie"});
        let out = validate_new(&cfg(), Kind::Note, m.as_object().unwrap()).unwrap();
        assert_eq!(out["sector"], "ozanam-albignac");
        assert_eq!(out["quartier"], "albignac");
        assert_eq!(out["axes"], json!(["cadre-de-vie", "jeunesse"]));
        let bad = json!({"sector": "nowhere", "text": "x"});
        let err = validate_new(&cfg(), Kind::Note, bad.as_object().unwrap()).unwrap_err();
        assert!(
            err.to_string().starts_with("sector: unknown sector"),
            "{err}"
        );
    }

    #[test]
    fn quartier_must_belong_to_the_sector() {
        let m = json!({"sector": "conte-joliot", "quartier": "fleming", "text": "x"});
        assert!(validate_new(&cfg(), Kind::Note, m.as_object().unwrap()).is_err());
    }

    #[test]
    fn ranges_and_required_fields() {
        let c = cfg();
        for bad in [
            json!({"sector": "conte-joliot"}),
            json!({"sector": "conte-joliot", "text": "  "}),
            json!({"sector": "conte-joliot", "text": "x", "lat": 91}),
            json!({"sector": "conte-joliot", "text": "x", "lon": "abc"}),
            json!({"sector": "conte-joliot", "text": "x", "residents_met": -1}),
            json!({"sector": "conte-joliot", "text": "x", "colour": "red"}),
            json!({"sector": "conte-joliot", "text": "x".repeat(20_001)}),
        ] {
            assert!(
                validate_new(&c, Kind::Note, bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_messages_do_not_echo_values() {
        let m = json!({"name": "Jeanne Dupont", "phone": "Jeanne Dupont"});
        let err = validate_new(&cfg(), Kind::Contact, m.as_object().unwrap()).unwrap_err();
        assert!(!err.to_string().contains("Jeanne"), "{err}");
    }

    #[test]
    fn kinds_parse_in_plural() {
        assert_eq!(Kind::parse("activities").unwrap(), Kind::Activity);
        assert_eq!(Kind::parse("Reports").unwrap(), Kind::Report);
        assert!(Kind::parse("photos").is_err());
    }
}
