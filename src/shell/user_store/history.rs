//! `/sync/decks/{deck_id}` (`?version=`), `…/history`, `…/restore`,
//! `…/undelete` and `/sync/decks/deleted` inside the `UserStore`: the
//! shared crate's history code over the stored documents. A restore or an
//! undelete is a change of the session's device, stored and pushed like
//! one a device sent.

use super::documents::heads_of;
use super::{Answer, UserStore};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::sessions::Whoami;
use crate::shell::calls::DeckOp;
use crate::shell::{clock, http, random};
use myflashplay_client::layout::{self, DocKind};
use myflashplay_client::{version, Replica};
use serde_json::{Map, Value};

impl UserStore {
    /// Answers a deck call (`SessionAct::Deck`).
    pub(crate) fn deck(
        &self,
        me: &Whoami,
        op: DeckOp,
        deck_id: Option<&str>,
        version: Option<&str>,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Answer {
        let user_id = me.user_id.to_string();
        let user_id = user_id.as_str();
        if op == DeckOp::Deleted {
            // One deck document at a time (a heavy learner's would not
            // fit together).
            let actor: [u8; 16] = random::bytes()?;
            let root_id = layout::root_id(user_id);
            let root = self.with_engine(|e| Ok(e.read_document(&root_id)?))?;
            let mut replica = Replica::from_docs(
                user_id,
                &actor,
                root.map(|r| (root_id, r)).into_iter().collect(),
            )?;
            let names = replica.device_names()?;
            let mut decks = Vec::new();
            replica.each_deck(
                |id| self.with_engine(|e| Ok(e.read_document(id)?)),
                |r, deck| {
                    decks.extend(r.deleted_deck_in_pass(deck, &names)?);
                    Ok::<_, ApiError>(())
                },
            )?;
            return http::json(200, &serde_json::json!({ "decks": decks }));
        }
        let deck_id = deck_id.ok_or_else(|| ApiError::internal("deck call without deck_id"))?;
        let mut replica = self.deck_replica(user_id, deck_id)?;
        match op {
            DeckOp::History => {
                let page = replica.deck_history(deck_id, limit, before)?;
                http::json(200, &page)
            }
            DeckOp::Get => match version {
                Some(v) => {
                    let deck = replica.deck_at(deck_id, v)?;
                    http::json(200, &serde_json::json!({ "version": v, "data": deck }))
                }
                None => deck_answer(&replica, deck_id),
            },
            DeckOp::Restore | DeckOp::Undelete => {
                let before = heads_of(&replica);
                let actor: [u8; 16] = random::bytes()?;
                let now_ms = clock::now_ms();
                let mut writer = Replica::from_docs(user_id, &actor, replica.into_docs())?;
                writer.set_now(now_ms as i64);
                writer.set_device_name(me.device())?;
                if op == DeckOp::Restore {
                    let v = version.ok_or_else(|| ApiError::internal("restore without version"))?;
                    writer.restore_deck(deck_id, v)
                } else {
                    writer.undelete_deck(deck_id)
                }?;
                let docs = writer.docs().clone();
                self.store_changed(writer, &before, &actor, now_ms)?;
                replica = Replica::from_docs(user_id, &actor, docs)?;
                deck_answer(&replica, deck_id)
            }
            DeckOp::Deleted => Err(ApiError::internal("unreachable")),
        }
    }

    /// The root and the deck's document; 404 when the user has no such deck.
    fn deck_replica(&self, user_id: &str, deck_id: &str) -> Result<Replica, ApiError> {
        let ids = [
            layout::root_id(user_id),
            layout::deck_doc_id(user_id, deck_id),
        ];
        let docs = self.with_engine(|e| Ok(e.export_some(&ids)?))?;
        let actor: [u8; 16] = random::bytes()?;
        let replica = Replica::from_docs(user_id, &actor, docs)?;
        let held = replica
            .docs()
            .get(&ids[1])
            .is_some_and(|d| !d.is_empty() && kind_is_deck(d));
        if !held {
            return Err(ApiError::new(ErrorCode::NotFound, "no such deck"));
        }
        Ok(replica)
    }
}

fn kind_is_deck(doc: &automerge::Automerge) -> bool {
    use automerge::ReadDoc;
    matches!(
        doc.get(automerge::ROOT, "kind"),
        Ok(Some((automerge::Value::Scalar(s), _))) if s.as_str() == Some(DocKind::Deck.as_str())
    )
}

/// `{version, data}`: the deck now (with its conflicts), `version` naming
/// its document's heads. A deleted deck reads as it was when deleted.
fn deck_answer(replica: &Replica, deck_id: &str) -> Answer {
    let doc_id = layout::deck_doc_id(replica.user_id(), deck_id);
    let heads = replica
        .docs()
        .get(&doc_id)
        .map(|d| d.get_heads())
        .unwrap_or_default();
    let v = version::encode([(&doc_id, heads.as_slice())]);
    let mut deck = replica.deck_at(deck_id, &v)?;
    let conflicts = replica.deck_conflicts(deck_id)?;
    if let (false, Value::Object(d)) = (conflicts.is_empty(), &mut deck) {
        d.insert(
            myflashplay_client::replica::CONFLICTS_KEY.into(),
            Value::Object(conflicts),
        );
    }
    let mut out = Map::new();
    out.insert("version".into(), Value::String(v));
    out.insert("data".into(), deck);
    http::json(200, &Value::Object(out))
}
