//! Opens a downloaded funders' report back (calamine) and checks its
//! numbers against the demo's facts: the last step of the browser test.
//!
//! `cargo run -p carnet-dashboard --example xlsx_check -- REPORT.xlsx FACTS.json`

use calamine::{Data, Reader, Xlsx, open_workbook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: xlsx_check REPORT.xlsx FACTS.json")?;
    let facts: serde_json::Value = serde_json::from_slice(&std::fs::read(
        args.next()
            .ok_or("usage: xlsx_check REPORT.xlsx FACTS.json")?,
    )?)?;
    let mut wb: Xlsx<_> = open_workbook(&path)?;
    let sheets = wb.sheet_names();
    let want = [
        "Synthèse",
        "Axes de mission",
        "Secteurs",
        "Types d'activité",
        "Orientations",
        "Dégradations",
    ];
    if sheets != want {
        return Err(format!("sheets {sheets:?}, expected {want:?}").into());
    }
    let all: Vec<Vec<Data>> = wb
        .worksheet_range("Synthèse")?
        .rows()
        .map(|r| r.to_vec())
        .collect();
    // The table starts under its header row, below the report's cover lines.
    let header = all
        .iter()
        .position(|r| r.first() == Some(&Data::String("Indicateur".into())))
        .ok_or("the summary sheet has no « Indicateur » header row")?;
    let rows = &all[header + 1..];
    let value = |label: &str| -> Result<f64, String> {
        let row = rows
            .iter()
            .find(|r| r.first() == Some(&Data::String(label.into())))
            .ok_or(format!("no row « {label} »"))?;
        match row.get(1) {
            Some(Data::Float(f)) => Ok(*f),
            Some(Data::Int(i)) => Ok(*i as f64),
            other => Err(format!("« {label} » is {other:?}")),
        }
    };
    let checks = [
        ("Activités menées", "activities"),
        ("dont sessions « aller vers »", "aller_vers"),
        ("dont déjà connus", "met_known"),
        ("dont nouveaux (jusque-là inconnus)", "met_new"),
        (
            "Habitants rencontrés lors des observations de terrain",
            "notes_met",
        ),
        ("Nouveaux contacts d'habitants", "new_contacts"),
        (
            "Orientations vers des partenaires (activités)",
            "activity_referrals",
        ),
        (
            "Orientations vers des partenaires (suivis individuels)",
            "log_referrals",
        ),
        ("Dégradations signalées", "reported"),
        (
            "Dégradations transmises aux services compétents",
            "forwarded",
        ),
        ("Dégradations résolues", "resolved"),
    ];
    let mut failed = 0;
    for (label, key) in checks {
        let got = value(label)?;
        let want = facts[key]
            .as_f64()
            .ok_or(format!("facts.json lacks {key}"))?;
        let ok = (got - want).abs() < 1e-9;
        println!(
            "{} {label}: {got} (attendu {want})",
            if ok { "ok " } else { "ERR" }
        );
        failed += usize::from(!ok);
    }
    if failed > 0 {
        return Err(format!("{failed} number(s) of the XLSX report are wrong").into());
    }
    println!("xlsx_check: the downloaded report's numbers match the synced records");
    Ok(())
}
