//! The conformance scenarios (`conformance/scenarios.json` at the
//! repository's root), read into typed records so that every face (Rust,
//! Kotlin, Swift) drives its own API from the same steps without a JSON
//! library of its own. Reading the file is not what is under test: each face
//! then calls its own `CarnetStore`, catches its own exceptions and reads its
//! own records. The vocabulary is described in `conformance/README.md`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{CarnetError, Result};
use crate::inputs::{NewActivity, NewContact, NewNote, NewReport};
use crate::types::{Conflict, Count, GroupBy, Kind, Query, ReportStatus, StatusChange};

/// One scenario: steps played in order over named devices.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Scenario {
    /// What it shows, printed by the runners.
    pub name: String,
    /// Its steps.
    pub steps: Vec<ScenarioStep>,
}

/// One step: an action by a device, and what it must give.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScenarioStep {
    /// Its place in the scenario (from 1) and its `op`, for failure messages.
    pub label: String,
    /// The device that acts (none for `allowed_next`).
    pub device: Option<String>,
    /// What it does.
    pub action: StepAction,
    /// The name later steps use (`$name`) for the id this step returns.
    pub save_as: Option<String>,
    /// The typed error the step must fail with, if any.
    pub error: Option<ExpectedError>,
}

/// An error a step must fail with, by the error's kind name
/// (`InvalidInput`, `WrongKey`…) and the attributes it carries.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ExpectedError {
    /// The error's kind, as `CarnetError`'s variants are named.
    pub kind: String,
    /// Attributes the error must carry (`field`, `from`, `to`, `id`); values
    /// may be `$name` references.
    pub attrs: HashMap<String, String>,
    /// Text the error's message must not contain (a resident's data).
    pub message_lacks: Option<String>,
}

/// A check on one field of a record, by path (`sector`, `header.author`,
/// `contacts.state`: a path through a list maps over its items).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldCheck {
    /// Field names joined by dots, as the apps' records name them (snake case).
    pub path: String,
    /// What the value must be.
    pub check: ValueCheck,
}

/// What a field's value must be. Values are compared as canonical text:
/// strings as they are, numbers in decimal, `true`/`false`, enums by their
/// codes (`in_progress`), lists as `[a, b]`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ValueCheck {
    /// Equal to this text (a `$name` reference is resolved first).
    Equals {
        /// The canonical text.
        value: String,
    },
    /// Text containing every part.
    Contains {
        /// The parts.
        parts: Vec<String>,
    },
    /// Set (not null).
    Present,
    /// Not set (null).
    Absent,
}

/// A record and one of its fields.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordField {
    /// The record (a `$name` reference).
    pub record: String,
    /// The field.
    pub field: String,
}

/// What a sync's summary must say.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct SyncExpect {
    /// At least this many entries pushed.
    pub pushed_at_least: Option<u64>,
    /// At least this many entries pulled.
    pub pulled_at_least: Option<u64>,
    /// Exactly this many records erased by the pull.
    pub erased: Option<u64>,
    /// Conflicts the summary must report.
    pub conflicts: Vec<RecordField>,
    /// The phase of the last progress report.
    pub last_phase: Option<String>,
}

