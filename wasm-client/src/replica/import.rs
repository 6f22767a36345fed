//! Restoring an account from its own export (`POST /user/import`): a merge
//! that adds what the account lacks and never overwrites what it has, so
//! importing the same export twice changes nothing and an older export
//! cannot roll newer data back.
//!
//! What is taken from the export (every key optional; unknown keys such
//! as `user_id` and `email` are ignored, so an export moves to a new
//! account):
//! - `decks` and `deleted_decks`: decks whose id the account does not
//!   know, created as they were (deleted ones created deleted);
//! - `progress` and `reviews`: per card. A card of which the account has
//!   nothing (no progress, no counts, no review) gets the exported
//!   `CardProgress` as its base and its review events marked `inBase`
//!   (kept for later merges and the history, not counted twice). For a
//!   card the account already has, each review event whose id it lacks is
//!   added and counted; the rest of the exported progress is not applied;
//! - `sessions`: those whose id is missing;
//! - `achievements`: the highest `progress` and `maxProgress`, the earliest
//!   `unlockedAt`, other fields only where the account has none;
//! - `starred`: the union;
//! - `preferences`: only the fields (at any depth) the account has not set.
//!
//! Everything is validated before anything is written.

use super::progress::{self, count_review};
use super::{top, Replica, ReplicaError};
use crate::layout::{self, json, DocKind};
use crate::model::{
    self, limits, timestamp, AchievementProgress, CardProgress, Deck, GameSession, ModelError,
    UserPreferences,
};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One review event of an export, checked.
struct Event<'a> {
    id: &'a str,
    deck_id: &'a str,
    card_id: &'a str,
    fields: &'a Map<String, Value>,
}

/// What an import added, by kind (the answer's `added`).
#[derive(Default)]
struct Added {
    decks: u64,
    deleted_decks: u64,
    progress: u64,
    reviews: u64,
    sessions: u64,
    achievements: u64,
    starred: u64,
    preferences: u64,
}

fn shape(what: &'static str, reason: impl Into<String>) -> ReplicaError {
    ModelError::Shape {
        what,
        reason: reason.into(),
    }
    .into()
}

/// `export[key]` as an object (absent or null: empty).
fn object<'a>(
    export: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a Map<String, Value>>, ReplicaError> {
    match export.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(shape(key, "must be an object")),
    }
}

/// `export[key]` as an array (absent or null: empty).
fn array<'a>(
    export: &'a Map<String, Value>,
    key: &'static str,
) -> Result<&'a [Value], ReplicaError> {
    match export.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(shape(key, "must be an array")),
    }
}

fn check_event(v: &Value) -> Result<Event<'_>, ReplicaError> {
    let e = v
        .as_object()
        .ok_or_else(|| shape("review", "must be an object"))?;
    let text = |k: &'static str| -> Result<&str, ReplicaError> {
        let s = e
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| shape("review", format!("{k} must be a string")))?;
        limits::check_required(k, s, limits::MAX_ID_BYTES)?;
        Ok(s)
    };
    let event = Event {
        id: text("id")?,
        deck_id: text("deckId")?,
        card_id: text("cardId")?,
        fields: e,
    };
    timestamp::parse_ms("review.at", text("at")?)?;
    if !e.get("correct").is_some_and(Value::is_boolean) {
        return Err(shape("review", "correct must be a boolean"));
    }
    if e.get("responseMs")
        .is_some_and(|r| r.as_u64().is_none_or(|ms| ms > 86_400_000))
    {
        return Err(ModelError::OutOfRange {
            field: "review.responseMs".into(),
        }
        .into());
    }
    if e.get("quality")
        .is_some_and(|q| q.as_u64().is_none_or(|q| q > 5))
    {
        return Err(ModelError::OutOfRange {
            field: "review.quality".into(),
        }
        .into());
    }
    limits::check_json("review", v, 1)?;
    Ok(event)
}

