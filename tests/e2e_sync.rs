//! End-to-end sync tests against the real Worker under workerd: native
//! devices built on the shared crate, a stock automerge-repo client, JSON
//! clients and hostile peers. Each test starts its own `wrangler dev`.
//!
//! Run by `make test` (`cargo test --features e2e --test e2e_sync` after
//! the Worker is built).

#[path = "e2e_native/api.rs"]
mod api;
#[path = "e2e_native/device.rs"]
mod device;
#[path = "e2e_native/worker.rs"]
mod worker;

use device::Device;
use myflashplay_client::replica::ReviewInput;
use myflashplay_client::sync::{DocMessage, PeerId, RepoMessage};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use worker::Worker;

fn email(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}.{nanos}@example.com")
}

fn deck(id: &str, markdown: &str) -> Value {
    json!({"id": id, "name": "Times Tables", "emoji": "✖️", "description": "", "markdown": markdown})
}

fn review(card: &str, correct: bool, at: &str) -> ReviewInput {
    ReviewInput {
        deck_id: "d1".into(),
        card_id: card.into(),
        correct,
        response_ms: 4000,
        at: at.into(),
        quality: None,
    }
}

/// Two devices of one user, each logged in.
fn two_devices(w: &Worker) -> (Device, Device, String, String) {
    let e = email("pair");
    let (t1, password) = api::register(&w.url, &e, "phone");
    let t2 = api::login(&w.url, &e, &password, "laptop");
    (
        Device::new("phone", t1, &w.url),
        Device::new("laptop", t2, &w.url),
        e,
        password,
    )
}

