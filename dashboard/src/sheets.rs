//! Downloads: the funders' report and the exports as XLSX (one sheet per
//! section), CSV and JSON.
//!
//! CSV goes through the product's one writer (`carnet_core::csv`), laid out
//! the way French spreadsheet software opens it without an import dialog
//! (`;` separators, a UTF-8 byte-order mark), with every text cell that
//! starts like a formula neutralised: a place typed as `=HYPERLINK(…)` in
//! the field never runs on a supervisor's computer.

use carnet_core::Record;
use carnet_core::csv::{CsvWriter, Dialect};
use carnet_core::model::{Activity, Contact, Note, Report};
use rust_xlsxwriter::{Format, Workbook, Worksheet};
use serde_json::Value;

use crate::DashboardError;
use crate::html::{date, datetime};
use crate::labels::{self, Labels};
use crate::stats::{Cell, FundersReport, Section};

/// A table to write: headers and rows.
pub struct Table {
    /// Sheet name.
    pub sheet: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

impl From<&Section> for Table {
    fn from(s: &Section) -> Self {
        Table {
            sheet: s.sheet.into(),
            headers: s.headers.iter().map(|h| h.to_string()).collect(),
            rows: s.rows.clone(),
        }
    }
}

/// A cell as text, for CSV and HTML (days with a French comma).
pub fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Days(Some(d)) => crate::html::days(*d),
        Cell::Days(None) => "—".into(),
    }
}

fn write_sheet(
    ws: &mut Worksheet,
    t: &Table,
    bold: &Format,
    days: &Format,
) -> Result<(), DashboardError> {
    ws.set_name(&t.sheet)?;
    let mut widths: Vec<usize> = t.headers.iter().map(|h| h.chars().count()).collect();
    for (c, h) in t.headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, bold)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let col = c as u16;
            match cell {
                Cell::Text(s) => {
                    ws.write_string(r, col, s)?;
                }
                Cell::Int(n) => {
                    ws.write_number(r, col, *n as f64)?;
                }
                Cell::Days(Some(d)) => {
                    ws.write_number_with_format(r, col, (d * 10.0).round() / 10.0, days)?;
                }
                Cell::Days(None) => {}
            }
            if let Some(w) = widths.get_mut(c) {
                *w = (*w).max(cell_text(cell).chars().count().min(60));
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, (*w as f64 + 2.0).min(62.0))?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// A workbook with one sheet per table.
pub fn xlsx(tables: &[Table]) -> Result<Vec<u8>, DashboardError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_background_color("E9EDF2");
    let days = Format::new().set_num_format("0.0");
    for t in tables {
        let ws = wb.add_worksheet();
        write_sheet(ws, t, &bold, &days)?;
    }
    Ok(wb.save_to_buffer()?)
}

/// A cell as the one CSV writer takes it: counts stay numbers, everything
/// else is text (and neutralised if it starts like a formula).
fn csv_cell(c: &Cell) -> carnet_core::csv::Cell<'static> {
    match c {
        Cell::Int(n) => carnet_core::csv::Cell::UInt(*n),
        other => carnet_core::csv::Cell::from(cell_text(other)),
    }
}

/// A CSV download, laid out for French spreadsheet software.
pub fn csv_writer() -> CsvWriter {
    CsvWriter::new(Dialect::Spreadsheet)
}

/// One table as CSV.
pub fn csv_table(t: &Table) -> Result<Vec<u8>, DashboardError> {
    let mut w = csv_writer();
    w.write_row(&t.headers)?;
    for row in &t.rows {
        w.write_row(row.iter().map(csv_cell))?;
    }
    Ok(w.finish()?)
}

/// The funders' report as one CSV in long form (section; line; column;
/// value), so every section fits one file and one pivot table.
pub fn report_csv(r: &FundersReport) -> Result<Vec<u8>, DashboardError> {
    let mut w = csv_writer();
    w.write_row(["Section", "Ligne", "Colonne", "Valeur"])?;
    for s in &r.sections {
        for row in &s.rows {
            let line = row.first().map(cell_text).unwrap_or_default();
            for (h, c) in s.headers.iter().zip(row).skip(1) {
                w.write_row([
                    carnet_core::csv::Cell::from(s.title),
                    line.as_str().into(),
                    (*h).into(),
                    csv_cell(c),
                ])?;
            }
        }
    }
    Ok(w.finish()?)
}

/// The funders' report as a workbook, one sheet per section.
pub fn report_xlsx(r: &FundersReport) -> Result<Vec<u8>, DashboardError> {
    let tables: Vec<Table> = r.sections.iter().map(Table::from).collect();
    xlsx(&tables)
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt_t(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_default())
}

fn opt_time(ms: Option<i64>) -> Cell {
    Cell::Text(ms.map(datetime).unwrap_or_default())
}

fn opt_n(n: Option<i64>) -> Cell {
    match n {
        Some(n) => Cell::Int(n.max(0) as u64),
        None => Cell::Text(String::new()),
    }
}

/// Columns of the merged-log export (notes, reports, activities).
pub const LOG_HEADERS: [&str; 25] = [
    "Identifiant",
    "Type",
    "Auteur",
    "Créé le",
    "Modifié le",
    "Date",
    "Secteur",
    "Quartier",
    "Lieu",
    "Axes",
    "Catégorie",
    "Statut",
    "Organisme responsable",
    "Urgent",
    "Type d'activité",
    "Fin",
    "Habitants rencontrés",
    "Habitants connus",
    "Habitants nouveaux",
    "Orientations",
    "Thèmes",
    "Partenaires",
    "Étiquettes",
    "Texte",
    "Contacts liés (nombre)",
];

