//! The kill test: devices write while workerd is `kill -9`ed (its whole
//! process group) at random moments, some of them inside the apply of a
//! large message, and restarted on the same state and port. At the end
//! every change made on any device must be on the server and every device
//! must report synced.
//!
//! Devices: two users; native devices over the WebSocket (one of them
//! sending large messages: hundreds of changes made offline), a native
//! device over `POST /sync` batches, and the built package (wasm-client/pkg)
//! in Node over the WebSocket (tests/e2e/kill-device.mjs), which also sends
//! bursts. Every edit stars a unique id, so what reached the server is read
//! back by a fresh device.
//!
//! `KILL_SEED` picks the schedule (printed; random by default), `KILL_SECS`
//! how long kills go on (default 50). Run by `make test` after the Worker
//! and the package are built:
//! `cargo test --features e2e --test e2e_kill -- --nocapture`.

// Shared with tests/e2e_sync.rs, which uses more of them.
#[allow(dead_code)]
#[path = "e2e_native/api.rs"]
mod api;
#[allow(dead_code)]
#[path = "e2e_native/device.rs"]
mod device;
#[allow(dead_code)]
#[path = "e2e_native/worker.rs"]
mod worker;

use device::Device;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use worker::Worker;

/// A small deterministic generator (xorshift64*), seeded by `KILL_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the devices and the killer share.
#[derive(Default)]
struct Shared {
    /// Kills are over: devices stop editing and settle.
    stop: AtomicBool,
    /// Epoch ms at which the large-message device started sending one
    /// (0: none in flight), for kills timed inside its apply.
    big_sent_at: AtomicU64,
    /// Epoch ms at which each restart answered `/health`.
    restarts: Mutex<Vec<u64>>,
}

/// What a device did: edits made, how many were acknowledged (the server
/// was known to hold them), and when it was synced (epoch ms).
struct Report {
    name: String,
    user: usize,
    edits: usize,
    acknowledged: usize,
    synced_at: Vec<u64>,
    synced_at_end: bool,
}

/// True when the server is known to hold every document as this device
/// has it.
fn in_sync(d: &Device) -> bool {
    let synced = &d.client.state().synced_heads;
    d.client.is_quiet()
        && d.replica
            .docs()
            .iter()
            .all(|(id, doc)| doc.get_heads().is_empty() || synced.get(id) == Some(&doc.get_heads()))
}

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    WebSocket,
    Http,
}

/// One sync attempt; why not, when the server was not there.
fn try_sync(d: &mut Device, transport: Transport, connected: &mut bool) -> Result<(), String> {
    match transport {
        Transport::Http => d.try_sync_http().map(|_| ()),
        Transport::WebSocket => {
            if !*connected {
                d.try_connect()?;
                *connected = true;
            }
            let outcome = d.try_sync_ws().map(|_| ());
            if outcome.is_err() {
                d.disconnect();
                *connected = false;
            }
            outcome
        }
    }
}

