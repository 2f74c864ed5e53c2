//! strop's embedded PostgreSQL: a private cluster that strop-server creates in
//! its data directory and runs on a Unix socket when no database is configured.
//!
//! The API is one type: [`EmbeddedPostgres::start`] finds the server binaries,
//! runs `initdb` on first use, starts the cluster (or attaches to / adopts one
//! already running on that directory) and waits until it accepts connections;
//! [`EmbeddedPostgres::pg_config`] gives the connection settings;
//! [`EmbeddedPostgres::stop`] stops it if this process owns it.
//! [`server_binaries`] tells whether the machine has PostgreSQL at all.
//!
//! ```no_run
//! # async fn demo() -> Result<(), strop_embedded_pg::EmbeddedError> {
//! let cluster = strop_embedded_pg::EmbeddedPostgres::start("/var/lib/strop".as_ref()).await?;
//! let (client, connection) = cluster.pg_config("strop").connect(tokio_postgres::NoTls).await?;
//! # drop((client, connection));
//! cluster.stop().await
//! # }
//! ```
//!
//! With the `testing` feature (for dev-dependencies only), [`testing`] hands each
//! test a fresh database on one shared cluster.
//!
//! Policies:
//! - Binaries come from `STROP_PG_BINDIR` if set (and then from nowhere else),
//!   else PATH, `pg_config --bindir`, `/usr/lib/postgresql/*/bin` (newest first),
//!   `/usr/pgsql-*/bin`, `/usr/local/pgsql/bin`. An existing cluster needs
//!   binaries of its own major version.
//! - Layout of `data_dir`: `pgdata/` is the cluster (its log is
//!   `pgdata/postgres.log`, our settings `pgdata/strop.conf`, rewritten at every
//!   start), plus the lock files `strop-start.lock` and `strop-owner.lock`.
//! - Authentication is `scram-sha-256` for the Unix socket only, with a
//!   password generated on first use and kept in `data_dir/strop-password`
//!   (mode 0600, owned by the process that starts the server: as root the
//!   `postgres` OS user cannot read it, so other processes running as
//!   `postgres` cannot connect either). There is no TCP listener
//!   (`listen_addresses = ''`) and the socket is mode 0700. The superuser is
//!   `strop`. A cluster made by an older version (`trust`) is given the
//!   password and the new `pg_hba.conf` at its next start.
//! - The socket lives in `pgdata` itself, or, when that path would exceed the
//!   107-byte socket path limit, in `/tmp/strop-pg-<hash of pgdata>` (0700).
//! - As root, PostgreSQL runs as the `postgres` system user; `pgdata` is owned
//!   by it and `data_dir` with all its parents must be enterable by it (so not
//!   under `/root`): otherwise `start` fails naming the blocking directory.
//! - A cluster already running on `data_dir` (another server process) is
//!   attached to and left running by `stop`. Its starter holds
//!   `strop-owner.lock` for its lifetime; if that process died (killed), the
//!   next `start` adopts the orphaned cluster and will stop it. A stale
//!   `postmaster.pid` after a crash does not block a start.
//! - Dropping an [`EmbeddedPostgres`] without `stop` leaves the cluster running
//!   (the next `start` adopts it).

mod discovery;
mod locks;
mod postmaster;
mod run_as;
#[cfg(feature = "testing")]
pub mod testing;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use tracing::{debug, info, warn};

pub use discovery::BINDIR_ENV;
use discovery::Binaries;
use run_as::RunAs;

/// The cluster's superuser (what `pg_config` connects as).
const SUPERUSER: &str = "strop";
/// The application's database, created on first start.
const APP_DB: &str = "strop";
/// Only names the socket file: there is no TCP listener.
const PORT: u16 = 5432;
const PGDATA_DIR: &str = "pgdata";
const INIT_DIR: &str = "pgdata.initdb";
const LOG_FILE: &str = "postgres.log";
const SETTINGS_FILE: &str = "strop.conf";
const START_LOCK: &str = "strop-start.lock";
/// The superuser's password, in `data_dir` (0600, the server's own user).
const PASSWORD_FILE: &str = "strop-password";
/// What `pg_hba.conf` holds: only the socket, only with the password.
const HBA: &str = "# Written by strop-server: the Unix socket only, with the password in\n\
                   # <data dir>/strop-password (scram-sha-256). No TCP.\n\
                   local all all scram-sha-256\n";
