//! Visible conflicts. Where two devices set the same field concurrently,
//! Automerge keeps both values and picks one; readers show the others as
//! `conflicts: {field: [values…]}` on the deck and on the preferences
//! (nested preferences as dotted keys), values sorted, the key absent when
//! there is none. A write of the field resolves it, even of the same value
//! ([`crate::layout::json::reconcile_prop`] writes then). Bookkeeping that
//! the app bumps on every write (`lastUpdated`, `metadata.lastModified`)
//! never counts. `conflicts` is read-only: writes drop it.

use super::{top, Replica, ReplicaError};
use crate::layout::{self, json, DocKind};
use automerge::{Automerge, ObjId, ObjType, ReadDoc, Value as AmValue, ROOT};
use serde_json::{Map, Value};

/// The key readers add to a deck and to the preferences.
pub const CONFLICTS_KEY: &str = "conflicts";

/// Fields the app bumps on every write.
const BOOKKEEPING: [&str; 2] = ["lastUpdated", "metadata.lastModified"];

impl Replica {
    /// The conflicts of deck `deck_id` (empty when none or not held here).
    pub fn deck_conflicts(&self, deck_id: &str) -> Result<Map<String, Value>, ReplicaError> {
        let doc_id = layout::deck_doc_id(&self.user_id, deck_id);
        let mut out = Map::new();
        let Some(doc) = self.doc_of(&doc_id, DocKind::Deck)? else {
            return Ok(out);
        };
        for key in ["name", "description", "emoji"] {
            scalar_conflict(doc, &ROOT, key, key, &mut out)?;
        }
        for (map, prefix) in [
            ("metadata", "metadata."),
            ("settings", "settings."),
            ("extra", ""),
        ] {
            let obj = top(doc, map, ObjType::Map, doc_id)?;
            for key in doc.keys(&obj) {
                let path = format!("{prefix}{key}");
                if path != "metadata.originalMarkdown" {
                    scalar_conflict(doc, &obj, &key, &path, &mut out)?;
                }
            }
        }
        Ok(out)
    }

    /// The conflicts of the preferences, by dotted path.
    pub fn preference_conflicts(&self) -> Result<Map<String, Value>, ReplicaError> {
        let root = self.root()?;
        let prefs = top(root, "preferences", ObjType::Map, self.root_id())?;
        let mut out = Map::new();
        map_conflicts(root, &prefs, "", &mut out)?;
        Ok(out)
    }

    /// Every conflict: `{decks: {id: {field: [values]}}, preferences:
    /// {path: [values]}}` (live decks only; empty maps when none). Reads no
    /// deck's cards, so a device can check it after every remote change.
    pub fn all_conflicts(&self) -> Result<Map<String, Value>, ReplicaError> {
        let mut decks = Map::new();
        for (id, entry) in self.deck_entries()? {
            if entry.deleted || entry.progress_only {
                continue;
            }
            let found = self.deck_conflicts(&id)?;
            if !found.is_empty() {
                decks.insert(id, Value::Object(found));
            }
        }
        let mut out = Map::new();
        out.insert("decks".into(), Value::Object(decks));
        out.insert(
            "preferences".into(),
            Value::Object(self.preference_conflicts()?),
        );
        Ok(out)
    }

    /// Adds `conflicts` to each deck of `decks` (id → `Deck`) that has any.
    pub fn annotate_decks(&self, decks: &mut Map<String, Value>) -> Result<(), ReplicaError> {
        for (id, deck) in decks.iter_mut() {
            let found = self.deck_conflicts(id)?;
            if let (false, Value::Object(d)) = (found.is_empty(), deck) {
                d.insert(CONFLICTS_KEY.into(), Value::Object(found));
            }
        }
        Ok(())
    }

    /// Adds `conflicts` to the preferences object when there are any.
    pub fn annotate_preferences(&self, prefs: &mut Map<String, Value>) -> Result<(), ReplicaError> {
        let found = self.preference_conflicts()?;
        if !found.is_empty() {
            prefs.insert(CONFLICTS_KEY.into(), Value::Object(found));
        }
        Ok(())
    }
}

/// Every scalar conflict under the map `obj`, recursing into nested maps
/// (all concurrent copies of a nested map, as readers merge them).
fn map_conflicts(
    doc: &Automerge,
    obj: &ObjId,
    prefix: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ReplicaError> {
    for key in doc.keys(obj) {
        let path = format!("{prefix}{key}");
        for (v, id) in doc.get_all(obj, key.as_str())? {
            if matches!(v, AmValue::Object(ObjType::Map)) {
                map_conflicts(doc, &id, &format!("{path}."), out)?;
            }
        }
        scalar_conflict(doc, obj, &key, &path, out)?;
    }
    Ok(())
}

/// Records `path` in `out` when `obj[key]` holds two or more different
/// non-map values.
fn scalar_conflict(
    doc: &Automerge,
    obj: &ObjId,
    key: &str,
    path: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ReplicaError> {
    if BOOKKEEPING.contains(&path) || path.ends_with(".lastUpdated") {
        return Ok(());
    }
    let all = doc.get_all(obj, key)?;
    if all.len() < 2 {
        return Ok(());
    }
    let mut values: Vec<Value> = Vec::new();
    for (v, id) in &all {
        let value = match v {
            AmValue::Object(ObjType::Map) => continue,
            AmValue::Object(t) => json::read_obj(doc, id, *t)?,
            AmValue::Scalar(s) => json::scalar_to_json(s),
        };
        if !values.contains(&value) {
            values.push(value);
        }
    }
    if values.len() > 1 {
        values.sort_by(|a, b| match (a, b) {
            (Value::String(x), Value::String(y)) => x.cmp(y),
            _ => a.to_string().cmp(&b.to_string()),
        });
        out.insert(path.to_string(), Value::Array(values));
    }
    Ok(())
}
