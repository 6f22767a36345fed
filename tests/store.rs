//! The store engine on real SQLite, driven by real device clients.

use automerge::sync::{Message, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ReadDoc, ROOT};
use myflashplay_client::sync::{DocMessage, PeerId, RepoMessage, SyncClient};
use myflashplay_client::{Docs, DocumentId};
use myflashplay_sync::store::sqlite::Sqlite;
use myflashplay_sync::store::{
    cache, sync_until_quiet, Engine, Row, Sql, SqlError, SqlValue, Step, StoreError, CHANGE_REFUSED,
};

fn peer(s: &str) -> PeerId {
    PeerId::new(s).unwrap()
}

fn id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

/// Applies `edit` to document `n` of `docs` as one commit.
fn edit(docs: &mut Docs, n: u8, key: &str, value: i64) {
    let doc = docs.remove(&id(n)).unwrap_or_default();
    let mut d = AutoCommit::load(&doc.save()).unwrap();
    d.put(ROOT, key, value).unwrap();
    d.commit();
    docs.insert(id(n), d.document().clone());
}

fn get(doc: &Automerge, key: &str) -> Option<i64> {
    doc.get(ROOT, key).unwrap().and_then(|(v, _)| v.as_i64())
}

fn store() -> Engine<Sqlite> {
    Engine::open(Sqlite::in_memory().unwrap(), 1).unwrap()
}

fn heads(docs: &Docs) -> Vec<(DocumentId, Vec<automerge::ChangeHash>)> {
    docs.iter().map(|(k, d)| (*k, d.get_heads())).collect()
}

#[test]
fn two_devices_converge_through_the_store() {
    let mut server = store();
    let (mut a, mut b) = (SyncClient::new(peer("a")), SyncClient::new(peer("b")));
    let (mut da, mut db) = (Docs::new(), Docs::new());
    edit(&mut da, 1, "x", 1);
    edit(&mut da, 2, "y", 2);
    sync_until_quiet(10, &mut a, &mut da, &mut server).unwrap();
    // b has never seen these documents: the manifest makes it pull them.
    sync_until_quiet(11, &mut b, &mut db, &mut server).unwrap();
    assert_eq!(heads(&da), heads(&db));
    // Concurrent edits on both, then both sync twice.
    edit(&mut da, 1, "from_a", 1);
    edit(&mut db, 1, "from_b", 2);
    for _ in 0..2 {
        sync_until_quiet(12, &mut a, &mut da, &mut server).unwrap();
        sync_until_quiet(12, &mut b, &mut db, &mut server).unwrap();
    }
    assert_eq!(heads(&da), heads(&db));
    assert_eq!(get(&db[&id(1)], "from_a"), Some(1));
    assert_eq!(get(&da[&id(1)], "from_b"), Some(2));
    assert_eq!(heads(&server.export_docs().unwrap()), heads(&da));
}

#[test]
fn reconnect_with_nothing_new_is_one_small_round_trip() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    for n in 0..50 {
        edit(&mut docs, n, "k", i64::from(n));
    }
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let again = sync_until_quiet(2, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(again.round_trips, 1, "{again:?}");
    assert!(again.bytes_up + again.bytes_down < 200, "{again:?}");
    // A device resuming from its saved state is just as cheap.
    let mut resumed = SyncClient::from_state(peer("a"), a.state().clone());
    let r = sync_until_quiet(3, &mut resumed, &mut docs, &mut server).unwrap();
    assert_eq!(r.round_trips, 1);
    // One change: only that document is synced.
    edit(&mut docs, 7, "k", 700);
    let one = sync_until_quiet(4, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(one.round_trips, 1, "{one:?}");
    assert_eq!(one.messages_up, 2, "the change and the manifest question");
    assert_eq!(get(&server.export_docs().unwrap()[&id(7)], "k"), Some(700));
    // The manifest answered after the push: the next reconnect is empty.
    let after = sync_until_quiet(5, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(after.round_trips, 1);
    assert!(after.bytes_up + after.bytes_down < 200, "{after:?}");
}

#[test]
fn restart_reloads_from_sqlite_and_changes_since_lists_only_changed() {
    let dir = std::env::temp_dir().join(format!("mfp-store-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    edit(&mut docs, 2, "x", 2);
    let seq = {
        let mut server = Engine::open(Sqlite::open(&dir).unwrap(), 1).unwrap();
        sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
        server.seq()
    };
    let mut server = Engine::open(Sqlite::open(&dir).unwrap(), 2).unwrap();
    assert_eq!(server.seq(), seq);
    assert_eq!(heads(&server.export_docs().unwrap()), heads(&docs));
    edit(&mut docs, 2, "x", 20);
    sync_until_quiet(3, &mut a, &mut docs, &mut server).unwrap();
    let m = server.changes_since(seq).unwrap();
    assert_eq!(m.documents.len(), 1);
    assert_eq!(m.documents[0].document_id, id(2));
    assert_eq!(m.documents[0].heads, docs[&id(2)].get_heads());
    assert!(m.seq > seq);
    let _ = std::fs::remove_file(&dir);
}

/// The sequence is the highest `seq` of a document row (a change writes
/// no `meta` row); a store that kept it in `meta` (written before) keeps
/// counting from there.
#[test]
fn the_sequence_comes_from_the_document_rows_or_an_older_meta_row() {
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    edit(&mut docs, 2, "x", 2);
    let mut server = Engine::open(Sqlite::in_memory().unwrap(), 1).unwrap();
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let seq = server.seq();
    assert!(seq >= 2, "{seq}");
    let sql = server.into_sql();
    let meta = sql.query("SELECT COUNT(*) FROM meta", &[]).unwrap()[0][0].as_i64();
    assert_eq!(meta, Some(0), "a change writes no meta row");
    let server = Engine::open(sql, 2).unwrap();
    assert_eq!(server.seq(), seq);
    let sql = server.into_sql();
    sql.exec(
        "INSERT INTO meta (key, value) VALUES ('seq', ?)",
        &[i64::try_from(seq + 5).unwrap().into()],
    )
    .unwrap();
    let mut server = Engine::open(sql, 3).unwrap();
    assert_eq!(server.seq(), seq + 5);
    edit(&mut docs, 2, "x", 20);
    sync_until_quiet(4, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(server.seq(), seq + 6);
    assert_eq!(server.changes_since(seq + 5).unwrap().documents.len(), 1);
}

/// (number of chunk rows, total chunk bytes).
fn chunk_stats_of(sql: &Sqlite) -> (i64, i64) {
    let r = sql
        .query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) FROM chunks",
            &[],
        )
        .unwrap();
    (r[0][0].as_i64().unwrap(), r[0][1].as_i64().unwrap())
}

#[test]
fn deltas_are_small_and_compaction_bounds_chunks() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    // A document of some size first.
    let mut d = AutoCommit::new();
    for i in 0..2000 {
        d.put(ROOT, format!("card{i}"), i).unwrap();
    }
    d.commit();
    docs.insert(id(1), d.document().clone());
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let sql = server.into_sql();
    let (_, snapshot_size) = chunk_stats_of(&sql);
    let mut server = Engine::open(sql, 2).unwrap();
    // One small change on a freshly loaded document: a small delta, not
    // the whole history (save_after, never save_incremental).
    edit(&mut docs, 1, "one", 1);
    sync_until_quiet(3, &mut a, &mut docs, &mut server).unwrap();
    let sql = server.into_sql();
    let (count, total) = chunk_stats_of(&sql);
    assert_eq!(count, 2);
    assert!(
        total - snapshot_size < 500,
        "delta of {} bytes",
        total - snapshot_size
    );
    let mut server = Engine::open(sql, 4).unwrap();
    for i in 0..150 {
        edit(&mut docs, 1, "n", i);
        sync_until_quiet(5, &mut a, &mut docs, &mut server).unwrap();
    }
    let sql = server.into_sql();
    let (count, _) = chunk_stats_of(&sql);
    assert!(count < 64, "{count} chunks");
    let mut server = Engine::open(sql, 6).unwrap();
    server.force_compact(7).unwrap();
    let sql = server.into_sql();
    assert_eq!(chunk_stats_of(&sql).0, 1);
    let mut server = Engine::open(sql, 8).unwrap();
    assert_eq!(heads(&server.export_docs().unwrap()), heads(&docs));
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "n"), Some(149));
}