#[test]
fn offline_edits_on_two_devices_converge_and_a_third_bootstraps_over_http() {
    let w = Worker::start();
    let (mut phone, mut laptop, e, password) = two_devices(&w);

    phone.connect();
    phone
        .replica
        .create_deck(&deck("d1", "2 × 3 :: 6\n"))
        .unwrap();
    phone.sync_ws();
    laptop.connect();
    laptop.sync_ws();
    assert_eq!(laptop.state()["decks"]["d1"]["markdown"], "2 × 3 :: 6\n");

    // Both go offline and edit the same deck and card.
    phone.disconnect();
    laptop.disconnect();
    phone
        .replica
        .edit_markdown("d1", "2 × 3 :: 6\n4 × 5 :: 20\n")
        .unwrap();
    laptop
        .replica
        .edit_markdown("d1", "1 × 1 :: 1\n2 × 3 :: 6\n")
        .unwrap();
    phone
        .replica
        .record_review(&review("c1", true, "2026-11-20T10:00:00.000Z"))
        .unwrap();
    laptop
        .replica
        .record_review(&review("c1", false, "2026-11-20T10:05:00.000Z"))
        .unwrap();
    phone
        .replica
        .set_preference("theme", &json!("dark"))
        .unwrap();
    laptop
        .replica
        .set_preference("soundEnabled", &json!(false))
        .unwrap();

    phone.connect();
    laptop.connect();
    phone.sync_ws();
    laptop.sync_ws();
    phone.sync_ws();

    let a = phone.state();
    let b = laptop.state();
    assert_eq!(a, b, "devices diverged");
    assert_eq!(
        a["decks"]["d1"]["markdown"],
        "1 × 1 :: 1\n2 × 3 :: 6\n4 × 5 :: 20\n"
    );
    let c1 = &a["progress"]["c1"]["stats"];
    assert_eq!(
        (
            c1["views"].as_u64(),
            c1["correctCount"].as_u64(),
            c1["incorrectCount"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(a["preferences"]["theme"], "dark");
    assert_eq!(a["preferences"]["soundEnabled"], false);

    // A third device never opens a socket: POST /sync only.
    let t3 = api::login(&w.url, &e, &password, "tablet");
    let mut tablet = Device::new("tablet", t3, &w.url);
    let stats = tablet.sync_http();
    assert_eq!(tablet.state(), a, "HTTP bootstrap differs");
    println!("third device bootstrap over POST /sync: {stats:?}");

    // Nothing new: one small round trip.
    let again = tablet.sync_http();
    assert_eq!(again.round_trips, 1, "{again:?}");
    println!("reconnect with nothing new over POST /sync: {again:?}");
}

#[test]
fn a_change_is_pushed_to_the_other_open_socket() {
    let w = Worker::start();
    let (mut phone, mut laptop, _, _) = two_devices(&w);
    phone.connect();
    phone.replica.create_deck(&deck("d1", "a :: b\n")).unwrap();
    phone.sync_ws();
    laptop.connect();
    laptop.sync_ws();

    let mut delays = Vec::new();
    let mut markdown = String::from("a :: b\n");
    for i in 0..50 {
        markdown.push_str(&format!("{i} + 1 :: {}\n", i + 1));
        phone.replica.edit_markdown("d1", &markdown).unwrap();
        let out = phone.client.poll_messages(phone.replica.docs());
        let sent = Instant::now();
        for m in out {
            phone.send(m);
        }
        // Laptop does not ask: it only reads what the server pushes.
        let deadline = sent + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "change {i} never arrived on the laptop"
            );
            if let Some(m) = laptop.recv(Duration::from_millis(5)) {
                laptop.handle(m);
                if laptop.state()["decks"]["d1"]["markdown"] == json!(markdown) {
                    delays.push(sent.elapsed());
                    break;
                }
            }
        }
        // Let the phone hear the server's acknowledgement before the next edit.
        phone.pump(Duration::from_millis(30));
    }
    // A deck created on the phone reaches the laptop's socket too, though
    // the laptop has never synced that deck's document.
    phone
        .replica
        .create_deck(&deck("d2", "new :: deck\n"))
        .unwrap();
    for m in phone.client.poll_messages(phone.replica.docs()) {
        phone.send(m);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while laptop.state()["decks"]["d2"]["markdown"] != "new :: deck\n" {
        assert!(
            Instant::now() < deadline,
            "the new deck never reached the laptop"
        );
        if let Some(m) = laptop.recv(Duration::from_millis(20)) {
            laptop.handle(m);
        }
        phone.pump(Duration::from_millis(20));
    }

    delays.sort();
    let median = delays[delays.len() / 2];
    println!(
        "real-time push: median {:.1} ms, p90 {:.1} ms over {} changes",
        median.as_secs_f64() * 1000.0,
        delays[delays.len() * 9 / 10].as_secs_f64() * 1000.0,
        delays.len()
    );
    assert_eq!(delays.len(), 50);
}

#[test]
fn every_acknowledged_change_survives_a_restart() {
    let mut w = Worker::start();
    let e = email("durable");
    let (t, password) = api::register(&w.url, &e, "phone");
    let mut phone = Device::new("phone", t, &w.url);
    phone.replica.create_deck(&deck("d1", "q :: a\n")).unwrap();
    phone.sync_http();

    // A stream of acknowledged changes; workerd is killed in the middle.
    let mut acknowledged = 0u32;
    let started = Instant::now();
    let mut killed = false;
    for i in 0..400u32 {
        let at = format!("2026-11-21T10:{:02}:{:02}.000Z", (i / 60) % 60, i % 60);
        phone
            .replica
            .record_review(&review("c1", i % 3 != 0, &at))
            .unwrap();
        if !killed && started.elapsed() > Duration::from_millis(1500) {
            // Stop the server while the device keeps editing.
            w.stop();
            killed = true;
        }
        match phone.try_sync_http() {
            Ok(_) => acknowledged = i + 1,
            Err(_) => break,
        }
    }
    assert!(killed, "the stream ended before the restart");
    assert!(acknowledged > 0);
    w.restart();
    println!("restart: /health 200 after {} ms", w.ready_in.as_millis());

    let t2 = api::login(&w.url, &e, &password, "laptop");
    let mut laptop = Device::new("laptop", t2, &w.url);
    laptop.sync_http();
    let views = laptop.state()["progress"]["c1"]["stats"]["views"]
        .as_u64()
        .unwrap_or(0);
    println!("acknowledged before the kill: {acknowledged}; found after restart: {views}");
    assert!(
        views >= u64::from(acknowledged),
        "lost acknowledged changes: {views} < {acknowledged}"
    );
}

/// Runs `tests/interop/stock-client.mjs` (a stock automerge-repo client)
/// on the account of `t` with a ticket URL: it finds the root, sets the
/// theme to `theme` and waits for the server; its printed JSON line.
fn stock_client(w: &Worker, t: &api::Tokens, theme: &str) -> Value {
    let ticket = api::ticket(&w.url, &t.access_token);
    let url = format!("{}/sync/ws?ticket={ticket}", w.ws_url());
    let out = std::process::Command::new("node")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tests/interop/stock-client.mjs",
            &url,
            &t.root_document_id,
            theme,
        ])
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stock client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("json line")
}

