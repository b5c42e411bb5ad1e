//! Every change to an existing record, as one typed [`Action`], applied in
//! one place ([`apply`]): a mediator's phone (through [`crate::Store`]) and
//! the server acting for a supervisor (through [`crate::store::act_in`])
//! make the same change under the same rules; the server then judges it
//! like any pushed change ([`crate::rules`]).

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::consent::{self, Purpose};
use crate::doc::{COMMENTS, RecordDoc};
use crate::lifecycle::ReportStatus;
use crate::schema::{Kind, check_text, strip_invisible, validate_field, validate_new};
use crate::store::StatusChange;
use crate::{Error, RecordId, Result, TeamConfig};

/// The longest comment on a report, in characters.
pub const COMMENT_MAX_CHARS: usize = 2000;

/// How far ahead a contact may be kept past the team's retention: five
/// years (1827 days, leap days included), in milliseconds.
pub const MAX_KEEP_MS: i64 = 1827 * 86_400_000;

/// The mission axis a dégradation report is filed under when its author
/// names none: reporting every dégradation to the competent service is what
/// the cadre-de-vie mission axis is about.
const REPORT_AXIS: &str = "cadre-de-vie";

/// A change to an existing record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Rectification, and settling a conflict: writing a field resolves its
    /// concurrent values, even with the value that already shows.
    SetField {
        /// The field's name ([`crate::schema`]).
        field: String,
        /// Its new value (null clears it).
        value: Value,
    },
    /// A report's status move, checked against the lifecycle.
    Status(StatusChange),
    /// A comment on a report.
    Comment {
        /// 1 to [`COMMENT_MAX_CHARS`] characters.
        text: String,
    },
    /// An interaction or referral on a contact.
    Interaction {
        /// What happened.
        text: String,
        /// The partner the resident was referred to (needs `orientation`).
        referral: Option<String>,
    },
    /// The resident gives a purpose (again, after a withdrawal).
    GiveConsent {
        /// What they agree to.
        purpose: Purpose,
    },
    /// The resident withdraws a purpose; withdrawing `telephone` clears the
    /// phone number in the same change.
    WithdrawConsent {
        /// What they no longer agree to.
        purpose: Purpose,
    },
    /// Keeps a contact past the team's retention until this time (ms).
    KeepUntil {
        /// In the future, at most [`MAX_KEEP_MS`] ahead.
        until: i64,
    },
    /// Replaces the resident's name in the record's free text.
    Redact {
        /// The name, as it was written on the contact.
        name: String,
    },
    /// Erases a resident contact (callers handle it: it removes the
    /// record rather than changing it).
    Erase,
}

/// The fields of a new record, validated and completed as every app stores
/// them: default times, the report axis, the consents' author, and the
/// phone rule.
pub fn new_fields(
    cfg: &TeamConfig,
    kind: Kind,
    input: &Map<String, Value>,
    author: &str,
    now: i64,
) -> Result<Map<String, Value>> {
    let mut fields = validate_new(cfg, kind, input)?;
    let default_time = match kind {
        Kind::Note => Some("observed_at"),
        Kind::Activity => Some("started_at"),
        _ => None,
    };
    if let Some(key) = default_time {
        fields.entry(key).or_insert(Value::from(now));
    }
    // A dégradation belongs to the cadre-de-vie axis by definition unless
    // the mediator files it elsewhere: whichever app made the report, the
    // counts per axis see it.
    let no_axis = fields
        .get("axes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if kind == Kind::Report
        && no_axis
        && let Some(axis) = cfg.axis(REPORT_AXIS)
    {
        fields.insert("axes".into(), json!([axis.code]));
    }
    if let Some(Value::Object(consents)) = fields.get_mut("consents") {
        for entry in consents.values_mut().filter_map(Value::as_object_mut) {
            entry.insert("by".into(), json!(author));
        }
    }
    if kind == Kind::Contact {
        consent::check_phone(None, &Value::Object(fields.clone()))?;
    }
    Ok(fields)
}

fn expect(doc: &RecordDoc, kind: Kind, what: &str) -> Result<()> {
    if doc.kind() == Some(kind) {
        Ok(())
    } else {
        Err(Error::invalid("id", what.to_string()))
    }
}

/// A trimmed, visible text of 1 to `max` characters.
fn text(field: &str, s: &str, max: usize) -> Result<String> {
    let s = strip_invisible(s);
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    check_text(field, s, max)?;
    Ok(s.to_string())
}

/// An optional short text: None when blank.
fn optional(field: &str, s: Option<&str>, max: usize) -> Result<Option<String>> {
    let s = s.map(strip_invisible);
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            check_text(field, s, max)?;
            Ok(Some(s.to_string()))
        }
        None => Ok(None),
    }
}

