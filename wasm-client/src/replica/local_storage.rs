//! Import from and export to MyFlashPlay's localStorage, the app's own
//! storage before sync: a map of keys to JSON (or markdown) strings.
//!
//! Keys: `myflashplay_preferences`, `myflashplay_decks`,
//! `myflashplay_scores`, `myflashplay_progress`, `myflashplay_achievements`,
//! `mdoc_<deck id>` (markdown) with `mdoc_index`, `starred_public_decks`.
//! Import then export keeps every field; normalizations:
//! - arrays keyed by id come back sorted: `sessions` by `startTime` then
//!   id, `achievements` by id, `mdoc_index` by `lastModified` then id,
//!   `myflashplay_decks.decks` by id;
//! - wrapper fields (`version`, `lastUpdated`, `statistics`,
//!   `totalPoints`) are kept as imported, not recomputed;
//! - `mdoc_<id>_backup_<n>` keys and unknown keys are not imported;
//! - a deck goes to `mdoc_<id>` when it has markdown and to
//!   `myflashplay_decks` when it has parsed `cards`;
//! - a markdown-only deck gets the app's default metadata and settings,
//!   with `createdAt` = its index `lastModified`.

use super::{top, Replica, ReplicaError};
use crate::layout::json;
use crate::model::{
    self, limits, timestamp, AchievementProgress, CardProgress, Deck, GameSession, UserPreferences,
};
use automerge::ObjType;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A localStorage snapshot: key → stored string.
pub type LocalStorage = BTreeMap<String, String>;

const PREFERENCES: &str = "myflashplay_preferences";
const DECKS: &str = "myflashplay_decks";
const SCORES: &str = "myflashplay_scores";
const PROGRESS: &str = "myflashplay_progress";
const ACHIEVEMENTS: &str = "myflashplay_achievements";
const MDOC_PREFIX: &str = "mdoc_";
const MDOC_INDEX: &str = "mdoc_index";
const STARRED: &str = "starred_public_decks";

/// The collection field inside each wrapper object.
const WRAPPERS: [(&str, &str); 4] = [
    (DECKS, "decks"),
    (SCORES, "sessions"),
    (PROGRESS, "cardProgress"),
    (ACHIEVEMENTS, "achievements"),
];

fn bad(key: &str, reason: impl Into<String>) -> ReplicaError {
    ReplicaError::LocalStorage {
        key: key.chars().take(80).collect(),
        reason: reason.into(),
    }
}

fn parse_json(entries: &LocalStorage, key: &str) -> Result<Option<Value>, ReplicaError> {
    entries
        .get(key)
        .map(|s| serde_json::from_str(s).map_err(|e| bad(key, e.to_string())))
        .transpose()
}

fn array_of<'a>(key: &str, v: &'a Value, field: &str) -> Result<&'a [Value], ReplicaError> {
    match v.get(field) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(bad(key, format!("{field} is not an array"))),
    }
}

/// Checks every value of a snapshot before any is written, so a bad
/// snapshot leaves the replica as it was.
fn validate_all(
    prefs: &Option<Value>,
    decks: &[Value],
    progress: &Option<Value>,
    scores: &Option<Value>,
    achievements: &Option<Value>,
    starred: &[String],
) -> Result<(), ReplicaError> {
    if let Some(p) = prefs {
        model::parse::<UserPreferences>("preferences", p)?;
    }
    for deck in decks {
        model::parse::<Deck>("deck", deck)?;
    }
    if let Some(Value::Object(cards)) = progress.as_ref().and_then(|p| p.get("cardProgress")) {
        for card in cards.values() {
            model::parse::<CardProgress>("progress", card)?;
        }
    }
    if let Some(s) = scores {
        for session in array_of(SCORES, s, "sessions")? {
            let parsed: GameSession = model::parse("session", session)?;
            timestamp::month_of("session.startTime", &parsed.start_time)?;
        }
    }
    if let Some(a) = achievements {
        for achievement in array_of(ACHIEVEMENTS, a, "achievements")? {
            model::parse::<AchievementProgress>("achievement", achievement)?;
        }
    }
    for id in starred {
        limits::check_required("starred[]", id, limits::MAX_ID_BYTES)?;
    }
    Ok(())
}

