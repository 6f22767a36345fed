//! The attacker's case against the whole store: valid device messages with
//! bytes inside their change chunks altered and the chunk checksums
//! recomputed. The stateless check plus the store's actor check must turn
//! every one into a result (applied or refused), never a panic.

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjType, ROOT};
use myflashplay_client::sync::{DocMessage, PeerId, RepoMessage, SyncClient};
use myflashplay_client::{Docs, DocumentId};
use myflashplay_sync::store::sqlite::Sqlite;
use myflashplay_sync::store::{sync_until_quiet, UserStore};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

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

fn doc_id() -> DocumentId {
    DocumentId::from_bytes([4; 16])
}

/// A store holding the server's copy, and the sync bytes a second device
/// with its own history sends (server flags stripped, as the store does).
fn setup() -> (Automerge, Vec<Vec<u8>>) {
    let server_doc = sample_doc(2, 2);
    let mut dev = server_doc.clone();
    let mut extra = sample_doc(1, 5);
    dev.merge(&mut extra).unwrap();
    let mut srv = server_doc.clone();
    let (mut sd, mut ss) = (State::new(), State::new());
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
    (server_doc, out)
}

fn store_with(doc: &Automerge) -> UserStore<Sqlite> {
    let mut store = UserStore::open(Sqlite::in_memory().unwrap(), 1).unwrap();
    let mut docs = Docs::new();
    docs.insert(doc_id(), doc.clone());
    let mut x = SyncClient::new(PeerId::new("x").unwrap());
    sync_until_quiet(1, &mut x, &mut docs, &mut store).unwrap();
    store
}

fn fix_checksums(bytes: &mut [u8]) {
    let mut i = 0;
    while i + 9 < bytes.len() {
        if bytes[i..i + 4] == [0x85, 0x6f, 0x4a, 0x83] {
            let kind = bytes[i + 8];
            let (mut len, mut j, mut shift) = (0u64, i + 9, 0);
            while j < bytes.len() && shift < 63 {
                len |= u64::from(bytes[j] & 0x7f) << shift;
                shift += 7;
                j += 1;
                if bytes[j - 1] & 0x80 == 0 {
                    break;
                }
            }
            let end = j.saturating_add(len as usize);
            if end <= bytes.len() {
                let mut h = Sha256::new();
                h.update([kind]);
                h.update(&bytes[i + 9..j]);
                h.update(&bytes[j..end]);
                bytes[i + 4..i + 8].copy_from_slice(&h.finalize()[..4]);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

fn send(store: &mut UserStore<Sqlite>, data: Vec<u8>) {
    let y = PeerId::new("y").unwrap();
    let msg = RepoMessage::Sync(DocMessage {
        sender_id: y.clone(),
        target_id: PeerId::new("myflashplay-server").unwrap(),
        document_id: doc_id(),
        data,
    });
    let _ = store.handle_message(2, &y, msg);
}

#[test]
fn unmutated_messages_apply() {
    let (server_doc, msgs) = setup();
    let mut store = store_with(&server_doc);
    let y = PeerId::new("y").unwrap();
    for m in msgs {
        let msg = RepoMessage::Sync(DocMessage {
            sender_id: y.clone(),
            target_id: PeerId::new("myflashplay-server").unwrap(),
            document_id: doc_id(),
            data: m,
        });
        store.handle_message(2, &y, msg).unwrap();
    }
    let docs = store.export_docs().unwrap();
    assert_eq!(
        docs[&doc_id()].get_heads().len(),
        2,
        "both histories merged"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_500))]

    /// Known gap, hence ignored (run with `--ignored`, ideally also with
    /// `--profile bench` to match shipped code): with the actor check in
    /// place (which removes the `InvalidActorIndex` panics), this still
    /// finds Automerge 0.12 panics deeper in op application
    /// (op_set2/change/batch.rs `pos.unwrap()`; in debug builds also a
    /// debug-only cross-check in change/collector.rs). Refusing those
    /// before Automerge would mean re-implementing its op application; the
    /// store's crash marker refuses such a message on its second arrival.
    #[test]
    #[ignore = "finds known Automerge 0.12 panics past every check; see doc comment"]
    fn checksum_fixed_mutations_never_panic_the_store(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
    ) {
        let (server_doc, msgs) = setup();
        let mut bytes = pick.get(&msgs).clone();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        fix_checksums(&mut bytes);
        let mut store = store_with(&server_doc);
        send(&mut store, bytes);
    }
}
