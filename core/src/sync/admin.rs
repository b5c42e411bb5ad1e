//! Supervisors' calls to the server: the merged log and device management.
//!
//! These are plain request/response calls — no store, no cursors — so they
//! live beside [`super::client::Client`] rather than in it: a supervisor's
//! tool (the `carnet` command line, a future web page) can pull the team's
//! merged log without holding a device store. Blocking, like the sync client:
//! call it off the UI thread and outside an async runtime.
//!
//! Reads are retried with backoff on network failures, 429 and 5xx; errors
//! are the core's [`Error`], whose messages never carry a resident's data.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{ExtraRoots, Failed, call};
use super::retry::{Replay, Retry};
use crate::store::RecordDetails;
use crate::{Error, Kind, Record, RecordId, Result, Role};

/// The merged log's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON document.
    Json,
    /// CSV, for a spreadsheet.
    Csv,
}

impl Format {
    /// The value of the `format` query parameter.
    pub fn code(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

/// Filters of `GET /v1/records`; empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordsQuery {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Sector code.
    pub sector: Option<String>,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Mission axis code.
    pub axis: Option<String>,
    /// Report status code.
    pub status: Option<String>,
    /// Report category code.
    pub category: Option<String>,
    /// From this time (ms since the Unix epoch, inclusive).
    pub since: Option<i64>,
    /// Before this time (ms, exclusive).
    pub until: Option<i64>,
}

impl RecordsQuery {
    /// The query string pairs, without `format`.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(k) = self.kind {
            p.push(("kind", k.code().to_string()));
        }
        for (key, v) in [
            ("sector", &self.sector),
            ("quartier", &self.quartier),
            ("axis", &self.axis),
            ("status", &self.status),
            ("category", &self.category),
        ] {
            if let Some(v) = v {
                p.push((key, v.clone()));
            }
        }
        if let Some(t) = self.since {
            p.push(("since", t.to_string()));
        }
        if let Some(t) = self.until {
            p.push(("until", t.to_string()));
        }
        p
    }
}

/// A page of the team's merged log, as `GET /v1/records` answers in JSON:
/// the records with their authors named by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedLog {
    /// The records, newest first.
    pub records: Vec<Record>,
    /// Whether the server holds more past this page.
    #[serde(default)]
    pub has_more: bool,
}

/// A device as the server lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The device's id.
    #[serde(alias = "device_id")]
    pub id: String,
    /// What it may do.
    pub role: Role,
    /// Its name, given at enrollment.
    #[serde(default)]
    pub name: Option<String>,
    /// Enrollment time, ms since the Unix epoch.
    #[serde(default)]
    pub enrolled_at: Option<i64>,
    /// Last authenticated request, ms.
    #[serde(default)]
    pub last_seen: Option<i64>,
    /// When it was revoked (its token no longer works).
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// When a supervisor ordered it wiped.
    #[serde(default)]
    pub wipe_ordered_at: Option<i64>,
    /// The automerge actor of its store (hex), once bound: the id its
    /// changes carry in records' history.
    #[serde(default)]
    pub actor: Option<String>,
    /// Why it was revoked: `supervisor` or `inactive` (unseen too long).
    #[serde(default)]
    pub revoked_reason: Option<String>,
}

#[derive(Deserialize)]
struct CodeResponse {
    code: String,
}

/// A supervisor's connection to the team's server.
pub struct Admin {
    http: reqwest::blocking::Client,
    base: String,
    auth: String,
    retry: Retry,
}

impl Admin {
    /// A connection to the server at `base` with a supervisor device's token.
    pub fn new(base: &str, token: &str) -> Result<Admin> {
        Self::trusting(base, token, &ExtraRoots::default())
    }

    /// Like [`Admin::new`], for a server whose certificate chains to one of
    /// `roots` (a deployment's own CA) rather than to a public one.
    pub fn trusting(base: &str, token: &str, roots: &ExtraRoots) -> Result<Admin> {
        let (http, base) = super::http::connect(base, Duration::from_secs(120), roots)?;
        Ok(Admin {
            http,
            base,
            auth: format!("Bearer {}", token.trim()),
            retry: Retry {
                attempts: 3,
                first_backoff: Duration::from_millis(500),
            },
        })
    }

    /// The team's merged log, as the server sends it (JSON or CSV bytes).
    pub fn records(&self, q: &RecordsQuery, format: Format) -> Result<Vec<u8>> {
        let mut pairs = q.pairs();
        pairs.push(("format", format.code().to_string()));
        self.get("/v1/records", &pairs, None)
    }

    /// The team's merged log, read into records.
    pub fn merged_log(&self, q: &RecordsQuery) -> Result<MergedLog> {
        json(&self.records(q, Format::Json)?)
    }

