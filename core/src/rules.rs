//! What a change may do to a record, judged as its author saw the record.
//!
//! A device only ever writes through [`crate::Store`]'s operations, which
//! validate every value ([`crate::schema`]) and every status move
//! ([`crate::lifecycle`]). A change that arrives from elsewhere was made by
//! code we do not control, so it is judged again here: the record before it
//! (the document at the change's own dependencies, never the receiver's
//! merged state, so that honest concurrent edits always pass) and the record
//! after it must be a step that those operations could have made. The server
//! applies this to every push and every device to every pull, through
//! [`crate::Store::apply`].
//!
//! Reasons name fields and rules, never values: they reach logs and HTTP
//! answers.

use serde_json::{Map, Value};

use crate::consent::{self, Purpose};
use crate::edit;
use crate::lifecycle::ReportStatus;
use crate::photo::{PhotoRef, takes_photos};
use crate::schema::{Field, FieldType, Kind, check_text, validate_field};
use crate::{RecordId, TeamConfig};

/// Why a change was refused (a rule, never a value).
pub type Reason = String;

/// The header keys, written once at creation and never changed.
const HEADER: [&str; 4] = ["id", "kind", "author", "created_at"];

/// Checks the step from `before` (None: the change creates the record) to
/// `after`, two views from [`crate::doc::RecordDoc::to_json`].
pub fn check_step(
    cfg: &TeamConfig,
    id: RecordId,
    before: Option<&Value>,
    after: &Value,
) -> Result<(), Reason> {
    let kind = after
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| Kind::parse(k).ok())
        .ok_or("the record has no kind")?;
    let sector = after.get("sector").and_then(Value::as_str);
    match before {
        None => {
            if after.get("id").and_then(Value::as_str) != Some(id.to_string().as_str()) {
                return Err("the record's id does not match its document".into());
            }
            check_author(after)?;
            if !after.get("created_at").is_some_and(Value::is_i64) {
                return Err("the record has no creation time".into());
            }
            for field in kind.fields().iter().filter(|f| f.editable()) {
                check_value(cfg, field, after.get(field.name), sector)?;
            }
            for list in ["events", "interactions", "photos", "comments"] {
                if after
                    .get(list)
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    return Err(format!("{list}: a new record starts with none"));
                }
            }
            if kind == Kind::Contact {
                if !after.get("keep_until").is_none_or(Value::is_null) {
                    return Err("keep_until: a new contact has none".into());
                }
                check_consents(None, after)?;
                if consent::judged(after) {
                    consent::check_phone(None, after).map_err(|e| e.to_string())?;
                }
            }
        }
        Some(before) => {
            for key in HEADER {
                if before.get(key) != after.get(key) {
                    return Err(format!("{key}: written once at creation, never changed"));
                }
            }
            for field in kind.fields().iter().filter(|f| f.editable()) {
                if before.get(field.name) != after.get(field.name) {
                    check_value(cfg, field, after.get(field.name), sector)?;
                }
            }
            if kind == Kind::Report {
                check_events(cfg, id, before, after)?;
                check_comments(before, after)?;
            }
            if kind == Kind::Contact {
                check_consents(Some(before), after)?;
                if consent::judged(after) {
                    consent::check_phone(Some(before), after).map_err(|e| e.to_string())?;
                }
                check_interactions(before, after)?;
                check_keep_until(before, after)?;
            }
        }
    }
    check_photos(cfg, kind, before, after)
}

/// The largest side a stored photo may declare, pixels.
const MAX_PHOTO_SIDE: u64 = 20_000;

/// Photos only on reports and notes; every new entry a reference a
/// device's `attach_photo` could have written; no more than the team's
/// `max_per_record` by adding (removing is always allowed, and a record
/// past the limit after a merge of concurrent additions stays readable).
fn check_photos(
    cfg: &TeamConfig,
    kind: Kind,
    before: Option<&Value>,
    after: &Value,
) -> Result<(), Reason> {
    let list = |view: Option<&Value>| -> Result<Vec<Value>, Reason> {
        match view.and_then(|v| v.get("photos")) {
            None => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err("photos: not a list of photos".into()),
        }
    };
    let old = list(before)?;
    let new = list(Some(after))?;
    if !takes_photos(kind) && !new.is_empty() {
        return Err(format!(
            "photos: only reports and notes take photos, not a {}",
            kind.code()
        ));
    }
    let limits = &cfg.photos;
    for entry in new.iter().filter(|e| !old.contains(e)) {
        let photo: PhotoRef = serde_json::from_value(entry.clone())
            .map_err(|_| "photos: an entry is not a photo reference")?;
        let normal = serde_json::to_value(&photo).ok();
        if normal.as_ref() != Some(entry) {
            return Err("photos: an entry is not in the form the app writes".into());
        }
        let side = |n: u32| (1..=MAX_PHOTO_SIDE).contains(&u64::from(n));
        if !(1..=limits.max_photo_bytes).contains(&photo.size)
            || !(1..=limits.max_photo_bytes).contains(&photo.thumb_size)
            || !side(photo.width)
            || !side(photo.height)
        {
            return Err(format!(
                "photos: sizes must be 1 to {} bytes and sides 1 to {MAX_PHOTO_SIDE} pixels",
                limits.max_photo_bytes
            ));
        }
    }
    if new.len() > old.len() && new.len() > limits.max_per_record as usize {
        return Err(format!(
            "photos: a record holds at most {} photos",
            limits.max_per_record
        ));
    }
    Ok(())
}