/// The actions a step can take. Record ids are `$name` references to an
/// earlier step's `save_as`; devices are names.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum StepAction {
    /// Opens (or reopens) the device's store with the key made from
    /// `key_seed`, `key_bytes` long; sets the author when given.
    Open {
        /// Seed of the key's bytes (the same seed gives the same key).
        key_seed: u8,
        /// The key's length (32 is the only valid one).
        key_bytes: u32,
        /// The author id to set.
        author: Option<String>,
    },
    /// Closes the device's store.
    Close,
    /// Enrolls the device with a code of `role` from the test server, opens
    /// its store, hands it the team's configuration, and checks the role.
    Enroll {
        /// `mediator` or `supervisor`.
        role: String,
    },
    /// Creates a note (contact ids may be `$name` references).
    CreateNote {
        /// The note.
        note: NewNote,
    },
    /// Creates a report.
    CreateReport {
        /// The report.
        report: NewReport,
    },
    /// Creates a resident contact.
    CreateContact {
        /// The contact.
        contact: NewContact,
    },
    /// Creates an activity.
    CreateActivity {
        /// The activity.
        activity: NewActivity,
    },
    /// Sets a field from text.
    SetField {
        /// The record.
        record: String,
        /// The field.
        field: String,
        /// Its new value, as a form gives it.
        value: String,
    },
    /// Clears a field.
    ClearField {
        /// The record.
        record: String,
        /// The field.
        field: String,
    },
    /// Changes a report's status.
    ChangeStatus {
        /// The report.
        record: String,
        /// The change (`duplicate_of` may be a reference).
        change: StatusChange,
    },
    /// Adds an interaction to a contact.
    AddInteraction {
        /// The contact.
        record: String,
        /// What happened.
        text: String,
        /// The partner referred to.
        referral: Option<String>,
    },
    /// Erases a contact.
    Erase {
        /// The contact.
        record: String,
    },
    /// Writes a setting.
    SetSetting {
        /// Its key.
        key: String,
        /// Its value (none removes it).
        value: Option<String>,
    },
    /// Reads a setting.
    Setting {
        /// Its key.
        key: String,
        /// The value it must have.
        expect: Option<String>,
    },
    /// Reads one record and checks its fields (paths may also be `id`, `kind`).
    Get {
        /// The record.
        record: String,
        /// The checks.
        expect: Vec<FieldCheck>,
    },
    /// Lists records and checks how many, and the first one's fields.
    ListRecords {
        /// The query.
        query: Query,
        /// How many items the page must hold.
        count: u32,
        /// Whether more must follow.
        has_more: Option<bool>,
        /// Checks on the first item.
        first: Vec<FieldCheck>,
    },
    /// Counts records by a grouping; the groups must be exactly these.
    CountRecords {
        /// The query.
        query: Query,
        /// The grouping.
        by: GroupBy,
        /// Every group and its count.
        expect: Vec<Count>,
    },
    /// How many reports are open.
    OpenReports {
        /// How many.
        count: u32,
    },
    /// The statuses a report may move to from `status`.
    AllowedNext {
        /// The status.
        status: ReportStatus,
        /// The statuses, in order.
        expect: Vec<ReportStatus>,
    },
    /// A record's history holds an entry of operation `has_op`.
    History {
        /// The record.
        record: String,
        /// The operation (`create`, `set`, `status`…).
        has_op: String,
    },
    /// A record's unresolved conflicts (from `details` and from `conflicts`)
    /// are exactly these, each conflict's values compared sorted.
    Conflicts {
        /// The record.
        record: String,
        /// The conflicts.
        expect: Vec<Conflict>,
    },
    /// The device and `other` read the same values at `paths`.
    Agree {
        /// The record.
        record: String,
        /// The other device.
        other: String,
        /// The paths compared.
        paths: Vec<String>,
    },
    /// Syncs the device with the test server (or `server`, with `token`).
    Sync {
        /// Another address than the test server's.
        server: Option<String>,
        /// Another token than the device's enrollment's.
        token: Option<String>,
        /// Cancel before starting.
        cancelled: bool,
        /// What the summary must say.
        expect: SyncExpect,
    },
    /// As the (supervisor) device, orders `target` wiped.
    OrderWipe {
        /// The device to wipe.
        target: String,
    },
    /// As the (supervisor) device, revokes `target`.
    Revoke {
        /// The device to revoke.
        target: String,
    },
    /// As the (supervisor) device, reads a record of the team's merged log
    /// from the server and checks its fields.
    ServerGet {
        /// The record.
        record: String,
        /// The checks.
        expect: Vec<FieldCheck>,
    },
}