    /// One record of the team with its conflicts and full history.
    pub fn record(&self, id: RecordId) -> Result<RecordDetails> {
        json(&self.get(&format!("/v1/records/{id}"), &[], Some(id))?)
    }

    /// The team's devices.
    pub fn devices(&self) -> Result<Vec<Device>> {
        let v: Value = json(&self.get("/v1/admin/devices", &[], None)?)?;
        // Either a bare list or `{"devices": [...]}`.
        let list = match v {
            Value::Object(mut m) if m.contains_key("devices") => {
                m.remove("devices").unwrap_or_default()
            }
            other => other,
        };
        serde_json::from_value(list).map_err(|_| Error::Network("unreadable device list".into()))
    }

    /// A new one-time enrollment code for a device of `role`.
    pub fn issue_code(&self, role: Role, name: Option<&str>) -> Result<String> {
        let mut body = serde_json::json!({ "role": role });
        if let Some(n) = name {
            body["name"] = Value::String(n.to_string());
        }
        let bytes = self.send(
            || {
                self.http
                    .post(format!("{}/v1/admin/codes", self.base))
                    .json(&body)
            },
            None,
        )?;
        let r: CodeResponse = serde_json::from_slice(&bytes)
            .map_err(|_| Error::Network("unreadable code response".into()))?;
        Ok(r.code)
    }

    /// Cuts a device off: its token stops working. Returns the device as
    /// the server now has it.
    pub fn revoke(&self, device_id: &str) -> Result<Device> {
        self.device_action(device_id, "revoke")
    }

    /// Orders a lost device to erase its store at its next contact.
    pub fn wipe(&self, device_id: &str) -> Result<Device> {
        self.device_action(device_id, "wipe")
    }

    fn device_action(&self, device_id: &str, action: &str) -> Result<Device> {
        let id = device_id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid(
                "device",
                "expected a device id as `carnet admin devices` lists it",
            ));
        }
        let bytes = self.send(
            || {
                self.http
                    .post(format!("{}/v1/admin/devices/{id}/{action}", self.base))
            },
            None,
        )?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Network("unreadable device".into()))
    }

    fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        record: Option<RecordId>,
    ) -> Result<Vec<u8>> {
        self.send(
            || self.http.get(format!("{}{path}", self.base)).query(query),
            record,
        )
    }

    /// Sends a request built by `build`, retrying what may succeed later.
    fn send(
        &self,
        build: impl Fn() -> reqwest::blocking::RequestBuilder,
        record: Option<RecordId>,
    ) -> Result<Vec<u8>> {
        call(self.retry, Replay::Safe, || {
            build().header("authorization", &self.auth).send()
        })
        .map_err(|failed| match (failed, record) {
            (Failed::Refused { status: 404, .. }, Some(id)) => Error::NotFound(id),
            (other, _) => other.into_error(),
        })
    }
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|_| Error::Network("the server's answer is not the JSON expected".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_hold_only_the_filters_given() {
        let q = RecordsQuery {
            kind: Some(Kind::Report),
            since: Some(5),
            ..Default::default()
        };
        assert_eq!(
            q.pairs(),
            vec![("kind", "report".to_string()), ("since", "5".to_string())]
        );
        assert!(RecordsQuery::default().pairs().is_empty());
    }

    #[test]
    fn a_merged_log_reads_back_what_the_server_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_unencrypted(dir.path().join("s.db")).unwrap();
        let fields = serde_json::json!({"sector": "conte-joliot", "text": "Calme"});
        let id = store
            .create(Kind::Note, fields.as_object().unwrap())
            .unwrap();
        let records = vec![store.get(id).unwrap()];
        let body =
            serde_json::to_vec(&serde_json::json!({"records": records, "has_more": true})).unwrap();
        let log: MergedLog = json(&body).unwrap();
        assert_eq!(log.records, records);
        assert!(log.has_more);
        assert!(matches!(
            json::<MergedLog>(b"{\"records\": 3}"),
            Err(Error::Network(_))
        ));
    }

    #[test]
    fn device_roles_are_typed() {
        let d: Device =
            serde_json::from_str(r#"{"id": "d1", "role": "supervisor", "name": "Tablette"}"#)
                .unwrap();
        assert_eq!(d.role, Role::Supervisor);
        assert!(serde_json::from_str::<Device>(r#"{"id": "d1", "role": "chief"}"#).is_err());
    }

    #[test]
    fn addresses_must_be_http() {
        assert!(Admin::new("ftp://x", "t").is_err());
        assert!(Admin::new("http://127.0.0.1:1/", "t").is_ok());
    }
}