#[test]
fn stock_automerge_repo_client_interoperates() {
    let w = Worker::start();
    let e = email("interop");
    let (t, _) = api::register(&w.url, &e, "native");
    let mut native = Device::new("native", t.clone(), &w.url);
    native.replica.create_deck(&deck("d1", "x :: y\n")).unwrap();
    native.replica.star("animals-basic").unwrap();
    native.sync_http();

    let seen = stock_client(&w, &t, "ocean");
    assert_eq!(seen["seen"]["kind"], "root", "{seen}");
    assert!(
        seen["seen"]["starred"].get("animals-basic").is_some(),
        "stock client did not see native data: {seen}"
    );
    assert!(seen["seen"]["decks"].get("d1").is_some(), "{seen}");

    // Our client sees the stock client's change.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        native.sync_http();
        if native.state()["preferences"]["theme"] == "ocean" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stock client's change never arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_stock_client_finds_the_root_of_a_fresh_account() {
    // API v1.1: the root exists from registration on, before any device
    // wrote, so a stock automerge-repo client can `find` it at once.
    let w = Worker::start();
    let e = email("fresh-root");
    let (t, password) = api::register(&w.url, &e, "parent phone");
    let seen = stock_client(&w, &t, "space");
    assert_eq!(seen["seen"]["kind"], "root", "{seen}");

    // A device that made its own root offline (the same genesis) merges
    // with it: its own preference and the stock client's both stand.
    let mut tablet = Device::new("tablet", t.clone(), &w.url);
    tablet
        .replica
        .set_preference("fontSize", &json!("large"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tablet.sync_http();
        let prefs = &tablet.state()["preferences"];
        if prefs["theme"] == "space" {
            assert_eq!(prefs["fontSize"], "large", "{prefs}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stock client's change never arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let t2 = api::login(&w.url, &e, &password, "laptop");
    let mut laptop = Device::new("laptop", t2, &w.url);
    laptop.sync_http();
    let prefs = &laptop.state()["preferences"];
    assert_eq!(
        (&prefs["theme"], &prefs["fontSize"]),
        (&json!("space"), &json!("large"))
    );
}

#[test]
fn json_client_edit_merges_with_a_concurrent_device_edit() {
    let w = Worker::start();
    let (mut phone, _, _, _) = two_devices(&w);
    let token = phone.tokens.access_token.clone();
    phone
        .replica
        .create_deck(&deck("d1", "a :: 1\nb :: 2\n"))
        .unwrap();
    phone.sync_http();

    let (status, read) =
        api::json_call("GET", &format!("{}/sync/decks", w.url), Some(&token), None);
    assert_eq!(status, 200, "{read}");
    let version = read["version"].as_str().expect("version").to_owned();
    assert_eq!(read["data"][0]["markdown"], "a :: 1\nb :: 2\n");

    // Another device edits the same deck's markdown meanwhile.
    phone
        .replica
        .edit_markdown("d1", "a :: 1\nb :: 2\nc :: 3\n")
        .unwrap();
    phone.sync_http();

    let mut mine = read["data"].clone();
    mine[0]["markdown"] = json!("0 :: 0\na :: 1\nb :: 2\n");
    mine[0]["name"] = json!("Renamed by JSON");
    let (status, merged) = api::json_call(
        "POST",
        &format!("{}/sync/decks", w.url),
        Some(&token),
        Some(&json!({"base_version": version, "data": mine})),
    );
    assert_eq!(status, 200, "{merged}");
    assert_eq!(
        merged["data"][0]["markdown"], "0 :: 0\na :: 1\nb :: 2\nc :: 3\n",
        "{merged}"
    );
    assert_eq!(merged["data"][0]["name"], "Renamed by JSON");

    // The device sees the JSON client's edit too.
    phone.sync_http();
    assert_eq!(
        phone.state()["decks"]["d1"]["markdown"],
        "0 :: 0\na :: 1\nb :: 2\nc :: 3\n"
    );

    // The same for a view held in the root document alone.
    let (status, prefs) = api::json_call(
        "GET",
        &format!("{}/sync/preferences", w.url),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{prefs}");
    phone
        .replica
        .set_preference("fontSize", &json!("large"))
        .unwrap();
    phone.sync_http();
    let mut mine = prefs["data"].clone();
    mine["theme"] = json!("dark");
    let (status, merged) = api::json_call(
        "POST",
        &format!("{}/sync/preferences", w.url),
        Some(&token),
        Some(&json!({"base_version": prefs["version"], "data": mine})),
    );
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["data"]["theme"], "dark");
    assert_eq!(
        merged["data"]["fontSize"], "large",
        "the device's concurrent change survives"
    );

    // A stale or forged version is refused, not guessed.
    let (status, err) = api::json_call(
        "POST",
        &format!("{}/sync/starred", w.url),
        Some(&token),
        Some(&json!({"base_version": "v1.AAAA", "data": []})),
    );
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );

    // /sync/full and the export carry the same data.
    let (status, full) = api::json_call("GET", &format!("{}/sync/full", w.url), Some(&token), None);
    assert_eq!(status, 200);
    assert_eq!(full["decks"][0]["name"], "Renamed by JSON");
    let (status, export) =
        api::json_call("GET", &format!("{}/user/export", w.url), Some(&token), None);
    assert_eq!(status, 200);
    assert_eq!(export["decks"]["d1"]["name"], "Renamed by JSON");

    // Decks come in the app's shape: the markdown also where the app keeps
    // it, the cards derived from it with ids every device derives alike.
    let (status, read) =
        api::json_call("GET", &format!("{}/sync/decks", w.url), Some(&token), None);
    assert_eq!(status, 200);
    let d1 = &read["data"][0];
    assert_eq!(d1["metadata"]["originalMarkdown"], d1["markdown"]);
    assert_eq!(export["decks"]["d1"]["cards"], d1["cards"]);
    let ids: Vec<Value> = d1["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let fronts: Vec<&str> = d1["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .map(|c| c["front"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(fronts, ["0", "a", "b", "c"]);
    // An app that edits a card (its own random id on it) writes the
    // markdown; the card keeps its derived id.
    let mut app = read["data"].clone();
    app[0]["cards"][1]["back"] = json!("one");
    app[0]["cards"][1]["id"] = json!("3f0c6a52-0000-4000-8000-000000000000");
    let (status, merged) = api::json_call(
        "POST",
        &format!("{}/sync/decks", w.url),
        Some(&token),
        Some(&json!({"base_version": read["version"], "data": app})),
    );
    assert_eq!(status, 200, "{merged}");
    let d1 = &merged["data"][0];
    assert_eq!(d1["markdown"], "0 :: 0\na :: one\nb :: 2\nc :: 3\n");
    assert_eq!(d1["cards"][1]["back"], "one");
    assert_eq!(d1["cards"][1]["id"], ids[1]);
    phone.sync_http();
    assert_eq!(
        phone.state()["decks"]["d1"]["cards"][1]["id"],
        ids[1],
        "the device derives the same id"
    );
}

#[test]
fn changes_feed_lists_only_documents_changed_since() {
    let w = Worker::start();
    let (mut phone, _, _, _) = two_devices(&w);
    let token = phone.tokens.access_token.clone();
    let url = |since: u64| format!("{}/sync/changes?since={since}", w.url);
    phone.replica.create_deck(&deck("d1", "a :: 1\n")).unwrap();
    phone.replica.create_deck(&deck("d2", "b :: 2\n")).unwrap();
    phone.sync_http();
    let (status, all) = api::json_call("GET", &url(0), Some(&token), None);
    assert_eq!(status, 200, "{all}");
    let seq = all["seq"].as_u64().unwrap();
    assert_eq!(
        all["documents"].as_array().unwrap().len(),
        3,
        "root and two decks: {all}"
    );
    phone
        .replica
        .edit_markdown("d2", "b :: 2\nc :: 3\n")
        .unwrap();
    phone.sync_http();
    let (_, since) = api::json_call("GET", &url(seq), Some(&token), None);
    assert_eq!(since["documents"].as_array().unwrap().len(), 1, "{since}");
    let (status, bad) = api::json_call(
        "GET",
        &format!("{}/sync/changes?since=-1", w.url),
        Some(&token),
        None,
    );
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );
}

/// Sync messages that break automerge 0.12 when it sees them unchecked
/// (docs/design.md §6), built byte by byte like the messages Automerge encodes.
fn hostile_samples() -> Vec<(&'static str, Vec<u8>)> {
    // type, heads 0, need 0, have 1 { last_sync 0, bloom }, changes 0
    let with_bloom = |bloom: &[u8]| {
        let mut m = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
        m.extend_from_slice(bloom);
        m.push(0);
        m
    };
    let mut huge_probes = vec![1, 10, 0x80, 0xc2, 0xd7, 0x2f];
    huge_probes.extend_from_slice(&[0xff, 0xff]);
    // A compressed change chunk that inflates past the 4 MiB bound (an
    // honest compressed change is accepted).
    let compressed = {
        use automerge::transaction::Transactable;
        let mut d = automerge::AutoCommit::new();
        d.put(automerge::ROOT, "text", "x".repeat(5 << 20)).unwrap();
        d.commit();
        let mut change = d.get_changes(&[]).into_iter().next().unwrap().clone();
        let bytes = change.bytes().to_vec();
        assert_eq!(bytes[8], 2, "automerge compressed the change chunk");
        automerge::sync::Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: vec![bytes].into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }
        .encode()
    };
    vec![
        ("Bloom bits_per_entry = 0", with_bloom(&[1, 0, 7])),
        ("Bloom num_probes = 100M", with_bloom(&huge_probes)),
        ("deflate bomb", compressed),
    ]
}

/// A raw WebSocket speaking our frames, for hostile cases.
fn raw_socket(
    w: &Worker,
    token: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/sync/ws", w.ws_url())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("myflashplay-sync.v1, bearer.{token}")
            .parse()
            .unwrap(),
    );
    let (ws, _) = tungstenite::connect(req).expect("connect");
    ws
}

/// Reads until the server closes; returns (error message, close code, reason).
fn read_rejection(
    ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
) -> (Option<String>, Option<u16>, String) {
    let mut error = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(tungstenite::Message::Binary(b)) => {
                if let Ok(RepoMessage::Error { message, .. }) = RepoMessage::decode(&b) {
                    error = Some(message);
                }
            }
            Ok(tungstenite::Message::Close(frame)) => {
                let (code, reason) = frame
                    .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                    .unwrap_or((None, String::new()));
                return (error, code, reason);
            }
            Ok(_) => {}
            Err(_) => return (error, None, String::new()),
        }
    }
    panic!("the server neither rejected nor closed");
}

fn join_frame(peer: &PeerId) -> Vec<u8> {
    RepoMessage::join(peer).encode()
}

#[test]
fn hostile_frames_are_rejected_and_nothing_is_stored() {
    use tungstenite::Message;
    let w = Worker::start();
    let (mut phone, _, _, _) = two_devices(&w);
    let token = phone.tokens.access_token.clone();
    phone.replica.create_deck(&deck("d1", "a :: 1\n")).unwrap();
    phone.sync_http();
    let (_, before) = api::json_call(
        "GET",
        &format!("{}/sync/changes?since=0", w.url),
        Some(&token),
        None,
    );
    let peer = PeerId::new("hostile-peer").unwrap();
    let root: myflashplay_client::DocumentId = phone.tokens.root_document_id.parse().unwrap();
    let server = PeerId::new("myflashplay-server").unwrap();
    let sync_frame = |data: Vec<u8>| {
        RepoMessage::Sync(DocMessage {
            sender_id: peer.clone(),
            target_id: server.clone(),
            document_id: root,
            data,
        })
        .encode()
    };

    let mut cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        (
            "oversized frame",
            vec![join_frame(&peer), vec![0u8; 1024 * 1024 + 16]],
            1009,
        ),
        (
            "garbage bytes",
            vec![join_frame(&peer), b"\xff\x00garbage".to_vec()],
            1008,
        ),
        (
            "message before join",
            vec![sync_frame(vec![0x42, 0, 0, 0, 0])],
            1008,
        ),
    ];
    // A sync message whose Bloom filter has bits_per_entry = 0 (panics
    // automerge 0.12), one with 100M probes (burns CPU), and one carrying a
    // compressed (deflate) change chunk that inflates past the bound.
    for (name, bytes) in hostile_samples() {
        cases.push((name, vec![join_frame(&peer), sync_frame(bytes)], 1008));
    }
    // A document id that is not bs58check: a hand-made CBOR map.
    let mut bad_id = Vec::new();
    {
        use std::io::Write;
        // {"type":"request","senderId":"hostile-peer","targetId":"x","documentId":"0OIl","data":h'00'}
        let _ = bad_id.write_all(&[0xa5]);
        for (k, v) in [
            ("type", "request"),
            ("senderId", "hostile-peer"),
            ("targetId", "x"),
            ("documentId", "0OIl"),
        ] {
            let _ = bad_id.write_all(&[0x60 | k.len() as u8]);
            let _ = bad_id.write_all(k.as_bytes());
            let _ = bad_id.write_all(&[0x60 | v.len() as u8]);
            let _ = bad_id.write_all(v.as_bytes());
        }
        let _ = bad_id.write_all(&[0x64]);
        let _ = bad_id.write_all(b"data");
        let _ = bad_id.write_all(&[0x41, 0x00]);
    }
    cases.push((
        "documentId not bs58check",
        vec![join_frame(&peer), bad_id],
        1008,
    ));

    for (name, frames, code) in cases {
        let mut ws = raw_socket(&w, &token);
        for f in frames {
            let _ = ws.send(Message::Binary(f.into()));
        }
        let (error, got, reason) = read_rejection(&mut ws);
        assert_eq!(got, Some(code), "{name}: closed with {got:?} {reason:?}");
        assert!(!reason.is_empty(), "{name}: close without a reason");
        println!("{name}: error message {error:?}, close {got:?} {reason:?}");
    }

    // Another user's document: unknown here, so unavailable.
    let other = api::register(&w.url, &email("other"), "x").0;
    let theirs: myflashplay_client::DocumentId = other.root_document_id.parse().unwrap();
    let mut ws = raw_socket(&w, &token);
    ws.send(Message::Binary(join_frame(&peer).into())).unwrap();
    let _peer_answer = ws.read().unwrap();
    let mut probe = automerge::sync::State::new();
    let empty = automerge::Automerge::new();
    use automerge::sync::SyncDoc;
    let msg = empty
        .generate_sync_message(&mut probe)
        .expect("a first message");
    ws.send(Message::Binary(
        RepoMessage::Request(DocMessage {
            sender_id: peer.clone(),
            target_id: server.clone(),
            document_id: theirs,
            data: msg.encode(),
        })
        .encode()
        .into(),
    ))
    .unwrap();
    let answer = loop {
        if let Message::Binary(b) = ws.read().unwrap() {
            break RepoMessage::decode(&b).unwrap();
        }
    };
    assert_eq!(answer.kind(), "doc-unavailable", "{answer:?}");

    // Nothing was stored, and the object keeps serving the user.
    let (_, after) = api::json_call(
        "GET",
        &format!("{}/sync/changes?since=0", w.url),
        Some(&token),
        None,
    );
    assert_eq!(before, after, "a rejected message changed the store");
    phone
        .replica
        .edit_markdown("d1", "a :: 1\nb :: 2\n")
        .unwrap();
    phone.connect();
    phone.sync_ws();
    let (_, later) = api::json_call("GET", &format!("{}/sync/decks", w.url), Some(&token), None);
    assert_eq!(later["data"][0]["markdown"], "a :: 1\nb :: 2\n");
}