/// Reads the scenarios of the file at `path`.
pub fn read(path: &str) -> Result<Vec<Scenario>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {path}: {e}")))?;
    parse(&text)
}

/// Reads scenarios from the text of a scenario file.
pub fn parse(text: &str) -> Result<Vec<Scenario>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let list = doc
        .get("scenarios")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the file has no `scenarios` list".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let name = s.get("name").and_then(Value::as_str).unwrap_or("");
            scenario(s).map_err(|e| bad(format!("scenario {} ({name}): {e}", i + 1)))
        })
        .collect()
}

fn bad(reason: String) -> CarnetError {
    CarnetError::InvalidInput {
        field: "scenarios".into(),
        reason,
    }
}

/// Why a scenario does not read.
type Parse<T> = std::result::Result<T, String>;

fn scenario(v: &Value) -> Parse<Scenario> {
    let o = Obj::of(v, &["name", "steps"])?;
    let steps = o
        .req("steps")?
        .as_array()
        .ok_or("`steps` is not a list")?
        .iter()
        .enumerate()
        .map(|(i, s)| step(i + 1, s).map_err(|e| format!("step {}: {e}", i + 1)))
        .collect::<Parse<_>>()?;
    Ok(Scenario {
        name: o.string("name")?,
        steps,
    })
}

/// The keys every step may have besides its action's own.
const COMMON: [&str; 4] = ["op", "device", "save_as", "error"];

