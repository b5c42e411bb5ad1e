//! `/dashboard/habitants`: residents' rights (RGPD art. 15 to 17) on the
//! team's contacts. The list with the contacts the retention rule will
//! soon erase ([`list`]); one resident's file, with the forms that rectify
//! it, record a consent given or withdrawn, and extend its retention
//! ([`file`]); the file as downloads ([`crate::dossier`]); and the erasure,
//! which first takes the resident's name out of the team's free text
//! ([`erase`]). Every change goes through [`crate::Backend::act`]: the core
//! judges it as it judges a phone's, and phones receive it at their next
//! sync. Every page that shows a resident is in the access log.

pub(crate) mod erase;
pub(crate) mod file;
pub(crate) mod list;

use carnet_core::model::Contact;
use carnet_core::retention::{Retention, retention};
use carnet_core::{Record, RecordId, TeamConfig};

use crate::DashboardError;
use crate::html::date;

/// The contact a page's path names, or the French 404 a bad id gets.
fn contact_id(id: &str) -> Result<RecordId, DashboardError> {
    id.parse()
        .map_err(|_| DashboardError::NotFound("identifiant de fiche habitant invalide".into()))
}

/// The record as a contact, or the French 404 for another kind.
fn as_contact(r: Record) -> Result<Contact, DashboardError> {
    match r {
        Record::Contact(c) => Ok(c),
        _ => Err(DashboardError::NotFound(
            "cette fiche n'est pas une fiche habitant".into(),
        )),
    }
}

/// Where the contact stands against the team's retention, in French:
/// empty while kept, "à effacer le …" when listed, "échu" when due.
fn retention_label(c: &Contact, cfg: &TeamConfig, now: i64) -> String {
    match retention(c, cfg, now) {
        Retention::Kept => String::new(),
        Retention::Listed { due_at } => format!("à effacer le {}", date(due_at)),
        Retention::Due { .. } => "échu".into(),
    }
}

/// The path of a contact's file.
fn file_path(id: RecordId) -> String {
    format!("{}/habitants/{id}", crate::MOUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn contact(created: i64) -> Contact {
        serde_json::from_value(serde_json::json!({
            "id": RecordId::new(), "author": "a", "created_at": created,
            "updated_at": created, "name": "x",
        }))
        .unwrap()
    }

    #[test]
    fn the_retention_state_reads_in_french() {
        let cfg = TeamConfig::carcassonne();
        let now = 1_800_000_000_000;
        assert_eq!(retention_label(&contact(now - 30 * DAY), &cfg, now), "");
        let listed = contact(now - 715 * DAY);
        let due = carnet_core::retention::due_at(&listed, &cfg);
        assert_eq!(
            retention_label(&listed, &cfg, now),
            format!("à effacer le {}", date(due))
        );
        assert_eq!(
            retention_label(&contact(now - 760 * DAY), &cfg, now),
            "échu"
        );
    }
}
