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

use automerge::{Automerge, ChangeHash, ReadDoc};
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

/// `{version, data}` of `one`, or `/sync/full`'s object (`one: None`), as
/// JSON text in pieces: [`get`] and [`get_full`] (the same values), with
/// the deck documents asked of `read` one at a time and dropped once their
/// part is written, so a heavy learner's views never hold them all
/// (docs/benchmarks.md). `version` names the documents read.
pub fn get_streamed<E: From<ViewError> + From<ReplicaError>>(
    user_id: &str,
    actor: &[u8; 16],
    one: Option<View>,
    mut read: impl FnMut(&DocumentId) -> Result<Option<Automerge>, E>,
) -> Result<Vec<Vec<u8>>, E> {
    let mut heads: Vec<(DocumentId, Vec<ChangeHash>)> = Vec::new();
    let mut replica = root_replica(user_id, actor, &mut read, &mut heads)?;
    let wants = |v: View| one.is_none_or(|o| o == v);
    let mut decks: Vec<Vec<u8>> = Vec::new();
    let mut progress: Vec<Vec<u8>> = Vec::new();
    if wants(View::Decks) || wants(View::Progress) {
        replica.each_deck(
            |id| {
                let doc = read(id)?;
                if let Some(d) = &doc {
                    heads.push((*id, d.get_heads()));
                }
                Ok::<_, E>(doc)
            },
            |r, deck| {
                if wants(View::Decks) {
                    if let Some(d) = r.live_deck(deck, true).map_err(ViewError::from)? {
                        decks.push(d.to_string().into_bytes());
                    }
                }
                if wants(View::Progress) {
                    let mut part = String::new();
                    for (card, p) in r.deck_progress(deck).map_err(ViewError::from)? {
                        part.push_str(if progress.is_empty() && part.is_empty() {
                            ""
                        } else {
                            ","
                        });
                        part.push_str(&format!("{}:{p}", Value::String(card)));
                    }
                    if !part.is_empty() {
                        progress.push(part.into_bytes());
                    }
                }
                Ok(())
            },
        )?;
    }
    let version =
        myflashplay_client::version::encode(heads.iter().map(|(id, h)| (id, h.as_slice())));
    let mut out: Vec<Vec<u8>> =
        vec![format!("{{\"version\":{}", Value::String(version)).into_bytes()];
    for v in ALL.into_iter().filter(|v| wants(*v)) {
        let key = if one.is_some() { "data" } else { v.key() };
        out.push(format!(",{}:", Value::from(key)).into_bytes());
        match v {
            View::Decks => {
                out.push(b"[".to_vec());
                let n = decks.len();
                for (i, mut d) in std::mem::take(&mut decks).into_iter().enumerate() {
                    if i + 1 < n {
                        d.push(b',');
                    }
                    out.push(d);
                }
                out.push(b"]".to_vec());
            }
            View::Progress => {
                out.push(b"{".to_vec());
                out.append(&mut progress);
                out.push(b"}".to_vec());
            }
            _ => {
                let mut data = read_root_view(&replica, v)?;
                add_conflicts(&replica, v, &mut data)?;
                out.push(data.to_string().into_bytes());
            }
        }
    }
    out.push(b"}".to_vec());
    Ok(out)
}

/// A replica holding the root as `read` gives it (none yet: the genesis
/// stands in, as on a device), its heads noted in `heads`.
fn root_replica<E: From<ViewError>>(
    user_id: &str,
    actor: &[u8; 16],
    read: &mut impl FnMut(&DocumentId) -> Result<Option<Automerge>, E>,
    heads: &mut Vec<(DocumentId, Vec<ChangeHash>)>,
) -> Result<Replica, E> {
    let root_id = myflashplay_client::layout::root_id(user_id);
    let mut docs = Docs::new();
    if let Some(root) = read(&root_id)? {
        heads.push((root_id, root.get_heads()));
        docs.insert(root_id, root);
    }
    Ok(Replica::from_docs(user_id, actor, docs).map_err(ViewError::from)?)
}

/// A view held in the root (achievements, starred, preferences) from a
/// replica that may hold the root alone.
fn read_root_view(replica: &Replica, view: View) -> Result<Value, ViewError> {
    Ok(match view {
        View::Achievements => Value::Array(
            replica
                .achievements()?
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        ),
        View::Starred => Value::Array(replica.starred()?.into_iter().map(Value::String).collect()),
        View::Preferences => Value::Object(replica.preferences()?),
        View::Decks | View::Progress => read(replica, view)?,
    })
}

