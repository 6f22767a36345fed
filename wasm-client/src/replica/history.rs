//! A deck's history from its document's changes, the deck as it was at a
//! version, restore, deleted decks and undelete. The same code answers the
//! server's HTTP calls and the package's offline calls.
//!
//! History entries: the deck document's changes in one deterministic
//! causal order (parents first, then by time, actor and sequence number, so
//! every device lists the same entries), grouped into runs of one device
//! whose consecutive changes are at most [`RUN_GAP_S`] apart. A change made
//! by a deck operation with a message (`create`, `delete`, `restore`,
//! `undelete`) is an entry of its own. The genesis change is not an edit;
//! the deterministic first-markdown change (see [`genesis::initial_markdown`])
//! counts in the entry that follows it, the creation.

use super::decks::IndexEntry;
use super::{get_str, obj_at, top, Replica, ReplicaError};
use crate::layout::{self, genesis, json, markdown, DocKind};
use crate::model::timestamp;
use crate::{version, Docs, DocumentId};
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::transaction::Transactable;
use automerge::{
    ActorId, Automerge, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value as AmValue, ROOT,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// Consecutive changes of one device at most this far apart (seconds) are
/// one history entry.
pub const RUN_GAP_S: i64 = 5 * 60;

/// Entries per page when the caller names no limit, and the most it may.
pub const DEFAULT_LIMIT: usize = 20;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 100;

/// Change messages of deck operations (history tells them apart).
pub(super) const MSG_CREATE: &str = "create";
pub(super) const MSG_DELETE: &str = "delete";
pub(super) const MSG_RESTORE: &str = "restore";
pub(super) const MSG_UNDELETE: &str = "undelete";

/// Deck metadata kept as it is by a restore: bookkeeping and play counts
/// are not content (progress is never rewound).
const KEEP_ON_RESTORE: [&str; 3] = ["lastModified", "playCount", "lastPlayed"];

/// What one history entry did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Characters inserted into the markdown.
    pub chars_inserted: u64,
    /// Characters deleted from the markdown.
    pub chars_deleted: u64,
    /// Deck fields written (`name`, `metadata.tags`, ...; never
    /// `metadata.lastModified`), sorted.
    pub fields_changed: Vec<String>,
    /// Reviews recorded.
    pub reviews_recorded: u64,
    /// The deck was created (or created anew).
    pub created: bool,
    /// The deck was deleted.
    pub deleted: bool,
    /// The deck was brought back from the deleted decks.
    pub undeleted: bool,
    /// The deck was restored to an earlier version.
    pub restored: bool,
}

/// One history entry (newest first in a page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The deck's version right after this entry: pass it to
    /// [`Replica::deck_at`] or [`Replica::restore_deck`].
    pub version: String,
    /// The time of the entry's last change, as its device set it.
    pub at: String,
    /// The device that made it.
    pub device_name: String,
    /// What it did.
    pub summary: Summary,
}

/// A page of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryPage {
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
    /// Pass as `before` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// A deleted deck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedDeck {
    /// The deck.
    pub deck_id: String,
    /// Its name.
    pub name: String,
    /// When it was deleted (the deleting change's time).
    pub deleted_at: String,
    /// The device that deleted it.
    pub device_name: String,
    /// The deck's last version.
    pub version: String,
}

/// One run of changes of one device.
struct Run {
    device: String,
    last_time: i64,
    hashes: Vec<ChangeHash>,
    /// The message of the run's operation, if it is one.
    message: Option<String>,
}

