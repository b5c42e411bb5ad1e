//! What a resident agreed to (RGPD art. 6 and 7): a fixed list of purposes,
//! each given and withdrawn on the record, and the two rules that depend on
//! them (a phone number is kept only with `telephone`, a referral is made
//! only with `orientation`). The rules read a record's JSON view, so that a
//! device's own operations ([`crate::edit`]) and the judge of incoming
//! changes ([`crate::rules`]) apply the very same test.
//!
//! In a contact's document, `consents` maps a purpose's code to a map
//! `{at, by, withdrawn_at?, withdrawn_by?}`. Older versions stored
//! `topic → time`; such entries still read as given at that time, by
//! someone unknown.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// What a resident may consent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Individual follow-up: the team keeps the contact and its log.
    Suivi,
    /// Referral to a partner (CAF, France Services…).
    Orientation,
    /// Being called: the team keeps the phone number.
    Telephone,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 3] = [Purpose::Suivi, Purpose::Orientation, Purpose::Telephone];

    /// The code stored in documents and typed on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Purpose::Suivi => "suivi",
            Purpose::Orientation => "orientation",
            Purpose::Telephone => "telephone",
        }
    }

    /// What residents and supervisors read (French).
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Suivi => "suivi individuel",
            Purpose::Orientation => "orientation vers un partenaire",
            Purpose::Telephone => "contact par téléphone",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Purpose {
    type Err = Error;
    /// Codes, French labels and a few everyday words, case and accents
    /// aside: what a mediator types.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = crate::redact::fold(s.trim()).replace(['-', '_'], " ");
        let found = match s.as_str() {
            "suivi" | "suivi individuel" | "follow up" | "followup" => Some(Purpose::Suivi),
            "orientation" | "orientation vers un partenaire" | "referral" => {
                Some(Purpose::Orientation)
            }
            "telephone" | "tel" | "phone" | "contact par telephone" => Some(Purpose::Telephone),
            _ => None,
        };
        found.ok_or_else(|| {
            Error::invalid("purpose", "expected one of suivi, orientation, telephone")
        })
    }
}

/// When the consent rules began (2026-12-01T00:00:00Z). A change its
/// author's clock dates before it was made by a version that recorded
/// consents as bare topics and phones without them: the rules do not judge
/// it, so that a device pulling a team's older history still takes it.
/// (A tampered app could backdate its clock, and gain nothing it could not
/// already write into a free-text field.)
pub const RULES_SINCE: i64 = 1_796_083_200_000;

/// Whether the consent rules judge the step to `after` (a record's view):
/// its newest change is dated after [`RULES_SINCE`].
pub fn judged(after: &Value) -> bool {
    after
        .get("updated_at")
        .and_then(Value::as_i64)
        .is_none_or(|t| t >= RULES_SINCE)
}

/// The consent entry of `purpose` in a record's view (or a new record's
/// validated fields), if any.
fn entry(view: &Value, purpose: Purpose) -> Option<&Value> {
    view.get("consents")?.get(purpose.code())
}

/// Whether `purpose` is given and not withdrawn in a contact's view (the
/// JSON of [`crate::doc::RecordDoc::to_json`], or a new contact's validated
/// fields).
pub fn is_active(view: &Value, purpose: Purpose) -> bool {
    match entry(view, purpose) {
        // The old shape: a time, given then.
        Some(Value::Number(_)) => true,
        Some(Value::Object(m)) => {
            m.get("at").is_some_and(Value::is_i64)
                && m.get("withdrawn_at").is_none_or(Value::is_null)
        }
        _ => false,
    }
}

/// The phone rule: a contact's phone may become non-empty only while
/// `telephone` is given. `before` is None for a new contact; a phone
/// that did not change is not judged (older data holds phones given
/// before consents were recorded).
pub fn check_phone(before: Option<&Value>, after: &Value) -> Result<(), Error> {
    let phone = |v: &Value| {
        v.get("phone")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let now = phone(after);
    if now.is_some() && before.and_then(phone) != now && !is_active(after, Purpose::Telephone) {
        return Err(Error::invalid(
            "phone",
            "a phone number is kept only with the resident's consent to be called (telephone)",
        ));
    }
    Ok(())
}

/// The referral rule: a new interaction names a partner only while
/// `orientation` is given.
pub fn check_referral(view: &Value) -> Result<(), Error> {
    if is_active(view, Purpose::Orientation) {
        Ok(())
    } else {
        Err(Error::invalid(
            "referral",
            "a referral needs the resident's consent to be referred (orientation)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn purposes_parse_forgivingly_and_serialise_as_codes() {
        assert_eq!("Téléphone".parse::<Purpose>().unwrap(), Purpose::Telephone);
        assert_eq!(" SUIVI ".parse::<Purpose>().unwrap(), Purpose::Suivi);
        assert_eq!(
            "orientation vers un partenaire".parse::<Purpose>().unwrap(),
            Purpose::Orientation
        );
        assert!("newsletter".parse::<Purpose>().is_err());
        assert_eq!(
            serde_json::to_value(Purpose::Telephone).unwrap(),
            "telephone"
        );
    }

    #[test]
    fn given_withdrawn_and_old_shapes() {
        let v = json!({"consents": {
            "suivi": 12,
            "telephone": {"at": 1, "by": "a", "withdrawn_at": 2, "withdrawn_by": "b"},
            "orientation": {"at": 3, "by": "a"},
        }});
        assert!(is_active(&v, Purpose::Suivi));
        assert!(!is_active(&v, Purpose::Telephone));
        assert!(is_active(&v, Purpose::Orientation));
        assert!(check_phone(None, &json!({"phone": "06"})).is_err());
        // An unchanged phone is not judged.
        let old = json!({"phone": "06"});
        assert!(check_phone(Some(&old), &old).is_ok());
    }
}