fn sync_msg(data: Vec<u8>, doc: DocumentId) -> RepoMessage {
    RepoMessage::Sync(DocMessage {
        sender_id: peer("a"),
        target_id: peer("myflashplay-server"),
        document_id: doc,
        data,
    })
}

#[test]
fn hostile_messages_are_refused_and_the_store_keeps_working() {
    let mut server = store();
    // Bloom filter with bits_per_entry = 0: Automerge would divide by zero.
    let bloom_zero = vec![0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0];
    let err = server
        .handle_message(1, &peer("a"), sync_msg(bloom_zero, id(1)))
        .unwrap_err();
    assert!(matches!(err, StoreError::Check(..)), "{err}");
    assert!(err.is_rejection());
    // A compressed change chunk that inflates past the bound (5 MiB of one
    // letter: a deflate bomb in 5 KB).
    let mut d = AutoCommit::new();
    d.put(ROOT, "t", "z".repeat(5 << 20)).unwrap();
    d.commit();
    let mut change = d.get_changes(&[]).into_iter().next().unwrap().clone();
    let msg = Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: vec![change.bytes().to_vec()].into(),
        flags: None,
        version: MessageVersion::V1,
    };
    let err = server
        .handle_message(1, &peer("a"), sync_msg(msg.encode(), id(1)))
        .unwrap_err();
    assert!(matches!(err, StoreError::Check(..)), "{err}");
    // Another peer's id in senderId.
    let mut forged = sync_msg(vec![0x42, 0, 0, 0, 0], id(1));
    if let RepoMessage::Sync(m) = &mut forged {
        m.sender_id = peer("someone-else");
    }
    assert!(matches!(
        server.handle_message(1, &peer("a"), forged),
        Err(StoreError::SenderMismatch)
    ));
    // Then an honest device still syncs.
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "ok", 1);
    sync_until_quiet(2, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "ok"), Some(1));
}

/// A message carrying one change to document 1.
fn one_change_message(key: &str, value: i64) -> Vec<u8> {
    let mut docs = Docs::new();
    edit(&mut docs, 1, key, value);
    let change = docs[&id(1)].get_changes(&[])[0].raw_bytes().to_vec();
    Message {
        heads: docs[&id(1)].get_heads(),
        need: vec![],
        have: vec![],
        changes: vec![change].into(),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}

fn rows(sql: &Sqlite, table: &str) -> i64 {
    sql.query(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()[0][0]
        .as_i64()
        .unwrap()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// A store on a SQLite file, so that a second connection can look at it
/// and a "restart" can reopen it.
struct OnFile {
    path: std::path::PathBuf,
}

impl OnFile {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mfp-crash-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        Self { path }
    }

    fn open(&self, now: u64) -> Engine<Sqlite> {
        Engine::open(Sqlite::open(&self.path).unwrap(), now).unwrap()
    }

    fn look(&self) -> Sqlite {
        Sqlite::open(&self.path).unwrap()
    }

    /// The hash the crash marker names now, if any.
    fn marked(&self) -> Option<Vec<u8>> {
        self.look()
            .query("SELECT hash FROM in_flight", &[])
            .unwrap()
            .first()
            .map(|r| r[0].as_bytes().unwrap().to_vec())
    }

    /// Drives one message from `a` as a Durable Object does: at each marker
    /// (durable: SQLite already is) `crash` tells whether the instance dies
    /// applying what it names; then the store is dropped unfinished and
    /// `Ok(None)` returned (the caller reopens it, as a restart would).
    fn drive(
        &self,
        server: &mut Engine<Sqlite>,
        now: u64,
        msg: RepoMessage,
        crash: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<Vec<RepoMessage>>, StoreError> {
        let mut step = server.admit(now, &peer("a"), msg)?;
        loop {
            match step {
                Step::Done(out) => return Ok(Some(out)),
                Step::MakeDurable(pending) => {
                    let hash = self.marked().expect("a durable marker before applying");
                    if crash(&hash) {
                        return Ok(None);
                    }
                    let mut pushes = Vec::new();
                    step = server
                        .resume(now, *pending, &mut |m| pushes.extend(m))?
                        .followed_by(pushes);
                }
            }
        }
    }
}

impl Drop for OnFile {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path.display()));
        }
    }
}

