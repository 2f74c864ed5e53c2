//! The server's configuration: one typed struct read from flags and env vars.
//!
//! Every secret (the database password, alone or inside `DATABASE_URL`) is a
//! [`SecretString`], which `Debug` shows as `[REDACTED]`: the whole struct is
//! logged at start-up.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use warp::http::HeaderName;

use secrecy::{ExposeSecret, SecretString};

pub use strop_common::VERSION;

/// Command line of `strop-server`.
#[derive(Debug, Parser)]
#[command(
    name = "strop-server",
    version = VERSION,
    about = "The strop string-operations HTTP service."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// GET <url>/healthz and exit 0 if it answers 200, 1 otherwise (for Docker HEALTHCHECK).
    Healthcheck {
        /// Base URL of the server; default derived from --addr.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of a running server.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "STROP_ADDR",
        default_value = strop_common::DEFAULT_ADDR,
        global = true
    )]
    pub addr: SocketAddr,

    /// PostgreSQL connection, as a URL or in key=value form. Wins over POSTGRES_*.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = secret)]
    pub database_url: Option<SecretString>,

    /// PostgreSQL host (or Unix socket directory); setting it selects the POSTGRES_* variables.
    #[arg(long, env = "POSTGRES_HOST")]
    pub postgres_host: Option<String>,

    /// PostgreSQL port.
    #[arg(long, env = "POSTGRES_PORT", default_value_t = 5432)]
    pub postgres_port: u16,

    /// PostgreSQL database name (default: the user name).
    #[arg(long, env = "POSTGRES_DB")]
    pub postgres_db: Option<String>,

    /// PostgreSQL user (default: postgres).
    #[arg(long, env = "POSTGRES_USER")]
    pub postgres_user: Option<String>,

    /// PostgreSQL password.
    #[arg(long, env = "POSTGRES_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub postgres_password: Option<SecretString>,

    /// Home of the embedded PostgreSQL cluster, used when no database is configured
    /// [default: ~/.local/share/strop; /var/lib/strop as root].
    #[arg(long, env = "STROP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Largest number of database connections.
    #[arg(long, env = "STROP_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,

    /// Password hashes computed at once; each holds 9 MiB while it runs.
    #[arg(long, env = "STROP_HASH_CONCURRENCY", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub hash_concurrency: u16,

    /// Lifetime of a token, e.g. 30d, 12h, 90s.
    #[arg(long, env = "STROP_TOKEN_TTL", default_value = "30d", value_parser = parse_ttl)]
    pub token_ttl: Duration,

    /// Log line format (levels come from RUST_LOG).
    #[arg(long, env = "STROP_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Login and register attempts allowed at once, per client address and per username.
    #[arg(long, env = "STROP_LOGIN_BURST", default_value_t = LoginLimit::default().burst)]
    pub login_burst: NonZeroU32,

    /// After the burst, one more attempt per this period (e.g. 3s, 500ms).
    #[arg(long, env = "STROP_LOGIN_PERIOD", default_value = "3s", value_parser = parse_period)]
    pub login_period: Duration,

    /// Header holding the client address as set by a trusted proxy (its last
    /// address counts), e.g. X-Forwarded-For. Unset: the socket peer.
    #[arg(long, env = "STROP_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<HeaderName>,

    /// How long a request body may stall before the request is answered 408.
    #[arg(long, env = "STROP_BODY_TIMEOUT", default_value = "30s", value_parser = parse_period)]
    pub body_timeout: Duration,

    /// Connections served at once; beyond them only health checks are answered (others 503).
    #[arg(long, env = "STROP_MAX_CONNECTIONS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Normal connections of one client address (the socket peer); more are
    /// served like connections over --max-connections. Behind a proxy, raise it.
    #[arg(long, env = "STROP_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_address: u32,

    /// How long a new connection may take to send its first complete request
    /// headers (protocol detection and the HTTP/2 preface included).
    #[arg(long, env = "STROP_FIRST_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_period)]
    pub first_request_timeout: Duration,

    /// How long a keep-alive connection may stay with no request open.
    #[arg(long, env = "STROP_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_period)]
    pub idle_timeout: Duration,

    /// Streams one HTTP/2 connection may have open; each beyond the first
    /// counts against --max-connections.
    #[arg(long, env = "STROP_HTTP2_MAX_STREAMS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub http2_max_streams: u32,

    /// Open /events streams per user (in this process); one more is 429.
    #[arg(long, env = "STROP_STREAMS_PER_USER", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams_per_user: u32,

    /// Live sessions (tokens) per user: a login beyond it logs out the
    /// user's oldest session.
    #[arg(long, env = "STROP_SESSIONS_PER_USER", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub sessions_per_user: u32,

    /// Bytes of history rows one stream's catch-up or one /get-history answer
    /// may hold in memory at once (e.g. 4MiB).
    #[arg(long, env = "STROP_PAGE_BYTES", default_value = "4MiB", value_parser = parse_bytes)]
    pub page_bytes: u64,

    /// Bytes that all open streams' waiting events may hold together.
    #[arg(long, env = "STROP_STREAM_MEMORY", default_value = "64MiB", value_parser = parse_bytes)]
    pub stream_memory: u64,

    /// Longest any one database statement may run (searches included).
    #[arg(long, env = "STROP_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_period)]
    pub statement_timeout: Duration,

    /// Longest /get-history `q`, in bytes.
    #[arg(long, env = "STROP_MAX_SEARCH_BYTES", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_search_bytes: u32,

    /// Most words in a /get-history `q`.
    #[arg(long, env = "STROP_MAX_SEARCH_WORDS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_search_words: u32,

    /// Failed login/register attempts per client address at once; then one per --login-period.
    #[arg(long, env = "STROP_LOGIN_ADDRESS_BURST", default_value_t = LoginLimit::default_address().burst)]
    pub login_address_burst: NonZeroU32,

    /// Successful logins/registrations per client address at once (bounds hashing).
    #[arg(long, env = "STROP_LOGIN_SUCCESS_BURST", default_value_t = LoginLimit::default_success().burst)]
    pub login_success_burst: NonZeroU32,

    /// After that burst, one more successful attempt per address per this period.
    #[arg(long, env = "STROP_LOGIN_SUCCESS_PERIOD", default_value = "250ms", value_parser = parse_period)]
    pub login_success_period: Duration,

    /// Writes (/reverse, /piglatin) one user may make at once.
    #[arg(long, env = "STROP_WRITE_BURST", default_value_t = NonZeroU32::new(1000).expect("not zero"))]
    pub write_burst: NonZeroU32,

    /// After the burst, writes per second per user.
    #[arg(long, env = "STROP_WRITE_RATE", default_value_t = NonZeroU32::new(200).expect("not zero"))]
    pub write_rate: NonZeroU32,

    /// Where GET /metrics is served: `main` (the API's address), `off`, or an address of its own.
    #[arg(long, env = "STROP_METRICS", default_value = "main")]
    pub metrics: MetricsEndpoint,

    /// Token checks from memory (`on`: the token cache behind the listener's
    /// fence) or `off`: every check is the plain indexed lookup. A
    /// benchmarking and operations knob; answers are the same either way.
    #[arg(long, env = "STROP_TOKEN_CACHE", value_enum, default_value = "on")]
    pub token_cache: TokenCacheMode,
}

