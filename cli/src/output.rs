//! What a command prints: one value that is either shown to a person or, with
//! `--json`, serialised for a script. Commands build an [`Output`] and never
//! print themselves, so that every command has both faces and tests can read
//! either.

use std::fmt::Write as _;
use std::io::Write;

use carnet_core::model::Record;
use carnet_core::store::RecordDetails;
use carnet_core::{Kind, TeamConfig};
use serde_json::Value;

/// A command's result.
pub enum Output {
    /// Structured data, with its human rendering.
    Data {
        /// Printed with `--json`.
        json: Value,
        /// Printed otherwise.
        text: String,
    },
    /// Bytes passed through as they are (an export in CSV or JSON).
    Raw(Vec<u8>),
}

impl Output {
    /// Structured output.
    pub fn new(json: Value, text: impl Into<String>) -> Output {
        Output::Data {
            json,
            text: text.into(),
        }
    }

    /// Writes the output to stdout.
    pub fn print(self, json: bool) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        match self {
            Output::Data { json: v, .. } if json => {
                serde_json::to_writer_pretty(&mut out, &v)?;
                writeln!(out)?;
            }
            Output::Data { text, .. } => {
                out.write_all(text.as_bytes())?;
                if !text.is_empty() && !text.ends_with('\n') {
                    writeln!(out)?;
                }
            }
            Output::Raw(bytes) => out.write_all(&bytes)?,
        }
        out.flush()
    }
}

/// A time (ms since the epoch) in the local time zone, to the minute.
pub fn time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => ms.to_string(),
    }
}

/// The first line of a text, cut to `max` characters.
pub fn excerpt(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else if text.trim().lines().count() > 1 {
        format!("{line}…")
    } else {
        line.to_string()
    }
}

/// A code with its label from the team's configuration, `code (Label)`.
pub fn labelled(cfg: &TeamConfig, field: &str, code: &str) -> String {
    match cfg.code_label(field, code) {
        Some(l) if l != code => format!("{code} ({l})"),
        _ => code.to_string(),
    }
}

/// One line per record for `list`.
pub fn record_line(r: &Record) -> String {
    let h = r.header();
    let what = match r {
        Record::Note(n) => format!("{:<22} {}", n.sector, excerpt(&n.text, 60)),
        Record::Report(rp) => format!(
            "{:<22} {:<12} {:<12} {}{}",
            rp.sector,
            rp.status.code(),
            rp.category,
            excerpt(&rp.place, 40),
            if rp.urgent { "  URGENT" } else { "" }
        ),
        Record::Contact(c) => format!(
            "{:<22} {}{}",
            c.sector.as_deref().unwrap_or("-"),
            c.name,
            c.phone
                .as_deref()
                .map(|p| format!("  {p}"))
                .unwrap_or_default()
        ),
        Record::Activity(a) => format!(
            "{:<22} {:<14} met {} known, {} new",
            a.sector,
            a.activity_type,
            a.met_known.unwrap_or(0),
            a.met_new.unwrap_or(0)
        ),
    };
    let date = match r {
        Record::Note(n) => n.observed_at.unwrap_or(h.created_at),
        Record::Activity(a) => a.started_at.unwrap_or(h.created_at),
        _ => h.created_at,
    };
    format!("{}  {}  {}", h.id, time(date), what)
}

/// The kind of a record.
pub fn kind_of(r: &Record) -> Kind {
    match r {
        Record::Note(_) => Kind::Note,
        Record::Report(_) => Kind::Report,
        Record::Contact(_) => Kind::Contact,
        Record::Activity(_) => Kind::Activity,
    }
}

/// Renders a JSON field value for a person.
fn value_text(cfg: &TeamConfig, field: &str, v: &Value) -> String {
    match v {
        Value::String(s) if field.ends_with("_at") => s.clone(),
        Value::Number(n) if field.ends_with("_at") => n.as_i64().map(time).unwrap_or_default(),
        Value::String(s) => {
            let s = labelled(cfg, field, s);
            if s.contains('\n') {
                format!("\n    {}", s.replace('\n', "\n    "))
            } else {
                s
            }
        }
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) if o.contains_key("topic") => format!(
                    "{} ({})",
                    o["topic"].as_str().unwrap_or(""),
                    o["at"].as_i64().map(time).unwrap_or_default()
                ),
                Value::Object(o) if o.contains_key("state") => format!(
                    "{} [{}]",
                    o["id"].as_str().unwrap_or(""),
                    o["state"].as_str().unwrap_or("")
                ),
                Value::String(s) => labelled(cfg, field, s),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    }
}

