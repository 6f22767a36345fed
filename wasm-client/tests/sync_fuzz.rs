//! Property tests of the hostile-input path: decoding and checking never
//! panic, and what passes the check never panics Automerge.

use automerge::sync::{Message, State, SyncDoc};
use automerge::Automerge;
use myflashplay_client::sync::{check_sync_message, Limits, RepoMessage};
use proptest::prelude::*;

#[path = "support/sync_samples.rs"]
mod sync_samples;
use sync_samples::{device_to_server, sample_doc};

/// Messages a device sends to a server, and the server's document before them.
fn device_messages() -> (Automerge, Vec<Vec<u8>>) {
    let server = sample_doc(2, 2);
    let out = device_to_server(&sample_doc(1, 6), &server);
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