#[test]
fn a_message_interrupted_once_is_accepted_on_resend() {
    let db = OnFile::new();
    let data = one_change_message("x", 1);
    // The instance dies applying it (a deploy, a kill, an eviction).
    let mut server = db.open(1);
    let out = db.drive(&mut server, 1, sync_msg(data.clone(), id(1)), &mut |_| true);
    assert!(out.unwrap().is_none());
    drop(server);
    // The resend applies: the device's change is not stranded.
    let mut server = db.open(2);
    let out = db.drive(&mut server, 2, sync_msg(data, id(1)), &mut |_| false);
    assert!(out.unwrap().is_some());
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "x"), Some(1));
    // No marker left, and the crash was forgiven when it went through.
    let sql = db.look();
    assert_eq!((rows(&sql, "in_flight"), rows(&sql, "poisoned")), (0, 0));
}

/// Two good changes of one actor and, concurrent with them, one change of
/// another: the sync message carrying all three for document 1, and the
/// hash of that last change.
fn three_changes() -> (RepoMessage, Vec<u8>) {
    let mut good = AutoCommit::new().with_actor(automerge::ActorId::from(vec![1u8; 16]));
    good.put(ROOT, "x", 1).unwrap();
    good.commit();
    good.put(ROOT, "y", 2).unwrap();
    good.commit();
    let mut other = AutoCommit::new().with_actor(automerge::ActorId::from(vec![2u8; 16]));
    other.put(ROOT, "bad", 1).unwrap();
    other.commit();
    let bad = other.get_changes(&[])[0].raw_bytes().to_vec();
    good.merge(&mut other).unwrap();
    let doc = good.document();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let data = Message {
        heads: doc.get_heads(),
        need: vec![],
        have: vec![],
        changes: changes.into(),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode();
    (sync_msg(data, id(1)), sha256(&bad))
}

#[test]
fn a_change_that_crashes_the_store_twice_is_refused_and_the_others_arrive() {
    let db = OnFile::new();
    let (msg, bad) = three_changes();
    let RepoMessage::Sync(m) = &msg else {
        unreachable!()
    };
    let whole = sha256(&m.data);
    let mut crashes = 0;
    let mut now = 1;
    let out = loop {
        now += 1;
        assert!(now <= 5, "not settled after {now} attempts");
        // Applying the bad change kills the instance (as an Automerge panic
        // does), so does applying the whole message that holds it.
        let mut server = db.open(now);
        let out = db
            .drive(&mut server, now, msg.clone(), &mut |hash| {
                let dies = hash == bad.as_slice() || hash == whole.as_slice();
                crashes += u32::from(dies);
                dies
            })
            .unwrap();
        if let Some(out) = out {
            // The good changes are stored.
            let doc = &server.export_docs().unwrap()[&id(1)];
            assert_eq!(
                (get(doc, "x"), get(doc, "y"), get(doc, "bad")),
                (Some(1), Some(2), None)
            );
            break out;
        }
    };
    // One crash of the whole message, then two of the bad change alone.
    assert_eq!(crashes, 3);
    let refusal = out.iter().find_map(|m| match m {
        RepoMessage::Error {
            document_id,
            reason,
            ..
        } => Some((*document_id, reason.clone())),
        _ => None,
    });
    assert_eq!(
        refusal,
        Some((Some(id(1)), Some(CHANGE_REFUSED.to_owned())))
    );
    // Nothing outlives the message; only the bad change stays counted.
    let sql = db.look();
    assert_eq!((rows(&sql, "in_flight"), rows(&sql, "poisoned")), (0, 1));
    // Sent again (a stock client resends), it is refused without a crash.
    let mut server = db.open(9);
    let out = db
        .drive(&mut server, 9, msg, &mut |hash| {
            assert_ne!(
                hash,
                bad.as_slice(),
                "the refused change is not applied again"
            );
            false
        })
        .unwrap();
    assert!(out
        .unwrap()
        .iter()
        .any(|m| matches!(m, RepoMessage::Error { .. })));
    assert_eq!(rows(&db.look(), "in_flight"), 0);
    // The device's other changes arrived; a fresh device reads them.
    let mut fresh = SyncClient::new(peer("c"));
    let mut docs = Docs::new();
    sync_until_quiet(10, &mut fresh, &mut docs, &mut server).unwrap();
    assert_eq!(get(&docs[&id(1)], "y"), Some(2));
}

#[test]
fn no_marker_outlives_a_refused_message() {
    let (mut server, _, _, forged) = store_with_forged_message();
    // A batch as `POST /sync` handles it, message by message: refused at
    // admission between messages that apply.
    let good = one_change_message("z", 3);
    server
        .handle_message(2, &peer("a"), sync_msg(good, id(1)))
        .unwrap();
    let err = server
        .handle_message(2, &peer("a"), sync_msg(forged, id(1)))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownActor(_)), "{err}");
    // The rest of the batch goes on.
    let after = one_change_message("w", 4);
    server
        .handle_message(2, &peer("a"), sync_msg(after, id(1)))
        .unwrap();
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "w"), Some(4));
    let sql = server.into_sql();
    assert_eq!(rows(&sql, "in_flight"), 0);
    // Reopening counts no crash: the refusal stays the checks' doing.
    let sql = Engine::open(sql, 3).unwrap().into_sql();
    assert_eq!(rows(&sql, "poisoned"), 0);
}

