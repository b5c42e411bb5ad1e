//! The dashboard's view of the core's French labels (`carnet_core::labels`):
//! the placeholders pages show for an empty value, and the lists its forms
//! offer. An unknown code (a configuration changed since) is shown as is.

use carnet_core::{Kind, RecordId, ReportStatus, TeamConfig};

/// A report status, as supervisors say it (the core's table).
pub fn status(s: ReportStatus) -> &'static str {
    s.label()
}

/// A status code from the read model.
pub fn status_code(code: &str) -> String {
    code.parse::<ReportStatus>()
        .map(|s| s.label().to_string())
        .unwrap_or_else(|_| code.to_string())
}

/// The short reference a report's page and its fiche give it, for the
/// responsible body to quote back: `SIG-` and the last 8 hexadecimal
/// digits of its id, in two groups. Those digits are random, where an id's
/// first ones are its creation time (shared by reports made the same
/// minute); the full id is printed beside it wherever it appears.
pub fn reference(id: RecordId) -> String {
    let b = id.as_bytes();
    format!("SIG-{:02X}{:02X}-{:02X}{:02X}", b[12], b[13], b[14], b[15])
}

/// What a change in a record's history did, as supervisors say it; an
/// operation a newer app wrote is shown as its code.
pub fn operation(op: &str) -> &str {
    match op {
        "create" => "création",
        "set" => "modification",
        "status" => "statut",
        "resolve" => "résolution de conflit",
        "comment" => "commentaire",
        "interaction" => "suivi / orientation",
        "consent-give" => "consentement donné",
        "consent-withdraw" => "consentement retiré",
        "photo-add" => "photo ajoutée",
        "photo-remove" => "photo retirée",
        other => other,
    }
}

/// A kind of record.
pub fn kind(k: Kind) -> &'static str {
    k.label()
}

/// Labels from the team's configuration.
pub struct Labels<'a>(pub &'a TeamConfig);

impl Labels<'_> {
    /// A sector's label; "(non renseigné)" for none.
    pub fn sector(&self, code: &str) -> String {
        if code.is_empty() {
            return "(non renseigné)".into();
        }
        self.0.label_or_code("sector", code)
    }

    /// A quartier's label, looked up in every sector.
    pub fn quartier(&self, code: &str) -> String {
        self.0.label_or_code("quartier", code)
    }

    /// A mission axis.
    pub fn axis(&self, code: &str) -> String {
        self.0.label_or_code("axes", code)
    }

    /// A dégradation category.
    pub fn category(&self, code: &str) -> String {
        self.0.label_or_code("category", code)
    }

    /// A responsible body; "(aucun)" when none is set yet.
    pub fn body(&self, code: &str) -> String {
        if code.is_empty() {
            return "(aucun)".into();
        }
        self.0.label_or_code("body", code)
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
