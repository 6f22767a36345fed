//! Import from and export to MyFlashPlay's localStorage, the app's own
//! storage before sync: a map of keys to the strings the app stored.
//!
//! Keys the app's code writes (its code, not its `STORAGE_SCHEMA` doc, is
//! the reference):
//! - `mdoc_<deck id>`: a deck's markdown, raw; `mdoc_index`: the decks the
//!   app lists, `[{id, name, emoji, lastModified}]`. On first run the app
//!   seeds its bundled sample decks as `mdoc_<id>` keys *without* index
//!   entries; their names exist only in the app's bundle, so the import
//!   names them from the sample list given with
//!   [`Replica::set_samples`] (else `Untitled Deck`, as the app would);
//! - `myflashplay_sessions`: the game sessions, a JSON array;
//! - `myflashplay_achievements`: `{version, achievements, totalPoints,
//!   lastUpdated}`; `myflashplay_preferences`; `starred_public_decks`;
//! - raw (not JSON) strings kept as they are: `myflashplay_daily_streak`,
//!   `myflashplay_last_played`, `myflashplay-ui-theme` (the theme; it now
//!   syncs), `myflashplay-first-time-language`.
//!
//! `myflashplay_decks`, `myflashplay_scores` and `myflashplay_progress`
//! (described by the app's docs, never written by its code) are still
//! read, and written back only when a snapshot had them; `myflashplay_progress`
//! is also written whenever there is progress, since the app's progress
//! page reads it. Card ids the app drew at random in `myflashplay_decks`
//! are mapped onto derived ids (see [`crate::cards`]) by their front, for
//! progress and session results; ids that match no card stay as given.
//!
//! Import then export gives the app's keys back; normalizations:
//! - `mdoc_index` lists the decks the app listed, in its order, then the
//!   decks created since (by creation time); decks the app held without an
//!   index entry (its samples) come back as `mdoc_<id>` keys only;
//! - arrays keyed by id come back sorted: `myflashplay_sessions` by
//!   `startTime` then id, achievements by id;
//! - wrapper fields (`version`, `lastUpdated`, `totalPoints`, ...) are kept
//!   as imported, not recomputed;
//! - `mdoc_<id>_backup_<n>`, `import_log_<n>` and unknown keys are not
//!   imported.

use super::{top, Replica, ReplicaError};
use crate::cards;
use crate::layout::json;
use crate::model::{
    self, limits, timestamp, AchievementProgress, CardProgress, Deck, GameSession, UserPreferences,
};
use automerge::ObjType;
use serde::de::DeserializeOwned;
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
const SESSIONS: &str = "myflashplay_sessions";
/// Keys whose values are kept as the raw strings the app wrote.
const RAW_KEYS: [&str; 4] = [
    "myflashplay_daily_streak",
    "myflashplay_last_played",
    "myflashplay-ui-theme",
    "myflashplay-first-time-language",
];
/// What the app shows for a deck its index does not name.
const UNTITLED: &str = "Untitled Deck";
const DEFAULT_EMOJI: &str = "📚";

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