fn step(index: usize, v: &Value) -> Parse<ScenarioStep> {
    let op = v
        .get("op")
        .and_then(Value::as_str)
        .ok_or("a step needs an `op`")?;
    let own: &[&str] = match op {
        "open" => &["key", "key_bytes", "author"],
        "close" => &[],
        "enroll" => &["role"],
        "create" => &["kind", "fields"],
        "set_field" => &["record", "field", "value"],
        "clear_field" => &["record", "field"],
        "change_status" => &[
            "record",
            "status",
            "to",
            "reference",
            "comment",
            "duplicate_of",
        ],
        "add_interaction" => &["record", "text", "referral"],
        "erase" => &["record"],
        "set_setting" => &["key", "value"],
        "setting" => &["key", "expect"],
        "get" | "server_get" => &["record", "expect"],
        "list" => &["query", "count", "has_more", "first"],
        "count" => &["query", "by", "expect"],
        "open_reports" => &["count"],
        "allowed_next" => &["status", "expect"],
        "history" => &["record", "has_op"],
        "conflicts" => &["record", "expect"],
        "agree" => &["record", "other", "paths"],
        "sync" => &["server", "token", "cancelled", "expect"],
        "order_wipe" | "revoke" => &["target"],
        other => return Err(format!("unknown op `{other}`")),
    };
    let keys: Vec<&str> = COMMON.iter().chain(own).copied().collect();
    let o = Obj::of(v, &keys)?;
    let action = match op {
        "open" => StepAction::Open {
            key_seed: u8::try_from(o.int("key")?).map_err(|_| "`key` is a seed, 0 to 255")?,
            key_bytes: match o.opt_int("key_bytes")? {
                Some(n) => u32::try_from(n).map_err(|_| "`key_bytes` is a length")?,
                None => 32,
            },
            author: o.opt_string("author")?,
        },
        "close" => StepAction::Close,
        "enroll" => StepAction::Enroll {
            role: o.string("role")?,
        },
        "create" => create(&o.string("kind")?, o.req("fields")?)?,
        "set_field" => StepAction::SetField {
            record: o.string("record")?,
            field: o.string("field")?,
            value: o.string("value")?,
        },
        "clear_field" => StepAction::ClearField {
            record: o.string("record")?,
            field: o.string("field")?,
        },
        "change_status" => StepAction::ChangeStatus {
            record: o.string("record")?,
            change: StatusChange {
                status: status(&o.string("status")?)?,
                to: o.opt_string("to")?,
                reference: o.opt_string("reference")?,
                comment: o.opt_string("comment")?,
                duplicate_of: o.opt_string("duplicate_of")?,
            },
        },
        "add_interaction" => StepAction::AddInteraction {
            record: o.string("record")?,
            text: o.string("text")?,
            referral: o.opt_string("referral")?,
        },
        "erase" => StepAction::Erase {
            record: o.string("record")?,
        },
        "set_setting" => StepAction::SetSetting {
            key: o.string("key")?,
            value: o.opt_string("value")?,
        },
        "setting" => StepAction::Setting {
            key: o.string("key")?,
            expect: o.opt_string("expect")?,
        },
        "get" => StepAction::Get {
            record: o.string("record")?,
            expect: checks(o.req("expect")?)?,
        },
        "server_get" => StepAction::ServerGet {
            record: o.string("record")?,
            expect: match o.get("expect") {
                Some(v) => checks(v)?,
                None => Vec::new(),
            },
        },
        "list" => StepAction::ListRecords {
            query: query(o.get("query"))?,
            count: u32::try_from(o.int("count")?).map_err(|_| "`count` is a count")?,
            has_more: o.opt_bool("has_more")?,
            first: match o.get("first") {
                Some(v) => checks(v)?,
                None => Vec::new(),
            },
        },
        "count" => StepAction::CountRecords {
            query: query(o.get("query"))?,
            by: group_by(&o.string("by")?)?,
            expect: o
                .req("expect")?
                .as_object()
                .ok_or("`expect` of a count is an object of group: count")?
                .iter()
                .map(|(key, n)| {
                    let count = n
                        .as_u64()
                        .ok_or(format!("count of `{key}` is not a count"))?;
                    Ok(Count {
                        key: key.clone(),
                        count,
                    })
                })
                .collect::<Parse<_>>()?,
        },
        "open_reports" => StepAction::OpenReports {
            count: u32::try_from(o.int("count")?).map_err(|_| "`count` is a count")?,
        },
        "allowed_next" => StepAction::AllowedNext {
            status: status(&o.string("status")?)?,
            expect: o
                .strings("expect")?
                .iter()
                .map(|s| status(s))
                .collect::<Parse<_>>()?,
        },
        "history" => StepAction::History {
            record: o.string("record")?,
            has_op: o.string("has_op")?,
        },
        "conflicts" => StepAction::Conflicts {
            record: o.string("record")?,
            expect: o
                .req("expect")?
                .as_array()
                .ok_or("`expect` of conflicts is a list")?
                .iter()
                .map(|c| {
                    let c = Obj::of(c, &["field", "values"])?;
                    Ok(Conflict {
                        field: c.string("field")?,
                        values: c.strings("values")?,
                    })
                })
                .collect::<Parse<_>>()?,
        },
        "agree" => StepAction::Agree {
            record: o.string("record")?,
            other: o.string("other")?,
            paths: o.strings("paths")?,
        },
        "sync" => StepAction::Sync {
            server: o.opt_string("server")?,
            token: o.opt_string("token")?,
            cancelled: o.opt_bool("cancelled")?.unwrap_or(false),
            expect: match o.get("expect") {
                Some(v) => sync_expect(v)?,
                None => SyncExpect::default(),
            },
        },
        "order_wipe" => StepAction::OrderWipe {
            target: o.string("target")?,
        },
        "revoke" => StepAction::Revoke {
            target: o.string("target")?,
        },
        other => return Err(format!("unknown op `{other}`")),
    };
    let device = o.opt_string("device")?;
    if device.is_none() && op != "allowed_next" {
        return Err(format!("`{op}` needs a `device`"));
    }
    Ok(ScenarioStep {
        label: format!("step {index} ({op})"),
        device,
        action,
        save_as: o.opt_string("save_as")?,
        error: o.get("error").map(expected_error).transpose()?,
    })
}