/// `base` with every field of `extra` it lacks, at any depth.
fn fill_unset(base: &mut Map<String, Value>, extra: &Map<String, Value>) -> u64 {
    let mut filled = 0;
    for (k, v) in extra {
        match (base.get_mut(k), v) {
            (None, _) => {
                base.insert(k.clone(), v.clone());
                filled += 1;
            }
            (Some(Value::Object(mine)), Value::Object(theirs)) => {
                filled += fill_unset(mine, theirs);
            }
            _ => {}
        }
    }
    filled
}

/// An achievement after merging the account's and the export's: highest
/// progress, earliest unlock, other fields only where unset.
fn merge_achievement(mine: &Value, theirs: &Value) -> Value {
    let mut out = mine.as_object().cloned().unwrap_or_default();
    let Some(t) = theirs.as_object() else {
        return Value::Object(out);
    };
    for field in ["progress", "maxProgress"] {
        let Some(theirs_n) = t.get(field).and_then(Value::as_f64) else {
            continue;
        };
        if out
            .get(field)
            .and_then(Value::as_f64)
            .is_none_or(|mine_n| theirs_n > mine_n)
        {
            out.insert(field.into(), t[field].clone());
        }
    }
    if let Some(theirs_at) = t.get("unlockedAt").and_then(Value::as_str) {
        let earlier = out
            .get("unlockedAt")
            .and_then(Value::as_str)
            .is_none_or(|mine_at| theirs_at < mine_at);
        if earlier {
            out.insert("unlockedAt".into(), t["unlockedAt"].clone());
        }
    }
    fill_unset(&mut out, t);
    Value::Object(out)
}

