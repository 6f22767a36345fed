//! Sync benchmark for a heavy learner: 200 decks, 20k cards, 150k reviews,
//! one Automerge document per deck (docs/design.md §3), the store on a SQLite
//! file. Prints the figures; run with `cargo bench --bench sync`.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ScalarValue, ROOT};
use myflashplay_client::sync::{PeerId, RepoMessage, SyncClient};
use myflashplay_client::{Docs, DocumentId};
use myflashplay_sync::store::sqlite::Sqlite;
use myflashplay_sync::store::{cache, sync_until_quiet, Engine};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DECKS: usize = 200;
const CARDS_PER_DECK: usize = 100;
const REVIEWS_PER_DECK: usize = 750;
const ONE_CHANGE_SAMPLES: usize = 200;

/// Counts live heap bytes and their peak, to report memory per phase.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Resets the peak to the live size; returns the live size.
fn mark() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// Peak above `base` since the last [`mark`], in MB.
fn peak_mb(base: usize) -> f64 {
    (PEAK.load(Ordering::Relaxed).saturating_sub(base)) as f64 / 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A deck document shaped like the app's: name, markdown text, and per
/// card progress with counters and a review list, written over several
/// study sessions (commits).
fn deck(n: usize) -> AutoCommit {
    let mut d = AutoCommit::new().with_actor(automerge::ActorId::from(vec![1u8; 16]));
    d.put(ROOT, "kind", "deck").unwrap();
    d.put(ROOT, "schema", 1).unwrap();
    d.put(ROOT, "name", format!("Deck {n}")).unwrap();
    let md = d.put_object(ROOT, "markdown", ObjType::Text).unwrap();
    let text: String = (0..CARDS_PER_DECK)
        .map(|c| format!("What is {c} + {n}? :: {}\n", c + n))
        .collect();
    d.splice_text(&md, 0, 0, &text).unwrap();
    let progress = d.put_object(ROOT, "progress", ObjType::Map).unwrap();
    let mut cards = Vec::new();
    for c in 0..CARDS_PER_DECK {
        let card = d
            .put_object(&progress, format!("card-{n}-{c}"), ObjType::Map)
            .unwrap();
        for k in ["views", "correct", "incorrect"] {
            d.put(&card, k, ScalarValue::counter(0)).unwrap();
        }
        let reviews = d.put_object(&card, "reviews", ObjType::List).unwrap();
        cards.push((card, reviews));
    }
    d.commit();
    for r in 0..REVIEWS_PER_DECK {
        let (card, reviews) = &cards[(r * 7) % CARDS_PER_DECK];
        review(&mut d, card, reviews, r);
        if r % 75 == 74 {
            d.commit();
        }
    }
    d.commit();
    d
}

fn review(d: &mut AutoCommit, card: &automerge::ObjId, reviews: &automerge::ObjId, r: usize) {
    let correct = !r.is_multiple_of(3);
    d.increment(card, "views", 1).unwrap();
    d.increment(card, if correct { "correct" } else { "incorrect" }, 1)
        .unwrap();
    let len = automerge::ReadDoc::length(d, reviews);
    let ev = d.insert_object(reviews, len, ObjType::Map).unwrap();
    d.put(&ev, "at", 1_700_000_000_000i64 + r as i64 * 60_000)
        .unwrap();
    d.put(&ev, "correct", correct).unwrap();
    d.put(&ev, "ms", 1500 + (r % 40) as i64 * 100).unwrap();
}

fn peer(s: &str) -> PeerId {
    PeerId::new(s).expect("peer id")
}

fn main() {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("mfp-bench-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);

    // The learner's documents on device A.
    let t = Instant::now();
    let mut edit_docs: Vec<(DocumentId, AutoCommit)> = (0..DECKS)
        .map(|n| (DocumentId::derive(&["bench", &n.to_string()]), deck(n)))
        .collect();
    let mut dev_a: Docs = edit_docs
        .iter_mut()
        .map(|(id, d)| (*id, d.document().clone()))
        .collect();
    let saved: usize = dev_a.values().map(|d| d.save().len()).sum();
    println!(
        "heavy learner: {DECKS} decks, {} cards, {} reviews; generated in {:.1} s; {:.1} MB saved ({:.1} KB per deck)",
        DECKS * CARDS_PER_DECK,
        DECKS * REVIEWS_PER_DECK,
        t.elapsed().as_secs_f64(),
        saved as f64 / 1e6,
        saved as f64 / DECKS as f64 / 1e3
    );

    // Device A uploads everything to an empty store.
    let mut server = Engine::open(Sqlite::open(&dir).expect("db"), 1).expect("store");
    let mut a = SyncClient::new(peer("device-a"));
    let base = mark();
    let t = Instant::now();
    let up = sync_until_quiet(2, &mut a, &mut dev_a, &mut server).expect("upload");
    println!(
        "first upload from device A: {:.0} ms, {} round trips, {:.1} MB up, {:.1} KB down, peak +{:.1} MB (device + server in one process)",
        ms(t.elapsed()),
        up.round_trips,
        up.bytes_up as f64 / 1e6,
        up.bytes_down as f64 / 1e3,
        peak_mb(base)
    );
    drop(server);

    // Server restart; cold load of one deck document.
    let mut server = Engine::open(Sqlite::open(&dir).expect("db"), 3).expect("store");
    let mut loads = Vec::new();
    let mut load_peak: f64 = 0.0;
    for (id, _) in &edit_docs {
        server.unload_all();
        let base = mark();
        let t = Instant::now();
        assert!(server.preload(id).expect("load"));
        loads.push(t.elapsed());
        load_peak = load_peak.max(peak_mb(base));
    }
    println!(
        "server cold load of one deck document: median {:.2} ms, max {:.2} ms, peak +{:.2} MB",
        ms(median(loads.clone())),
        ms(loads.iter().max().copied().unwrap_or_default()),
        load_peak
    );

    // One-change sync: device A studies one card; only the server's CPU
    // inside handle_message is timed. Warm: the document is in memory (a
    // live Durable Object's working set); cold: the store just dropped its
    // documents (first message after a wake-up).
    sync_until_quiet(4, &mut a, &mut dev_a, &mut server).expect("settle");
    for (id, _) in &edit_docs[..32] {
        server.preload(id).expect("warm");
    }
    for cold in [false, true] {
        let mut cpu = Vec::new();
        let mut rounds = Vec::new();
        let mut bytes = Vec::new();
        let mut one_peak: f64 = 0.0;
        for i in 0..ONE_CHANGE_SAMPLES {
            // Warm samples cycle through 32 decks, which stay loaded.
            let k = if cold { (i * 37) % DECKS } else { (i * 7) % 32 };
            study_one_card(
                &mut edit_docs,
                &mut dev_a,
                k,
                i + if cold { 20_000 } else { 10_000 },
            );
            if cold {
                server.unload_all();
            }
            let base = mark();
            let (spent, report) = timed_sync(5 + i as u64, &mut a, &mut dev_a, &mut server);
            one_peak = one_peak.max(peak_mb(base));
            cpu.push(spent);
            rounds.push(report.0);
            bytes.push(report.1);
        }
        rounds.sort();
        bytes.sort();
        cpu.sort();
        println!(
            "one-change sync, {} ({ONE_CHANGE_SAMPLES} samples): server CPU median {:.3} ms (p90 {:.3} ms), {} round trips, {} bytes on the wire (median), peak +{:.2} MB",
            if cold { "cold document" } else { "warm document" },
            ms(cpu[cpu.len() / 2]),
            ms(cpu[cpu.len() * 9 / 10]),
            rounds[rounds.len() / 2],
            bytes[bytes.len() / 2],
            one_peak
        );
    }

    // Reconnect with nothing new.
    let t = Instant::now();
    let r = sync_until_quiet(1_000, &mut a, &mut dev_a, &mut server).expect("reconnect");
    println!(
        "reconnect with nothing new: {} round trip(s), {} bytes up, {} bytes down, {:.2} ms",
        r.round_trips,
        r.bytes_up,
        r.bytes_down,
        ms(t.elapsed())
    );

    // A fresh device logs in and pulls everything.
    let mut b = SyncClient::new(peer("device-b"));
    let mut dev_b = Docs::new();
    server.unload_all();
    let base = mark();
    let t = Instant::now();
    let full = sync_until_quiet(2_000, &mut b, &mut dev_b, &mut server).expect("fresh device");
    let took = t.elapsed();
    assert_eq!(dev_b.len(), DECKS);
    assert!(dev_b
        .iter()
        .all(|(id, d)| d.get_heads() == dev_a[id].get_heads()));
    println!(
        "fresh device full sync: {:.0} ms, {} round trips, {} messages, {:.2} MB down, {:.1} KB up, peak +{:.1} MB (device + server)",
        ms(took),
        full.round_trips,
        full.messages_up + full.messages_down,
        full.bytes_down as f64 / 1e6,
        full.bytes_up as f64 / 1e3,
        peak_mb(base)
    );
    let loaded = server.loaded_count();
    let estimated = server.loaded_bytes();
    let live = LIVE.load(Ordering::Relaxed);
    server.unload_all();
    println!(
        "server resident documents after that: {loaded} (estimated {:.1} MB of a {:.0} MB budget), {:.1} MB",
        estimated as f64 / 1e6,
        cache::ISOLATE_BUDGET_BYTES as f64 / 1e6,
        live.saturating_sub(LIVE.load(Ordering::Relaxed)) as f64 / 1e6
    );
    let again = sync_until_quiet(3_000, &mut b, &mut dev_b, &mut server).expect("again");
    println!(
        "fresh device's next reconnect: {} round trip(s), {} bytes",
        again.round_trips,
        again.bytes_up + again.bytes_down
    );
    drop(server);
    let _ = std::fs::remove_file(&dir);
    println!("bench total {:.1} s", started.elapsed().as_secs_f64());
}

/// One review of one card in deck `k`, committed on device A.
fn study_one_card(
    edit_docs: &mut [(DocumentId, AutoCommit)],
    dev_a: &mut Docs,
    k: usize,
    r: usize,
) {
    let (id, d) = &mut edit_docs[k];
    let get = |d: &AutoCommit, obj: &automerge::ObjId, key: String| match automerge::ReadDoc::get(
        d, obj, key,
    ) {
        Ok(Some((_, o))) => o,
        _ => panic!("deck {k} lacks an object"),
    };
    let progress = get(d, &ROOT, "progress".into());
    let card = get(d, &progress, format!("card-{k}-{}", r % CARDS_PER_DECK));
    let reviews = get(d, &card, "reviews".into());
    review(d, &card, &reviews, r);
    d.commit();
    dev_a.insert(*id, d.document().clone());
}

/// [`sync_until_quiet`] with the server's time measured apart: returns
/// (server CPU, (round trips, bytes)).
fn timed_sync(
    now: u64,
    client: &mut SyncClient,
    docs: &mut Docs,
    server: &mut Engine<Sqlite>,
) -> (Duration, (usize, usize)) {
    let mut spent = Duration::ZERO;
    let (mut rounds, mut bytes) = (0, 0);
    let mut up = client.poll_messages(docs);
    up.push(client.start());
    while !up.is_empty() {
        rounds += 1;
        let mut down = Vec::new();
        for m in up {
            let frame = m.encode();
            bytes += frame.len();
            let t = Instant::now();
            let msg = RepoMessage::decode(&frame).expect("decode");
            let out = server
                .handle_message(now, client.peer_id(), msg)
                .expect("server");
            spent += t.elapsed();
            down.extend(out);
        }
        for m in down {
            bytes += m.encode().len();
            client.handle_message(docs, m).expect("client");
        }
        up = client.poll_messages(docs);
    }
    (spent, (rounds, bytes))
}
