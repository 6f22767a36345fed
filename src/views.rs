//! The JSON views of docs/api.md (`GET/POST /sync/{decks,achievements,progress,
//! starred,preferences}` and `/sync/full`), CRDT-backed.
//!
//! A `POST` carries the client's data and the `version` it read. The
//! difference between that data and the state *at that version* is applied
//! as new changes on top of that version (forked documents), and then
//! merged with everything written since: concurrent edits from other
//! devices survive, and only what this client changed is written.
//!
//! **Invariant:** sans-IO; the caller passes a fresh random actor for each
//! write, so two writes forked from the same version never reuse an
//! actor's sequence numbers.

use automerge::{ChangeHash, ReadDoc};
use myflashplay_client::replica::CONFLICTS_KEY;
use myflashplay_client::{Docs, DocumentId, Replica, ReplicaError};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One JSON view (named in the path as its lower-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// `Deck[]` with `markdown`.
    Decks,
    /// `AchievementProgress[]`.
    Achievements,
    /// `cardId → CardProgress`.
    Progress,
    /// Public deck ids.
    Starred,
    /// `UserPreferences`.
    Preferences,
}

/// Every view, in the order `/sync/full` lists them.
pub const ALL: [View; 5] = [
    View::Decks,
    View::Achievements,
    View::Progress,
    View::Starred,
    View::Preferences,
];

/// Why a view could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// `base_version` is not a version this server issued for this user.
    #[error("base_version is not a version of this account")]
    UnknownVersion,
    /// The posted data has the wrong shape for the view.
    #[error("{0}")]
    Shape(String),
    /// The replica refused an edit (validation, limits).
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    /// Automerge refused to fork or merge.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl View {
    /// The view named in the path.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "decks" => Self::Decks,
            "achievements" => Self::Achievements,
            "progress" => Self::Progress,
            "starred" => Self::Starred,
            "preferences" => Self::Preferences,
            _ => return None,
        })
    }

    /// True for the views held entirely in the root document.
    pub fn root_only(self) -> bool {
        matches!(self, Self::Achievements | Self::Starred | Self::Preferences)
    }

    /// The key of the view in `/sync/full` and in the export.
    pub fn key(self) -> &'static str {
        match self {
            Self::Decks => "decks",
            Self::Achievements => "achievements",
            Self::Progress => "progress",
            Self::Starred => "starred",
            Self::Preferences => "preferences",
        }
    }
}

/// The view's data in the API's shape.
pub fn read(replica: &Replica, view: View) -> Result<Value, ViewError> {
    let mut export = replica.export()?;
    let take = |k: &str, e: &mut Value| e.get_mut(k).map(Value::take).unwrap_or(Value::Null);
    Ok(match view {
        View::Decks | View::Achievements => {
            let Value::Object(map) = take(view.key(), &mut export) else {
                return Ok(Value::Array(Vec::new()));
            };
            Value::Array(map.into_iter().map(|(_, v)| v).collect())
        }
        _ => take(view.key(), &mut export),
    })
}

/// `{version, data}` of one view, with the conflicts readers see.
pub fn get(replica: &Replica, view: View) -> Result<Value, ViewError> {
    let mut data = read(replica, view)?;
    add_conflicts(replica, view, &mut data)?;
    Ok(serde_json::json!({
        "version": version(replica.docs()),
        "data": data,
    }))
}

/// Adds `conflicts` to each deck and to the preferences that have any
/// (read-only: [`post`] drops it).
fn add_conflicts(replica: &Replica, view: View, data: &mut Value) -> Result<(), ViewError> {
    match (view, data) {
        (View::Decks, Value::Array(decks)) => {
            for deck in decks {
                let Some(id) = deck.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let found = replica.deck_conflicts(id)?;
                if let (false, Value::Object(d)) = (found.is_empty(), deck) {
                    d.insert(CONFLICTS_KEY.into(), Value::Object(found));
                }
            }
        }
        (View::Preferences, Value::Object(prefs)) => replica.annotate_preferences(prefs)?,
        _ => {}
    }
    Ok(())
}

/// `{version, decks, achievements, progress, starred, preferences}`.
pub fn get_full(replica: &Replica) -> Result<Value, ViewError> {
    let mut out = Map::new();
    out.insert("version".into(), Value::String(version(replica.docs())));
    for v in ALL {
        let mut data = read(replica, v)?;
        add_conflicts(replica, v, &mut data)?;
        out.insert(v.key().into(), data);
    }
    Ok(Value::Object(out))
}

