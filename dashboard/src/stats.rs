//! The numbers behind the pages and the funders' report: time to fix, and
//! the activity report as sections of plain cells that the HTML page, the
//! XLSX workbook and the CSV file all render. The report carries counts and
//! partner names only: no resident's personal data can reach it.

use std::collections::BTreeMap;

use crate::TeamReads;
use carnet_core::Kind;
use carnet_core::store::{GroupBy, Query};

use crate::DashboardError;
use crate::labels::Labels;
use crate::period::Period;
use carnet_core::store::Fix;

/// Median and 90th percentile of `values` (days). Median of an even count is
/// the mean of the two middle values; the 90th percentile is the nearest
/// rank, so it is always a time that was actually observed.
pub fn quantiles(values: &mut [f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if !n.is_multiple_of(2) {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
    Some((median, values[rank - 1]))
}

/// Time to fix of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct FixGroup {
    /// Group label.
    pub label: String,
    /// Reports fixed.
    pub n: usize,
    /// Median, days.
    pub median: f64,
    /// 90th percentile, days.
    pub p90: f64,
}

fn fix_days(f: &Fix) -> f64 {
    (f.fixed_at - f.created_at).max(0) as f64 / 86_400_000.0
}

/// Groups fixes by `key` (labelled), largest groups first.
pub fn fix_groups(fixes: &[Fix], key: impl Fn(&Fix) -> String) -> Vec<FixGroup> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for f in fixes {
        groups.entry(key(f)).or_default().push(fix_days(f));
    }
    let mut out: Vec<FixGroup> = groups
        .into_iter()
        .filter_map(|(label, mut v)| {
            quantiles(&mut v).map(|(median, p90)| FixGroup {
                label,
                n: v.len(),
                median,
                p90,
            })
        })
        .collect();
    out.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.label.cmp(&b.label)));
    out
}

/// All fixes together.
pub fn fix_overall(fixes: &[Fix]) -> Option<FixGroup> {
    let mut v: Vec<f64> = fixes.iter().map(fix_days).collect();
    quantiles(&mut v).map(|(median, p90)| FixGroup {
        label: "Ensemble".into(),
        n: v.len(),
        median,
        p90,
    })
}

/// A cell of a report table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(u64),
    /// A number of days (one decimal), or none when nothing was measured.
    Days(Option<f64>),
}

/// One section of the funders' report: one table, one XLSX sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Heading on the page.
    pub title: &'static str,
    /// Sheet name (at most 31 characters).
    pub sheet: &'static str,
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

/// The funders' activity report for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct FundersReport {
    /// The team's name.
    pub team: String,
    /// The period covered.
    pub period: Period,
    /// Synthèse, axes, secteurs, types d'activité, orientations, dégradations.
    pub sections: Vec<Section>,
}

fn counts(
    store: &dyn TeamReads,
    q: &Query,
    by: GroupBy,
) -> Result<BTreeMap<String, u64>, DashboardError> {
    Ok(store
        .count(q, by)?
        .into_iter()
        .map(|c| (c.key, c.count))
        .collect())
}

fn in_period(kind: Kind, p: &Period) -> Query {
    Query {
        kind: Some(kind),
        since: Some(p.since),
        until: Some(p.until),
        ..Default::default()
    }
}

