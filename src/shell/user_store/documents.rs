//! The user's documents through JSON: the changes feed, the JSON views,
//! the export and the import. Edits are handed to the engine as a device
//! would send them, so they are checked, stored, sequenced and pushed the
//! same way as a device's.

use super::{Answer, UserStore};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::sessions::Whoami;
use crate::auth::UserId;
use crate::shell::{clock, http, random};
use crate::store;
use crate::views::{self, View};
use myflashplay_client::layout::{genesis, DocKind};
use myflashplay_client::replica::ExportWriter;
use myflashplay_client::sync::{ClientState, PeerId, SyncClient};
use myflashplay_client::{Docs, Replica};

impl UserStore {
    /// `GET /sync/changes?since=`.
    pub(crate) fn changes(&self, since: u64) -> Answer {
        let manifest = self.with_engine(|e| e.changes_since(since).map_err(ApiError::from))?;
        http::json(200, &manifest)
    }

    /// The root document from the account's first session on (API v1.1):
    /// its deterministic genesis, the same first change every device makes
    /// when it creates the root offline, so a stock automerge-repo client
    /// can `find` `root_document_id` at once and no device's root competes
    /// with it. Nothing is written when the root is already stored.
    pub(crate) fn ensure_root(&self, user_id: UserId) -> Result<(), ApiError> {
        let root = user_id.root_document_id();
        let held = self.with_engine(|e| Ok(e.export_some(&[root])?))?;
        if held.get(&root).is_some_and(|d| !d.is_empty()) {
            return Ok(());
        }
        let actor: [u8; 16] = random::bytes()?;
        let user = user_id.to_string();
        let doc = genesis::create(
            DocKind::Root,
            &user,
            automerge::ActorId::from(actor.as_slice()),
        )
        .map_err(ApiError::internal)?;
        let replica = Replica::from_docs(&user, &actor, Docs::from([(root, doc)]))?;
        self.store_changed(replica, &Heads::new(), &actor, clock::now_ms())
    }

    /// `GET /user/export`: the whole account in MyFlashPlay's shapes,
    /// written one deck document at a time and sent in pieces, so neither
    /// the documents nor the answer are held whole (a heavy learner's would
    /// not fit the isolate's 128 MB; docs/benchmarks.md).
    pub(crate) fn export(&self, me: &Whoami) -> Answer {
        let actor: [u8; 16] = random::bytes()?;
        let mut extra = serde_json::Map::new();
        extra.insert("user_id".into(), me.user_id.to_string().into());
        extra.insert("email".into(), me.email.as_str().into());
        let text = ExportWriter::write(&me.user_id.to_string(), &actor, &extra, |id| {
            self.with_engine(|e| Ok(e.read_document(id)?))
        })?;
        http::json_pieces(200, text.len(), text)
    }

    /// `GET|POST /sync/{view}` and `/sync/full` (`one: None`).
    pub(crate) fn view(
        &self,
        me: &Whoami,
        one: Option<View>,
        body: Option<&serde_json::Value>,
    ) -> Answer {
        if let Some(body) = body {
            self.write_view(me, one, body)?;
        }
        let actor: [u8; 16] = random::bytes()?;
        let pieces = views::get_streamed(&me.user_id.to_string(), &actor, one, |id| {
            self.with_engine(|e| Ok(e.read_document(id)?))
        })?;
        http::json_pieces(200, pieces.iter().map(Vec::len).sum(), pieces.into_iter())
    }

