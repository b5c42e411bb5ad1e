//! The server's settings: defaults that run out of the box, overridden by
//! an optional TOML file, then by environment variables, then by flags
//! (the most specific wins), so that a packaged service, a container and a
//! developer's shell all configure it the way they are used to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Result, ServerError};

/// Everything `serve` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where `server.db` and the teams' logs live (the embedded SQLite
    /// storage; with [`Config::database`] set, nothing of the teams is kept
    /// here).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host/db`): the teams, devices,
    /// logs, sessions, access log and rate limits live there instead of
    /// under `data_dir` and in memory, and any number of instances can
    /// serve them.
    pub database: Option<String>,
    /// Connections each instance keeps to [`Config::database`] at most;
    /// what a PostgreSQL server's `max_connections` must cover, summed over
    /// the instances (docs/deployment.md).
    pub database_pool: u32,
    /// The certificate chain (PEM) to serve HTTPS with; with
    /// [`Config::tls_key`]. Without both, plain HTTP (for loopback, or
    /// behind a front that terminates TLS).
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of [`Config::tls_cert`].
    pub tls_key: Option<PathBuf>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where people reach the server (`https://carnet.example.org`): the
    /// base of invitation links. `None`: `http://127.0.0.1:<port>`, for a
    /// server tried on its own machine ([`Config::public_url`]).
    pub public_url_base: Option<String>,
    /// How long an enrollment code stays valid.
    pub code_ttl: Duration,
    /// Requests per second a token may sustain (0 disables the limit).
    pub rate_per_second: f64,
    /// Requests a token may make in a burst.
    pub rate_burst: u32,
    /// A request (body included) taking longer is answered 408.
    pub request_timeout: Duration,
    /// Logs as JSON lines instead of text.
    pub log_json: bool,
    /// Sends the dashboard's cookies without the `Secure` attribute, so that
    /// a browser keeps them over plain HTTP. Only for development on
    /// loopback: in production the server sits behind TLS and the cookies
    /// must never travel in clear (default false: cookies are Secure).
    pub insecure_cookies: bool,
    /// The server sits behind a reverse proxy it trusts, which sets
    /// `X-Forwarded-For`: the client address throttled on failed codes is
    /// then that header's last entry. Without a proxy the header is the
    /// client's own word and is ignored, or anyone could dodge the throttle.
    pub trusted_proxy: bool,
    /// Also serves `/metrics` without a token on this address (e.g.
    /// loopback, for a local Prometheus). On the main address `/metrics`
    /// requires a supervisor's token.
    pub metrics_listen: Option<SocketAddr>,
    /// A device unseen for this many days is revoked (reason `inactive`);
    /// 0 disables it. A lost phone nobody reported then stops being a key
    /// to the team's log.
    pub device_inactivity_days: u32,
    /// Wrong enrollment codes (or dashboard sign-ins) tolerated per client
    /// address and per deployment within [`Config::code_failure_window`],
    /// before answering 429.
    pub code_failures: u32,
    /// The window over which failed codes are counted.
    pub code_failure_window: Duration,
    /// Bytes of photos a team may keep on the server, uploads in progress
    /// included (default 20 GiB): past it an upload is answered 413
    /// `photo-quota`, so that one team cannot fill the disk of all.
    pub photo_quota_bytes: u64,
    /// How long a photo no record references any more is kept before the
    /// collection round deletes it (default 7 days): a device that has not
    /// synced the change referencing it yet still finds it. Erased photos
    /// are deleted at once, whatever this says.
    pub photo_grace: Duration,
    /// Each team's contact lines (team id → "Régie de quartiers, 04 68 …"),
    /// printed on the fiches de signalement sent to landlords and city
    /// services so that they know whom to answer; TOML table
    /// `[team_contacts]` only.
    pub team_contacts: HashMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./carnet-data"),
            database: None,
            database_pool: 16,
            tls_cert: None,
            tls_key: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url_base: None,
            code_ttl: Duration::from_secs(24 * 3600),
            rate_per_second: 20.0,
            rate_burst: 200,
            request_timeout: Duration::from_secs(120),
            log_json: false,
            insecure_cookies: false,
            trusted_proxy: false,
            metrics_listen: None,
            device_inactivity_days: 90,
            code_failures: 10,
            code_failure_window: Duration::from_secs(15 * 60),
            photo_quota_bytes: 20 << 30,
            photo_grace: Duration::from_secs(7 * 24 * 3600),
            team_contacts: HashMap::new(),
        }
    }
}

