//! `carnet list notes|reports|contacts|activities`: the local read model,
//! filtered, newest first, one page at a time.

use carnet_core::store::Query;
use carnet_core::{Kind, Store};
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::output::{Output, record_line};
use crate::{KindArg, ListArgs};

/// Reads a date flag (2026-11-29, an RFC 3339 time, or milliseconds).
pub fn parse_date(flag: &str, s: Option<&str>) -> Result<Option<i64>> {
    s.map(|s| carnet_core::schema::parse_time(flag, &Value::String(s.to_string())))
        .transpose()
        .map_err(CliError::from)
}

fn kind(k: KindArg) -> Kind {
    match k {
        KindArg::Notes => Kind::Note,
        KindArg::Reports => Kind::Report,
        KindArg::Contacts => Kind::Contact,
        KindArg::Activities => Kind::Activity,
    }
}

pub fn run(store: &Store, a: &ListArgs) -> Result<Output> {
    let kind = kind(a.kind);
    let cfg = store.config();
    // Labels are accepted as in the other commands; the read model holds codes.
    let sector = a.sector.as_deref().map(|s| {
        cfg.sector(s)
            .map(|x| x.code.clone())
            .unwrap_or(s.to_string())
    });
    let axis = a
        .axis
        .as_deref()
        .map(|s| cfg.axis(s).map(|x| x.code.clone()).unwrap_or(s.to_string()));
    let status = a
        .status
        .as_deref()
        .map(|s| s.parse::<carnet_core::ReportStatus>())
        .transpose()?;
    let q = Query {
        kind: Some(kind),
        sector,
        axis,
        status: status.map(|s| s.code().to_string()),
        open_only: a.open,
        since: parse_date("since", a.since.as_deref())?,
        until: parse_date("until", a.until.as_deref())?,
        text: a.search.clone(),
        limit: a.limit,
        offset: a.offset,
        ..Default::default()
    };
    let page = store.list(&q)?;
    let mut text = String::new();
    for r in &page.items {
        text.push_str(&record_line(r));
        text.push('\n');
    }
    if page.items.is_empty() {
        text.push_str(&format!("no {} match\n", kind.code()));
    } else if page.has_more {
        let next = a.offset as usize + page.items.len();
        text.push_str(&format!("… more: add --offset {next}\n"));
    }
    Ok(Output::new(
        json!({ "items": page.items, "has_more": page.has_more }),
        text,
    ))
}
