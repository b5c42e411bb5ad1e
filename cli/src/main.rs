//! `carnet`: Carnet on the command line — a device without a phone for a
//! mediator, and a supervisor's tool (sync, the team's merged log, export).
//!
//! This file only parses the command line; each command lives in
//! [`commands`], prints through [`output`], and fails through [`error`].

#![forbid(unsafe_code)]

mod commands;
mod demo;
mod device;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use carnet_cli::{error, key};

use crate::error::CliError;

/// Carnet, the field notebook of neighbourhood mediators, on the command line.
///
/// Start with `carnet demo`: three mediators' day in Carcassonne, synced
/// through a local server, in a few seconds.
#[derive(Debug, Parser)]
#[command(
    name = "carnet",
    version,
    max_term_width = 100,
    after_help = "The store's key: CARNET_KEY (64 hexadecimal characters) when set, else the file \
                  DIR/carnet.key that `carnet init` writes (readable by you only).\n\
                  Exit status: 0 done, 1 refused or failed (the message says why), 2 command typed wrong."
)]
struct Cli {
    /// The device store directory (holds carnet.db, and carnet.key unless
    /// CARNET_KEY is set).
    #[arg(long, global = true, env = "CARNET_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// A CA certificate (PEM) to trust for the server besides the built-in
    /// roots: for a deployment that issues its own certificates.
    #[arg(long, global = true, env = "CARNET_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the store (and its key) and enroll it with the team's server.
    Init(InitArgs),
    /// Field notes: what was seen during a déambulation or a permanence.
    #[command(subcommand)]
    Note(NoteCmd),
    /// Dégradation reports (signalements) and their lifecycle.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Residents' contacts (personal data: consent, erasure).
    #[command(subcommand)]
    Contact(ContactCmd),
    /// Activities: shifts, permanences, aller-vers sessions, meetings, outings.
    #[command(subcommand)]
    Activity(ActivityCmd),
    /// Photos of a report or a note: attach, list, save to a file, remove.
    #[command(subcommand)]
    Photo(PhotoCmd),
    /// Change one field of any record (`carnet show ID` lists them).
    Set(SetArgs),
    /// Comment on a report.
    Comment(CommentArgs),
    /// A resident's consents: suivi, orientation (needed for a referral),
    /// telephone (needed to keep a phone number).
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// List records of one kind, newest first.
    List(ListArgs),
    /// Show a record: its fields, status history, conflicts and change history.
    Show(ShowArgs),
    /// Send this device's work to the server and receive the team's.
    Sync,
    /// Replace this device's token with a new one (the old one stops
    /// working at once); the new one is saved in the store.
    RotateToken,
    /// Supervisors: the team's merged log from the server, on stdout.
    Export(ExportArgs),
    /// Supervisors: enrollment codes and the team's devices.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// A day of three mediators in Carcassonne, synced through a local server.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The team's sync server, e.g. https://carnet.example.org.
    #[arg(long, requires = "code", value_name = "URL")]
    server: Option<String>,
    /// The one-time enrollment code given by a supervisor.
    #[arg(long, requires = "server")]
    code: Option<String>,
    /// Who writes in this store (the author of its records) and the device's
    /// name on the server.
    #[arg(long)]
    name: Option<String>,
}

#[derive(Debug, Subcommand)]
enum NoteCmd {
    /// Record a field note.
    Add(NoteAdd),
}

