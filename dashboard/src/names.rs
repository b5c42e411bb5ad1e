//! Who wrote a record or a change, by the server's device registry.
//!
//! A record's `author` and a history entry's `by` are what the writing
//! device put in the document: any enrolled device can write any name
//! there. The automerge actor of a change cannot be chosen that way (the
//! server binds each device's actor at enrollment or first push), so the
//! names shown in pages, exports and the API come from the registry by
//! actor ([`Names::of`]), and a change from an actor the registry does not
//! know says so instead of trusting the document.
//!
//! The same goes for a report's status events and a contact's log entries,
//! each carrying the actor that appended it.

use std::collections::HashMap;

use carnet_core::Record;
use carnet_core::doc::HistoryEntry;
use carnet_core::model::Header;

/// A team's registry as actor (hex) → device name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(HashMap<String, String>);

impl From<HashMap<String, String>> for Names {
    fn from(map: HashMap<String, String>) -> Self {
        Names(map)
    }
}

impl Names {
    /// The registry's name for `actor`; `appareil inconnu (xxxxxxxx)` (its
    /// first 8 hex digits) when no device of the team holds it, and
    /// `appareil inconnu` when the change carries no actor.
    pub fn of(&self, actor: Option<&str>) -> String {
        match actor.map(str::trim).filter(|a| !a.is_empty()) {
            None => "appareil inconnu".into(),
            Some(a) => match self.0.get(&a.to_ascii_lowercase()) {
                Some(name) => name.clone(),
                None => format!(
                    "appareil inconnu ({})",
                    a.chars().take(8).collect::<String>()
                ),
            },
        }
    }

    /// Replaces a record's `author` with the registry's name for the actor
    /// that created it, and the `by` of its status events (a report) or log
    /// entries (a contact) with the name for the actor that appended each.
    pub fn name_record(&self, record: &mut Record) {
        let h = header_mut(record);
        h.author = self.of(h.created_by.as_deref());
        match record {
            Record::Report(r) => {
                for e in &mut r.events {
                    e.by = self.of(e.actor.as_deref());
                }
            }
            Record::Contact(c) => {
                for i in &mut c.interactions {
                    i.by = self.of(i.actor.as_deref());
                }
            }
            Record::Note(_) | Record::Activity(_) => {}
        }
    }

    /// Replaces each history entry's `by` with the registry's name for its
    /// change's actor.
    pub fn name_history(&self, history: &mut [HistoryEntry]) {
        for h in history {
            h.by = self.of(Some(&h.actor));
        }
    }
}

fn header_mut(r: &mut Record) -> &mut Header {
    match r {
        Record::Note(r) => &mut r.header,
        Record::Report(r) => &mut r.header,
        Record::Contact(r) => &mut r.header,
        Record::Activity(r) => &mut r.header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_actors_get_their_device_name_others_say_so() {
        let names = Names::from(HashMap::from([(
            "0123456789abcdef0123456789abcdef".to_string(),
            "Samia".to_string(),
        )]));
        assert_eq!(names.of(Some("0123456789ABCDEF0123456789ABCDEF")), "Samia");
        assert_eq!(
            names.of(Some("fedcba9876543210fedcba9876543210")),
            "appareil inconnu (fedcba98)"
        );
        assert_eq!(names.of(None), "appareil inconnu");
        assert_eq!(names.of(Some("")), "appareil inconnu");
    }
}
