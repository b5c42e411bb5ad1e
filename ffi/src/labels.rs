//! The French words the apps show for statuses and kinds of records: the
//! core's one table (`carnet_core::labels`), so a phone, the dashboard and
//! the exports never name a status differently. Configured codes (sectors,
//! categories…) carry their labels in the team's configuration.

use crate::types::{Kind, ReportStatus};

/// How supervisors and mediators say a report's status ("En cours").
#[uniffi::export]
pub fn status_label(status: ReportStatus) -> String {
    carnet_core::ReportStatus::from(status).label().to_string()
}

/// The name of a kind of record in the team's words ("Signalement").
#[uniffi::export]
pub fn kind_label(kind: Kind) -> String {
    carnet_core::Kind::from(kind).label().to_string()
}
