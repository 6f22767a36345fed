//! The documents a store keeps in memory, bounded by their estimated
//! memory within one budget for the whole isolate (docs/design.md §3).
//!
//! A count bound thrashes: an account with more documents than the bound
//! reloads every document on every full pass (a fresh device, an export).
//! Several Durable Objects may share one isolate and its wasm memory, which
//! never shrinks, so the budget is the isolate's: a ledger of the bytes
//! every store's cache holds (one thread per isolate, so a thread-local),
//! and a store that loads a document evicts its own least recently used
//! ones until the total fits (never the one it is loading).
//!
//! The estimate: a loaded Automerge 0.12 document takes 36 to 45 times its
//! stored size (measured with a counting allocator on deck-like documents
//! of 5 to 600 changes, `tests/store_memory.rs`, which also checks that the
//! estimate stays above what is measured).

use super::engine::Loaded;
use myflashplay_client::DocumentId;
use std::cell::Cell;
use std::collections::BTreeMap;

/// Memory of a loaded document per byte of its stored form (chunks).
pub const LOADED_BYTES_PER_STORED_BYTE: u64 = 64;

/// Estimated memory all stores of the isolate may hold in documents: well
/// under the isolate's 128 MB, leaving room for a load's peak and the
/// rest of the Worker.
pub const ISOLATE_BUDGET_BYTES: u64 = 48 << 20;

thread_local! {
    static ISOLATE_LOADED: Cell<u64> = const { Cell::new(0) };
}

/// Estimated memory of the documents loaded by every store of this
/// isolate (thread).
pub fn isolate_loaded_bytes() -> u64 {
    ISOLATE_LOADED.with(Cell::get)
}

fn ledger_add(n: u64) {
    ISOLATE_LOADED.with(|c| c.set(c.get().saturating_add(n)));
}

fn ledger_sub(n: u64) {
    ISOLATE_LOADED.with(|c| c.set(c.get().saturating_sub(n)));
}

/// The estimate for a document of `stored` bytes.
pub fn estimate(stored: u64) -> u64 {
    stored.saturating_mul(LOADED_BYTES_PER_STORED_BYTE)
}

thread_local! {
    static BUDGET: Cell<u64> = const { Cell::new(ISOLATE_BUDGET_BYTES) };
}

/// The isolate's budget (tests set a small one on their own thread).
pub fn set_isolate_budget(bytes: u64) {
    BUDGET.with(|b| b.set(bytes));
}

fn budget() -> u64 {
    BUDGET.with(Cell::get)
}

/// One store's loaded documents, accounted in the isolate's ledger.
#[derive(Default)]
pub(crate) struct DocCache {
    docs: BTreeMap<DocumentId, Loaded>,
    /// What each document is accounted at in the ledger.
    accounted: BTreeMap<DocumentId, u64>,
    /// The sum of `accounted`.
    held: u64,
}

impl DocCache {
    pub(crate) fn get(&self, id: &DocumentId) -> Option<&Loaded> {
        self.docs.get(id)
    }

    /// A document to change; [`DocCache::reaccount`] it once its stored
    /// size changed.
    pub(crate) fn get_mut(&mut self, id: &DocumentId) -> Option<&mut Loaded> {
        self.docs.get_mut(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    /// Estimated memory of this store's documents.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.held
    }

    /// Adds (or replaces) a document, accounted at its stored size.
    pub(crate) fn insert(&mut self, id: DocumentId, loaded: Loaded) {
        self.docs.insert(id, loaded);
        self.reaccount(&id);
    }

    pub(crate) fn remove(&mut self, id: &DocumentId) -> Option<Loaded> {
        self.unaccount(id);
        self.docs.remove(id)
    }

    pub(crate) fn clear(&mut self) {
        let ids: Vec<DocumentId> = self.docs.keys().copied().collect();
        for id in ids {
            self.remove(&id);
        }
    }

    /// Accounts `id` at its current stored size.
    pub(crate) fn reaccount(&mut self, id: &DocumentId) {
        self.unaccount(id);
        if let Some(l) = self.docs.get(id) {
            let n = estimate(l.stored_bytes());
            self.accounted.insert(*id, n);
            self.held += n;
            ledger_add(n);
        }
    }

    fn unaccount(&mut self, id: &DocumentId) {
        if let Some(n) = self.accounted.remove(id) {
            self.held -= n;
            ledger_sub(n);
        }
    }

    /// Evicts this store's least recently used documents (never `keep`)
    /// until `incoming` more bytes fit the isolate's budget, or nothing of
    /// this store's is left to evict. Others' documents are theirs to
    /// evict: a store that finds the budget taken keeps one document.
    pub(crate) fn make_room(&mut self, incoming: u64, keep: Option<&DocumentId>) {
        while isolate_loaded_bytes().saturating_add(incoming) > budget() {
            let Some(oldest) = self
                .docs
                .iter()
                .filter(|(id, _)| Some(*id) != keep)
                .min_by_key(|(_, l)| l.last_used())
                .map(|(id, _)| *id)
            else {
                return;
            };
            self.remove(&oldest);
        }
    }
}

impl Drop for DocCache {
    fn drop(&mut self) {
        ledger_sub(self.held);
    }
}
