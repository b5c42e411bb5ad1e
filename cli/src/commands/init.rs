//! `carnet init`: creates the store and its key, and enrolls the device.
//!
//! The enrollment code is exchanged first, so that a wrong or expired code
//! leaves nothing behind; only then are the key, the store and the settings
//! written. Without `--server` the store is local only, until a later
//! `init --server … --code …` enrolls it (re-running init keeps the records
//! and the key, e.g. after a revoked device was given a new code).

use std::path::Path;

use carnet_core::sync::client::Client;
use serde_json::json;

use crate::InitArgs;
use crate::device::{self, DEVICE_ID, ROLE, SERVER, TEAM_ID, TOKEN};
use crate::error::Result;
use crate::key::Source;
use crate::output::Output;

pub fn run(dir: &Path, a: &InitArgs) -> Result<Output> {
    let name = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let enrollment = match (&a.server, &a.code) {
        (Some(server), Some(code)) => {
            let client = Client::new(server)?;
            Some((
                server.trim().trim_end_matches('/').to_string(),
                client.enroll(code, name.unwrap_or("carnet (ligne de commande)"))?,
            ))
        }
        _ => None,
    };
    let (store, source) = device::open_or_create(dir)?;
    if let Some(n) = name {
        store.set_author(n)?;
    }
    let mut text = format!("store ready in {}\n", dir.display());
    text.push_str(&match &source {
        Source::Env => {
            "key: from CARNET_KEY (keep it: the store cannot be opened without it)\n".into()
        }
        Source::File(p) => format!(
            "key: {} (readable by you only; back it up, never share it)\n",
            p.display()
        ),
    });
    let mut v = json!({
        "store": dir,
        "db": device::db_path(dir),
        "key_source": match &source { Source::Env => "env", Source::File(_) => "file" },
        "author": store.author(),
        "enrolled": false,
    });
    if let Some((server, e)) = enrollment {
        store.set_config(&e.config)?;
        for (k, val) in [
            (SERVER, server.as_str()),
            (TOKEN, e.token.as_str()),
            (DEVICE_ID, e.device_id.as_str()),
            (TEAM_ID, e.team_id.as_str()),
            (ROLE, e.role.as_str()),
        ] {
            store.set_setting(k, Some(val))?;
        }
        text.push_str(&format!(
            "enrolled with {server} as a {} device of team \"{}\" (device {})\nnext: record something, then `carnet --store {} sync`\n",
            e.role,
            e.config.name,
            e.device_id,
            dir.display()
        ));
        v["enrolled"] = json!(true);
        v["server"] = json!(server);
        v["device_id"] = json!(e.device_id);
        v["team_id"] = json!(e.team_id);
        v["role"] = json!(e.role);
        v["team"] = json!(e.config.name);
    } else {
        text.push_str("local only: enroll later with `init --server URL --code CODE`\n");
    }
    Ok(Output::new(v, text))
}
