//! How long a resident's contact is kept (RGPD art. 5(1)(e)): a team's
//! retention, in calendar months after the last thing that happened with
//! the resident, or until a supervisor's extension
//! ([`crate::edit::Action::KeepUntil`]). Pure functions of a contact, a
//! configuration and a time; the server runs the sweep.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::TeamConfig;
use crate::model::Contact;

/// Days before its due date that a contact is listed for a supervisor to
/// review (extend, or let it be erased).
pub const NOTICE_DAYS: i64 = 30;

const DAY_MS: i64 = 86_400_000;

/// Where a contact stands against the team's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Retention {
    /// Not due within [`NOTICE_DAYS`].
    Kept,
    /// Due within [`NOTICE_DAYS`]: listed for review.
    Listed {
        /// When it is due (ms).
        due_at: i64,
    },
    /// Due: to be erased.
    Due {
        /// When it was due (ms).
        due_at: i64,
    },
}

/// The last time something happened with the resident: the contact's
/// creation, an interaction, a consent given or withdrawn.
pub fn last_activity(c: &Contact) -> i64 {
    let interactions = c.interactions.iter().map(|i| i.at);
    let consents = c
        .consents
        .iter()
        .flat_map(|x| std::iter::once(x.given_at).chain(x.withdrawn_at));
    interactions
        .chain(consents)
        .fold(c.header.created_at, i64::max)
}

/// `months` calendar months after `at` (UTC); far-off times saturate.
fn add_months(at: i64, months: u32) -> i64 {
    Timestamp::from_millisecond(at)
        .ok()
        .and_then(|t| {
            t.to_zoned(TimeZone::UTC)
                .checked_add(i64::from(months).months())
                .ok()
        })
        .map_or(i64::MAX, |z| z.timestamp().as_millisecond())
}

/// When the contact is due for erasure: the team's retention after its
/// last activity, or its extension if later.
pub fn due_at(c: &Contact, cfg: &TeamConfig) -> i64 {
    let due = add_months(last_activity(c), cfg.retention_months);
    c.keep_until.map_or(due, |k| due.max(k))
}

/// Where the contact stands at `now`.
pub fn retention(c: &Contact, cfg: &TeamConfig, now: i64) -> Retention {
    let due_at = due_at(c, cfg);
    if due_at <= now {
        Retention::Due { due_at }
    } else if due_at - now <= NOTICE_DAYS * DAY_MS {
        Retention::Listed { due_at }
    } else {
        Retention::Kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Consent, Interaction};

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn contact(created: i64) -> Contact {
        let v = serde_json::json!({
            "id": crate::RecordId::new(), "author": "a", "created_at": created,
            "updated_at": created, "name": "x",
        });
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn calendar_months_clamp_to_the_end_of_a_shorter_month() {
        assert_eq!(
            add_months(ms("2026-01-31T10:00:00Z"), 1),
            ms("2026-02-28T10:00:00Z")
        );
        assert_eq!(add_months(i64::MAX - 1, 24), i64::MAX);
    }

    #[test]
    fn the_last_activity_counts_interactions_and_consents() {
        let mut c = contact(ms("2026-01-01T00:00:00Z"));
        c.interactions.push(Interaction {
            id: "i".into(),
            at: ms("2026-03-01T00:00:00Z"),
            by: "a".into(),
            actor: None,
            text: "t".into(),
            referral: None,
        });
        c.consents.push(Consent {
            purpose: "suivi".into(),
            given_at: ms("2026-02-01T00:00:00Z"),
            given_by: "a".into(),
            actor: None,
            withdrawn_at: Some(ms("2026-04-01T00:00:00Z")),
            withdrawn_by: Some("a".into()),
        });
        assert_eq!(last_activity(&c), ms("2026-04-01T00:00:00Z"));
        let cfg = TeamConfig::carcassonne();
        assert_eq!(due_at(&c, &cfg), ms("2028-04-01T00:00:00Z"));
    }
}
