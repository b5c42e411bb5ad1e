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

/// The programme the funders' report answers to, printed on every page.
pub const PROGRAMME: &str = "adultes-relais, contrat de ville";

/// Sheets wider than this many columns print in landscape.
const LANDSCAPE_FROM: usize = 7;

/// The cell formats every sheet shares.
struct Formats {
    header: Format,
    days: Format,
    title: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            header: Format::new().set_bold().set_background_color("E9EDF2"),
            days: Format::new().set_num_format("0.0"),
            title: Format::new().set_bold().set_font_size(13),
        }
    }
}

/// How one sheet is laid out for print: the title on each page's header,
/// and the lines above the table that say what it covers (none for the
/// exports, which other software reads from their first row).
struct Print<'a> {
    title: &'a str,
    cover: &'a [String],
    fit_width: bool,
}

/// A page header's text with its `&` codes neutralised.
fn header_text(s: &str) -> String {
    s.replace('&', "&&")
}

fn write_sheet(
    ws: &mut Worksheet,
    t: &Table,
    print: &Print<'_>,
    f: &Formats,
) -> Result<(), DashboardError> {
    ws.set_name(&t.sheet)?;
    for (r, line) in print.cover.iter().enumerate() {
        if r == 0 {
            ws.write_string_with_format(0, 0, line, &f.title)?;
        } else {
            ws.write_string(r as u32, 0, line)?;
        }
    }
    // A blank row between the cover and the table.
    let top = if print.cover.is_empty() {
        0
    } else {
        print.cover.len() as u32 + 1
    };
    let mut widths: Vec<usize> = t.headers.iter().map(|h| h.chars().count()).collect();
    for (c, h) in t.headers.iter().enumerate() {
        ws.write_string_with_format(top, c as u16, h, &f.header)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = top + r as u32 + 1;
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
                    ws.write_number_with_format(r, col, (d * 10.0).round() / 10.0, &f.days)?;
                }
                Cell::Days(None) => {}
            }
            if let Some(w) = widths.get_mut(c) {
                *w = (*w).max(cell_text(cell).chars().count().min(60));
            }
        }
    }
    let mut widths: Vec<f64> = widths.iter().map(|w| (*w as f64 + 2.0).min(62.0)).collect();
    // The cover's lines run over the cells to their right: the table's
    // columns must be at least as wide, or the printed page cuts them.
    let cover = print
        .cover
        .iter()
        .map(|l| l.chars().count() as f64 * 1.15 + 2.0)
        .fold(0.0, f64::max);
    let total: f64 = widths.iter().sum();
    if let Some(last) = widths.last_mut()
        && total < cover
    {
        *last += cover - total;
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    ws.set_freeze_panes(top + 1, 0)?;

    ws.set_paper_size(9); // A4
    if t.headers.len() >= LANDSCAPE_FROM {
        ws.set_landscape();
    }
    if print.fit_width {
        ws.set_print_fit_to_pages(1, 0);
    }
    ws.set_margins(0.6, 0.6, 0.8, 0.8, 0.3, 0.3);
    ws.set_header(format!("&C&\"-,Bold\"{}", header_text(print.title)));
    ws.set_footer("&CPage &P / &N");
    // Every printed page repeats what it covers and the column headers.
    ws.set_repeat_rows(0, top)?;
    Ok(())
}

/// A workbook with one sheet per table, headers on the first row (the
/// exports: other software reads them), printable as they are.
pub fn xlsx(tables: &[Table]) -> Result<Vec<u8>, DashboardError> {
    let mut wb = Workbook::new();
    let f = Formats::new();
    for t in tables {
        let ws = wb.add_worksheet();
        let print = Print {
            title: &t.sheet,
            cover: &[],
            fit_width: false,
        };
        write_sheet(ws, t, &print, &f)?;
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

/// The lines above every sheet of the funders' report: a sheet printed or
/// passed on alone still says whose work it counts, over which period, and
/// for which programme.
pub fn report_cover(r: &FundersReport) -> [String; 3] {
    [
        format!("Rapport d'activité — {}", r.team),
        format!("Période : {}", r.period.long_label()),
        format!("Programme : {PROGRAMME}"),
    ]
}

/// The funders' report as a workbook, one sheet per section, each under
/// the report's cover lines and set to print one page wide.
pub fn report_xlsx(r: &FundersReport) -> Result<Vec<u8>, DashboardError> {
    let mut wb = Workbook::new();
    let f = Formats::new();
    let cover = report_cover(r);
    for s in &r.sections {
        let ws = wb.add_worksheet();
        let print = Print {
            title: s.title,
            cover: &cover,
            fit_width: true,
        };
        write_sheet(ws, &Table::from(s), &print, &f)?;
    }
    Ok(wb.save_to_buffer()?)
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
            .map(|x| format!("{} ({})", x.purpose, date(x.given_at)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::PeriodQuery;
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};

    fn rows(bytes: Vec<u8>, name: &str) -> Vec<Vec<Data>> {
        let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        wb.worksheet_range(name)
            .unwrap()
            .rows()
            .map(|r| r.to_vec())
            .collect()
    }

    #[test]
    fn report_sheets_open_with_team_period_and_programme_and_exports_with_their_headers() {
        let period = PeriodQuery {
            du: Some("2025-01-01".into()),
            au: Some("2025-12-31".into()),
        }
        .resolve()
        .unwrap();
        let report = FundersReport {
            team: "Médiation & Co".into(),
            period,
            sections: vec![Section {
                title: "Synthèse",
                sheet: "Synthèse",
                headers: vec!["Indicateur", "Valeur"],
                rows: vec![vec![t("Activités menées"), Cell::Int(4)]],
            }],
        };
        let s = rows(report_xlsx(&report).unwrap(), "Synthèse");
        let text = |r: usize| s[r][0].to_string();
        assert_eq!(text(0), "Rapport d'activité — Médiation & Co");
        assert_eq!(text(1), "Période : du 1er janvier 2025 au 31 décembre 2025");
        assert_eq!(text(2), "Programme : adultes-relais, contrat de ville");
        assert_eq!(text(4), "Indicateur");
        assert_eq!(
            s[5],
            vec![Data::String("Activités menées".into()), Data::Float(4.0)]
        );

        let export = Table {
            sheet: "Journal".into(),
            headers: LOG_HEADERS.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        };
        let s = rows(xlsx(&[export]).unwrap(), "Journal");
        assert_eq!(s[0][0], Data::String("Identifiant".into()));
    }

    #[test]
    fn page_headers_print_ampersands_as_text() {
        assert_eq!(header_text("Médiation & Co"), "Médiation && Co");
    }
}
