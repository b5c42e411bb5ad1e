//! The conformance scenarios (`conformance/scenarios.json`, or the file
//! named by `CARNET_CONFORMANCE`) played against the HTTP API of a real
//! server, as the command line plays them: devices are the core's `Store`
//! and sync `Client`; supervisors' steps (`order_wipe`, `revoke`,
//! `server_get`) are plain HTTP requests to `/v1/admin/devices/…` and
//! `/v1/records/{id}`, whose JSON answers are read here. Record reads are
//! checked on the records' JSON (the shape the API serves).
//!
//! Every step of the vocabulary is supported; an unknown step or key fails
//! its scenario. Prints one line per scenario and ends with
//! `N passed, M failed`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use carnet_core::store::{GroupBy, Query, StatusChange};
use carnet_core::sync::client::{Client, Enrollment};
use carnet_core::{Error, Kind, RecordId, ReportStatus, Store};
use common::{TestServer, http};
use serde_json::{Map, Value, json};

fn scenario_file() -> String {
    std::env::var("CARNET_CONFORMANCE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/scenarios.json").to_string()
    })
}

/// Why a step did not give what it should.
enum Fail {
    /// The face refused: an error of this kind (the names of carnet-ffi's
    /// `CarnetError`) with these attributes.
    Refused(&'static str, Vec<(&'static str, String)>, String),
    /// A check failed.
    Check(String),
}

fn fail<T>(what: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Check(what.into()))
}

impl From<Error> for Fail {
    /// The core's error by the kind names the scenarios use.
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let (kind, attrs) = match e {
            Error::Invalid { field, .. } => ("InvalidInput", vec![("field", field)]),
            Error::InvalidTransition { from, to, .. } => {
                let (from, to) = (from.code().to_string(), to.code().to_string());
                ("InvalidTransition", vec![("from", from), ("to", to)])
            }
            Error::NotFound(id) => ("NotFound", vec![("id", id.to_string())]),
            Error::Erased(id) => ("Erased", vec![("id", id.to_string())]),
            Error::WrongKey => ("WrongKey", vec![]),
            Error::Unauthorized => ("NotEnrolled", vec![]),
            Error::Wiped => ("Wiped", vec![]),
            Error::Network(_) | Error::Server { .. } => ("Network", vec![]),
            Error::Cancelled => ("Cancelled", vec![]),
            Error::Internal(_) => ("Internal", vec![]),
            _ => ("Storage", vec![]),
        };
        Fail::Refused(kind, attrs, message)
    }
}

/// An HTTP status by the kind names the scenarios use.
fn refused_by_status(status: u16, body: &[u8]) -> Fail {
    let kind = match status {
        400 | 422 => "InvalidInput",
        401 => "NotEnrolled",
        404 => "NotFound",
        410 => "Wiped",
        _ => "Network",
    };
    Fail::Refused(
        kind,
        vec![],
        format!("HTTP {status}: {}", String::from_utf8_lossy(body)),
    )
}

// ---- the codes the scenario file names the API's enums by

/// The enrollment's role as its code.
fn role_code(e: &Enrollment) -> String {
    e.role.code().to_string()
}

// ---- reading records' JSON by path

/// The JSON key of a path segment: records' JSON has the header's fields
/// at the top and a status event's reference under `ref`.
fn json_key(seg: &str) -> &str {
    match seg {
        "reference" => "ref",
        other => other,
    }
}

fn read_path(record: &Value, path: &str) -> Result<Value, Fail> {
    let path_in_json = path.strip_prefix("header.").unwrap_or(path);
    path_in_json
        .split('.')
        .try_fold(record.clone(), |v, seg| walk(v, seg, path))
}

fn walk(v: Value, seg: &str, path: &str) -> Result<Value, Fail> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => Ok(Value::Array(
            items
                .into_iter()
                .map(|i| walk(i, seg, path))
                .collect::<Result<_, _>>()?,
        )),
        Value::Object(mut m) => Ok(m.remove(json_key(seg)).unwrap_or(Value::Null)),
        _ => fail(format!(
            "`{seg}` in path `{path}` goes inside a plain value"
        )),
    }
}

