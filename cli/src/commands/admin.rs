//! `carnet admin code|devices|revoke|wipe`: what a supervisor does for the
//! team's devices — a code for a new phone, and cutting off a lost one.

use std::path::Path;

use carnet_core::Store;
use carnet_core::sync::admin::{Admin, Device};
use serde_json::json;

use crate::error::Result;
use crate::output::{Output, time};
use crate::{AdminCmd, device};

fn line(d: &Device) -> String {
    let state = if d.wipe_ordered_at.is_some() {
        "wipe ordered"
    } else if d.revoked_at.is_some() {
        // Unseen for months: lapsed on its own, not cut off by anyone.
        match d.revoked_reason.as_deref() {
            Some("inactive") => "revoked (inactive)",
            _ => "revoked",
        }
    } else {
        "active"
    };
    format!(
        "{}  {:<10} {:<18} enrolled {}  last seen {}  {}",
        d.id,
        d.role,
        state,
        d.enrolled_at.map(time).unwrap_or_else(|| "-".into()),
        d.last_seen.map(time).unwrap_or_else(|| "never".into()),
        d.name.as_deref().unwrap_or("")
    )
}

pub fn run(store: &Store, cmd: &AdminCmd, ca_cert: Option<&Path>) -> Result<Output> {
    let e = device::enrolled(store)?;
    let admin = Admin::trusting(&e.server, &e.token, &super::roots(ca_cert)?)?;
    Ok(match cmd {
        AdminCmd::Code { role, name } => {
            let code = admin.issue_code(*role, name.as_deref())?;
            Output::new(
                json!({ "code": code, "role": role }),
                format!(
                    "enrollment code for a {role} device: {code}\n(single use, valid 24 h: `carnet --store DIR init --server {} --code {code}`)",
                    e.server
                ),
            )
        }
        AdminCmd::Devices => {
            let devices = admin.devices()?;
            let text: String = devices.iter().map(|d| line(d) + "\n").collect();
            Output::new(json!({ "devices": devices }), text)
        }
        AdminCmd::Revoke { device } => {
            let d = admin.revoke(device)?;
            Output::new(json!(d), format!("revoked: {}", line(&d)))
        }
        AdminCmd::Wipe { device } => {
            let d = admin.wipe(device)?;
            Output::new(
                json!(d),
                format!(
                    "wipe ordered: {}\nthe device erases its store at its next contact",
                    line(&d)
                ),
            )
        }
    })
}