const OWNER_LOCK: &str = "strop-owner.lock";
/// `sizeof(sockaddr_un.sun_path) - 1`.
#[cfg(target_os = "linux")]
const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
const MAX_SOCKET_PATH: usize = 103;
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the embedded cluster could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no PostgreSQL found (searched {searched} for initdb, pg_ctl and postgres). \
         To get a database, do one of: set DATABASE_URL to an existing server; \
         or set POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD; \
         or install the PostgreSQL server binaries (e.g. `apt install postgresql`) so they \
         are on PATH (or in /usr/lib/postgresql/<version>/bin)"
    )]
    NoPostgres { searched: String },

    #[error(
        "the database cluster in {} was created by PostgreSQL {cluster_version}, but only \
         PostgreSQL {found} server binaries were found; install PostgreSQL {cluster_version} \
         (or set {BINDIR_ENV} to its bin directory) or use another data directory",
        pgdata.display()
    )]
    VersionMismatch {
        pgdata: PathBuf,
        cluster_version: String,
        found: String,
    },

    #[error(
        "running as root, so PostgreSQL must run as the `postgres` system user, but it cannot \
         be found ({detail}); create it (e.g. `useradd --system postgres`) or run as a regular user"
    )]
    NoPostgresUser { detail: String },

    #[error(
        "running as root, PostgreSQL runs as the `postgres` user, which cannot enter {} \
         (mode {mode:04o}, owner uid {owner}) to reach the data directory {}; choose a data \
         directory it can reach (e.g. --data-dir /var/lib/strop) or make {} enterable \
         (chmod o+x)",
        blocked.display(), data_dir.display(), blocked.display()
    )]
    Unreachable {
        data_dir: PathBuf,
        blocked: PathBuf,
        mode: u32,
        owner: u32,
    },

    #[error("refusing to use {} for PostgreSQL: {reason}", dir.display())]
    UnsafeDir { dir: PathBuf, reason: String },

    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{program} failed ({status}): {output} (PostgreSQL's log: {})", log.display())]
    Command {
        program: String,
        status: String,
        output: String,
        log: PathBuf,
    },

    #[error(
        "PostgreSQL in {} did not accept connections within {} s: {last_error} (see {})",
        pgdata.display(), timeout.as_secs(), log.display()
    )]
    NotReady {
        pgdata: PathBuf,
        timeout: Duration,
        last_error: String,
        log: PathBuf,
    },

    #[error("database error on the embedded PostgreSQL: {0}")]
    Database(#[from] tokio_postgres::Error),
}

impl EmbeddedError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> EmbeddedError {
        EmbeddedError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Settings that differ between real data and the throwaway test cluster.
#[derive(Debug, Clone, Copy)]
enum Profile {
    /// Real data: PostgreSQL's durable defaults.
    Durable,
    /// The shared test cluster (`testing`): no fsync, more connections for parallel
    /// tests. Without the feature neither it nor its settings are compiled in.
    #[cfg(feature = "testing")]
    Test,
}

impl Profile {
    /// Extra `initdb` arguments.
    fn initdb_args(self) -> &'static [&'static str] {
        match self {
            Profile::Durable => &[],
            #[cfg(feature = "testing")]
            Profile::Test => testing::INITDB_ARGS,
        }
    }

    /// Appended to the settings file at every start.
    fn settings(self) -> &'static str {
        match self {
            Profile::Durable => "",
            #[cfg(feature = "testing")]
            Profile::Test => testing::SETTINGS,
        }
    }
}

/// A PostgreSQL cluster in a data directory, started (or attached to) by this process.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    pgdata: PathBuf,
    bins: Binaries,
    run_as: RunAs,
    socket_dir: PathBuf,
    port: u16,
    /// The superuser's password (from [`PASSWORD_FILE`]).
    password: String,
    /// Held while this process is responsible for stopping the cluster.
    owner: Option<locks::Held>,
}