impl Replica {
    /// A page of deck `deck_id`'s history, newest first: at most `limit`
    /// entries ([`DEFAULT_LIMIT`] when `None`, at most [`MAX_LIMIT`]), older
    /// than the entry whose version is `before`. Works on deleted decks.
    pub fn deck_history(
        &self,
        deck_id: &str,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<HistoryPage, ReplicaError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let doc_id = layout::deck_doc_id(&self.user_id, deck_id);
        let doc = self
            .doc_of(&doc_id, DocKind::Deck)?
            .ok_or_else(|| ReplicaError::DeckNotFound(deck_id.to_string()))?;
        let runs = runs(doc, &self.device_names()?);
        let mut newest_first = runs.iter().rev().map(|r| (r, run_version(doc_id, doc, r)));
        if let Some(before) = before {
            version::parse(before).map_err(|_| ReplicaError::BadVersion)?;
            newest_first
                .by_ref()
                .find(|(_, v)| v == before)
                .ok_or_else(|| ReplicaError::VersionNotFound(deck_id.to_string()))?;
        }
        let page: Vec<(&Run, String)> = newest_first.by_ref().take(limit).collect();
        let next_before = match newest_first.next() {
            Some(_) => page.last().map(|(_, v)| v.clone()),
            None => None,
        };
        let summaries = summarize(doc, &page.iter().map(|(r, _)| *r).collect::<Vec<_>>())?;
        let entries = page
            .into_iter()
            .zip(summaries)
            .map(|((run, version), summary)| HistoryEntry {
                version,
                at: timestamp::format_ms(run.last_time.saturating_mul(1000)),
                device_name: run.device.clone(),
                summary,
            })
            .collect();
        Ok(HistoryPage {
            entries,
            next_before,
        })
    }

    /// The deck (the app's `Deck`, with `markdown`) as it was at `version`
    /// (a history entry's version, or a JSON view version naming the deck).
    pub fn deck_at(&self, deck_id: &str, version: &str) -> Result<Value, ReplicaError> {
        let doc_id = layout::deck_doc_id(&self.user_id, deck_id);
        let doc = self
            .doc_of(&doc_id, DocKind::Deck)?
            .ok_or_else(|| ReplicaError::DeckNotFound(deck_id.to_string()))?;
        let heads = version::parse(version).map_err(|_| ReplicaError::BadVersion)?;
        let not_found = || ReplicaError::VersionNotFound(deck_id.to_string());
        let heads = heads.get(&doc_id).ok_or_else(not_found)?;
        if heads.is_empty()
            || heads
                .iter()
                .any(|h| doc.get_change_meta_by_hash(h).is_none())
        {
            return Err(not_found());
        }
        let mut docs = Docs::new();
        docs.insert(doc_id, doc.fork_at(heads)?);
        let then = Replica::from_docs(&self.user_id, self.actor.to_bytes(), docs)?;
        then.deck_json(doc_id)?.ok_or_else(not_found)
    }

    /// Makes the deck's markdown and fields equal to what they were at
    /// `version`, as one new change (an ordinary edit: it merges with
    /// concurrent edits). Progress and reviews are never rewound; nor are
    /// `metadata.playCount`/`lastPlayed`.
    pub fn restore_deck(&mut self, deck_id: &str, version: &str) -> Result<(), ReplicaError> {
        let target = self.deck_at(deck_id, version)?;
        let doc_id = self.live_deck_doc(deck_id)?;
        let text = target["markdown"].as_str().unwrap_or_default().to_string();
        self.edit_with(doc_id, Some(MSG_RESTORE), |tx, cx| {
            for key in ["name", "description", "emoji"] {
                let v = target
                    .get(key)
                    .cloned()
                    .unwrap_or(Value::String(String::new()));
                json::reconcile_prop(tx, &ROOT, key, &v, true)?;
            }
            let md = top(tx, "markdown", ObjType::Text, cx.doc)?;
            markdown::update(tx, &md, &text)?;
            let meta = top(tx, "metadata", ObjType::Map, cx.doc)?;
            let mut then = target["metadata"].as_object().cloned().unwrap_or_default();
            then.remove("originalMarkdown");
            for key in KEEP_ON_RESTORE {
                then.remove(key);
                if let Some(v) = json::read_prop(tx, &meta, key)? {
                    then.insert(key.into(), v);
                }
            }
            then.insert("lastModified".into(), Value::String(cx.now_iso.clone()));
            json::reconcile_map(tx, &meta, &then, true)?;
            let settings = top(tx, "settings", ObjType::Map, cx.doc)?;
            let then = target["settings"].as_object().cloned().unwrap_or_default();
            json::reconcile_map(tx, &settings, &then, true)?;
            let extra = top(tx, "extra", ObjType::Map, cx.doc)?;
            let own = super::decks::OWN_FIELDS;
            let then: Map<String, Value> = target
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !own.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json::reconcile_map(tx, &extra, &then, true)?;
            Ok(())
        })?;
        let name = target["name"].as_str().unwrap_or_default();
        let emoji = target["emoji"].as_str().unwrap_or_default();
        self.write_index_entry(deck_id, name, emoji, None, None)
    }

