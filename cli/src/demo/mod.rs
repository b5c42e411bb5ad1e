//! `carnet demo`: a newcomer's first five minutes.
//!
//! It starts the real server in-process on a free loopback port, enrolls
//! three mediators (and the coordination's supervisor device) each with an
//! encrypted store, plays a day of offline work across the four sectors of
//! Carcassonne — with two mediators editing the same signalement at once —
//! syncs everyone, and prints the merged picture and how to look further.
//! Everything is kept on disk so that the printed commands work afterwards.

mod day;
mod picture;
mod server;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use carnet_core::sync::SyncSummary;
use carnet_core::sync::admin::{Admin, RecordsQuery};
use serde_json::json;

use self::day::Device;
use self::picture::Picture;
use self::server::DemoServer;
use crate::DemoArgs;
use crate::error::{CliError, Result};
use crate::output::{Output, excerpt};

const TEAM: &str = "Régie de quartiers du Carcassonnais";
const MEDIATORS: [&str; 3] = ["amina", "karim", "lucie"];

fn server_err(e: carnet_server::ServerError) -> CliError {
    CliError::Demo(format!("server: {e}"))
}

/// The demo's directory: `--dir` (empty or absent), else a new temporary
/// directory that is kept.
fn prepare_dir(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(d) => {
            let non_empty = std::fs::read_dir(d).is_ok_and(|mut it| it.next().is_some());
            if non_empty {
                return Err(CliError::Usage(format!(
                    "--dir {}: the directory is not empty; give a new or empty one",
                    d.display()
                )));
            }
            crate::key::create_private_dir(d)?;
            Ok(d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
        }
        None => Ok(tempfile::Builder::new()
            .prefix("carnet-demo-")
            .tempdir()
            .map_err(CliError::io("creating a temporary directory"))?
            .keep()),
    }
}

/// One sync of the evening, for the narration.
struct SyncLine {
    who: &'static str,
    summary: SyncSummary,
}

