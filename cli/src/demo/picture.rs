//! The merged picture after the evening sync, as a supervisor would want it:
//! counts per sector and kind, open signalements, residents met, and how the
//! concurrent edit merged — plus the proof that the three stores converged.

use std::collections::BTreeMap;

use carnet_core::doc::Conflict;
use carnet_core::model::Record;
use carnet_core::store::{GroupBy, Query};
use carnet_core::{Kind, RecordId, Store};
use serde::Serialize;
use serde_json::Value;

use super::day::{Day, SharedEdit};
use crate::error::Result;

/// Records of each kind in one sector.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SectorCounts {
    /// Sector code (empty for contacts filed under no sector).
    pub sector: String,
    /// Its label.
    pub label: String,
    /// Kind code → count.
    pub counts: BTreeMap<String, u64>,
}

/// An open signalement.
#[derive(Debug, Clone, Serialize)]
pub struct OpenRow {
    /// Its id.
    pub id: RecordId,
    /// Category code.
    pub category: String,
    /// Sector code.
    pub sector: String,
    /// Where.
    pub place: String,
    /// Current status.
    pub status: String,
    /// Responsible body, if forwarded.
    pub body: Option<String>,
    /// A danger to people.
    pub urgent: bool,
    /// Whole days open.
    pub age_days: i64,
}

/// How the signalement edited twice at once came out.
#[derive(Debug, Clone, Serialize)]
pub struct SharedOutcome {
    /// The report.
    pub id: RecordId,
    /// The edits made offline.
    pub edits: Vec<SharedEdit>,
    /// Unresolved concurrent values (the `place` field).
    pub conflicts: Vec<Conflict>,
    /// For each conflicting field, the value lists and exports show until
    /// someone resolves it (the same on every device).
    pub shown: BTreeMap<String, Value>,
    /// The description before the day.
    pub text_before: String,
    /// The merged description.
    pub text: String,
    /// Whether every added sentence survived the merge.
    pub both_texts_kept: bool,
    /// Current status and body.
    pub status: String,
    /// Body it was forwarded to.
    pub body: Option<String>,
}

/// Everything the demo reports about the merged data.
#[derive(Debug, Clone, Serialize)]
pub struct Picture {
    /// Per sector and kind.
    pub by_sector: Vec<SectorCounts>,
    /// Per kind, all sectors.
    pub totals: BTreeMap<String, u64>,
    /// Open signalements, oldest first.
    pub open_reports: Vec<OpenRow>,
    /// Residents met in activities, already known.
    pub met_known: i64,
    /// Residents met in activities for the first time.
    pub met_new: i64,
    /// The concurrent edit.
    pub shared: SharedOutcome,
}

/// Every record of a store as JSON, in list order: equal values mean equal stores.
pub fn snapshot(store: &Store) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let page = store.list(&Query {
            kind: Some(kind),
            limit: Some(1000),
            ..Default::default()
        })?;
        for r in page.items {
            out.push(serde_json::to_value(&r).unwrap_or(Value::Null));
        }
    }
    Ok(out)
}

/// Builds the picture from one (converged) store.
pub fn build(store: &Store, day: &Day) -> Result<Picture> {
    let cfg = store.config();
    let mut sectors: BTreeMap<String, SectorCounts> = BTreeMap::new();
    for s in &cfg.sectors {
        sectors.insert(
            s.code.clone(),
            SectorCounts {
                sector: s.code.clone(),
                label: s.label.clone(),
                ..Default::default()
            },
        );
    }
    let mut totals = BTreeMap::new();
    for kind in Kind::ALL {
        let q = Query {
            kind: Some(kind),
            ..Default::default()
        };
        let mut total = 0;
        for c in store.count(&q, GroupBy::Sector)? {
            total += c.count;
            let row = sectors
                .entry(c.key.clone())
                .or_insert_with(|| SectorCounts {
                    sector: c.key.clone(),
                    label: "(no sector)".into(),
                    ..Default::default()
                });
            row.counts.insert(kind.code().into(), c.count);
        }
        totals.insert(kind.code().to_string(), total);
    }
    // Sectors in the team's order, then records filed under none.
    let mut by_sector: Vec<SectorCounts> = cfg
        .sectors
        .iter()
        .filter_map(|s| sectors.remove(&s.code))
        .collect();
    by_sector.extend(sectors.into_values());

    let open_reports = store
        .open_reports(None)?
        .into_iter()
        .filter_map(|o| match o.report {
            Record::Report(r) => Some(OpenRow {
                id: r.header.id,
                category: r.category,
                sector: r.sector,
                place: r.place,
                status: r.status.code().into(),
                body: r.body,
                urgent: r.urgent,
                age_days: o.age_days,
            }),
            _ => None,
        })
        .collect();

    let (mut met_known, mut met_new) = (0, 0);
    let acts = store.list(&Query {
        kind: Some(Kind::Activity),
        limit: Some(1000),
        ..Default::default()
    })?;
    for r in &acts.items {
        if let Record::Activity(a) = r {
            met_known += a.met_known.unwrap_or(0);
            met_new += a.met_new.unwrap_or(0);
        }
    }

    let details = store.details(day.shared)?;
    let Record::Report(shared) = &details.record else {
        return Err(crate::error::CliError::Demo(
            "the shared record is not a report".into(),
        ));
    };
    let view = serde_json::to_value(&details.record).unwrap_or(Value::Null);
    let shown = details
        .conflicts
        .iter()
        .map(|c| (c.field.clone(), view[c.field.as_str()].clone()))
        .collect();
    let both_texts_kept = day
        .edits
        .iter()
        .all(|e| shared.text.contains(e.added.trim()));
    Ok(Picture {
        by_sector,
        totals,
        open_reports,
        met_known,
        met_new,
        shared: SharedOutcome {
            id: day.shared,
            edits: day.edits.clone(),
            conflicts: details.conflicts.clone(),
            shown,
            text_before: day.shared_text_before.clone(),
            text: shared.text.clone(),
            both_texts_kept,
            status: shared.status.code().into(),
            body: shared.body.clone(),
        },
    })
}
