//! `carnet init`: creates the store and its key, and enrolls the device.
//!
//! The store is opened (or created) first, because enrollment binds the
//! device to the store's automerge actor (`Store::peer_id`), so that the
//! server can tell which device wrote each change. If the code is then
//! refused, whatever this very command created (the directory, the key file,
//! the database) is removed again: a wrong or expired code leaves nothing
//! behind. Without `--server` the store is local only, until a later
//! `init --server … --code …` enrolls it (re-running init keeps the records
//! and the key, e.g. after a revoked device was given a new code).

use std::path::{Path, PathBuf};

use carnet_core::sync::client::Client;
use serde_json::json;

use crate::InitArgs;
use crate::device;
use crate::error::Result;
use crate::key::{self, Source};
use crate::output::Output;

pub fn run(dir: &Path, a: &InitArgs, ca_cert: Option<&Path>) -> Result<Output> {
    let name = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    // A malformed address or CA file is refused before anything is created.
    let target = match (&a.server, &a.code) {
        (Some(server), Some(code)) => {
            let roots = super::roots(ca_cert)?;
            Client::trusting(server, &roots)?;
            Some((server, code, roots))
        }
        _ => None,
    };
    let created = Created::before(dir);
    let (store, source) = device::open_or_create(dir)?;
    let enrollment = match target {
        Some((server, code, roots)) => {
            let name = name.unwrap_or("carnet (ligne de commande)");
            match carnet_core::sync::enroll(&store, server, &roots, code, name) {
                Ok(e) => Some(e),
                Err(e) => {
                    drop(store);
                    created.undo();
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
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
    if let Some(e) = enrollment {
        let team = store.config().name;
        text.push_str(&format!(
            "enrolled with {} as a {} device of team \"{team}\" (device {})\nnext: record something, then `carnet --store {} sync`\n",
            e.server,
            e.role,
            e.device_id,
            dir.display()
        ));
        v["enrolled"] = json!(true);
        v["server"] = json!(e.server);
        v["device_id"] = json!(e.device_id);
        v["team_id"] = json!(e.team_id);
        v["role"] = json!(e.role);
        v["team"] = json!(team);
    } else {
        text.push_str("local only: enroll later with `init --server URL --code CODE`\n");
    }
    Ok(Output::new(v, text))
}

/// What `init` is about to create, so that a refused enrollment can take it
/// back: the topmost missing directory of the store's path (removed whole),
/// or else the key file and the database files that did not exist yet.
struct Created {
    dir: Option<PathBuf>,
    files: Vec<PathBuf>,
}

impl Created {
    fn before(dir: &Path) -> Created {
        let mut top = None;
        let mut p = Some(dir);
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            top = Some(d.to_path_buf());
            p = d.parent();
        }
        let mut files = Vec::new();
        if top.is_none() {
            let db = device::db_path(dir);
            if !db.exists() {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut f = db.clone().into_os_string();
                    f.push(suffix);
                    files.push(PathBuf::from(f));
                }
            }
            let key = key::file_path(dir);
            if !key.exists() {
                files.push(key);
            }
        }
        Created { dir: top, files }
    }

    /// Removes what was created; best effort (what cannot be removed is
    /// left, and the error the user sees is the enrollment's).
    fn undo(self) {
        if let Some(d) = self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
        for f in self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}
