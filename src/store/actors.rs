//! The stateful part of the hostile-input check: which actors a document
//! knows.
//!
//! Automerge 0.12 panics (`InvalidActorIndex`) when a change's ops name an
//! actor the document has never seen, or when a change claims `seq > 1`
//! for an actor the document does not know: well-formed bytes that no
//! stateless check can refuse (the `checksum_fixed_mutations` property in
//! `wasm-client/tests/sync_fuzz.rs` finds them). Honest changes only name
//! actors whose changes are already in the document or travel with them,
//! so the store refuses the rest before Automerge applies them.
//!
//! A change whose dependencies are not all at hand is only queued by
//! Automerge, not applied, so it is let through: honest peers send such
//! changes after a Bloom filter false positive and supply the missing one
//! on the next round.

use automerge::legacy::{Key, ObjectId};
use automerge::{ActorId, Automerge, Change, ChangeHash};
use myflashplay_client::replica::DEVICE_KEY_PREFIX;
use std::collections::{BTreeMap, BTreeSet};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;

/// Unsigned LEB128 at `*pos`, advancing it; `None` past the end.
fn uleb(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Calls `f(type, whole chunk, chunk data)` for each storage chunk.
fn for_each_chunk(bytes: &[u8], mut f: impl FnMut(u8, &[u8], &[u8])) {
    let mut pos = 0;
    while pos + 9 <= bytes.len() && bytes[pos..pos + 4] == MAGIC {
        let start = pos;
        let kind = bytes[pos + 8];
        pos += 9;
        let Some(len) = uleb(bytes, &mut pos) else {
            return;
        };
        let Some(end) = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)) else {
            return;
        };
        let (Some(chunk), Some(data)) = (bytes.get(start..end), bytes.get(pos..end)) else {
            return;
        };
        f(kind, chunk, data);
        pos = end;
    }
}

/// The actor table at the start of a document chunk's data.
fn document_actors(data: &[u8], out: &mut BTreeSet<ActorId>) {
    let mut pos = 0;
    let count = uleb(data, &mut pos).unwrap_or(0);
    for _ in 0..count {
        let Some(len) = uleb(data, &mut pos).and_then(|l| usize::try_from(l).ok()) else {
            return;
        };
        let Some(actor) = data.get(pos..pos.saturating_add(len)) else {
            return;
        };
        out.insert(ActorId::from(actor));
        pos += len;
    }
}

/// The actors of stored bytes (our own output: a snapshot then deltas).
pub(crate) fn known_actors(stored: &[u8]) -> BTreeSet<ActorId> {
    let mut out = BTreeSet::new();
    for_each_chunk(stored, |kind, chunk, data| match kind {
        DOCUMENT => document_actors(data, &mut out),
        CHANGE => {
            if let Ok(c) = Change::try_from(chunk) {
                out.extend(c.actors().cloned());
            }
        }
        _ => {}
    });
    out
}

/// Checks the changes of a sync message for `doc` against `known` (its
/// actors); returns the actors they add. `Err` when a change that would be
/// applied now names an actor that neither the document nor any first
/// change (`seq == 1`) in the message introduces.
///
/// A whole document (a v2 message's document chunk, already inflated by
/// the check) carries every change of its history from each actor's first
/// one, and its ops name actors by index into its own actor table, which
/// Automerge's load checks (rebuilding every change and its hash): its
/// actors are introduced by it.
pub(crate) fn check_changes<'a>(
    known: &BTreeSet<ActorId>,
    doc: &Automerge,
    entries: impl Iterator<Item = &'a [u8]>,
) -> Result<BTreeSet<ActorId>, ()> {
    let mut changes = Vec::new();
    let mut in_documents = BTreeSet::new();
    let mut broken = false;
    for entry in entries {
        for_each_chunk(entry, |kind, chunk, data| {
            match (kind, Change::try_from(chunk)) {
                (CHANGE, Ok(c)) => changes.push(c),
                (DOCUMENT, _) => document_actors(data, &mut in_documents),
                _ => broken = true,
            }
        });
    }
    if broken {
        return Err(());
    }
    let introduced: BTreeSet<&ActorId> = changes
        .iter()
        .filter(|c| c.seq() == 1)
        .map(Change::actor_id)
        .chain(&in_documents)
        .collect();
    // Changes that Automerge will apply now: every dependency is in the
    // document or is a carried change that applies now. Kahn's algorithm
    // over the carried changes (their order in a message is not trusted).
    let index: BTreeMap<ChangeHash, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let mut waiting = vec![0usize; changes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    let mut blocked = vec![false; changes.len()];
    for (i, c) in changes.iter().enumerate() {
        for d in c.deps() {
            match index.get(d) {
                Some(&j) => {
                    waiting[i] += 1;
                    dependents[j].push(i);
                }
                None if doc.get_change_meta_by_hash(d).is_none() => blocked[i] = true,
                None => {}
            }
        }
    }
    let mut stack: Vec<usize> = (0..changes.len())
        .filter(|&i| waiting[i] == 0 && !blocked[i])
        .collect();
    let mut ready = vec![false; changes.len()];
    while let Some(i) = stack.pop() {
        ready[i] = true;
        for &k in &dependents[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 && !blocked[k] {
                stack.push(k);
            }
        }
    }
    let allowed = |a: &ActorId| known.contains(a) || introduced.contains(a);
    let mut added = BTreeSet::new();
    for (i, c) in changes.iter().enumerate() {
        if ready[i] && !c.actors().all(allowed) {
            return Err(());
        }
        added.extend(c.actors().filter(|a| !known.contains(*a)).cloned());
    }
    added.extend(in_documents.into_iter().filter(|a| !known.contains(a)));
    Ok(added)
}

/// Checks that no change of a sync message names a device entry (see
/// `myflashplay_client::replica::DEVICE_KEY_PREFIX`) for an actor other
/// than its own: a device may say who it is, never who another actor is.
/// Only changes whose bytes hold the prefix are decoded.
pub(crate) fn check_device_claims<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Result<(), ()> {
    let prefix = DEVICE_KEY_PREFIX.as_bytes();
    let mut ok = true;
    for entry in entries {
        if !entry.windows(prefix.len()).any(|w| w == prefix) {
            continue;
        }
        for_each_chunk(entry, |kind, chunk, _| {
            let Ok(c) = Change::try_from(chunk) else {
                return;
            };
            if kind != CHANGE {
                return;
            }
            let own = c.actor_id().to_hex_string();
            for op in c.decode().operations {
                if let (ObjectId::Root, Key::Map(k)) = (&op.obj, &op.key) {
                    if k.strip_prefix(DEVICE_KEY_PREFIX).is_some_and(|a| a != own) {
                        ok = false;
                    }
                }
            }
        });
    }
    if ok {
        Ok(())
    } else {
        Err(())
    }
}
