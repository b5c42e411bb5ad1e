//! `carnet-server`: run the sync server, create a team, issue enrollment codes.

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
        carnet_server::storage::open(&config)
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