/// What a JSON write (`POST /sync/{view}`, `/sync/full`) must load: the
/// root and the deck documents whose part of the posted views differs from
/// the state at `base_version`, with the posted views and the version
/// narrowed to them. Found one deck document at a time (see [`plan_post`]).
#[derive(Debug)]
pub struct PostPlan {
    /// The documents to load: the root, then the decks the write touches.
    pub docs: Vec<DocumentId>,
    /// The posted views narrowed to those documents.
    pub parts: Vec<(View, Value)>,
    /// `base_version` narrowed to those documents.
    pub base_version: Option<String>,
}

/// The [`PostPlan`] of posting `parts` read at `base_version`. [`post`] on
/// the plan's documents and parts changes exactly what it changes on every
/// document with the whole parts: a deck whose part at the base equals
/// the posted one is left alone by [`post`] either way. Deck documents are
/// asked of `read` one at a time (forked at the base) and dropped.
pub fn plan_post<E: From<ViewError> + From<ReplicaError>>(
    user_id: &str,
    actor: &[u8; 16],
    parts: &[(View, &Value)],
    base_version: Option<&str>,
    mut read: impl FnMut(&DocumentId) -> Result<Option<Automerge>, E>,
) -> Result<PostPlan, E> {
    let base = base_version.map(parse_version).transpose()?;
    let visited = std::cell::RefCell::new(BTreeSet::new());
    // A document as it was at the base (`None`: created since).
    let mut at_base = |id: &DocumentId| -> Result<Option<Automerge>, E> {
        let Some(heads) = base.as_ref().map(|b| b.get(id)) else {
            return read(id);
        };
        let Some(heads) = heads else {
            return Ok(None);
        };
        visited.borrow_mut().insert(*id);
        let doc = read(id)?.ok_or(ViewError::UnknownVersion)?;
        if heads.iter().any(|c| doc.get_change_by_hash(c).is_none()) {
            return Err(ViewError::UnknownVersion.into());
        }
        if doc.get_heads() == *heads {
            return Ok(Some(doc));
        }
        Ok(Some(doc.fork_at(heads).map_err(ViewError::from)?))
    };
    let mut replica = root_replica(user_id, actor, &mut at_base, &mut Vec::new())?;
    let posted = |v: View| parts.iter().find(|(p, _)| *p == v).map(|(_, d)| *d);
    let decks_after = posted(View::Decks).map(|d| by_id(d, "id")).transpose()?;
    let progress_after = match posted(View::Progress) {
        Some(p) => Some(
            p.as_object()
                .ok_or_else(|| shape("progress must be an object of cardId to CardProgress"))?,
        ),
        None => None,
    };
    let mut touched: BTreeSet<DocumentId> = BTreeSet::new();
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut known_cards: BTreeSet<String> = BTreeSet::new();
    let mut changed_cards: BTreeSet<String> = BTreeSet::new();
    if decks_after.is_some() || progress_after.is_some() {
        replica.each_deck(&mut at_base, |r, deck| {
            if let Some(after) = &decks_after {
                let before = r.live_deck(deck, false).map_err(ViewError::from)?;
                if before.is_some() {
                    live.insert(deck.deck_id.clone());
                }
                if before.as_ref() != after.get(&deck.deck_id) {
                    touched.insert(deck.doc_id);
                }
            }
            if let Some(after) = progress_after {
                for (card, p) in r.deck_progress(deck).map_err(ViewError::from)? {
                    if after.get(&card).is_some_and(|a| *a != p) {
                        touched.insert(deck.doc_id);
                        changed_cards.insert(card.clone());
                    }
                    known_cards.insert(card);
                }
            }
            Ok::<_, E>(())
        })?;
    }
    // What the version names beyond the root and the decks is checked as
    // `docs_at` checks it.
    let named: Vec<DocumentId> = base.iter().flat_map(|b| b.keys().copied()).collect();
    for id in named {
        if !visited.borrow().contains(&id) {
            at_base(&id)?;
        }
    }
    let user_deck = |id: &str| myflashplay_client::layout::deck_doc_id(user_id, id);
    if let Some(after) = &decks_after {
        touched.extend(
            after
                .keys()
                .filter(|id| !live.contains(*id))
                .map(|id| user_deck(id)),
        );
    }
    if let Some(after) = progress_after {
        for (card, p) in after {
            if !known_cards.contains(card) {
                changed_cards.insert(card.clone());
            }
            if changed_cards.contains(card) {
                if let Some(deck_id) = p.get("deckId").and_then(Value::as_str) {
                    touched.insert(user_deck(deck_id));
                }
            }
        }
    }
    let root_id = myflashplay_client::layout::root_id(user_id);
    let mut docs = vec![root_id];
    docs.extend(touched.iter().copied().filter(|id| *id != root_id));
    let narrowed = parts
        .iter()
        .map(|(v, data)| {
            let data = match v {
                View::Decks => Value::Array(
                    items(data)
                        .into_iter()
                        .filter(|d| {
                            d.get("id")
                                .and_then(Value::as_str)
                                .is_some_and(|id| touched.contains(&user_deck(id)))
                        })
                        .cloned()
                        .collect(),
                ),
                View::Progress => Value::Object(
                    progress_after
                        .into_iter()
                        .flatten()
                        .filter(|(card, _)| changed_cards.contains(*card))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                _ => (*data).clone(),
            };
            (*v, data)
        })
        .collect();
    let base_version = base.map(|b| {
        myflashplay_client::version::encode(
            docs.iter()
                .filter_map(|id| b.get(id).map(|h| (id, h.as_slice()))),
        )
    });
    Ok(PostPlan {
        docs,
        parts: narrowed,
        base_version,
    })
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

/// The items of a posted array (or object's values); none for anything
/// else.
fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(m) => m.values().collect(),
        _ => Vec::new(),
    }
}