/// The canonical text of a JSON value; `None` for null.
fn render(v: &Value, path: &str) -> Result<Option<String>, Fail> {
    Ok(match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_f64() => n.as_f64().map(|f| format!("{f:?}")),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(format!(
            "[{}]",
            items
                .iter()
                .map(|i| Ok(render(i, path)?.unwrap_or_else(|| "null".into())))
                .collect::<Result<Vec<_>, Fail>>()?
                .join(", ")
        )),
        Value::Object(_) => return fail(format!("`{path}` is a record, not a value")),
    })
}

// ---- playing a scenario

struct Device {
    path: PathBuf,
    store: Option<Store>,
    enrollment: Option<Enrollment>,
}

struct Player<'a> {
    server: &'a TestServer,
    team: &'a str,
    dir: PathBuf,
    devices: HashMap<String, Device>,
    saved: HashMap<String, String>,
}

fn key_of(seed: u64, len: u64) -> Result<[u8; 32], Fail> {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed as u8))
        .collect();
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        Fail::Refused(
            "InvalidInput",
            vec![("field", "key".into())],
            format!("key: must be exactly 32 bytes (got {len})"),
        )
    })
}

/// A step's keys, checked against those its op allows.
struct Step<'a> {
    m: &'a Map<String, Value>,
    op: &'a str,
}

impl<'a> Step<'a> {
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.m.get(k).filter(|v| !v.is_null())
    }
    fn str(&self, k: &str) -> Result<&'a str, Fail> {
        match self.get(k).map(Value::as_str) {
            Some(Some(s)) => Ok(s),
            _ => fail(format!("`{}` needs `{k}` as text", self.op)),
        }
    }
    fn opt_str(&self, k: &str) -> Option<&'a str> {
        self.get(k).and_then(Value::as_str)
    }
    fn u64(&self, k: &str) -> Result<u64, Fail> {
        match self.get(k).and_then(Value::as_u64) {
            Some(n) => Ok(n),
            None => fail(format!("`{}` needs `{k}` as a count", self.op)),
        }
    }
}

const OWN_KEYS: &[(&str, &[&str])] = &[
    ("open", &["key", "key_bytes", "author"]),
    ("close", &[]),
    ("enroll", &["role"]),
    ("create", &["kind", "fields"]),
    ("set_field", &["record", "field", "value"]),
    ("clear_field", &["record", "field"]),
    (
        "change_status",
        &[
            "record",
            "status",
            "to",
            "reference",
            "comment",
            "duplicate_of",
        ],
    ),
    ("add_interaction", &["record", "text", "referral"]),
    ("erase", &["record"]),
    ("set_setting", &["key", "value"]),
    ("setting", &["key", "expect"]),
    ("get", &["record", "expect"]),
    ("server_get", &["record", "expect"]),
    ("list", &["query", "count", "has_more", "first"]),
    ("count", &["query", "by", "expect"]),
    ("open_reports", &["count"]),
    ("allowed_next", &["status", "expect"]),
    ("history", &["record", "has_op"]),
    ("conflicts", &["record", "expect"]),
    ("agree", &["record", "other", "paths"]),
    ("sync", &["server", "token", "cancelled", "expect"]),
    ("order_wipe", &["target"]),
    ("revoke", &["target"]),
];

fn id(s: &str) -> Result<RecordId, Fail> {
    Ok(s.parse::<RecordId>()?)
}

fn status(code: &str) -> Result<ReportStatus, Fail> {
    serde_json::from_value(json!(code)).or_else(|_| fail(format!("unknown status `{code}`")))
}

