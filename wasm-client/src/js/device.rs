//! [`Device`]: one device's replica, sync driver and save bookkeeping.

use super::error::JsFailure;
use crate::replica::{LocalStorage, Replica, ReviewInput};
use crate::sync::{ClientState, PeerId, RepoMessage, SyncClient};
use crate::DocumentId;
use automerge::{Automerge, ChangeHash};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;

type JsResult<T> = Result<T, JsValue>;

/// One device of one user: the documents, the sync driver, and which
/// documents changed since they were last handed out for saving.
#[wasm_bindgen]
pub struct Device {
    replica: Replica,
    client: SyncClient,
    /// Heads of each document as last saved by the caller.
    saved: BTreeMap<DocumentId, Vec<ChangeHash>>,
}

/// What applying server messages did.
#[wasm_bindgen]
pub struct Received {
    kind: String,
    changed: bool,
    errors: Vec<String>,
}

#[wasm_bindgen]
impl Received {
    /// The message type (`"batch"` for a `POST /sync` answer).
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.kind.clone()
    }

    /// True when a document's content changed (a remote edit arrived).
    #[wasm_bindgen(getter)]
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Messages of a batch that were refused (their documents' sync state
    /// was reset, so the next round retries them); empty when all applied.
    #[wasm_bindgen(getter)]
    pub fn errors(&self) -> Vec<String> {
        self.errors.clone()
    }
}

/// A review as the JavaScript API takes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewJs {
    deck_id: String,
    card_id: String,
    correct: bool,
    #[serde(default)]
    response_ms: u64,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    quality: Option<u8>,
}

fn parse_json(text: &str) -> Result<Value, JsFailure> {
    Ok(serde_json::from_str(text)?)
}

/// JSON text as a `T`, read through a [`Value`]: the one deserializer path
/// the crate compiles its types for (a direct `from_str::<T>` would put a
/// second copy of `T`'s deserializer in the wasm).
fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, JsFailure> {
    Ok(T::deserialize(&parse_json(text)?)?)
}

fn to_json(v: &impl serde::Serialize) -> JsResult<String> {
    serde_json::to_string(v).map_err(|e| JsFailure::from(e).into())
}

fn doc_id(text: &str) -> Result<DocumentId, JsFailure> {
    text.parse()
        .map_err(|e| JsFailure::new("bad_document_id", e))
}

#[wasm_bindgen]
impl Device {
    /// A device of `user_id` with Automerge actor `actor` (1..=32 random
    /// bytes kept in the device's storage) and protocol peer id `peer_id`.
    #[wasm_bindgen(constructor)]
    pub fn new(user_id: &str, actor: &[u8], peer_id: &str) -> JsResult<Device> {
        let replica = Replica::new(user_id, actor).map_err(JsFailure::from)?;
        let peer = PeerId::new(peer_id).map_err(|e| JsFailure::new("identity", e))?;
        Ok(Device {
            replica,
            client: SyncClient::new(peer),
            saved: BTreeMap::new(),
        })
    }

    /// Adds a document read back from local storage (merged into what is
    /// here, e.g. the root genesis). `own`: the copy is this client's saved
    /// one, so what it holds counts as saved; another client's copy (another
    /// tab's) leaves that as it was, and whatever it adds is handed out by
    /// [`Device::take_dirty`] to be saved here too.
    #[wasm_bindgen(js_name = loadDocument)]
    pub fn load_document(&mut self, id: &str, bytes: &[u8], own: bool) -> JsResult<()> {
        let id = doc_id(id)?;
        let mut loaded =
            Automerge::load(bytes).map_err(|e| JsFailure::new("storage_corrupt", e))?;
        let heads = loaded.get_heads();
        match self.replica.docs_mut().get_mut(&id) {
            Some(doc) => {
                doc.merge(&mut loaded)
                    .map_err(|e| JsFailure::new("storage_corrupt", e))?;
            }
            None => {
                self.replica.docs_mut().insert(id, loaded);
            }
        }
        if own {
            self.saved.insert(id, heads);
        }
        Ok(())
    }

