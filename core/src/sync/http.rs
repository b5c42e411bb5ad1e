//! What the device's sync client and the supervisor's admin client share:
//! checking the server's address, building the HTTP client, and reading the
//! server's problem documents.

use std::time::Duration;

use serde::Deserialize;

use crate::{Error, Result};

/// Checks and normalises a server address (no trailing slash) and builds an
/// HTTP client for it whose requests give up after `timeout`.
pub(crate) fn connect(
    base: &str,
    timeout: Duration,
) -> Result<(reqwest::blocking::Client, String)> {
    let base = base.trim().trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::invalid(
            "server",
            "expected an address starting with https:// (or http:// on a local network)",
        ));
    }
    let http = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent(concat!("carnet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok((http, base))
}

/// The server's RFC 9457 problem document (`docs/sync-protocol.md`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Problem {
    /// What to fix, for a person.
    #[serde(default)]
    pub(crate) detail: String,
    /// The problem's short description.
    #[serde(default)]
    pub(crate) title: String,
    /// `https://carnet.invalid/problems/<name>`: clients match on the name.
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
}

impl Problem {
    /// The problem of an error response; an empty one if the body is not.
    pub(crate) fn of(resp: reqwest::blocking::Response) -> Problem {
        resp.json().unwrap_or_default()
    }

    /// What to show a person: the detail, or the title when there is none.
    pub(crate) fn explanation(self) -> String {
        if self.detail.is_empty() {
            self.title
        } else {
            self.detail
        }
    }
}