    /// Deleted decks whose document is here, by id.
    pub fn deleted_deck_list(&self) -> Result<Vec<DeletedDeck>, ReplicaError> {
        let names = self.device_names()?;
        let mut out = Vec::new();
        for (deck_id, entry) in self.deck_entries()? {
            out.extend(self.deleted_deck(deck_id, &entry, &names)?);
        }
        Ok(out)
    }

    /// Deck `deck_id` as [`Replica::deleted_deck_list`] lists it, if it is
    /// deleted (not progress-only) and its document is here; `names`:
    /// [`Replica::device_names`].
    pub(super) fn deleted_deck(
        &self,
        deck_id: String,
        entry: &IndexEntry,
        names: &BTreeMap<String, String>,
    ) -> Result<Option<DeletedDeck>, ReplicaError> {
        let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
        if entry.progress_only || !(entry.deleted || self.deck_doc_deleted(doc_id)?) {
            return Ok(None);
        }
        let Some(doc) = self.doc_of(&doc_id, DocKind::Deck)? else {
            return Ok(None);
        };
        let flag = self.root_deck_flag(&deck_id)?;
        let (at, device) = match deleting_change(doc, self.root()?, flag)? {
            Some((time, actor)) => (time, device_of(names, &actor)),
            None => (0, super::UNKNOWN_DEVICE.to_string()),
        };
        Ok(Some(DeletedDeck {
            name: get_str(doc, &ROOT, "name")?.unwrap_or_default(),
            deleted_at: timestamp::format_ms(at.saturating_mul(1000)),
            device_name: device,
            version: version::encode([(&doc_id, doc.get_heads().as_slice())]),
            deck_id,
        }))
    }

    /// Brings a deleted deck back with its content and progress.
    pub fn undelete_deck(&mut self, deck_id: &str) -> Result<(), ReplicaError> {
        let doc_id = layout::deck_doc_id(&self.user_id, deck_id);
        let entry = self.deck_entry(deck_id)?;
        let deleted = entry
            .as_ref()
            .is_some_and(|e| e.deleted && !e.progress_only)
            || self.deck_doc_deleted(doc_id)?;
        if !deleted || self.doc_of(&doc_id, DocKind::Deck)?.is_none() {
            return Err(ReplicaError::DeckNotFound(deck_id.to_string()));
        }
        self.edit_with(doc_id, Some(MSG_UNDELETE), |tx, _| {
            tx.put(ROOT, "deleted", false)?;
            Ok(())
        })?;
        let root_id = self.root_id();
        self.edit_with(root_id, Some(MSG_UNDELETE), |tx, cx| {
            let decks = top(tx, "decks", ObjType::Map, cx.doc)?;
            if let Some(entry) = obj_at(tx, &decks, deck_id, ObjType::Map)? {
                tx.put(&entry, "deleted", false)?;
            }
            Ok(())
        })
    }

    /// The op that set the deck's index entry's `deleted` flag, if any.
    fn root_deck_flag(&self, deck_id: &str) -> Result<Option<ObjId>, ReplicaError> {
        let root = self.root()?;
        let decks = top(root, "decks", ObjType::Map, self.root_id())?;
        let Some(entry) = obj_at(root, &decks, deck_id, ObjType::Map)? else {
            return Ok(None);
        };
        Ok(root.get(&entry, "deleted")?.map(|(_, id)| id))
    }
}

/// The time and actor of the change that set the winning `deleted = true`
/// (in the deck document, else in the root's index entry).
fn deleting_change(
    doc: &Automerge,
    root: &Automerge,
    root_flag: Option<ObjId>,
) -> Result<Option<(i64, ActorId)>, ReplicaError> {
    let from = |d: &Automerge, id: &ObjId| {
        d.hash_for_opid(id)
            .and_then(|h| d.get_change_meta_by_hash(&h))
            .map(|m| (m.timestamp, m.actor.into_owned()))
    };
    if let Some((v, id)) = doc.get(ROOT, "deleted")? {
        if matches!(v, AmValue::Scalar(s) if s.as_bool() == Some(true)) {
            if let Some(found) = from(doc, &id) {
                return Ok(Some(found));
            }
        }
    }
    Ok(root_flag.and_then(|id| from(root, &id)))
}

