//! Root-document edits: starred public decks, preferences, achievements.

use super::{obj_at, top, Replica, ReplicaError};
use crate::layout::json;
use crate::model::{self, limits, AchievementProgress, UserPreferences};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, Value as AmValue};
use serde_json::{Map, Value};

/// Deepest preference path (`a.b.c.d`).
const MAX_PATH_DEPTH: usize = 4;

impl Replica {
    /// Stars a public deck.
    pub fn star(&mut self, public_deck_id: &str) -> Result<(), ReplicaError> {
        self.set_star(public_deck_id, true)
    }

    /// Unstars a public deck.
    pub fn unstar(&mut self, public_deck_id: &str) -> Result<(), ReplicaError> {
        self.set_star(public_deck_id, false)
    }

    fn set_star(&mut self, public_deck_id: &str, on: bool) -> Result<(), ReplicaError> {
        limits::check_required("starred[]", public_deck_id, limits::MAX_ID_BYTES)?;
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let starred = top(tx, "starred", ObjType::Map, cx.doc)?;
            // A star is "when and by whom", not `true`: Automerge skips a put
            // of the value already there, and a skipped star could not win
            // against a concurrent unstar.
            if on {
                tx.put(
                    &starred,
                    public_deck_id,
                    format!("{} {}", cx.now_iso, cx.actor_hex),
                )?;
            } else {
                tx.put(&starred, public_deck_id, false)?;
            }
            Ok(())
        })
    }

    /// Starred public deck ids, sorted. A concurrent star and unstar of the
    /// same deck both survive as conflicting values: any star wins.
    pub fn starred(&self) -> Result<Vec<String>, ReplicaError> {
        let root = self.root()?;
        let starred = top(root, "starred", ObjType::Map, self.root_id())?;
        let mut out = Vec::new();
        for key in root.keys(&starred) {
            let on = root.get_all(&starred, key.as_str())?.iter().any(
                |(v, _)| matches!(v, AmValue::Scalar(s) if s.is_str() || s.as_bool() == Some(true)),
            );
            if on {
                out.push(key);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Sets every leaf of the partial preferences `prefs` (objects recurse;
    /// a leaf is set by its dotted path) that differs from the same leaf of
    /// `before` (`None`: sets them all).
    pub fn set_preferences(
        &mut self,
        prefs: &Map<String, Value>,
        before: Option<&Map<String, Value>>,
    ) -> Result<(), ReplicaError> {
        let old = before.map(leaves).unwrap_or_default();
        for (path, value) in leaves(prefs) {
            if old.get(&path) != Some(&value) {
                self.set_preference(&path, &value)?;
            }
        }
        Ok(())
    }

    /// Sets one preference by dotted path (`"gameSettings.showHints"`),
    /// creating missing intermediate maps. The resulting preferences must
    /// still be valid `UserPreferences`.
    pub fn set_preference(&mut self, path: &str, value: &Value) -> Result<(), ReplicaError> {
        let segments: Vec<&str> = path.split('.').collect();
        let bad = segments.len() > MAX_PATH_DEPTH
            || segments
                .iter()
                .any(|s| s.is_empty() || s.len() > limits::MAX_SHORT_BYTES);
        if bad {
            return Err(ReplicaError::BadPath(path.chars().take(80).collect()));
        }
        limits::check_json("preference", value, segments.len())?;
        let mut prefs = self.preferences()?;
        set_path(&mut prefs, &segments, value.clone());
        model::parse::<UserPreferences>("preferences", &Value::Object(prefs))?;

        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let mut obj = top(tx, "preferences", ObjType::Map, cx.doc)?;
            let (leaf, parents) = segments.split_last().ok_or(cx.missing("preference path"))?;
            for seg in parents {
                obj = match obj_at(tx, &obj, seg, ObjType::Map)? {
                    Some(child) => child,
                    None => tx.put_object(&obj, *seg, ObjType::Map)?,
                };
            }
            json::reconcile_prop(tx, &obj, leaf, value, true)?;
            Ok(())
        })
    }

    /// Merges a whole preferences object (an import): only the fields it
    /// has are written.
    pub(super) fn merge_preferences(&mut self, prefs: &Value) -> Result<(), ReplicaError> {
        model::parse::<UserPreferences>("preferences", prefs)?;
        let Value::Object(m) = prefs else {
            return Ok(());
        };
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let obj = top(tx, "preferences", ObjType::Map, cx.doc)?;
            json::reconcile_map(tx, &obj, m, false)?;
            Ok(())
        })
    }

    /// The preferences as stored (only the fields ever set).
    pub fn preferences(&self) -> Result<Map<String, Value>, ReplicaError> {
        let root = self.root()?;
        let root_obj = automerge::ROOT;
        Ok(match json::read_prop(root, &root_obj, "preferences")? {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        })
    }

    /// Sets an achievement's progress (`AchievementProgress` JSON).
    pub fn set_achievement(&mut self, achievement: &Value) -> Result<(), ReplicaError> {
        let parsed: AchievementProgress = model::parse("achievement", achievement)?;
        let Value::Object(m) = achievement else {
            return Ok(());
        };
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let all = top(tx, "achievements", ObjType::Map, cx.doc)?;
            json::reconcile_prop(
                tx,
                &all,
                &parsed.achievement_id,
                &Value::Object(m.clone()),
                false,
            )?;
            Ok(())
        })
    }

    /// Every achievement, id → `AchievementProgress`. Where devices wrote
    /// concurrently, the highest `progress`/`maxProgress` and the earliest
    /// `unlockedAt` win; other fields merge as usual.
    pub fn achievements(&self) -> Result<Map<String, Value>, ReplicaError> {
        let root = self.root()?;
        let all = top(root, "achievements", ObjType::Map, self.root_id())?;
        let mut out = Map::new();
        for key in root.keys(&all) {
            let Some(Value::Object(mut merged)) = json::read_prop(root, &all, &key)? else {
                continue;
            };
            let mut values: Vec<(String, Value)> = Vec::new();
            for (v, obj) in root.get_all(&all, key.as_str())? {
                if matches!(v, AmValue::Object(ObjType::Map)) {
                    for field in ["progress", "maxProgress", "unlockedAt"] {
                        for (fv, _) in root.get_all(&obj, field)? {
                            if let AmValue::Scalar(s) = fv {
                                values.push((field.to_string(), json::scalar_to_json(&s)));
                            }
                        }
                    }
                }
            }
            for field in ["progress", "maxProgress"] {
                let best = values.iter().filter(|(f, _)| f == field).max_by(|a, b| {
                    a.1.as_f64()
                        .unwrap_or(0.0)
                        .total_cmp(&b.1.as_f64().unwrap_or(0.0))
                });
                if let Some((_, v)) = best {
                    merged.insert(field.into(), v.clone());
                }
            }
            let earliest = values
                .iter()
                .filter(|(f, v)| f == "unlockedAt" && v.is_string())
                .min_by(|a, b| a.1.as_str().cmp(&b.1.as_str()));
            if let Some((_, v)) = earliest {
                merged.insert("unlockedAt".into(), v.clone());
            }
            out.insert(key, Value::Object(merged));
        }
        Ok(out)
    }
}

/// Sets `segments` in a JSON object, creating objects on the way.
/// The leaves of a preferences object by dotted path (objects recurse; an
/// empty object is a leaf).
fn leaves(obj: &Map<String, Value>) -> std::collections::BTreeMap<String, Value> {
    fn walk(
        prefix: &str,
        m: &Map<String, Value>,
        out: &mut std::collections::BTreeMap<String, Value>,
    ) {
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(inner) if !inner.is_empty() => walk(&path, inner, out),
                _ => {
                    out.insert(path, v.clone());
                }
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk("", obj, &mut out);
    out
}

fn set_path(obj: &mut Map<String, Value>, segments: &[&str], value: Value) {
    match segments {
        [] => {}
        [leaf] => {
            obj.insert((*leaf).to_string(), value);
        }
        [first, rest @ ..] => {
            let child = obj
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(m) = child {
                set_path(m, rest, value);
            }
        }
    }
}