fn create(kind: &str, fields: &Value) -> Parse<StepAction> {
    Ok(match kind {
        "note" => {
            let f = Obj::of(
                fields,
                &[
                    "sector",
                    "text",
                    "quartier",
                    "place",
                    "lat",
                    "lon",
                    "observed_at",
                    "axes",
                    "tags",
                    "team",
                    "residents_met",
                    "contacts",
                ],
            )?;
            StepAction::CreateNote {
                note: NewNote {
                    sector: f.string("sector")?,
                    text: f.string("text")?,
                    quartier: f.opt_string("quartier")?,
                    place: f.opt_string("place")?,
                    lat: f.opt_float("lat")?,
                    lon: f.opt_float("lon")?,
                    observed_at: f.opt_int("observed_at")?,
                    axes: f.opt_strings("axes")?,
                    tags: f.opt_strings("tags")?,
                    team: f.opt_strings("team")?,
                    residents_met: f.opt_int("residents_met")?,
                    contacts: f.opt_strings("contacts")?,
                },
            }
        }
        "report" => {
            let f = Obj::of(
                fields,
                &[
                    "sector", "category", "place", "text", "quartier", "lat", "lon", "urgent",
                    "body", "axes", "contacts",
                ],
            )?;
            StepAction::CreateReport {
                report: NewReport {
                    sector: f.string("sector")?,
                    category: f.string("category")?,
                    place: f.string("place")?,
                    text: f.string("text")?,
                    quartier: f.opt_string("quartier")?,
                    lat: f.opt_float("lat")?,
                    lon: f.opt_float("lon")?,
                    urgent: f.opt_bool("urgent")?.unwrap_or(false),
                    body: f.opt_string("body")?,
                    axes: f.opt_strings("axes")?,
                    contacts: f.opt_strings("contacts")?,
                },
            }
        }
        "contact" => {
            let f = Obj::of(
                fields,
                &[
                    "name",
                    "household",
                    "address",
                    "building",
                    "flat",
                    "phone",
                    "languages",
                    "landlord",
                    "sector",
                    "topics",
                    "consents",
                    "new_tenant_visit",
                ],
            )?;
            let consents = match f.get("consents") {
                None => HashMap::new(),
                Some(v) => v
                    .as_object()
                    .ok_or("`consents` is an object of topic: time")?
                    .iter()
                    .map(|(topic, at)| {
                        let at = at
                            .as_i64()
                            .ok_or(format!("consent `{topic}` needs a time"))?;
                        Ok((topic.clone(), at))
                    })
                    .collect::<Parse<_>>()?,
            };
            StepAction::CreateContact {
                contact: NewContact {
                    name: f.string("name")?,
                    household: f.opt_string("household")?,
                    address: f.opt_string("address")?,
                    building: f.opt_string("building")?,
                    flat: f.opt_string("flat")?,
                    phone: f.opt_string("phone")?,
                    languages: f.opt_strings("languages")?,
                    landlord: f.opt_string("landlord")?,
                    sector: f.opt_string("sector")?,
                    topics: f.opt_strings("topics")?,
                    consents,
                    new_tenant_visit: f.opt_bool("new_tenant_visit")?.unwrap_or(false),
                },
            }
        }
        "activity" => {
            let f = Obj::of(
                fields,
                &[
                    "activity_type",
                    "sector",
                    "quartier",
                    "place",
                    "started_at",
                    "ended_at",
                    "team",
                    "met_known",
                    "met_new",
                    "referrals",
                    "topics",
                    "partners",
                    "axes",
                    "text",
                    "contacts",
                ],
            )?;
            StepAction::CreateActivity {
                activity: NewActivity {
                    activity_type: f.string("activity_type")?,
                    sector: f.string("sector")?,
                    quartier: f.opt_string("quartier")?,
                    place: f.opt_string("place")?,
                    started_at: f.opt_int("started_at")?,
                    ended_at: f.opt_int("ended_at")?,
                    team: f.opt_strings("team")?,
                    met_known: f.opt_int("met_known")?,
                    met_new: f.opt_int("met_new")?,
                    referrals: f.opt_int("referrals")?,
                    topics: f.opt_strings("topics")?,
                    partners: f.opt_strings("partners")?,
                    axes: f.opt_strings("axes")?,
                    text: f.opt_string("text")?.unwrap_or_default(),
                    contacts: f.opt_strings("contacts")?,
                },
            }
        }
        other => return Err(format!("unknown kind `{other}`")),
    })
}