/// The opaque version string: every document's heads, so the state that
/// was read can be rebuilt exactly.
pub fn version(docs: &Docs) -> String {
    myflashplay_client::version::of_docs(docs)
}

fn parse_version(s: &str) -> Result<BTreeMap<DocumentId, Vec<ChangeHash>>, ViewError> {
    myflashplay_client::version::parse(s).map_err(|_| ViewError::UnknownVersion)
}

/// The documents as they were at `version`: each forked at its heads;
/// documents created since are left out.
fn docs_at(docs: &Docs, version: &str) -> Result<Docs, ViewError> {
    let heads = parse_version(version)?;
    let mut out = Docs::new();
    for (id, h) in heads {
        let doc = docs.get(&id).ok_or(ViewError::UnknownVersion)?;
        if h.iter().any(|c| doc.get_change_by_hash(c).is_none()) {
            return Err(ViewError::UnknownVersion);
        }
        out.insert(id, doc.fork_at(&h)?);
    }
    Ok(out)
}

/// Applies a client's `data` for `view`, read at `base_version` (or now),
/// to `current`. `actor` must be fresh (16 random bytes); the change is
/// the device `device_name`'s (recorded in the root).
pub fn post(
    current: &mut Replica,
    views: &[(View, &Value)],
    base_version: Option<&str>,
    actor: &[u8; 16],
    now_ms: i64,
    device_name: &str,
) -> Result<(), ViewError> {
    let base_docs = match base_version {
        Some(v) => docs_at(current.docs(), v)?,
        None => current.docs().clone(),
    };
    let mut base = Replica::from_docs(current.user_id(), actor, base_docs)?;
    base.set_now(now_ms);
    base.set_device_name(device_name)?;
    for (view, data) in views {
        let before = read(&base, *view)?;
        let mut after = (*data).clone();
        if let Value::Object(prefs) = &mut after {
            prefs.remove(CONFLICTS_KEY);
        }
        apply_diff(&mut base, *view, &before, &after)?;
    }
    for (id, mut forked) in base.into_docs() {
        match current.docs_mut().get_mut(&id) {
            Some(doc) => {
                doc.merge(&mut forked)?;
            }
            None => {
                current.docs_mut().insert(id, forked);
            }
        }
    }
    Ok(())
}

fn shape(msg: impl Into<String>) -> ViewError {
    ViewError::Shape(msg.into())
}

fn apply_diff(r: &mut Replica, view: View, before: &Value, after: &Value) -> Result<(), ViewError> {
    match view {
        View::Preferences => {
            let after = after
                .as_object()
                .ok_or_else(|| shape("preferences must be an object"))?;
            r.set_preferences(after, Some(before.as_object().unwrap_or(&Map::new())))?;
        }
        View::Starred => {
            let ids = |v: &Value| -> Result<BTreeSet<String>, ViewError> {
                v.as_array()
                    .ok_or_else(|| shape("starred must be an array of ids"))?
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| shape("starred ids must be strings"))
                    })
                    .collect()
            };
            let (old, new) = (ids(before)?, ids(after)?);
            for id in new.difference(&old) {
                r.star(id)?;
            }
            for id in old.difference(&new) {
                r.unstar(id)?;
            }
        }
        View::Achievements => {
            let old = by_id(before, "achievementId")?;
            for (id, a) in by_id(after, "achievementId")? {
                if old.get(&id) != Some(&a) {
                    r.set_achievement(&a)?;
                }
            }
        }
        View::Decks => {
            let old = by_id(before, "id")?;
            let new = by_id(after, "id")?;
            for (id, deck) in &new {
                match old.get(id) {
                    None => r.create_deck(deck)?,
                    Some(prev) => update_deck(r, id, prev, deck)?,
                }
            }
            for id in old.keys().filter(|id| !new.contains_key(*id)) {
                r.delete_deck(id)?;
            }
        }
        View::Progress => {
            let after = after
                .as_object()
                .ok_or_else(|| shape("progress must be an object of cardId to CardProgress"))?;
            let before = before.as_object().cloned().unwrap_or_default();
            for (card, p) in after {
                if before.get(card) != Some(p) {
                    r.set_progress(card, before.get(card), p)?;
                }
            }
        }
    }
    Ok(())
}