/// A note, report or activity as a row of the merged-log export. Linked
/// residents appear as a count only.
pub fn log_row(rec: &Record, l: &Labels<'_>) -> Vec<Cell> {
    let h = rec.header();
    let mut row = vec![
        t(h.id.to_string()),
        t(labels::kind(kind_of(rec))),
        t(h.author.clone()),
        t(datetime(h.created_at)),
        t(datetime(h.updated_at)),
    ];
    let axes = |a: &[String]| t(a.iter().map(|x| l.axis(x)).collect::<Vec<_>>().join(", "));
    let q = |x: &Option<String>| t(x.as_deref().map(|q| l.quartier(q)).unwrap_or_default());
    let blank = || t("");
    match rec {
        Record::Note(Note {
            observed_at,
            sector,
            quartier,
            place,
            axes: ax,
            residents_met,
            tags,
            text,
            contacts,
            ..
        }) => row.extend([
            opt_time(*observed_at),
            t(l.sector(sector)),
            q(quartier),
            opt_t(place),
            axes(ax),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            opt_n(*residents_met),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            t(tags.join(", ")),
            t(text.clone()),
            Cell::Int(contacts.len() as u64),
        ]),
        Record::Report(Report {
            header,
            sector,
            quartier,
            place,
            axes: ax,
            category,
            status,
            body,
            urgent,
            text,
            contacts,
            ..
        }) => row.extend([
            t(datetime(header.created_at)),
            t(l.sector(sector)),
            q(quartier),
            t(place.clone()),
            axes(ax),
            t(l.category(category)),
            t(labels::status(*status)),
            t(body.as_deref().map(|b| l.body(b)).unwrap_or_default()),
            t(if *urgent { "oui" } else { "non" }),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            t(text.clone()),
            Cell::Int(contacts.len() as u64),
        ]),
        Record::Activity(Activity {
            started_at,
            ended_at,
            sector,
            quartier,
            place,
            axes: ax,
            activity_type,
            met_known,
            met_new,
            referrals,
            topics,
            partners,
            text,
            contacts,
            ..
        }) => row.extend([
            opt_time(*started_at),
            t(l.sector(sector)),
            q(quartier),
            opt_t(place),
            axes(ax),
            blank(),
            blank(),
            blank(),
            blank(),
            t(carnet_core::schema::activity_type_label(activity_type)),
            opt_time(*ended_at),
            Cell::Int((met_known.unwrap_or(0) + met_new.unwrap_or(0)).max(0) as u64),
            opt_n(*met_known),
            opt_n(*met_new),
            opt_n(*referrals),
            t(topics.join(", ")),
            t(partners.join(", ")),
            blank(),
            t(text.clone()),
            Cell::Int(contacts.len() as u64),
        ]),
        Record::Contact(_) => row.clear(),
    }
    row
}

/// Columns of the contacts export.
pub const CONTACT_HEADERS: [&str; 18] = [
    "Identifiant",
    "Nom",
    "Foyer",
    "Adresse",
    "Bâtiment",
    "Appartement",
    "Téléphone",
    "Langues",
    "Bailleur",
    "Secteur",
    "Thèmes",
    "Consentements",
    "Visite nouveau locataire",
    "Échanges (nombre)",
    "Orientations",
    "Auteur",
    "Créé le",
    "Modifié le",
];

/// A resident's contact as a row of the contacts export.
pub fn contact_row(c: &Contact, l: &Labels<'_>) -> Vec<Cell> {
    let referrals: Vec<&str> = c
        .interactions
        .iter()
        .filter_map(|i| i.referral.as_deref())
        .collect();
    vec![
        t(c.header.id.to_string()),
        t(c.name.clone()),
        opt_t(&c.household),
        opt_t(&c.address),
        opt_t(&c.building),
        opt_t(&c.flat),
        opt_t(&c.phone),
        t(c.languages.join(", ")),
        t(c.landlord.as_deref().map(|b| l.body(b)).unwrap_or_default()),
        t(c.sector.as_deref().map(|s| l.sector(s)).unwrap_or_default()),
        t(c.topics.join(", ")),
        t(c.consents
            .iter()
            .map(|x| format!("{} ({})", x.topic, date(x.at)))
            .collect::<Vec<_>>()
            .join(", ")),
        t(if c.new_tenant_visit { "oui" } else { "non" }),
        Cell::Int(c.interactions.len() as u64),
        t(referrals.join(", ")),
        t(c.header.author.clone()),
        t(datetime(c.header.created_at)),
        t(datetime(c.header.updated_at)),
    ]
}

fn kind_of(r: &Record) -> carnet_core::Kind {
    match r {
        Record::Note(_) => carnet_core::Kind::Note,
        Record::Report(_) => carnet_core::Kind::Report,
        Record::Contact(_) => carnet_core::Kind::Contact,
        Record::Activity(_) => carnet_core::Kind::Activity,
    }
}

/// Records as a JSON array (codes, not labels: for other software). Notes,
/// reports and activities lose their links to residents: the merged-log
/// export carries no resident, not even by id.
pub fn json(records: &[Record], keep_links: bool) -> Result<Vec<u8>, DashboardError> {
    let mut out = Vec::with_capacity(records.len() * 512);
    out.push(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        let mut v = serde_json::to_value(r).map_err(|e| DashboardError::Internal(e.to_string()))?;
        if !keep_links && let Some(m) = v.as_object_mut() {
            let n = m
                .remove("contacts")
                .and_then(|c| c.as_array().map(Vec::len))
                .unwrap_or(0);
            m.insert("contacts_count".into(), Value::from(n));
        }
        serde_json::to_writer(&mut out, &v).map_err(|e| DashboardError::Internal(e.to_string()))?;
    }
    out.push(b']');
    Ok(out)
}
