//! The Worker under workerd with a heavy learner (200 decks, 20k cards,
//! 150k reviews by default): upload, HTTP sync round trips, and the cold
//! start of the user's `UserStore` after a restart. Prints figures; run
//! with `cargo bench --features e2e --bench workerd` (after `make build`).
//! `MFP_BENCH_DECKS`, `MFP_BENCH_CARDS`, `MFP_BENCH_REVIEWS` (per deck)
//! scale it down; `MFP_BENCH_QUIET`, `MFP_BENCH_GONE`: how many exports
//! are left unread with their connections open (1) and closed (3). Its
//! last step waits a minute (`streams::IDLE_MS`).

// Shared with tests/e2e_sync.rs, which uses all of them.
#[allow(dead_code)]
#[path = "../e2e_native/api.rs"]
mod api;
#[allow(dead_code)]
#[path = "../e2e_native/device.rs"]
mod device;
#[allow(dead_code)]
#[path = "../e2e_native/worker.rs"]
mod worker;

use device::Device;
use myflashplay_client::replica::ReviewInput;
use serde_json::json;
use std::time::{Duration, Instant};
use worker::Worker;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The peak of the isolate's wasm memory so far, from the Worker's
/// `memory` log lines (logged each time it grows), in MB.
fn wasm_memory_mb(w: &Worker) -> f64 {
    let peak = w
        .log()
        .lines()
        .filter_map(|l| l.split("\"wasm_memory_bytes\":").nth(1))
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    peak as f64 / 1e6
}