impl EmbeddedPostgres {
    /// Find binaries, initdb on first run, start on a Unix socket in/near data_dir, wait ready.
    /// Ensures a database named "strop" exists.
    ///
    /// If the cluster is already running (another process started it), this
    /// attaches to it instead, and [`stop`](Self::stop) leaves it running.
    /// Set `STROP_PG_BINDIR` to choose the binaries' directory; set to an empty
    /// directory it makes discovery find nothing.
    pub async fn start(data_dir: &Path) -> Result<EmbeddedPostgres, EmbeddedError> {
        Self::start_with(data_dir, Profile::Durable).await
    }

    async fn start_with(data_dir: &Path, profile: Profile) -> Result<Self, EmbeddedError> {
        let run_as = RunAs::detect()?;
        let data_dir = prepare_data_dir(data_dir, &run_as)?;
        let pgdata = data_dir.join(PGDATA_DIR);

        // One process at a time decides whether to init/start/attach.
        let _starting = locks::exclusive(data_dir.join(START_LOCK)).await?;

        let cluster_major = std::fs::read_to_string(pgdata.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned());
        let bins = {
            let (pgdata, major) = (pgdata.clone(), cluster_major.clone());
            tokio::task::spawn_blocking(move || discovery::find(&pgdata, major.as_deref()))
                .await
                .expect("discovery task panicked")?
        };
        debug!(bindir = %bins.bindir.display(), version = %bins.major, "found PostgreSQL");

        let password = load_or_create_password(&data_dir.join(PASSWORD_FILE))?;
        let mut pg = EmbeddedPostgres {
            password,
            socket_dir: socket_dir_for(&pgdata),
            data_dir,
            pgdata,
            bins,
            run_as,
            port: PORT,
            owner: None,
        };

        let running = postmaster::read(&pg.pgdata);
        match running
            .as_ref()
            .filter(|p| postmaster::is_live_postgres(p.pid))
        {
            Some(live) => pg.attach(live).await?,
            None => {
                pg.start_stopped(running.as_ref(), cluster_major.is_none(), profile)
                    .await?
            }
        }
        pg.ensure_database(APP_DB).await?;
        Ok(pg)
    }

    /// Joins a cluster another process runs (adopting it when its starter
    /// has exited).
    async fn attach(&mut self, live: &postmaster::PidFile) -> Result<(), EmbeddedError> {
        if let Some(dir) = &live.socket_dir {
            self.socket_dir = dir.clone();
        }
        self.port = live.port.unwrap_or(PORT);
        self.wait_ready().await?;
        self.secure_auth().await?;
        self.owner = locks::try_exclusive(&self.data_dir.join(OWNER_LOCK))?;
        if self.owner.is_some() {
            info!(pgdata = %self.pgdata.display(), "adopted a running PostgreSQL whose starter has exited");
        } else {
            info!(pgdata = %self.pgdata.display(), "attached to PostgreSQL started by another process");
        }
        Ok(())
    }

    /// Starts the cluster (made first if `fresh`), clearing what a crashed
    /// server (`running`, not live) left behind.
    async fn start_stopped(
        &mut self,
        running: Option<&postmaster::PidFile>,
        fresh: bool,
        profile: Profile,
    ) -> Result<(), EmbeddedError> {
        if let Some(stale) = running {
            let mut lock_files = vec![postmaster::path(&self.pgdata)];
            for dir in stale.socket_dir.iter().chain([&self.socket_dir]) {
                let port = stale.port.unwrap_or(PORT);
                lock_files.push(dir.join(format!(".s.PGSQL.{port}.lock")));
            }
            for path in lock_files {
                postmaster::remove_if_stale(&path)?;
            }
        }
        if fresh {
            self.init(profile).await?;
        }
        self.prepare_socket_dir()?;
        self.write_settings(profile)?;
        self.owner = locks::try_exclusive(&self.data_dir.join(OWNER_LOCK))?;
        if self.owner.is_none() {
            warn!(
                "another live process holds {OWNER_LOCK} but its PostgreSQL is down; starting it without owning it"
            );
        }
        // After a crash, the old server's children may hold its shared
        // memory for a moment, which makes PostgreSQL refuse to start.
        let attempts = if running.is_some() { 5 } else { 1 };
        self.pg_ctl_start(attempts).await?;
        self.wait_ready().await?;
        self.secure_auth().await?;
        info!(
            pgdata = %self.pgdata.display(),
            socket_dir = %self.socket_dir.display(),
            version = %self.bins.major,
            "started embedded PostgreSQL"
        );
        Ok(())
    }