/// A new list item's header: its id, time and author.
fn item(author: &str, now: i64) -> Map<String, Value> {
    let mut item = Map::new();
    item.insert("id".into(), json!(RecordId::new().to_string()));
    item.insert("at".into(), json!(now));
    item.insert("by".into(), json!(author));
    item
}

/// Applies `action` to record `id`'s document as `author` (the label its
/// history shows) at `now`, after checking it as a device's app does.
/// Returns the change, or None when there was nothing to change (a value
/// already written, a consent already given).
pub fn apply(
    cfg: &TeamConfig,
    doc: &mut RecordDoc,
    id: RecordId,
    action: &Action,
    author: &str,
    now: i64,
) -> Result<Option<ChangeHash>> {
    let author = author.trim();
    if author.is_empty() || author.chars().count() > 100 {
        return Err(Error::invalid("author", "must be 1 to 100 characters"));
    }
    let kind = doc.kind().ok_or(Error::Unreadable {
        what: "a record's document without a kind",
        source: None,
    })?;
    let view = doc.to_json()?;
    match action {
        Action::SetField { field, value } => {
            let field = kind.field(field)?;
            if !field.editable() {
                return Err(Error::invalid(
                    field.name,
                    "is changed through its own operation, not set directly",
                ));
            }
            let sector = view.get("sector").and_then(Value::as_str);
            let value = validate_field(cfg, field, value, sector)?;
            if kind == Kind::Contact && field.name == "phone" {
                let mut after = view.clone();
                after["phone"] = value.clone();
                consent::check_phone(Some(&view), &after)?;
            }
            doc.set_field(field, &value, author, now)
        }
        Action::Status(change) => status(cfg, doc, id, &view, change, author, now).map(Some),
        Action::Comment { text: t } => {
            expect(doc, Kind::Report, "comments go on dégradation reports")?;
            let mut c = item(author, now);
            c.insert("text".into(), json!(text("text", t, COMMENT_MAX_CHARS)?));
            doc.append(COMMENTS, &c, "comment", author, now).map(Some)
        }
        Action::Interaction { text: t, referral } => {
            expect(
                doc,
                Kind::Contact,
                "interactions belong to resident contacts",
            )?;
            let mut it = item(author, now);
            it.insert("text".into(), json!(text("text", t, 5000)?));
            if let Some(r) = optional("referral", referral.as_deref(), 100)? {
                consent::check_referral(&view)?;
                it.insert("referral".into(), json!(r));
            }
            doc.append("interactions", &it, "interaction", author, now)
                .map(Some)
        }
        Action::GiveConsent { purpose } => {
            expect(doc, Kind::Contact, "consents belong to resident contacts")?;
            if consent::is_active(&view, *purpose) {
                return Ok(None);
            }
            doc.give_consent(*purpose, author, now).map(Some)
        }
        Action::WithdrawConsent { purpose } => {
            expect(doc, Kind::Contact, "consents belong to resident contacts")?;
            if !consent::is_active(&view, *purpose) {
                return Err(Error::invalid("purpose", "this consent is not given"));
            }
            let clear = (*purpose == Purpose::Telephone).then_some("phone");
            doc.withdraw_consent(*purpose, clear, author, now).map(Some)
        }
        Action::KeepUntil { until } => {
            expect(doc, Kind::Contact, "retention applies to resident contacts")?;
            if *until <= now || *until > now.saturating_add(MAX_KEEP_MS) {
                return Err(Error::invalid(
                    "until",
                    "must be in the future and within 5 years",
                ));
            }
            doc.set_field(kind.field("keep_until")?, &json!(until), author, now)
        }
        Action::Redact { name } => {
            if kind == Kind::Contact {
                return Err(Error::invalid(
                    "id",
                    "a contact is erased, not redacted; redact the notes, reports and activities that name the resident",
                ));
            }
            let name = text("name", name, 200)?;
            let current = view.get("text").and_then(Value::as_str).unwrap_or("");
            let redacted = crate::redact::redact(current, &name)
                .ok_or_else(|| Error::invalid("text", "does not mention this name"))?;
            doc.set_field(kind.field("text")?, &json!(redacted), author, now)
        }
        Action::Erase => Err(Error::invalid(
            "action",
            "an erasure removes the whole record; it is not a change to it",
        )),
    }
}

