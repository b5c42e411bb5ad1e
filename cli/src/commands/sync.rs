//! `carnet sync`: pushes this device's work, pulls the team's, and says what
//! merged. The progress bar is drawn only when stderr is a terminal (never in
//! scripts or with `--json`); an interrupted sync resumes where it stopped.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use carnet_core::Store;
use carnet_core::sync::SyncSummary;
use carnet_core::sync::client::{Client, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::device;
use crate::error::Result;
use crate::output::Output;

pub fn run(store: &Store, json: bool, ca_cert: Option<&Path>) -> Result<Output> {
    let e = device::enrolled(store)?;
    let client = Client::trusting(&e.server, &super::roots(ca_cert)?)?;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b.set_message("connecting…");
        b
    });
    let mut on_progress = |p: &Progress| {
        if let Some(b) = &bar {
            b.set_message(format!(
                "{}: {} sent, {} received, {}",
                p.phase,
                p.pushed,
                p.pulled,
                bytes(p.bytes)
            ));
        }
    };
    // Cancellation is for apps; here Ctrl-C simply stops the process, which
    // the protocol survives: the next sync resumes from the saved cursors.
    let cancel = AtomicBool::new(false);
    let result = client.sync(store, &e.token, &mut on_progress, &cancel);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(summary_output(&result?))
}

/// `1234` → `1.2 kB`.
fn bytes(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

fn summary_output(s: &SyncSummary) -> Output {
    let mut text = format!(
        "synced: {} pushed, {} pulled{}, {} in {} round trips\n",
        s.pushed,
        s.pulled,
        if s.erased > 0 {
            format!(", {} erased here", s.erased)
        } else {
            String::new()
        },
        bytes(s.bytes_sent + s.bytes_received),
        s.round_trips
    );
    if s.restarted {
        text.push_str(
            "the server was restored from a backup: this device sent it again everything it made here, and read the team's log again\n",
        );
    }
    if s.conflicts.is_empty() {
        text.push_str("no conflicts\n");
    } else {
        text.push_str(&format!(
            "{} record(s) with values written at the same time on two devices:\n",
            s.conflicts.len()
        ));
        for c in &s.conflicts {
            let fields: Vec<&str> = c.conflicts.iter().map(|f| f.field.as_str()).collect();
            text.push_str(&format!(
                "  {}  {}   → carnet show {}\n",
                c.id,
                fields.join(", "),
                c.id
            ));
        }
    }
    Output::new(
        json!({
            "pushed": s.pushed,
            "pulled": s.pulled,
            "erased": s.erased,
            "conflicts": s.conflicts,
            "bytes_sent": s.bytes_sent,
            "bytes_received": s.bytes_received,
            "round_trips": s.round_trips,
            "restarted": s.restarted,
        }),
        text,
    )
}
