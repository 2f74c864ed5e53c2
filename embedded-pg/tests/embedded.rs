//! The embedded PostgreSQL cluster, against the machine's real PostgreSQL
//! binaries: restarts keep data, a second start attaches, crashes and killed
//! owners do not block the next start, and the shared test databases.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

use strop_embedded_pg::testing::fresh_database;
use strop_embedded_pg::{BINDIR_ENV, EmbeddedError, EmbeddedPostgres, server_binaries};

/// Whether this machine has PostgreSQL server binaries. They are required,
/// except on a machine whose tests use DATABASE_URL's server instead (CI with a
/// PostgreSQL service), where the cluster tests are skipped.
fn have_binaries() -> bool {
    match server_binaries() {
        Ok(_) => true,
        Err(e) if std::env::var_os("DATABASE_URL").is_some() => {
            eprintln!("skipping: DATABASE_URL is set and {e}");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

/// Runs one of the `child_*` tests below in a new process of this test binary.
fn child(test: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd
}

/// Kills (SIGKILL) and reaps a child process when dropped, also when a test fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temporary data dir the `postgres` user can enter when we run as root
/// (tempfile's default mode 0700 would lock it out).
fn data_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("strop-embedded-")
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .unwrap()
}

async fn connect(config: &tokio_postgres::Config) -> Client {
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("pgdata/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

async fn start_time(pg: &EmbeddedPostgres) -> String {
    let client = connect(&pg.pg_config("strop")).await;
    client
        .query_one("SELECT pg_postmaster_start_time()::text", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn data_survives_a_restart() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    assert!(pg.owns_cluster());
    let client = connect(&pg.pg_config("strop")).await;
    client
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        .await
        .unwrap();
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "", "no TCP listener");
    drop(client);
    pg.stop().await.unwrap();
    assert_eq!(
        postmaster_pid(dir.path()),
        None,
        "stop shuts the cluster down"
    );

    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let client = connect(&pg.pg_config("strop")).await;
    let v: String = client
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "still here");
    drop(client);
    pg.stop().await.unwrap();
    assert!(
        dir.path().join("pgdata/postgres.log").is_file(),
        "PostgreSQL logs to a file in the data dir"
    );
}

#[tokio::test]
async fn second_start_on_the_same_dir_attaches() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let first = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let second = EmbeddedPostgres::start(dir.path()).await.unwrap();
    assert!(first.owns_cluster());
    assert!(!second.owns_cluster());
    assert_eq!(start_time(&first).await, start_time(&second).await);

    second.stop().await.unwrap();
    // The first process's cluster is untouched by the attached one's stop.
    let client = connect(&first.pg_config("strop")).await;
    client.batch_execute("SELECT 1").await.unwrap();
    drop(client);
    first.stop().await.unwrap();
    assert_eq!(postmaster_pid(dir.path()), None);
}

#[tokio::test]
async fn simultaneous_starts_initialise_and_start_once() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let (a, b) = tokio::join!(
        EmbeddedPostgres::start(dir.path()),
        EmbeddedPostgres::start(dir.path())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.owns_cluster(), b.owns_cluster(), "exactly one owns it");
    assert_eq!(start_time(&a).await, start_time(&b).await);
    let (owner, guest) = if a.owns_cluster() { (a, b) } else { (b, a) };
    guest.stop().await.unwrap();
    owner.stop().await.unwrap();
    assert_eq!(postmaster_pid(dir.path()), None);
}

#[tokio::test]
async fn a_cluster_left_by_a_dead_owner_is_adopted() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let first = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let started = start_time(&first).await;
    // Like a server killed without shutdown: PostgreSQL keeps running and the
    // owner's lock is gone.
    drop(first);
    let second = EmbeddedPostgres::start(dir.path()).await.unwrap();
    assert!(second.owns_cluster());
    assert_eq!(
        start_time(&second).await,
        started,
        "reuses the running cluster"
    );
    second.stop().await.unwrap();
    assert_eq!(postmaster_pid(dir.path()), None);
}