/// Everything `show` prints about a record.
pub fn details_text(cfg: &TeamConfig, d: &RecordDetails) -> String {
    let mut s = String::new();
    let h = d.record.header();
    let kind = kind_of(&d.record);
    let _ = writeln!(
        s,
        "{} {}\n  created {} by {}, last changed {}",
        kind.code(),
        h.id,
        time(h.created_at),
        h.author,
        time(h.updated_at)
    );
    let view = serde_json::to_value(&d.record).unwrap_or(Value::Null);
    let mut names: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
    if kind == Kind::Report {
        names.insert(0, "status");
    }
    for name in names {
        if matches!(name, "events" | "interactions" | "comments" | "consents") {
            continue;
        }
        let v = &view[name];
        let empty = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
        if !empty {
            let _ = writeln!(s, "  {name:<16} {}", value_text(cfg, name, v));
        }
    }
    // Photos are listed by their own command (hashes and sizes, not content).
    if let Some(photos) = view["photos"].as_array().filter(|p| !p.is_empty()) {
        let _ = writeln!(
            s,
            "  {:<16} {} (see `carnet photo list {}`)",
            "photos",
            photos.len(),
            h.id
        );
    }
    match &d.record {
        Record::Report(r) if !r.events.is_empty() => {
            let _ = writeln!(s, "\nStatus history:");
            for e in &r.events {
                let mut extra = vec![];
                if let Some(to) = &e.to {
                    extra.push(format!("to {}", labelled(cfg, "to", to)));
                }
                if let Some(r) = &e.reference {
                    extra.push(format!("ref {r}"));
                }
                if let Some(d) = &e.duplicate_of {
                    extra.push(format!("duplicate of {d}"));
                }
                if let Some(c) = &e.comment {
                    extra.push(format!("\"{c}\""));
                }
                let _ = writeln!(
                    s,
                    "  {}  {:<12} by {}{}{}",
                    time(e.at),
                    e.status.code(),
                    e.by,
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", extra.join(", "))
                    },
                    if e.applied {
                        ""
                    } else {
                        "  (not applied: a concurrent change came first)"
                    }
                );
            }
        }
        Record::Contact(c) if !c.interactions.is_empty() => {
            let _ = writeln!(s, "\nInteractions:");
            for i in &c.interactions {
                let _ = writeln!(
                    s,
                    "  {}  by {}  {}{}",
                    time(i.at),
                    i.by,
                    i.text,
                    i.referral
                        .as_deref()
                        .map(|r| format!("  → referred to {r}"))
                        .unwrap_or_default()
                );
            }
        }
        _ => {}
    }
    match &d.record {
        Record::Report(r) if !r.comments.is_empty() => {
            let _ = writeln!(s, "\nComments:");
            for c in &r.comments {
                let _ = writeln!(s, "  {}  by {}  {}", time(c.at), c.by, c.text);
            }
        }
        Record::Contact(c) if !c.consents.is_empty() => {
            let _ = writeln!(s, "\nConsents:");
            for x in &c.consents {
                let label = x
                    .purpose
                    .parse::<carnet_core::consent::Purpose>()
                    .map_or(x.purpose.as_str(), |p| p.label());
                let by = |who: &str| {
                    if who.is_empty() {
                        String::new()
                    } else {
                        format!(" by {who}")
                    }
                };
                let withdrawn = match x.withdrawn_at {
                    Some(at) => format!(
                        ", withdrawn {}{}",
                        time(at),
                        by(x.withdrawn_by.as_deref().unwrap_or(""))
                    ),
                    None => String::new(),
                };
                let _ = writeln!(
                    s,
                    "  {label}: given {}{}{withdrawn}",
                    time(x.given_at),
                    by(&x.given_by)
                );
            }
        }
        _ => {}
    }
    if !d.conflicts.is_empty() {
        let _ = writeln!(
            s,
            "\nConflicts (values written at the same time on two devices; all are kept):"
        );
        for c in &d.conflicts {
            // The value lists show is the one in the record's view; which
            // one wins is deterministic but arbitrary, so say which it is.
            let shown = &view[c.field.as_str()];
            let values: Vec<String> = c
                .values
                .iter()
                .map(|v| {
                    let t = format!("\"{}\"", value_text(cfg, &c.field, v));
                    if v == shown {
                        format!("{t} (shown)")
                    } else {
                        t
                    }
                })
                .collect();
            let _ = writeln!(s, "  {:<16} {}", c.field, values.join("  |  "));
        }
        let _ = writeln!(
            s,
            "  Resolve one by writing the right value: carnet set {} FIELD VALUE",
            h.id
        );
    }
    if !d.history.is_empty() {
        let _ = writeln!(s, "\nChange history:");
        for e in &d.history {
            let line = format!(
                "  {}  {:<12} {:<12} {}",
                time(e.at),
                e.by,
                e.op,
                e.fields.join(", ")
            );
            let _ = writeln!(s, "{}", line.trim_end());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_long_and_multiline_text() {
        assert_eq!(excerpt("court", 10), "court");
        assert_eq!(excerpt("abcdefghijkl", 5), "abcd…");
        assert_eq!(excerpt("one\ntwo", 10), "one…");
    }

    #[test]
    fn codes_get_their_labels() {
        let cfg = TeamConfig::carcassonne();
        assert_eq!(
            labelled(&cfg, "sector", "conte-joliot"),
            "conte-joliot (La Conte + Joliot Curie)"
        );
        assert_eq!(labelled(&cfg, "place", "hall"), "hall");
    }
}
