//! Measures the TUI's numbers and prints them (a harness, not a test):
//!
//! 1. time from start to first frame, with a stored token (real `strop`
//!    binary in a pty, real server, token in the kernel keyring), and to the
//!    main screen with the first history page;
//! 2. frame render time with 10,000 history entries loaded (in process);
//! 3. RSS of the real `strop` with 10,000 entries loaded (paged in through
//!    the TUI itself, read from /proc).
//!
//! Run: `cargo build --release -p strop-server -p strop-tui --bins --examples`
//! then `target/release/examples/measure`. It uses `strop` and `strop-server`
//! next to its own directory; `STROP_MEASURE_SERVER=http://...` reuses a
//! running server instead of starting one.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("measure runs on Linux only: it reads /proc and the kernel keyring");
}

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    linux::main()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use ratatui::Terminal;
    use ratatui::backend::{CrosstermBackend, TestBackend};
    use ratatui::layout::Rect;
    use ratatui::{TerminalOptions, Viewport};
    use strop_common::{Function, HistoryEntry};
    use strop_tui::app::state::{
        Conn, Focus, Keyring, Screen, SecretString, Session, State, TokenSource,
    };
    use strop_tui::app::view::{Theme, draw};
    use strop_tui::settings::Settings;
    use strop_tui::token_store::TokenStore;

    const ENTRIES: usize = 10_000;
    const STARTS: usize = 15;

    pub fn main() -> anyhow::Result<()> {
        let bins = std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .expect("examples live in <target>/<profile>/examples");
        let strop = bins.join("strop");
        println!("strop binary: {}", strop.display());

        // Before anything else allocates: what 10,000 entries cost in memory.
        let before = rss_kib(std::process::id());
        let s = loaded_state(ENTRIES);
        let after = rss_kib(std::process::id());
        println!(
            "in-process: {ENTRIES} entries in State add {:.1} MiB of RSS",
            after.saturating_sub(before) as f64 / 1024.0
        );
        drop(s);

        render_numbers();

        let (url, _server) = match std::env::var("STROP_MEASURE_SERVER") {
            Ok(url) => (url, None),
            Err(_) => {
                let s = ServerProcess::start(&bins.join("strop-server"))?;
                (s.url.clone(), Some(s))
            }
        };
        println!("server: {url}");
        let rt = tokio::runtime::Runtime::new()?;
        let user = format!("measure-{}", std::process::id());
        let token = rt.block_on(setup_user(&url, &user))?;

        let store = TokenStore::open().map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("keyring: {}", store.backend());
        store
            .set(&url, &user, &token)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let config = tempfile::tempdir()?;
        Settings::update_at(&config.path().join("settings.toml"), |s| {
            s.server = Some(url.clone());
            s.last_user = Some(user.clone());
        })?;

        rt.block_on(populate(&url, &token, ENTRIES))?;
        startup_numbers(&strop, config.path());
        rss_numbers(&strop, config.path());

        let _ = store.delete(&url, &user);
        Ok(())
    }

    fn synthetic_entries(n: usize) -> Vec<HistoryEntry> {
        (0..n)
            .map(|i| {
                let id = (n - i) as i64;
                let input = format!(
                    "entry {id}: the quick brown fox jumps over the lazy dog {}",
                    "and keeps running ".repeat(i % 7)
                );
                HistoryEntry {
                    function: if i % 3 == 0 {
                        Function::Piglatin
                    } else {
                        Function::Reverse
                    },
                    id,
                    output: input.chars().rev().collect(),
                    input,
                    time: "Sat, 10 Apr 2021 19:59:53 GMT".into(),
                    timestamp: "2021-04-10T19:59:53.123Z".into(),
                    user: "measure".into(),
                }
            })
            .collect()
    }

    fn loaded_state(n: usize) -> State {
        let mut s = State::new();
        s.screen = Screen::Main(Session {
            server: "http://127.0.0.1:5000".into(),
            user: "measure".into(),
            token: SecretString::from("x"),
            source: TokenSource::Keyring,
        });
        s.server = "http://127.0.0.1:5000".into();
        s.keyring = Keyring::Ready("kernel keyring".into());
        s.conn = Conn::Online;
        s.history.entries = synthetic_entries(n);
        s.history.loaded = true;
        s.main.focus = Focus::History;
        s
    }

    fn stats(mut v: Vec<Duration>) -> String {
        v.sort();
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        format!(
            "mean {:.3} ms, median {:.3} ms, p99 {:.3} ms, max {:.3} ms (n={})",
            ms(mean),
            ms(p(0.5)),
            ms(p(0.99)),
            ms(*v.last().unwrap()),
            v.len()
        )
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    /// Frame time with 10,000 entries: the view plus ratatui's diff, on a test
    /// backend and on the crossterm backend writing escape codes to a sink.
    fn render_numbers() {
        println!("\n== render, {ENTRIES} entries loaded ==");
        for (w, h, search) in [(80, 24, false), (80, 24, true), (200, 60, false)] {
            let mut s = loaded_state(ENTRIES);
            if search {
                s.history.applied_query = "fox".into();
            }
            let theme = Theme::default();
            let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
            let mut times = Vec::new();
            for i in 0..2000 {
                // Move through the list so the window and rows change every frame.
                s.history.selected = (i * 7) % ENTRIES;
                let t = Instant::now();
                term.draw(|f| draw(f, &s, &theme)).unwrap();
                times.push(t.elapsed());
            }
            let what = if search { ", search highlighted" } else { "" };
            println!("TestBackend {w}x{h}{what}: {}", stats(times));

            let backend = CrosstermBackend::new(std::io::sink());
            let mut term = Terminal::with_options(
                backend,
                TerminalOptions {
                    viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
                },
            )
            .unwrap();
            let mut times = Vec::new();
            for i in 0..2000 {
                s.history.selected = (i * 7) % ENTRIES;
                let t = Instant::now();
                term.draw(|f| draw(f, &s, &theme)).unwrap();
                times.push(t.elapsed());
            }
            println!("crossterm→sink {w}x{h}{what}: {}", stats(times));
        }
    }

    /// A program in an 80x24 pty; the reader thread feeds a vt100 screen.
    struct Pty {
        parser: Arc<Mutex<vt100::Parser>>,
        writer: Box<dyn Write + Send>,
        child: Box<dyn portable_pty::Child + Send + Sync>,
        _master: Box<dyn portable_pty::MasterPty + Send>,
        /// When the first byte of output arrived.
        first_output: Arc<Mutex<Option<Instant>>>,
    }

    impl Pty {
        fn spawn(strop: &Path, config: &Path) -> Pty {
            let pty = native_pty_system()
                .openpty(PtySize {
                    rows: 24,
                    cols: 80,
                    pixel_width: 0,
                    pixel_height: 0,
                })
                .unwrap();
            let mut cmd = CommandBuilder::new(strop);
            cmd.env("TERM", "xterm-256color");
            cmd.env("STROP_CONFIG_DIR", config);
            cmd.env("STROP_KEYRING", "kernel");
            cmd.env_remove("STROP_SERVER");
            cmd.env_remove("STROP_TOKEN");
            let child = pty.slave.spawn_command(cmd).unwrap();
            drop(pty.slave);
            let mut reader = pty.master.try_clone_reader().unwrap();
            let parser = Arc::new(Mutex::new(vt100::Parser::new(
                24.try_into().unwrap(),
                80.try_into().unwrap(),
                0,
            )));
            let first_output = Arc::new(Mutex::new(None));
            let (feed, first) = (parser.clone(), first_output.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    first.lock().unwrap().get_or_insert_with(Instant::now);
                    feed.lock().unwrap().process(&buf[..n]);
                }
            });
            Pty {
                parser,
                writer: pty.master.take_writer().unwrap(),
                child,
                _master: pty.master,
                first_output,
            }
        }

        fn contents(&self) -> String {
            self.parser.lock().unwrap().screen().contents()
        }

        /// Polls until `text` is on screen; returns when it was first seen.
        fn wait_for(&self, text: &str) -> Instant {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if self.contents().contains(text) {
                    return Instant::now();
                }
                assert!(
                    Instant::now() < deadline,
                    "no {text:?} on screen:\n{}",
                    self.contents()
                );
                std::thread::sleep(Duration::from_micros(500));
            }
        }

        fn send(&mut self, keys: &str) {
            self.writer.write_all(keys.as_bytes()).unwrap();
            self.writer.flush().unwrap();
        }

        fn quit(mut self) {
            self.send("\x03");
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn startup_numbers(strop: &Path, config: &Path) {
        println!("\n== start-up with a stored token (real binary, pty 80x24) ==");
        let mut first_byte = Vec::new();
        let mut first = Vec::new();
        let mut main = Vec::new();
        for _ in 0..STARTS {
            let t0 = Instant::now();
            let pty = Pty::spawn(strop, config);
            // First frame: the first drawn cell (the "checking your session" box).
            let drawn = {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let screen = pty.contents();
                    if screen.chars().any(|c| !c.is_whitespace()) {
                        break Instant::now();
                    }
                    assert!(Instant::now() < deadline, "nothing drawn");
                    std::thread::sleep(Duration::from_micros(200));
                }
            };
            let out = pty.first_output.lock().unwrap().unwrap_or(drawn);
            first_byte.push(out - t0);
            first.push(drawn - t0);
            // Main screen with the newest page of history shown.
            let landed = pty.wait_for("100 loaded");
            main.push(landed - t0);
            pty.quit();
        }
        println!("first output byte: {}", stats(first_byte));
        println!(
            "first frame drawn (first non-blank cell on screen): {}",
            stats(first)
        );
        println!(
            "main screen with 100 rows (keyring + /whoami + /get-history): {}",
            stats(main)
        );
    }

    fn rss_numbers(strop: &Path, config: &Path) {
        println!("\n== memory, real binary ==");
        let mut pty = Pty::spawn(strop, config);
        pty.wait_for("100 loaded");
        let pid = pty.child.process_id().expect("child pid");
        let start_rss = rss_kib(pid);
        // Page through everything: End jumps to the oldest loaded row, which
        // makes the browser fetch the next older page.
        pty.send("\t");
        let want = format!("{ENTRIES} loaded");
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(300);
        while !pty.contents().contains(&want) {
            pty.send("G");
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                Instant::now() < deadline,
                "not all loaded:\n{}",
                pty.contents()
            );
        }
        let paged = t0.elapsed();
        std::thread::sleep(Duration::from_millis(300));
        let loaded_rss = rss_kib(pid);
        let hwm = status_kib(pid, "VmHWM:");
        println!(
            "RSS after start-up (100 entries): {:.1} MiB",
            start_rss as f64 / 1024.0
        );
        println!(
            "RSS with {ENTRIES} entries loaded: {:.1} MiB (peak {:.1} MiB); paging all in took {:.1} s",
            loaded_rss as f64 / 1024.0,
            hwm as f64 / 1024.0,
            paged.as_secs_f64()
        );
        pty.quit();
    }

    fn rss_kib(pid: u32) -> u64 {
        status_kib(pid, "VmRSS:")
    }

    fn status_kib(pid: u32, key: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    async fn setup_user(url: &str, user: &str) -> anyhow::Result<SecretString> {
        let c = strop_tui::client::Client::new(url)?;
        c.register(user, &"measure-password".into()).await?;
        Ok(c.authenticate(user, &"measure-password".into()).await?)
    }

    /// `n` operations for the user, 16 at a time.
    async fn populate(url: &str, token: &SecretString, n: usize) -> anyhow::Result<()> {
        let c = strop_tui::client::Client::new(url)?.with_token(Some(token.clone()));
        let t0 = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (c, next) = (c.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, strop_tui::client::ClientError>(());
                    }
                    let f = if i % 3 == 0 {
                        Function::Piglatin
                    } else {
                        Function::Reverse
                    };
                    let input = format!("entry {i}: the quick brown fox jumps over the lazy dog");
                    c.run(f, &input).await?;
                }
            }));
        }
        for t in tasks {
            t.await??;
        }
        println!(
            "populated {n} entries in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// A strop-server of our own on a throwaway embedded cluster.
    struct ServerProcess {
        child: Child,
        url: String,
        _dir: tempfile::TempDir,
    }

    impl ServerProcess {
        fn start(bin: &Path) -> anyhow::Result<ServerProcess> {
            use std::os::unix::fs::PermissionsExt;
            // As root the cluster runs as `postgres`, which must enter the dir.
            let dir = tempfile::Builder::new()
                .prefix("strop-measure-")
                .permissions(std::fs::Permissions::from_mode(0o755))
                .tempdir()?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let url = format!("http://127.0.0.1:{port}");
            let child = Command::new(bin)
                .arg("--addr")
                .arg(format!("127.0.0.1:{port}"))
                .env("STROP_DATA_DIR", dir.path().join("pg"))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(120);
            let probe = PathBuf::from(bin);
            loop {
                let ok = Command::new(&probe)
                    .args(["healthcheck", "--url", &url])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "strop-server did not come up");
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(ServerProcess {
                child,
                url,
                _dir: dir,
            })
        }
    }

    impl Drop for ServerProcess {
        fn drop(&mut self) {
            // SIGTERM (graceful: the embedded cluster is stopped too).
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}