    /// Restores what [`Device::sync_state`] returned in an earlier session.
    #[wasm_bindgen(js_name = setSyncState)]
    pub fn set_sync_state(&mut self, json: &str) -> JsResult<()> {
        let state: ClientState = from_json(json)?;
        self.client = SyncClient::from_state(self.client.peer_id().clone(), state);
        Ok(())
    }

    /// The sync bookkeeping to keep between sessions (JSON).
    #[wasm_bindgen(js_name = syncState)]
    pub fn sync_state(&self) -> JsResult<String> {
        to_json(self.client.state())
    }

    /// Documents changed since the last call, as `[id, bytes]` pairs to
    /// write to local storage (each a full save; documents are small).
    #[wasm_bindgen(js_name = takeDirty)]
    pub fn take_dirty(&mut self) -> js_sys::Array {
        let out = js_sys::Array::new();
        for (id, doc) in self.replica.docs() {
            let heads = doc.get_heads();
            if heads.is_empty() || self.saved.get(id) == Some(&heads) {
                continue;
            }
            let pair = js_sys::Array::new();
            pair.push(&JsValue::from_str(&id.to_string()));
            pair.push(&js_sys::Uint8Array::from(doc.save().as_slice()));
            out.push(&pair);
            self.saved.insert(*id, heads);
        }
        out
    }

    /// Sets "now" (Unix ms) for the following edits' timestamps.
    #[wasm_bindgen(js_name = setNow)]
    pub fn set_now(&mut self, now_ms: f64) {
        self.replica.set_now(now_ms as i64);
    }

    /// This device's Automerge actor id, hex.
    #[wasm_bindgen(js_name = actorId)]
    pub fn actor_id(&self) -> String {
        self.replica.actor_hex()
    }

    // ---- reads (JSON text in the app's shapes) ----

    /// Live decks, id → `Deck` (with `markdown`, and `conflicts` where
    /// two devices' values of a field both survive).
    pub fn decks(&self) -> JsResult<String> {
        let mut decks = self.replica.decks().map_err(JsFailure::from)?;
        self.replica
            .annotate_decks(&mut decks)
            .map_err(JsFailure::from)?;
        to_json(&decks)
    }

    /// Card id → `CardProgress`.
    pub fn progress(&self) -> JsResult<String> {
        to_json(&self.replica.progress().map_err(JsFailure::from)?)
    }

    /// Session id → `GameSession`.
    pub fn sessions(&self) -> JsResult<String> {
        to_json(&self.replica.sessions().map_err(JsFailure::from)?)
    }

    /// Achievement id → `AchievementProgress`.
    pub fn achievements(&self) -> JsResult<String> {
        to_json(&self.replica.achievements().map_err(JsFailure::from)?)
    }

    /// Starred public deck ids.
    pub fn starred(&self) -> JsResult<String> {
        to_json(&self.replica.starred().map_err(JsFailure::from)?)
    }

    /// `UserPreferences` (the fields ever set), with `conflicts`.
    pub fn preferences(&self) -> JsResult<String> {
        let mut prefs = self.replica.preferences().map_err(JsFailure::from)?;
        self.replica
            .annotate_preferences(&mut prefs)
            .map_err(JsFailure::from)?;
        to_json(&prefs)
    }

    /// Every conflict: `{decks: {id: {field: [values]}}, preferences:
    /// {path: [values]}}` (empty maps when none).
    pub fn conflicts(&self) -> JsResult<String> {
        to_json(&self.replica.all_conflicts().map_err(JsFailure::from)?)
    }

    // ---- history (from the local documents, offline too) ----

    /// Names this device in the account's root document (on its next write).
    #[wasm_bindgen(js_name = setDeviceName)]
    pub fn set_device_name(&mut self, name: &str) -> JsResult<()> {
        Ok(self
            .replica
            .set_device_name(name)
            .map_err(JsFailure::from)?)
    }

