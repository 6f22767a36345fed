//! Card progress: review events, counters, and the derived `CardProgress`.
//!
//! Counters are keyed `card|field|actor` in the deck document's `counters`
//! map, which exists from genesis: each device only ever creates its own
//! keys, so two devices never create the same counter concurrently (which
//! would make one of them lose its count). A card's count is the sum over
//! devices plus what was imported (`progressBase`).

use super::{top, Replica, ReplicaError};
use crate::layout::{self, json};
use crate::model::{self, limits, timestamp, CardProgress};
use crate::sm2::{self, Review, Schedule};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ScalarValue, ScalarValueRef, ValueRef, ROOT};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One answer to record.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewInput {
    /// The deck holding the card.
    pub deck_id: String,
    /// The card.
    pub card_id: String,
    /// Answered right.
    pub correct: bool,
    /// Answer time, milliseconds.
    pub response_ms: u64,
    /// When, ISO-8601 UTC.
    pub at: String,
    /// Explicit SM-2 quality 0..=5.
    pub quality: Option<u8>,
}

const FIELDS: [&str; 3] = ["views", "correctCount", "incorrectCount"];

impl Replica {
    /// Records one review: a review event appended to the deck's list and
    /// the card's counters incremented, in one commit. Returns the event id.
    pub fn record_review(&mut self, review: &ReviewInput) -> Result<String, ReplicaError> {
        limits::check_required("review.cardId", &review.card_id, limits::MAX_ID_BYTES)?;
        timestamp::parse_ms("review.at", &review.at)?;
        if review.quality.is_some_and(|q| q > 5) {
            return Err(model::ModelError::OutOfRange {
                field: "review.quality".into(),
            }
            .into());
        }
        if review.response_ms > 86_400_000 {
            return Err(model::ModelError::OutOfRange {
                field: "review.responseMs".into(),
            }
            .into());
        }
        let doc_id = layout::deck_doc_id(&self.user_id, &review.deck_id);
        match self.deck_entry(&review.deck_id)? {
            Some(e) if !e.deleted && self.doc_of(&doc_id, layout::DocKind::Deck)?.is_some() => {}
            _ => return Err(ReplicaError::DeckNotFound(review.deck_id.clone())),
        }
        self.edit(doc_id, |tx, cx| {
            let reviews = top(tx, "reviews", ObjType::List, cx.doc)?;
            let event = tx.insert_object(&reviews, tx.length(&reviews), ObjType::Map)?;
            let id = event.to_string();
            tx.put(&event, "id", id.as_str())?;
            tx.put(&event, "cardId", review.card_id.as_str())?;
            tx.put(&event, "at", review.at.as_str())?;
            tx.put(&event, "device", cx.actor_hex.as_str())?;
            tx.put(&event, "correct", review.correct)?;
            tx.put(&event, "responseMs", review.response_ms)?;
            if let Some(q) = review.quality {
                tx.put(&event, "quality", u64::from(q))?;
            }
            count_review(tx, cx, &review.card_id, review.correct)?;
            Ok(id)
        })
    }

    /// Stores imported progress of one card as its base (a later import of
    /// the same card replaces it).
    pub(super) fn import_progress(&mut self, progress: &Value) -> Result<(), ReplicaError> {
        let parsed: CardProgress = model::parse("progress", progress)?;
        let doc_id = layout::deck_doc_id(&self.user_id, &parsed.deck_id);
        if self.deck_entry(&parsed.deck_id)?.is_none() {
            self.ensure_doc(layout::DocKind::Deck, &parsed.deck_id, doc_id)?;
            self.write_index_entry(&parsed.deck_id, "", "", Some(false), Some(true))?;
        }
        self.ensure_doc(layout::DocKind::Deck, &parsed.deck_id, doc_id)?;
        self.edit(doc_id, |tx, cx| {
            let base = top(tx, "progressBase", ObjType::Map, cx.doc)?;
            json::reconcile_prop(tx, &base, &parsed.card_id, progress, true)?;
            Ok(())
        })
    }