#[tokio::test]
async fn a_crashed_cluster_starts_again_with_its_data() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let client = connect(&pg.pg_config("strop")).await;
    client
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
        .await
        .unwrap();
    drop(client);
    let pid = postmaster_pid(dir.path()).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    drop(pg);
    // postmaster.pid stays behind, naming a dead (or zombie) process.
    assert_eq!(postmaster_pid(dir.path()), Some(pid));

    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    assert!(pg.owns_cluster());
    let client = connect(&pg.pg_config("strop")).await;
    let v: i32 = client
        .query_one("SELECT v FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
    drop(client);
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_pid_file_naming_another_process_does_not_block_start() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    EmbeddedPostgres::start(dir.path())
        .await
        .unwrap()
        .stop()
        .await
        .unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    // After a crash the recorded pid is dead; after a reboot it may belong
    // to any live process, here this one.
    for stale_pid in [gone.id(), std::process::id()] {
        write_pid_file(dir.path(), stale_pid);
        let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
        assert!(pg.owns_cluster());
        let pid = postmaster_pid(dir.path()).unwrap();
        assert_ne!(pid, stale_pid as i32);
        pg.stop().await.unwrap();
    }
}

/// A `postmaster.pid` (and socket lock file) as a crashed server leaves them.
fn write_pid_file(data_dir: &Path, pid: u32) {
    let pgdata = data_dir.join("pgdata");
    std::fs::write(
        pgdata.join("postmaster.pid"),
        format!(
            "{pid}\n{}\n1700000000\n5432\n{}\n\n  1234567   7\nready   \n",
            pgdata.display(),
            pgdata.display()
        ),
    )
    .unwrap();
    std::fs::write(
        pgdata.join(".s.PGSQL.5432.lock"),
        format!(
            "{pid}\n{}\n1700000000\n5432\n{}\n",
            pgdata.display(),
            pgdata.display()
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn a_long_data_dir_puts_the_socket_under_tmp() {
    if !have_binaries() {
        return;
    }
    let base = data_dir();
    let dir = base.path().join("d".repeat(60)).join("e".repeat(50));
    std::fs::create_dir_all(&dir).unwrap();
    for p in [dir.parent().unwrap(), dir.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let pg = EmbeddedPostgres::start(&dir).await.unwrap();
    let config = pg.pg_config("strop");
    let host = format_hosts(&config);
    assert!(host.starts_with("/tmp/strop-pg-"), "{host}");
    connect(&config)
        .await
        .batch_execute("SELECT 1")
        .await
        .unwrap();
    pg.stop().await.unwrap();
    assert!(
        !Path::new(&host).exists(),
        "the socket dir is removed on stop"
    );
}

#[tokio::test]
async fn as_root_an_unreachable_data_dir_is_refused_clearly() {
    if !have_binaries() {
        return;
    }
    let outer = tempfile::Builder::new()
        .prefix("strop-private-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap();
    let dir = outer.path().join("data");
    let result = EmbeddedPostgres::start(&dir).await;
    if nix::unistd::geteuid().is_root() {
        let err = result.unwrap_err();
        assert!(matches!(err, EmbeddedError::Unreachable { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&outer.path().display().to_string()),
            "{message}"
        );
        assert!(!dir.exists(), "nothing is created before the check");
    } else {
        // Our own private directory is fine when PostgreSQL runs as us.
        result.unwrap().stop().await.unwrap();
    }
}

#[tokio::test]
async fn without_binaries_the_error_names_three_ways_out() {
    let empty = tempfile::tempdir().unwrap();
    let data = data_dir();
    let out = child("child_start_without_binaries")
        .env(BINDIR_ENV, empty.path())
        .env("STROP_TEST_CHILD_DATA_DIR", data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message = stdout
        .lines()
        .find_map(|l| l.split_once("ERROR: ").map(|(_, m)| m))
        .unwrap_or_else(|| panic!("no error line in: {stdout}"));
    for way in [
        "DATABASE_URL",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "apt install postgresql",
        "PATH",
    ] {
        assert!(message.contains(way), "{way:?} missing from: {message}");
    }
    assert!(!data.path().join("pgdata").exists());
}

/// Run by `without_binaries_the_error_names_three_ways_out` in a child process
/// with `STROP_PG_BINDIR` pointing at an empty directory.
#[tokio::test]
#[ignore = "run in a child process by without_binaries_the_error_names_three_ways_out"]
async fn child_start_without_binaries() {
    let dir = std::env::var_os("STROP_TEST_CHILD_DATA_DIR").expect("run by the parent test");
    let err = EmbeddedPostgres::start(Path::new(&dir)).await.unwrap_err();
    assert!(matches!(err, EmbeddedError::NoPostgres { .. }), "{err}");
    println!("\nERROR: {err}");
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_empty() {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        tasks.spawn(fresh_database());
    }
    let configs = tasks.join_all().await;
    let mut names: Vec<_> = configs
        .iter()
        .map(|c| c.get_dbname().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), configs.len(), "unique names");

    for config in &configs {
        let client = connect(config).await;
        let row = client
            .query_one(
                "SELECT current_database()::text, \
                 (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                  WHERE n.nspname = 'public')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), config.get_dbname().unwrap());
        assert_eq!(row.get::<_, i64>(1), 0, "empty");
    }
    connect(&configs[0])
        .await
        .batch_execute("CREATE TABLE only_here (v int)")
        .await
        .unwrap();
    let seen: i64 = connect(&configs[1])
        .await
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0, "databases are separate");
}

#[tokio::test]
async fn fresh_database_works_from_another_runtime_too() {
    // Each #[tokio::test] has its own runtime; the shared cluster must not be
    // tied to the first one.
    let config = std::thread::spawn(|| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(fresh_database())
    })
    .join()
    .unwrap();
    let config2 = fresh_database().await;
    assert_ne!(config.get_dbname(), config2.get_dbname());
    let client = connect(&config).await;
    tokio::time::timeout(Duration::from_secs(10), client.batch_execute("SELECT 1"))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_cluster_whose_owner_was_killed_is_adopted() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let mut owner = KillOnDrop(
        child("child_hold_cluster")
            .env("STROP_TEST_CHILD_DATA_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = owner.0.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.unwrap() == "READY"),
        "the child did not start the cluster"
    );
    let pid = postmaster_pid(dir.path()).unwrap();
    drop(owner); // SIGKILL: no chance to stop PostgreSQL

    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    assert!(pg.owns_cluster(), "the dead owner's cluster is adopted");
    assert_eq!(postmaster_pid(dir.path()), Some(pid), "and reused as is");
    pg.stop().await.unwrap();
    assert_eq!(postmaster_pid(dir.path()), None);
}

/// Run by `a_cluster_whose_owner_was_killed_is_adopted`: starts the cluster
/// and waits to be killed.
#[tokio::test]
#[ignore = "run in a child process by a_cluster_whose_owner_was_killed_is_adopted"]
async fn child_hold_cluster() {
    let dir = std::env::var_os("STROP_TEST_CHILD_DATA_DIR").expect("run by the parent test");
    let pg = EmbeddedPostgres::start(Path::new(&dir)).await.unwrap();
    assert!(pg.owns_cluster());
    println!("\nREADY");
    tokio::time::sleep(Duration::from_secs(600)).await;
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn test_processes_share_one_cluster_started_on_demand() {
    if !have_binaries() {
        return;
    }
    // A private "shared test cluster" directory that no process has started yet.
    let dir = data_dir();
    let children: Vec<_> = (0..3)
        .map(|_| {
            child("child_fresh_database")
                .env("STROP_TEST_PG_DIR", dir.path())
                .env_remove("DATABASE_URL")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut names = Vec::new();
    let mut clusters = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}");
        for line in stdout.lines() {
            if let Some((_, name)) = line.split_once("DATABASE: ") {
                names.push(name.to_owned());
            }
            if let Some((_, cluster)) = line.split_once("CLUSTER: ") {
                clusters.push(cluster.to_owned());
            }
        }
    }
    assert_eq!((names.len(), clusters.len()), (3, 3));
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "distinct databases");
    clusters.dedup();
    assert_eq!(clusters.len(), 1, "one cluster, started once: {clusters:?}");
    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    assert_eq!(
        clusters[0],
        format!(
            "{} {}",
            start_time(&pg).await,
            dir.path().join("pgdata").display()
        )
    );
    // The children have exited: this process adopts the cluster and stops it.
    assert!(pg.owns_cluster());
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn with_database_url_fresh_databases_are_made_on_that_server() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let password = std::fs::read_to_string(dir.path().join("strop-password")).unwrap();
    let url = format!(
        "host={} port=5432 user=strop dbname=strop password={}",
        dir.path().join("pgdata").display(),
        password.trim()
    );
    let out = child("child_fresh_database")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let name = stdout
        .lines()
        .find_map(|l| l.split_once("DATABASE: ").map(|(_, n)| n))
        .unwrap();
    let client = connect(&pg.pg_config("postgres")).await;
    let found = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap();
    assert!(
        found.is_some(),
        "{name} was created on DATABASE_URL's server"
    );
    drop(client);
    pg.stop().await.unwrap();
}

/// Run by the tests above: makes one fresh database and prints its name.
#[tokio::test]
#[ignore = "run in a child process by the multi-process fresh_database tests"]
async fn child_fresh_database() {
    let config = fresh_database().await;
    let name: String = connect(&config)
        .await
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(Some(name.as_str()), config.get_dbname());
    println!("\nDATABASE: {name}");
    let started: String = connect(&config)
        .await
        .query_one("SELECT pg_postmaster_start_time()::text", &[])
        .await
        .unwrap()
        .get(0);
    println!("CLUSTER: {started} {}", format_hosts(&config));
}

fn format_hosts(config: &tokio_postgres::Config) -> String {
    config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Issue 15: the cluster asks for a password only this process can read,
/// and a cluster made by an older version (trusting its socket) is
/// upgraded at its next start, its data kept.
#[tokio::test]
async fn only_the_password_opens_the_cluster_and_old_trusting_clusters_are_upgraded() {
    if !have_binaries() {
        return;
    }
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let secret = dir.path().join("strop-password");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the password file is the owner's only");
    let hba = std::fs::read_to_string(dir.path().join("pgdata/pg_hba.conf")).unwrap();
    let active: Vec<&str> = hba
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(
        active
            .iter()
            .all(|l| l.ends_with("scram-sha-256") || l.ends_with("reject")),
        "{hba}"
    );
    let mut without = pg.pg_config("strop");
    without.password("not the password");
    assert!(
        without.connect(NoTls).await.is_err(),
        "a wrong password gets in"
    );
    let client = connect(&pg.pg_config("strop")).await;
    client
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('old')")
        .await
        .unwrap();
    drop(client);
    pg.stop().await.unwrap();

    // What an older version left: trust, and no password file.
    let hba_path = dir.path().join("pgdata/pg_hba.conf");
    std::fs::write(&hba_path, "local all all trust\n").unwrap();
    std::fs::remove_file(&secret).unwrap();
    let pg = EmbeddedPostgres::start(dir.path()).await.unwrap();
    let hba = std::fs::read_to_string(&hba_path).unwrap();
    assert!(
        !hba.lines()
            .any(|l| l.contains("trust") && !l.starts_with('#')),
        "{hba}"
    );
    assert!(secret.is_file());
    let mut without = pg.pg_config("strop");
    without.password("not the password");
    assert!(
        without.connect(NoTls).await.is_err(),
        "still trusting after the upgrade"
    );
    let client = connect(&pg.pg_config("strop")).await;
    let v: String = client
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "old");
    drop(client);
    pg.stop().await.unwrap();
}
