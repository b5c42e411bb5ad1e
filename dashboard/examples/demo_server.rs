//! A dashboard server over a demo team, for the browser test
//! (`scripts/test-dashboard-e2e`) and for looking at the pages by hand.
//!
//! `cargo run -p carnet-dashboard --example demo_server -- DATA_DIR PORT`
//! A device store records the demo team's week and syncs it into the team's
//! store, as a phone would; the supervisor signs in with the seeded
//! account (`testing::DEMO_EMAIL`, `testing::DEMO_PASSWORD`); any other
//! password is refused. The demo's expected
//! numbers are written to `DATA_DIR/facts.json` for the XLSX check.

use std::path::PathBuf;
use std::sync::Arc;

use carnet_core::Store;
use carnet_dashboard::DashboardConfig;
use carnet_dashboard::testing::{StaticBackend, demo_records, sync_device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: demo_server DATA_DIR PORT")?);
    let port: u16 = args
        .next()
        .ok_or("usage: demo_server DATA_DIR PORT")?
        .parse()?;
    std::fs::create_dir_all(&dir)?;
    for f in ["device.db", "team.db", "dashboard.db"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let device = Store::open_unencrypted(dir.join("device.db"))?;
    let facts = demo_records(&device)?;
    let team = Arc::new(Store::open_unencrypted(dir.join("team.db"))?);
    sync_device(&device, &team)?;
    let facts_json = serde_json::json!({
        "open_report": facts.open_report.to_string(),
        "resolved_report": facts.resolved_report.to_string(),
        "activities": facts.activities, "aller_vers": facts.aller_vers, "met_known": facts.met_known, "met_new": facts.met_new,
        "notes_met": facts.notes_met, "new_contacts": facts.new_contacts, "activity_referrals": facts.activity_referrals,
        "log_referrals": facts.log_referrals, "reported": facts.reported, "forwarded": facts.forwarded, "resolved": facts.resolved,
    });
    std::fs::write(
        dir.join("facts.json"),
        serde_json::to_vec_pretty(&facts_json)?,
    )?;

    // Signs in Claire, account "compte-claire"; the demo device is Awa's.
    let mut backend = StaticBackend::single("demo", team, "Claire");
    backend.names.insert(device.peer_id(), "Awa".to_string());
    // Secure cookies, as in production: the browser test shows that a
    // browser keeps them from http://127.0.0.1 (a trustworthy origin).
    let config = DashboardConfig::new(dir.clone());
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let app = carnet_dashboard::router(Arc::new(backend), config)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("demo dashboard on http://127.0.0.1:{port}/dashboard/");
        axum::serve(listener, app).await?;
        Ok(())
    })
}
