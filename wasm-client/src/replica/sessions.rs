//! Game sessions, one document per month of `startTime`.

use super::{top, Replica, ReplicaError};
use crate::layout::{self, json, DocKind};
use crate::model::{self, timestamp, GameSession};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use serde_json::{Map, Value};

impl Replica {
    /// Records a finished game (`GameSession` JSON) in its month's
    /// document, keyed by its id, and lists the month in the root.
    pub fn record_session(&mut self, session: &Value) -> Result<(), ReplicaError> {
        let parsed: GameSession = model::parse("session", session)?;
        let month = timestamp::month_of("session.startTime", &parsed.start_time)?;
        let doc_id = layout::sessions_doc_id(&self.user_id, &month);
        self.ensure_doc(DocKind::Sessions, &month, doc_id)?;
        self.edit(doc_id, |tx, cx| {
            let sessions = top(tx, "sessions", ObjType::Map, cx.doc)?;
            json::reconcile_prop(tx, &sessions, &parsed.id, session, true)?;
            Ok(())
        })?;
        let root_id = self.root_id();
        self.edit(root_id, |tx, cx| {
            let months = top(tx, "sessionMonths", ObjType::Map, cx.doc)?;
            if tx.get(&months, month.as_str())?.is_none() {
                tx.put(&months, month.as_str(), doc_id.to_string())?;
            }
            Ok(())
        })
    }

    /// The sessions documents the root lists (one a month).
    pub(super) fn session_doc_ids(&self) -> Result<Vec<crate::DocumentId>, ReplicaError> {
        let root = self.root()?;
        let months = top(root, "sessionMonths", ObjType::Map, self.root_id())?;
        Ok(root
            .keys(&months)
            .map(|month| layout::sessions_doc_id(&self.user_id, &month))
            .collect())
    }

    /// Every game session held here, id → `GameSession`.
    pub fn sessions(&self) -> Result<Map<String, Value>, ReplicaError> {
        let root = self.root()?;
        let months = top(root, "sessionMonths", ObjType::Map, self.root_id())?;
        let mut out = Map::new();
        for month in root.keys(&months) {
            let doc_id = layout::sessions_doc_id(&self.user_id, &month);
            let Some(doc) = self.doc_of(&doc_id, DocKind::Sessions)? else {
                continue;
            };
            let sessions = top(doc, "sessions", ObjType::Map, doc_id)?;
            for id in doc.keys(&sessions) {
                if let Some(v) = json::read_prop(doc, &sessions, &id)? {
                    out.insert(id, v);
                }
            }
        }
        Ok(out)
    }
}