fn device_of(names: &BTreeMap<String, String>, actor: &ActorId) -> String {
    names
        .get(&actor.to_hex_string())
        .cloned()
        .unwrap_or_else(|| super::UNKNOWN_DEVICE.to_string())
}

/// The deck document's changes grouped into runs, oldest first.
fn runs(doc: &Automerge, names: &BTreeMap<String, String>) -> Vec<Run> {
    let genesis_actor = ActorId::from(genesis::GENESIS_ACTOR.as_slice());
    let metas = doc.get_changes_meta(&[]);
    let index: HashMap<ChangeHash, usize> =
        metas.iter().enumerate().map(|(i, m)| (m.hash, i)).collect();
    // Kahn's algorithm, the ready change with the least (time, actor, seq)
    // first: a causal order every device computes alike.
    let mut waiting = vec![0usize; metas.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); metas.len()];
    for (i, m) in metas.iter().enumerate() {
        for d in &m.deps {
            if let Some(&j) = index.get(d) {
                waiting[i] += 1;
                children[j].push(i);
            }
        }
    }
    let key = |i: usize| {
        Reverse((
            metas[i].timestamp,
            metas[i].actor.to_bytes(),
            metas[i].seq,
            i,
        ))
    };
    let mut ready: BinaryHeap<_> = (0..metas.len())
        .filter(|&i| waiting[i] == 0)
        .map(key)
        .collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut carried: Vec<ChangeHash> = Vec::new();
    let mut open = false;
    while let Some(Reverse((time, _, _, i))) = ready.pop() {
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push(key(c));
            }
        }
        let m = &metas[i];
        if *m.actor == genesis_actor {
            continue;
        }
        let Some(device) = names.get(&m.actor.to_hex_string()).cloned() else {
            if time == 0 {
                // The deterministic first markdown: part of the creation.
                carried.push(m.hash);
                continue;
            }
            push_change(
                &mut runs,
                &mut open,
                super::UNKNOWN_DEVICE.into(),
                m,
                &mut carried,
            );
            continue;
        };
        push_change(&mut runs, &mut open, device, m, &mut carried);
    }
    if !carried.is_empty() {
        runs.push(Run {
            device: super::UNKNOWN_DEVICE.into(),
            last_time: 0,
            hashes: carried,
            message: None,
        });
    }
    runs
}

fn push_change(
    runs: &mut Vec<Run>,
    open: &mut bool,
    device: String,
    m: &automerge::ChangeMetadata<'_>,
    carried: &mut Vec<ChangeHash>,
) {
    let message = m.message.as_deref().map(str::to_string);
    let joins = *open
        && message.is_none()
        && runs.last().is_some_and(|r| {
            r.device == device && m.timestamp.abs_diff(r.last_time) <= RUN_GAP_S as u64
        });
    match runs.last_mut() {
        Some(run) if joins => {
            run.hashes.push(m.hash);
            run.last_time = m.timestamp;
        }
        _ => {
            let mut hashes = std::mem::take(carried);
            hashes.push(m.hash);
            runs.push(Run {
                device,
                last_time: m.timestamp,
                hashes,
                message: message.clone(),
            })
        }
    }
    // An operation with a message stands alone.
    *open = message.is_none();
}

/// The version right after a run: the run's changes that no other change
/// of the run depends on.
fn run_version(doc_id: DocumentId, doc: &Automerge, run: &Run) -> String {
    let mut deps: BTreeSet<ChangeHash> = BTreeSet::new();
    for h in &run.hashes {
        if let Some(m) = doc.get_change_meta_by_hash(h) {
            deps.extend(m.deps);
        }
    }
    let mut heads: Vec<ChangeHash> = run
        .hashes
        .iter()
        .filter(|h| !deps.contains(h))
        .copied()
        .collect();
    heads.sort();
    version::encode([(&doc_id, heads.as_slice())])
}