/// Whether token checks may be answered from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TokenCacheMode {
    #[default]
    On,
    Off,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsEndpoint {
    Off,
    /// Beside the API, on its address.
    Main,
    /// On a listener of its own (and not on the API's).
    Separate(SocketAddr),
}

impl FromStr for MetricsEndpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" => Ok(MetricsEndpoint::Off),
            "main" => Ok(MetricsEndpoint::Main),
            addr => addr.parse().map(MetricsEndpoint::Separate).map_err(|_| {
                format!("expected main, off or an address like 127.0.0.1:9100, not {addr:?}")
            }),
        }
    }
}

fn parse_period(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// A size in bytes: a number, optionally with KiB, MiB or GiB (or K, M, G).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("expected a size like 4MiB, not {s:?}"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" | "k" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        other => return Err(format!("unknown unit {other:?}; use KiB, MiB or GiB")),
    };
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{s} is too large"))?;
    if bytes < 1024 {
        return Err("must be at least 1KiB".into());
    }
    Ok(bytes)
}

fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    // Postgres intervals top out far above this; a century is "forever" enough.
    if ttl.is_zero() || ttl > Duration::from_secs(100 * 365 * 24 * 3600) {
        return Err("must be more than zero and at most 100 years".into());
    }
    Ok(ttl)
}

/// Where the server's data lives, resolved in the SPEC's order.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// `DATABASE_URL` or the `POSTGRES_*` variables.
    External(Box<tokio_postgres::Config>),
    /// A private cluster in this directory, started and stopped by the server.
    Embedded(PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL is not a valid PostgreSQL connection string: {0}")]
pub struct BadDatabaseUrl(String);

/// A token bucket: `burst` attempts at once, then one per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    pub burst: std::num::NonZeroU32,
    pub period: Duration,
}

