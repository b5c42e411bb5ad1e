//! `carnet show ID`: one record from this store with its status history,
//! conflicts and change history; with `--server`, the team's merged record
//! from the server (supervisors).

use std::path::Path;

use carnet_core::Store;
use carnet_core::store::RecordDetails;
use carnet_core::sync::admin::Admin;

use super::parse_id;
use crate::ShowArgs;
use crate::device;
use crate::error::Result;
use crate::output::{Output, details_text};

pub fn run(store: &Store, a: &ShowArgs, ca_cert: Option<&Path>) -> Result<Output> {
    let id = parse_id(&a.id)?;
    if a.server {
        let e = device::enrolled(store)?;
        // The server answers the same details as the store: shown the same way.
        let d = Admin::trusting(&e.server, &e.token, &super::roots(ca_cert)?)?.record(id)?;
        return output(store, &d);
    }
    output(store, &store.details(id)?)
}

fn output(store: &Store, d: &RecordDetails) -> Result<Output> {
    let json = serde_json::to_value(d).map_err(|e| carnet_core::Error::Internal(e.to_string()))?;
    Ok(Output::new(json, details_text(&store.config(), d)))
}