#[test]
fn a_batch_answers_every_message_and_a_refused_one_by_an_error_naming_its_document() {
    let w = Worker::start();
    let (mut phone, _, _, _) = two_devices(&w);
    let token = phone.tokens.access_token.clone();
    phone.replica.create_deck(&deck("d1", "a :: 1\n")).unwrap();
    let mut batch = phone.client.poll_messages(phone.replica.docs());
    assert!(!batch.is_empty());
    // In the middle of the device's own messages, one that fails the
    // server's check (Bloom bits_per_entry = 0) for a document of its own.
    let bad_doc = myflashplay_client::DocumentId::from_bytes([9; 16]);
    let (_, bloom_zero) = hostile_samples().remove(0);
    let at = 1.min(batch.len());
    batch.insert(
        at,
        RepoMessage::Sync(DocMessage {
            sender_id: phone.client.peer_id().clone(),
            target_id: PeerId::new("myflashplay-server").unwrap(),
            document_id: bad_doc,
            data: bloom_zero,
        }),
    );
    let (status, body) =
        api::try_post_sync(&w.url, &token, RepoMessage::encode_batch(&batch)).unwrap();
    assert_eq!(status, 200, "a batch with one refused message is answered");
    let answer = RepoMessage::decode_batch_from_server(&body).unwrap();
    let refusals: Vec<_> = answer
        .iter()
        .filter_map(|m| match m {
            RepoMessage::Error {
                document_id,
                reason,
                ..
            } => Some((*document_id, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(refusals, [(Some(bad_doc), Some("check".to_owned()))]);
    assert!(
        answer.iter().any(|m| m.kind() == "sync"),
        "the other messages were answered: {answer:?}"
    );
    // The good messages were applied: the device settles and the deck is
    // on the server.
    for m in answer {
        let _ = phone.client.handle_message(phone.replica.docs_mut(), m);
    }
    phone.sync_http();
    let (_, decks) = api::json_call("GET", &format!("{}/sync/decks", w.url), Some(&token), None);
    assert_eq!(decks["data"][0]["markdown"], "a :: 1\n");
    // A batch of only refused messages is still refused as a whole.
    let only_bad = vec![batch.remove(at)];
    let (status, _) =
        api::try_post_sync(&w.url, &token, RepoMessage::encode_batch(&only_bad)).unwrap();
    assert_eq!(status, 400);
}