/// History rows that may wait for the group-commit writer (the batching
/// task keeps up to twice as many more while their users' batches commit);
/// a request finding the queue full waits.
pub const DEFAULT_HISTORY_QUEUE: usize = 256;

/// Settings the HTTP layer needs once the database is chosen.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub pool_size: u32,
    pub token_ttl: Duration,
    pub login_limit: LoginLimit,
    pub trusted_proxy_header: Option<HeaderName>,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub metrics: MetricsEndpoint,
    /// Argon2id computations at once (9 MiB each).
    pub hash_concurrency: usize,
    /// History rows that may wait for the group-commit writer.
    pub history_queue: usize,
    pub max_connections_per_address: usize,
    pub first_request_timeout: Duration,
    pub idle_timeout: Duration,
    pub http2_max_streams: u32,
    pub streams_per_user: usize,
    /// Live tokens per user; a login beyond it revokes the oldest.
    pub sessions_per_user: u32,
    /// Bytes of rows a catch-up page or a /get-history answer holds.
    pub page_bytes: usize,
    /// Bytes all streams' waiting events hold together.
    pub stream_memory: usize,
    pub statement_timeout: Duration,
    pub max_search_bytes: usize,
    pub max_search_words: usize,
    pub login_address_limit: LoginLimit,
    pub login_success_limit: LoginLimit,
    pub write_limit: LoginLimit,
    pub token_cache: TokenCacheMode,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            pool_size: 16,
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            login_limit: LoginLimit::default(),
            trusted_proxy_header: None,
            body_timeout: Duration::from_secs(30),
            max_connections: 1000,
            metrics: MetricsEndpoint::Main,
            hash_concurrency: 2,
            history_queue: DEFAULT_HISTORY_QUEUE,
            max_connections_per_address: 256,
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            http2_max_streams: 8,
            streams_per_user: 4,
            sessions_per_user: 1000,
            page_bytes: 4 << 20,
            stream_memory: 64 << 20,
            statement_timeout: Duration::from_secs(5),
            max_search_bytes: 256,
            max_search_words: 8,
            login_address_limit: LoginLimit::default_address(),
            login_success_limit: LoginLimit::default_success(),
            write_limit: LoginLimit {
                burst: NonZeroU32::new(1000).expect("not zero"),
                period: Duration::from_millis(5),
            },
            token_cache: TokenCacheMode::On,
        }
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

fn non_empty_secret(v: &Option<SecretString>) -> Option<&str> {
    v.as_ref()
        .map(ExposeSecret::expose_secret)
        .filter(|s| !s.trim().is_empty())
}

impl Config {
    /// `DATABASE_URL`, else `POSTGRES_*` (when `POSTGRES_HOST` is set), else embedded.
    pub fn database(&self) -> Result<DatabaseSource, BadDatabaseUrl> {
        if let Some(url) = non_empty_secret(&self.database_url) {
            let pg = tokio_postgres::Config::from_str(url.trim())
                // The parser's message never echoes the password back.
                .map_err(|e| BadDatabaseUrl(e.to_string()))?;
            return Ok(DatabaseSource::External(Box::new(pg)));
        }
        if let Some(host) = non_empty(&self.postgres_host) {
            let user = non_empty(&self.postgres_user).unwrap_or("postgres");
            let mut pg = tokio_postgres::Config::new();
            pg.host(host)
                .port(self.postgres_port)
                .user(user)
                .dbname(non_empty(&self.postgres_db).unwrap_or(user));
            if let Some(pw) = &self.postgres_password {
                pg.password(pw.expose_secret());
            }
            return Ok(DatabaseSource::External(Box::new(pg)));
        }
        Ok(DatabaseSource::Embedded(self.data_dir()))
    }

