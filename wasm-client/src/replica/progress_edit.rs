//! Progress written as JSON (the `progress` view of a JSON-only client):
//! what changed between the progress the client read and what it sends.

use super::{top, Replica, ReplicaError};
use crate::layout::{self, json};
use crate::model::{self, CardProgress};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue};
use serde_json::{Map, Value};

/// The counted fields of `stats`: merged as counters, never overwritten.
const COUNTED: [&str; 3] = ["views", "correctCount", "incorrectCount"];

impl Replica {
    /// Writes one card's progress as a JSON client changed it: a card new
    /// here becomes imported progress; for a known card, increases of the
    /// counted stats are added as this replica's own counters (so they sum
    /// with other devices' reviews), and other changed fields (schedule,
    /// averages) are written into the card's base, field by field.
    pub fn set_progress(
        &mut self,
        card_id: &str,
        before: Option<&Value>,
        after: &Value,
    ) -> Result<(), ReplicaError> {
        let parsed: CardProgress = model::parse("progress", after)?;
        if parsed.card_id != card_id {
            return Err(model::ModelError::Shape {
                what: "progress",
                reason: format!("cardId {:?} does not match its key", parsed.card_id),
            }
            .into());
        }
        let Some(before) = before else {
            return self.import_progress(after);
        };
        let stat = |v: &Value, f: &str| v["stats"][f].as_u64().unwrap_or(0);
        let deltas: Vec<(&str, u64)> = COUNTED
            .iter()
            .map(|f| (*f, stat(after, f).saturating_sub(stat(before, f))))
            .filter(|(_, d)| *d > 0)
            .collect();
        let mut patch = Map::new();
        if let (Some(a), Some(b)) = (after.as_object(), before.as_object()) {
            for (k, v) in a {
                if k == "stats" {
                    let mut stats = Map::new();
                    for (sk, sv) in v.as_object().into_iter().flatten() {
                        if !COUNTED.contains(&sk.as_str()) && b["stats"].get(sk) != Some(sv) {
                            stats.insert(sk.clone(), sv.clone());
                        }
                    }
                    if !stats.is_empty() {
                        patch.insert(k.clone(), Value::Object(stats));
                    }
                } else if b.get(k) != Some(v) {
                    patch.insert(k.clone(), v.clone());
                }
            }
        }
        if deltas.is_empty() && patch.is_empty() {
            return Ok(());
        }
        let doc_id = layout::deck_doc_id(&self.user_id, &parsed.deck_id);
        if self.deck_entry(&parsed.deck_id)?.is_none() {
            return Err(ReplicaError::DeckNotFound(parsed.deck_id));
        }
        self.edit(doc_id, |tx, cx| {
            if !patch.is_empty() {
                let base = top(tx, "progressBase", ObjType::Map, cx.doc)?;
                json::reconcile_prop(tx, &base, card_id, &Value::Object(patch.clone()), false)?;
            }
            let counters = top(tx, "counters", ObjType::Map, cx.doc)?;
            for (field, d) in &deltas {
                let key = format!("{card_id}|{field}|{}", cx.actor_hex);
                let d = i64::try_from(*d).unwrap_or(i64::MAX);
                if tx.get(&counters, key.as_str())?.is_some() {
                    tx.increment(&counters, key.as_str(), d)?;
                } else {
                    tx.put(&counters, key.as_str(), ScalarValue::counter(d))?;
                }
            }
            Ok(())
        })
    }
}