#[test]
fn request_for_unknown_document_is_unavailable_and_changes_are_pushed_to_live_peers() {
    let mut server = store();
    let empty = Automerge::new();
    let mut st = automerge::sync::State::new();
    use automerge::sync::SyncDoc;
    let data = empty.generate_sync_message(&mut st).unwrap().encode();
    let req = RepoMessage::Request(DocMessage {
        sender_id: peer("a"),
        target_id: peer("myflashplay-server"),
        document_id: id(9),
        data,
    });
    let out = server.handle_message(1, &peer("a"), req).unwrap();
    assert!(matches!(
        out.as_slice(),
        [RepoMessage::DocUnavailable { .. }]
    ));
    assert!(server.changes_since(0).unwrap().documents.is_empty());

    // Two live peers: a change from a reaches b in the same turn.
    let (mut a, mut b) = (SyncClient::new(peer("a")), SyncClient::new(peer("b")));
    for c in [&a, &b] {
        let out = server.handle_message(1, c.peer_id(), c.join()).unwrap();
        assert!(matches!(out.as_slice(), [RepoMessage::Peer { .. }]));
    }
    let (mut da, mut db) = (Docs::new(), Docs::new());
    edit(&mut da, 1, "x", 1);
    sync_until_quiet(2, &mut a, &mut da, &mut server).unwrap();
    sync_until_quiet(2, &mut b, &mut db, &mut server).unwrap();
    edit(&mut da, 1, "x", 2);
    let msgs = a.poll_messages(&da);
    let mut to_b = Vec::new();
    for m in msgs {
        for r in server.handle_message(3, &peer("a"), m).unwrap() {
            if r.target_id() == Some(&peer("b")) {
                to_b.push(r);
            }
        }
    }
    assert!(!to_b.is_empty(), "the change is pushed to b");
    for m in to_b {
        b.handle_message(&mut db, m).unwrap();
    }
    assert_eq!(get(&db[&id(1)], "x"), Some(2));
}

#[test]
fn device_refuses_hostile_server_bytes_and_recovers() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let before = docs[&id(1)].get_heads();
    // A Bloom filter with bits_per_entry = 0 from a "server".
    let bad = RepoMessage::Sync(DocMessage {
        sender_id: peer("myflashplay-server"),
        target_id: peer("a"),
        document_id: id(1),
        data: vec![0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0],
    });
    let err = a.handle_message(&mut docs, bad).unwrap_err();
    assert!(
        matches!(err, myflashplay_client::sync::ClientError::Check(..)),
        "{err}"
    );
    assert_eq!(docs[&id(1)].get_heads(), before);
    // The document's state was reset: the next round syncs it afresh and
    // still converges.
    edit(&mut docs, 1, "y", 2);
    sync_until_quiet(2, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "y"), Some(2));
}

/// A well-formed change (valid checksum, decodable ops) that claims
/// A store that holds document 1 from peer `a`, and a sync message whose
/// one change names an actor the document has never seen.
fn store_with_forged_message() -> (Engine<Sqlite>, SyncClient, Docs, Vec<u8>) {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let forged = forged_change();
    let data = Message {
        heads: vec![forged.hash()],
        need: vec![],
        have: vec![],
        changes: vec![forged.raw_bytes().to_vec()].into(),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode();
    (server, a, docs, data)
}

/// `seq = 2` for an actor the document has never seen.
fn forged_change() -> automerge::Change {
    let mut d = AutoCommit::new().with_actor(automerge::ActorId::from(vec![7u8; 16]));
    d.put(ROOT, "forged", 1).unwrap();
    d.commit();
    let mut expanded = d.get_changes(&[])[0].decode();
    expanded.seq = 2;
    automerge::Change::from(expanded)
}

#[test]
fn changes_naming_unknown_actors_are_refused_before_automerge() {
    let (mut server, mut a, mut docs, data) = store_with_forged_message();
    // It passes the stateless check...
    myflashplay_client::sync::check_sync_message(
        &data,
        &myflashplay_client::sync::Limits::FROM_DEVICE,
    )
    .unwrap();
    // ...and Automerge itself does not survive it.
    let doc = docs[&id(1)].clone();
    let raw = Message::decode(&data).unwrap();
    let crashed = std::panic::catch_unwind(move || {
        use automerge::sync::SyncDoc;
        let mut doc = doc;
        let _ = doc.receive_sync_message(&mut automerge::sync::State::new(), raw);
    });
    assert!(crashed.is_err(), "Automerge 0.12 panics on this change");
    // The store refuses it and keeps working.
    let err = server
        .handle_message(2, &peer("a"), sync_msg(data, id(1)))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownActor(_)), "{err}");
    edit(&mut docs, 1, "y", 2);
    sync_until_quiet(3, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "y"), Some(2));
}

#[test]
fn changes_waiting_for_a_missing_dependency_are_not_refused() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    // A new actor's first three changes; the first is withheld (as after a
    // Bloom filter false positive), so the others only queue.
    let mut d = AutoCommit::load(&docs[&id(1)].save())
        .unwrap()
        .with_actor(automerge::ActorId::from(vec![9u8; 16]));
    let base = d.get_heads();
    for i in 0..3 {
        d.put(ROOT, "n", i).unwrap();
        d.commit();
    }
    let new: Vec<Vec<u8>> = d
        .get_changes(&base)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let msg = |changes: Vec<Vec<u8>>| {
        Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: changes.into(),
            flags: None,
            version: MessageVersion::V1,
        }
        .encode()
    };
    server
        .handle_message(2, &peer("a"), sync_msg(msg(new[1..].to_vec()), id(1)))
        .unwrap();
    server
        .handle_message(3, &peer("a"), sync_msg(msg(new[..1].to_vec()), id(1)))
        .unwrap();
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "n"), Some(2));
}

