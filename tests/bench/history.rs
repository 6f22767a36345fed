//! Deck history under workerd: one deck with 10,000 changes by two devices
//! (`MFP_BENCH_CHANGES` scales it), then the first page of
//! `GET /sync/decks/{id}/history`. Prints the server's CPU per request
//! (workerd's user + system time from `/proc`, over 20 requests) against
//! the 50 ms target, and the wall time a client sees. Run with `make
//! bench` or `cargo bench --features e2e --bench history` (after `make
//! build`).

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
use serde_json::json;
use std::time::{Duration, Instant};
use worker::Worker;

/// The target for the first page, server CPU per request.
const TARGET_MS: f64 = 50.0;
/// Requests measured.
const REQUESTS: u32 = 20;
/// Lines of the deck; each change rewrites one.
const LINES: usize = 40;

fn main() {
    let changes: usize = std::env::var("MFP_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let w = Worker::start();
    let email = format!("bench.history.{}@example.com", std::process::id());
    let (t, password) = api::register(&w.url, &email, "phone");
    let mut phone = Device::new("phone", t, &w.url);
    let mut laptop = Device::new(
        "laptop",
        api::login(&w.url, &email, &password, "laptop"),
        &w.url,
    );
    phone.replica.set_device_name("phone").expect("name");
    laptop.replica.set_device_name("laptop").expect("name");

    // Ten changes a minute apart by one device, then ten by the other.
    let t0 = Instant::now();
    let mut lines: Vec<String> = (0..LINES).map(|i| format!("q{i} :: a{i}")).collect();
    let mut now_ms = 1_790_000_000_000_i64;
    phone.replica.set_now(now_ms);
    phone
        .replica
        .create_deck(
            &json!({"id": "long", "name": "Long", "emoji": "📜", "markdown": lines.join("\n")}),
        )
        .expect("deck");
    for i in 1..changes {
        now_ms += 60_000;
        lines[i % LINES] = format!("q{} :: edit {i}", i % LINES);
        let (from, to) = if (i / 10) % 2 == 0 {
            (&mut phone, &mut laptop)
        } else {
            (&mut laptop, &mut phone)
        };
        from.replica.set_now(now_ms);
        from.replica
            .edit_markdown("long", &lines.join("\n"))
            .expect("edit");
        if i % 10 == 9 {
            for (id, doc) in from.replica.docs_mut().iter_mut() {
                match to.replica.docs_mut().get_mut(id) {
                    Some(mine) => {
                        mine.merge(doc).expect("merge");
                    }
                    None => {
                        to.replica.docs_mut().insert(*id, doc.fork());
                    }
                }
            }
        }
    }
    for (id, doc) in laptop.replica.docs_mut().iter_mut() {
        if let Some(mine) = phone.replica.docs_mut().get_mut(id) {
            mine.merge(doc).expect("merge");
        }
    }
    let local = phone
        .replica
        .deck_history("long", None, None)
        .expect("history");
    println!(
        "deck with {changes} changes by two devices generated in {:.1} s ({} entries on the first page)",
        t0.elapsed().as_secs_f64(),
        local.entries.len()
    );
    let up = phone.sync_http();
    println!("uploaded in {} round trips", up.round_trips);

    let url = format!("{}/sync/decks/long/history", w.url);
    let token = phone.tokens.access_token.clone();
    let get = || {
        let (status, body) = api::json_call("GET", &url, Some(&token), None);
        assert_eq!(status, 200, "{body}");
        body
    };
    let t = Instant::now();
    let first = get();
    println!(
        "first request (loads the deck document): {:.1} ms wall",
        ms(t.elapsed())
    );
    assert_eq!(
        first["entries"].as_array().map(Vec::len),
        Some(local.entries.len())
    );
    assert_eq!(
        first["entries"][0]["device_name"],
        local.entries[0].device_name
    );

    let group = w.group().expect("workerd running");
    let cpu_before = group_cpu(group);
    let mut walls = Vec::new();
    for _ in 0..REQUESTS {
        let t = Instant::now();
        get();
        walls.push(t.elapsed());
    }
    let cpu = (group_cpu(group) - cpu_before).as_secs_f64() * 1e3 / f64::from(REQUESTS);
    walls.sort();
    println!(
        "first page of history, {changes} changes: server CPU {cpu:.1} ms per request (workerd user+system, {REQUESTS} requests; target ≤ {TARGET_MS} ms), wall median {:.1} ms",
        ms(walls[walls.len() / 2])
    );
    if cpu > TARGET_MS {
        println!("OVER TARGET");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// User + system CPU of every process of the group (wrangler's node and
/// workerd), from `/proc/<pid>/stat`.
fn group_cpu(group: u32) -> Duration {
    let tick = clock_ticks();
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) in parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // rest[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if f.get(2).and_then(|p| p.parse::<u32>().ok()) != Some(group) {
            continue;
        }
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += n(11) + n(12);
    }
    Duration::from_secs_f64(ticks as f64 / tick)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
