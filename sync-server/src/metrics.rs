//! A handful of counters in Prometheus' text format: enough for an operator
//! to see traffic, errors and sync volume, with no dependency. Labels are
//! route templates and status codes only, never ids or data.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Pushed changes new to the team log.
    pub applied: AtomicU64,
    /// Pushed changes the team log already had.
    pub duplicates: AtomicU64,
    /// Pushed changes refused (their record was erased).
    pub refused: AtomicU64,
    /// Records erased by pushes.
    pub erased: AtomicU64,
    /// Entries sent in pull responses.
    pub pulled: AtomicU64,
    /// Push body bytes received (compressed).
    pub bytes_in: AtomicU64,
    /// Pull body bytes sent (compressed).
    pub bytes_out: AtomicU64,
    /// Devices enrolled.
    pub enrollments: AtomicU64,
    /// Photo bytes received in uploads.
    pub photo_bytes_in: AtomicU64,
    /// Photo bytes sent in downloads.
    pub photo_bytes_out: AtomicU64,
    /// Photo blobs deleted: erased, or collected unreferenced.
    pub photos_deleted: AtomicU64,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn record(&self, route: &str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((route.to_string(), status)).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP carnet_http_requests_total HTTP requests by route template and status.\n",
        );
        out.push_str("# TYPE carnet_http_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "carnet_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "carnet_push_applied_total",
                "Pushed changes new to the team log.",
                &self.applied,
            ),
            (
                "carnet_push_duplicates_total",
                "Pushed changes already in the team log.",
                &self.duplicates,
            ),
            (
                "carnet_push_refused_total",
                "Pushed changes refused because their record was erased.",
                &self.refused,
            ),
            (
                "carnet_push_erased_total",
                "Records erased by pushes.",
                &self.erased,
            ),
            (
                "carnet_pull_entries_total",
                "Entries sent in pull responses.",
                &self.pulled,
            ),
            (
                "carnet_push_bytes_total",
                "Compressed push body bytes received.",
                &self.bytes_in,
            ),
            (
                "carnet_pull_bytes_total",
                "Compressed pull body bytes sent.",
                &self.bytes_out,
            ),
            (
                "carnet_enrollments_total",
                "Devices enrolled.",
                &self.enrollments,
            ),
            (
                "carnet_photo_bytes_received_total",
                "Photo bytes received in uploads.",
                &self.photo_bytes_in,
            ),
            (
                "carnet_photo_bytes_sent_total",
                "Photo bytes sent in downloads.",
                &self.photo_bytes_out,
            ),
            (
                "carnet_photos_deleted_total",
                "Photo blobs deleted (erased, or unreferenced past the grace period).",
                &self.photos_deleted,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Middleware counting every answered request by route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    state.metrics.record(&route, resp.status().as_u16());
    resp
}