    /// Ids of every review event held here, of every deck (deleted ones
    /// too): what a "no review lost" check compares.
    pub fn review_ids(&self) -> Result<Vec<String>, ReplicaError> {
        let mut out = Vec::new();
        for (id, doc) in &self.docs {
            if super::get_str(doc, &ROOT, "kind")?.as_deref() == Some("deck") {
                out.extend(
                    review_events(doc, *id)?
                        .into_iter()
                        .filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_string)),
                );
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Counts one review of `card` in this device's counters (`views` and the
/// outcome), in the open transaction.
pub(super) fn count_review(
    tx: &mut automerge::transaction::Transaction<'_>,
    cx: &super::EditCx,
    card: &str,
    correct: bool,
) -> Result<(), ReplicaError> {
    let counters = top(tx, "counters", ObjType::Map, cx.doc)?;
    let outcome = if correct {
        "correctCount"
    } else {
        "incorrectCount"
    };
    for field in ["views", outcome] {
        let key = format!("{card}|{field}|{}", cx.actor_hex);
        if tx.get(&counters, key.as_str())?.is_some() {
            tx.increment(&counters, key.as_str(), 1)?;
        } else {
            tx.put(&counters, key.as_str(), ScalarValue::counter(1))?;
        }
    }
    Ok(())
}

/// Every well-formed review event of a deck document as stored: a map
/// with `cardId`, a valid `at` and `correct`. Malformed events (written
/// by another client) are skipped, not fatal.
pub(super) fn review_events(
    doc: &Automerge,
    doc_id: crate::DocumentId,
) -> Result<Vec<Map<String, Value>>, ReplicaError> {
    let list = top(doc, "reviews", ObjType::List, doc_id)?;
    let mut out = Vec::new();
    // One pass over the list: reading by index costs a seek each.
    for item in doc.list_range(&list, ..) {
        if !matches!(item.value, automerge::ValueRef::Object(ObjType::Map)) {
            continue;
        }
        let event = item.id();
        let Value::Object(e) = json::read_obj(doc, &event, ObjType::Map)? else {
            continue;
        };
        let well_formed = e["cardId"].is_string()
            && e["correct"].is_boolean()
            && e["at"]
                .as_str()
                .is_some_and(|at| timestamp::parse_ms("review.at", at).is_ok());
        if well_formed {
            out.push(e);
        }
    }
    Ok(out)
}

/// The review events (of [`review_events`]) that count, with their card
/// ids. Events marked `inBase` (restored from an export together with the
/// card's progress, which already counts them) are left out.
fn counted_reviews(events: &[Map<String, Value>]) -> Vec<(String, Review)> {
    let mut out = Vec::new();
    for e in events {
        if e.get("inBase").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let (Some(card), Some(at), Some(correct)) = (
            e["cardId"].as_str(),
            e["at"].as_str(),
            e["correct"].as_bool(),
        ) else {
            continue;
        };
        let Ok(at_ms) = timestamp::parse_ms("review.at", at) else {
            continue;
        };
        out.push((
            card.to_string(),
            Review {
                at_ms,
                device: e
                    .get("device")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                id: e
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                correct,
                response_ms: e.get("responseMs").and_then(Value::as_u64).unwrap_or(0),
                quality: e
                    .get("quality")
                    .and_then(Value::as_u64)
                    .and_then(|q| u8::try_from(q).ok()),
            },
        ));
    }
    out
}

/// Per-card sums of the counters: card → field → total over devices.
fn read_counters(
    doc: &Automerge,
    doc_id: crate::DocumentId,
) -> Result<BTreeMap<String, [u64; 3]>, ReplicaError> {
    let counters = top(doc, "counters", ObjType::Map, doc_id)?;
    let mut out: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    // One pass over the map: a `get` per key costs a seek each.
    for item in doc.map_range(&counters, ..) {
        let mut parts = item.key.rsplitn(3, '|');
        let (Some(_actor), Some(field), Some(card)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(slot) = FIELDS.iter().position(|f| *f == field) else {
            continue;
        };
        // As `ScalarValue::as_i64` reads it; another scalar counts 0.
        #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
        let n = match &item.value {
            ValueRef::Object(_) => continue,
            ValueRef::Scalar(
                ScalarValueRef::Counter(n) | ScalarValueRef::Int(n) | ScalarValueRef::Timestamp(n),
            ) => *n,
            ValueRef::Scalar(ScalarValueRef::Uint(n)) => *n as i64,
            ValueRef::Scalar(ScalarValueRef::F64(f)) => *f as i64,
            ValueRef::Scalar(_) => 0,
        };
        let entry = out.entry(card.to_string()).or_default();
        entry[slot] = entry[slot].saturating_add(u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

/// The app's `CardProgress` of every card of one deck document, derived
/// from its imported base, counters and review events.
pub(super) fn deck_progress(
    doc: &Automerge,
    doc_id: crate::DocumentId,
    deck_id: &str,
) -> Result<BTreeMap<String, Value>, ReplicaError> {
    deck_progress_with(doc, doc_id, deck_id, &review_events(doc, doc_id)?)
}

/// [`deck_progress`] with the document's [`review_events`] already read
/// (the export reads them once for both its progress and its reviews).
pub(super) fn deck_progress_with(
    doc: &Automerge,
    doc_id: crate::DocumentId,
    deck_id: &str,
    events: &[Map<String, Value>],
) -> Result<BTreeMap<String, Value>, ReplicaError> {
    let base_obj = top(doc, "progressBase", ObjType::Map, doc_id)?;
    // One pass (`read_obj`; a conflicting card's maps merged as `read_prop` does).
    let bases: BTreeMap<String, Value> = match json::read_obj(doc, &base_obj, ObjType::Map)? {
        Value::Object(m) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    let counters = read_counters(doc, doc_id)?;
    let mut reviews: BTreeMap<String, Vec<Review>> = BTreeMap::new();
    for (card, r) in counted_reviews(events) {
        reviews.entry(card).or_default().push(r);
    }
    // `&str` keys: the same set type as elsewhere, one copy of its code.
    let cards: std::collections::BTreeSet<&str> = bases
        .keys()
        .chain(counters.keys())
        .chain(reviews.keys())
        .map(String::as_str)
        .collect();
    let mut out = BTreeMap::new();
    for card in cards {
        let base = bases.get(card);
        let events = reviews.get(card).map(Vec::as_slice).unwrap_or_default();
        let counts = counters.get(card).copied().unwrap_or_default();
        out.insert(
            card.to_owned(),
            card_progress(card, deck_id, base, counts, events),
        );
    }
    Ok(out)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One card's `CardProgress`: the imported base as it was when nothing was
/// recorded since; otherwise counts added, averages and confidence
/// recomputed and the schedule replayed from the base.
fn card_progress(
    card: &str,
    deck_id: &str,
    base: Option<&Value>,
    counts: [u64; 3],
    events: &[Review],
) -> Value {
    if let Some(b) = base {
        if counts == [0; 3] && events.is_empty() {
            return b.clone();
        }
    }
    let mut out = base.and_then(Value::as_object).cloned().unwrap_or_default();
    out.insert("cardId".into(), json!(card));
    out.entry("deckId").or_insert(json!(deck_id));
    let mut stats = out
        .get("stats")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let base_n = |k: &str| stats.get(k).and_then(Value::as_u64).unwrap_or(0);
    let totals: Vec<u64> = FIELDS
        .iter()
        .zip(counts)
        .map(|(f, c)| base_n(f).saturating_add(c))
        .collect();
    let base_views = base_n("views");
    let base_avg = stats
        .get("averageResponseTime")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mut last_seen = stats
        .get("lastSeen")
        .and_then(Value::as_str)
        .and_then(|s| timestamp::parse_ms("lastSeen", s).ok());
    let mut seconds = 0.0;
    for r in events {
        seconds += r.response_ms as f64 / 1000.0;
        last_seen = Some(last_seen.map_or(r.at_ms, |l| l.max(r.at_ms)));
    }
    let n = base_views as f64 + events.len() as f64;
    if n > 0.0 && !events.is_empty() {
        stats.insert(
            "averageResponseTime".into(),
            json!(round2((base_avg * base_views as f64 + seconds) / n)),
        );
    } else {
        stats.entry("averageResponseTime").or_insert(json!(0));
    }
    for (f, t) in FIELDS.iter().zip(&totals) {
        stats.insert((*f).into(), json!(t));
    }
    let answered = totals[1] + totals[2];
    if answered > 0 {
        stats.insert(
            "confidence".into(),
            json!((totals[1] as f64 * 100.0 / answered as f64).round() as u64),
        );
    } else {
        stats.entry("confidence").or_insert(json!(0));
    }
    if let Some(l) = last_seen {
        stats.insert("lastSeen".into(), json!(timestamp::format_ms(l)));
    }
    out.insert("stats".into(), Value::Object(stats));

    let mut sr = out
        .get("spacedRepetition")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !events.is_empty() {
        let start = match base.and_then(|b| CardProgress::deserialize(b).ok()) {
            Some(p) => Schedule::imported(
                p.spaced_repetition.interval,
                p.spaced_repetition.ease_factor,
                p.spaced_repetition.stage,
            ),
            None => Schedule::default(),
        };
        let s = sm2::replay(start, events);
        sr.insert("interval".into(), json!(s.interval));
        sr.insert("easeFactor".into(), json!(round2(s.ease_factor)));
        if let Some(next) = s.next_review_ms {
            sr.insert("nextReview".into(), json!(timestamp::format_ms(next)));
        }
        sr.insert("stage".into(), json!(s.stage().as_str()));
    }
    out.insert("spacedRepetition".into(), Value::Object(sr));
    Value::Object(out)
}

/// Progress of every card of every deck in the index (`live_only`: skip
/// deleted decks), card id → `CardProgress`.
pub(super) fn progress_of_all(
    replica: &Replica,
    live_only: bool,
) -> Result<Map<String, Value>, ReplicaError> {
    let mut out = Map::new();
    for (deck_id, entry) in replica.deck_entries()? {
        if live_only && entry.deleted {
            continue;
        }
        let doc_id = layout::deck_doc_id(&replica.user_id, &deck_id);
        let Some(doc) = replica.doc_of(&doc_id, layout::DocKind::Deck)? else {
            continue;
        };
        if live_only && replica.deck_doc_deleted(doc_id)? {
            continue;
        }
        for (card, p) in deck_progress(doc, doc_id, &deck_id)? {
            out.insert(card, p);
        }
    }
    Ok(out)
}