impl Replica {
    /// Imports a localStorage snapshot (a one-time migration: importing
    /// the same snapshot again after new reviews would count its numbers
    /// twice). Everything is validated before anything is written.
    pub fn import_local_storage(&mut self, entries: &LocalStorage) -> Result<(), ReplicaError> {
        let prefs = parse_json(entries, PREFERENCES)?;
        let decks_wrapper = parse_json(entries, DECKS)?;
        let scores = parse_json(entries, SCORES)?;
        let progress = parse_json(entries, PROGRESS)?;
        let achievements = parse_json(entries, ACHIEVEMENTS)?;
        let starred: Vec<String> = match entries.get(STARRED) {
            Some(s) => serde_json::from_str(s).map_err(|e| bad(STARRED, e.to_string()))?,
            None => Vec::new(),
        };
        let index: Vec<Value> = match entries.get(MDOC_INDEX) {
            Some(s) => serde_json::from_str(s).map_err(|e| bad(MDOC_INDEX, e.to_string()))?,
            None => Vec::new(),
        };

        let decks = self.decks_from_local_storage(entries, decks_wrapper.as_ref(), &index)?;
        if decks.len() > limits::MAX_DECKS {
            return Err(ReplicaError::TooManyDecks);
        }
        validate_all(&prefs, &decks, &progress, &scores, &achievements, &starred)?;
        if let Some(p) = &prefs {
            self.merge_preferences(p)?;
        }
        for deck in &decks {
            self.create_deck(deck)?;
        }
        if let Some(p) = &progress {
            match p.get("cardProgress") {
                Some(Value::Object(cards)) => {
                    for card in cards.values() {
                        self.import_progress(card)?;
                    }
                }
                None => {}
                Some(_) => return Err(bad(PROGRESS, "cardProgress is not an object")),
            }
        }
        if let Some(s) = &scores {
            for session in array_of(SCORES, s, "sessions")? {
                self.record_session(session)?;
            }
        }
        if let Some(a) = &achievements {
            for achievement in array_of(ACHIEVEMENTS, a, "achievements")? {
                self.set_achievement(achievement)?;
            }
        }
        for id in &starred {
            self.star(id)?;
        }
        let wrappers: Vec<(&str, &Option<Value>)> = vec![
            (DECKS, &decks_wrapper),
            (SCORES, &scores),
            (PROGRESS, &progress),
            (ACHIEVEMENTS, &achievements),
        ];
        self.store_wrappers(&wrappers)
    }

    /// The decks of a snapshot as `Deck` JSON with `markdown`: those of
    /// `myflashplay_decks`, then the markdown-only ones of `mdoc_*`.
    fn decks_from_local_storage(
        &self,
        entries: &LocalStorage,
        wrapper: Option<&Value>,
        index: &[Value],
    ) -> Result<Vec<Value>, ReplicaError> {
        let mut decks: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(w) = wrapper {
            for d in array_of(DECKS, w, "decks")? {
                let id = d["id"]
                    .as_str()
                    .ok_or_else(|| bad(DECKS, "a deck has no id"))?;
                decks.insert(id.to_string(), d.clone());
            }
        }
        let mut mdoc_ids: Vec<String> = entries
            .keys()
            .filter_map(|k| k.strip_prefix(MDOC_PREFIX))
            .filter(|id| *id != "index" && !id.contains("_backup_"))
            .map(str::to_string)
            .collect();
        mdoc_ids.sort();
        for id in mdoc_ids {
            let markdown = entries
                .get(&format!("{MDOC_PREFIX}{id}"))
                .cloned()
                .unwrap_or_default();
            let entry = index.iter().find(|e| e["id"].as_str() == Some(id.as_str()));
            let deck = decks.entry(id.clone()).or_insert_with(|| {
                let mut metadata = Map::new();
                // The snapshot has no creation date for these decks; the
                // last change is the best deterministic stand-in (importing
                // one snapshot on two devices then gives equal decks).
                if let Some(lm) = entry.and_then(|e| e.get("lastModified")) {
                    metadata.insert("createdAt".into(), lm.clone());
                    metadata.insert("lastModified".into(), lm.clone());
                }
                metadata.insert("source".into(), json!("imported"));
                json!({
                    "id": id,
                    "name": entry.and_then(|e| e["name"].as_str()).unwrap_or("Untitled Deck"),
                    "emoji": entry.and_then(|e| e["emoji"].as_str()).unwrap_or("📚"),
                    "metadata": metadata,
                })
            });
            if let Value::Object(m) = deck {
                m.insert("markdown".into(), Value::String(markdown));
            }
        }
        Ok(decks.into_values().collect())
    }