/// `(status, body)` of a `GET`, the body read to its last byte and not
/// parsed (what a timing of the server and the transfer should include).
fn get_bytes(url: &str, token: &str) -> (u16, Vec<u8>) {
    let res = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .expect("HTTP call");
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .expect("the whole body");
    (status, body)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let decks = env("MFP_BENCH_DECKS", 200);
    let cards = env("MFP_BENCH_CARDS", 100);
    let reviews = env("MFP_BENCH_REVIEWS", 750);
    println!(
        "heavy learner: {decks} decks, {} cards, {} reviews",
        decks * cards,
        decks * reviews
    );

    // The Worker's own log lines, for its `memory` lines.
    std::env::set_var("MFP_WRANGLER_LOG_LEVEL", "log");
    let w = Worker::start();
    let email = format!("bench.{}@example.com", std::process::id());
    let (t, password) = api::register(&w.url, &email, "phone");
    let mut phone = Device::new("phone", t, &w.url);

    let t0 = Instant::now();
    for d in 0..decks {
        let markdown: String = (0..cards)
            .map(|c| format!("{d} × {c} :: {}\n", d * c))
            .collect();
        let id = format!("deck-{d}");
        phone
            .replica
            .create_deck(&json!({"id": id, "name": format!("Deck {d}"), "emoji": "📚", "description": "", "markdown": markdown}))
            .expect("deck");
        for r in 0..reviews {
            let review = ReviewInput {
                deck_id: id.clone(),
                card_id: format!("card-{d}-{}", r % cards),
                correct: r % 4 != 0,
                response_ms: 2000 + (r as u64 % 7) * 1000,
                at: format!(
                    "2026-{:02}-{:02}T10:{:02}:00.000Z",
                    1 + (r / 600) % 12,
                    1 + (r / 20) % 28,
                    r % 60
                ),
                quality: None,
            };
            phone.replica.record_review(&review).expect("review");
        }
    }
    println!(
        "generated on the device in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // The floor of any pass that reads every document (a fresh device's
    // client, an export): loading them all, natively.
    let saved: Vec<Vec<u8>> = phone.replica.docs().values().map(|d| d.save()).collect();
    let t0 = Instant::now();
    for bytes in &saved {
        automerge::Automerge::load(bytes).expect("load");
    }
    println!(
        "floor: loading all {} documents natively takes {:.0} ms ({:.1} MB saved)",
        saved.len(),
        ms(t0.elapsed()),
        saved.iter().map(Vec::len).sum::<usize>() as f64 / 1e6
    );
    // The same in our runtime's engine: stock Automerge's wasm in Node's
    // V8 (tests/bench/wasm-load-floor.mjs).
    let dir = std::env::temp_dir().join(format!("mfp-load-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("floor dir");
    for (i, bytes) in saved.iter().enumerate() {
        std::fs::write(dir.join(i.to_string()), bytes).expect("floor doc");
    }
    let out = std::process::Command::new("node")
        .arg("tests/bench/wasm-load-floor.mjs")
        .arg(&dir)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(o) if o.status.success() => println!(
            "floor: loading them with stock Automerge's wasm in Node's V8: {}",
            String::from_utf8_lossy(&o.stdout).trim()
        ),
        Ok(o) => println!(
            "floor in wasm: failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => println!("floor in wasm: node did not start: {e}"),
    }
    drop(saved);

    let t0 = Instant::now();
    let up = phone.sync_http();
    println!(
        "upload over POST /sync: {:.1} s, {} round trips, {:.1} MB up, {:.1} KB down",
        t0.elapsed().as_secs_f64(),
        up.round_trips,
        up.bytes_up as f64 / 1e6,
        up.bytes_down as f64 / 1e3
    );

    let mut quiet = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let s = phone.sync_http();
        quiet.push(t.elapsed());
        assert_eq!(s.round_trips, 1);
    }
    println!(
        "reconnect with nothing new (HTTP): median {:.1} ms, 1 round trip",
        ms(median(quiet))
    );

    let mut one = Vec::new();
    for i in 0..20 {
        phone
            .replica
            .edit_markdown(&format!("deck-{}", decks / 2), &format!("extra :: {i}\n"))
            .expect("edit");
        let t = Instant::now();
        phone.sync_http();
        one.push(t.elapsed());
    }
    println!(
        "one change, full HTTP sync round (client + server): median {:.1} ms",
        ms(median(one))
    );

    println!(
        "isolate wasm memory (upload and syncs): peak {:.1} MB",
        wasm_memory_mb(&w)
    );

    // Cold start: a new workerd on the same state; the first requests open
    // the user's object, its engine and the documents they touch.
    let mut w = w;
    w.restart();
    let t2 = api::login(&w.url, &email, &password, "laptop");
    let t = Instant::now();
    let (status, manifest) = api::json_call(
        "GET",
        &format!("{}/sync/changes?since=0", w.url),
        Some(&t2.access_token),
        None,
    );
    assert_eq!(status, 200);
    println!(
        "cold start: first GET /sync/changes ({} documents) {:.1} ms",
        manifest["documents"].as_array().map_or(0, Vec::len),
        ms(t.elapsed())
    );
    phone.tokens.access_token = api::login(&w.url, &email, &password, "phone").access_token;
    phone.base = w.url.clone();
    phone
        .replica
        .edit_markdown(&format!("deck-{}", decks / 3), "cold :: start\n")
        .expect("edit");
    let t = Instant::now();
    phone.sync_http();
    println!(
        "cold start: first one-change sync (loads one deck document) {:.1} ms",
        ms(t.elapsed())
    );

    let mut laptop = Device::new("laptop", t2, &w.url);
    let t = Instant::now();
    let full = laptop.sync_http();
    println!(
        "fresh device full sync over HTTP: {:.1} s, {} round trips, {:.1} MB down",
        t.elapsed().as_secs_f64(),
        full.round_trips,
        full.bytes_down as f64 / 1e6
    );
    println!(
        "isolate wasm memory (cold start, fresh device): peak {:.1} MB",
        wasm_memory_mb(&w)
    );
    let t = Instant::now();
    let (status, _) = api::json_call(
        "GET",
        &format!("{}/sync/preferences", w.url),
        Some(&laptop.tokens.access_token),
        None,
    );
    println!(
        "GET /sync/preferences (root document only): {status} in {:.1} ms",
        ms(t.elapsed())
    );
    let t = Instant::now();
    let (status, body) = get_bytes(
        &format!("{}/user/export", w.url),
        &laptop.tokens.access_token,
    );
    let took = t.elapsed();
    let export: serde_json::Value = serde_json::from_slice(&body).expect("the export is JSON");
    println!(
        "GET /user/export (every document loaded): {status} in {:.1} ms to its last byte ({:.1} MB, {} reviews)",
        ms(took),
        body.len() as f64 / 1e6,
        export["reviews"].as_array().map_or(0, Vec::len)
    );
    drop((export, body));
    // Again: the isolate has run the export's code once (V8 has compiled
    // it by now; docs/benchmarks.md, the just-started server).
    let t = Instant::now();
    let (status, _) = get_bytes(
        &format!("{}/user/export", w.url),
        &laptop.tokens.access_token,
    );
    println!(
        "GET /user/export again: {status} in {:.1} ms",
        ms(t.elapsed())
    );
    // The memory a streamed answer took is logged once its last piece is
    // out, just after the client has it.
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "isolate wasm memory (cold start, fresh device, export): peak {:.1} MB",
        wasm_memory_mb(&w)
    );

    // The JSON views that read every deck document.
    let token = laptop.tokens.access_token.clone();
    let t = Instant::now();
    let (status, body) = get_bytes(&format!("{}/sync/full", w.url), &token);
    let took = t.elapsed();
    let full: serde_json::Value = serde_json::from_slice(&body).expect("the full view is JSON");
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "GET /sync/full (every deck document read): {status} in {:.1} ms ({:.1} MB), wasm memory peak {:.1} MB",
        ms(took),
        body.len() as f64 / 1e6,
        wasm_memory_mb(&w)
    );
    let t = Instant::now();
    let (status, _) = get_bytes(&format!("{}/sync/progress", w.url), &token);
    println!("GET /sync/progress: {status} in {:.1} ms", ms(t.elapsed()));
    // A JSON client's write: one card's progress (the rest of the view
    // unsent), read at the version of the full view.
    let (card, mut p) = full["progress"]
        .as_object()
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("progress");
    p["stats"]["views"] = json!(p["stats"]["views"].as_u64().unwrap_or(0) + 1);
    let t = Instant::now();
    let (status, _) = api::json_call(
        "POST",
        &format!("{}/sync/full", w.url),
        Some(&token),
        Some(&json!({"base_version": full["version"], "progress": {card: p}})),
    );
    println!(
        "POST /sync/full (one card's progress, at the version read): {status} in {:.1} ms",
        ms(t.elapsed())
    );
    println!(
        "isolate wasm memory (after the JSON views): peak {:.1} MB",
        wasm_memory_mb(&w)
    );

    // Served again and again, the isolate's memory stays where it is (a
    // streamed answer's state is dropped with its last piece).
    let t = Instant::now();
    for path in [
        "user/export",
        "sync/full",
        "user/export",
        "sync/full",
        "user/export",
    ] {
        let (status, body) =
            api::json_call("GET", &format!("{}/{path}", w.url), Some(&token), None);
        assert!(status == 200 && body.is_object(), "{path}: {status}");
    }
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "isolate wasm memory after three more exports and two more full views ({:.1} s): peak {:.1} MB; {}",
        t.elapsed().as_secs_f64(),
        wasm_memory_mb(&w),
        last_memory_line(&w)
    );

    // Clients that stop reading an export after its first MB: one gone
    // quiet (its connection kept open), three gone (closed). Their
    // answers' pieces are dropped after a minute unread, at the next call
    // into the object. (Under `wrangler dev` a third export at once may
    // get no answer while two are unfinished: docs/benchmarks.md.)
    let (n_quiet, n_gone) = (env("MFP_BENCH_QUIET", 1), env("MFP_BENCH_GONE", 3));
    let mut quiet = Vec::new();
    for i in 0..n_quiet + n_gone {
        match read_first_mb(&format!("{}/user/export", w.url), &token) {
            Ok(r) => {
                let then = if i < n_quiet { "kept open" } else { "closed" };
                println!("  export {i} read for 1 MB, then {then}");
                if i < n_quiet {
                    quiet.push(r);
                }
            }
            Err(e) => println!("  export {i}: {e}"),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "{n_quiet} + {n_gone} exports left unread after their first MB: wasm memory peak {:.1} MB; {}",
        wasm_memory_mb(&w),
        last_memory_line(&w)
    );
    std::thread::sleep(Duration::from_millis(streams_idle_ms() + 1_000));
    let (status, _) = api::json_call(
        "GET",
        &format!("{}/sync/preferences", w.url),
        Some(&token),
        None,
    );
    std::thread::sleep(Duration::from_millis(300));
    let dropped = w
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("streams_dropped"))
        .and_then(|l| Some(l[l.find('{')?..=l.rfind('}')?].to_string()))
        .unwrap_or_else(|| "none".into());
    println!("a minute later, the next call ({status}): streams dropped {dropped}");
    drop(quiet);
    let t = Instant::now();
    let (status, body) = get_bytes(&format!("{}/user/export", w.url), &token);
    println!(
        "then an export read whole: {status} in {:.1} ms ({:.1} MB)",
        ms(t.elapsed()),
        body.len() as f64 / 1e6
    );
}

/// `myflashplay_sync::streams::IDLE_MS`.
fn streams_idle_ms() -> u64 {
    myflashplay_sync::streams::IDLE_MS
}

/// Starts `GET path` and stops reading after its first MB, leaving the
/// connection open (a client gone quiet) or closing it.
fn read_first_mb(url: &str, token: &str) -> Result<Box<dyn std::io::Read>, String> {
    let res = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
        .get(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| e.to_string())?;
    let mut reader = res.into_body().into_reader();
    let mut first = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut reader, &mut first).map_err(|e| e.to_string())?;
    Ok(Box::new(reader))
}

/// The isolate's last `memory` line (its live bytes beside the memory).
fn last_memory_line(w: &Worker) -> String {
    w.log()
        .lines()
        .rev()
        .find(|l| l.contains("\"wasm_memory_bytes\""))
        .and_then(|l| l.find('{').map(|i| l[i..].to_string()))
        .unwrap_or_default()
}