/// A report's status move, as an event appended to its list.
fn status(
    cfg: &TeamConfig,
    doc: &mut RecordDoc,
    id: RecordId,
    view: &Value,
    change: &StatusChange,
    author: &str,
    now: i64,
) -> Result<ChangeHash> {
    expect(
        doc,
        Kind::Report,
        "status changes apply to dégradation reports only",
    )?;
    let to = change
        .status
        .ok_or_else(|| Error::invalid("status", "is required"))?;
    let current: ReportStatus = serde_json::from_value(view["status"].clone())
        .map_err(Error::unreadable("a report's status"))?;
    if !current.can_move_to(to) {
        return Err(Error::InvalidTransition { from: current, to });
    }
    let mut ev = item(author, now);
    ev.insert("status".into(), json!(to.code()));
    match to {
        ReportStatus::Forwarded => {
            let body = change
                .to
                .as_deref()
                .ok_or_else(|| Error::invalid("to", "forwarding needs the responsible body"))?;
            let body = cfg.body(body).ok_or_else(|| {
                let known: Vec<_> = cfg.bodies.iter().map(|b| b.code.as_str()).collect();
                Error::invalid(
                    "to",
                    format!("unknown responsible body; known: {}", known.join(", ")),
                )
            })?;
            ev.insert("to".into(), json!(body.code));
        }
        ReportStatus::Duplicate => {
            let of = change.duplicate_of.ok_or_else(|| {
                Error::invalid(
                    "duplicate_of",
                    "a duplicate needs the id of the report it duplicates",
                )
            })?;
            if of == id {
                return Err(Error::invalid(
                    "duplicate_of",
                    "a report cannot duplicate itself",
                ));
            }
            ev.insert("duplicate_of".into(), json!(of.to_string()));
        }
        _ => {}
    }
    if let Some(r) = optional("ref", change.reference.as_deref(), 100)? {
        ev.insert("ref".into(), json!(r));
    }
    if let Some(c) = optional("comment", change.comment.as_deref(), 2000)? {
        ev.insert("comment".into(), json!(c));
    }
    doc.append("events", &ev, "status", author, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_as_tagged_json() {
        let a: Action = serde_json::from_value(
            json!({"action": "status", "status": "forwarded", "to": "bailleur"}),
        )
        .unwrap();
        assert!(matches!(&a, Action::Status(c) if c.to.as_deref() == Some("bailleur")));
        let a: Action =
            serde_json::from_value(json!({"action": "give_consent", "purpose": "telephone"}))
                .unwrap();
        assert_eq!(
            a,
            Action::GiveConsent {
                purpose: Purpose::Telephone
            }
        );
        let back = serde_json::to_value(Action::KeepUntil { until: 5 }).unwrap();
        assert_eq!(back, json!({"action": "keep_until", "until": 5}));
    }

    #[test]
    fn a_new_contacts_phone_needs_its_consent_and_consents_name_their_author() {
        let cfg = TeamConfig::carcassonne();
        let input = |v: Value| v.as_object().cloned().unwrap();
        let err = new_fields(
            &cfg,
            Kind::Contact,
            &input(json!({"name": "x", "phone": "0600000000", "consents": ["suivi"]})),
            "karim",
            1,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Invalid { ref field, .. } if field == "phone"));
        let ok = new_fields(
            &cfg,
            Kind::Contact,
            &input(json!({"name": "x", "phone": "0600000000", "consents": {"téléphone": 7}})),
            "karim",
            1,
        )
        .unwrap();
        assert_eq!(
            ok["consents"],
            json!({"telephone": {"at": 7, "by": "karim"}})
        );
        let unknown = new_fields(
            &cfg,
            Kind::Contact,
            &input(json!({"name": "x", "consents": ["newsletter"]})),
            "karim",
            1,
        );
        assert!(unknown.is_err());
    }
}