impl Replica {
    /// Merges a `GET /user/export` value into this replica (see the module
    /// documentation) and returns the summary `{added: {...}, account:
    /// {...}}`. The replica needs at least the documents of
    /// [`Replica::import_documents`]. On error nothing has been written.
    pub fn import_export(&mut self, export: &Value) -> Result<Value, ReplicaError> {
        let export = export
            .as_object()
            .ok_or_else(|| shape("export", "must be an object"))?;
        let live = object(export, "decks")?;
        let deleted = object(export, "deleted_decks")?;
        let progress = object(export, "progress")?;
        let sessions = object(export, "sessions")?;
        let achievements = object(export, "achievements")?;
        let prefs = object(export, "preferences")?;
        let starred = array(export, "starred")?;
        let reviews = array(export, "reviews")?;

        // Validate everything first.
        for (id, deck) in live.into_iter().chain(deleted).flatten() {
            let parsed: Deck = model::parse("deck", deck)?;
            if parsed.id != *id {
                return Err(shape(
                    "deck",
                    format!("id {:?} does not match its key", parsed.id),
                ));
            }
        }
        for (card, p) in progress.into_iter().flatten() {
            let parsed: CardProgress = model::parse("progress", p)?;
            if parsed.card_id != *card {
                return Err(shape("progress", "cardId does not match its key"));
            }
        }
        for s in sessions.into_iter().flat_map(Map::values) {
            let parsed: GameSession = model::parse("session", s)?;
            timestamp::month_of("session.startTime", &parsed.start_time)?;
        }
        for a in achievements.into_iter().flat_map(Map::values) {
            model::parse::<AchievementProgress>("achievement", a)?;
        }
        let mut starred_ids = Vec::new();
        for id in starred {
            let id = id
                .as_str()
                .ok_or_else(|| shape("starred", "ids must be strings"))?;
            limits::check_required("starred[]", id, limits::MAX_ID_BYTES)?;
            starred_ids.push(id);
        }
        let events = reviews
            .iter()
            .map(check_event)
            .collect::<Result<Vec<_>, _>>()?;
        let mut merged_prefs = self.preferences()?;
        let prefs_filled = match prefs {
            Some(p) => fill_unset(&mut merged_prefs, p),
            None => 0,
        };
        if prefs_filled > 0 {
            model::parse::<UserPreferences>("preferences", &Value::Object(merged_prefs.clone()))?;
        }

        let known: BTreeSet<String> = self
            .deck_entries()?
            .into_iter()
            .filter(|(_, e)| !e.progress_only)
            .map(|(id, _)| id)
            .collect();
        let new_deleted: Vec<&Value> = deleted
            .into_iter()
            .flatten()
            .filter(|(id, _)| !known.contains(*id))
            .map(|(_, d)| d)
            .collect();
        let new_live: Vec<&Value> = live
            .into_iter()
            .flatten()
            .filter(|(id, _)| !known.contains(*id) && !deleted.is_some_and(|d| d.contains_key(*id)))
            .map(|(_, d)| d)
            .collect();
        let live_now = self.index_counts()?.0;
        if live_now + new_live.len() > limits::MAX_DECKS
            || (!new_deleted.is_empty() && live_now >= limits::MAX_DECKS)
        {
            return Err(ReplicaError::TooManyDecks);
        }
        // Cards of which the account has anything, before this import.
        let mut has_card: BTreeSet<(String, String)> = BTreeSet::new();
        let mut has_event: BTreeSet<(String, String)> = BTreeSet::new();
        for (deck_id, _) in self.deck_entries()? {
            let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
            let Some(doc) = self.doc_of(&doc_id, DocKind::Deck)? else {
                continue;
            };
            for card in progress::deck_progress(doc, doc_id, &deck_id)?.into_keys() {
                has_card.insert((deck_id.clone(), card));
            }
            for e in progress::review_events(doc, doc_id)? {
                if let Some(id) = e.get("id").and_then(Value::as_str) {
                    has_event.insert((deck_id.clone(), id.to_owned()));
                }
            }
        }

        let mut added = Added::default();
        // Deleted decks first: each is created, then deleted, so restoring
        // them never needs room under the deck limit.
        for deck in new_deleted {
            self.create_deck(deck)?;
            let id = deck["id"].as_str().unwrap_or_default();
            self.delete_deck(id)?;
            added.deleted_decks += 1;
        }
        for deck in new_live {
            self.create_deck(deck)?;
            added.decks += 1;
        }

        let mut in_base: BTreeSet<(String, String)> = BTreeSet::new();
        for p in progress.into_iter().flat_map(Map::values) {
            let (deck, card) = (
                p["deckId"].as_str().unwrap_or_default().to_owned(),
                p["cardId"].as_str().unwrap_or_default().to_owned(),
            );
            if has_card.contains(&(deck.clone(), card.clone())) {
                continue;
            }
            self.import_progress(p)?;
            in_base.insert((deck, card));
            added.progress += 1;
        }

        let mut by_deck: BTreeMap<&str, Vec<&Event<'_>>> = BTreeMap::new();
        // Owned pairs: the same set type as `has_event`, one copy of its code.
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for e in &events {
            let pair = (e.deck_id.to_owned(), e.id.to_owned());
            if !has_event.contains(&pair) && seen.insert(pair) {
                by_deck.entry(e.deck_id).or_default().push(e);
            }
        }
        for (deck_id, events) in by_deck {
            added.reviews += events.len() as u64;
            self.add_events(deck_id, &events, &in_base)?;
        }

        if let Some(sessions) = sessions {
            let mine = self.sessions()?;
            for (id, s) in sessions {
                if !mine.contains_key(id) {
                    self.record_session(s)?;
                    added.sessions += 1;
                }
            }
        }
        if let Some(achievements) = achievements {
            let mine = self.achievements()?;
            for (id, theirs) in achievements {
                let merged = match mine.get(id) {
                    Some(m) => merge_achievement(m, theirs),
                    None => theirs.clone(),
                };
                if mine.get(id) != Some(&merged) {
                    self.set_achievement(&merged)?;
                    added.achievements += 1;
                }
            }
        }
        let mine: BTreeSet<String> = self.starred()?.into_iter().collect();
        for id in starred_ids {
            if !mine.contains(id) {
                self.star(id)?;
                added.starred += 1;
            }
        }
        if prefs_filled > 0 {
            self.merge_preferences(&Value::Object(merged_prefs))?;
            added.preferences = prefs_filled;
        }
        self.import_summary(&added)
    }