fn by_id(v: &Value, key: &str) -> Result<BTreeMap<String, Value>, ViewError> {
    if !matches!(v, Value::Array(_) | Value::Object(_) | Value::Null) {
        return Err(shape("expected an array of objects"));
    }
    items(v)
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

    /// An account with live, deleted and conflicting decks, reviews,
    /// achievements, stars and preferences.
    fn busy_account() -> Replica {
        let mut server = replica(1);
        for (id, md) in [
            ("d1", "q1 :: a1\nq2 :: a2\n"),
            ("d2", "x :: y\n"),
            ("d3", "gone :: soon\n"),
        ] {
            server
                .create_deck(&json!({"id": id, "name": id, "emoji": "📚", "description": "", "markdown": md}))
                .unwrap();
        }
        let review = |deck: &str, card: &str, correct| myflashplay_client::replica::ReviewInput {
            deck_id: deck.into(),
            card_id: card.into(),
            correct,
            response_ms: 2500,
            at: "2026-11-20T10:00:00.000Z".into(),
            quality: None,
        };
        server.record_review(&review("d1", "c1", true)).unwrap();
        server.record_review(&review("d2", "c9", false)).unwrap();
        server.record_review(&review("d3", "c7", true)).unwrap();
        server.delete_deck("d3").unwrap();
        server.star("public-1").unwrap();
        server.set_preference("theme", &json!("dark")).unwrap();
        server
            .set_achievement(
                &json!({"achievementId": "streak-10", "progress": 7, "maxProgress": 10}),
            )
            .unwrap();
        // Two devices rename d2 concurrently: a visible conflict.
        let mut a = Replica::from_docs(USER, &[5; 16], server.docs().clone()).unwrap();
        let mut b = Replica::from_docs(USER, &[6; 16], server.docs().clone()).unwrap();
        a.update_deck("d2", json!({"name": "A"}).as_object().unwrap())
            .unwrap();
        b.update_deck("d2", json!({"name": "B"}).as_object().unwrap())
            .unwrap();
        for device in [a, b] {
            for (id, mut d) in device.into_docs() {
                server
                    .docs_mut()
                    .get_mut(&id)
                    .unwrap()
                    .merge(&mut d)
                    .unwrap();
            }
        }
        server
    }

    fn streamed(r: &Replica, one: Option<View>) -> Value {
        let pieces = get_streamed(USER, &[3; 16], one, |id| {
            Ok::<_, ViewError>(r.docs().get(id).cloned())
        })
        .unwrap();
        serde_json::from_slice(&pieces.concat()).unwrap()
    }

    #[test]
    fn the_views_read_one_deck_document_at_a_time_are_the_views() {
        let server = busy_account();
        let mut wanted = vec![(None, get_full(&server).unwrap())];
        for v in ALL {
            wanted.push((Some(v), get(&server, v).unwrap()));
        }
        for (one, mut want) in wanted {
            let mut got = streamed(&server, one);
            // The version names the documents read: each at its heads.
            let named = parse_version(got["version"].as_str().unwrap()).unwrap();
            for (id, heads) in &named {
                assert_eq!(*heads, server.docs()[id].get_heads());
            }
            let decks_read = if one.is_none_or(|v| v == View::Decks || v == View::Progress) {
                3
            } else {
                0
            };
            assert_eq!(named.len(), 1 + decks_read, "{one:?}");
            got.as_object_mut().unwrap().remove("version");
            want.as_object_mut().unwrap().remove("version");
            assert_eq!(got, want, "{one:?}");
        }
        let full = streamed(&server, None);
        assert_eq!(full["decks"].as_array().unwrap().len(), 2);
        assert!(full["decks"][1]["conflicts"]["name"].is_array());
        assert_eq!(
            full["progress"].as_object().unwrap().len(),
            2,
            "d3 is deleted"
        );
    }

    /// Posts through the plan: only its documents, its parts, its version.
    fn post_planned(
        server: &mut Replica,
        parts: &[(View, &Value)],
        base: Option<&str>,
    ) -> PostPlan {
        let plan = plan_post(USER, &[7; 16], parts, base, |id| {
            Ok::<_, ViewError>(server.docs().get(id).cloned())
        })
        .unwrap();
        let docs: Docs = plan
            .docs
            .iter()
            .filter_map(|id| Some((*id, server.docs().get(id)?.clone())))
            .collect();
        let mut some = Replica::from_docs(USER, &[7; 16], docs).unwrap();
        let narrowed: Vec<(View, &Value)> = plan.parts.iter().map(|(v, d)| (*v, d)).collect();
        post(
            &mut some,
            &narrowed,
            plan.base_version.as_deref(),
            &[7; 16],
            1,
            "json",
        )
        .unwrap();
        for (id, mut d) in some.into_docs() {
            match server.docs_mut().get_mut(&id) {
                Some(doc) => {
                    doc.merge(&mut d).unwrap();
                }
                None => {
                    server.docs_mut().insert(id, d);
                }
            }
        }
        plan
    }

    #[test]
    fn a_write_planned_one_deck_at_a_time_writes_what_the_whole_write_writes() {
        let mut server = busy_account();
        let read = get_full(&server).unwrap();
        let version = read["version"].as_str().unwrap().to_owned();
        other_device_edit(&mut server, |d| {
            d.edit_markdown("d1", "q1 :: a1\nq2 :: a2\nq3 :: a3\n")
                .unwrap()
        });
        let mut decks = read["decks"].clone();
        let list = decks.as_array_mut().unwrap();
        list.retain(|d| d["id"] != "d1"); // deleted
        list.push(json!({"id": "d4", "name": "New", "emoji": "🆕", "description": "", "markdown": "n :: m\n"}));
        let mut progress = read["progress"].clone();
        progress["c9"]["stats"]["views"] = json!(5);
        progress["c9"]["stats"]["incorrectCount"] = json!(5);
        let preferences = json!({"theme": "light"});
        let parts = [
            (View::Decks, &decks),
            (View::Progress, &progress),
            (View::Preferences, &preferences),
        ];
        let mut whole = Replica::from_docs(USER, &[1; 16], server.docs().clone()).unwrap();
        post(&mut whole, &parts, Some(&version), &[7; 16], 1, "json").unwrap();
        let plan = post_planned(&mut server, &parts, Some(&version));
        let deck_doc = |id: &str| myflashplay_client::layout::deck_doc_id(USER, id);
        // The root, the deleted d1, d2 (its progress) and the new d4; not
        // d3 (deleted before the read, unchanged).
        assert_eq!(plan.docs[0], myflashplay_client::layout::root_id(USER));
        let touched: BTreeSet<DocumentId> = plan.docs[1..].iter().copied().collect();
        assert_eq!(
            touched,
            BTreeSet::from([deck_doc("d1"), deck_doc("d2"), deck_doc("d4")])
        );
        let mut got = get_full(&server).unwrap();
        let mut want = get_full(&whole).unwrap();
        for v in [&mut got, &mut want] {
            v.as_object_mut().unwrap().remove("version");
        }
        assert_eq!(got, want);
        assert!(got["decks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["id"] != "d1"));
        assert_eq!(got["progress"]["c9"]["stats"]["views"], 5);
    }

    #[test]
    fn view_names() {
        for v in ALL {
            assert_eq!(View::parse(v.key()), Some(v));
        }
        assert_eq!(View::parse("sessions"), None);
    }
}