/// Only the fields that differ are written: markdown as a text diff
/// against the version the client read, `metadata`/`settings` key by key.
fn update_deck(r: &mut Replica, id: &str, before: &Value, after: &Value) -> Result<(), ViewError> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Err(shape("each deck must be an object"));
    };
    if let Some(md) = a.get("markdown").and_then(Value::as_str) {
        if b.get("markdown").and_then(Value::as_str) != Some(md) {
            r.edit_markdown(id, md)?;
        }
    }
    let mut fields = Map::new();
    for (k, v) in a {
        if k == "id" || k == "markdown" || k == CONFLICTS_KEY || b.get(k) == Some(v) {
            continue;
        }
        match (b.get(k), v) {
            (Some(Value::Object(old)), Value::Object(new))
                if k == "metadata" || k == "settings" =>
            {
                let changed: Map<String, Value> = new
                    .iter()
                    .filter(|(kk, vv)| old.get(*kk) != Some(*vv))
                    .map(|(kk, vv)| (kk.clone(), vv.clone()))
                    .collect();
                fields.insert(k.clone(), Value::Object(changed));
            }
            _ => {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    if !fields.is_empty() {
        r.update_deck(id, &fields)?;
    }
    Ok(())
}

fn by_id(v: &Value, key: &str) -> Result<BTreeMap<String, Value>, ViewError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(m) => m.values().collect(),
        Value::Null => Vec::new(),
        _ => return Err(shape("expected an array of objects")),
    };
    items
        .into_iter()
        .map(|item| {
            item.get(key)
                .and_then(Value::as_str)
                .map(|id| (id.to_owned(), item.clone()))
                .ok_or_else(|| shape(format!("every item needs a string {key:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    const USER: &str = "0190e3a0-0000-7000-8000-000000000001";

    fn replica(actor: u8) -> Replica {
        let mut r = Replica::new(USER, &[actor; 16]).unwrap();
        r.set_now(1_764_000_000_000);
        r
    }

    fn deck(markdown: &str) -> Value {
        json!({"id": "d1", "name": "Math", "emoji": "➕", "description": "", "markdown": markdown})
    }

    /// A device edits the server's state directly (as sync would bring it).
    fn other_device_edit(server: &mut Replica, f: impl FnOnce(&mut Replica)) {
        let mut device = Replica::from_docs(USER, &[9; 16], server.docs().clone()).unwrap();
        f(&mut device);
        for (id, mut d) in device.into_docs() {
            match server.docs_mut().get_mut(&id) {
                Some(doc) => {
                    doc.merge(&mut d).unwrap();
                }
                None => {
                    server.docs_mut().insert(id, d);
                }
            }
        }
    }

    #[test]
    fn concurrent_markdown_edits_both_survive() {
        let mut server = replica(1);
        server.create_deck(&deck("a\nb\n")).unwrap();
        let read = get(&server, View::Decks).unwrap();
        let version = read["version"].as_str().unwrap().to_owned();

        other_device_edit(&mut server, |d| d.edit_markdown("d1", "a\nb\nc\n").unwrap());

        let mut mine = read["data"].clone();
        mine[0]["markdown"] = json!("0\na\nb\n");
        post(
            &mut server,
            &[(View::Decks, &mine)],
            Some(&version),
            &[7; 16],
            1,
            "json",
        )
        .unwrap();
        let after = read_view(&server, View::Decks);
        assert_eq!(after[0]["markdown"], "0\na\nb\nc\n");
    }

    fn read_view(r: &Replica, v: View) -> Value {
        read(r, v).unwrap()
    }

    #[test]
    fn only_changed_preference_fields_are_written() {
        let mut server = replica(1);
        server.set_preference("theme", &json!("light")).unwrap();
        server.set_preference("fontSize", &json!("medium")).unwrap();
        let read = get(&server, View::Preferences).unwrap();
        let version = read["version"].as_str().unwrap().to_owned();

        other_device_edit(&mut server, |d| {
            d.set_preference("fontSize", &json!("large")).unwrap()
        });

        let mut mine = read["data"].clone();
        mine["theme"] = json!("dark");
        post(
            &mut server,
            &[(View::Preferences, &mine)],
            Some(&version),
            &[7; 16],
            1,
            "json",
        )
        .unwrap();
        let prefs = read_view(&server, View::Preferences);
        assert_eq!(prefs["theme"], "dark");
        assert_eq!(
            prefs["fontSize"], "large",
            "the other device's change survives"
        );
    }

    #[test]
    fn starred_merges_as_a_set() {
        let mut server = replica(1);
        server.star("a").unwrap();
        server.star("b").unwrap();
        let read = get(&server, View::Starred).unwrap();
        let version = read["version"].as_str().unwrap().to_owned();
        other_device_edit(&mut server, |d| d.star("c").unwrap());
        post(
            &mut server,
            &[(View::Starred, &json!(["a", "z"]))],
            Some(&version),
            &[7; 16],
            1,
            "json",
        )
        .unwrap();
        assert_eq!(read_view(&server, View::Starred), json!(["a", "c", "z"]));
    }

    #[test]
    fn without_base_version_the_diff_is_against_now() {
        let mut server = replica(1);
        server.create_deck(&deck("a\n")).unwrap();
        let mut mine = read_view(&server, View::Decks);
        mine[0]["name"] = json!("Maths");
        post(
            &mut server,
            &[(View::Decks, &mine)],
            None,
            &[7; 16],
            1,
            "json",
        )
        .unwrap();
        assert_eq!(read_view(&server, View::Decks)[0]["name"], "Maths");
        // A deck the client left out is deleted; a new one is created.
        post(&mut server, &[(View::Decks, &json!([{"id": "d2", "name": "New", "emoji": "🆕", "description": "", "markdown": "x :: y\n"}]))], None, &[8; 16], 2, "json").unwrap();
        let decks = read_view(&server, View::Decks);
        assert_eq!(decks.as_array().unwrap().len(), 1);
        assert_eq!(decks[0]["id"], "d2");
    }

    #[test]
    fn progress_increments_add_up_with_other_devices() {
        let mut server = replica(1);
        server.create_deck(&deck("q :: a\n")).unwrap();
        let review = |correct| myflashplay_client::replica::ReviewInput {
            deck_id: "d1".into(),
            card_id: "c1".into(),
            correct,
            response_ms: 3000,
            at: "2026-11-20T10:00:00.000Z".into(),
            quality: None,
        };
        server.record_review(&review(true)).unwrap();
        let read = get(&server, View::Progress).unwrap();
        let version = read["version"].as_str().unwrap().to_owned();
        other_device_edit(&mut server, |d| {
            d.record_review(&review(false)).unwrap();
        });
        let mut mine = read["data"].clone();
        mine["c1"]["stats"]["views"] = json!(3);
        mine["c1"]["stats"]["correctCount"] = json!(3);
        post(
            &mut server,
            &[(View::Progress, &mine)],
            Some(&version),
            &[7; 16],
            1,
            "json",
        )
        .unwrap();
        let p = read_view(&server, View::Progress);
        assert_eq!(
            p["c1"]["stats"]["views"], 4,
            "1 + 1 from the other device + 2 from JSON"
        );
        assert_eq!(p["c1"]["stats"]["correctCount"], 3);
        assert_eq!(p["c1"]["stats"]["incorrectCount"], 1);
    }

    #[test]
    fn bad_versions_and_shapes_are_refused() {
        let mut server = replica(1);
        for v in [
            "",
            "v1.!!",
            "v2.AAAA",
            "v1.AAAA",
            &format!("v1.{}", URL_SAFE_NO_PAD.encode([0u8; 49])),
        ] {
            assert!(
                matches!(
                    post(
                        &mut server,
                        &[(View::Starred, &json!([]))],
                        Some(v),
                        &[7; 16],
                        1,
                        "json"
                    ),
                    Err(ViewError::UnknownVersion)
                ),
                "{v:?}"
            );
        }
        for bad in [json!("x"), json!([1]), json!({"a": 1})] {
            assert!(post(
                &mut server,
                &[(View::Starred, &bad)],
                None,
                &[7; 16],
                1,
                "json"
            )
            .is_err());
        }
        assert!(post(
            &mut server,
            &[(View::Decks, &json!([{"name": "no id"}]))],
            None,
            &[7; 16],
            1,
            "json"
        )
        .is_err());
    }

    #[test]
    fn view_names() {
        for v in ALL {
            assert_eq!(View::parse(v.key()), Some(v));
        }
        assert_eq!(View::parse("sessions"), None);
    }
}
