//! The size floor of the browser package: Automerge on its own, exporting
//! exactly the kinds of calls `myflashplay-client` makes in the browser
//! (load, save, fork, merge, one transaction with every edit kind, reads,
//! a sync round, change parsing), and nothing of ours. Built with the same
//! profile and passes as the package by `scripts/wasm-size.sh`, which prints
//! both sizes: what the package adds on top of Automerge is the difference.
//!
//! Empty on other targets (it is a workspace member only so that it shares
//! the workspace's Cargo.lock, and so the very same Automerge).
#![cfg(target_arch = "wasm32")]

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc, ScalarValue, ValueRef, ROOT};
use wasm_bindgen::prelude::*;

/// One document.
#[wasm_bindgen]
pub struct Doc(Automerge);

#[wasm_bindgen]
impl Doc {
    /// An empty document with the given actor.
    #[wasm_bindgen(constructor)]
    pub fn new(actor: &[u8]) -> Doc {
        Doc(Automerge::new().with_actor(ActorId::from(actor)))
    }

    /// A saved document (or concatenated changes).
    pub fn load(bytes: &[u8]) -> Option<Doc> {
        Automerge::load(bytes).ok().map(Doc)
    }

    /// The saved form.
    pub fn save(&self) -> Vec<u8> {
        self.0.save()
    }

    /// A fork merged with `other`: the number of changes taken.
    pub fn fork_merge(&self, other: &mut Doc) -> usize {
        let mut fork = self.0.fork();
        fork.merge(&mut other.0).map(|h| h.len()).unwrap_or(0)
    }

    /// One commit with every kind of edit the client makes.
    pub fn edit(&mut self, key: &str, time: f64) -> bool {
        let mut tx = self.0.transaction();
        let ok = (|| {
            let map = tx.put_object(ROOT, key, ObjType::Map)?;
            tx.put(&map, "n", ScalarValue::F64(time))?;
            tx.put(&map, "s", key)?;
            tx.put(&map, "c", ScalarValue::counter(1))?;
            tx.increment(&map, "c", 2)?;
            let list = tx.put_object(&map, "l", ObjType::List)?;
            tx.insert(&list, 0, key)?;
            tx.insert_object(&list, 1, ObjType::Map)?;
            tx.delete(&list, 0)?;
            let text = tx.put_object(&map, "t", ObjType::Text)?;
            tx.splice_text(&text, 0, 0, key)?;
            tx.delete(&map, "s")
        })()
        .is_ok();
        tx.commit_with(CommitOptions::default().with_time(time as i64));
        ok
    }

    /// Reads every way the client reads: a number derived from them.
    pub fn read(&self, key: &str) -> usize {
        let d = &self.0;
        let mut n = d.get_heads().len() + d.get_changes(&[]).len();
        for item in d.map_range(ROOT, ..) {
            n += item.key.len();
            if let ValueRef::Object(_) = item.value {
                n += 1;
            }
        }
        if let Ok(Some((_, map))) = d.get(ROOT, key) {
            if let Ok(Some((_, list))) = d.get(&map, "l") {
                n += d.list_range(&list, ..).count() + d.length(&list);
            }
            if let Ok(Some((_, text))) = d.get(&map, "t") {
                n += d.text(&text).map(|t| t.len()).unwrap_or(0);
            }
        }
        n
    }

    /// A sync round: the stored state, the peer's message (may be empty);
    /// answers the next message, if any, followed by the new state.
    pub fn sync(&mut self, state: &[u8], message: &[u8]) -> Vec<u8> {
        let mut st = State::decode(state).unwrap_or_default();
        if let Ok(m) = Message::decode(message) {
            let _ = self.0.receive_sync_message(&mut st, m);
        }
        let mut out = self
            .0
            .generate_sync_message(&mut st)
            .map(Message::encode)
            .unwrap_or_default();
        out.extend(st.encode());
        out
    }
}

/// The hash of one change chunk, if it parses.
#[wasm_bindgen]
pub fn change_hash(bytes: &[u8]) -> Option<Vec<u8>> {
    Change::try_from(bytes).ok().map(|c| c.hash().0.to_vec())
}