/// A native device's life: edits at random intervals (or, for `big`,
/// hundreds of edits made offline then sent as one message), syncing after
/// each; after `stop`, syncs until in sync (at most 90 s).
fn run_native(
    mut d: Device,
    user: usize,
    transport: Transport,
    big: bool,
    seed: u64,
    shared: Arc<Shared>,
) -> Report {
    let mut rng = Rng(seed | 1);
    let mut edits = 0;
    let mut acknowledged = 0;
    let mut synced_at = Vec::new();
    let mut connected = false;
    while !shared.stop.load(Ordering::SeqCst) {
        // Large messages until the document holds a few thousand changes
        // (enough to make every apply slow), then small edits.
        let n = if big && edits < 2_500 {
            rng.range(200, 500)
        } else {
            rng.range(1, 4)
        };
        if big && connected {
            d.disconnect();
            connected = false;
        }
        for _ in 0..n {
            d.replica
                .star(&format!("{}-{edits}", d.name))
                .expect("star");
            edits += 1;
        }
        if big && n > 100 {
            shared.big_sent_at.store(epoch_ms(), Ordering::SeqCst);
        }
        let made = edits;
        if try_sync(&mut d, transport, &mut connected).is_ok() && in_sync(&d) {
            acknowledged = made;
            synced_at.push(epoch_ms());
        }
        shared.big_sent_at.store(0, Ordering::SeqCst);
        let pause = if big {
            rng.range(1_000, 4_000)
        } else {
            rng.range(50, 400)
        };
        std::thread::sleep(Duration::from_millis(pause));
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut synced_at_end = false;
    let mut last = String::new();
    while Instant::now() < deadline {
        let ok = try_sync(&mut d, transport, &mut connected);
        if ok.is_ok() && in_sync(&d) {
            acknowledged = edits;
            synced_at.push(epoch_ms());
            synced_at_end = true;
            break;
        }
        last = format!(
                "sync {ok:?} quiet={} unsynced documents={}",
                d.client.is_quiet(),
                d.replica
                    .docs()
                    .iter()
                    .filter(|(id, doc)| d.client.state().synced_heads.get(*id)
                        != Some(&doc.get_heads()))
                    .count()
            );
        std::thread::sleep(Duration::from_millis(300));
    }
    if !synced_at_end {
        eprintln!("{}: not in sync at the end: {last}", d.name);
        if transport == Transport::WebSocket && std::env::var("KILL_DEBUG").is_ok() {
            debug_round(&mut d);
        }
    }
    d.disconnect();
    Report {
        name: d.name.clone(),
        user,
        edits,
        acknowledged,
        synced_at,
        synced_at_end,
    }
}

/// Prints one round's messages (KILL_DEBUG).
fn debug_round(d: &mut Device) {
    use myflashplay_client::sync::RepoMessage;
    let show = |dir: &str, m: &RepoMessage| match m {
        RepoMessage::Sync(x) | RepoMessage::Request(x) => {
            let s = automerge::sync::Message::decode(&x.data).unwrap();
            eprintln!(
                "  {dir} {} {}: heads {} need {} have {:?} changes {}",
                m.kind(),
                x.document_id,
                s.heads.len(),
                s.need.len(),
                s.have.iter().map(|h| h.last_sync.len()).collect::<Vec<_>>(),
                s.changes.len()
            );
        }
        other => eprintln!("  {dir} {}", other.kind()),
    };
    for (id, doc) in d.replica.docs() {
        eprintln!(
            "  doc {id}: heads {:?} synced {:?}",
            doc.get_heads().len(),
            d.client.state().synced_heads.get(id).map(Vec::len)
        );
    }
    let mut up = vec![d.client.start()];
    up.extend(d.client.poll_messages(d.replica.docs()));
    for _ in 0..12 {
        for m in &up {
            show("->", m);
        }
        let mut stats = device::RoundStats::default();
        let _ = d.debug_send(up.clone(), &mut stats);
        let mut any = false;
        while let Ok(Some(m)) = d.try_recv(Duration::from_millis(500)) {
            show("<-", &m);
            any = true;
            let r = d.client.handle_message(d.replica.docs_mut(), m);
            if let Err(e) = r {
                eprintln!("  error {e}");
            }
        }
        up = d.client.poll_messages(d.replica.docs());
        eprintln!("  quiet={} next={}", d.client.is_quiet(), up.len());
        if up.is_empty() && !any {
            break;
        }
    }
}

/// The package in Node: its status lines are read as they come; `stop`
/// asks it to settle and report.
struct PackageDevice {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl PackageDevice {
    fn start(url: &str, email: &str, name: &str) -> Self {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("node")
            .current_dir(&root)
            .arg("tests/e2e/kill-device.mjs")
            .args([url, email, "correct horse", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (run `make test` once to bootstrap)");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().expect("lines").push(v);
                }
            }
        });
        Self { child, lines }
    }

    fn command(&mut self, cmd: &str) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "{cmd}");
        }
    }

    /// Waits for the report asked for by `stop`.
    fn finish(mut self, user: usize, name: &str) -> Report {
        let deadline = Instant::now() + Duration::from_secs(150);
        let done = loop {
            let found = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|v| v["ev"] == "done")
                .cloned();
            if let Some(done) = found {
                break done;
            }
            assert!(Instant::now() < deadline, "{name}: no report from Node");
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = self.child.wait();
        let lines = self.lines.lock().expect("lines");
        let synced_at: Vec<u64> = lines
            .iter()
            .filter(|v| v["ev"] == "status" && v["status"] == "synced")
            .filter_map(|v| v["t"].as_u64())
            .collect();
        let edits = done["edits"].as_u64().unwrap_or(0) as usize;
        let synced_at_end = done["error"].is_null() && done["status"] == "synced";
        Report {
            name: name.to_owned(),
            user,
            edits,
            // The package reports `synced` only with nothing pending: its
            // edits are acknowledged once it settled at the end.
            acknowledged: if synced_at_end { edits } else { 0 },
            synced_at,
            synced_at_end,
        }
    }
}

