//! Sample documents and real device→server sync bytes, shared by the fuzz
//! tests of the check (wasm-client/tests/sync_fuzz.rs) and of the store
//! (tests/store_fuzz.rs, which includes this file by path).

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjType, ROOT};

/// A deck-like document with a few changes: map, list, text, counter.
pub fn sample_doc(actor: u8, edits: usize) -> Automerge {
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

/// The sync bytes `device` sends to a server holding `server`, when the
/// server strips its own flags (as our store did before it took whole
/// documents) so that the device sends change chunks.
pub fn device_to_server(device: &Automerge, server: &Automerge) -> Vec<Vec<u8>> {
    exchange(device, server, true)
}

/// The sync bytes `device` sends to a server holding `server` when the
/// server advertises v2 messages (keeps its flags): to an empty server,
/// the whole document in one compressed chunk.
pub fn device_to_server_v2(device: &Automerge, server: &Automerge) -> Vec<Vec<u8>> {
    exchange(device, server, false)
}

/// Four rounds of sync between `device` and a copy of `server` (our own
/// honest bytes: no check needed); what the device sent.
fn exchange(device: &Automerge, server: &Automerge, strip_flags: bool) -> Vec<Vec<u8>> {
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
            if strip_flags {
                m.flags = None;
            }
            dev.receive_sync_message(&mut sd, m).unwrap();
        }
    }
    out
}