pub fn run(a: &DemoArgs) -> Result<Output> {
    let started = Instant::now();
    let base = prepare_dir(a.dir.as_deref())?;
    let data = base.join("server");

    // The operator's side: a team, a supervisor code, a code per mediator.
    let (team_id, supervisor_code) = carnet_server::init_team(&data, TEAM).map_err(server_err)?;
    let codes = MEDIATORS
        .iter()
        .map(|m| carnet_server::issue_code(&data, &team_id, carnet_server::Role::Mediator, Some(m)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(server_err)?;
    let server = DemoServer::start(&data)?;

    let amina = Device::enroll(&base, MEDIATORS[0], &server.url, &codes[0])?;
    let karim = Device::enroll(&base, MEDIATORS[1], &server.url, &codes[1])?;
    let lucie = Device::enroll(&base, MEDIATORS[2], &server.url, &codes[2])?;
    let coordination = Device::enroll(&base, "coordination", &server.url, &supervisor_code)?;
    let mediators = [&amina, &karim, &lucie];

    // The eve and the morning at the office: the door signalement reaches everyone.
    let (shared, before) = day::eve(&amina)?;
    for m in mediators {
        m.sync()?;
    }
    // The day, offline.
    let day = day::day(&amina, &karim, &lucie, shared, before)?;
    // The evening at the office's Wi-Fi: each syncs as they come back; the
    // first two sync again later and receive what the others brought.
    let mut syncs = Vec::new();
    for m in [&amina, &karim, &lucie, &amina, &karim] {
        syncs.push(SyncLine {
            who: m.name,
            summary: m.sync()?,
        });
    }
    coordination.sync()?;
    let merged =
        Admin::new(&server.url, coordination.token())?.merged_log(&RecordsQuery::default())?;
    let server_records = merged.records.len();
    let port = server.port;
    server.stop()?;

    let snapshots = mediators
        .iter()
        .map(|m| picture::snapshot(&m.store))
        .collect::<Result<Vec<_>>>()?;
    let converged = snapshots.windows(2).all(|w| w[0] == w[1])
        && mediators
            .iter()
            .map(|m| m.store.conflicts(shared).map_err(CliError::from))
            .collect::<Result<Vec<_>>>()?
            .windows(2)
            .all(|w| w[0] == w[1]);
    let pic = picture::build(&karim.store, &day)?;
    let elapsed = started.elapsed();

    let stores: serde_json::Map<String, serde_json::Value> =
        [&amina, &karim, &lucie, &coordination]
            .iter()
            .map(|d| (d.name.to_string(), json!(d.dir)))
            .collect();
    let look = further(&base, &pic, port);
    let v = json!({
        "dir": base,
        "server": { "data_dir": data, "port": port, "team_id": team_id, "records": server_records },
        "stores": stores,
        "syncs": syncs.iter().map(|s| json!({"who": s.who, "pushed": s.summary.pushed, "pulled": s.summary.pulled,
            "conflicts": s.summary.conflicts})).collect::<Vec<_>>(),
        "converged": converged,
        "records_per_store": snapshots.first().map_or(0, Vec::len),
        "picture": pic,
        "commands": look.iter().map(|(c, _)| c).collect::<Vec<_>>(),
        "seconds": elapsed.as_secs_f64(),
    });
    if !converged {
        // Say it loudly, but still show everything: the demo is a diagnostic too.
        tracing::error!("the three stores did not converge");
    }
    let text = render(&RenderInput {
        base: &base,
        day: &day,
        syncs: &syncs,
        pic: &pic,
        converged,
        records: snapshots.first().map_or(0, Vec::len),
        server_records,
        look: &look,
        cfg: &karim.store.config(),
        secs: elapsed.as_secs_f64(),
    });
    if converged {
        Ok(Output::new(v, text))
    } else {
        Err(CliError::Demo(format!(
            "the three stores did not converge; the data is kept in {}",
            base.display()
        )))
    }
}

/// A path as a shell argument.
fn sh(p: &Path) -> String {
    shq(&p.display().to_string())
}

/// A string as a shell argument: as it is when safe, else single-quoted.
fn shq(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The commands to look further, with what each shows.
fn further(base: &Path, pic: &Picture, port: u16) -> Vec<(String, &'static str)> {
    let st = |who: &str| sh(&base.join(who));
    let id = pic.shared.id;
    let place = pic
        .shared
        .edits
        .last()
        .map(|e| e.place.clone())
        .unwrap_or_default();
    vec![
        (
            format!("carnet --store {} show {id}", st("karim")),
            "the signalement edited by two: fields, status history, the conflict, who changed what",
        ),
        (
            format!("carnet --store {} list reports --open", st("amina")),
            "open signalements, as every mediator now sees them",
        ),
        (
            format!("carnet --store {} list activities", st("lucie")),
            "the day's activities (the aller vers at Grazailles…)",
        ),
        (
            format!(
                "carnet --store {} set {id} place {}",
                st("karim"),
                shq(&place)
            ),
            "resolve the conflict by writing the right value (then sync)",
        ),
        (
            format!(
                "carnet-server serve --data {} --listen 127.0.0.1:{port}",
                sh(&base.join("server"))
            ),
            "restart the demo's server (stopped now) to sync again…",
        ),
        (
            format!("carnet --store {} export --format csv", st("coordination")),
            "…and export the team's merged log as a supervisor would",
        ),
    ]
}

struct RenderInput<'a> {
    base: &'a Path,
    day: &'a day::Day,
    syncs: &'a [SyncLine],
    pic: &'a Picture,
    converged: bool,
    records: usize,
    server_records: usize,
    look: &'a [(String, &'static str)],
    cfg: &'a carnet_core::TeamConfig,
    secs: f64,
}

