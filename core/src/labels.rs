//! The French words people read for the codes records store: a report's
//! status, a kind of record, and the team-configured codes (sectors,
//! quartiers, axes, categories, bodies) and activity types. One table, read
//! by the dashboard, the exports, the command line and the apps, so that no
//! face names a status or a code its own way. Field names have theirs in
//! [`crate::schema`] (`Kind::field_label`).

use crate::config::TeamConfig;
use crate::lifecycle::ReportStatus;
use crate::schema::{self, Kind};

impl ReportStatus {
    /// How supervisors and mediators say it.
    pub fn label(self) -> &'static str {
        match self {
            ReportStatus::Reported => "Signalé",
            ReportStatus::Forwarded => "Transmis",
            ReportStatus::InProgress => "En cours",
            ReportStatus::Resolved => "Résolu",
            ReportStatus::Closed => "Clos (vérifié)",
            ReportStatus::Rejected => "Rejeté",
            ReportStatus::Duplicate => "Doublon",
        }
    }
}

impl Kind {
    /// The name of this kind of record in the team's words.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Note => "Observation",
            Kind::Report => "Signalement",
            Kind::Contact => "Contact",
            Kind::Activity => "Activité",
        }
    }
}

impl TeamConfig {
    /// The label of `code` as a value of the field `field` (`sector`,
    /// `quartier`, `axes`, `category`, `body`/`landlord`/`to`, `status`,
    /// `activity_type`); `None` for a field whose values are not codes, or
    /// a code this configuration does not know (one removed since the
    /// record was written): callers then show the code itself.
    pub fn code_label(&self, field: &str, code: &str) -> Option<String> {
        let label = match field {
            "sector" => self.sector(code).map(|s| s.label.as_str()),
            "quartier" => self
                .sectors
                .iter()
                .find_map(|s| self.quartier(s, code).map(|q| q.label.as_str())),
            "axes" | "axis" => self.axis(code).map(|a| a.label.as_str()),
            "category" => self.category(code).map(|c| c.label.as_str()),
            "body" | "landlord" | "to" => self.body(code).map(|b| b.label.as_str()),
            "status" => code.parse::<ReportStatus>().ok().map(ReportStatus::label),
            "activity_type" => schema::activity_type(code),
            _ => None,
        };
        label.map(str::to_string)
    }

    /// [`TeamConfig::code_label`], or the code itself when it has none.
    pub fn label_or_code(&self, field: &str, code: &str) -> String {
        self.code_label(field, code)
            .unwrap_or_else(|| code.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_kind_has_a_french_label() {
        let statuses: Vec<&str> = ReportStatus::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(
            statuses,
            [
                "Signalé",
                "Transmis",
                "En cours",
                "Résolu",
                "Clos (vérifié)",
                "Rejeté",
                "Doublon"
            ]
        );
        assert_eq!(Kind::Report.label(), "Signalement");
    }

    #[test]
    fn codes_take_their_label_from_the_team_configuration() {
        let cfg = TeamConfig::carcassonne();
        assert_eq!(
            cfg.code_label("sector", "conte-joliot").as_deref(),
            Some("La Conte + Joliot Curie")
        );
        assert_eq!(
            cfg.code_label("quartier", "fleming").as_deref(),
            Some("Fleming")
        );
        assert_eq!(
            cfg.code_label("axes", "cadre-de-vie").as_deref(),
            Some("Cadre de vie")
        );
        assert_eq!(
            cfg.code_label("landlord", "bailleur").as_deref(),
            Some("Bailleur social")
        );
        assert_eq!(
            cfg.code_label("status", "in_progress").as_deref(),
            Some("En cours")
        );
        assert_eq!(
            cfg.code_label("activity_type", "aller_vers").as_deref(),
            Some("Aller vers")
        );
        // A code removed from the configuration, and a free-text field.
        assert_eq!(cfg.code_label("sector", "ancien-secteur"), None);
        assert_eq!(
            cfg.label_or_code("sector", "ancien-secteur"),
            "ancien-secteur"
        );
        assert_eq!(cfg.code_label("place", "Bâtiment B"), None);
    }
}
