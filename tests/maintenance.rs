//! The store's maintenance pass on real SQLite: sync states of devices
//! unseen for the retention are dropped, idle documents are folded into
//! one snapshot, and nothing a device needs is lost.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc, ROOT};
use myflashplay_client::sync::{PeerId, SyncClient};
use myflashplay_client::{Docs, DocumentId};
use myflashplay_sync::store::sqlite::Sqlite;
use myflashplay_sync::store::{sync_until_quiet, Sql, UserStore};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

fn id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

fn edit(docs: &mut Docs, n: u8, key: &str, value: i64) {
    let doc = docs.remove(&id(n)).unwrap_or_default();
    let mut d = AutoCommit::load(&doc.save()).unwrap();
    d.put(ROOT, key, value).unwrap();
    d.commit();
    docs.insert(id(n), d.document().clone());
}

fn count(server: UserStore<Sqlite>, table: &str) -> (UserStore<Sqlite>, i64) {
    let sql = server.into_sql();
    let n = sql
        .query(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()[0][0]
        .as_i64()
        .unwrap();
    (UserStore::open(sql, 0).unwrap(), n)
}

#[test]
fn stale_peers_lose_their_sync_states_and_idle_documents_are_compacted() {
    let mut server = UserStore::open(Sqlite::in_memory().unwrap(), 0).unwrap();
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
    let mut server = UserStore::open(Sqlite::in_memory().unwrap(), 0).unwrap();
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
