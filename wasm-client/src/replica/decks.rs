//! Deck edits: create, update, edit markdown, delete.

use super::{get_bool, obj_at, top, EditCx, Replica, ReplicaError};
use crate::cards;
use crate::layout::{self, first_markdown, genesis, json, markdown, DocKind};
use crate::model::{self, limits, Deck};
use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjType, ReadDoc, ROOT};
use serde_json::{json, Map, Value};

/// Deck fields held in their own place in the deck document; every other
/// top-level field goes to `extra`.
pub(super) const OWN_FIELDS: [&str; 8] = [
    "id",
    "name",
    "description",
    "emoji",
    "markdown",
    "metadata",
    "settings",
    "cards",
];

impl Replica {
    /// Creates a deck (or re-creates a deleted one) from a MyFlashPlay
    /// `Deck` JSON value. Its text comes from `markdown` or, as the app
    /// keeps it, `metadata.originalMarkdown`; `cards` that say something
    /// else than that text replace it (see [`incoming_markdown`]). Missing
    /// metadata and settings get the app's defaults.
    pub fn create_deck(&mut self, deck: &Value) -> Result<(), ReplicaError> {
        let raw_id = deck.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut fields = deck.as_object().cloned().unwrap_or_default();
        let md = incoming_markdown(raw_id, &fields, None);
        normalize_fields(&mut fields, md.as_deref());
        let parsed: Deck = model::parse("deck", &Value::Object(fields.clone()))?;
        let deck_id = parsed.id.clone();
        let known = self.deck_entry(&deck_id)?.is_some_and(|e| !e.progress_only);
        if !known && self.live_deck_count()? >= limits::MAX_DECKS {
            return Err(ReplicaError::TooManyDecks);
        }
        let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
        self.ensure_doc(DocKind::Deck, &deck_id, doc_id)?;
        if let (Some(doc), Some(md)) = (self.docs.get_mut(&doc_id), &md) {
            // A bundled sample starts from the app's own text on every
            // device; this device's edits of it follow as a diff.
            let first = self
                .samples
                .get(&deck_id)
                .map_or(md.as_str(), |s| &s.markdown);
            genesis::initial_markdown(doc, &deck_id, first)?;
        }
        self.edit_with(doc_id, Some(super::history::MSG_CREATE), |tx, cx| {
            write_deck_fields(tx, cx, &fields, true)?;
            if tx.get(ROOT, "deleted")?.is_some() {
                tx.put(ROOT, "deleted", false)?;
            }
            Ok(())
        })?;
        self.write_index_entry(
            &deck_id,
            &parsed.name,
            &parsed.emoji,
            Some(false),
            Some(false),
        )
    }

