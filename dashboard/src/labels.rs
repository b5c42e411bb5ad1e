//! French labels for the codes records store. Team-configured codes (sector,
//! axis, category, body) take their label from the team's configuration; an
//! unknown code (a configuration changed since) is shown as is.

use carnet_core::{Kind, ReportStatus, TeamConfig};

/// A report status, as supervisors say it.
pub fn status(s: ReportStatus) -> &'static str {
    match s {
        ReportStatus::Reported => "Signalé",
        ReportStatus::Forwarded => "Transmis",
        ReportStatus::InProgress => "En cours",
        ReportStatus::Resolved => "Résolu",
        ReportStatus::Closed => "Clos (vérifié)",
        ReportStatus::Rejected => "Rejeté",
        ReportStatus::Duplicate => "Doublon",
    }
}

/// A status code from the read model.
pub fn status_code(code: &str) -> String {
    code.parse::<ReportStatus>()
        .map(|s| status(s).to_string())
        .unwrap_or_else(|_| code.to_string())
}

/// A kind of record.
pub fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Note => "Observation",
        Kind::Report => "Signalement",
        Kind::Contact => "Contact",
        Kind::Activity => "Activité",
    }
}

/// Labels from the team's configuration.
pub struct Labels<'a>(pub &'a TeamConfig);

impl Labels<'_> {
    /// A sector's label; "(non renseigné)" for none.
    pub fn sector(&self, code: &str) -> String {
        if code.is_empty() {
            return "(non renseigné)".into();
        }
        self.0
            .sectors
            .iter()
            .find(|s| s.code == code)
            .map(|s| s.label.clone())
            .unwrap_or_else(|| code.into())
    }

    /// A quartier's label, looked up in every sector.
    pub fn quartier(&self, code: &str) -> String {
        self.0
            .sectors
            .iter()
            .flat_map(|s| &s.quartiers)
            .find(|q| q.code == code)
            .map(|q| q.label.clone())
            .unwrap_or_else(|| code.into())
    }

    /// A mission axis.
    pub fn axis(&self, code: &str) -> String {
        self.0
            .axes
            .iter()
            .find(|a| a.code == code)
            .map(|a| a.label.clone())
            .unwrap_or_else(|| code.into())
    }

    /// A dégradation category.
    pub fn category(&self, code: &str) -> String {
        self.0
            .categories
            .iter()
            .find(|c| c.code == code)
            .map(|c| c.label.clone())
            .unwrap_or_else(|| code.into())
    }

    /// A responsible body; "(aucun)" when none is set yet.
    pub fn body(&self, code: &str) -> String {
        if code.is_empty() {
            return "(aucun)".into();
        }
        self.0
            .bodies
            .iter()
            .find(|b| b.code == code)
            .map(|b| b.label.clone())
            .unwrap_or_else(|| code.into())
    }

    /// The configured sectors as (code, label).
    pub fn sectors(&self) -> Vec<(String, String)> {
        self.0
            .sectors
            .iter()
            .map(|s| (s.code.clone(), s.label.clone()))
            .collect()
    }

    /// The configured axes as (code, label).
    pub fn axes(&self) -> Vec<(String, String)> {
        self.0
            .axes
            .iter()
            .map(|a| (a.code.clone(), a.label.clone()))
            .collect()
    }

    /// The configured categories as (code, label).
    pub fn categories(&self) -> Vec<(String, String)> {
        self.0
            .categories
            .iter()
            .map(|c| (c.code.clone(), c.label.clone()))
            .collect()
    }
}