#[derive(Debug, Args)]
struct NoteAdd {
    /// Sector code or name (e.g. conte-joliot, "Ozanam + Albignac").
    #[arg(long)]
    sector: String,
    /// What was seen or heard.
    #[arg(long)]
    text: String,
    /// Quartier of the sector (e.g. la-conte).
    #[arg(long)]
    quartier: Option<String>,
    /// Mission axis (repeatable): cadre-de-vie, tranquillite, jeunesse, acces-droits, participation.
    #[arg(long = "axis", value_name = "AXIS")]
    axes: Vec<String>,
    /// Building or place.
    #[arg(long)]
    place: Option<String>,
    /// Latitude in degrees (with --lon).
    #[arg(long, requires = "lon", allow_negative_numbers = true)]
    lat: Option<f64>,
    /// Longitude in degrees (with --lat).
    #[arg(long, requires = "lat", allow_negative_numbers = true)]
    lon: Option<f64>,
    /// Tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Team member present (repeatable).
    #[arg(long = "with", value_name = "NAME")]
    team: Vec<String>,
    /// Number of residents met.
    #[arg(long, value_name = "N")]
    met: Option<u32>,
    /// When it was observed (2026-11-29 or 2026-11-29T14:30:00Z); default now.
    #[arg(long, value_name = "DATE")]
    at: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ReportCmd {
    /// Record a dégradation.
    Add(ReportAdd),
    /// Move a report along its lifecycle: reported → forwarded → in_progress →
    /// resolved → closed (or rejected, duplicate; `reported` reopens).
    Status(ReportStatusArgs),
}

#[derive(Debug, Args)]
struct ReportAdd {
    /// Sector code or name.
    #[arg(long)]
    sector: String,
    /// Category: lighting, lift, cleanliness, graffiti, doors-locks,
    /// letterboxes, roads, green-spaces, abandoned-vehicle, other.
    #[arg(long)]
    category: String,
    /// Precise location (building, stairwell, floor…).
    #[arg(long)]
    place: String,
    /// Description.
    #[arg(long)]
    text: String,
    /// A danger to people.
    #[arg(long)]
    urgent: bool,
    /// Quartier of the sector.
    #[arg(long)]
    quartier: Option<String>,
    /// Responsible body (bailleur, ville-eclairage…).
    #[arg(long)]
    body: Option<String>,
    /// Mission axis (repeatable); cadre-de-vie when none is given.
    #[arg(long = "axis", value_name = "AXIS")]
    axes: Vec<String>,
    /// Latitude in degrees (with --lon).
    #[arg(long, requires = "lon", allow_negative_numbers = true)]
    lat: Option<f64>,
    /// Longitude in degrees (with --lat).
    #[arg(long, requires = "lat", allow_negative_numbers = true)]
    lon: Option<f64>,
}

#[derive(Debug, Args)]
struct ReportStatusArgs {
    /// The report's id.
    id: String,
    /// The new status: forwarded, in_progress, resolved, closed, rejected,
    /// duplicate, or reported (reopen).
    status: String,
    /// For `forwarded`: the responsible body (bailleur, ville-eclairage…).
    #[arg(long)]
    to: Option<String>,
    /// For `forwarded`: the body's reference for the case.
    #[arg(long = "ref", value_name = "REF")]
    reference: Option<String>,
    /// A comment.
    #[arg(long)]
    comment: Option<String>,
    /// For `duplicate`: the id of the report this one duplicates.
    #[arg(long, value_name = "ID")]
    duplicate_of: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ContactCmd {
    /// Record a resident's contact (only what is needed, with consent).
    Add(ContactAdd),
    /// Add an interaction or a referral to a contact's log.
    Log(ContactLog),
    /// Erase a resident for good, here and (after sync) everywhere.
    Erase {
        /// The contact's id.
        id: String,
    },
}

#[derive(Debug, Args)]
struct ContactAdd {
    /// Name.
    #[arg(long)]
    name: String,
    /// Phone number.
    #[arg(long)]
    phone: Option<String>,
    /// Address.
    #[arg(long)]
    address: Option<String>,
    /// Building.
    #[arg(long)]
    building: Option<String>,
    /// Flat.
    #[arg(long)]
    flat: Option<String>,
    /// Household composition.
    #[arg(long)]
    household: Option<String>,
    /// Sector code or name.
    #[arg(long)]
    sector: Option<String>,
    /// Landlord (a body code, e.g. bailleur).
    #[arg(long)]
    landlord: Option<String>,
    /// Language spoken (repeatable).
    #[arg(long = "language", value_name = "LANG")]
    languages: Vec<String>,
    /// Topic followed (repeatable): housing, energy, health, rights…
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// What the resident consents to, given now (repeatable): suivi,
    /// orientation, telephone (needed with --phone).
    #[arg(long = "consent", value_name = "PURPOSE")]
    consents: Vec<String>,
    /// The new-tenant welcome visit was done.
    #[arg(long)]
    new_tenant_visit: bool,
}

#[derive(Debug, Args)]
struct CommentArgs {
    /// The report's id.
    id: String,
    /// The comment (up to 2000 characters).
    text: String,
}

#[derive(Debug, Subcommand)]
enum ConsentCmd {
    /// The resident gives a consent (again, after withdrawing it).
    Give(ConsentArgs),
    /// The resident withdraws a consent; withdrawing telephone also
    /// clears the phone number.
    Withdraw(ConsentArgs),
}

#[derive(Debug, Args)]
struct ConsentArgs {
    /// The contact's id.
    id: String,
    /// suivi, orientation or telephone.
    purpose: String,
}

#[derive(Debug, Args)]
struct ContactLog {
    /// The contact's id.
    id: String,
    /// What happened.
    #[arg(long)]
    text: String,
    /// Partner the resident was referred to (CAF, France Services…).
    #[arg(long)]
    referral: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ActivityCmd {
    /// Record an activity.
    Add(ActivityAdd),
}

#[derive(Debug, Args)]
struct ActivityAdd {
    /// shift, permanence, aller_vers, meeting, school_outing or welcome_visit.
    #[arg(long = "type", value_name = "TYPE")]
    activity_type: String,
    /// Sector code or name.
    #[arg(long)]
    sector: String,
    /// Quartier of the sector.
    #[arg(long)]
    quartier: Option<String>,
    /// Place.
    #[arg(long)]
    place: Option<String>,
    /// Start (2026-11-29T14:00:00Z or 2026-11-29); default now.
    #[arg(long, value_name = "DATE")]
    started: Option<String>,
    /// End.
    #[arg(long, value_name = "DATE")]
    ended: Option<String>,
    /// Residents met who were already known.
    #[arg(long, value_name = "N")]
    met: Option<u32>,
    /// Residents met for the first time.
    #[arg(long, value_name = "N")]
    new_contacts: Option<u32>,
    /// Referrals to partners made.
    #[arg(long, value_name = "N")]
    referrals: Option<u32>,
    /// Team member present (repeatable).
    #[arg(long = "with", value_name = "NAME")]
    team: Vec<String>,
    /// Topic raised (repeatable).
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Partner present or presented (repeatable).
    #[arg(long = "partner", value_name = "NAME")]
    partners: Vec<String>,
    /// Mission axis (repeatable).
    #[arg(long = "axis", value_name = "AXIS")]
    axes: Vec<String>,
    /// Notes.
    #[arg(long)]
    text: Option<String>,
}

#[derive(Debug, Subcommand)]
enum PhotoCmd {
    /// Attach a photo (JPEG or PNG) to a report or a note; prints its hash.
    /// Its metadata (EXIF, GPS) is stripped, it is turned upright, resized
    /// and given a thumbnail before anything is stored.
    Add {
        /// The report's or note's id.
        id: String,
        /// The photo file (a HEIC photo must be converted to JPEG first).
        file: PathBuf,
    },
    /// List a record's photos: hash, size, dimensions, what this device
    /// holds of each and whether the server has it.
    List {
        /// The record's id.
        id: String,
    },
    /// Save a photo to a file; a full photo not on this device yet is
    /// fetched from the server.
    Get {
        /// The record's id.
        id: String,
        /// The photo's hash (from `carnet photo list ID`).
        hash: String,
        /// Where to write it (JPEG, readable by you only).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The thumbnail instead of the full photo.
        #[arg(long)]
        thumbnail: bool,
    },
    /// Remove a photo from its record and erase it (a face or a number
    /// plate caught by mistake): here now, everywhere after the next sync.
    Remove {
        /// The record's id.
        id: String,
        /// The photo's hash.
        hash: String,
    },
}

#[derive(Debug, Args)]
struct SetArgs {
    /// The record's id.
    id: String,
    /// The field (e.g. place, text, urgent, axes, met_known).
    field: String,
    /// The new value; lists are comma-separated; an empty value clears the field.
    #[arg(allow_hyphen_values = true)]
    value: String,
}

/// The kinds `list` shows.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    #[value(alias = "note")]
    Notes,
    #[value(alias = "report")]
    Reports,
    #[value(alias = "contact")]
    Contacts,
    #[value(alias = "activity")]
    Activities,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// What to list.
    kind: KindArg,
    /// Sector code or name.
    #[arg(long)]
    sector: Option<String>,
    /// Report status (reported, forwarded, in_progress…).
    #[arg(long)]
    status: Option<String>,
    /// Only reports still open (reported, forwarded, in progress).
    #[arg(long)]
    open: bool,
    /// Words to find (a name, for contacts).
    #[arg(long)]
    search: Option<String>,
    /// Mission axis.
    #[arg(long)]
    axis: Option<String>,
    /// From this date (inclusive), e.g. 2026-11-01.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Before this date.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// At most this many records (default 50, at most 1000).
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Skip this many records.
    #[arg(long, value_name = "N", default_value_t = 0)]
    offset: u32,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The record's id.
    id: String,
    /// Supervisors: ask the server (the team's merged record) instead of this store.
    #[arg(long)]
    server: bool,
}

/// The export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Csv,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// json or csv (for a spreadsheet).
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// note, report, contact or activity; every kind when absent.
    #[arg(long)]
    kind: Option<String>,
    /// From this date (inclusive), e.g. 2026-11-01.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Before this date.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Sector code or name.
    #[arg(long)]
    sector: Option<String>,
    /// Quartier code.
    #[arg(long)]
    quartier: Option<String>,
    /// Mission axis.
    #[arg(long)]
    axis: Option<String>,
    /// Report status.
    #[arg(long)]
    status: Option<String>,
    /// Report category.
    #[arg(long)]
    category: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AdminCmd {
    /// Issue a one-time enrollment code (valid 24 h) for a new device.
    Code {
        /// mediator or supervisor.
        #[arg(long, value_parser = |s: &str| s.parse::<carnet_core::Role>(), default_value = "mediator")]
        role: carnet_core::Role,
        /// The device's name, proposed at enrollment.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the team's devices.
    Devices,
    /// Cut a device off: its token stops working at once.
    Revoke {
        /// The device's id (from `carnet admin devices`).
        device: String,
    },
    /// Order a lost device to erase its store at its next contact.
    Wipe {
        /// The device's id (from `carnet admin devices`).
        device: String,
    },
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Keep the server's data and the three stores here instead of a new
    /// temporary directory (it must be empty or absent).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let json = cli.json;
    match commands::run(cli) {
        Ok(out) => match out.print(json) {
            Ok(()) => ExitCode::SUCCESS,
            // A closed pipe (`carnet list … | head`) is not an error worth a message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(&CliError::io("writing the output")(e)),
        },
        Err(e) => fail(&e),
    }
}

fn fail(e: &CliError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code() as u8)
}

/// Logs go to stderr, quiet unless `RUST_LOG` asks (e.g. `RUST_LOG=debug`).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