    /// Keeps each wrapper's own fields (all but its collection) in the
    /// root's `localStorage` map.
    fn store_wrappers(&mut self, wrappers: &[(&str, &Option<Value>)]) -> Result<(), ReplicaError> {
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let store = top(tx, "localStorage", ObjType::Map, cx.doc)?;
            for (key, value) in wrappers {
                let Some(Value::Object(w)) = value else {
                    continue;
                };
                let collection = WRAPPERS.iter().find(|(k, _)| k == key).map(|(_, c)| *c);
                let own: Map<String, Value> = w
                    .iter()
                    .filter(|(k, _)| Some(k.as_str()) != collection)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                json::reconcile_prop(tx, &store, key, &Value::Object(own), true)?;
            }
            Ok(())
        })
    }

    /// A localStorage snapshot of everything here, as the app stores it.
    pub fn export_local_storage(&self) -> Result<LocalStorage, ReplicaError> {
        let mut out = LocalStorage::new();
        let root = self.root()?;
        let store = top(root, "localStorage", ObjType::Map, self.root_id())?;
        let wrapper = |key: &str| -> Result<Option<Map<String, Value>>, ReplicaError> {
            Ok(match json::read_prop(root, &store, key)? {
                Some(Value::Object(m)) => Some(m),
                _ => None,
            })
        };
        let put = |out: &mut LocalStorage, key: &str, v: &Value| {
            out.insert(key.to_string(), v.to_string());
        };

        let prefs = self.preferences()?;
        if prefs
            .values()
            .any(|v| !matches!(v, Value::Object(m) if m.is_empty()))
        {
            put(&mut out, PREFERENCES, &Value::Object(prefs));
        }

        let decks = self.live_decks()?;
        let mut index = Vec::new();
        let mut full_decks = Vec::new();
        for (id, deck) in &decks {
            let markdown = deck["markdown"].as_str().unwrap_or_default();
            if !markdown.is_empty() {
                out.insert(format!("{MDOC_PREFIX}{id}"), markdown.to_string());
                let mut entry = json!({"id": id, "name": deck["name"], "emoji": deck["emoji"]});
                if let Some(lm) = deck["metadata"].get("lastModified") {
                    entry["lastModified"] = lm.clone();
                }
                index.push(entry);
            }
            if deck.get("cards").is_some() {
                full_decks.push(deck.clone());
            }
        }
        index.sort_by(|a, b| {
            (a["lastModified"].as_str(), a["id"].as_str())
                .cmp(&(b["lastModified"].as_str(), b["id"].as_str()))
        });
        if !index.is_empty() {
            put(&mut out, MDOC_INDEX, &Value::Array(index));
        }
        let mut with_collection =
            |key: &str, field: &str, items: Value, present: bool| -> Result<(), ReplicaError> {
                let w = wrapper(key)?;
                if !present && w.is_none() {
                    return Ok(());
                }
                let mut m = w.unwrap_or_else(|| {
                    let mut m = Map::new();
                    m.insert("version".into(), json!("1.0.0"));
                    m
                });
                m.insert(field.into(), items);
                put(&mut out, key, &Value::Object(m));
                Ok(())
            };
        let has_decks = !full_decks.is_empty();
        with_collection(DECKS, "decks", Value::Array(full_decks), has_decks)?;

        let progress = super::progress::progress_of_all(self, true)?;
        let has_progress = !progress.is_empty();
        with_collection(
            PROGRESS,
            "cardProgress",
            Value::Object(progress),
            has_progress,
        )?;

        let mut sessions: Vec<Value> = self.sessions()?.into_iter().map(|(_, v)| v).collect();
        sessions.sort_by(|a, b| {
            (a["startTime"].as_str(), a["id"].as_str())
                .cmp(&(b["startTime"].as_str(), b["id"].as_str()))
        });
        let has_sessions = !sessions.is_empty();
        with_collection(SCORES, "sessions", Value::Array(sessions), has_sessions)?;

        let achievements: Vec<Value> = self.achievements()?.into_iter().map(|(_, v)| v).collect();
        let has_achievements = !achievements.is_empty();
        with_collection(
            ACHIEVEMENTS,
            "achievements",
            Value::Array(achievements),
            has_achievements,
        )?;

        let starred = self.starred()?;
        if !starred.is_empty() {
            put(&mut out, STARRED, &json!(starred));
        }
        Ok(out)
    }
}