#[test]
fn documents_over_one_mib_are_split_into_parts_and_reload() {
    let dir = std::env::temp_dir().join(format!("mfp-parts-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let mut server = Engine::open(Sqlite::open(&dir).unwrap(), 1).unwrap();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    let mut d = AutoCommit::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..4 {
        // 700 KB of incompressible bytes per change, each synced alone so
        // that every message stays under the 1 MiB limit.
        let blob: Vec<u8> = (0..700_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        d.put(
            ROOT,
            format!("blob{i}"),
            automerge::ScalarValue::Bytes(blob),
        )
        .unwrap();
        d.commit();
        docs.insert(id(1), d.document().clone());
        sync_until_quiet(2, &mut a, &mut docs, &mut server).unwrap();
    }
    server.force_compact(3).unwrap();
    let sql = server.into_sql();
    let parts = sql
        .query(
            "SELECT part, LENGTH(bytes) FROM chunks WHERE kind = 'snapshot' ORDER BY part",
            &[],
        )
        .unwrap();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert!(parts
        .iter()
        .all(|r| r[1].as_i64().unwrap() <= myflashplay_sync::store::PART_BYTES as i64));
    drop(sql);
    let mut server = Engine::open(Sqlite::open(&dir).unwrap(), 4).unwrap();
    assert_eq!(heads(&server.export_docs().unwrap()), heads(&docs));
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn ephemeral_messages_are_relayed_to_other_live_peers_and_not_stored() {
    let mut server = store();
    for p in ["a", "b", "c"] {
        let c = SyncClient::new(peer(p));
        server.handle_message(1, &peer(p), c.join()).unwrap();
    }
    server
        .handle_message(
            1,
            &peer("c"),
            RepoMessage::Leave {
                sender_id: peer("c"),
            },
        )
        .unwrap();
    let out = server
        .handle_message(
            2,
            &peer("a"),
            RepoMessage::Ephemeral {
                sender_id: peer("a"),
                target_id: peer("myflashplay-server"),
                document_id: id(1),
                session_id: "s".into(),
                count: 1,
                data: vec![1, 2, 3],
            },
        )
        .unwrap();
    let targets: Vec<_> = out.iter().filter_map(|m| m.target_id().cloned()).collect();
    assert_eq!(targets, vec![peer("b")]);
    assert!(server.changes_since(0).unwrap().documents.is_empty());
}

/// A device back from weeks offline with more changes in one document than
/// one message may carry (2,000, 1 MiB): its messages are split, every
/// change arrives, and the other device receives all of them in the
/// server's (larger) answer.
#[test]
fn a_backlog_larger_than_one_message_syncs_both_ways() {
    let mut server = store();
    let (mut a, mut b) = (SyncClient::new(peer("a")), SyncClient::new(peer("b")));
    let (mut da, mut db) = (Docs::new(), Docs::new());
    edit(&mut da, 1, "start", 0);
    sync_until_quiet(1, &mut a, &mut da, &mut server).unwrap();
    sync_until_quiet(2, &mut b, &mut db, &mut server).unwrap();

    let mut doc = AutoCommit::load(&da[&id(1)].save()).unwrap();
    // Values that do not compress: as a whole document the backlog would
    // still be over a frame, so it goes as changes, in several messages.
    let mut x: u64 = 7;
    let mut noise = || {
        (0..400)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'0' + (x >> 58) as u8)
            })
            .collect::<String>()
    };
    for i in 0..2_600 {
        doc.put(ROOT, format!("k{i}"), noise()).unwrap();
        doc.commit();
    }
    da.insert(id(1), doc.document().clone());
    let report = sync_until_quiet(3, &mut a, &mut da, &mut server).unwrap();
    assert!(
        report.bytes_up > 1 << 20,
        "the backlog is over 1 MiB: {report:?}"
    );
    assert_eq!(heads(&server.export_docs().unwrap()), heads(&da));

    sync_until_quiet(4, &mut b, &mut db, &mut server).unwrap();
    assert_eq!(heads(&db), heads(&da));
    assert_eq!(db[&id(1)].keys(ROOT).count(), 2_601);
}

// ---------------------------------------------------------- maintenance
// What the Durable Object's alarm asks of the engine: sync states of
// devices unseen for the retention are dropped, idle documents are folded
// into one snapshot, and nothing a device needs is lost.

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

fn count(server: Engine<Sqlite>, table: &str) -> (Engine<Sqlite>, i64) {
    let sql = server.into_sql();
    let n = sql
        .query(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()[0][0]
        .as_i64()
        .unwrap();
    (Engine::open(sql, 0).unwrap(), n)
}

#[test]
fn stale_peers_lose_their_sync_states_and_idle_documents_are_compacted() {
    let mut server = store();
    let (mut a, mut b) = (
        SyncClient::new(PeerId::new("a").unwrap()),
        SyncClient::new(PeerId::new("b").unwrap()),
    );
    let (mut da, mut db) = (Docs::new(), Docs::new());
    for i in 0..6 {
        edit(&mut da, 1, "x", i);
        edit(&mut da, 2, "y", i);
        sync_until_quiet(HOUR + i as u64, &mut a, &mut da, &mut server).unwrap();
    }
    // b is seen on day 80, a only on day 0.
    sync_until_quiet(80 * DAY, &mut b, &mut db, &mut server).unwrap();
    // (Hints wait in memory until something writes them.)
    server.flush_hints(None).unwrap();
    let (server, chunks_before) = count(server, "chunks");
    let (server, states_before) = count(server, "sync_states");
    assert!(chunks_before > 2, "{chunks_before}");
    assert!(states_before >= 4, "{states_before}");

    // Day 91: a is past 90 days, b is not; both documents are idle.
    let mut server = server;
    let done = server.maintain(91 * DAY, 90 * DAY, HOUR, 1).unwrap();
    assert_eq!(done.stale_peers, 1);
    assert!(done.sync_states_deleted >= 2, "{done:?}");
    let deleted = done.sync_states_deleted as i64;
    assert_eq!(done.documents_compacted, 1);
    assert!(done.more_to_compact);
    let done = server.maintain(91 * DAY, 90 * DAY, HOUR, 8).unwrap();
    assert_eq!((done.stale_peers, done.documents_compacted), (0, 1));
    assert!(!done.more_to_compact);

    let (server, chunks_after) = count(server, "chunks");
    let (server, states_after) = count(server, "sync_states");
    assert_eq!(chunks_after, 2, "one snapshot per document");
    assert_eq!(states_after, states_before - deleted);
    assert!(states_after > 0, "b keeps its states");
    let (mut server, peers) = count(server, "peers");
    assert_eq!(peers, 1, "only b is still known");

    // Nothing is lost: a resumes (its server-side state is gone) and both
    // devices converge on everything, old edits included.
    edit(&mut da, 1, "after", 1);
    sync_until_quiet(92 * DAY, &mut a, &mut da, &mut server).unwrap();
    sync_until_quiet(92 * DAY, &mut b, &mut db, &mut server).unwrap();
    for n in [1, 2] {
        assert_eq!(da[&id(n)].get_heads(), db[&id(n)].get_heads());
    }
    let x = db[&id(1)]
        .get(ROOT, "x")
        .unwrap()
        .and_then(|(v, _)| v.as_i64());
    assert_eq!(x, Some(5));
    let exported = server.export_docs().unwrap();
    assert_eq!(exported[&id(1)].get_heads(), da[&id(1)].get_heads());
}

#[test]
fn a_busy_document_is_left_alone() {
    let mut server = store();
    let mut a = SyncClient::new(PeerId::new("a").unwrap());
    let mut docs = Docs::new();
    for i in 0..4 {
        edit(&mut docs, 1, "x", i);
        sync_until_quiet(10 * HOUR, &mut a, &mut docs, &mut server).unwrap();
    }
    let done = server.maintain(10 * HOUR + 1, 90 * DAY, HOUR, 8).unwrap();
    assert_eq!(done.documents_compacted, 0);
    assert_eq!(done.stale_peers, 0);
}

#[test]
fn a_frame_lost_in_either_direction_still_settles() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    // Up: the message carrying the change never reaches the server. The
    // next round (a stall or a reconnect asks again) sends it again.
    edit(&mut docs, 1, "y", 2);
    assert!(!a.poll_messages(&docs).is_empty());
    assert!(!a.is_quiet());
    sync_until_quiet(2, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "y"), Some(2));
    // Down: the server applies the change but its answer is lost. Asked
    // again, the manifest shows the same heads: the document settles.
    edit(&mut docs, 1, "z", 3);
    for m in a.poll_messages(&docs) {
        server.handle_message(3, &peer("a"), m).unwrap();
    }
    assert!(!a.is_quiet());
    for m in server.handle_message(4, &peer("a"), a.start()).unwrap() {
        a.handle_message(&mut docs, m).unwrap();
    }
    assert!(a.poll_messages(&docs).is_empty());
    assert!(a.is_quiet(), "settled without another exchange");
    assert_eq!(
        a.state().synced_heads.get(&id(1)),
        Some(&docs[&id(1)].get_heads())
    );
}