/// The stored JSON of `key` as a `T` (read through a [`Value`], the one
/// deserializer path the crate compiles its types for), if the key is there.
fn parse_as<T: DeserializeOwned>(
    entries: &LocalStorage,
    key: &str,
) -> Result<Option<T>, ReplicaError> {
    parse_json(entries, key)?
        .map(|v| T::deserialize(&v).map_err(|e| bad(key, e.to_string())))
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
fn validate_all(snap: &Snapshot) -> Result<(), ReplicaError> {
    if let Some(p) = &snap.prefs {
        model::parse::<UserPreferences>("preferences", p)?;
    }
    for deck in &snap.decks {
        model::parse::<Deck>("deck", deck)?;
    }
    for card in &snap.progress {
        model::parse::<CardProgress>("progress", card)?;
    }
    for session in &snap.sessions {
        let parsed: GameSession = model::parse("session", session)?;
        timestamp::month_of("session.startTime", &parsed.start_time)?;
    }
    for achievement in &snap.achievements {
        model::parse::<AchievementProgress>("achievement", achievement)?;
    }
    for id in &snap.starred {
        limits::check_required("starred[]", id, limits::MAX_ID_BYTES)?;
    }
    for (key, v) in &snap.raw {
        limits::check_len(key, v, limits::MAX_SHORT_BYTES)?;
    }
    Ok(())
}

/// A snapshot read and shaped for the replica, before anything is written.
#[derive(Default)]
struct Snapshot {
    prefs: Option<Value>,
    /// Decks as `Deck` JSON with `markdown`.
    decks: Vec<Value>,
    /// Index fields per deck id (`listed`, `indexPosition`).
    index_fields: BTreeMap<String, Map<String, Value>>,
    progress: Vec<Value>,
    sessions: Vec<Value>,
    achievements: Vec<Value>,
    starred: Vec<String>,
    raw: Vec<(String, String)>,
    /// Wrapper objects to keep (their collection field removed).
    wrappers: Vec<(&'static str, Value)>,
}

impl Replica {
    /// Imports a localStorage snapshot (a one-time migration: importing
    /// the same snapshot again after new reviews would count its numbers
    /// twice). Everything is validated before anything is written.
    pub fn import_local_storage(&mut self, entries: &LocalStorage) -> Result<(), ReplicaError> {
        let snap = self.read_snapshot(entries)?;
        if snap.decks.len() > limits::MAX_DECKS {
            return Err(ReplicaError::TooManyDecks);
        }
        validate_all(&snap)?;
        if let Some(p) = &snap.prefs {
            self.merge_preferences(p)?;
        }
        for deck in &snap.decks {
            self.create_deck(deck)?;
            let id = deck["id"].as_str().unwrap_or_default();
            if let Some(fields) = snap.index_fields.get(id) {
                self.set_index_fields(id, fields)?;
            }
        }
        for card in &snap.progress {
            self.import_progress(card)?;
        }
        for session in &snap.sessions {
            self.record_session(session)?;
        }
        for achievement in &snap.achievements {
            self.set_achievement(achievement)?;
        }
        for id in &snap.starred {
            self.star(id)?;
        }
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let store = top(tx, "localStorage", ObjType::Map, cx.doc)?;
            for (key, value) in &snap.wrappers {
                json::reconcile_prop(tx, &store, key, value, true)?;
            }
            for (key, value) in &snap.raw {
                json::reconcile_prop(tx, &store, key, &Value::String(value.clone()), true)?;
            }
            Ok(())
        })
    }

    /// Reads every key this import knows.
    fn read_snapshot(&self, entries: &LocalStorage) -> Result<Snapshot, ReplicaError> {
        let mut snap = Snapshot {
            prefs: parse_json(entries, PREFERENCES)?,
            ..Snapshot::default()
        };
        let decks_wrapper = parse_json(entries, DECKS)?;
        let scores = parse_json(entries, SCORES)?;
        let progress = parse_json(entries, PROGRESS)?;
        let achievements = parse_json(entries, ACHIEVEMENTS)?;
        snap.starred = parse_as(entries, STARRED)?.unwrap_or_default();
        let index: Vec<Value> = parse_as(entries, MDOC_INDEX)?.unwrap_or_default();
        let ids =
            self.decks_from_local_storage(entries, decks_wrapper.as_ref(), &index, &mut snap)?;
        if let Some(p) = &progress {
            match p.get("cardProgress") {
                Some(Value::Object(cards)) => {
                    for card in cards.values() {
                        let mut card = card.clone();
                        remap(&mut card["cardId"], &ids);
                        snap.progress.push(card);
                    }
                }
                None => {}
                Some(_) => return Err(bad(PROGRESS, "cardProgress is not an object")),
            }
        }
        let mut sessions: Vec<Value> = parse_as(entries, SESSIONS)?.unwrap_or_default();
        if let Some(w) = &scores {
            sessions.extend(array_of(SCORES, w, "sessions")?.iter().cloned());
        }
        for session in &mut sessions {
            if let Some(Value::Array(results)) = session.pointer_mut("/details/cardResults") {
                for r in results {
                    remap(&mut r["cardId"], &ids);
                }
            }
        }
        snap.sessions = sessions;
        if let Some(a) = &achievements {
            snap.achievements = array_of(ACHIEVEMENTS, a, "achievements")?.to_vec();
        }
        for (key, value) in [
            (DECKS, &decks_wrapper),
            (SCORES, &scores),
            (PROGRESS, &progress),
            (ACHIEVEMENTS, &achievements),
        ] {
            let Some(Value::Object(w)) = value else {
                continue;
            };
            let collection = WRAPPERS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c);
            let own: Map<String, Value> = w
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != collection)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            snap.wrappers.push((key, Value::Object(own)));
        }
        for key in RAW_KEYS {
            if let Some(v) = entries.get(key) {
                snap.raw.push((key.to_string(), v.clone()));
            }
        }
        Ok(snap)
    }

    /// The decks of a snapshot as `Deck` JSON with `markdown`: those of
    /// `mdoc_*` (named by the index, else by the bundled samples), and
    /// those only `myflashplay_decks` holds. Returns the app's random card
    /// ids mapped onto derived ones.
    fn decks_from_local_storage(
        &self,
        entries: &LocalStorage,
        wrapper: Option<&Value>,
        index: &[Value],
        snap: &mut Snapshot,
    ) -> Result<BTreeMap<String, Value>, ReplicaError> {
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
            let position = index
                .iter()
                .position(|e| e["id"].as_str() == Some(id.as_str()));
            let entry = position.map(|p| &index[p]);
            let sample = self.samples.get(&id);
            let deck = decks
                .entry(id.clone())
                .or_insert_with(|| markdown_only_deck(&id, &markdown, entry, sample));
            if let Value::Object(m) = deck {
                m.insert("markdown".into(), Value::String(markdown));
            }
            let mut fields = Map::new();
            match position {
                Some(p) => {
                    fields.insert("indexPosition".into(), json!(p));
                }
                None => {
                    fields.insert("listed".into(), json!(false));
                }
            }
            snap.index_fields.insert(id, fields);
        }
        // Ids the app drew at random, by what their card says.
        let mut ids = BTreeMap::new();
        for (deck_id, deck) in &decks {
            let md = deck["markdown"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    deck["cards"]
                        .as_array()
                        .map(|c| cards::render(c))
                        .unwrap_or_default()
                });
            let derived = cards::ids_by_front(deck_id, &md);
            for card in deck["cards"].as_array().into_iter().flatten() {
                let front = cards::normalize_front(card["front"].as_str().unwrap_or_default());
                if let (Some(old), Some(new)) = (card["id"].as_str(), derived.get(&front)) {
                    ids.insert(old.to_string(), new.clone());
                }
            }
        }
        // The app reads its decks from the markdown: where a deck has
        // both, the markdown is the deck.
        for deck in decks.values_mut() {
            if let Some(m) = deck.as_object_mut().filter(|m| m.contains_key("markdown")) {
                m.remove("cards");
            }
        }
        snap.decks = decks.into_values().collect();
        Ok(ids)
    }

    /// A localStorage snapshot of everything here, as the app stores it.
    pub fn export_local_storage(&self) -> Result<LocalStorage, ReplicaError> {
        let mut out = LocalStorage::new();
        let root = self.root()?;
        let store = top(root, "localStorage", ObjType::Map, self.root_id())?;
        let kept = |key: &str| -> Result<Option<Value>, ReplicaError> {
            Ok(json::read_prop(root, &store, key)?)
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
        let entries: BTreeMap<String, super::decks::IndexEntry> =
            self.deck_entries()?.into_iter().collect();
        let mut index = Map::new();
        for (id, deck) in &decks {
            let markdown = deck["markdown"].as_str().unwrap_or_default();
            if !markdown.is_empty() {
                out.insert(format!("{MDOC_PREFIX}{id}"), markdown.to_string());
            }
            let listing = entries.get(id);
            if listing.is_some_and(|e| !e.listed) {
                continue;
            }
            let mut entry = json!({"id": id, "name": deck["name"], "emoji": deck["emoji"]});
            if let Some(lm) = deck["metadata"].get("lastModified") {
                entry["lastModified"] = lm.clone();
            }
            // Ordered by a key that sorts as (place in the app's index,
            // else after all of them; creation time; id).
            let position = listing
                .and_then(|e| e.index_position)
                .map_or(u64::MAX, |p| p as u64);
            let created = deck["metadata"]["createdAt"].as_str().unwrap_or_default();
            index.insert(format!("{position:020}\u{0}{created}\u{0}{id}"), entry);
        }
        if !index.is_empty() {
            let list: Vec<Value> = index.into_values().collect();
            put(&mut out, MDOC_INDEX, &Value::Array(list));
        }
        let mut with_collection =
            |key: &str, field: &str, items: Value, present: bool| -> Result<(), ReplicaError> {
                let w = match kept(key)? {
                    Some(Value::Object(m)) => Some(m),
                    _ => None,
                };
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
        let full_decks: Vec<Value> = decks.values().cloned().collect();
        with_collection(DECKS, "decks", Value::Array(full_decks), false)?;

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
        with_collection(SCORES, "sessions", Value::Array(sessions.clone()), false)?;

        let achievements: Vec<Value> = self.achievements()?.into_iter().map(|(_, v)| v).collect();
        let has_achievements = !achievements.is_empty();
        with_collection(
            ACHIEVEMENTS,
            "achievements",
            Value::Array(achievements),
            has_achievements,
        )?;

        if !sessions.is_empty() {
            put(&mut out, SESSIONS, &Value::Array(sessions));
        }
        let starred = self.starred()?;
        if !starred.is_empty() {
            put(&mut out, STARRED, &json!(starred));
        }
        for key in RAW_KEYS {
            if let Some(Value::String(v)) = kept(key)? {
                out.insert(key.to_string(), v);
            }
        }
        Ok(out)
    }
}

/// `old` replaced by its derived id when the map knows it.
fn remap(id: &mut Value, ids: &BTreeMap<String, Value>) {
    if let Some(new) = id.as_str().and_then(|old| ids.get(old)) {
        *id = new.clone();
    }
}

/// A deck the snapshot holds only as markdown, as the app shows it: named
/// by its index entry, else by the bundled sample of that id, else
/// `Untitled Deck`; the description the app derives (the sample's own for
/// a sample); the app's estimate of the playing time.
fn markdown_only_deck(
    id: &str,
    markdown: &str,
    entry: Option<&Value>,
    sample: Option<&crate::model::SampleDeck>,
) -> Value {
    let mut metadata = Map::new();
    // The snapshot has no creation date for these decks; the last change
    // is the best deterministic stand-in (importing one snapshot on two
    // devices then gives equal decks).
    if let Some(lm) = entry.and_then(|e| e.get("lastModified")) {
        metadata.insert("createdAt".into(), lm.clone());
        metadata.insert("lastModified".into(), lm.clone());
    }
    metadata.insert("source".into(), json!("imported"));
    let cards = cards::parse(id, markdown).len();
    metadata.insert("estimatedTime".into(), json!(cards.div_ceil(10) * 5));
    if let Some(s) = sample.filter(|s| !s.tags.is_empty()) {
        metadata.insert("tags".into(), json!(s.tags));
    }
    let name = entry
        .and_then(|e| e["name"].as_str())
        .or(sample.map(|s| s.name.as_str()))
        .unwrap_or(UNTITLED);
    let emoji = entry
        .and_then(|e| e["emoji"].as_str())
        .or(sample.and_then(|s| s.emoji.as_deref()))
        .unwrap_or(DEFAULT_EMOJI);
    let description = match sample {
        Some(s) if entry.is_none() => s.description.clone(),
        _ => app_description(markdown),
    };
    json!({
        "id": id, "name": name, "emoji": emoji, "description": description,
        "metadata": metadata,
    })
}

/// The description the app derives from a deck's markdown: its first line
/// after the first that is not blank, not a header, not a list item and
/// holds no `::`.
fn app_description(markdown: &str) -> String {
    markdown
        .split('\n')
        .skip(1)
        .find(|l| {
            !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with('-') && !l.contains("::")
        })
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}