    /// `--data-dir`, else the platform data dir (`~/.local/share/strop`); only
    /// used for the embedded cluster.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            pool_size: self.pool_size,
            token_ttl: self.token_ttl,
            login_limit: LoginLimit {
                burst: self.login_burst,
                period: self.login_period,
            },
            trusted_proxy_header: self.trusted_proxy_header.clone(),
            body_timeout: self.body_timeout,
            max_connections: self.max_connections as usize,
            metrics: self.metrics,
            hash_concurrency: self.hash_concurrency.into(),
            max_connections_per_address: self.max_connections_per_address as usize,
            first_request_timeout: self.first_request_timeout,
            idle_timeout: self.idle_timeout,
            http2_max_streams: self.http2_max_streams,
            streams_per_user: self.streams_per_user as usize,
            sessions_per_user: self.sessions_per_user,
            page_bytes: usize::try_from(self.page_bytes).unwrap_or(usize::MAX),
            stream_memory: usize::try_from(self.stream_memory).unwrap_or(usize::MAX),
            statement_timeout: self.statement_timeout,
            max_search_bytes: self.max_search_bytes as usize,
            max_search_words: self.max_search_words as usize,
            login_address_limit: LoginLimit {
                burst: self.login_address_burst,
                period: self.login_period,
            },
            login_success_limit: LoginLimit {
                burst: self.login_success_burst,
                period: self.login_success_period,
            },
            write_limit: LoginLimit {
                burst: self.write_burst,
                period: Duration::from_secs(1) / self.write_rate.get(),
            },
            token_cache: self.token_cache,
            ..ServeOptions::default()
        }
    }

    /// `http://ADDR` for the healthcheck, with a wildcard address made loopback.
    pub fn local_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }
}

/// As root (containers, CI) the home directory is closed to the `postgres`
/// user that runs the cluster, so root gets a system directory instead.
fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/strop");
    }
    directories::ProjectDirs::from("", "", "strop")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".strop-data"))
}