fn check_author(view: &Value) -> Result<(), Reason> {
    match view.get("author").and_then(Value::as_str) {
        Some(a) if !a.trim().is_empty() && check_text("author", a, 100).is_ok() => Ok(()),
        _ => Err("author: must be 1 to 100 characters".into()),
    }
}

/// A field's stored value must be what validation makes of it: a value a
/// device's own operation would have written.
fn check_value(
    cfg: &TeamConfig,
    field: &Field,
    stored: Option<&Value>,
    sector: Option<&str>,
) -> Result<(), Reason> {
    let stored = stored.unwrap_or(&Value::Null);
    let input = match (field.ty, stored) {
        // Absent text reads back as "", an absent flag as false, sets as [].
        (FieldType::Text { .. }, Value::String(s)) if s.is_empty() => &Value::Null,
        (FieldType::Bool, Value::Bool(false)) => &Value::Null,
        (_, Value::Array(a)) if a.is_empty() => &Value::Null,
        (_, Value::Object(m)) if m.is_empty() => &Value::Null,
        _ => stored,
    };
    let normal = validate_field(cfg, field, input, sector).map_err(|e| e.to_string())?;
    let same = match (&normal, input) {
        (Value::Null, Value::Null) => true,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "{}: not in the form the app writes (unknown code, untrimmed, unsorted or hidden characters)",
            field.name
        ))
    }
}

/// Items of an append-only list, by their `id`.
fn items<'a>(view: &'a Value, list: &str) -> Vec<&'a Map<String, Value>> {
    view.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect()
}

/// The list items of `after` that `before` did not have; an item of
/// `before` that changed or went is refused.
fn appended<'a>(
    before: &Value,
    after: &'a Value,
    list: &str,
    ignore: &[&str],
) -> Result<Vec<&'a Map<String, Value>>, Reason> {
    let strip = |m: &Map<String, Value>| {
        let mut m = m.clone();
        for k in ignore {
            m.remove(*k);
        }
        m
    };
    let old = items(before, list);
    let new = items(after, list);
    for o in &old {
        let same = new
            .iter()
            .find(|n| n.get("id") == o.get("id"))
            .is_some_and(|n| strip(n) == strip(o));
        if !same {
            return Err(format!("{list}: only ever appended to"));
        }
    }
    Ok(new
        .into_iter()
        .filter(|n| !old.iter().any(|o| o.get("id") == n.get("id")))
        .collect())
}

fn short(item: &Map<String, Value>, key: &str, max: usize, required: bool) -> Result<(), Reason> {
    match item.get(key) {
        None | Some(Value::Null) if !required => Ok(()),
        Some(Value::String(s)) if !(required && s.trim().is_empty()) => {
            if s.trim() != s {
                return Err(format!("{key}: not in the form the app writes"));
            }
            check_text(key, s, max).map_err(|e| e.to_string())
        }
        _ => Err(format!("{key}: missing or not text")),
    }
}

fn check_item_header(item: &Map<String, Value>, list: &str) -> Result<(), Reason> {
    let id_ok = item
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|s| s.parse::<RecordId>().is_ok());
    if !id_ok || !item.get("at").is_some_and(Value::is_i64) {
        return Err(format!("{list}: an entry needs an id and a time"));
    }
    short(item, "by", 100, true)
}