#[test]
fn a_refusal_naming_a_document_resets_it_and_does_not_loop() {
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    assert_eq!(a.poll_messages(&docs).len(), 1);
    let refusal = RepoMessage::Error {
        sender_id: Some(peer("myflashplay-server")),
        target_id: Some(peer("a")),
        message: "refused".into(),
        document_id: Some(id(1)),
        reason: Some(CHANGE_REFUSED.into()),
    };
    let err = a.handle_message(&mut docs, refusal).unwrap_err();
    assert!(
        matches!(err, myflashplay_client::sync::ClientError::Refused(d, _) if d == id(1)),
        "{err}"
    );
    // Not offered again as it is (the server would refuse it again)...
    assert!(a.poll_messages(&docs).is_empty());
    // ...but after a local edit, from a fresh sync state.
    edit(&mut docs, 1, "y", 2);
    assert_eq!(a.poll_messages(&docs).len(), 1);
}

#[test]
fn a_push_lost_on_the_way_is_sent_again_once_the_device_restarts_its_state() {
    let mut server = store();
    let (mut a, mut b) = (SyncClient::new(peer("a")), SyncClient::new(peer("b")));
    let (mut da, mut db) = (Docs::new(), Docs::new());
    for c in [&a, &b] {
        server.handle_message(1, c.peer_id(), c.join()).unwrap();
    }
    edit(&mut da, 1, "x", 1);
    sync_until_quiet(1, &mut a, &mut da, &mut server).unwrap();
    sync_until_quiet(1, &mut b, &mut db, &mut server).unwrap();
    // b's change is pushed to a; the push never arrives.
    edit(&mut db, 1, "y", 2);
    let mut lost = 0;
    for m in b.poll_messages(&db) {
        for r in server.handle_message(2, &peer("b"), m).unwrap() {
            if r.target_id() == Some(&peer("a")) {
                lost += 1;
            } else {
                b.handle_message(&mut db, r).unwrap();
            }
        }
    }
    assert!(lost > 0, "the change was pushed to a");
    // a starts its next round on the same connection from a fresh state
    // (the manifest shows the document moved): the server, which believes
    // it sent the change, starts afresh too and sends it again.
    sync_until_quiet(3, &mut a, &mut da, &mut server).unwrap();
    assert_eq!(get(&da[&id(1)], "y"), Some(2));
}

/// `n` documents of `changes` one-entry changes each, as a device that
/// created them offline holds them.
fn offline_docs(n: u8, changes: usize) -> Docs {
    let mut docs = Docs::new();
    for d in 1..=n {
        let mut doc = AutoCommit::new();
        for c in 0..changes {
            doc.put(ROOT, format!("card-{c}"), c as i64).unwrap();
            doc.commit();
        }
        docs.insert(id(d), doc.document().clone());
    }
    docs
}

#[test]
fn a_first_upload_sends_whole_compressed_documents() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = offline_docs(5, 100);
    let changes_bytes: usize = docs
        .values()
        .flat_map(|d| d.get_changes(&[]))
        .map(|c| c.raw_bytes().len())
        .sum();
    let up = sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let stored = server.export_docs().unwrap();
    assert_eq!(heads(&stored), heads(&docs), "every document arrived whole");
    assert!(
        up.bytes_up * 2 < changes_bytes,
        "{} bytes up for {changes_bytes} bytes of changes",
        up.bytes_up
    );
    // Then it goes on change by change.
    edit(&mut docs, 1, "after", 1);
    sync_until_quiet(2, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(
        get(&server.export_docs().unwrap()[&id(1)], "after"),
        Some(1)
    );
}

