//! Shared by the `strop` integration tests (`tests/cli.rs`, `tests/tui_*.rs`):
//! a real `strop-server` on a real PostgreSQL, the real `strop` binary, and
//! a real OS keyring read from outside: the kernel keyring (`keyctl`) by
//! default, or a Secret Service (`secret-tool`) when the tests run with
//! `STROP_KEYRING=secret-service`, as in the GitLab job, whose Docker sandbox
//! forbids the kernel keyring (see `.ci/with-secret-service`). Tests go
//! through [`keyring`], [`stored_token`] and [`forget_token`], never through
//! one store's tool directly.
//!
//! Server: `TestServer::shared()` starts one per test binary (embedded
//! PostgreSQL costs seconds of initdb), so tests must use [`unique_user`].
//! `TestServer::start()` gives a test its own server, e.g. to stop it;
//! `share()` a second server process on its database, which can be stopped
//! and started again on the same address.
//! With `DATABASE_URL` (or `POSTGRES_HOST`) set, the server uses that
//! database instead of an embedded cluster (the variables are inherited).
//!
//! Each server runs under a small `sh` guard whose stdin is a pipe from this
//! process: when the test process ends (even killed), the pipe closes and the
//! guard sends the server SIGTERM, so the shared server of a `static` (never
//! dropped) does not outlive its tests. Unix only.
#![allow(dead_code)] // each test binary uses its own part of this module
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer /healthz after start (initdb included).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a server may take to shut down after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the server (its arguments follow), SIGTERMs it once stdin closes, then
/// removes its data dir (and its log, after a clean exit). Exits with the
/// server's status, so an early crash is visible to `try_wait`.
const GUARD: &str = r#"
data_dir="$1"; log="$2"; keep="$3"; shift 3
exec 3<&0
"$@" </dev/null 3<&- >"$log" 2>&1 &
server=$!
( read -r _line <&3; kill -TERM "$server" 2>/dev/null ) &
watcher=$!
wait "$server"; status=$?
kill "$watcher" 2>/dev/null
# Only the server that made the data dir removes it (see `TestServer::share`).
[ -n "$keep" ] || rm -rf "$data_dir"
# A clean shutdown leaves nothing; a crash leaves its log to read.
[ "$status" -eq 0 ] && rm -f "$log"
exit "$status"
"#;

/// The `strop` binary under test.
pub fn strop_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_strop"))
}

