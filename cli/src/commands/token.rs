//! `carnet rotate-token`: swaps the device's token for a new one and saves
//! it in the store, where `init` put the first one (encrypted with the rest).
//! For a token that may have been seen — a shared computer, a backup handed
//! around — without enrolling the device again: the old token stops working
//! at once.

use std::path::Path;

use carnet_core::Store;
use serde_json::json;

use crate::device;
use crate::error::Result;
use crate::output::Output;

pub fn run(store: &Store, ca_cert: Option<&Path>) -> Result<Output> {
    let e = device::enrolled(store)?;
    carnet_core::sync::enroll::rotate_token(store, &super::roots(ca_cert)?)?;
    Ok(Output::new(
        json!({ "rotated": true, "server": e.server }),
        "token rotated: the new one is saved in the store and the old one no longer works",
    ))
}