/// One line naming the database target, password masked.
pub fn describe_pg(pg: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = pg.get_ports().iter().map(u16::to_string).collect();
    format!(
        "host={} port={} dbname={} user={} password={}",
        hosts.join(","),
        ports.join(","),
        pg.get_dbname().unwrap_or("-"),
        pg.get_user().unwrap_or("-"),
        if pg.get_password().is_some() {
            "***"
        } else {
            "-"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Cli::try_parse_from` blind to the environment: clap's `env` would read the
    /// caller's STROP_*, DATABASE_URL and POSTGRES_* (e.g. the README's STROP_DATA_DIR).
    fn try_parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command().mut_args(|a| a.env(None::<&str>));
        Cli::from_arg_matches(&command.try_get_matches_from(args)?)
    }

    fn parse(args: &[&str]) -> Config {
        let mut argv = vec!["strop-server"];
        argv.extend_from_slice(args);
        try_parse(argv).unwrap().config
    }

    #[test]
    fn database_url_wins_and_its_password_is_masked() {
        let c = parse(&[
            "--database-url",
            "postgres://alice:s3cret@db.example:6543/strop",
            "--postgres-host",
            "other",
            "--postgres-password",
            "hunter2",
        ]);
        let DatabaseSource::External(pg) = c.database().unwrap() else {
            panic!("expected an external database");
        };
        assert_eq!(pg.get_user(), Some("alice"));
        assert_eq!(pg.get_ports(), &[6543]);
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown.matches("[REDACTED]").count(), 2, "{shown}");
        let target = describe_pg(&pg);
        assert!(target.contains("host=db.example port=6543"), "{target}");
        assert!(!target.contains("s3cret"), "{target}");
    }

    #[test]
    fn data_dir_is_shown_only_when_given() {
        // A server on an external database has no use for a data directory, so
        // its start-up line must not name one (in a container: an unused home).
        let shown = format!("{:?}", parse(&["--postgres-host", "db"]));
        assert!(shown.contains("data_dir: None"), "{shown}");
        let shown = format!("{:?}", parse(&["--data-dir", "/srv/strop"]));
        assert!(shown.contains("\"/srv/strop\""), "{shown}");
    }

    #[test]
    fn key_value_database_url_is_accepted() {
        let c = parse(&[
            "--database-url",
            "host=/tmp port=5433 user=u dbname=d password=pw",
        ]);
        let DatabaseSource::External(pg) = c.database().unwrap() else {
            panic!("expected an external database");
        };
        assert_eq!(pg.get_dbname(), Some("d"));
        assert!(!format!("{c:?}").contains("pw "));
    }

    #[test]
    fn postgres_vars_apply_when_host_is_set() {
        let c = parse(&[
            "--database-url",
            "",
            "--postgres-host",
            "db",
            "--postgres-port",
            "5432",
            "--postgres-db",
            "",
            "--postgres-user",
            "strop",
            "--postgres-password",
            "pw",
        ]);
        let DatabaseSource::External(pg) = c.database().unwrap() else {
            panic!("expected an external database");
        };
        assert_eq!(pg.get_ports(), &[5432]);
        assert_eq!(pg.get_dbname(), Some("strop"));
        assert_eq!(pg.get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn nothing_configured_means_embedded() {
        let c = parse(&[
            "--data-dir",
            "/tmp/x",
            "--database-url",
            " ",
            "--postgres-host",
            "",
        ]);
        assert!(
            matches!(c.database().unwrap(), DatabaseSource::Embedded(p) if p == std::path::Path::new("/tmp/x"))
        );
    }

    #[test]
    fn bad_url_is_an_error() {
        let c = parse(&["--database-url", "postgres://a:b@host:notaport/x"]);
        let err = c.database().unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        assert!(!err.contains(":b@"), "{err}");
    }

    #[test]
    fn ttl_and_healthcheck_url() {
        let c = parse(&["--token-ttl", "90s", "--addr", "0.0.0.0:8080"]);
        assert_eq!(c.token_ttl, Duration::from_secs(90));
        assert_eq!(c.local_url(), "http://127.0.0.1:8080");
        assert!(try_parse(["strop-server", "--token-ttl", "0s"]).is_err());
        assert!(try_parse(["strop-server", "--token-ttl", "soon"]).is_err());
    }

    #[test]
    fn operations_settings() {
        let c = parse(&[]);
        let o = c.serve_options();
        assert_eq!(o.login_limit, LoginLimit::default());
        assert_eq!(o.metrics, MetricsEndpoint::Main);
        assert_eq!(o.body_timeout, Duration::from_secs(30));
        assert!(o.trusted_proxy_header.is_none());
        let c = parse(&[
            "--login-burst",
            "2",
            "--login-period",
            "500ms",
            "--metrics",
            "127.0.0.1:9100",
            "--trusted-proxy-header",
            "X-Forwarded-For",
            "--body-timeout",
            "2s",
        ]);
        let o = c.serve_options();
        assert_eq!(o.login_limit.burst.get(), 2);
        assert_eq!(o.login_limit.period, Duration::from_millis(500));
        assert_eq!(
            o.metrics,
            MetricsEndpoint::Separate("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(o.trusted_proxy_header.unwrap(), "x-forwarded-for");
        assert_eq!(parse(&["--metrics", "off"]).metrics, MetricsEndpoint::Off);
        for bad in [
            ["--metrics", "sometimes"],
            ["--login-burst", "0"],
            ["--login-period", "0s"],
        ] {
            assert!(
                try_parse(["strop-server", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits_have_their_defaults_and_sizes_parse() {
        let d = ServeOptions::default();
        let o = parse(&[]).serve_options();
        assert_eq!(o.max_connections_per_address, d.max_connections_per_address);
        assert_eq!(o.first_request_timeout, d.first_request_timeout);
        assert_eq!(o.idle_timeout, d.idle_timeout);
        assert_eq!(o.http2_max_streams, d.http2_max_streams);
        assert_eq!(o.streams_per_user, d.streams_per_user);
        assert_eq!(o.sessions_per_user, d.sessions_per_user);
        assert_eq!(o.page_bytes, d.page_bytes);
        assert_eq!(o.stream_memory, d.stream_memory);
        assert_eq!(o.statement_timeout, d.statement_timeout);
        assert_eq!(o.max_search_bytes, d.max_search_bytes);
        assert_eq!(o.max_search_words, d.max_search_words);
        assert_eq!(o.login_address_limit, d.login_address_limit);
        assert_eq!(o.login_success_limit, d.login_success_limit);
        assert_eq!(o.write_limit, d.write_limit);
        assert_eq!(o.token_cache, TokenCacheMode::On);
        let off = parse(&["--token-cache", "off"]).serve_options();
        assert_eq!(off.token_cache, TokenCacheMode::Off);
        assert!(try_parse(["strop-server", "--token-cache", "sometimes"]).is_err());
        assert_eq!(parse_bytes("4MiB"), Ok(4 << 20));
        assert_eq!(parse_bytes("2048"), Ok(2048));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert!(parse_bytes("12").is_err());
        assert!(parse_bytes("4 parsecs").is_err());
        let o = parse(&["--write-rate", "4"]).serve_options();
        assert_eq!(o.write_limit.period, Duration::from_millis(250));
    }

    #[test]
    fn hash_concurrency_is_at_least_one() {
        assert_eq!(parse(&[]).serve_options().hash_concurrency, 2);
        assert_eq!(
            parse(&["--hash-concurrency", "5"])
                .serve_options()
                .hash_concurrency,
            5
        );
        assert!(try_parse(["strop-server", "--hash-concurrency", "0"]).is_err());
    }
}