/// `strop-server`, built into the same target dir by `cargo test --workspace`.
pub fn server_bin() -> PathBuf {
    let strop = strop_bin();
    let dir = strop.parent().expect("the strop binary has a directory");
    let server = dir.join(format!("strop-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        server.is_file(),
        "{} is missing: these tests run a real strop-server. Build it first with \
         `cargo build -p strop-server`, or run `cargo test --workspace`.",
        server.display()
    );
    server
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A username no other test (or earlier run against the same database) uses.
pub fn unique_user(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{tag}-{}-{}-{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An empty config directory for one test's `STROP_CONFIG_DIR`.
pub fn config_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("strop-config-")
        .tempdir()
        .expect("create a config tempdir")
}

/// A running `strop-server`.
pub struct TestServer {
    url: String,
    addr: SocketAddr,
    guard: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    data_dir: PathBuf,
    /// Attached to another server's data dir (and cluster): leaves it in place.
    shares: bool,
}

impl TestServer {
    /// The server shared by every test of this binary.
    pub fn shared() -> &'static TestServer {
        static SHARED: OnceLock<TestServer> = OnceLock::new();
        SHARED.get_or_init(TestServer::start)
    }

    /// A server of the test's own, stopped on drop.
    pub fn start() -> TestServer {
        // The embedded cluster runs as `postgres` when we are root: it must be
        // able to enter the data dir, which tempfile creates 0700.
        let data_dir = {
            use std::os::unix::fs::PermissionsExt;
            tempfile::Builder::new()
                .prefix("strop-server-")
                .permissions(std::fs::Permissions::from_mode(0o755))
                .tempdir()
                .expect("create a server data dir")
                .keep()
        };
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        TestServer::spawn(addr, data_dir, false)
    }

    /// A second server process on `self`'s database: it attaches to the
    /// same embedded cluster (or uses the same `DATABASE_URL`). Drop it
    /// before `self`, whose exit stops the cluster.
    pub fn share(&self) -> TestServer {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        TestServer::spawn(addr, self.data_dir.clone(), true)
    }

    /// After [`stop`](Self::stop): the same server again on the same
    /// address. Only for a [`share`](Self::share)d server: the first one's
    /// exit takes the cluster (and its data dir) with it.
    pub fn start_again(&mut self) {
        assert!(self.shares, "restart only a shared server");
        let _ = std::fs::remove_file(&self.log);
        *self = TestServer::spawn(self.addr, self.data_dir.clone(), true);
    }

    fn spawn(addr: SocketAddr, data_dir: PathBuf, shares: bool) -> TestServer {
        let server_bin = server_bin();
        let log = std::env::temp_dir().join(format!(
            "strop-server-{}-{}.log",
            std::process::id(),
            free_port()
        ));
        let mut guard = Command::new("sh");
        for var in callers_strop_vars() {
            guard.env_remove(var);
        }
        let mut guard = guard
            .arg("-c")
            .arg(GUARD)
            .arg("strop-server-guard")
            .arg(&data_dir)
            .arg(&log)
            .arg(if shares { "keep" } else { "" })
            .arg(&server_bin)
            .arg("--addr")
            .arg(addr.to_string())
            .env("STROP_DATA_DIR", &data_dir)
            .env("STROP_LOG_FORMAT", "text")
            // Every test client is 127.0.0.1: the login limiter would refuse the
            // suite's many logins (its own tests live in the server's suite).
            .env("STROP_LOGIN_BURST", "10000")
            .env("STROP_LOGIN_ADDRESS_BURST", "10000")
            .env("STROP_LOGIN_SUCCESS_BURST", "10000")
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh to run strop-server");
        let stdin = guard.stdin.take();
        let mut server = TestServer {
            url: format!("http://{addr}"),
            addr,
            guard,
            stdin,
            log,
            data_dir,
            shares,
        };
        server.wait_healthy();
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGSTOP: the server holds its connections open and answers nothing,
    /// like a stalled process or a proxy that went quiet. [`resume`](Self::resume)
    /// before the server is dropped.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self
            .server_pid()
            .unwrap_or_else(|| panic!("no strop-server process serves {}", self.addr));
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// The `strop-server` process itself (the guard shell is its parent).
    fn server_pid(&self) -> Option<u32> {
        let addr = self.addr.to_string();
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let serves_here = args
                .windows(2)
                .any(|w| w[0] == b"--addr" && w[1] == addr.as_bytes());
            if serves_here && args[0].ends_with(b"strop-server") {
                return Some(pid);
            }
        }
        None
    }

    /// SIGTERM, then wait for the server to exit (and its cluster to stop).
    pub fn stop(&mut self) {
        // A test that failed while the server was paused must not leave it
        // stopped (with its cluster) behind.
        if let Some(pid) = self.server_pid() {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.guard.kill();
        let _ = self.guard.wait();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if healthz(self.addr) {
                return;
            }
            if let Ok(Some(status)) = self.guard.try_wait() {
                panic!(
                    "strop-server exited ({status}) before answering /healthz; its log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                self.stop();
                panic!(
                    "strop-server did not answer /healthz within {START_TIMEOUT:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One plain HTTP/1.0 GET of /healthz: true on a 200.
fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200")
}

/// The STROP_* variables of the caller's environment (e.g. the README's
/// STROP_DATA_DIR, a user's STROP_SERVER): a process a test starts gets none of
/// them, only what the test sets. The tests' own `STROP_KEYRING` ([`keyring`])
/// is passed on explicitly where it matters.
pub fn callers_strop_vars() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("STROP_"))
        .collect()
}

/// A `strop` command for one test: its own config dir, the given server, the
/// tests' keyring (what [`stored_token`] reads back), and nothing else from
/// the caller's STROP_* (no token or user leaking in).
pub fn strop_command(config_dir: &Path, server: &str) -> Command {
    let mut cmd = Command::new(strop_bin());
    for var in callers_strop_vars() {
        cmd.env_remove(var);
    }
    cmd.env("STROP_CONFIG_DIR", config_dir)
        .env("STROP_SERVER", server)
        .env("STROP_KEYRING", keyring().env_value())
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd` with `stdin` (or an empty stdin) and collects its output.
pub fn run_with_stdin(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn strop");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.unwrap_or("").to_string();
    // A writer thread: a child that does not read stdin must not block us.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for strop");
    let _ = writer.join();
    output
}

/// The OS keyring the tests have `strop` use, chosen by `STROP_KEYRING` in
/// the tests' own environment: the kernel keyring unless it says
/// `secret-service` (then the tests must run in a session offering one, e.g.
/// under `.ci/with-secret-service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyring {
    Kernel,
    SecretService,
}

impl Keyring {
    /// The `STROP_KEYRING` value that forces `strop` onto this store.
    pub fn env_value(self) -> &'static str {
        match self {
            Keyring::Kernel => "kernel",
            Keyring::SecretService => "secret-service",
        }
    }

    /// How `strop` names this store in what it says (`TokenStore::backend`).
    pub fn name(self) -> &'static str {
        match self {
            Keyring::Kernel => "kernel keyring",
            Keyring::SecretService => "Secret Service",
        }
    }
}

/// See [`Keyring`].
pub fn keyring() -> Keyring {
    match std::env::var("STROP_KEYRING").unwrap_or_default().trim() {
        "" | "kernel" | "keyutils" => Keyring::Kernel,
        "secret-service" => Keyring::SecretService,
        other => {
            panic!("STROP_KEYRING={other:?}: the tests know \"kernel\" and \"secret-service\"")
        }
    }
}

/// The token `strop` stored for `user` on `server` in the tests' keyring,
/// read from outside the process; `None` when there is no such entry.
pub fn stored_token(server: &str, user: &str) -> Option<String> {
    match keyring() {
        Keyring::Kernel => keyctl_read(server, user),
        Keyring::SecretService => secret_tool_read(server, user),
    }
}

/// Removes the token stored for `user` on `server` from the tests' keyring,
/// if any (for tokens a test leaves behind on purpose).
pub fn forget_token(server: &str, user: &str) {
    match keyring() {
        Keyring::Kernel => {
            let description = strop_tui::token_store::kernel_key_description(server, user);
            let script = r#"keyctl get_persistent @s >/dev/null
id=$(keyctl search @s user "$1" 2>/dev/null) && keyctl invalidate "$id""#;
            let _ = Command::new("keyctl")
                .args(["session", "-", "sh", "-c", script, "keyctl-forget"])
                .arg(&description)
                .stdin(Stdio::null())
                .output();
        }
        Keyring::SecretService => {
            let out = secret_tool("clear", server, user);
            assert!(
                out.status.success(),
                "secret-tool clear failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `secret-tool <action>` on the item `strop` keeps for `user` on `server`:
/// the attributes dbus-secret-service-keyring-store gives it, `service`
/// (`strop:<server>`) and `username`.
fn secret_tool(action: &str, server: &str, user: &str) -> Output {
    Command::new("secret-tool")
        .arg(action)
        .arg("service")
        .arg(strop_tui::token_store::service_name(server))
        .arg("username")
        .arg(user)
        .stdin(Stdio::null())
        .output()
        .expect("run secret-tool (install the libsecret-tools package)")
}

/// The Secret Service item's secret, via `secret-tool lookup`. It exits 1
/// both when there is no item and on errors; only errors say something, so
/// a broken session fails the test instead of reading as "no token".
fn secret_tool_read(server: &str, user: &str) -> Option<String> {
    let out = secret_tool("lookup", server, user);
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim().is_empty() && out.status.code() == Some(1),
        "secret-tool lookup failed ({}): {err}",
        out.status
    );
    None
}

/// The kernel keyring key `strop` stores for `user` on `server`, read from
/// outside the process the way a person would: in a fresh session keyring
/// with the user's persistent keyring linked in (where `strop` keeps it, see
/// `strop_tui::token_store`), `keyctl search` then `keyctl pipe`. `None` when
/// there is no such key.
pub fn keyctl_read(server: &str, user: &str) -> Option<String> {
    let description = strop_tui::token_store::kernel_key_description(server, user);
    let out = Command::new("keyctl")
        .args([
            "session",
            "-",
            "sh",
            "-c",
            strop_tui::token_store::KEYCTL_READ_SCRIPT,
            "keyctl-read",
        ])
        .arg(&description)
        .stdin(Stdio::null())
        .output()
        .expect("run keyctl (install the keyutils package)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A TCP forwarder on a fixed port in front of a real server, that can be
/// taken down (connections refused, open ones cut) and brought back up: a
/// server that goes away and returns, without losing its database.
pub struct Relay {
    port: u16,
    target: SocketAddr,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// A relay for `target` on a free port, down until [`Relay::up`].
    pub fn new(target: SocketAddr) -> Relay {
        Relay {
            port: free_port(),
            target,
            stop: None,
            thread: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts accepting and forwarding.
    pub fn up(&mut self) {
        use std::sync::atomic::AtomicBool;
        if self.thread.is_some() {
            return;
        }
        let listener = {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match TcpListener::bind(("127.0.0.1", self.port)) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() > deadline => panic!("bind the relay port: {e}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        };
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (flag, target) = (stop.clone(), self.target);
        self.thread = Some(std::thread::spawn(move || {
            let mut open: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(target) else {
                            continue;
                        };
                        for (from, to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server.try_clone().unwrap(), client.try_clone().unwrap()),
                        ] {
                            std::thread::spawn(move || {
                                let (mut from, mut to) = (from, to);
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Write);
                            });
                        }
                        open.push(client);
                        open.push(server);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            // Down: the listener closes (connections refused) and open
            // connections are cut, as when a server process dies.
            for s in open {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }));
        self.stop = Some(stop);
    }

    /// Stops: new connections are refused, open ones cut.
    pub fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.store(true, Ordering::Relaxed);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.down();
    }
}

/// Registers `user` (password `pw`) and logs in through the CLI, so the
/// token is in the keyring and the settings name this server and user.
pub fn cli_login(config_dir: &Path, server: &str, user: &str) {
    for args in [
        ["register", user, "--password-stdin"],
        ["login", user, "--password-stdin"],
    ] {
        let mut cmd = strop_command(config_dir, server);
        cmd.args(args);
        let out = run_with_stdin(cmd, Some("pw\n"));
        assert!(
            out.status.success(),
            "strop {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs one scripting command for a logged-in user; its stdout.
pub fn cli_run(config_dir: &Path, server: &str, user: &str, args: &[&str]) -> String {
    let mut cmd = strop_command(config_dir, server);
    cmd.arg("--user").arg(user).args(args);
    let out = run_with_stdin(cmd, None);
    assert!(
        out.status.success(),
        "strop {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
