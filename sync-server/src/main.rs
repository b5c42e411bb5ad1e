//! `carnet-server`: run the sync server, create a team, issue enrollment
//! codes, back a deployment up and restore it.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use carnet_server::{Config, ConfigArgs, Role, ServerError};
use clap::{Parser, Subcommand};

/// Carnet's sync server: merges every device's work into the team's log.
#[derive(Parser)]
#[command(name = "carnet-server", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of `serve`'s settings costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serves the sync API until Ctrl-C or SIGTERM.
    Serve {
        // Boxed: the settings outweigh the other commands many times over.
        #[command(flatten)]
        config: Box<ConfigArgs>,
    },
    /// Creates a team and prints its first supervisor enrollment code.
    Init {
        /// The team's name.
        #[arg(long)]
        team: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print {"team_id", "code"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prints a one-time enrollment code for a device of a team.
    Enroll {
        /// The team's id (printed by `init`).
        #[arg(long)]
        team: String,
        /// mediator or supervisor.
        #[arg(long, value_parser = |s: &str| s.parse::<Role>())]
        role: Role,
        /// The device's name, proposed at enrollment.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// Print {"code"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Supervisors' own accounts for the dashboard.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// A team's settings.
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
    /// Copies every database of the deployment into one file (a tar
    /// archive), consistently, while the server runs.
    Backup {
        /// The backup file to write (replaced if it exists).
        #[arg(long)]
        to: PathBuf,
        /// Data directory.
        #[arg(long = "data", env = "CARNET_DATA", default_value = "./carnet-data")]
        data_dir: PathBuf,
        /// Print what was backed up as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Puts a backup's databases in the data directory, then gives every
    /// team's log a new lineage so that devices give back what the backup
    /// lacks. Stop the server first.
    Restore {
        /// The backup file (written by `carnet-server backup`).
        #[arg(long)]
        from: PathBuf,
        /// Data directory: empty or missing, unless --force.
        #[arg(long = "data", env = "CARNET_DATA", default_value = "./carnet-data")]
        data_dir: PathBuf,
        /// Replace the databases of a data directory that holds some.
        #[arg(long)]
        force: bool,
        /// Print what was restored as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Gives every team's log a new lineage, after the databases were put
    /// back by other means than `restore` (a file system snapshot; on
    /// PostgreSQL, pg_restore or a point-in-time recovery).
    /// Stop the server first.
    RenewLineage {
        #[command(flatten)]
        store: StoreArgs,
        /// Print {"teams"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copies a SQLite deployment (teams, devices and their tokens, codes,
    /// every team's log at the same positions, the access log) into a
    /// PostgreSQL database, then verifies it team by team. Safe to run
    /// while the SQLite server serves, and again: each run copies what was
    /// added since. Run it a last time with that server stopped, then
    /// serve with --database.
    MigrateStorage {
        /// The SQLite deployment's data directory (only read).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The PostgreSQL database (postgres://user@host/db).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Creates a supervisor's account and prints its one-time invitation
    /// link (7 days), with which the person chooses a password.
    Add {
        /// The team's id.
        #[arg(long)]
        team: String,
        /// The person's name, as pages and the access log show it.
        #[arg(long)]
        name: String,
        /// The e-mail they sign in with.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: AccountArgs,
        /// Print {"invitation_url", "account_id", "expires_at"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prints a new invitation link for an account (a reset: new password,
    /// second factor enrolled again); older links stop working.
    Invite {
        /// The team's id.
        #[arg(long)]
        team: String,
        /// The account's e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: AccountArgs,
        /// Print {"invitation_url", "account_id", "expires_at"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disables an account: it opens nothing any more, its sessions end.
    Disable {
        /// The team's id.
        #[arg(long)]
        team: String,
        /// The account's e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: AccountArgs,
    },
    /// Lists a team's accounts.
    List {
        /// The team's id.
        #[arg(long)]
        team: String,
        #[command(flatten)]
        store: AccountArgs,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Requires (on) or not (off) a TOTP second factor for the team's
    /// accounts.
    RequireTotp {
        /// The team's id.
        #[arg(long)]
        team: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        store: AccountArgs,
    },
}

/// Where the accounts are, and the base of invitation links.
#[derive(clap::Args)]
struct AccountArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Where people reach the server (https://carnet.example.org).
    #[arg(long, env = "CARNET_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The server's address, for the default public URL.
    #[arg(long, env = "CARNET_LISTEN", value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
}

impl AccountArgs {
    /// The server's state as the commands need it: storage, sessions and
    /// access log, from the same settings as `serve`.
    fn open(&self) -> Result<carnet_server::AppState, ServerError> {
        let config = Config::load(&ConfigArgs {
            data_dir: Some(self.store.data_dir.clone()),
            database: self.store.database.clone(),
            database_pool: Some(2),
            public_url: self.public_url.clone(),
            listen: self.listen,
            ..Default::default()
        })?;
        carnet_server::AppState::open(config)
    }
}

fn account_json(a: &carnet_server::storage::Account) -> serde_json::Value {
    serde_json::json!({
        "account_id": a.id,
        "name": a.name,
        "email": a.email,
        "active": a.password_hash.is_some(),
        "totp": a.totp_secret.is_some(),
        "disabled": a.disabled_at.is_some(),
    })
}

fn print_invitation(inv: &carnet_server::accounts::Invitation, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "invitation_url": inv.url,
                "account_id": inv.account.id,
                "expires_at": inv.expires_at,
            })
        );
    } else {
        println!(
            "Invitation for {} (single use, 7 days): {}",
            inv.account.email, inv.url
        );
    }
}

/// Where the teams are: a data directory (SQLite, the default) or a
/// PostgreSQL database.
#[derive(clap::Args)]
struct StoreArgs {
    /// Data directory (the embedded SQLite storage).
    #[arg(long = "data", env = "CARNET_DATA", default_value = "./carnet-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user@host/db), instead of the data directory.
    #[arg(long, env = "CARNET_DATABASE_URL", value_name = "URL")]
    database: Option<String>,
}

impl StoreArgs {
    fn open(&self) -> Result<std::sync::Arc<dyn carnet_server::Storage>, ServerError> {
        let config = Config::load(&ConfigArgs {
            data_dir: Some(self.data_dir.clone()),
            database: self.database.clone(),
            database_pool: Some(2),
            ..Default::default()
        })?;
        Ok(carnet_server::storage::open(&config)?)
    }

    /// How `enroll` is told where the team is, as it was given here.
    fn flags(&self) -> String {
        match &self.database {
            Some(_) => "--database \"$CARNET_DATABASE_URL\"".into(),
            None => format!("--data {}", self.data_dir.display()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carnet-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), ServerError> {
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            init_logging(config.log_json);
            private_umask();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.listen).await?;
                carnet_server::serve(listener, config, shutdown_signal()).await
            })
        }
        Command::Init { team, store, json } => {
            let (team_id, code) = carnet_server::init_team_in(&*store.open()?, &team)?;
            if json {
                println!("{}", serde_json::json!({"team_id": team_id, "code": code}));
            } else {
                println!(
                    "Team {team:?} created.\n  team id: {team_id}\n  supervisor enrollment code (single use, 24 h): {code}"
                );
                println!(
                    "More codes: carnet-server enroll --team {team_id} --role mediator {}",
                    store.flags()
                );
                println!(
                    "Dashboard accounts: carnet-server user add --team {team_id} --name … --email … {}",
                    store.flags()
                );
            }
            Ok(())
        }
        Command::Enroll {
            team,
            role,
            name,
            store,
            json,
        } => {
            let code = carnet_server::issue_code_in(&*store.open()?, &team, role, name.as_deref())?;
            if json {
                println!("{}", serde_json::json!({"code": code}));
            } else {
                println!("Enrollment code for a {role} (single use, 24 h): {code}");
            }
            Ok(())
        }
        Command::User { command } => {
            use carnet_server::accounts::admin;
            match command {
                UserCommand::Add {
                    team,
                    name,
                    email,
                    store,
                    json,
                } => print_invitation(&admin::add(&store.open()?, &team, &name, &email)?, json),
                UserCommand::Invite {
                    team,
                    email,
                    store,
                    json,
                } => print_invitation(&admin::invite(&store.open()?, &team, &email)?, json),
                UserCommand::Disable { team, email, store } => {
                    let a = admin::disable(&store.open()?, &team, &email)?;
                    println!("Account {} disabled; its sessions are ended.", a.email);
                }
                UserCommand::List { team, store, json } => {
                    let accounts = admin::list(&store.open()?, &team)?;
                    if json {
                        let list: Vec<_> = accounts.iter().map(account_json).collect();
                        println!("{}", serde_json::Value::Array(list));
                    } else {
                        for a in &accounts {
                            let state = if a.disabled_at.is_some() {
                                "disabled"
                            } else if a.password_hash.is_some() {
                                "active"
                            } else {
                                "invited"
                            };
                            let totp = if a.totp_secret.is_some() {
                                ", TOTP"
                            } else {
                                ""
                            };
                            println!("{}  {} <{}>  {state}{totp}", a.id, a.name, a.email);
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Team {
            command: TeamCommand::RequireTotp { team, state, store },
        } => {
            let on = state == "on";
            carnet_server::accounts::admin::require_totp(&store.open()?, &team, on)?;
            println!(
                "Team {team}: a second factor is {}required.",
                if on { "" } else { "no longer " }
            );
            Ok(())
        }
        Command::Backup { to, data_dir, json } => {
            private_umask();
            let report = carnet_server::backup::backup(&data_dir, &to)?;
            if json {
                println!("{}", to_json(&report)?);
            } else {
                println!(
                    "Backed up {} team(s) to {} ({}):",
                    report.teams,
                    report.file.display(),
                    size(report.bytes)
                );
                for db in &report.databases {
                    println!("  {}  {}", db.path, size(db.bytes));
                }
                println!(
                    "  {} photo file(s)  {}",
                    report.photos,
                    size(report.photo_bytes)
                );
            }
            Ok(())
        }
        Command::Restore {
            from,
            data_dir,
            force,
            json,
        } => {
            private_umask();
            let report = carnet_server::backup::restore(&from, &data_dir, force)?;
            if json {
                println!("{}", to_json(&report)?);
            } else {
                let at = jiff::Timestamp::from_millisecond(report.backed_up_at)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| report.backed_up_at.to_string());
                println!(
                    "Restored the backup of {at} into {}: {} team(s), each with a new lineage (devices give back what the backup lacks at their next sync):",
                    report.data_dir.display(),
                    report.teams
                );
                for db in &report.databases {
                    println!("  {}  {}", db.path, size(db.bytes));
                }
                println!("  {} photo file(s)", report.photos);
            }
            Ok(())
        }
        Command::RenewLineage { store, json } => {
            let teams = match &store.database {
                Some(_) => store.open()?.renew_lineages()?,
                None => carnet_server::backup::renew_lineages(&store.data_dir)?,
            };
            if json {
                println!("{}", serde_json::json!({"teams": teams}));
            } else {
                println!("{teams} team(s) have a new lineage: devices start their next sync over.");
            }
            Ok(())
        }
        Command::MigrateStorage { from, to, json } => {
            let report = carnet_server::migrate_storage::migrate(&from, &to)?;
            if json {
                println!("{}", to_json(&report)?);
            } else {
                print_migration(&report);
            }
            Ok(())
        }
    }
}

fn print_migration(report: &carnet_server::migrate_storage::MigrationReport) {
    for t in &report.team_reports {
        println!(
            "team {}: {} log entries ({} copied now), {} records, {} tombstones, {} devices, {} photo file(s) ({} copied now, {} deleted); verified (log SHA-256 {})",
            t.team_id,
            t.changes,
            t.copied.changes,
            t.records,
            t.tombstones,
            t.devices,
            t.photos,
            t.copied.photos,
            t.copied.photos_deleted,
            &t.log_sha256[..16]
        );
    }
    println!(
        "{} team(s) verified: {} log entries ({} copied by this run), {} records, {} tombstones, {} devices, {} codes, {} accounts, {} access-log entries, {} photo file(s) ({} copied by this run, {}).",
        report.teams,
        report.changes,
        report.copied.changes,
        report.records,
        report.tombstones,
        report.devices,
        report.codes,
        report.accounts,
        report.access_log_entries,
        report.photos,
        report.copied.photos,
        size(report.copied.photo_bytes)
    );
}

fn to_json(value: &impl serde::Serialize) -> Result<String, ServerError> {
    serde_json::to_string(value).map_err(|e| ServerError::Internal(e.to_string()))
}

/// `1234` → `1.2 kB`.
fn size(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// Every file the server creates from now on (the dashboard's database,
/// SQLite's journals, exports) is its user's only: umask 077.
#[cfg(unix)]
fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

#[cfg(not(unix))]
fn private_umask() {}

fn init_logging(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("CARNET_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init()
    } else {
        builder.init()
    }
}

/// Resolves on Ctrl-C or SIGTERM (what systemd and containers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}