/// Builds the report: counts through the store's public queries, sums and
/// times through the core's aggregates (`carnet_core::store`).
pub fn funders_report(store: &dyn TeamReads, p: &Period) -> Result<FundersReport, DashboardError> {
    let cfg = store.config()?;
    let l = Labels(&cfg);
    let acts = store.activity_rows(p.since, p.until)?;
    let fixes = store.fixes(p.since, p.until)?;
    let forwarded = store.forwarded_count(p.since, p.until)?;
    let notes_met = store.residents_met_on_notes(p.since, p.until)?;
    let partners = store.referrals_by_partner(p.since, p.until)?;
    let new_contacts: u64 = store
        .count(&in_period(Kind::Contact, p), GroupBy::Kind)?
        .iter()
        .map(|c| c.count)
        .sum();
    let reported: u64 = store
        .count(&in_period(Kind::Report, p), GroupBy::Kind)?
        .iter()
        .map(|c| c.count)
        .sum();

    let known: i64 = acts.iter().map(|a| a.met_known).sum();
    let new: i64 = acts.iter().map(|a| a.met_new).sum();
    let act_referrals: i64 = acts.iter().map(|a| a.referrals).sum();
    let log_referrals: u64 = partners.iter().map(|(_, n)| n).sum();
    let aller_vers = acts
        .iter()
        .filter(|a| a.activity_type == "aller_vers")
        .count() as u64;
    let median = fix_overall(&fixes).map(|g| g.median);
    let u = |n: i64| Cell::Int(n.max(0) as u64);
    let row = |label: &str, c: Cell| vec![Cell::Text(label.into()), c];

    let synthese = Section {
        title: "Synthèse",
        sheet: "Synthèse",
        headers: vec!["Indicateur", "Valeur"],
        rows: vec![
            row("Période", Cell::Text(p.label())),
            row("Activités menées", Cell::Int(acts.len() as u64)),
            row("dont sessions « aller vers »", Cell::Int(aller_vers)),
            row("Habitants rencontrés lors des activités", u(known + new)),
            row("dont déjà connus", u(known)),
            row("dont nouveaux (jusque-là inconnus)", u(new)),
            row(
                "Habitants rencontrés lors des observations de terrain",
                Cell::Int(notes_met),
            ),
            row("Nouveaux contacts d'habitants", Cell::Int(new_contacts)),
            row(
                "Orientations vers des partenaires (activités)",
                u(act_referrals),
            ),
            row(
                "Orientations vers des partenaires (suivis individuels)",
                Cell::Int(log_referrals),
            ),
            row("Dégradations signalées", Cell::Int(reported)),
            row(
                "Dégradations transmises aux services compétents",
                Cell::Int(forwarded),
            ),
            row("Dégradations résolues", Cell::Int(fixes.len() as u64)),
            row("Délai médian de résolution (jours)", Cell::Days(median)),
        ],
    };

    let per_kind = |by: GroupBy| -> Result<[BTreeMap<String, u64>; 3], DashboardError> {
        Ok([
            counts(store, &in_period(Kind::Activity, p), by)?,
            counts(store, &in_period(Kind::Note, p), by)?,
            counts(store, &in_period(Kind::Report, p), by)?,
        ])
    };
    let by_axis = store.axes_by_kind(p.since, p.until)?;
    let axis_of = |kind: &str| -> BTreeMap<String, u64> {
        by_axis
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|((_, a), n)| (a.clone(), *n))
            .collect()
    };
    let (a_axis, n_axis, r_axis) = (axis_of("activity"), axis_of("note"), axis_of("report"));
    let mut axes_rows = Vec::new();
    for (code, label) in l.axes() {
        let (a, n, r) = (
            a_axis.get(&code).copied().unwrap_or(0),
            n_axis.get(&code).copied().unwrap_or(0),
            r_axis.get(&code).copied().unwrap_or(0),
        );
        axes_rows.push(vec![
            Cell::Text(label),
            Cell::Int(a),
            Cell::Int(n),
            Cell::Int(r),
            Cell::Int(a + n + r),
        ]);
    }
    let axes = Section {
        title: "Par axe de mission",
        sheet: "Axes de mission",
        headers: vec!["Axe", "Activités", "Observations", "Signalements", "Total"],
        rows: axes_rows,
    };

    let [a_sec, n_sec, r_sec] = per_kind(GroupBy::Sector)?;
    let mut met_by_sector: BTreeMap<&str, i64> = BTreeMap::new();
    for a in &acts {
        *met_by_sector.entry(a.sector.as_str()).or_default() += a.met_known + a.met_new;
    }
    let mut sector_codes: Vec<String> = l.sectors().into_iter().map(|(c, _)| c).collect();
    for k in a_sec.keys().chain(n_sec.keys()).chain(r_sec.keys()) {
        if !sector_codes.contains(k) {
            sector_codes.push(k.clone());
        }
    }
    let sectors = Section {
        title: "Par secteur",
        sheet: "Secteurs",
        headers: vec![
            "Secteur",
            "Activités",
            "Observations",
            "Signalements",
            "Habitants rencontrés (activités)",
        ],
        rows: sector_codes
            .iter()
            .map(|c| {
                let g = |m: &BTreeMap<String, u64>| Cell::Int(m.get(c).copied().unwrap_or(0));
                vec![
                    Cell::Text(l.sector(c)),
                    g(&a_sec),
                    g(&n_sec),
                    g(&r_sec),
                    u(met_by_sector.get(c.as_str()).copied().unwrap_or(0)),
                ]
            })
            .collect(),
    };

    let types = Section {
        title: "Par type d'activité",
        sheet: "Types d'activité",
        headers: vec![
            "Type d'activité",
            "Nombre",
            "Habitants déjà connus",
            "Habitants nouveaux",
            "Orientations",
        ],
        rows: carnet_core::schema::ACTIVITY_TYPES
            .iter()
            .map(|(code, label)| {
                let of: Vec<_> = acts.iter().filter(|a| a.activity_type == *code).collect();
                vec![
                    Cell::Text(label.to_string()),
                    Cell::Int(of.len() as u64),
                    u(of.iter().map(|a| a.met_known).sum()),
                    u(of.iter().map(|a| a.met_new).sum()),
                    u(of.iter().map(|a| a.referrals).sum()),
                ]
            })
            .collect(),
    };

    let mut ref_rows: Vec<Vec<Cell>> = partners
        .iter()
        .map(|(name, n)| vec![Cell::Text(name.clone()), Cell::Int(*n)])
        .collect();
    ref_rows.push(vec![
        Cell::Text("Orientations notées sur les activités (sans partenaire précisé)".into()),
        u(act_referrals),
    ]);
    let referrals = Section {
        title: "Orientations vers les partenaires",
        sheet: "Orientations",
        headers: vec!["Partenaire", "Orientations"],
        rows: ref_rows,
    };

    let r_by_sector = r_sec;
    let fix_by_sector = fix_groups(&fixes, |f| f.sector.clone());
    let mut deg_rows = Vec::new();
    for c in &sector_codes {
        let g = fix_by_sector.iter().find(|g| &g.label == c);
        deg_rows.push(vec![
            Cell::Text(l.sector(c)),
            Cell::Int(r_by_sector.get(c).copied().unwrap_or(0)),
            Cell::Int(g.map(|g| g.n as u64).unwrap_or(0)),
            Cell::Days(g.map(|g| g.median)),
            Cell::Days(g.map(|g| g.p90)),
        ]);
    }
    let overall = fix_overall(&fixes);
    deg_rows.push(vec![
        Cell::Text("Ensemble".into()),
        Cell::Int(reported),
        Cell::Int(fixes.len() as u64),
        Cell::Days(overall.as_ref().map(|g| g.median)),
        Cell::Days(overall.as_ref().map(|g| g.p90)),
    ]);
    let degradations = Section {
        title: "Dégradations",
        sheet: "Dégradations",
        headers: vec![
            "Secteur",
            "Signalées",
            "Résolues",
            "Délai médian (jours)",
            "Délai 90e centile (jours)",
        ],
        rows: deg_rows,
    };

    Ok(FundersReport {
        team: cfg.name.clone(),
        period: *p,
        sections: vec![synthese, axes, sectors, types, referrals, degradations],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_follow_their_definitions() {
        assert_eq!(quantiles(&mut []), None);
        assert_eq!(quantiles(&mut [5.0]), Some((5.0, 5.0)));
        assert_eq!(quantiles(&mut [4.0, 1.0, 3.0, 2.0]), Some((2.5, 4.0)));
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantiles(&mut v), Some((5.5, 9.0)));
        let mut v: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(quantiles(&mut v), Some((6.0, 10.0)));
    }
}