    /// Sets fields of a deck's entry in the root index that only the
    /// localStorage export reads: `listed` (false: the app's `mdoc_index`
    /// did not list it) and `indexPosition` (its place there).
    pub(super) fn set_index_fields(
        &mut self,
        deck_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), ReplicaError> {
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let decks = top(tx, "decks", ObjType::Map, cx.doc)?;
            let entry =
                obj_at(tx, &decks, deck_id, ObjType::Map)?.ok_or(cx.missing("deck index entry"))?;
            json::reconcile_map(tx, &entry, fields, false)?;
            Ok(())
        })
    }

    /// Removes duplicated cards that concurrent first versions of a deck's
    /// markdown left after a merge (see [`first_markdown`]); a sync driver
    /// calls it after a deck document received changes. True when it wrote
    /// a change (to be saved and sent).
    pub fn repair_deck(&mut self, doc_id: crate::DocumentId) -> Result<bool, ReplicaError> {
        let Some(doc) = self.doc_of(&doc_id, DocKind::Deck)? else {
            return Ok(false);
        };
        if !first_markdown::needs_repair(doc) {
            return Ok(false);
        }
        let deck_id = super::get_str(doc, &ROOT, "deckId")?.unwrap_or_default();
        self.edit(doc_id, |tx, cx| {
            let md = top(tx, "markdown", ObjType::Text, cx.doc)?;
            Ok(first_markdown::repair(tx, &md, &deck_id)?)
        })
    }

    /// [`Replica::repair_deck`] for every deck document held here.
    pub fn repair_decks(&mut self) -> Result<bool, ReplicaError> {
        let ids: Vec<crate::DocumentId> = self.docs.keys().copied().collect();
        let mut changed = false;
        for id in ids {
            changed |= self.repair_deck(id)?;
        }
        Ok(changed)
    }

    /// Changes top-level fields of a deck (`name`, `description`, `emoji`,
    /// `metadata` and `settings` merged key by key, `cards`, or unknown
    /// fields); `markdown` is applied as a text diff.
    pub fn update_deck(
        &mut self,
        deck_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), ReplicaError> {
        let doc_id = self.live_deck_doc(deck_id)?;
        let mut merged = self
            .deck_value(doc_id, false)?
            .unwrap_or_else(|| json!({ "id": deck_id }));
        let current = merged["markdown"].as_str().map(str::to_string);
        let mut fields = fields.clone();
        let md = incoming_markdown(deck_id, &fields, current.as_deref());
        normalize_fields(&mut fields, md.as_deref());
        if let Value::Object(m) = &mut merged {
            for (k, v) in &fields {
                match (m.get_mut(k), v) {
                    (Some(Value::Object(old)), Value::Object(new))
                        if k == "metadata" || k == "settings" =>
                    {
                        old.extend(new.clone())
                    }
                    _ => {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            m.insert("id".into(), Value::String(deck_id.to_string()));
        }
        let parsed: Deck = model::parse("deck", &merged)?;
        fields.remove("id");
        self.edit(doc_id, |tx, cx| write_deck_fields(tx, cx, &fields, false))?;
        if fields.contains_key("name") || fields.contains_key("emoji") {
            self.write_index_entry(deck_id, &parsed.name, &parsed.emoji, None, None)?;
        }
        self.list_when_edited(deck_id)
    }

    /// A deck the app held without an index entry (a first-run sample) is
    /// listed once the learner edits it, as the app lists a sample it saved.
    fn list_when_edited(&mut self, deck_id: &str) -> Result<(), ReplicaError> {
        if self.deck_entry(deck_id)?.is_some_and(|e| !e.listed) {
            let mut fields = Map::new();
            fields.insert("listed".into(), Value::Bool(true));
            self.set_index_fields(deck_id, &fields)?;
        }
        Ok(())
    }

    /// Makes the deck's markdown equal to `text`, as a character diff.
    pub fn edit_markdown(&mut self, deck_id: &str, text: &str) -> Result<(), ReplicaError> {
        limits::check_len("deck.markdown", text, limits::MAX_MARKDOWN_BYTES)?;
        let doc_id = self.live_deck_doc(deck_id)?;
        self.edit(doc_id, |tx, cx| {
            let md = top(tx, "markdown", ObjType::Text, cx.doc)?;
            markdown::update(tx, &md, text)?;
            touch(tx, cx)
        })?;
        self.list_when_edited(deck_id)
    }

    /// Deletes a deck: a tombstone in the index and in the deck document.
    /// The deck's content and progress stay in its document.
    pub fn delete_deck(&mut self, deck_id: &str) -> Result<(), ReplicaError> {
        let doc_id = self.live_deck_doc(deck_id)?;
        self.edit_with(doc_id, Some(super::history::MSG_DELETE), |tx, _| {
            tx.put(ROOT, "deleted", true)?;
            Ok(())
        })?;
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let decks = top(tx, "decks", ObjType::Map, cx.doc)?;
            let entry =
                obj_at(tx, &decks, deck_id, ObjType::Map)?.ok_or(cx.missing("deck index entry"))?;
            tx.put(&entry, "deleted", true)?;
            Ok(())
        })
    }

    /// The deck document of a deck that exists here and is not deleted.
    pub(super) fn live_deck_doc(&self, deck_id: &str) -> Result<crate::DocumentId, ReplicaError> {
        let doc_id = layout::deck_doc_id(&self.user_id, deck_id);
        match self.deck_entry(deck_id)? {
            Some(e) if !e.deleted && !e.progress_only && self.docs.contains_key(&doc_id) => {
                Ok(doc_id)
            }
            _ => Err(ReplicaError::DeckNotFound(deck_id.to_string())),
        }
    }

    /// Writes the index entry of a deck; `None` leaves a flag as it is.
    pub(super) fn write_index_entry(
        &mut self,
        deck_id: &str,
        name: &str,
        emoji: &str,
        deleted: Option<bool>,
        progress_only: Option<bool>,
    ) -> Result<(), ReplicaError> {
        let mut entry = Map::new();
        entry.insert(
            "documentId".into(),
            Value::String(layout::deck_doc_id(&self.user_id, deck_id).to_string()),
        );
        entry.insert("name".into(), Value::String(name.to_string()));
        entry.insert("emoji".into(), Value::String(emoji.to_string()));
        if let Some(d) = deleted {
            entry.insert("deleted".into(), Value::Bool(d));
        }
        if let Some(p) = progress_only {
            entry.insert("progressOnly".into(), Value::Bool(p));
        }
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let decks = top(tx, "decks", ObjType::Map, cx.doc)?;
            json::reconcile_prop(tx, &decks, deck_id, &Value::Object(entry), false)?;
            Ok(())
        })
    }

    /// The index entry of a deck, if the root lists it.
    pub(super) fn deck_entry(&self, deck_id: &str) -> Result<Option<IndexEntry>, ReplicaError> {
        let root = self.root()?;
        let decks = top(root, "decks", ObjType::Map, self.root_id())?;
        Ok(json::read_prop(root, &decks, deck_id)?.map(|v| IndexEntry::from_json(&v)))
    }

    /// Every deck id in the index with its entry, in id order.
    pub(super) fn deck_entries(&self) -> Result<Vec<(String, IndexEntry)>, ReplicaError> {
        let root = self.root()?;
        let decks = top(root, "decks", ObjType::Map, self.root_id())?;
        let mut out = Vec::new();
        for key in root.keys(&decks) {
            if let Some(v) = json::read_prop(root, &decks, &key)? {
                out.push((key, IndexEntry::from_json(&v)));
            }
        }
        Ok(out)
    }

    /// Live decks; cheap while the index has fewer entries than the limit
    /// (counting entries alone then proves the limit is not reached), so
    /// importing many decks is not quadratic.
    fn live_deck_count(&self) -> Result<usize, ReplicaError> {
        let root = self.root()?;
        let decks = top(root, "decks", ObjType::Map, self.root_id())?;
        let entries = root.length(&decks);
        if entries < limits::MAX_DECKS {
            return Ok(entries);
        }
        Ok(self
            .deck_entries()?
            .iter()
            .filter(|(_, e)| !e.deleted && !e.progress_only)
            .count())
    }

    /// The deck as the app's `Deck` JSON (with `markdown`), read from its
    /// document; `None` when this device does not hold the document.
    pub(super) fn deck_json(
        &self,
        doc_id: crate::DocumentId,
    ) -> Result<Option<Value>, ReplicaError> {
        self.deck_value(doc_id, true)
    }

    /// The deck's stored fields and markdown; with `derived`, also what is
    /// derived from the markdown (`cards`, the `originalMarkdown` mirror),
    /// which a write, about to replace them, need not parse.
    fn deck_value(
        &self,
        doc_id: crate::DocumentId,
        derived: bool,
    ) -> Result<Option<Value>, ReplicaError> {
        let Some(doc) = self.doc_of(&doc_id, DocKind::Deck)? else {
            return Ok(None);
        };
        let mut out = Map::new();
        if let Some(id) = super::get_str(doc, &ROOT, "deckId")? {
            out.insert("id".into(), Value::String(id));
        }
        for key in ["name", "description", "emoji"] {
            let v = super::get_str(doc, &ROOT, key)?.unwrap_or_default();
            out.insert(key.into(), Value::String(v));
        }
        for key in ["metadata", "settings"] {
            let v = json::read_prop(doc, &ROOT, key)?.unwrap_or_else(|| json!({}));
            out.insert(key.into(), v);
        }
        let md = top(doc, "markdown", ObjType::Text, doc_id)?;
        let text = doc.text(&md)?;
        if derived {
            let deck_id = out.get("id").and_then(Value::as_str).unwrap_or_default();
            // Cards always follow the merged text. A deck written by an older
            // version with cards and no text keeps the cards it stored.
            let cards = match super::get_str(doc, &ROOT, "cards")? {
                Some(stored) if text.is_empty() => {
                    serde_json::from_str(&stored).unwrap_or(json!([]))
                }
                _ => Value::Array(cards::parse(deck_id, &text)),
            };
            out.insert("cards".into(), cards);
            if !text.is_empty() {
                if let Some(Value::Object(meta)) = out.get_mut("metadata") {
                    meta.insert("originalMarkdown".into(), Value::String(text.clone()));
                }
            }
        }
        out.insert("markdown".into(), Value::String(text));
        if let Some(Value::Object(extra)) = json::read_prop(doc, &ROOT, "extra")? {
            for (k, v) in extra {
                out.entry(k).or_insert(v);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    /// Whether a deck document carries the tombstone.
    pub(super) fn deck_doc_deleted(&self, doc_id: crate::DocumentId) -> Result<bool, ReplicaError> {
        Ok(match self.doc_of(&doc_id, DocKind::Deck)? {
            Some(doc) => get_bool(doc, &ROOT, "deleted")?.unwrap_or(false),
            None => false,
        })
    }
}

/// A deck's entry in the root index.
#[derive(Debug, Clone, Default)]
pub(super) struct IndexEntry {
    pub(super) deleted: bool,
    /// Listed only because progress was imported for it.
    pub(super) progress_only: bool,
    /// Whether the app's `mdoc_index` lists it (false for the sample decks
    /// the app seeded without an entry).
    pub(super) listed: bool,
    /// Its place in the app's `mdoc_index`, when imported from one.
    pub(super) index_position: Option<f64>,
}

impl IndexEntry {
    fn from_json(v: &Value) -> Self {
        IndexEntry {
            deleted: v["deleted"].as_bool().unwrap_or(false),
            progress_only: v["progressOnly"].as_bool().unwrap_or(false),
            listed: v["listed"].as_bool().unwrap_or(true),
            index_position: v["indexPosition"].as_f64(),
        }
    }
}

/// Writes deck fields into the deck document. On create (`fill`), absent
/// metadata and settings get the app's defaults and `extra` is replaced.
fn write_deck_fields(
    tx: &mut Transaction<'_>,
    cx: &EditCx,
    fields: &Map<String, Value>,
    fill: bool,
) -> Result<(), ReplicaError> {
    for key in ["name", "description", "emoji"] {
        match fields.get(key) {
            Some(v) => json::reconcile_prop(tx, &ROOT, key, v, true)?,
            None if fill && tx.get(ROOT, key)?.is_none() => tx.put(ROOT, key, "")?,
            None => {}
        }
    }
    if let Some(Value::String(text)) = fields.get("markdown") {
        let md = top(tx, "markdown", ObjType::Text, cx.doc)?;
        markdown::update(tx, &md, text)?;
    }
    let mut metadata = fields
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut settings = fields
        .get("settings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let meta_obj = top(tx, "metadata", ObjType::Map, cx.doc)?;
    let settings_obj = top(tx, "settings", ObjType::Map, cx.doc)?;
    if fill {
        let now = Value::String(cx.now_iso.clone());
        for (k, v) in [
            ("createdAt", now.clone()),
            ("lastModified", now),
            ("playCount", json!(0)),
            ("source", json!("created")),
            ("tags", json!([])),
            ("difficulty", json!("beginner")),
            ("estimatedTime", json!(0)),
        ] {
            if !metadata.contains_key(k) && tx.get(&meta_obj, k)?.is_none() {
                metadata.insert(k.into(), v);
            }
        }
        for (k, v) in [
            ("shuffleCards", json!(true)),
            ("repeatIncorrect", json!(true)),
            ("studyMode", json!("random")),
        ] {
            if !settings.contains_key(k) && tx.get(&settings_obj, k)?.is_none() {
                settings.insert(k.into(), v);
            }
        }
    } else if !metadata.contains_key("lastModified") {
        metadata.insert("lastModified".into(), Value::String(cx.now_iso.clone()));
    }
    json::reconcile_map(tx, &meta_obj, &metadata, false)?;
    json::reconcile_map(tx, &settings_obj, &settings, false)?;
    let extra: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| !OWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let extra_obj = top(tx, "extra", ObjType::Map, cx.doc)?;
    json::reconcile_map(tx, &extra_obj, &extra, fill)?;
    Ok(())
}

/// Bumps `metadata.lastModified` after a content edit.
fn touch(tx: &mut Transaction<'_>, cx: &EditCx) -> Result<(), ReplicaError> {
    let meta = top(tx, "metadata", ObjType::Map, cx.doc)?;
    json::reconcile_prop(
        tx,
        &meta,
        "lastModified",
        &Value::String(cx.now_iso.clone()),
        false,
    )?;
    Ok(())
}

/// The markdown a deck write asks for, if any: `markdown`, or the app's
/// mirror `metadata.originalMarkdown` (when both are given and differ, the
/// one that differs from `current`, the text held now). When the write
/// also carries `cards` that differ from what that text (or `current`)
/// parses to, the app edited cards: the text is rendered from the cards
/// (and then applied as a diff, so the rest of it merges as text). An
/// empty `cards` beside a given text says nothing.
fn incoming_markdown(
    deck_id: &str,
    fields: &Map<String, Value>,
    current: Option<&str>,
) -> Option<String> {
    let direct = fields.get("markdown").and_then(Value::as_str);
    let mirror = fields
        .get("metadata")
        .and_then(|m| m.get("originalMarkdown"))
        .and_then(Value::as_str);
    let md = match (direct, mirror) {
        (Some(a), Some(b)) if a != b && Some(a) == current => Some(b),
        (a, b) => a.or(b),
    };
    match fields.get("cards").and_then(Value::as_array) {
        Some(list) if !(list.is_empty() && md.is_some()) => {
            let target = md.or(current).unwrap_or_default();
            if cards::same_content(deck_id, target, list) {
                md.map(str::to_string)
            } else {
                Some(cards::render(list))
            }
        }
        _ => md.map(str::to_string),
    }
}

/// A deck write as stored: `markdown` set to what [`incoming_markdown`]
/// chose, `cards` and the `originalMarkdown` mirror dropped (both are
/// derived from the text when read).
fn normalize_fields(fields: &mut Map<String, Value>, markdown: Option<&str>) {
    fields.remove("cards");
    // Read-only: what a reader was shown, never written back.
    fields.remove(super::conflicts::CONFLICTS_KEY);
    fields.remove("markdown");
    if let Some(md) = markdown {
        fields.insert("markdown".into(), Value::String(md.to_string()));
    }
    if let Some(Value::Object(meta)) = fields.get_mut("metadata") {
        meta.remove("originalMarkdown");
    }
}