/// The applies that restarted objects found interrupted (their log line).
fn interrupted_in(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split("store opened after a crash: ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn every_change_survives_kill_9_of_workerd_at_random_moments() {
    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| epoch_ms() % 1_000_000);
    let kill_secs: u64 = std::env::var("KILL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    println!("kill test: KILL_SEED={seed} KILL_SECS={kill_secs}");
    let started = Instant::now();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);

    // The Worker's console lines are read for the applies a kill
    // interrupted ("store opened after a crash").
    let mut w = Worker::start_with_log_level("log");
    let url = w.url.clone();
    let nanos = epoch_ms();
    let emails = [
        format!("kill.a.{seed}.{nanos}@example.com"),
        format!("kill.b.{seed}.{nanos}@example.com"),
    ];
    let (t_phone, password_a) = api::register(&url, &emails[0], "phone");
    let t_laptop = api::login(&url, &emails[0], &password_a, "laptop");
    let (t_tablet, password_b) = api::register(&url, &emails[1], "tablet");
    let t_desk = api::login(&url, &emails[1], &password_b, "desk");
    let passwords = [password_a, password_b];

    let shared = Arc::new(Shared::default());
    let natives = [
        (
            Device::new("phone", t_phone, &url),
            0,
            Transport::WebSocket,
            false,
        ),
        (
            Device::new("laptop", t_laptop, &url),
            0,
            Transport::Http,
            false,
        ),
        (
            Device::new("tablet", t_tablet, &url),
            1,
            Transport::WebSocket,
            true,
        ),
        (Device::new("desk", t_desk, &url), 1, Transport::Http, false),
    ];
    let mut package = PackageDevice::start(&url, &emails[0], "browser");
    let threads: Vec<_> = natives
        .into_iter()
        .map(|(d, user, transport, big)| {
            let shared = Arc::clone(&shared);
            let s = rng.next();
            std::thread::spawn(move || run_native(d, user, transport, big, s, shared))
        })
        .collect();

    // The killer: a kill every 2-6 s; half of them timed inside the apply
    // of a large message (from the large-message device or a burst of the
    // package), the others anywhere.
    let mut kills = 0;
    // Applies a kill interrupted, as the restarted objects counted them.
    let mut interrupted = 0;
    let kill_until = Instant::now() + Duration::from_secs(kill_secs);
    while Instant::now() < kill_until {
        std::thread::sleep(Duration::from_millis(rng.range(2_000, 6_000)));
        match rng.range(0, 4) {
            0 => {
                package.command(&format!("burst {}", rng.range(200, 500)));
                std::thread::sleep(Duration::from_millis(rng.range(20, 400)));
            }
            1 => {
                let wait_until = Instant::now() + Duration::from_secs(8);
                while shared.big_sent_at.load(Ordering::SeqCst) == 0 && Instant::now() < wait_until
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
            }
            _ => {}
        }
        interrupted += interrupted_in(&w.log());
        w.kill_hard();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.range(0, 1_000)));
        w.relaunch("log");
        shared.restarts.lock().expect("restarts").push(epoch_ms());
    }
    shared.stop.store(true, Ordering::SeqCst);
    // Every device stops editing now (a device still editing would keep
    // the others from ever being quiet) and settles.
    package.command("stop");
    let mut reports: Vec<Report> = threads
        .into_iter()
        .map(|t| t.join().expect("device thread"))
        .collect();
    reports.push(package.finish(0, "browser"));

    // What the server holds: a fresh device of each user pulls everything.
    let mut on_server = Vec::new();
    for r in &reports {
        println!(
            "  {}: edits={} acknowledged={} synced_at_end={}",
            r.name, r.edits, r.acknowledged, r.synced_at_end
        );
    }
    for (email, password) in emails.iter().zip(&passwords) {
        let tokens = api::login(&url, email, password, "check");
        let mut check = Device::new("check", tokens, &url);
        check.sync_http();
        let starred: std::collections::BTreeSet<String> = check
            .replica
            .starred()
            .expect("starred")
            .into_iter()
            .collect();
        on_server.push(starred);
    }
    let (mut edits, mut acknowledged, mut lost, mut stranded) = (0, 0, 0, 0);
    for r in &reports {
        for i in 0..r.edits {
            let held = on_server[r.user].contains(&format!("{}-{i}", r.name));
            edits += 1;
            stranded += usize::from(!held);
            if i < r.acknowledged {
                acknowledged += 1;
                lost += usize::from(!held);
            }
        }
    }
    interrupted += interrupted_in(&w.log());
    // The longest time a device stayed not synced after a restart: from
    // each restart to each device's next synced moment.
    let restarts = shared.restarts.lock().expect("restarts").clone();
    let mut longest = 0;
    for r in &reports {
        let mut own = 0;
        for &at in &restarts {
            if let Some(next) = r.synced_at.iter().find(|&&t| t >= at) {
                own = own.max(next - at);
            }
        }
        println!("  {}: longest not synced after a restart {own} ms", r.name);
        longest = longest.max(own);
    }
    println!(
        "kill test: seed={seed} kills={kills} interrupted_applies={interrupted} devices={} \
         edits={edits} acknowledged={acknowledged} lost={lost} stranded={stranded} \
         longest_not_synced_after_restart_ms={longest} elapsed_s={}",
        reports.len(),
        started.elapsed().as_secs()
    );
    assert!(kills > 0, "no kill happened");
    assert_eq!(lost, 0, "acknowledged changes lost (seed {seed})");
    assert_eq!(stranded, 0, "changes stranded on devices (seed {seed})");
    for r in &reports {
        assert!(
            r.synced_at_end,
            "{} never reported synced (seed {seed})",
            r.name
        );
    }
    drop(w);
}
