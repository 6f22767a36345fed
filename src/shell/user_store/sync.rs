//! The sync side of a `UserStore` object: the engine (opened lazily over
//! the object's SQLite), WebSocket connections with the Hibernation API,
//! `POST /sync` batches, the changes feed, the JSON views and the export.
//!
//! **Invariant:** every reply and push is produced by the engine after the
//! writes it depends on; workerd's output gate holds it until they are
//! durable, so nothing is acknowledged before it is stored.

use super::sockets::Attachment;
use super::{Answer, UserStore};
use crate::api_error::close::{POLICY as CLOSE_POLICY, TOO_BIG as CLOSE_TOO_BIG};
use crate::api_error::ApiError;
use crate::shell::do_sql::DoSql;
use crate::shell::{clock, http, observe};
use crate::store::{self, Engine};
use myflashplay_client::sync::{PeerId, RepoMessage, MAX_FRAME_BYTES};
use worker::{Request, Response, WebSocket};

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

    /// Makes the crash markers written by [`Engine::pre_mark`] durable
    /// before the messages are applied.
    async fn pre_mark(
        &self,
        now_ms: u64,
        peer: &PeerId,
        msgs: &[RepoMessage],
    ) -> Result<(), ApiError> {
        let marked = self.with_engine(|e| {
            let mut any = false;
            for m in msgs {
                any |= e.pre_mark(now_ms, peer, m)?;
            }
            Ok(any)
        })?;
        if marked {
            self.state
                .storage()
                .sync()
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(())
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
        if self.live(&att.sid, now_ms).is_err() {
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
        self.pre_mark(now_ms, &peer, std::slice::from_ref(&msg))
            .await
            .map_err(|e| Refusal::of(&e, None))?;
        let mut reason = None;
        let handled = self.with_engine(|e| {
            let before = e.seq();
            let replies = e.handle_message(now_ms, &peer, msg).map_err(|se| {
                reason = Some(se.reason());
                ApiError::from(se)
            })?;
            Ok((replies, e.seq().saturating_sub(before)))
        });
        let (replies, applied) = handled.map_err(|e| Refusal::of(&e, reason))?;
        att.stats.changes_applied += applied;
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

    /// `POST /sync` of a live session: a CBOR array of `request`/`sync`
    /// messages from one device; the answer is the array of the server's
    /// replies to it.
    pub(crate) async fn sync_batch(&self, req: &mut Request) -> Answer {
        let bytes = req.bytes().await.map_err(ApiError::internal)?;
        let batch = RepoMessage::decode_batch(&bytes).map_err(ApiError::from)?;
        let Some(peer) = batch.first().and_then(|m| m.sender_id()).cloned() else {
            return Ok(batch_outcome(
                cbor(RepoMessage::encode_batch(&[]))?,
                0,
                None,
            ));
        };
        let now_ms = clock::now_ms();
        self.pre_mark(now_ms, &peer, &batch).await?;
        let mut mine = Vec::new();
        let mut others = Vec::new();
        let mut reason = None;
        let mut applied = 0;
        let outcome = self.with_engine(|e| {
            let before = e.seq();
            // Every message is handled, also after one is refused: the
            // others apply, and each clears the crash marker written for it
            // above (one left behind would count as a crash at the next
            // start of the object).
            let mut first_error = None;
            for m in batch {
                if matches!(m, RepoMessage::Join { .. } | RepoMessage::Leave { .. }) {
                    continue;
                }
                match e.handle_message(now_ms, &peer, m) {
                    Ok(replies) => {
                        let (to_peer, to_others) = store::split_replies(replies, &peer);
                        mine.extend(to_peer);
                        others.extend(to_others);
                    }
                    Err(se) if first_error.is_none() => {
                        reason = Some(se.reason());
                        first_error = Some(ApiError::from(se));
                    }
                    Err(_) => {}
                }
                applied = e.seq().saturating_sub(before);
            }
            first_error.map_or(Ok(()), Err)
        });
        self.deliver(others);
        let answer = match outcome {
            Ok(()) => cbor(RepoMessage::encode_batch(&mine))?,
            Err(e) => http::error_response(&e),
        };
        Ok(batch_outcome(answer, applied, reason))
    }
}

/// A batch's answer with, for the Worker's log line, the changes it stored
/// and why it was refused (internal headers, removed before the client).
fn batch_outcome(answer: Response, applied: u64, reason: Option<&str>) -> Response {
    let headers = answer.headers().clone();
    let _ = headers.set(observe::CHANGES, &applied.to_string());
    if let Some(reason) = reason {
        let _ = headers.set(observe::REJECTION, reason);
    }
    answer.with_headers(headers)
}

fn cbor(bytes: Vec<u8>) -> Answer {
    let headers = worker::Headers::new();
    headers
        .set("content-type", "application/cbor")
        .map_err(ApiError::internal)?;
    Response::from_bytes(bytes)
        .map(|r| r.with_headers(headers))
        .map_err(ApiError::internal)
}

/// Why a frame ends its socket.
struct Refusal {
    code: u16,
    why: String,
    /// The engine's reason, when the engine refused.
    reason: Option<&'static str>,
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