/// Settings from flags or environment; unset ones fall back to the file,
/// then to [`Config::default`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Data directory (server.db and one database per team).
    #[arg(long = "data", env = "CARNET_DATA", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db): serve from it instead of
    /// the data directory.
    #[arg(long, env = "CARNET_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
    /// Connections to the database per instance (default 16).
    #[arg(long, env = "CARNET_DATABASE_POOL", value_name = "N")]
    pub database_pool: Option<u32>,
    /// Certificate chain (PEM) to serve HTTPS with (with --tls-key).
    #[arg(long, env = "CARNET_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "CARNET_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, env = "CARNET_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Where people reach the server (https://carnet.example.org): the base
    /// of invitation links (default http://127.0.0.1:<port>).
    #[arg(long, env = "CARNET_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// A TOML file with any of: data_dir, database, database_pool, tls_cert, tls_key, listen, public_url, code_ttl_hours,
    /// rate_per_second, rate_burst, request_timeout_secs, log_format,
    /// insecure_cookies, trusted_proxy, metrics_listen,
    /// device_inactivity_days, code_failures, photo_quota_bytes,
    /// photo_grace_days.
    #[arg(long = "config", env = "CARNET_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Hours an enrollment code stays valid (default 24).
    #[arg(long, env = "CARNET_CODE_TTL_HOURS", value_name = "HOURS")]
    pub code_ttl_hours: Option<f64>,
    /// Requests per second per device token (default 20; 0 = no limit).
    #[arg(long, env = "CARNET_RATE_PER_SECOND")]
    pub rate_per_second: Option<f64>,
    /// Burst of requests per device token (default 200).
    #[arg(long, env = "CARNET_RATE_BURST")]
    pub rate_burst: Option<u32>,
    /// Seconds before a request is abandoned with 408 (default 120).
    #[arg(long, env = "CARNET_REQUEST_TIMEOUT_SECS", value_name = "SECS")]
    pub request_timeout_secs: Option<u64>,
    /// `text` or `json` (default text).
    #[arg(long, env = "CARNET_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Dashboard cookies without `Secure`, for plain HTTP in development.
    #[arg(long, env = "CARNET_INSECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub insecure_cookies: Option<bool>,
    /// Behind a trusted reverse proxy: take the client address from
    /// X-Forwarded-For (only then).
    #[arg(long, env = "CARNET_TRUSTED_PROXY", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub trusted_proxy: Option<bool>,
    /// Also serve /metrics without a token on this address (e.g. 127.0.0.1:9090).
    #[arg(long, env = "CARNET_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Revoke devices unseen for this many days (default 90; 0 = never).
    #[arg(long, env = "CARNET_DEVICE_INACTIVITY_DAYS", value_name = "DAYS")]
    pub device_inactivity_days: Option<u32>,
    /// Wrong codes per client address (and per deployment) in 15 minutes
    /// before 429 (default 10).
    #[arg(long, env = "CARNET_CODE_FAILURES", value_name = "N")]
    pub code_failures: Option<u32>,
    /// Bytes of photos each team may keep on the server (default 20 GiB).
    #[arg(long, env = "CARNET_PHOTO_QUOTA_BYTES", value_name = "BYTES")]
    pub photo_quota_bytes: Option<u64>,
    /// Days a photo no record references is kept before it is deleted
    /// (default 7).
    #[arg(long, env = "CARNET_PHOTO_GRACE_DAYS", value_name = "DAYS")]
    pub photo_grace_days: Option<u32>,
}

/// The TOML file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database: Option<String>,
    database_pool: Option<u32>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    code_ttl_hours: Option<f64>,
    rate_per_second: Option<f64>,
    rate_burst: Option<u32>,
    request_timeout_secs: Option<u64>,
    log_format: Option<String>,
    insecure_cookies: Option<bool>,
    trusted_proxy: Option<bool>,
    metrics_listen: Option<SocketAddr>,
    device_inactivity_days: Option<u32>,
    code_failures: Option<u32>,
    photo_quota_bytes: Option<u64>,
    photo_grace_days: Option<u32>,
    #[serde(default)]
    team_contacts: HashMap<String, String>,
}

impl Config {
    /// The base of invitation links: the configured public URL, or this
    /// machine's loopback at the listening port.
    pub fn public_url(&self) -> String {
        self.public_url_base
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", self.listen.port()))
    }

    /// How long a device may stay unseen before it is revoked; `None` when
    /// [`Config::device_inactivity_days`] is 0.
    pub fn device_inactivity(&self) -> Option<Duration> {
        (self.device_inactivity_days > 0)
            .then(|| Duration::from_secs(u64::from(self.device_inactivity_days) * 24 * 3600))
    }

