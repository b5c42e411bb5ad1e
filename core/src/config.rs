//! A team's configuration: its territory, mission axes, dégradation categories
//! and the bodies reports are forwarded to. Records name these by code, and
//! validation refuses a code the configuration does not know.

use serde::{Deserialize, Serialize};

use crate::photo::PhotoSettings;

/// A named entry of the configuration, referred to by its stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stable identifier stored in records (lowercase, no spaces).
    pub code: String,
    /// What people read.
    pub label: String,
}

/// A sector: the unit a mediator walks, made of quartiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sector {
    /// Stable identifier stored in records.
    pub code: String,
    /// What people read.
    pub label: String,
    /// The quartiers of the sector.
    pub quartiers: Vec<Entry>,
}

/// A dégradation category, with the delay after which an open report is overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Stable identifier stored in records.
    pub code: String,
    /// What people read.
    pub label: String,
    /// Days after which an unresolved report of this category is overdue.
    pub overdue_after_days: u32,
}

/// Everything a team configures; devices receive it from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamConfig {
    /// The team's name, shown to people.
    pub name: String,
    /// Sectors and their quartiers.
    pub sectors: Vec<Sector>,
    /// Mission axes records are filed under.
    pub axes: Vec<Entry>,
    /// Dégradation categories.
    pub categories: Vec<Category>,
    /// Bodies that fix dégradations (landlords, city services).
    pub bodies: Vec<Entry>,
    /// How photos are made and what the team allows (absent from older
    /// configurations: the defaults).
    #[serde(default)]
    pub photos: PhotoSettings,
    /// Months a resident's contact is kept after the last thing that
    /// happened with them ([`crate::retention`]); absent from older
    /// configurations: [`DEFAULT_RETENTION_MONTHS`].
    #[serde(default = "default_retention_months")]
    pub retention_months: u32,
}

/// The retention of a configuration that names none: two years, what the
/// CNIL's guidance for social follow-up suggests.
pub const DEFAULT_RETENTION_MONTHS: u32 = 24;

/// The retentions a team may choose, in months.
pub const RETENTION_MONTHS: std::ops::RangeInclusive<u32> = 1..=120;

fn default_retention_months() -> u32 {
    DEFAULT_RETENTION_MONTHS
}

fn entry(code: &str, label: &str) -> Entry {
    Entry {
        code: code.into(),
        label: label.into(),
    }
}

fn find<'a, T>(items: &'a [T], key: &str, code: impl Fn(&T) -> (&str, &str)) -> Option<&'a T> {
    let key = key.trim();
    items.iter().find(|i| {
        let (c, l) = code(i);
        c == key || l.eq_ignore_ascii_case(key)
    })
}

impl TeamConfig {
    /// The configuration of the Régie de quartiers du Carcassonnais: four
    /// sectors of two quartiers, the five mission axes of its adultes-relais.
    pub fn carcassonne() -> Self {
        let sector = |code: &str, label: &str, q: [(&str, &str); 2]| Sector {
            code: code.into(),
            label: label.into(),
            quartiers: q.iter().map(|(c, l)| entry(c, l)).collect(),
        };
        let cat = |code: &str, label: &str, days: u32| Category {
            code: code.into(),
            label: label.into(),
            overdue_after_days: days,
        };
        TeamConfig {
            name: "Régie de quartiers du Carcassonnais".into(),
            sectors: vec![
                sector(
                    "conte-joliot",
                    "La Conte + Joliot Curie",
                    [("la-conte", "La Conte"), ("joliot-curie", "Joliot Curie")],
                ),
                sector(
                    "viguier-saint-jacques",
                    "Viguier + Saint Jacques",
                    [("viguier", "Viguier"), ("saint-jacques", "Saint Jacques")],
                ),
                sector(
                    "ozanam-albignac",
                    "Ozanam + Albignac",
                    [("ozanam", "Ozanam"), ("albignac", "Albignac")],
                ),
                sector(
                    "grazailles-fleming",
                    "Grazailles + Fleming",
                    [("grazailles", "Grazailles"), ("fleming", "Fleming")],
                ),
            ],
            axes: vec![
                entry("cadre-de-vie", "Cadre de vie"),
                entry("tranquillite", "Tranquillité publique"),
                entry("jeunesse", "Jeunesse"),
                entry("acces-droits", "Accès aux droits et à la santé"),
                entry("participation", "Participation citoyenne"),
            ],
            categories: vec![
                cat("lighting", "Éclairage", 7),
                cat("lift", "Ascenseur", 3),
                cat("cleanliness", "Propreté / encombrants", 7),
                cat("graffiti", "Tags / graffitis", 14),
                cat("doors-locks", "Portes et serrures", 7),
                cat("letterboxes", "Boîtes aux lettres", 14),
                cat("roads", "Voirie", 30),
                cat("green-spaces", "Espaces verts", 30),
                cat("abandoned-vehicle", "Véhicule abandonné", 30),
                cat("other", "Autre", 30),
            ],
            bodies: vec![
                entry("bailleur", "Bailleur social"),
                entry("ville-proprete", "Ville — propreté"),
                entry("ville-eclairage", "Ville — éclairage public"),
                entry("ville-voirie", "Ville — voirie"),
                entry("ville-espaces-verts", "Ville — espaces verts"),
                entry("agglo-dechets", "Agglomération — déchets"),
                entry("police-municipale", "Police municipale"),
                entry("regie", "Régie de quartiers"),
                entry("other", "Autre"),
            ],
            photos: PhotoSettings::default(),
            retention_months: DEFAULT_RETENTION_MONTHS,
        }
    }