    /// Appends review events to a deck's document (creating a progress-only
    /// entry for a deck the account does not list); those of `in_base`
    /// cards are marked `inBase`, the others counted.
    fn add_events(
        &mut self,
        deck_id: &str,
        events: &[&Event<'_>],
        in_base: &BTreeSet<(String, String)>,
    ) -> Result<(), ReplicaError> {
        let doc_id = layout::deck_doc_id(&self.user_id, deck_id);
        if self.deck_entry(deck_id)?.is_none() {
            self.ensure_doc(DocKind::Deck, deck_id, doc_id)?;
            self.write_index_entry(deck_id, "", "", Some(false), Some(true))?;
        }
        self.ensure_doc(DocKind::Deck, deck_id, doc_id)?;
        self.edit(doc_id, |tx, cx| {
            let list = top(tx, "reviews", ObjType::List, cx.doc)?;
            for e in events {
                let mut fields: Map<String, Value> = e
                    .fields
                    .iter()
                    .filter(|(k, _)| k.as_str() != "deckId" && k.as_str() != "inBase")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let counted = !in_base.contains(&(deck_id.to_owned(), e.card_id.to_owned()));
                if !counted {
                    fields.insert("inBase".into(), Value::Bool(true));
                }
                let obj = tx.insert_object(&list, tx.length(&list), ObjType::Map)?;
                json::reconcile_map(tx, &obj, &fields, false)?;
                if counted {
                    let correct = fields["correct"].as_bool().unwrap_or(false);
                    count_review(tx, cx, e.card_id, correct)?;
                }
            }
            Ok(())
        })
    }

    /// The documents an import of `export` may read or write: the root,
    /// the deck documents of every deck it names, the session documents of
    /// the months of its sessions. A replica of just these (and of what
    /// the account has of them) is enough for [`Replica::import_export`],
    /// so one import never loads the whole account.
    pub fn import_documents(user_id: &str, export: &Value) -> Vec<crate::DocumentId> {
        let mut decks: BTreeSet<&str> = BTreeSet::new();
        for key in ["decks", "deleted_decks"] {
            if let Some(m) = export.get(key).and_then(Value::as_object) {
                decks.extend(m.keys().map(String::as_str));
            }
        }
        if let Some(m) = export.get("progress").and_then(Value::as_object) {
            decks.extend(m.values().filter_map(|p| p["deckId"].as_str()));
        }
        if let Some(a) = export.get("reviews").and_then(Value::as_array) {
            decks.extend(a.iter().filter_map(|r| r["deckId"].as_str()));
        }
        let mut months: BTreeSet<String> = BTreeSet::new();
        if let Some(m) = export.get("sessions").and_then(Value::as_object) {
            for s in m.values() {
                if let Some(Ok(month)) = s["startTime"]
                    .as_str()
                    .map(|t| timestamp::month_of("session.startTime", t))
                {
                    months.insert(month);
                }
            }
        }
        std::iter::once(layout::root_id(user_id))
            .chain(decks.into_iter().map(|d| layout::deck_doc_id(user_id, d)))
            .chain(months.iter().map(|m| layout::sessions_doc_id(user_id, m)))
            .collect()
    }

    /// `(live, deleted)` decks by the root's index alone.
    fn index_counts(&self) -> Result<(usize, usize), ReplicaError> {
        let entries = self.deck_entries()?;
        let listed = entries.iter().filter(|(_, e)| !e.progress_only);
        let deleted = listed.clone().filter(|(_, e)| e.deleted).count();
        Ok((listed.count() - deleted, deleted))
    }

    /// `added` and what the root document says the account holds (the
    /// root alone: an import does not load the whole account).
    fn import_summary(&self, added: &Added) -> Result<Value, ReplicaError> {
        let (live, deleted) = self.index_counts()?;
        Ok(json!({
            "added": {
                "decks": added.decks,
                "deleted_decks": added.deleted_decks,
                "progress": added.progress,
                "reviews": added.reviews,
                "sessions": added.sessions,
                "achievements": added.achievements,
                "starred": added.starred,
                "preferences": added.preferences,
            },
            "account": {
                "decks": live,
                "deleted_decks": deleted,
                "achievements": self.achievements()?.len(),
                "starred": self.starred()?.len(),
            },
        }))
    }
}
