//! What a live session asks of its `UserStore` ([`SessionAct`]): the
//! session rules of `auth::sessions`, the documents, the erasure.

use super::{Answer, UserStore};
use crate::auth::sessions::{self, Whoami};
use crate::auth::{profile, tickets};
use crate::auth::{AuthError, SessionId};
use crate::shell::calls::SessionAct;
use crate::shell::{http, random};
use worker::Request;

impl UserStore {
    /// What a live session asked for.
    pub(super) async fn act(
        &self,
        me: Whoami,
        session: SessionId,
        act: SessionAct,
        req: &mut Request,
        now: u64,
    ) -> Answer {
        let done = || http::json(200, &serde_json::json!({}));
        match act {
            SessionAct::Check => http::json(200, &me),
            SessionAct::Revoke { target } => {
                let target = target.unwrap_or(session);
                sessions::revoke(&self.db, &target, now)?;
                self.close_session_sockets(Some(&target));
                done()
            }
            SessionAct::RevokeOthers => {
                self.close_sockets(|s| s.is_some_and(|s| *s != session));
                sessions::revoke_others(&self.db, &session, now)?;
                done()
            }
            SessionAct::List => {
                let list = sessions::list(&self.db, &session)?;
                http::json(200, &serde_json::json!({ "sessions": list }))
            }
            SessionAct::Profile => self.profile(),
            SessionAct::SetProfile { display_name } => {
                profile::set_display_name(&self.db, display_name.as_deref())?;
                self.profile()
            }
            SessionAct::Ticket => {
                let ticket =
                    tickets::issue_ticket(&self.db, me.user_id, &session, now, random::bytes()?)?;
                http::json(200, &ticket)
            }
            SessionAct::Export => self.export(&me),
            SessionAct::Import { data } => self.import(&me, &data),
            SessionAct::Changes { since } => self.changes(since),
            SessionAct::View { view, body } => self.view(&me, view, body.as_ref()),
            SessionAct::Deck {
                op,
                deck_id,
                version,
                limit,
                before,
            } => self.deck(
                &me,
                op,
                deck_id.as_deref(),
                version.as_deref(),
                limit,
                before.as_deref(),
            ),
            SessionAct::Batch => self.sync_batch(req).await,
            SessionAct::Erase => self.erase().await,
        }
    }

    fn profile(&self) -> Answer {
        let p = profile::profile(&self.db)?.ok_or(AuthError::InvalidToken)?;
        http::json(200, &p.answer())
    }
}