    fn write_view(
        &self,
        me: &Whoami,
        one: Option<View>,
        body: &serde_json::Value,
    ) -> Result<(), ApiError> {
        let bad = |m: &str| ApiError::new(ErrorCode::ValidationFailed, m.to_owned());
        let obj = body
            .as_object()
            .ok_or_else(|| bad("the body must be an object"))?;
        let base = match obj.get("base_version") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(bad("base_version must be a string")),
        };
        let mut parts: Vec<(View, &serde_json::Value)> = Vec::new();
        match one {
            Some(v) => parts.push((v, obj.get("data").ok_or_else(|| bad("data is required"))?)),
            None => {
                for v in views::ALL {
                    if let Some(d) = obj.get(v.key()) {
                        parts.push((v, d));
                    }
                }
            }
        }
        // Only the documents the write touches are loaded (found one deck
        // document at a time): a heavy learner's would not fit together.
        let user = me.user_id.to_string();
        let actor: [u8; 16] = random::bytes()?;
        let plan = views::plan_post(&user, &actor, &parts, base, |id| {
            self.with_engine(|e| Ok(e.read_document(id)?))
        })?;
        let docs = self.with_engine(|e| Ok(e.export_some(&plan.docs)?))?;
        let mut replica = Replica::from_docs(&user, &actor, docs)?;
        let before = heads_of(&replica);
        let parts: Vec<(View, &serde_json::Value)> =
            plan.parts.iter().map(|(v, d)| (*v, d)).collect();
        let now_ms = clock::now_ms();
        views::post(
            &mut replica,
            &parts,
            plan.base_version.as_deref(),
            &actor,
            now_ms as i64,
            me.device(),
        )?;
        self.store_changed(replica, &before, &actor, now_ms)
    }

    /// `POST /user/import`: merges an export into the account (see
    /// `Replica::import_export`) and answers the summary.
    pub(crate) fn import(&self, me: &Whoami, data: &serde_json::Value) -> Answer {
        let actor: [u8; 16] = random::bytes()?;
        let now_ms = clock::now_ms();
        let user = me.user_id.to_string();
        let ids = Replica::import_documents(&user, data);
        let docs = self.with_engine(|e| Ok(e.export_some(&ids)?))?;
        let mut replica = Replica::from_docs(&user, &actor, docs)?;
        let before = heads_of(&replica);
        replica.set_now(now_ms as i64);
        replica.set_device_name(me.device())?;
        let summary = replica.import_export(data)?;
        let stored = self.store_changed(replica, &before, &actor, now_ms);
        // An import touches many documents at once, often large ones: let
        // them go (they reload from storage on use), so that the next part
        // of a large import starts from an empty memory.
        self.with_engine(|e| {
            e.unload_all();
            Ok(())
        })?;
        stored?;
        http::json(200, &summary)
    }

    /// Hands the documents of `replica` that changed since `before` to the
    /// engine as a device would, so they are checked, stored, sequenced and
    /// pushed the same way.
    pub(super) fn store_changed(
        &self,
        replica: Replica,
        before: &Heads,
        actor: &[u8; 16],
        now_ms: u64,
    ) -> Result<(), ApiError> {
        let mut changed = myflashplay_client::Docs::new();
        for (id, doc) in replica.into_docs() {
            if before.get(&id) != Some(&doc.get_heads()) {
                changed.insert(id, doc);
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let peer = PeerId::new(format!("json-view-{}", crate::hex::encode(actor)))
            .map_err(ApiError::internal)?;
        let mut others = Vec::new();
        let result = self.with_engine(|e| {
            let mut client = SyncClient::from_state(
                peer,
                ClientState {
                    last_seq: e.seq(),
                    ..ClientState::default()
                },
            );
            Ok(store::sync_until_quiet_routed(
                now_ms,
                &mut client,
                &mut changed,
                e,
                &mut |m| others.push(m),
            )?)
        });
        self.deliver(others);
        result.map(|_| ())
    }
}

/// Each document's heads, to tell which ones an edit changed.
pub(super) type Heads =
    std::collections::BTreeMap<myflashplay_client::DocumentId, Vec<automerge::ChangeHash>>;

pub(super) fn heads_of(replica: &Replica) -> Heads {
    replica
        .docs()
        .iter()
        .map(|(id, d)| (*id, d.get_heads()))
        .collect()
}