    /// Checks what a supervisor may set: the retention within
    /// [`RETENTION_MONTHS`].
    pub fn check(&self) -> crate::Result<()> {
        if !RETENTION_MONTHS.contains(&self.retention_months) {
            return Err(crate::Error::invalid(
                "retention_months",
                format!(
                    "must be {} to {} months",
                    RETENTION_MONTHS.start(),
                    RETENTION_MONTHS.end()
                ),
            ));
        }
        Ok(())
    }

    /// The sector with this code or label.
    pub fn sector(&self, key: &str) -> Option<&Sector> {
        find(&self.sectors, key, |s| (&s.code, &s.label))
    }

    /// The quartier with this code or label inside `sector`.
    pub fn quartier<'a>(&self, sector: &'a Sector, key: &str) -> Option<&'a Entry> {
        find(&sector.quartiers, key, |q| (&q.code, &q.label))
    }

    /// The mission axis with this code or label.
    pub fn axis(&self, key: &str) -> Option<&Entry> {
        find(&self.axes, key, |a| (&a.code, &a.label))
    }

    /// The category with this code or label.
    pub fn category(&self, key: &str) -> Option<&Category> {
        find(&self.categories, key, |c| (&c.code, &c.label))
    }

    /// The responsible body with this code or label.
    pub fn body(&self, key: &str) -> Option<&Entry> {
        find(&self.bodies, key, |b| (&b.code, &b.label))
    }

    /// Days after which an open report of `category` is overdue: the
    /// category's own delay, or [`DEFAULT_OVERDUE_DAYS`] for a category the
    /// configuration no longer has (a report outlives a configuration edit).
    pub fn overdue_after_days(&self, category: &str) -> i64 {
        self.category(category)
            .map_or(DEFAULT_OVERDUE_DAYS, |c| i64::from(c.overdue_after_days))
    }

    /// Whole days a report created at `created_at` has been open at `now`.
    pub fn age_days(created_at: i64, now: i64) -> i64 {
        (now - created_at).max(0) / 86_400_000
    }

    /// Whether an open report of `category` created at `created_at` is
    /// overdue at `now`: its whole days of age are past its category's delay.
    /// The one rule behind the store's open-report list, the dashboard's
    /// overdue page and its per-sector counts.
    pub fn is_overdue(&self, category: &str, created_at: i64, now: i64) -> bool {
        Self::age_days(created_at, now) > self.overdue_after_days(category)
    }
}

/// Days after which an open report is overdue when its category sets none.
pub const DEFAULT_OVERDUE_DAYS: i64 = 30;

impl Default for TeamConfig {
    fn default() -> Self {
        Self::carcassonne()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_report_is_overdue_after_whole_days_past_its_categorys_delay() {
        let mut cfg = TeamConfig::carcassonne();
        cfg.categories[0].overdue_after_days = 7;
        let code = cfg.categories[0].code.clone();
        let now = 100 * DAY;
        assert!(!cfg.is_overdue(&code, now - 7 * DAY, now));
        assert!(!cfg.is_overdue(&code, now - 8 * DAY + 1, now));
        assert!(cfg.is_overdue(&code, now - 8 * DAY, now));
        // A category the configuration no longer has: the default delay.
        assert_eq!(cfg.overdue_after_days("gone"), DEFAULT_OVERDUE_DAYS);
        assert!(!cfg.is_overdue("gone", now - 30 * DAY, now));
        assert!(cfg.is_overdue("gone", now - 31 * DAY, now));
        // A clock behind the report's creation: age 0, never overdue.
        assert_eq!(TeamConfig::age_days(now + DAY, now), 0);
    }
}
