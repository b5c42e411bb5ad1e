//! The life of a dégradation report: reported → forwarded → in progress →
//! resolved → closed after an on-site check, or rejected / duplicate, and
//! reopened when it comes back.
//!
//! Status changes are kept as an append-only list of events in the report's
//! document. Two mediators may change a status offline at the same time, so
//! the current status is *derived*: events are replayed in a fixed order
//! (time, then event id) and an event that the graph does not allow at its
//! place in that order is kept in the history but marked as not applied. Every
//! device computes the same status from the same events.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, RecordId};

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl ReportStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [ReportStatus; 7] = [
        ReportStatus::Reported,
        ReportStatus::Forwarded,
        ReportStatus::InProgress,
        ReportStatus::Resolved,
        ReportStatus::Closed,
        ReportStatus::Rejected,
        ReportStatus::Duplicate,
    ];

    /// The code used in documents, the database and on the command line.
    pub fn code(self) -> &'static str {
        match self {
            ReportStatus::Reported => "reported",
            ReportStatus::Forwarded => "forwarded",
            ReportStatus::InProgress => "in_progress",
            ReportStatus::Resolved => "resolved",
            ReportStatus::Closed => "closed",
            ReportStatus::Rejected => "rejected",
            ReportStatus::Duplicate => "duplicate",
        }
    }

    /// The statuses in which a dégradation still needs someone to act: the
    /// one list behind [`ReportStatus::is_open`] and the store's SQL filters.
    pub const OPEN: [ReportStatus; 3] = [
        ReportStatus::Reported,
        ReportStatus::Forwarded,
        ReportStatus::InProgress,
    ];

    /// Whether the dégradation still needs someone to act.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// The statuses a report can move to from this one. Moving from a final
    /// status back to `reported` is a reopening.
    pub fn allowed_next(self) -> &'static [ReportStatus] {
        use ReportStatus::*;
        match self {
            Reported => &[Forwarded, InProgress, Resolved, Rejected, Duplicate],
            Forwarded => &[Forwarded, InProgress, Resolved, Rejected, Duplicate],
            InProgress => &[Forwarded, Resolved, Rejected, Duplicate],
            Resolved => &[Closed, Reported],
            Closed | Rejected | Duplicate => &[Reported],
        }
    }

    /// Whether `self → to` is allowed.
    pub fn can_move_to(self, to: ReportStatus) -> bool {
        self.allowed_next().contains(&to)
    }
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for ReportStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let s = if s == "reopened" || s == "reopen" {
            "reported".to_string()
        } else {
            s
        };
        ReportStatus::ALL
            .into_iter()
            .find(|st| st.code() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    "expected one of reported, forwarded, in_progress, resolved, closed, rejected, duplicate",
                )
            })
    }
}

/// One status change, as recorded in the report's document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// Unique id of the event; orders events recorded at the same millisecond.
    pub id: String,
    /// The status the report moved to.
    pub status: ReportStatus,
    /// When (milliseconds since the Unix epoch).
    pub at: i64,
    /// Who recorded it (author id, as their device wrote it).
    pub by: String,
    /// The automerge actor (hex) that recorded it: the server names the
    /// author from its device registry by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// For `forwarded`: the responsible body's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// For `forwarded`: the body's own reference for the case.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    pub reference: Option<String>,
    /// A free comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// For `duplicate`: the report this one duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<RecordId>,
    /// False when a concurrent change made this event impossible at its place
    /// in the replay order; it stays in the history.
    #[serde(default = "yes")]
    pub applied: bool,
}

fn yes() -> bool {
    true
}

/// Replays `events` in their deterministic order, marks each as applied or
/// not, and returns the resulting status. Events come back sorted.
pub fn derive_status(events: &mut [StatusEvent]) -> ReportStatus {
    events.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let mut status = ReportStatus::Reported;
    for ev in events.iter_mut() {
        ev.applied = status.can_move_to(ev.status);
        if ev.applied {
            status = ev.status;
        }
    }
    status
}

/// The body a report is currently with: the `to` of the last applied
/// `forwarded` event.
pub fn current_body(events: &[StatusEvent]) -> Option<&str> {
    events
        .iter()
        .rev()
        .find(|e| e.applied && e.status == ReportStatus::Forwarded)
        .and_then(|e| e.to.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, status: ReportStatus, at: i64) -> StatusEvent {
        StatusEvent {
            id: id.into(),
            status,
            at,
            by: "a".into(),
            actor: None,
            to: None,
            reference: None,
            comment: None,
            duplicate_of: None,
            applied: true,
        }
    }

    #[test]
    fn full_lifecycle_and_reopen() {
        use ReportStatus::*;
        let mut evs = vec![
            ev("1", Forwarded, 1),
            ev("2", InProgress, 2),
            ev("3", Resolved, 3),
            ev("4", Closed, 4),
            ev("5", Reported, 5),
        ];
        assert_eq!(derive_status(&mut evs), Reported);
        assert!(evs.iter().all(|e| e.applied));
    }

    #[test]
    fn concurrent_conflicting_events_are_kept_but_not_applied() {
        use ReportStatus::*;
        // Two devices: one closes directly (not allowed from forwarded), one resolves.
        let mut evs = vec![
            ev("b", Closed, 2),
            ev("a", Forwarded, 1),
            ev("c", Resolved, 2),
        ];
        assert_eq!(derive_status(&mut evs), Resolved);
        assert_eq!(
            evs.iter().map(|e| e.applied).collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn status_parsing_is_forgiving_but_strict() {
        assert_eq!(
            "In progress".parse::<ReportStatus>().unwrap(),
            ReportStatus::InProgress
        );
        assert_eq!(
            "reopen".parse::<ReportStatus>().unwrap(),
            ReportStatus::Reported
        );
        assert!("done".parse::<ReportStatus>().is_err());
    }
}