impl Player<'_> {
    /// `text` with every `$name` replaced by what the step that saved
    /// `name` returned.
    fn resolve(&self, text: &str) -> Result<String, Fail> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            match self.saved.get(&after[..end]) {
                Some(v) => out.push_str(v),
                None => return fail(format!("`${}` was not saved", &after[..end])),
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A JSON value with every string's references resolved.
    fn resolve_value(&self, v: &Value) -> Result<Value, Fail> {
        Ok(match v {
            Value::String(s) => Value::String(self.resolve(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve_value(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve_value(v)?)))
                    .collect::<Result<_, Fail>>()?,
            ),
            other => other.clone(),
        })
    }

    fn device(&mut self, name: &str) -> &mut Device {
        let path = self.dir.join(format!("{name}.db"));
        self.devices.entry(name.to_string()).or_insert(Device {
            path,
            store: None,
            enrollment: None,
        })
    }

    fn store(&self, name: &str) -> Result<&Store, Fail> {
        match self.devices.get(name).and_then(|d| d.store.as_ref()) {
            Some(s) => Ok(s),
            None => fail(format!("device `{name}` has no open store")),
        }
    }

    fn enrollment(&self, name: &str) -> Result<&Enrollment, Fail> {
        match self.devices.get(name).and_then(|d| d.enrollment.as_ref()) {
            Some(e) => Ok(e),
            None => fail(format!("device `{name}` is not enrolled")),
        }
    }

    fn record_json(&self, name: &str, record: &str) -> Result<Value, Fail> {
        let r = self.store(name)?.get(id(&self.resolve(record)?)?)?;
        serde_json::to_value(r).or_else(|e| fail(format!("record to JSON: {e}")))
    }

    fn check_fields(&self, record: &Value, expect: Option<&Value>) -> Result<(), Fail> {
        let Some(expect) = expect else { return Ok(()) };
        let Some(checks) = expect.as_object() else {
            return fail("`expect` is an object of path: value");
        };
        for (path, want) in checks {
            let got = render(&read_path(record, path)?, path)?;
            let ok = match want {
                Value::Null => got.is_none(),
                Value::Object(m) if m.contains_key("contains") => {
                    let parts = m["contains"].as_array().cloned().unwrap_or_default();
                    got.as_deref().is_some_and(|g| {
                        parts
                            .iter()
                            .all(|p| p.as_str().is_some_and(|p| g.contains(p)))
                    })
                }
                Value::Object(m) if m.get("present") == Some(&Value::Bool(true)) => got.is_some(),
                other => got == render(&self.resolve_value(other)?, path)?,
            };
            if !ok {
                return fail(format!(
                    "`{path}`: expected {want}, got {}",
                    got.as_deref().unwrap_or("null")
                ));
            }
        }
        Ok(())
    }

    fn query(&self, v: Option<&Value>) -> Result<Query, Fail> {
        match v {
            None => Ok(Query::default()),
            Some(v) => serde_json::from_value(self.resolve_value(v)?)
                .or_else(|e| fail(format!("query: {e}"))),
        }
    }

    /// A supervisor's request to the API; the answer's JSON.
    fn admin(&self, by: &str, method: &str, path: &str) -> Result<Value, Fail> {
        let token = &self.enrollment(by)?.token;
        let url = format!("{}{path}", self.server.url());
        let req = match method {
            "POST" => http().post(url),
            _ => http().get(url),
        };
        let resp = req
            .bearer_auth(token)
            .send()
            .or_else(|e| fail(format!("{method} {path}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(refused_by_status(status, &body));
        }
        serde_json::from_slice(&body).or_else(|_| fail(format!("{path}: the answer is not JSON")))
    }

    /// Plays one step; returns the id it saves, if any.
    fn act(&mut self, s: &Step) -> Result<Option<String>, Fail> {
        let name = s.opt_str("device").unwrap_or_default().to_string();
        let url = self.server.url();
        match s.op {
            "open" => {
                let key = key_of(
                    s.u64("key")?,
                    s.get("key_bytes").and_then(Value::as_u64).unwrap_or(32),
                )?;
                let store = Store::open(&self.device(&name).path, &key)?;
                if let Some(a) = s.opt_str("author") {
                    store.set_author(a)?;
                }
                self.device(&name).store = Some(store);
            }
            "close" => self.device(&name).store = None,
            "enroll" => {
                let role = s.str("role")?;
                let code = carnet_server::issue_code(
                    &self.server.data,
                    self.team,
                    role.parse()?,
                    Some(name.as_str()),
                )
                .or_else(|e| fail(format!("no {role} code: {e}")))?;
                let path = self.device(&name).path.clone();
                let store = Store::open(&path, &[1; 32])?;
                let e = Client::new(&url)?.enroll(&code, &name, Some(&store.peer_id()))?;
                if role_code(&e) != role {
                    return fail(format!("enrolled as {}, not {role}", role_code(&e)));
                }
                store.set_config(&e.config)?;
                store.set_author(&name)?;
                let d = self.device(&name);
                d.store = Some(store);
                d.enrollment = Some(e);
            }
            "create" => {
                let kind = Kind::parse(s.str("kind")?)?;
                let Some(Value::Object(fields)) =
                    s.get("fields").map(|f| self.resolve_value(f)).transpose()?
                else {
                    return fail("`create` needs `fields` as an object");
                };
                return Ok(Some(self.store(&name)?.create(kind, &fields)?.to_string()));
            }
            "set_field" => {
                let value = json!(s.str("value")?);
                self.store(&name)?.set_field(
                    id(&self.resolve(s.str("record")?)?)?,
                    s.str("field")?,
                    &value,
                )?;
            }
            "clear_field" => {
                self.store(&name)?.set_field(
                    id(&self.resolve(s.str("record")?)?)?,
                    s.str("field")?,
                    &Value::Null,
                )?;
            }
            "change_status" => {
                let change = StatusChange {
                    status: Some(status(s.str("status")?)?),
                    to: s.opt_str("to").map(str::to_string),
                    reference: s.opt_str("reference").map(str::to_string),
                    comment: s.opt_str("comment").map(str::to_string),
                    duplicate_of: s
                        .opt_str("duplicate_of")
                        .map(|d| id(&self.resolve(d)?))
                        .transpose()?,
                };
                self.store(&name)?
                    .change_status(id(&self.resolve(s.str("record")?)?)?, &change)?;
            }
            "add_interaction" => self.store(&name)?.add_interaction(
                id(&self.resolve(s.str("record")?)?)?,
                s.str("text")?,
                s.opt_str("referral"),
            )?,
            "erase" => self
                .store(&name)?
                .erase(id(&self.resolve(s.str("record")?)?)?)?,
            "set_setting" => self
                .store(&name)?
                .set_setting(s.str("key")?, s.opt_str("value"))?,
            "setting" => {
                let got = self.store(&name)?.setting(s.str("key")?)?;
                let want = s.opt_str("expect");
                if got.as_deref() != want {
                    return fail(format!("setting: expected {want:?}, got {got:?}"));
                }
            }
            "get" => {
                let r = self.record_json(&name, s.str("record")?)?;
                self.check_fields(&r, s.get("expect"))?;
            }
            "list" => {
                let page = self.store(&name)?.list(&self.query(s.get("query"))?)?;
                let count = s.u64("count")?;
                if page.items.len() as u64 != count {
                    return fail(format!("{} items, expected {count}", page.items.len()));
                }
                if let Some(h) = s.get("has_more").and_then(Value::as_bool)
                    && h != page.has_more
                {
                    return fail(format!("has_more is {}", page.has_more));
                }
                if let Some(first) = s.get("first") {
                    let Some(r) = page.items.first() else {
                        return fail("no first item to check");
                    };
                    let r = serde_json::to_value(r).or_else(|e| fail(e.to_string()))?;
                    self.check_fields(&r, Some(first))?;
                }
            }
            "count" => {
                let by: GroupBy = serde_json::from_value(json!(s.str("by")?))
                    .or_else(|_| fail("unknown grouping"))?;
                let got: HashMap<String, u64> = self
                    .store(&name)?
                    .count(&self.query(s.get("query"))?, by)?
                    .into_iter()
                    .map(|c| (c.key, c.count))
                    .collect();
                let want: HashMap<String, u64> =
                    serde_json::from_value(s.get("expect").cloned().unwrap_or_default())
                        .or_else(|_| fail("`expect` of a count is an object of group: count"))?;
                if got != want {
                    return fail(format!("counts {got:?}, expected {want:?}"));
                }
            }
            "open_reports" => {
                let n = self.store(&name)?.open_reports(None)?.len() as u64;
                if n != s.u64("count")? {
                    return fail(format!("{n} open reports"));
                }
            }
            "allowed_next" => {
                let got: Vec<ReportStatus> = status(s.str("status")?)?.allowed_next().to_vec();
                let want: Vec<ReportStatus> =
                    serde_json::from_value(s.get("expect").cloned().unwrap_or_default())
                        .or_else(|_| fail("`expect` is a list of statuses"))?;
                if got != want {
                    return fail(format!("allowed {got:?}, expected {want:?}"));
                }
            }
            "history" => {
                let d = self
                    .store(&name)?
                    .details(id(&self.resolve(s.str("record")?)?)?)?;
                let op = s.str("has_op")?;
                if !d.history.iter().any(|h| h.op == op) {
                    return fail(format!("no `{op}` in the history"));
                }
            }
            "conflicts" => {
                let rid = id(&self.resolve(s.str("record")?)?)?;
                let store = self.store(&name)?;
                let sorted = |cs: Vec<(String, Vec<String>)>| {
                    let mut cs: Vec<_> = cs
                        .into_iter()
                        .map(|(f, mut v)| {
                            v.sort();
                            (f, v)
                        })
                        .collect();
                    cs.sort();
                    cs
                };
                let of_core = |cs: Vec<carnet_core::doc::Conflict>| {
                    sorted(
                        cs.into_iter()
                            .map(|c| (c.field, c.values.iter().map(Value::to_string).collect()))
                            .collect(),
                    )
                };
                let want: Vec<(String, Vec<String>)> = s
                    .get("expect")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        let field = c["field"].as_str().unwrap_or_default().to_string();
                        let values = c["values"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect();
                        (field, values)
                    })
                    .collect();
                let want = sorted(want);
                let direct = of_core(store.conflicts(rid)?);
                let details = of_core(store.details(rid)?.conflicts);
                if direct != want || details != want {
                    return fail(format!(
                        "conflicts {direct:?} (details: {details:?}), expected {want:?}"
                    ));
                }
            }
            "agree" => {
                let record = s.str("record")?;
                let other = s.str("other")?;
                let mine = self.record_json(&name, record)?;
                let theirs = self.record_json(other, record)?;
                for p in s
                    .get("paths")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let p = p.as_str().unwrap_or_default();
                    let (a, b) = (
                        render(&read_path(&mine, p)?, p)?,
                        render(&read_path(&theirs, p)?, p)?,
                    );
                    if a != b {
                        return fail(format!("`{p}`: {a:?} here, {b:?} on {other}"));
                    }
                }
            }
            "sync" => {
                let token = match s.opt_str("token") {
                    Some(t) => t.to_string(),
                    None => self.enrollment(&name)?.token.clone(),
                };
                let base = s.opt_str("server").map_or(url, str::to_string);
                let cancel = AtomicBool::new(s.get("cancelled") == Some(&Value::Bool(true)));
                let mut phases = Vec::new();
                let summary = Client::new(&base)?.sync(
                    self.store(&name)?,
                    &token,
                    &mut |p| phases.push(p.phase),
                    &cancel,
                )?;
                let want = s.get("expect").cloned().unwrap_or(json!({}));
                let at_least = |k: &str, got: usize| match want.get(k).and_then(Value::as_u64) {
                    Some(n) if (got as u64) < n => fail(format!("{k}: got {got}")),
                    _ => Ok(()),
                };
                at_least("pushed_at_least", summary.pushed)?;
                at_least("pulled_at_least", summary.pulled)?;
                if let Some(n) = want.get("erased").and_then(Value::as_u64)
                    && summary.erased as u64 != n
                {
                    return fail(format!("erased {}", summary.erased));
                }
                for c in want
                    .get("conflicts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let rid = self.resolve(c["record"].as_str().unwrap_or_default())?;
                    let field = c["field"].as_str().unwrap_or_default();
                    if !summary.conflicts.iter().any(|rc| {
                        rc.id.to_string() == rid && rc.conflicts.iter().any(|x| x.field == field)
                    }) {
                        return fail(format!("no conflict on `{field}` in the summary"));
                    }
                }
                if let Some(p) = want.get("last_phase").and_then(Value::as_str)
                    && phases.last().map(|l| l.code()) != Some(p)
                {
                    return fail(format!("last phase {:?}", phases.last()));
                }
            }
            "order_wipe" | "revoke" => {
                let target = self.enrollment(s.str("target")?)?.device_id.clone();
                let action = if s.op == "revoke" { "revoke" } else { "wipe" };
                self.admin(
                    &name,
                    "POST",
                    &format!("/v1/admin/devices/{target}/{action}"),
                )?;
            }
            "server_get" => {
                let rid = self.resolve(s.str("record")?)?;
                let details = self.admin(&name, "GET", &format!("/v1/records/{rid}"))?;
                self.check_fields(&details["record"], s.get("expect"))?;
            }
            other => return fail(format!("unknown op `{other}`")),
        }
        Ok(None)
    }

    /// Plays a step and checks its outcome against its expected error.
    fn step(&mut self, index: usize, v: &Value) -> Result<(), String> {
        let Some(m) = v.as_object() else {
            return Err(format!("step {index}: not an object"));
        };
        let op = m.get("op").and_then(Value::as_str).unwrap_or_default();
        let at = format!("step {index} ({op})");
        let Some((_, own)) = OWN_KEYS.iter().find(|(o, _)| *o == op) else {
            return Err(format!("{at}: unknown op `{op}`"));
        };
        if let Some(k) = m.keys().find(|k| {
            !["op", "device", "save_as", "error"].contains(&k.as_str())
                && !own.contains(&k.as_str())
        }) {
            return Err(format!("{at}: unknown key `{k}`"));
        }
        let want = m.get("error");
        match (self.act(&Step { m, op }), want) {
            (Ok(saved), None) => {
                if let (Some(name), Some(v)) = (m.get("save_as").and_then(Value::as_str), saved) {
                    self.saved.insert(name.to_string(), v);
                }
                Ok(())
            }
            (Ok(_), Some(w)) => Err(format!("{at}: expected {w}, nothing was refused")),
            (Err(Fail::Check(why)), _) => Err(format!("{at}: {why}")),
            (Err(Fail::Refused(kind, _, msg)), None) => {
                Err(format!("{at}: unexpected {kind}: {msg}"))
            }
            (Err(Fail::Refused(kind, attrs, msg)), Some(w)) => {
                if w["kind"].as_str() != Some(kind) {
                    return Err(format!("{at}: expected {w}, got {kind}: {msg}"));
                }
                for (k, v) in w.as_object().into_iter().flatten() {
                    let v = v.as_str().unwrap_or_default();
                    match k.as_str() {
                        "kind" => {}
                        "message_lacks" => {
                            if msg.contains(v) {
                                return Err(format!("{at}: the message repeats the value: {msg}"));
                            }
                        }
                        _ => {
                            let v = self
                                .resolve(v)
                                .map_err(|_| format!("{at}: `{v}` was not saved"))?;
                            // Over HTTP a refusal carries its status, not
                            // the attributes the library's errors name.
                            if let Some((_, got)) = attrs.iter().find(|(n, _)| n == k) {
                                if *got != v {
                                    return Err(format!("{at}: expected {k} = {v}, got {got}"));
                                }
                            } else if !matches!(op, "server_get" | "order_wipe" | "revoke") {
                                return Err(format!("{at}: {kind} carries no `{k}`"));
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

#[test]
fn every_scenario_passes_through_the_http_api() {
    let text = std::fs::read_to_string(scenario_file()).expect("the scenario file");
    let doc: Value = serde_json::from_str(&text).expect("the scenario file is JSON");
    let scenarios = doc["scenarios"].as_array().expect("a `scenarios` list");
    assert!(!scenarios.is_empty(), "no scenario");
    let data = tempfile::tempdir().expect("temp dir");
    let server_data: &Path = &data.path().join("server");
    std::fs::create_dir_all(server_data).expect("server dir");
    let (team, _code) = common::team(server_data, "Équipe de conformité");
    let server = TestServer::start(server_data);
    let (mut passed, mut failed) = (0, 0);
    for (i, sc) in scenarios.iter().enumerate() {
        let name = sc["name"].as_str().unwrap_or("(no name)");
        let dir = data.path().join(format!("scenario-{}", i + 1));
        std::fs::create_dir_all(&dir).expect("scenario dir");
        let mut player = Player {
            server: &server,
            team: &team,
            dir,
            devices: HashMap::new(),
            saved: HashMap::new(),
        };
        let steps = sc["steps"].as_array().cloned().unwrap_or_default();
        match steps
            .iter()
            .enumerate()
            .try_for_each(|(j, s)| player.step(j + 1, s))
        {
            Ok(()) => {
                passed += 1;
                println!("ok   - {name}");
            }
            Err(why) => {
                failed += 1;
                println!("FAIL - {name}: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} scenario(s) failed (see above)");
}