/// The summaries of `page`'s runs, from their changes' operations. The
/// changes are fetched in one call: everything not before the page.
fn summarize(doc: &Automerge, page: &[&Run]) -> Result<Vec<Summary>, ReplicaError> {
    let wanted: BTreeSet<ChangeHash> = page.iter().flat_map(|r| r.hashes.iter().copied()).collect();
    let mut have: BTreeSet<ChangeHash> = BTreeSet::new();
    for h in &wanted {
        if let Some(m) = doc.get_change_meta_by_hash(h) {
            have.extend(m.deps.into_iter().filter(|d| !wanted.contains(d)));
        }
    }
    let have: Vec<ChangeHash> = have.into_iter().collect();
    let changes: HashMap<ChangeHash, automerge::ExpandedChange> = doc
        .get_changes(&have)
        .into_iter()
        .filter(|c| wanted.contains(&c.hash()))
        .map(|c| (c.hash(), c.decode()))
        .collect();
    let objs = Objects::of(doc)?;
    Ok(page
        .iter()
        .map(|run| {
            let mut s = Summary::default();
            let mut fields = BTreeSet::new();
            for h in &run.hashes {
                if let Some(c) = changes.get(h) {
                    objs.count(c, &mut s, &mut fields);
                }
            }
            match run.message.as_deref() {
                Some(MSG_CREATE) => s.created = true,
                Some(MSG_RESTORE) => s.restored = true,
                Some(MSG_UNDELETE) => {
                    s.undeleted = true;
                    s.deleted = false;
                }
                _ => {}
            }
            s.fields_changed = fields.into_iter().collect();
            s
        })
        .collect())
}

/// The deck document's objects a summary counts in, as change ops name
/// them.
struct Objects {
    markdown: Option<ObjectId>,
    metadata: Option<ObjectId>,
    settings: Option<ObjectId>,
    extra: Option<ObjectId>,
    reviews: Option<ObjectId>,
}

impl Objects {
    fn of(doc: &Automerge) -> Result<Self, ReplicaError> {
        let id = |key: &str, t: ObjType| -> Result<Option<ObjectId>, ReplicaError> {
            Ok(match obj_at(doc, &ROOT, key, t)? {
                Some(ObjId::Id(counter, actor, _)) => {
                    Some(ObjectId::Id(automerge::legacy::OpId(counter, actor)))
                }
                _ => None,
            })
        };
        Ok(Objects {
            markdown: id("markdown", ObjType::Text)?,
            metadata: id("metadata", ObjType::Map)?,
            settings: id("settings", ObjType::Map)?,
            extra: id("extra", ObjType::Map)?,
            reviews: id("reviews", ObjType::List)?,
        })
    }

    fn count(
        &self,
        change: &automerge::ExpandedChange,
        s: &mut Summary,
        fields: &mut BTreeSet<String>,
    ) {
        let is = |o: &Option<ObjectId>, obj: &ObjectId| o.as_ref() == Some(obj);
        for op in &change.operations {
            let key = match &op.key {
                Key::Map(k) => Some(k.as_str()),
                Key::Seq(_) => None,
            };
            if is(&self.markdown, &op.obj) {
                match &op.action {
                    OpType::Put(ScalarValue::Str(text)) if op.insert => {
                        s.chars_inserted += text.chars().count() as u64;
                    }
                    OpType::Delete => s.chars_deleted += 1,
                    _ => {}
                }
            } else if is(&self.reviews, &op.obj) {
                if op.insert {
                    s.reviews_recorded += 1;
                }
            } else if op.obj == ObjectId::Root {
                match (key, &op.action) {
                    (Some("deleted"), OpType::Put(ScalarValue::Boolean(true))) => s.deleted = true,
                    (Some(k @ ("name" | "description" | "emoji")), _) => {
                        fields.insert(k.to_string());
                    }
                    _ => {}
                }
            } else if let Some(k) = key {
                let prefix = if is(&self.metadata, &op.obj) {
                    "metadata."
                } else if is(&self.settings, &op.obj) {
                    "settings."
                } else if is(&self.extra, &op.obj) {
                    ""
                } else {
                    continue;
                };
                if !(prefix == "metadata." && k == "lastModified") {
                    fields.insert(format!("{prefix}{k}"));
                }
            }
        }
    }
}