    /// Resolves flags and environment over the file over the defaults.
    pub fn load(args: &ConfigArgs) -> Result<Config> {
        let file = match &args.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        let hours = args.code_ttl_hours.or(file.code_ttl_hours).unwrap_or(24.0);
        if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 365.0) {
            return Err(ServerError::Config(
                "code_ttl_hours: expected a number of hours between 0 and 8760".into(),
            ));
        }
        let rate = args
            .rate_per_second
            .or(file.rate_per_second)
            .unwrap_or(d.rate_per_second);
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(ServerError::Config(
                "rate_per_second: expected a positive number, or 0 for no limit".into(),
            ));
        }
        let log_json = match args
            .log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text")
        {
            "text" => false,
            "json" => true,
            other => {
                return Err(ServerError::Config(format!(
                    "log_format: expected text or json, not {other:?}"
                )));
            }
        };
        let database = args
            .database
            .clone()
            .or(file.database)
            .map(|url| url.trim().to_string())
            .filter(|url| !url.is_empty());
        if let Some(url) = &database
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ServerError::Config(
                "database: expected a PostgreSQL URL, postgres://user@host:port/database".into(),
            ));
        }
        let tls_cert = args.tls_cert.clone().or(file.tls_cert);
        let tls_key = args.tls_key.clone().or(file.tls_key);
        if tls_cert.is_some() != tls_key.is_some() {
            return Err(ServerError::Config(
                "tls_cert and tls_key go together: give both to serve HTTPS, or neither".into(),
            ));
        }
        Ok(Config {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or(d.data_dir),
            database,
            database_pool: args
                .database_pool
                .or(file.database_pool)
                .unwrap_or(d.database_pool)
                .clamp(1, 1000),
            tls_cert,
            tls_key,
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            public_url_base: args
                .public_url
                .clone()
                .or(file.public_url)
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
            code_ttl: Duration::from_secs_f64(hours * 3600.0),
            rate_per_second: rate,
            rate_burst: args
                .rate_burst
                .or(file.rate_burst)
                .unwrap_or(d.rate_burst)
                .max(1),
            request_timeout: Duration::from_secs(
                args.request_timeout_secs
                    .or(file.request_timeout_secs)
                    .unwrap_or(d.request_timeout.as_secs())
                    .max(1),
            ),
            log_json,
            insecure_cookies: args
                .insecure_cookies
                .or(file.insecure_cookies)
                .unwrap_or(d.insecure_cookies),
            trusted_proxy: args
                .trusted_proxy
                .or(file.trusted_proxy)
                .unwrap_or(d.trusted_proxy),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            device_inactivity_days: args
                .device_inactivity_days
                .or(file.device_inactivity_days)
                .unwrap_or(d.device_inactivity_days),
            code_failures: args
                .code_failures
                .or(file.code_failures)
                .unwrap_or(d.code_failures)
                .max(1),
            code_failure_window: d.code_failure_window,
            photo_quota_bytes: args
                .photo_quota_bytes
                .or(file.photo_quota_bytes)
                .unwrap_or(d.photo_quota_bytes),
            photo_grace: args
                .photo_grace_days
                .or(file.photo_grace_days)
                .map_or(d.photo_grace, |days| {
                    Duration::from_secs(u64::from(days) * 24 * 3600)
                }),
            team_contacts: file.team_contacts,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Config(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carnet.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/carnet\"\nrate_burst = 5\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config_file: Some(file),
            data_dir: Some("/elsewhere".into()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("/elsewhere"));
        assert_eq!(c.rate_burst, 5);
        assert_eq!(c.code_ttl, Duration::from_secs(24 * 3600));
    }

    #[test]
    fn trust_settings_come_from_the_file_and_flags() {
        let d = Config::default();
        assert!(!d.insecure_cookies && !d.trusted_proxy && d.metrics_listen.is_none());
        assert_eq!(
            d.device_inactivity(),
            Some(Duration::from_secs(90 * 24 * 3600))
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carnet.toml");
        std::fs::write(
            &file,
            "insecure_cookies = true\ntrusted_proxy = true\nmetrics_listen = \"127.0.0.1:9090\"\ndevice_inactivity_days = 0\ncode_failures = 3\n",
        )
        .unwrap();
        let c = Config::load(&ConfigArgs {
            config_file: Some(file),
            ..Default::default()
        })
        .unwrap();
        assert!(c.insecure_cookies && c.trusted_proxy);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(c.device_inactivity(), None);
        assert_eq!(c.code_failures, 3);
        assert_eq!(c.photo_quota_bytes, 20 << 30);
        assert_eq!(c.photo_grace, Duration::from_secs(7 * 24 * 3600));

        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ConfigArgs,
        }
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "s",
            "--insecure-cookies",
            "--device-inactivity-days",
            "30",
            "--photo-quota-bytes",
            "1000000",
            "--photo-grace-days",
            "2",
        ])
        .unwrap();
        let c = Config::load(&cli.args).unwrap();
        assert!(c.insecure_cookies);
        assert_eq!(c.device_inactivity_days, 30);
        assert_eq!(c.photo_quota_bytes, 1_000_000);
        assert_eq!(c.photo_grace, Duration::from_secs(2 * 24 * 3600));
        let cli = Cli::try_parse_from(["s", "--insecure-cookies=false"]).unwrap();
        assert!(!Config::load(&cli.args).unwrap().insecure_cookies);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carnet.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Config::load(&ConfigArgs {
            config_file: Some(file),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