    /// A page of a deck's history (`{entries, next_before?}`), newest first;
    /// `limit` 0 for the default.
    #[wasm_bindgen(js_name = deckHistory)]
    pub fn deck_history(
        &self,
        deck_id: &str,
        limit: usize,
        before: Option<String>,
    ) -> JsResult<String> {
        let limit = (limit > 0).then_some(limit);
        to_json(
            &self
                .replica
                .deck_history(deck_id, limit, before.as_deref())
                .map_err(JsFailure::from)?,
        )
    }

    /// The deck as it was at `version`.
    #[wasm_bindgen(js_name = deckAt)]
    pub fn deck_at(&self, deck_id: &str, version: &str) -> JsResult<String> {
        to_json(
            &self
                .replica
                .deck_at(deck_id, version)
                .map_err(JsFailure::from)?,
        )
    }

    /// Makes the deck's markdown and fields what they were at `version`
    /// (one new change; progress is kept).
    #[wasm_bindgen(js_name = restoreDeck)]
    pub fn restore_deck(&mut self, deck_id: &str, version: &str) -> JsResult<()> {
        Ok(self
            .replica
            .restore_deck(deck_id, version)
            .map_err(JsFailure::from)?)
    }

    /// Deleted decks: `[{deck_id, name, deleted_at, device_name, version}]`.
    #[wasm_bindgen(js_name = deletedDecks)]
    pub fn deleted_decks(&self) -> JsResult<String> {
        to_json(&self.replica.deleted_deck_list().map_err(JsFailure::from)?)
    }

    /// Brings a deleted deck back with its progress.
    #[wasm_bindgen(js_name = undeleteDeck)]
    pub fn undelete_deck(&mut self, deck_id: &str) -> JsResult<()> {
        Ok(self
            .replica
            .undelete_deck(deck_id)
            .map_err(JsFailure::from)?)
    }

    /// Everything, in the `GET /user/export` shape.
    #[wasm_bindgen(js_name = exportData)]
    pub fn export_data(&self) -> JsResult<String> {
        to_json(&self.replica.export().map_err(JsFailure::from)?)
    }

    /// The app's localStorage entries (key → stored string).
    #[wasm_bindgen(js_name = exportLocalStorage)]
    pub fn export_local_storage(&self) -> JsResult<String> {
        to_json(
            &self
                .replica
                .export_local_storage()
                .map_err(JsFailure::from)?,
        )
    }

    // ---- edits (each one commit per touched document) ----

    /// The app's bundled sample decks (JSON array of `{id, name,
    /// description, tags, markdown}`): names for first-run imports and the
    /// shared first version of each sample deck.
    #[wasm_bindgen(js_name = setSamples)]
    pub fn set_samples(&mut self, samples_json: &str) -> JsResult<()> {
        let list = crate::model::SampleDeck::list_from_json(&parse_json(samples_json)?)
            .map_err(crate::replica::ReplicaError::from)
            .map_err(JsFailure::from)?;
        self.replica.set_samples(list);
        Ok(())
    }

    /// Imports the app's localStorage entries (key → stored string).
    #[wasm_bindgen(js_name = importLocalStorage)]
    pub fn import_local_storage(&mut self, entries_json: &str) -> JsResult<()> {
        let entries: LocalStorage = from_json(entries_json)?;
        Ok(self
            .replica
            .import_local_storage(&entries)
            .map_err(JsFailure::from)?)
    }

    /// Creates (or re-creates) a deck from `Deck` JSON.
    #[wasm_bindgen(js_name = createDeck)]
    pub fn create_deck(&mut self, deck_json: &str) -> JsResult<()> {
        let deck = parse_json(deck_json)?;
        Ok(self.replica.create_deck(&deck).map_err(JsFailure::from)?)
    }