fn render(r: &RenderInput<'_>) -> String {
    let mut s = String::new();
    let pic = r.pic;
    let _ = writeln!(
        s,
        "Carnet demo — a day of the {TEAM} team\n\
         A local server and three mediators' phones (encrypted stores), in {}\n",
        sh(r.base)
    );
    let _ = writeln!(s, "The day, offline (stairwells, car parks, no network):");
    for (who, line) in &r.day.log {
        let _ = writeln!(s, "  {who:<12} {line}");
    }
    let _ = writeln!(s, "\nThe evening sync, back at the office:");
    for l in r.syncs {
        let c = &l.summary.conflicts;
        let _ = writeln!(
            s,
            "  {:<12} sent {:>2} changes, received {:>2}{}",
            l.who,
            l.summary.pushed,
            l.summary.pulled,
            if c.is_empty() {
                String::new()
            } else {
                format!(", conflict on {} record(s)", c.len())
            }
        );
    }
    let _ = writeln!(
        s,
        "  → {}: the three stores hold the same {} records (the server: {}).",
        if r.converged {
            "converged"
        } else {
            "NOT CONVERGED"
        },
        r.records,
        r.server_records
    );

    let _ = writeln!(s, "\nThe merged picture, per sector:");
    let _ = writeln!(
        s,
        "  {:<26} {:>6} {:>13} {:>9} {:>10}",
        "secteur", "notes", "signalements", "contacts", "activités"
    );
    let n = |c: &std::collections::BTreeMap<String, u64>, k: &str| c.get(k).copied().unwrap_or(0);
    for row in &pic.by_sector {
        let _ = writeln!(
            s,
            "  {:<26} {:>6} {:>13} {:>9} {:>10}",
            row.label,
            n(&row.counts, "note"),
            n(&row.counts, "report"),
            n(&row.counts, "contact"),
            n(&row.counts, "activity")
        );
    }
    let _ = writeln!(
        s,
        "  {:<26} {:>6} {:>13} {:>9} {:>10}",
        "total",
        n(&pic.totals, "note"),
        n(&pic.totals, "report"),
        n(&pic.totals, "contact"),
        n(&pic.totals, "activity")
    );
    let _ = writeln!(
        s,
        "  Residents met in activities: {} ({} already known, {} new).",
        pic.met_known + pic.met_new,
        pic.met_known,
        pic.met_new
    );

    let _ = writeln!(s, "\nOpen signalements ({}):", pic.open_reports.len());
    for o in &pic.open_reports {
        let cat = r
            .cfg
            .category(&o.category)
            .map_or(o.category.as_str(), |c| c.label.as_str());
        let age = match o.age_days {
            0 => "today".to_string(),
            d => format!("{d} d"),
        };
        let _ = writeln!(
            s,
            "  {}{:<23} {:<34} {:<12} {:<18} {}",
            if o.urgent { "URGENT " } else { "       " },
            cat,
            excerpt(&o.place, 34),
            o.status,
            o.body
                .as_deref()
                .map(|b| format!("→ {b}"))
                .unwrap_or_default(),
            age
        );
    }

    let sh_ = &pic.shared;
    let _ = writeln!(
        s,
        "\nThe same signalement, edited offline by amina and karim at the same time\n  \
         (Portes et serrures, Viguier — {}):",
        sh_.id
    );
    for e in &sh_.edits {
        let _ = writeln!(
            s,
            "  {:<6} wrote the place \"{}\" and added \"{}\"",
            e.by,
            e.place,
            e.added.trim()
        );
    }
    for c in &sh_.conflicts {
        let shown = sh_.shown.get(&c.field);
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| {
                let text = v.as_str().map_or(v.to_string(), |x| format!("\"{x}\""));
                if Some(v) == shown {
                    format!("{text} (shown in lists for now)")
                } else {
                    text
                }
            })
            .collect();
        let _ = writeln!(
            s,
            "  • {}: the same field, two values → a CONFLICT; both are kept, nothing is overwritten:\n      {}\n    a person decides: `carnet set` writes the right value, on any device",
            c.field,
            values.join("\n      ")
        );
    }
    let _ = writeln!(
        s,
        "  • text: two different additions → merged, both sentences kept{}:\n      \"{}\"",
        if sh_.both_texts_kept {
            ""
        } else {
            " (NOT ALL KEPT)"
        },
        sh_.text
    );
    let _ = writeln!(
        s,
        "  • status: {} to {} (karim's change; nobody else touched it)",
        sh_.status,
        sh_.body.as_deref().unwrap_or("-")
    );

    let _ = writeln!(s, "\nLook further (everything is kept in {}):", sh(r.base));
    for (cmd, what) in r.look {
        let _ = writeln!(s, "  {cmd}\n      {what}");
    }
    if std::env::var(crate::key::ENV).is_ok_and(|v| !v.trim().is_empty()) {
        let _ = writeln!(
            s,
            "  (CARNET_KEY is set: unset it for these commands, the demo stores have their own key files)"
        );
    }
    let _ = writeln!(s, "\nDone in {:.1} s.", r.secs);
    s
}
