//! `carnet export`: the team's merged log from the server (supervisors), as
//! the server writes it, to stdout — redirect it to a file for a spreadsheet.

use std::path::Path;

use carnet_core::sync::admin::{Admin, Format, RecordsQuery};
use carnet_core::{Kind, Store};

use super::list::parse_date;
use crate::error::Result;
use crate::output::Output;
use crate::{ExportArgs, FormatArg, device};

pub fn run(store: &Store, a: &ExportArgs, ca_cert: Option<&Path>) -> Result<Output> {
    let e = device::enrolled(store)?;
    let cfg = store.config();
    let q = RecordsQuery {
        kind: a.kind.as_deref().map(Kind::parse).transpose()?,
        sector: a.sector.as_deref().map(|s| {
            cfg.sector(s)
                .map(|x| x.code.clone())
                .unwrap_or(s.to_string())
        }),
        quartier: a.quartier.clone(),
        axis: a
            .axis
            .as_deref()
            .map(|s| cfg.axis(s).map(|x| x.code.clone()).unwrap_or(s.to_string())),
        category: a.category.as_deref().map(|s| {
            cfg.category(s)
                .map(|x| x.code.clone())
                .unwrap_or(s.to_string())
        }),
        status: a
            .status
            .as_deref()
            .map(|s| {
                s.parse::<carnet_core::ReportStatus>()
                    .map(|s| s.code().to_string())
            })
            .transpose()?,
        since: parse_date("since", a.since.as_deref())?,
        until: parse_date("until", a.until.as_deref())?,
    };
    let format = match a.format {
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    };
    let mut bytes =
        Admin::trusting(&e.server, &e.token, &super::roots(ca_cert)?)?.records(&q, format)?;
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    Ok(Output::Raw(bytes))
}
