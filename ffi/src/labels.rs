//! The French words the apps show for statuses, kinds of records and consents: the
//! core's one table (`carnet_core::labels`), so a phone, the dashboard and
//! the exports never name a status differently. Configured codes (sectors,
//! categories…) carry their labels in the team's configuration.

use crate::types::{Kind, Purpose, ReportStatus};

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

/// What a consent covers, as residents are asked ("contact par téléphone").
#[uniffi::export]
pub fn purpose_label(purpose: Purpose) -> String {
    carnet_core::consent::Purpose::from(purpose)
        .label()
        .to_string()
}
