//! The sync side of a `UserStore` object: the engine (opened lazily over
//! the object's SQLite), WebSocket connections with the Hibernation API,
//! each message through the engine's admission path (frames here,
//! `POST /sync` batches in `batch.rs`).
//!
//! **Invariant:** every reply to a device is produced by the engine after
//! the writes it depends on; workerd's output gate holds it until they are
//! durable, so nothing is acknowledged before it is stored. A push of one
//! device's changes to the user's other sockets leaves as soon as they are
//! applied, before the write (`Engine::resume`): it acknowledges nothing.

use super::sockets::Attachment;
use super::UserStore;
use crate::api_error::close::{POLICY as CLOSE_POLICY, TOO_BIG as CLOSE_TOO_BIG};
use crate::api_error::ApiError;
use crate::shell::do_sql::DoSql;
use crate::shell::{clock, http};
use crate::store::{self, Engine, Step, StoreError, CHANGE_REFUSED};
use myflashplay_client::sync::{PeerId, RepoMessage, MAX_FRAME_BYTES};
use worker::WebSocket;

impl UserStore {
    /// Runs `f` on the engine, opening it first if this instance has none
    /// (first use, or after hibernation: then the peers of the sockets
    /// that survived are made live again so pushes reach them).
    pub(crate) fn with_engine<T>(
        &self,
        f: impl FnOnce(&mut Engine<DoSql>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut slot = self.engine.borrow_mut();
        let engine = match slot.as_mut() {
            Some(e) => e,
            None => {
                let mut engine = Engine::open(self.db.clone(), clock::now_ms())?;
                if engine.interrupted() > 0 {
                    worker::console_warn!(
                        "store opened after a crash: {} interrupted apply(s) counted",
                        engine.interrupted()
                    );
                }
                for (_, peer) in self.joined_sockets() {
                    let _ = engine.handle_message(clock::now_ms(), &peer, RepoMessage::join(&peer));
                }
                slot.insert(engine)
            }
        };
        f(engine)
    }

    fn joined_sockets(&self) -> Vec<(WebSocket, PeerId)> {
        self.state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| {
                let att: Attachment = ws.deserialize_attachment().ok().flatten()?;
                let peer = PeerId::new(att.peer?).ok()?;
                Some((ws, peer))
            })
            .collect()
    }

    /// Sends each message to the socket of its `targetId`; messages for
    /// peers without a socket (HTTP clients) are dropped: they ask again.
    pub(crate) fn deliver(&self, messages: Vec<RepoMessage>) {
        if messages.is_empty() {
            return;
        }
        let sockets = self.joined_sockets();
        for m in messages {
            let Some(target) = m.target_id() else {
                continue;
            };
            for (ws, peer) in &sockets {
                if peer == target {
                    let bytes = m.encode();
                    if ws.send_with_bytes(&bytes).is_ok() {
                        count_out(ws, bytes.len());
                    }
                }
            }
        }
    }

    /// One message through the engine's single admission path: admitted,
    /// each crash marker made durable when the engine asks (before the
    /// changes it guards are applied), then applied. Also answers how many
    /// changes it stored.
    pub(super) async fn handle_durably(
        &self,
        now_ms: u64,
        peer: &PeerId,
        msg: RepoMessage,
    ) -> Result<(Vec<RepoMessage>, u64), Failure> {
        let before = self.with_engine(|e| Ok(e.seq())).map_err(Failure::from)?;
        let mut step = self.engine_step(|e| e.admit(now_ms, peer, msg))?;
        loop {
            match step {
                Step::Done(out) => {
                    let after = self.with_engine(|e| Ok(e.seq())).map_err(Failure::from)?;
                    return Ok((out, after.saturating_sub(before)));
                }
                Step::MakeDurable(pending) => {
                    self.state
                        .storage()
                        .sync()
                        .await
                        .map_err(|e| Failure::from(ApiError::internal(e)))?;
                    // Pushes to the user's other sockets go out as soon
                    // as the changes are applied (before they are stored:
                    // `Engine::resume`); the reply waits for the write.
                    step =
                        self.engine_step(|e| e.resume(now_ms, *pending, &mut |m| self.deliver(m)))?;
                }
            }
        }
    }

    fn engine_step(
        &self,
        f: impl FnOnce(&mut Engine<DoSql>) -> Result<Step, StoreError>,
    ) -> Result<Step, Failure> {
        let mut reason = None;
        self.with_engine(|e| {
            f(e).map_err(|se| {
                reason = Some(se.reason());
                ApiError::from(se)
            })
        })
        .map_err(|api| Failure { api, reason })
    }