    /// Changes some fields of a deck (`markdown` as a text diff).
    #[wasm_bindgen(js_name = updateDeck)]
    pub fn update_deck(&mut self, deck_id: &str, fields_json: &str) -> JsResult<()> {
        let Value::Object(fields) = parse_json(fields_json)? else {
            return Err(
                JsFailure::new("validation_failed", "deck fields must be an object").into(),
            );
        };
        Ok(self
            .replica
            .update_deck(deck_id, &fields)
            .map_err(JsFailure::from)?)
    }

    /// Makes the deck's markdown equal to `text`, as a character diff.
    #[wasm_bindgen(js_name = editMarkdown)]
    pub fn edit_markdown(&mut self, deck_id: &str, text: &str) -> JsResult<()> {
        Ok(self
            .replica
            .edit_markdown(deck_id, text)
            .map_err(JsFailure::from)?)
    }

    /// Deletes a deck (a tombstone; delete wins over concurrent edits).
    #[wasm_bindgen(js_name = deleteDeck)]
    pub fn delete_deck(&mut self, deck_id: &str) -> JsResult<()> {
        Ok(self.replica.delete_deck(deck_id).map_err(JsFailure::from)?)
    }

    /// Records one answer; returns the review event id.
    #[wasm_bindgen(js_name = recordReview)]
    pub fn record_review(&mut self, review_json: &str, now_iso: &str) -> JsResult<String> {
        let r: ReviewJs = from_json(review_json)?;
        let input = ReviewInput {
            deck_id: r.deck_id,
            card_id: r.card_id,
            correct: r.correct,
            response_ms: r.response_ms,
            at: r.at.unwrap_or_else(|| now_iso.to_string()),
            quality: r.quality,
        };
        Ok(self
            .replica
            .record_review(&input)
            .map_err(JsFailure::from)?)
    }

    /// Records a finished game (`GameSession` JSON).
    #[wasm_bindgen(js_name = recordSession)]
    pub fn record_session(&mut self, session_json: &str) -> JsResult<()> {
        let session = parse_json(session_json)?;
        Ok(self
            .replica
            .record_session(&session)
            .map_err(JsFailure::from)?)
    }

    /// Sets an achievement's progress (`AchievementProgress` JSON).
    #[wasm_bindgen(js_name = setAchievement)]
    pub fn set_achievement(&mut self, achievement_json: &str) -> JsResult<()> {
        let a = parse_json(achievement_json)?;
        Ok(self.replica.set_achievement(&a).map_err(JsFailure::from)?)
    }

    /// Stars a public deck.
    pub fn star(&mut self, public_deck_id: &str) -> JsResult<()> {
        Ok(self.replica.star(public_deck_id).map_err(JsFailure::from)?)
    }

    /// Unstars a public deck.
    pub fn unstar(&mut self, public_deck_id: &str) -> JsResult<()> {
        Ok(self
            .replica
            .unstar(public_deck_id)
            .map_err(JsFailure::from)?)
    }

    /// Sets one preference by dotted path to a JSON value.
    #[wasm_bindgen(js_name = setPreference)]
    pub fn set_preference(&mut self, path: &str, value_json: &str) -> JsResult<()> {
        let value = parse_json(value_json)?;
        Ok(self
            .replica
            .set_preference(path, &value)
            .map_err(JsFailure::from)?)
    }

    /// Merges a partial `UserPreferences` object, field by field.
    #[wasm_bindgen(js_name = setPreferences)]
    pub fn set_preferences(&mut self, prefs_json: &str) -> JsResult<()> {
        let Value::Object(mut prefs) = parse_json(prefs_json)? else {
            return Err(
                JsFailure::new("validation_failed", "preferences must be an object").into(),
            );
        };
        // Read-only: what a reader was shown, never written back.
        prefs.remove(crate::replica::CONFLICTS_KEY);
        self.replica
            .set_preferences(&prefs, None)
            .map_err(JsFailure::from)?;
        Ok(())
    }

    // ---- sync ----

    /// The `join` frame a WebSocket connection opens with.
    pub fn join(&self) -> Vec<u8> {
        self.client.join().encode()
    }