fn query(v: Option<&Value>) -> Parse<Query> {
    let Some(v) = v else {
        return Ok(Query::default());
    };
    let q = Obj::of(
        v,
        &[
            "kind",
            "sector",
            "quartier",
            "axis",
            "status",
            "open_only",
            "author",
            "category",
            "activity_type",
            "since",
            "until",
            "text",
            "oldest_first",
            "limit",
            "offset",
        ],
    )?;
    Ok(Query {
        kind: q.opt_string("kind")?.as_deref().map(kind).transpose()?,
        sector: q.opt_string("sector")?,
        quartier: q.opt_string("quartier")?,
        axis: q.opt_string("axis")?,
        status: q.opt_string("status")?.as_deref().map(status).transpose()?,
        open_only: q.opt_bool("open_only")?.unwrap_or(false),
        author: q.opt_string("author")?,
        category: q.opt_string("category")?,
        activity_type: q.opt_string("activity_type")?,
        since: q.opt_int("since")?,
        until: q.opt_int("until")?,
        text: q.opt_string("text")?,
        oldest_first: q.opt_bool("oldest_first")?.unwrap_or(false),
        limit: q
            .opt_int("limit")?
            .map(|n| u32::try_from(n).map_err(|_| "`limit` is a count"))
            .transpose()?,
        offset: u32::try_from(q.opt_int("offset")?.unwrap_or(0))
            .map_err(|_| "`offset` is a count")?,
    })
}

fn sync_expect(v: &Value) -> Parse<SyncExpect> {
    let o = Obj::of(
        v,
        &[
            "pushed_at_least",
            "pulled_at_least",
            "erased",
            "conflicts",
            "last_phase",
        ],
    )?;
    let count = |k: &str| -> Parse<Option<u64>> {
        o.opt_int(k)?
            .map(|n| u64::try_from(n).map_err(|_| format!("`{k}` is a count")))
            .transpose()
    };
    Ok(SyncExpect {
        pushed_at_least: count("pushed_at_least")?,
        pulled_at_least: count("pulled_at_least")?,
        erased: count("erased")?,
        conflicts: match o.get("conflicts") {
            None => Vec::new(),
            Some(list) => list
                .as_array()
                .ok_or("`conflicts` is a list")?
                .iter()
                .map(|c| {
                    let c = Obj::of(c, &["record", "field"])?;
                    Ok(RecordField {
                        record: c.string("record")?,
                        field: c.string("field")?,
                    })
                })
                .collect::<Parse<_>>()?,
        },
        last_phase: o.opt_string("last_phase")?,
    })
}

fn expected_error(v: &Value) -> Parse<ExpectedError> {
    let m = v.as_object().ok_or("`error` is an object with a `kind`")?;
    let kind = m
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("`error` needs a `kind`")?
        .to_string();
    let mut attrs = HashMap::new();
    let mut message_lacks = None;
    for (k, v) in m {
        let text = v
            .as_str()
            .ok_or(format!("`error.{k}` is text"))?
            .to_string();
        match k.as_str() {
            "kind" => {}
            "message_lacks" => message_lacks = Some(text),
            _ => {
                attrs.insert(k.clone(), text);
            }
        }
    }
    Ok(ExpectedError {
        kind,
        attrs,
        message_lacks,
    })
}

