//! One module per command; [`run`] dispatches the parsed command line.

mod admin;
mod edit;
mod export;
mod init;
mod list;
mod photos;
mod records;
mod show;
mod sync;
mod token;

use std::path::Path;

use carnet_core::sync::ExtraRoots;
use carnet_core::{RecordId, Store};
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::output::Output;
use crate::{ActivityCmd, Cli, Command, ConsentCmd, ContactCmd, NoteCmd, ReportCmd, demo, device};

/// Runs the command and returns what to print.
pub fn run(cli: Cli) -> Result<Output> {
    let dir = cli.store.as_deref();
    let ca = cli.ca_cert.as_deref();
    match cli.command {
        Command::Init(a) => init::run(&device::dir(dir)?, &a, ca),
        Command::Note(NoteCmd::Add(a)) => records::note_add(&open(dir)?, a),
        Command::Report(ReportCmd::Add(a)) => records::report_add(&open(dir)?, a),
        Command::Report(ReportCmd::Status(a)) => records::report_status(&open(dir)?, a),
        Command::Contact(ContactCmd::Add(a)) => records::contact_add(&open(dir)?, a),
        Command::Contact(ContactCmd::Log(a)) => records::contact_log(&open(dir)?, a),
        Command::Contact(ContactCmd::Erase { id }) => records::contact_erase(&open(dir)?, &id),
        Command::Activity(ActivityCmd::Add(a)) => records::activity_add(&open(dir)?, a),
        Command::Photo(a) => photos::run(&open(dir)?, a, cli.json, ca),
        Command::Set(a) => edit::run(&open(dir)?, &a),
        Command::Comment(a) => records::comment(&open(dir)?, a),
        Command::Consent(ConsentCmd::Give(a)) => records::consent(&open(dir)?, a, true),
        Command::Consent(ConsentCmd::Withdraw(a)) => records::consent(&open(dir)?, a, false),
        Command::List(a) => list::run(&open(dir)?, &a),
        Command::Show(a) => show::run(&open(dir)?, &a, ca),
        Command::Sync => sync::run(&open(dir)?, cli.json, ca),
        Command::RotateToken => token::run(&open(dir)?, ca),
        Command::Export(a) => export::run(&open(dir)?, &a, ca),
        Command::Admin(a) => admin::run(&open(dir)?, &a, ca),
        Command::Demo(a) => demo::run(&a),
    }
}

fn open(dir: Option<&Path>) -> Result<Store> {
    device::open(&device::dir(dir)?)
}

/// The CAs trusted for the server besides the built-in ones (`--ca-cert`),
/// read only by the commands that reach it.
fn roots(ca_cert: Option<&Path>) -> Result<ExtraRoots> {
    Ok(match ca_cert {
        Some(path) => ExtraRoots::from_pem_file(path)?,
        None => ExtraRoots::default(),
    })
}

/// Parses a record id typed by the user.
fn parse_id(s: &str) -> Result<RecordId> {
    Ok(s.parse::<RecordId>()?)
}

/// The output of a command that created a record: `{"id": …}`.
fn created(kind: &str, id: RecordId) -> Output {
    Output::new(json!({ "id": id }), format!("{kind} recorded: {id}"))
}

/// The input map of a new record, built from flags; absent flags stay out
/// so the core applies its defaults.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn set(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.0.insert(key.into(), v.into());
        self
    }

    fn opt(self, key: &str, v: Option<impl Into<Value>>) -> Self {
        match v {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    fn list(self, key: &str, v: Vec<String>) -> Self {
        if v.is_empty() { self } else { self.set(key, v) }
    }
}