    /// One frame from a device: handled, counted in the socket's stats;
    /// a refusal sends an `error` message and closes the socket.
    pub(crate) async fn on_frame(&self, ws: &WebSocket, bytes: &[u8]) {
        let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() else {
            return self.refuse(ws, CLOSE_POLICY, "unknown connection");
        };
        att.stats.messages_in += 1;
        att.stats.bytes_in += bytes.len() as u64;
        let outcome = self.handle_frame(ws, bytes, &mut att).await;
        if let Err(refusal) = outcome {
            att.stats.rejection = refusal.reason.map(str::to_owned);
            let _ = ws.serialize_attachment(&att);
            self.refuse(ws, refusal.code, &refusal.why);
            return;
        }
        if ws.serialize_attachment(&att).is_err() {
            self.refuse(ws, CLOSE_POLICY, "could not record the peer");
        }
    }

    async fn handle_frame(
        &self,
        ws: &WebSocket,
        bytes: &[u8],
        att: &mut Attachment,
    ) -> Result<(), Refusal> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(Refusal::new(CLOSE_TOO_BIG, "frame over 1 MiB"));
        }
        let now_ms = clock::now_ms();
        if self.live_frame(&att.sid, now_ms).is_err() {
            return Err(Refusal::new(CLOSE_POLICY, "session revoked"));
        }
        let msg = RepoMessage::decode(bytes).map_err(|e| Refusal::of(&ApiError::from(e), None))?;
        if let RepoMessage::Sync(m) | RepoMessage::Request(m) = &msg {
            att.stats.touch_document(&m.document_id.to_string());
        }
        let peer = match (&att.peer, &msg) {
            (None, RepoMessage::Join { sender_id, .. }) => sender_id.clone(),
            (None, _) => return Err(Refusal::new(CLOSE_POLICY, "the first message must be join")),
            (Some(p), _) => {
                PeerId::new(p.clone()).map_err(|_| Refusal::new(CLOSE_POLICY, "bad peer id"))?
            }
        };
        let joining = att.peer.is_none();
        let (replies, applied) = self
            .handle_durably(now_ms, &peer, msg)
            .await
            .map_err(|f| Refusal::of(&f.api, f.reason))?;
        att.stats.changes_applied += applied;
        if replies.iter().any(refuses_a_change) {
            att.stats.rejection = Some(CHANGE_REFUSED.to_owned());
        }
        if joining {
            att.peer = Some(peer.as_str().to_owned());
        }
        let (mine, others) = store::split_replies(replies, &peer);
        for m in mine {
            let bytes = m.encode();
            if ws.send_with_bytes(&bytes).is_ok() {
                att.stats.messages_out += 1;
                att.stats.bytes_out += bytes.len() as u64;
            }
        }
        self.deliver(others);
        Ok(())
    }

    /// The socket closed: the peer leaves (its sync states stay stored).
    pub(crate) fn on_close(&self, ws: &WebSocket, code: u16) {
        let Ok(Some(att)) = ws.deserialize_attachment::<Attachment>() else {
            return;
        };
        self.socket_ended(ws, code);
        if let Some(peer) = att.peer.and_then(|p| PeerId::new(p).ok()) {
            let leave = RepoMessage::Leave {
                sender_id: peer.clone(),
            };
            let _ = self.with_engine(|e| Ok(e.handle_message(clock::now_ms(), &peer, leave)?));
        }
    }
}

/// True for the engine's refusal of a change that crashed it twice.
pub(super) fn refuses_a_change(m: &RepoMessage) -> bool {
    matches!(m, RepoMessage::Error { reason: Some(r), .. } if r == CHANGE_REFUSED)
}

/// An engine call that failed, with the engine's reason when it refused.
pub(super) struct Failure {
    pub(super) api: ApiError,
    pub(super) reason: Option<&'static str>,
}

impl From<ApiError> for Failure {
    fn from(api: ApiError) -> Self {
        Self { api, reason: None }
    }
}

/// Why a frame ends its socket.
struct Refusal {
    code: u16,
    why: String,
    /// The engine's reason, when the engine refused.
    pub(super) reason: Option<&'static str>,
}

impl Refusal {
    fn new(code: u16, why: &str) -> Self {
        Self {
            code,
            why: why.to_owned(),
            reason: None,
        }
    }

    /// The close code follows from the error's kind.
    fn of(e: &ApiError, reason: Option<&'static str>) -> Self {
        http::log_cause(e);
        Self {
            reason,
            ..Self::new(e.close_code(), &e.message)
        }
    }
}

impl UserStore {
    /// Sends an `error` message, then closes with `code`.
    fn refuse(&self, ws: &WebSocket, code: u16, why: &str) {
        let err = RepoMessage::Error {
            sender_id: None,
            target_id: None,
            message: why.to_owned(),
            document_id: None,
            reason: None,
        };
        let _ = ws.send_with_bytes(err.encode());
        self.close_socket(ws, code, why);
    }
}

/// Counts a push in the target socket's stats.
fn count_out(ws: &WebSocket, bytes: usize) {
    if let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() {
        att.stats.messages_out += 1;
        att.stats.bytes_out += bytes as u64;
        let _ = ws.serialize_attachment(&att);
    }
}
