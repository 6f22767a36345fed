//! Starts the real Worker under workerd (`wrangler dev`) for a test: a free
//! port, its own state directory, ready once `/health` answers, stopped
//! (with its whole process group) on drop. A state directory made by
//! [`Worker::start`] is removed when its last Worker ends (restarts keep
//! it), and directories left by test processes that died are swept at the
//! next start.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `wrangler dev`.
pub struct Worker {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The local SQLite state (kept across [`Worker::restart`]).
    pub state_dir: PathBuf,
    /// How long the last start took until `/health` answered.
    pub ready_in: Duration,
    child: Option<Child>,
    log_path: PathBuf,
    /// The state directory this Worker made, removed on drop.
    owned: Option<StateDir>,
}

/// A state directory removed (with everything in it) on drop.
struct StateDir(PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const STATE_PREFIX: &str = "mfp-native-e2e-";

/// Removes the state directories of test processes that are gone (killed
/// before their Workers could drop).
fn sweep_dead_state_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STATE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Traffic limits raised for tests and benches: every request comes from
/// 127.0.0.1, and they create many accounts and sync heavily.
const RAISED_LIMITS: [&str; 3] = [
    "REGISTRATIONS_PER_IP_PER_HOUR:100000",
    "REQUESTS_PER_IP_PER_MINUTE:1000000",
    "REQUESTS_PER_USER_PER_MINUTE:1000000",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Worker {
    /// Starts on a fresh state directory, removed when this Worker (or the
    /// one that [`Worker::restart`] or [`Worker::relaunch`] made of it)
    /// drops.
    pub fn start() -> Self {
        let level = std::env::var("MFP_WRANGLER_LOG_LEVEL").unwrap_or_else(|_| "warn".into());
        Self::start_with_log_level(&level)
    }

    /// [`Worker::start`] with wrangler's `--log-level` `level` (`log`
    /// shows the Worker's own console lines in [`Worker::log`]).
    pub fn start_with_log_level(level: &str) -> Self {
        sweep_dead_state_dirs();
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "{STATE_PREFIX}{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("state dir");
        let owned = StateDir(dir.clone());
        let mut w = Self::start_logging(&dir, free_port(), level);
        w.owned = Some(owned);
        w
    }

    /// Stops this Worker (if it still runs) and starts a new one on the
    /// same state and a new port; the state stays this Worker's.
    pub fn restart(&mut self) {
        self.stop();
        let mut next = Self::start_on(&self.state_dir);
        next.owned = self.owned.take();
        *self = next;
    }

    /// Stops this Worker (if it still runs) and starts a new one on the
    /// same state and port with wrangler's `--log-level` `level`.
    #[allow(dead_code)] // only tests/e2e_kill.rs
    pub fn relaunch(&mut self, level: &str) {
        self.stop();
        let mut next = Self::start_logging(&self.state_dir, self.port(), level);
        next.owned = self.owned.take();
        *self = next;
    }

    /// Starts on an existing state directory (a restart).
    pub fn start_on(state_dir: &Path) -> Self {
        Self::start_at(state_dir, free_port())
    }

    /// Starts on an existing state directory and a given port (a restart
    /// that devices find at the same address).
    pub fn start_at(state_dir: &Path, port: u16) -> Self {
        let level = std::env::var("MFP_WRANGLER_LOG_LEVEL").unwrap_or_else(|_| "warn".into());
        Self::start_logging(state_dir, port, &level)
    }

    /// [`Worker::start_at`] with wrangler's `--log-level` (`log` shows the
    /// Worker's own console lines in [`Worker::log`]).
    pub fn start_logging(state_dir: &Path, port: u16, level: &str) -> Self {
        let inspector = free_port();
        let log_path = state_dir.join(format!("wrangler-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(root().join("node_modules/.bin/wrangler"));
        cmd.current_dir(root())
            .args(["dev", "--local", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--inspector-port")
            .arg(inspector.to_string())
            .arg("--persist-to")
            .arg(state_dir)
            .args(["--show-interactive-dev-session=false", "--log-level"])
            .arg(level)
            .args(RAISED_LIMITS.iter().flat_map(|v| ["--var", *v]))
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_LOG_PATH", state_dir.join("logs"))
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .expect("spawn wrangler dev (run `make test` once to bootstrap)");
        let mut w = Worker {
            url: format!("http://127.0.0.1:{port}"),
            state_dir: state_dir.to_owned(),
            ready_in: Duration::ZERO,
            child: Some(child),
            log_path,
            owned: None,
        };
        let deadline = started + Duration::from_secs(180);
        loop {
            if let Some(status) = w.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("wrangler dev exited early ({status}):\n{}", w.log());
            }
            if Instant::now() > deadline {
                panic!("wrangler dev not ready:\n{}", w.log());
            }
            let ok = ureq::get(&format!("{}/health", w.url))
                .config()
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ok {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        w.ready_in = started.elapsed();
        w
    }

    /// The process group of wrangler and its workerd (its leader's pid).
    #[allow(dead_code)] // the history bench's CPU figure; not the tests
    pub fn group(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The `ws://` base of the same server.
    pub fn ws_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }

    /// What wrangler printed so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// `kill -9` of the whole group (wrangler and workerd) at once, as a
    /// crash would; returns once it is gone.
    #[allow(dead_code)] // only tests/e2e_kill.rs
    pub fn kill_hard(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_alive(&group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// SIGTERM to the whole group (wrangler and workerd), SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() && !group_alive(&group) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = child.wait();
    }
}

fn group_alive(group: &str) -> bool {
    Command::new("kill")
        .args(["-0", "--", group])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}
