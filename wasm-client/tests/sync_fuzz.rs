//! Property tests of the hostile-input path: decoding and checking never
//! panic, and what passes the check never panics Automerge.

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjType, ROOT};
use myflashplay_client::sync::{check_sync_message, Limits, RepoMessage};
use proptest::prelude::*;

/// A deck-like document with a few changes: map, list, text, counter.
fn sample_doc(actor: u8, edits: usize) -> Automerge {
    let mut d = AutoCommit::new().with_actor(automerge::ActorId::from(vec![actor; 16]));
    let cards = d.put_object(ROOT, "cards", ObjType::Map).unwrap();
    let text = d.put_object(ROOT, "markdown", ObjType::Text).unwrap();
    d.commit();
    for i in 0..edits {
        let c = d.put_object(&cards, format!("c{i}"), ObjType::Map).unwrap();
        d.put(&c, "views", automerge::ScalarValue::counter(1))
            .unwrap();
        let reviews = d.put_object(&c, "reviews", ObjType::List).unwrap();
        d.insert(&reviews, 0, i as i64).unwrap();
        d.splice_text(&text, 0, 0, "q :: a\n").unwrap();
        d.commit();
    }
    d.document().clone()
}

/// Messages a device sends to a server that strips its own flags (so the
/// device sends change chunks), and the server's document before them.
fn device_messages() -> (Automerge, Vec<Vec<u8>>) {
    let device = sample_doc(1, 6);
    let server = sample_doc(2, 2);
    let (mut sd, mut ss) = (State::new(), State::new());
    let mut srv = server.clone();
    let mut dev = device.clone();
    let mut out = Vec::new();
    for _ in 0..4 {
        if let Some(m) = dev.generate_sync_message(&mut sd) {
            let bytes = m.encode();
            srv.receive_sync_message(&mut ss, Message::decode(&bytes).unwrap())
                .unwrap();
            out.push(bytes);
        }
        if let Some(mut m) = srv.generate_sync_message(&mut ss) {
            m.flags = None;
            dev.receive_sync_message(&mut sd, m).unwrap();
        }
    }
    (server, out)
}

/// What the store does with bytes: check, decode, apply to a copy.
fn apply(server: &Automerge, bytes: &[u8]) {
    if check_sync_message(bytes, &Limits::FROM_DEVICE).is_ok() {
        if let Ok(m) = Message::decode(bytes) {
            let mut doc = server.clone();
            let mut state = State::new();
            let _ = doc.receive_sync_message(&mut state, m);
            let _ = doc.generate_sync_message(&mut state);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = RepoMessage::decode(&bytes);
        let _ = RepoMessage::decode_batch(&bytes);
        let _ = check_sync_message(&bytes, &Limits::FROM_DEVICE);
        let _ = check_sync_message(&bytes, &Limits::FROM_SERVER);
    }

    #[test]
    fn sync_like_prefixes_never_panic(
        first in prop_oneof![Just(0x42u8), Just(0x43u8)],
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![first];
        bytes.extend(rest);
        apply(&Automerge::new(), &bytes);
    }

    #[test]
    fn mutated_device_messages_never_panic_after_check(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let (server, msgs) = device_messages();
        let mut bytes = pick.get(&msgs).clone();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        apply(&server, &bytes);
    }
    // The attacker's case (bytes inside change chunks altered, checksums
    // recomputed) can pass this stateless check and still panic Automerge
    // 0.12; the store's answer to that is tested in tests/store_fuzz.rs.
}

#[test]
fn real_device_messages_pass_and_apply() {
    let (server, msgs) = device_messages();
    let mut srv = server.clone();
    let mut state = State::new();
    let mut chunks = 0;
    for m in &msgs {
        chunks += check_sync_message(m, &Limits::FROM_DEVICE).unwrap().chunks;
        srv.receive_sync_message(&mut state, Message::decode(m).unwrap())
            .unwrap();
    }
    assert!(chunks >= 7, "{chunks} chunks");
    assert_eq!(srv.get_heads().len(), 2, "both actors' heads");
}