#[test]
fn an_honest_compressed_change_is_applied_and_a_deflate_bomb_refused() {
    let mut server = store();
    let big = |len: usize| {
        let mut d = AutoCommit::new();
        d.put(ROOT, "t", "z".repeat(len)).unwrap();
        d.commit();
        let mut change = d.get_changes(&[]).into_iter().next().unwrap().clone();
        let bytes = change.bytes().to_vec();
        assert_eq!(bytes[8], 2, "automerge compressed it");
        Message {
            heads: vec![change.hash()],
            need: vec![],
            have: vec![],
            changes: vec![bytes].into(),
            flags: None,
            version: MessageVersion::V1,
        }
        .encode()
    };
    server
        .handle_message(1, &peer("a"), sync_msg(big(5000), id(1)))
        .unwrap();
    let stored = server.export_docs().unwrap();
    assert_eq!(stored[&id(1)].get_changes(&[]).len(), 1);
    // 5 MiB of one letter: 5 KB compressed, over the 4 MiB inflate budget.
    let err = server
        .handle_message(1, &peer("a"), sync_msg(big(5 << 20), id(2)))
        .unwrap_err();
    assert!(matches!(err, StoreError::Check(..)), "{err}");
    assert!(err.is_rejection());
    assert!(!server.export_docs().unwrap().contains_key(&id(2)));
}

#[test]
fn a_full_pass_over_hundreds_of_documents_loads_each_once() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = offline_docs(200, 3);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    server.unload_all();
    // A fresh device reads every document: all of them stay in memory
    // (a cache of 128 by count reloaded each one on the next pass).
    let mut b = SyncClient::new(peer("b"));
    let mut fresh = Docs::new();
    for d in docs.keys() {
        fresh.insert(*d, Automerge::new());
    }
    sync_until_quiet(2, &mut b, &mut fresh, &mut server).unwrap();
    assert_eq!(heads(&fresh), heads(&docs));
    // The stored chunks answered it: nothing was loaded.
    assert_eq!(server.loaded_count(), 0);
    // It changes every document: each is loaded once and stays.
    for n in 1..=200 {
        edit(&mut fresh, n, "seen", 1);
    }
    sync_until_quiet(3, &mut b, &mut fresh, &mut server).unwrap();
    assert_eq!(server.loaded_count(), 200);
    assert!(cache::isolate_loaded_bytes() <= cache::ISOLATE_BUDGET_BYTES);
    sync_until_quiet(4, &mut a, &mut docs, &mut server).unwrap();
    assert_eq!(heads(&fresh), heads(&docs));
}

#[test]
fn the_cache_stays_within_the_isolate_budget() {
    // This test's thread is its own isolate: a small budget.
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = offline_docs(40, 20);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let per_doc = server.loaded_bytes() / server.loaded_count() as u64;
    cache::set_isolate_budget(per_doc * 10);
    server.unload_all();
    let mut b = SyncClient::new(peer("b"));
    let mut fresh: Docs = docs.keys().map(|d| (*d, Automerge::new())).collect();
    sync_until_quiet(2, &mut b, &mut fresh, &mut server).unwrap();
    assert_eq!(heads(&fresh), heads(&docs), "every document served");
    assert!(
        server.loaded_count() <= 10,
        "{} loaded",
        server.loaded_count()
    );
    assert!(cache::isolate_loaded_bytes() <= per_doc * 10 + per_doc);
    // A second store of the same isolate counts against the same budget.
    let mut other = store();
    let mut c = SyncClient::new(peer("c"));
    let mut more = offline_docs(5, 20);
    sync_until_quiet(3, &mut c, &mut more, &mut other).unwrap();
    assert!(cache::isolate_loaded_bytes() <= per_doc * 12);
    drop(server);
    drop(other);
    assert_eq!(
        cache::isolate_loaded_bytes(),
        0,
        "a dropped store gives its share back"
    );
    cache::set_isolate_budget(cache::ISOLATE_BUDGET_BYTES);
}

/// SQLite that counts the statements that write, but for a peer's
/// `last_seen_at` (written once per peer and hour, for maintenance).
/// SQLite that counts its writes (shared, so a test can read them while
/// the engine holds the database) and fails every transaction while
/// `failing` is set.
struct CountingSql {
    inner: Sqlite,
    writes: std::rc::Rc<std::cell::Cell<usize>>,
    failing: std::rc::Rc<std::cell::Cell<bool>>,
}

impl CountingSql {
    fn new() -> Self {
        Self {
            inner: Sqlite::in_memory().unwrap(),
            writes: Default::default(),
            failing: Default::default(),
        }
    }
}

impl Sql for CountingSql {
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<(), SqlError> {
        if !sql.contains("INTO peers") {
            self.writes.set(self.writes.get() + 1);
        }
        self.inner.exec(sql, params)
    }
    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, SqlError> {
        self.inner.query(sql, params)
    }
    fn transaction<T, E: From<SqlError>>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.failing.get() {
            return Err(SqlError("the disk is full".into()).into());
        }
        self.inner.transaction(|_| f(self))
    }
}

/// Two live devices that both hold document 1 (x = 1), and a's next
/// change (x = 2) as the messages it sends.
fn two_devices_and_a_change(
    server: &mut Engine<CountingSql>,
) -> (SyncClient, SyncClient, Docs, Docs, Vec<RepoMessage>) {
    let (mut a, mut b) = (SyncClient::new(peer("a")), SyncClient::new(peer("b")));
    for c in [&a, &b] {
        server.handle_message(1, c.peer_id(), c.join()).unwrap();
    }
    let (mut da, mut db) = (Docs::new(), Docs::new());
    edit(&mut da, 1, "x", 1);
    sync_until_quiet(2, &mut a, &mut da, server).unwrap();
    sync_until_quiet(2, &mut b, &mut db, server).unwrap();
    edit(&mut da, 1, "x", 2);
    let msgs = a.poll_messages(&da);
    (a, b, da, db, msgs)
}