/// New status events: each a move the lifecycle allows from the status the
/// author saw, with what that move needs.
fn check_events(
    cfg: &TeamConfig,
    id: RecordId,
    before: &Value,
    after: &Value,
) -> Result<(), Reason> {
    let new = appended(before, after, "events", &["applied"])?;
    let mut status: ReportStatus = before
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .ok_or("status: unreadable before the change")?;
    for ev in new {
        check_item_header(ev, "events")?;
        let to: ReportStatus = ev
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .ok_or("events: unknown status")?;
        if !status.can_move_to(to) {
            return Err(format!(
                "events: a report cannot go from {status} to {to} (allowed: {})",
                status
                    .allowed_next()
                    .iter()
                    .map(|s| s.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        match to {
            ReportStatus::Forwarded => {
                let body = ev.get("to").and_then(Value::as_str);
                if !body.is_some_and(|b| cfg.bodies.iter().any(|x| x.code == b)) {
                    return Err("events: forwarding needs a known responsible body".into());
                }
            }
            ReportStatus::Duplicate => {
                let of = ev
                    .get("duplicate_of")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<RecordId>().ok());
                if of.is_none_or(|of| of == id) {
                    return Err("events: a duplicate needs another report's id".into());
                }
            }
            _ => {}
        }
        short(ev, "ref", 100, false)?;
        short(ev, "comment", 2000, false)?;
        status = to;
    }
    Ok(())
}

/// New interactions: text and referral within their limits, a referral
/// only with the resident's consent to it.
fn check_interactions(before: &Value, after: &Value) -> Result<(), Reason> {
    for it in appended(before, after, "interactions", &[])? {
        check_item_header(it, "interactions")?;
        short(it, "text", 5000, true)?;
        short(it, "referral", 100, false)?;
        if it.get("referral").is_some_and(|r| !r.is_null()) && consent::judged(after) {
            consent::check_referral(after).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// New comments: appended only, each with its header and a text of 1 to
/// [`edit::COMMENT_MAX_CHARS`] characters.
fn check_comments(before: &Value, after: &Value) -> Result<(), Reason> {
    if !after.get("comments").is_some_and(Value::is_array) {
        return Err("comments: not a list of comments".into());
    }
    for c in appended(before, after, "comments", &[])? {
        check_item_header(c, "comments")?;
        short(c, "text", edit::COMMENT_MAX_CHARS, true)?;
    }
    Ok(())
}

/// Consents: each entry that is new or changed is one a device's consent
/// actions write (a known purpose, the time given, who, and a withdrawal
/// with both its time and who), or, in a change older than the consent
/// rules, a topic and a time; none ever removed.
fn check_consents(before: Option<&Value>, after: &Value) -> Result<(), Reason> {
    let empty = Map::new();
    let map = |v: Option<&Value>| -> Result<Map<String, Value>, Reason> {
        match v.and_then(|v| v.get("consents")) {
            None | Some(Value::Null) => Ok(empty.clone()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err("consents: not a map of purposes".into()),
        }
    };
    let old = map(before)?;
    let new = map(Some(after))?;
    if consent::judged(after) && old.keys().any(|k| !new.contains_key(k)) {
        return Err("consents: withdrawn, never removed".into());
    }
    for (purpose, entry) in new.iter().filter(|(k, v)| old.get(*k) != Some(*v)) {
        // What older versions wrote: topic → time.
        if entry.is_i64() && !consent::judged(after) {
            check_text("consents", purpose, 60).map_err(|e| e.to_string())?;
            continue;
        }
        if purpose.parse::<Purpose>().ok().map(Purpose::code) != Some(purpose.as_str()) {
            return Err("consents: unknown purpose".into());
        }
        let e = entry
            .as_object()
            .ok_or("consents: an entry is not in the form the app writes")?;
        if !e.get("at").is_some_and(Value::is_i64) {
            return Err("consents: an entry needs the time it was given".into());
        }
        short(e, "by", 100, false)?;
        let withdrawn = e.get("withdrawn_at");
        if withdrawn.is_some_and(|w| !w.is_i64()) {
            return Err("consents: a withdrawal needs its time".into());
        }
        short(e, "withdrawn_by", 100, withdrawn.is_some())?;
        if before.is_none() && withdrawn.is_some() {
            return Err("consents: a new contact's consents are given, not withdrawn".into());
        }
    }
    Ok(())
}

/// A retention extension: a time after the contact's creation and within
/// [`edit::MAX_KEEP_MS`] of the change (its author's clock, the newest
/// change's time in the view).
fn check_keep_until(before: &Value, after: &Value) -> Result<(), Reason> {
    let until = after.get("keep_until").filter(|v| !v.is_null());
    if until == before.get("keep_until").filter(|v| !v.is_null()) {
        return Ok(());
    }
    let Some(until) = until else {
        return Err("keep_until: extended, never removed".into());
    };
    let until = until.as_i64().ok_or("keep_until: not a time")?;
    let created = after.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    let changed = after.get("updated_at").and_then(Value::as_i64).unwrap_or(0);
    if until <= created || until > changed.saturating_add(edit::MAX_KEEP_MS) {
        return Err("keep_until: must be in the future and within 5 years".into());
    }
    Ok(())
}
