//! Prints a funders' report the way a funder would (LibreOffice headless,
//! to PDF), reads the PDF's text back (`pdftotext -layout`) and checks what
//! the paper says: every page names the team, the period and the programme;
//! every sheet is printed; the summary's labels and their values share a
//! line (so they share a page). A step of the browser test, after
//! `xlsx_check`.
//!
//! `cargo run -p carnet-dashboard --example xlsx_print_check -- REPORT.xlsx`
//! (needs `soffice` and `pdftotext` on the PATH).

use std::path::Path;
use std::process::Command;

use calamine::{Data, Reader, Xlsx, open_workbook};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: xlsx_print_check REPORT.xlsx")?;
    let mut wb: Xlsx<_> = open_workbook(&path)?;
    let synthese = rows(&mut wb, "Synthèse")?;
    // The cover: the first three lines of the summary sheet.
    let cover: Vec<String> = synthese
        .iter()
        .take(3)
        .map(|r| r.first().map(|d| d.to_string()).unwrap_or_default())
        .collect();
    let [team, period, programme] = [0, 1, 2].map(|i| cover.get(i).cloned().unwrap_or_default());
    if !team.starts_with("Rapport d'activité — ")
        || !period.starts_with("Période : du ")
        || programme != "Programme : adultes-relais, contrat de ville"
    {
        return Err(format!("the summary sheet does not open with its cover: {cover:?}").into());
    }

    let pages = print(Path::new(&path))?;
    println!("printed: {} page(s)", pages.len());
    let mut failed = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        for line in [&team, &period, &programme] {
            if !page.contains(line.as_str()) {
                failed.push(format!("page {} lacks « {line} »", i + 1));
            }
        }
    }
    // Each sheet prints its section's title in the page header.
    for title in [
        "Synthèse",
        "Par axe de mission",
        "Par secteur",
        "Par type d'activité",
        "Orientations vers les partenaires",
        "Dégradations",
    ] {
        if !pages.iter().any(|p| p.lines().any(|l| l.trim() == title)) {
            failed.push(format!("no page is headed « {title} »"));
        }
    }
    // The summary: one page, each label with its value on its line.
    let summary: Vec<&String> = pages
        .iter()
        .filter(|p| p.lines().any(|l| l.trim() == "Synthèse"))
        .collect();
    if summary.len() != 1 {
        failed.push(format!(
            "the summary prints on {} pages, not one",
            summary.len()
        ));
    }
    let header = synthese
        .iter()
        .position(|r| r.first() == Some(&Data::String("Indicateur".into())))
        .ok_or("the summary sheet has no « Indicateur » header row")?;
    let mut checked = 0;
    for row in &synthese[header + 1..] {
        let (Some(Data::String(label)), Some(value)) = (row.first(), row.get(1)) else {
            continue;
        };
        let on_line = summary.iter().find_map(|p| {
            // The value's column follows the label's after a gap (the
            // cover's "Période : …" line is not the summary's "Période").
            p.lines()
                .filter_map(|l| l.trim_start().strip_prefix(label.as_str()))
                .find(|rest| rest.starts_with("  "))
                .map(|rest| rest.trim().to_string())
        });
        match on_line {
            None => failed.push(format!("« {label} » is not on the summary page")),
            Some(rest) if !same_value(&rest, value) => failed.push(format!(
                "« {label} »: its line shows « {rest} », the sheet holds {value:?}"
            )),
            Some(_) => checked += 1,
        }
    }
    println!("summary: {checked} label(s) printed beside their value");
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("ERR {f}");
        }
        return Err(format!("{} print check(s) failed", failed.len()).into());
    }
    println!(
        "xlsx_print_check: every page says team, period and programme; the summary fits one page"
    );
    Ok(())
}

fn rows(wb: &mut Xlsx<std::io::BufReader<std::fs::File>>, name: &str) -> Res<Vec<Vec<Data>>> {
    Ok(wb
        .worksheet_range(name)?
        .rows()
        .map(|r| r.to_vec())
        .collect())
}

/// Whether the text printed beside a label is the sheet's value (numbers
/// compared as numbers: the print may use a decimal comma).
fn same_value(printed: &str, value: &Data) -> bool {
    match value {
        Data::String(s) => printed == s,
        Data::Float(f) => printed
            .replace(',', ".")
            .parse::<f64>()
            .is_ok_and(|p| (p - f).abs() < 1e-9),
        Data::Int(i) => printed.parse::<i64>().is_ok_and(|p| p == *i),
        _ => false,
    }
}

/// The file printed to PDF by LibreOffice headless, as each page's text.
fn print(xlsx: &Path) -> Res<Vec<String>> {
    let dir = tempfile::tempdir()?;
    // Its own profile: no clash with a LibreOffice already running.
    let profile = format!(
        "-env:UserInstallation=file://{}/profile",
        dir.path().display()
    );
    let status = Command::new("soffice")
        .args([
            profile.as_str(),
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(dir.path())
        .arg(xlsx)
        .status()
        .map_err(|e| format!("soffice: {e} (apt-get install libreoffice-calc-nogui)"))?;
    let stem = xlsx.file_stem().ok_or("the report has no file name")?;
    let pdf = dir.path().join(stem).with_extension("pdf");
    if !status.success() || !pdf.exists() {
        return Err(format!(
            "LibreOffice did not convert {} to PDF ({status})",
            xlsx.display()
        )
        .into());
    }
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .map_err(|e| format!("pdftotext: {e} (apt-get install poppler-utils)"))?;
    if !out.status.success() {
        return Err(format!("pdftotext failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
        .collect())
}