/// One message from `a` as a Durable Object drives it: admitted, then
/// resumed with `push` for what goes out before the store's write.
fn admit_and_resume(
    server: &mut Engine<CountingSql>,
    m: RepoMessage,
    push: &mut dyn FnMut(Vec<RepoMessage>),
) -> Result<Vec<RepoMessage>, StoreError> {
    let mut step = server.admit(3, &peer("a"), m)?;
    loop {
        match step {
            Step::Done(out) => return Ok(out),
            Step::MakeDurable(pending) => step = server.resume(3, *pending, push)?,
        }
    }
}

/// The user's other devices get a change as soon as it is applied, before
/// the store writes it (they hold the sender's change, not the server's
/// word); the sender's acknowledgement comes only after the write.
#[test]
fn a_push_leaves_before_the_change_is_stored_and_the_reply_after_it() {
    let mut server = Engine::open(CountingSql::new(), 1).unwrap();
    let writes = server.sql().writes.clone();
    let (_a, mut b, _da, mut db, msgs) = two_devices_and_a_change(&mut server);
    let (mut pushed, mut replies) = (Vec::new(), Vec::new());
    for m in msgs {
        let mut at_push = None;
        let out = admit_and_resume(&mut server, m, &mut |p| {
            at_push = Some(writes.get());
            pushed.extend(p);
        })
        .unwrap();
        if let Some(n) = at_push {
            assert!(
                writes.get() - n >= 3,
                "the document's chunk, its row and the marker's delete come after the push"
            );
        }
        replies.extend(out);
    }
    assert!(pushed.iter().all(|m| m.target_id() == Some(&peer("b"))));
    assert!(!pushed.is_empty(), "b is pushed the change");
    assert!(
        replies.iter().any(|m| m.target_id() == Some(&peer("a"))),
        "a is answered"
    );
    for m in pushed {
        b.handle_message(&mut db, m).unwrap();
    }
    assert_eq!(get(&db[&id(1)], "x"), Some(2));
    assert_eq!(get(&server.export_docs().unwrap()[&id(1)], "x"), Some(2));
}

/// A write that fails after the push loses nothing: the sender was not
/// acknowledged and sends again; the server, b and a converge.
#[test]
fn a_write_that_fails_after_a_push_loses_nothing() {
    let mut server = Engine::open(CountingSql::new(), 1).unwrap();
    let failing = server.sql().failing.clone();
    let (_a, mut b, mut da, mut db, msgs) = two_devices_and_a_change(&mut server);
    failing.set(true);
    let mut pushed = Vec::new();
    let mut failed = false;
    for m in msgs {
        failed |= admit_and_resume(&mut server, m, &mut |p| pushed.extend(p)).is_err();
    }
    assert!(failed, "the store's write failed");
    assert!(!pushed.is_empty(), "b was pushed the change before it");
    for m in pushed {
        b.handle_message(&mut db, m).unwrap();
    }
    assert_eq!(get(&db[&id(1)], "x"), Some(2));
    assert_eq!(
        get(&server.export_docs().unwrap()[&id(1)], "x"),
        Some(1),
        "not stored"
    );
    // The disk recovers; a's socket was closed on the failure: it joins
    // again and syncs, so does b (which believes the server has it).
    failing.set(false);
    let mut a = SyncClient::new(peer("a"));
    server.handle_message(4, a.peer_id(), a.join()).unwrap();
    sync_until_quiet(4, &mut a, &mut da, &mut server).unwrap();
    sync_until_quiet(5, &mut b, &mut db, &mut server).unwrap();
    let stored = server.export_docs().unwrap();
    assert_eq!(get(&stored[&id(1)], "x"), Some(2));
    assert_eq!(stored[&id(1)].get_heads(), da[&id(1)].get_heads());
    assert_eq!(db[&id(1)].get_heads(), da[&id(1)].get_heads());
}

#[test]
fn messages_that_change_nothing_write_nothing() {
    let mut server = Engine::open(CountingSql::new(), 1).unwrap();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = offline_docs(20, 5);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    // A second device reads everything: it changes no document, so it
    // writes nothing (its sync hints wait in memory).
    let mut b = SyncClient::new(peer("b"));
    let mut fresh: Docs = docs.keys().map(|d| (*d, Automerge::new())).collect();
    let before = server.sql().writes.get();
    sync_until_quiet(2, &mut b, &mut fresh, &mut server).unwrap();
    assert_eq!(heads(&fresh), heads(&docs));
    assert_eq!(server.sql().writes.get() - before, 0, "writes for reads");
    // The hints are written together, in one transaction, when asked.
    server.flush_hints(None).unwrap();
    assert!(server.sql().writes.get() > before);
}

#[test]
fn a_device_naming_another_actors_device_is_refused() {
    let mut server = store();
    let mut a = SyncClient::new(peer("a"));
    let mut docs = Docs::new();
    edit(&mut docs, 1, "x", 1);
    sync_until_quiet(1, &mut a, &mut docs, &mut server).unwrap();
    let me = automerge::ActorId::from(vec![7u8; 16]);
    let other = automerge::ActorId::from(vec![8u8; 16]);
    let claim = |key: String| {
        let mut d = AutoCommit::load(&docs[&id(1)].save())
            .unwrap()
            .with_actor(me.clone());
        d.put(ROOT, key.as_str(), "phone").unwrap();
        d.commit();
        let c = d.get_last_local_change().unwrap().clone();
        Message {
            heads: vec![c.hash()],
            need: vec![],
            have: vec![],
            changes: vec![c.raw_bytes().to_vec()].into(),
            flags: None,
            version: MessageVersion::V1,
        }
        .encode()
    };
    let key = myflashplay_client::replica::device_key;
    let err = server
        .handle_message(
            2,
            &peer("a"),
            sync_msg(claim(key(&other.to_hex_string())), id(1)),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignDevice(_)), "{err}");
    // Its own name is fine.
    server
        .handle_message(
            3,
            &peer("a"),
            sync_msg(claim(key(&me.to_hex_string())), id(1)),
        )
        .unwrap();
    let stored = &server.export_docs().unwrap()[&id(1)];
    let own = key(&me.to_hex_string());
    assert!(stored.get(ROOT, own.as_str()).unwrap().is_some());
    assert!(stored
        .get(ROOT, key(&other.to_hex_string()).as_str())
        .unwrap()
        .is_none());
}
