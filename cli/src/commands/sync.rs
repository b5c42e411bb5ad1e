//! `carnet sync`: pushes this device's work, pulls the team's, and says what
//! merged; then moves photos (this device's up, the team's thumbnails down)
//! and says how many. The progress bar is drawn only when stderr is a
//! terminal (never in scripts or with `--json`); an interrupted sync resumes
//! where it stopped.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use carnet_core::Store;
use carnet_core::sync::client::{Client, Progress};
use carnet_core::sync::{Phase, SyncSummary};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::device;
use crate::error::Result;
use crate::output::Output;

pub fn run(store: &Store, json: bool, ca_cert: Option<&Path>) -> Result<Output> {
    let e = device::enrolled(store)?;
    let client = Client::trusting(&e.server, &super::roots(ca_cert)?)?;
    let bar = bar(json);
    let mut on_progress = |p: &Progress| {
        if let Some(b) = &bar {
            b.set_message(progress_message(p));
        }
    };
    // Cancellation is for apps; here Ctrl-C simply stops the process, which
    // the protocol survives: the next sync resumes from the saved cursors
    // and a photo from the bytes that arrived.
    let cancel = AtomicBool::new(false);
    let result = client.sync(store, &e.token, &mut on_progress, &cancel);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(summary_output(&result?))
}

/// A spinner on stderr, only when it is a terminal and not with `--json`.
pub(super) fn bar(json: bool) -> Option<ProgressBar> {
    (!json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b.set_message("connecting…");
        b
    })
}

/// Where a sync (or a photo's download) stands, on one line.
pub(super) fn progress_message(p: &Progress) -> String {
    match p.phase {
        Phase::Photos => format!(
            "photos: {} of {}, {} of {}",
            p.photos_done,
            p.photos_total,
            bytes(p.photo_bytes_done),
            bytes(p.photo_bytes_total)
        ),
        _ => format!(
            "{}: {} sent, {} received, {}",
            p.phase,
            p.pushed,
            p.pulled,
            bytes(p.bytes)
        ),
    }
}

/// `1234` → `1.2 kB`.
pub(super) fn bytes(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// What the photo phase did, in a line (empty when it moved nothing).
fn photos_text(s: &SyncSummary) -> String {
    let mut parts = Vec::new();
    if s.photos_sent > 0 {
        parts.push(format!("{} sent", s.photos_sent));
    }
    if s.photos_received > 0 {
        parts.push(format!("{} received", s.photos_received));
    }
    if s.thumbnails_received > 0 {
        parts.push(format!("{} thumbnail(s) received", s.thumbnails_received));
    }
    if s.photos_left > 0 {
        parts.push(format!("{} left for the next sync", s.photos_left));
    }
    let mut text = String::new();
    if !parts.is_empty() {
        text = format!(
            "photos: {} ({} sent, {} received)\n",
            parts.join(", "),
            bytes(s.photo_bytes_sent),
            bytes(s.photo_bytes_received)
        );
    }
    if let Some(problem) = &s.photo_problem {
        text.push_str(&format!("the server refused a photo: {problem}\n"));
    }
    text
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
    text.push_str(&photos_text(s));
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
            "photos_sent": s.photos_sent,
            "photos_received": s.photos_received,
            "thumbnails_received": s.thumbnails_received,
            "photo_bytes_sent": s.photo_bytes_sent,
            "photo_bytes_received": s.photo_bytes_received,
            "photos_left": s.photos_left,
            "photo_problem": s.photo_problem,
        }),
        text,
    )
}