    /// Connection settings for `dbname` on this cluster (Unix socket host, port, user).
    pub fn pg_config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(self.port)
            .user(SUPERUSER)
            .password(&self.password)
            .dbname(dbname)
            .application_name("strop-server");
        config
    }

    /// A cluster that still trusts its socket (made by an older version)
    /// gets the superuser's password and a `pg_hba.conf` that asks for it.
    async fn secure_auth(&self) -> Result<(), EmbeddedError> {
        let hba = self.pgdata.join("pg_hba.conf");
        let current =
            std::fs::read_to_string(&hba).map_err(|e| EmbeddedError::io("read", &hba, e))?;
        let trusts = current.lines().any(|line| {
            let line = line.split('#').next().unwrap_or("");
            line.split_whitespace().any(|word| word == "trust")
        });
        if !trusts {
            return Ok(());
        }
        // Still trusted, so the password is not needed to set it.
        let client = connect(&self.pg_config("postgres")).await?;
        client
            .batch_execute(&format!(
                "SET password_encryption = 'scram-sha-256'; ALTER ROLE {SUPERUSER} PASSWORD '{}'",
                self.password
            ))
            .await?;
        std::fs::write(&hba, HBA).map_err(|e| EmbeddedError::io("write", &hba, e))?;
        std::fs::set_permissions(&hba, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| EmbeddedError::io("set permissions of", &hba, e))?;
        self.run_as.give(&hba)?;
        client.execute("SELECT pg_reload_conf()", &[]).await?;
        info!(pgdata = %self.pgdata.display(), "the embedded PostgreSQL now asks for its password (scram-sha-256) instead of trusting the socket");
        Ok(())
    }

    /// Whether [`stop`](Self::stop) will stop the cluster (false when attached
    /// to a cluster another live process started).
    pub fn owns_cluster(&self) -> bool {
        self.owner.is_some()
    }

    /// Major version of the PostgreSQL binaries in use ("15").
    pub fn major_version(&self) -> &str {
        &self.bins.major
    }

    /// The cluster's data directory (`<data_dir>/pgdata`); its log is `postgres.log` there.
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Stop the cluster (fast shutdown) if this process started it.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        let Some(owner) = self.owner.take() else {
            info!(pgdata = %self.pgdata.display(), "leaving PostgreSQL running for the process that started it");
            return Ok(());
        };
        let _stopping = locks::exclusive(self.data_dir.join(START_LOCK)).await?;
        let running =
            postmaster::read(&self.pgdata).is_some_and(|p| postmaster::is_live_postgres(p.pid));
        if running {
            let mut args = vec![
                OsString::from("stop"),
                "-D".into(),
                self.pgdata.clone().into(),
            ];
            args.extend(["-m", "fast", "-w", "-t", "120", "-s"].map(OsString::from));
            self.run("pg_ctl", args).await?;
            info!(pgdata = %self.pgdata.display(), "stopped embedded PostgreSQL");
        }
        if self.socket_dir != self.pgdata {
            // The /tmp fallback: gone once empty, recreated at the next start.
            let _ = std::fs::remove_dir(&self.socket_dir);
        }
        drop(owner);
        Ok(())
    }

    async fn init(&self, profile: Profile) -> Result<(), EmbeddedError> {
        info!(pgdata = %self.pgdata.display(), bindir = %self.bins.bindir.display(), "creating PostgreSQL cluster");
        // initdb into a scratch directory and rename, so an interrupted
        // initdb never leaves a half-made cluster in `pgdata`.
        let tmp = self.data_dir.join(INIT_DIR);
        // C collation keeps sorting fast and stable; a UTF-8 ctype makes
        // lower() and ILIKE (the history search) fold non-ASCII letters too.
        // Not every system has C.UTF-8, so plain C is the fallback.
        let locales: [&[&str]; 2] = [&["--locale=C", "--lc-ctype=C.UTF-8"], &["--locale=C"]];
        let mut result = Ok(());
        for locale in locales {
            if tmp.exists() {
                std::fs::remove_dir_all(&tmp)
                    .map_err(|e| EmbeddedError::io("remove leftover", &tmp, e))?;
            }
            self.run_as.private_dir(&tmp)?;
            // initdb reads the password from a file of its own user.
            let pwfile = self.data_dir.join("strop-initdb-password");
            write_private(&pwfile, &self.password)?;
            self.run_as.give(&pwfile)?;
            let mut args = vec![
                OsString::from("-D"),
                tmp.clone().into(),
                OsString::from(format!("--pwfile={}", pwfile.display())),
            ];
            args.extend(
                [
                    "-U",
                    SUPERUSER,
                    "--auth-local=scram-sha-256",
                    "--auth-host=reject",
                    "--encoding=UTF8",
                ]
                .iter()
                .chain(locale)
                .map(OsString::from),
            );
            args.extend(profile.initdb_args().iter().map(OsString::from));
            result = self.run("initdb", args).await;
            let _ = std::fs::remove_file(&pwfile);
            if result.is_ok() {
                break;
            }
        }
        result?;

        let conf = tmp.join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(|e| EmbeddedError::io("open", &conf, e))?;
        writeln!(file, "\n# strop-server's own settings, rewritten at every start\ninclude_if_exists = '{SETTINGS_FILE}'")
            .map_err(|e| EmbeddedError::io("write", &conf, e))?;
        std::fs::rename(&tmp, &self.pgdata)
            .map_err(|e| EmbeddedError::io("rename the new cluster to", &self.pgdata, e))
    }

    /// Uses `pgdata` itself as socket directory if the path is short enough,
    /// else a private directory under /tmp named after `pgdata`.
    fn prepare_socket_dir(&mut self) -> Result<(), EmbeddedError> {
        self.socket_dir = socket_dir_for(&self.pgdata);
        if self.socket_dir != self.pgdata {
            self.run_as.private_dir(&self.socket_dir)?;
        }
        Ok(())
    }

    fn write_settings(&self, profile: Profile) -> Result<(), EmbeddedError> {
        let mut conf = format!(
            "# Written by strop-server at every start: put your own settings in postgresql.conf.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = {}\n\
             unix_socket_permissions = 0700\n",
            conf_string(&self.socket_dir)
        );
        conf.push_str(profile.settings());
        let path = self.pgdata.join(SETTINGS_FILE);
        std::fs::write(&path, conf).map_err(|e| EmbeddedError::io("write", &path, e))?;
        self.run_as.give(&path)
    }

    async fn pg_ctl_start(&self, attempts: u32) -> Result<(), EmbeddedError> {
        let mut args = vec![
            OsString::from("start"),
            "-D".into(),
            self.pgdata.clone().into(),
            "-l".into(),
            self.log_file().into(),
        ];
        args.extend(["-w", "-t", "120", "-s"].map(OsString::from));
        let mut attempt = 1;
        loop {
            match self.run("pg_ctl", args.clone()).await {
                Err(e) if attempt < attempts => {
                    warn!(error = %e, attempt, "PostgreSQL did not start; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Polls until the cluster accepts connections (it may still be starting
    /// or recovering after a crash).
    async fn wait_ready(&self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let config = self.pg_config("postgres");
        loop {
            match connect(&config).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(EmbeddedError::NotReady {
                        pgdata: self.pgdata.clone(),
                        timeout: START_TIMEOUT,
                        last_error: e.to_string(),
                        log: self.log_file(),
                    });
                }
                Err(e) => {
                    debug!(error = %e, "PostgreSQL not ready yet");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn ensure_database(&self, name: &str) -> Result<(), EmbeddedError> {
        let client = connect(&self.pg_config("postgres")).await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            match client
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
                .await
            {
                Ok(()) => info!(database = name, "created database"),
                // Another process created it meanwhile.
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn log_file(&self) -> PathBuf {
        self.pgdata.join(LOG_FILE)
    }

    /// Runs one of the PostgreSQL programs as the cluster's OS user.
    async fn run(&self, program: &str, args: Vec<OsString>) -> Result<(), EmbeddedError> {
        let path = self.bins.program(program);
        debug!(program = %path.display(), ?args, "running");
        let out = self
            .run_as
            .command(&path)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| EmbeddedError::io("run", &path, e))?;
        if out.status.success() {
            return Ok(());
        }
        let mut output = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !stdout.trim().is_empty() {
            output.push_str(" / ");
            output.push_str(stdout.trim());
        }
        // pg_ctl only says "Examine the log output": quote the log's end.
        if program == "pg_ctl"
            && let Ok(log) = std::fs::read_to_string(self.log_file())
        {
            let lines: Vec<&str> = log.lines().collect();
            let last = &lines[lines.len().saturating_sub(5)..];
            output.push_str(&format!("; the log ends with: {}", last.join(" | ")));
        }
        Err(EmbeddedError::Command {
            program: program.to_owned(),
            status: out.status.to_string(),
            output: tail(&output, 2000),
            log: self.log_file(),
        })
    }
}

/// The directory of the PostgreSQL server binaries [`EmbeddedPostgres::start`]
/// would use for a new cluster, or the "no PostgreSQL found" error.
pub fn server_binaries() -> Result<PathBuf, EmbeddedError> {
    discovery::find(Path::new(""), None).map(|b| b.bindir)
}

/// Makes `data_dir` absolute and existing, and (as root) checks that the
/// `postgres` user can reach it.
fn prepare_data_dir(data_dir: &Path, run_as: &RunAs) -> Result<PathBuf, EmbeddedError> {
    let dir =
        std::path::absolute(data_dir).map_err(|e| EmbeddedError::io("resolve", data_dir, e))?;
    if run_as.is_switching() {
        run_as.check_reachable(&dir)?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| EmbeddedError::io("create", &dir, e))?;
    let dir = std::fs::canonicalize(&dir).map_err(|e| EmbeddedError::io("resolve", &dir, e))?;
    if run_as.is_switching() {
        // Again: directories just created may be restricted by the umask.
        run_as.check_reachable(&dir)?;
    }
    Ok(dir)
}

fn socket_dir_for(pgdata: &Path) -> PathBuf {
    let socket = pgdata.join(format!(".s.PGSQL.{PORT}"));
    let listable = !pgdata.to_string_lossy().contains(',');
    if socket.as_os_str().len() <= MAX_SOCKET_PATH && listable {
        pgdata.to_path_buf()
    } else {
        PathBuf::from(format!("/tmp/strop-pg-{}", short_hash(pgdata)))
    }
}

/// 16 hex digits naming a path, for directories derived from it.
fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

/// A postgresql.conf string literal.
fn conf_string(path: &Path) -> String {
    let raw = path.to_string_lossy();
    format!("'{}'", raw.replace('\\', "\\\\").replace('\'', "''"))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Connects without TLS (Unix socket) and drives the connection in the background.
/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EmbeddedError::io("create", path, e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| EmbeddedError::io("write", path, e))
}

/// The superuser's password: read from `path`, or made (128 random bits)
/// and written there, 0600, on first use.
fn load_or_create_password(path: &Path) -> Result<String, EmbeddedError> {
    use std::io::Read;
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            // Only its owner may read it, whatever made it.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| EmbeddedError::io("set permissions of", path, e))?;
            return Ok(text.trim().to_owned());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EmbeddedError::io("read", path, e)),
    }
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| EmbeddedError::io("read", Path::new("/dev/urandom"), e))?;
    let password = hex::encode(bytes);
    write_private(path, &password)?;
    Ok(password)
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "embedded PostgreSQL connection ended");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_pgdata_holds_its_own_socket() {
        let pgdata = Path::new("/var/lib/strop/pgdata");
        assert_eq!(socket_dir_for(pgdata), pgdata);
    }

    #[test]
    fn long_pgdata_gets_a_tmp_socket_dir() {
        let long = PathBuf::from("/").join("x".repeat(100)).join("pgdata");
        let dir = socket_dir_for(&long);
        assert!(dir.starts_with("/tmp"), "{}", dir.display());
        assert!(dir.join(".s.PGSQL.5432").as_os_str().len() <= MAX_SOCKET_PATH);
        assert_eq!(dir, socket_dir_for(&long), "must be stable");
        assert!(socket_dir_for(Path::new("/a,b/pgdata")).starts_with("/tmp"));
    }

    #[test]
    fn conf_strings_are_escaped() {
        assert_eq!(conf_string(Path::new("/a/it's\\x")), "'/a/it''s\\\\x'");
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("short", 10), "short");
        assert_eq!(tail("ééé", 3), "…é");
    }
}