    /// The `changes-since` frame that starts a round.
    pub fn start(&self) -> Vec<u8> {
        self.client.start().encode()
    }

    /// Frames to send now (WebSocket), one message each.
    pub fn poll(&mut self) -> js_sys::Array {
        let out = js_sys::Array::new();
        for m in self.client.poll_messages(self.replica.docs()) {
            out.push(&js_sys::Uint8Array::from(m.encode().as_slice()));
        }
        out
    }

    /// A `POST /sync` body (a CBOR array), or `undefined` when there is
    /// nothing to send. `with_start` puts the round's `changes-since` first.
    #[wasm_bindgen(js_name = pollBatch)]
    pub fn poll_batch(&mut self, with_start: bool) -> Option<Vec<u8>> {
        let mut batch = Vec::new();
        if with_start {
            batch.push(self.client.start());
        }
        batch.extend(self.client.poll_messages(self.replica.docs()));
        (!batch.is_empty()).then(|| RepoMessage::encode_batch(&batch))
    }

    /// Applies one frame from the server. A refused sync message is an
    /// error (that document's sync restarts); a malformed frame too.
    pub fn receive(&mut self, frame: &[u8]) -> JsResult<Received> {
        let msg = RepoMessage::decode(frame).map_err(JsFailure::from)?;
        let kind = msg.kind().to_string();
        let changed = self.apply(msg)?;
        Ok(Received {
            kind,
            changed,
            errors: Vec::new(),
        })
    }

    /// Applies a `POST /sync` answer. Messages refused one by one are
    /// listed in `errors`; a malformed body is an error.
    #[wasm_bindgen(js_name = receiveBatch)]
    pub fn receive_batch(&mut self, body: &[u8]) -> JsResult<Received> {
        let msgs = RepoMessage::decode_batch(body).map_err(JsFailure::from)?;
        let mut changed = false;
        let mut errors = Vec::new();
        for m in msgs {
            match self.apply(m) {
                Ok(c) => changed |= c,
                Err(e) => errors.push(e.message().to_string()),
            }
        }
        Ok(Received {
            kind: "batch".into(),
            changed,
            errors,
        })
    }

    /// Forgets every document's sync state, so the next messages start
    /// afresh (a stalled round: a frame may have been lost).
    pub fn restart(&mut self) {
        self.client.restart();
    }

    /// True when no document of the current round still needs a message.
    #[wasm_bindgen(js_name = isQuiet)]
    pub fn is_quiet(&self) -> bool {
        self.client.is_quiet()
    }

    /// How many documents hold changes the server is not known to have.
    #[wasm_bindgen(js_name = pendingDocuments)]
    pub fn pending_documents(&self) -> u32 {
        let synced = &self.client.state().synced_heads;
        self.replica
            .docs()
            .iter()
            .filter(|(id, doc)| {
                let heads = doc.get_heads();
                !heads.is_empty() && synced.get(*id) != Some(&heads)
            })
            .count() as u32
    }
}

impl Device {
    /// Applies one message; true when a document's content changed.
    fn apply(&mut self, msg: RepoMessage) -> Result<bool, JsFailure> {
        let target = match &msg {
            RepoMessage::Sync(m) | RepoMessage::Request(m) => Some(m.document_id),
            _ => None,
        };
        let before = target.and_then(|id| self.replica.docs().get(&id).map(Automerge::get_heads));
        self.client.handle_message(self.replica.docs_mut(), msg)?;
        let after = target.and_then(|id| self.replica.docs().get(&id).map(Automerge::get_heads));
        let changed = target.is_some() && before != after;
        if let (true, Some(id)) = (changed, target) {
            // Two first versions of one deck's text met: drop the cards
            // they both hold (a change of this device, saved and sent like
            // any edit). A document it cannot repair syncs on as it is.
            let _ = self.replica.repair_deck(id);
        }
        Ok(changed)
    }
}
