//! Databases for tests: one brand-new, empty database per test.
//!
//! With `DATABASE_URL` set, databases are created on that server. Otherwise
//! all test processes share one embedded cluster (fsync off) in
//! `<target dir>/strop-test-pg` — or, as root when the postgres user cannot
//! reach the target dir, `/tmp/strop-test-pg-<hash of the target dir>`;
//! `STROP_TEST_PG_DIR` overrides both. The first test that needs it starts it
//! (under the data dir's file lock, so concurrent test binaries start it
//! once); it keeps running after the tests and is reused by the next run.
//! Stop it with `pg_ctl -D <dir>/pgdata stop` (as the `postgres` user when root).
//! Databases left by test processes that have exited are dropped when a
//! test process first uses the embedded cluster (never on DATABASE_URL's
//! server, which may be shared: use a throwaway server there).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::OnceCell;
use tokio_postgres::Config;

use super::{EmbeddedPostgres, Profile, RunAs, connect, quote_ident, short_hash};

/// `initdb` arguments of the test cluster: its files need not survive a crash.
pub(crate) const INITDB_ARGS: &[&str] = &["--no-sync"];

/// Settings of the test cluster: speed over crash safety.
pub(crate) const SETTINGS: &str = "\
# Throwaway test cluster: speed over crash safety.
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
min_wal_size = 32MB
max_wal_size = 128MB
max_connections = 300
";

/// Overrides where the shared embedded test cluster lives.
pub const TEST_DIR_ENV: &str = "STROP_TEST_PG_DIR";
const PREFIX: &str = "strop_test_";

struct Admin {
    /// Connects to a maintenance database of the server the tests use.
    config: Config,
    /// Appended to CREATE DATABASE.
    create_options: &'static str,
    /// Keeps this process's claim on the embedded cluster (never stopped).
    _cluster: Option<EmbeddedPostgres>,
}

static ADMIN: OnceCell<Admin> = OnceCell::const_new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A brand-new, empty database for one test: on DATABASE_URL's server if that env is
/// set (connect to it, CREATE DATABASE with a unique name), else on ONE embedded
/// cluster shared by all test processes (started on demand, under a file lock, in a
/// fixed dir under the workspace target dir, e.g. target/strop-test-pg; reused if
/// already running; tests in one process share it through a OnceCell/static).
///
/// Panics (failing the test) with the reason if no database can be had.
pub async fn fresh_database() -> Config {
    let admin = ADMIN.get_or_init(admin).await;
    let name = format!(
        "{PREFIX}{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let client = connect(&admin.config)
        .await
        .unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"));
    // template0: guaranteed empty, and nobody can be connected to it (which
    // would make CREATE DATABASE fail).
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0{}",
            quote_ident(&name),
            admin.create_options
        ))
        .await
        .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
    let mut config = admin.config.clone();
    config.dbname(&name);
    config
}

async fn admin() -> Admin {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        let config = Config::from_str(&url)
            .unwrap_or_else(|e| panic!("DATABASE_URL is not a valid PostgreSQL URL: {e}"));
        return Admin {
            config,
            create_options: "",
            _cluster: None,
        };
    }
    let dir = test_cluster_dir();
    let cluster = EmbeddedPostgres::start_with(&dir, Profile::Test)
        .await
        .unwrap_or_else(|e| panic!("start the shared test PostgreSQL in {}: {e}", dir.display()));
    let config = cluster.pg_config("postgres");
    drop_abandoned_databases(&config).await;
    // Copying the (tiny) template's files beats WAL-logging them block by
    // block, and its checkpoints are cheap with fsync off (PostgreSQL 15+).
    let create_options = if cluster.major_version().parse::<f32>().unwrap_or(0.0) >= 15.0 {
        " STRATEGY FILE_COPY"
    } else {
        ""
    };
    Admin {
        config,
        create_options,
        _cluster: Some(cluster),
    }
}

/// Where the shared embedded test cluster lives (see the module docs).
pub fn test_cluster_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TEST_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let target = target_dir();
    let reachable = RunAs::detect().is_ok_and(|r| r.first_blocker(&target).is_none());
    if reachable {
        target.join("strop-test-pg")
    } else {
        PathBuf::from(format!("/tmp/strop-test-pg-{}", short_hash(&target)))
    }
}

/// Cargo's target dir: the ancestor of the running test binary that holds
/// Cargo's `CACHEDIR.TAG`, else `target` beside the workspace manifest.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Drops test databases whose creating process no longer exists, so the
/// shared cluster does not grow without bound across runs.
async fn drop_abandoned_databases(config: &Config) {
    let Ok(client) = connect(config).await else {
        return;
    };
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&PREFIX],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            );
            if let Err(e) = client.batch_execute(&sql).await {
                eprintln!("note: could not drop abandoned test database {name}: {e}");
            }
        }
    }
}