/// Checks from an object of `path: value`; a value `{"contains": [...]}`
/// checks parts of text, `{"present": true}` that it is set, `null` that
/// it is not.
fn checks(v: &Value) -> Parse<Vec<FieldCheck>> {
    v.as_object()
        .ok_or("`expect` is an object of path: value")?
        .iter()
        .map(|(path, want)| {
            let check = match want {
                Value::Null => ValueCheck::Absent,
                Value::Object(m) if m.len() == 1 && m.contains_key("contains") => {
                    ValueCheck::Contains {
                        parts: strings(&m["contains"])
                            .ok_or(format!("`{path}.contains` is a list of text"))?,
                    }
                }
                Value::Object(m)
                    if m.len() == 1 && m.get("present") == Some(&Value::Bool(true)) =>
                {
                    ValueCheck::Present
                }
                other => ValueCheck::Equals {
                    value: canonical(other).ok_or(format!("`{path}`: no object as a value"))?,
                },
            };
            Ok(FieldCheck {
                path: path.clone(),
                check,
            })
        })
        .collect()
}

/// A JSON value as the canonical text faces render values to.
fn canonical(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => format!("{:?}", n.as_f64()?),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical)
                .collect::<Option<Vec<_>>>()?
                .join(", ")
        ),
        Value::Object(_) => return None,
    })
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn status(code: &str) -> Parse<ReportStatus> {
    let core: carnet_core::ReportStatus = serde_json::from_value(Value::String(code.to_string()))
        .map_err(|_| format!("unknown status `{code}`"))?;
    Ok(core.into())
}

fn kind(code: &str) -> Parse<Kind> {
    Ok(carnet_core::Kind::parse(code)
        .map_err(|_| format!("unknown kind `{code}`"))?
        .into())
}

fn group_by(code: &str) -> Parse<GroupBy> {
    Ok(match code {
        "sector" => GroupBy::Sector,
        "axis" => GroupBy::Axis,
        "status" => GroupBy::Status,
        "activity_type" => GroupBy::ActivityType,
        "category" => GroupBy::Category,
        "kind" => GroupBy::Kind,
        other => return Err(format!("unknown grouping `{other}`")),
    })
}

/// A JSON object whose keys were checked against the ones allowed, so that
/// a misspelt key fails the file instead of being ignored.
struct Obj<'a>(&'a Map<String, Value>);

impl<'a> Obj<'a> {
    fn of(v: &'a Value, allowed: &[&str]) -> Parse<Obj<'a>> {
        let m = v.as_object().ok_or("expected an object")?;
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unknown key `{k}` (known: {})", allowed.join(", ")));
        }
        Ok(Obj(m))
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    fn req(&self, k: &str) -> Parse<&'a Value> {
        self.get(k).ok_or(format!("`{k}` is required"))
    }

    fn string(&self, k: &str) -> Parse<String> {
        self.opt_string(k)?.ok_or(format!("`{k}` is required"))
    }

    fn opt_string(&self, k: &str) -> Parse<Option<String>> {
        self.get(k)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or(format!("`{k}` is text"))
            })
            .transpose()
    }

    fn strings(&self, k: &str) -> Parse<Vec<String>> {
        strings(self.req(k)?).ok_or(format!("`{k}` is a list of text"))
    }

    fn opt_strings(&self, k: &str) -> Parse<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(v) => strings(v).ok_or(format!("`{k}` is a list of text")),
        }
    }

    fn int(&self, k: &str) -> Parse<i64> {
        self.opt_int(k)?.ok_or(format!("`{k}` is required"))
    }

    fn opt_int(&self, k: &str) -> Parse<Option<i64>> {
        self.get(k)
            .map(|v| v.as_i64().ok_or(format!("`{k}` is a whole number")))
            .transpose()
    }

    fn opt_float(&self, k: &str) -> Parse<Option<f64>> {
        self.get(k)
            .map(|v| v.as_f64().ok_or(format!("`{k}` is a number")))
            .transpose()
    }

    fn opt_bool(&self, k: &str) -> Parse<Option<bool>> {
        self.get(k)
            .map(|v| v.as_bool().ok_or(format!("`{k}` is true or false")))
            .transpose()
    }
}
