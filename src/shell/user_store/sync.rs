//! The sync side of a `UserStore` object: the engine (opened lazily over
//! the object's SQLite), WebSocket connections with the Hibernation API,
//! `POST /sync` batches, the changes feed, the JSON views and the export.
//!
//! **Invariant:** every reply and push is produced by the engine after the
//! writes it depends on; workerd's output gate holds it until they are
//! durable, so nothing is acknowledged before it is stored.

use super::{Answer, SessionCall, UserStore};
use crate::api_error::{ApiError, ErrorCode};
use crate::shell::do_sql::DoSql;
use crate::shell::{http, observe, random};
use crate::store::{self, Step, StoreError, UserStore as Engine, CHANGE_REFUSED};
use crate::telemetry::{self, SocketStats};
use crate::views::{self, View, ViewError};
use myflashplay_client::sync::{ClientState, PeerId, RepoMessage, SyncClient, PROTOCOL_VERSION};
use myflashplay_client::{Replica, ReplicaError};
use serde::{Deserialize, Serialize};
use worker::{Request, Response, ResponseBuilder, WebSocket, WebSocketPair};

/// Largest frame or batch accepted (docs/api.md Limits).
pub(crate) const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Close codes: policy violation, unsupported data, message too big.
const CLOSE_POLICY: u16 = 1008;
const CLOSE_UNSUPPORTED: u16 = 1003;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_SERVER_FAULT: u16 = 1011;

/// What a hibernating socket remembers.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct Attachment {
    /// The session that opened it (re-checked on every message).
    pub sid: String,
    /// The device's peer id, once it joined.
    pub peer: Option<String>,
    /// What the session did, for its log line at close.
    #[serde(default)]
    pub stats: SocketStats,
}

/// `POST /user/import` from the Worker: the export to merge.
#[derive(Serialize, Deserialize)]
pub(crate) struct ImportCall {
    #[serde(flatten)]
    pub session: SessionCall,
    pub data: serde_json::Value,
}

/// A JSON view call from the Worker.
#[derive(Serialize, Deserialize)]
pub(crate) struct ViewCall {
    #[serde(flatten)]
    pub session: SessionCall,
    /// `None` for `/sync/full`.
    pub view: Option<String>,
    /// The posted body; `None` for a read.
    pub body: Option<serde_json::Value>,
}

pub(crate) fn store_error(e: StoreError) -> ApiError {
    if e.is_rejection() {
        ApiError::new(ErrorCode::BadRequest, e.to_string())
    } else {
        http::internal(e)
    }
}

fn replica_error(e: ReplicaError) -> ApiError {
    match e {
        ReplicaError::TooManyDecks => ApiError::new(ErrorCode::ValidationFailed, e.to_string()),
        ReplicaError::Automerge(_) | ReplicaError::Layout { .. } => http::internal(e),
        _ => ApiError::new(ErrorCode::ValidationFailed, e.to_string()),
    }
}

fn view_error(e: ViewError) -> ApiError {
    match e {
        ViewError::UnknownVersion | ViewError::Shape(_) => {
            ApiError::new(ErrorCode::ValidationFailed, e.to_string())
        }
        ViewError::Replica(r) => replica_error(r),
        ViewError::Automerge(a) => http::internal(a),
    }
}

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
                let storage = self.state.storage();
                let raw: &worker::wasm_bindgen::JsValue = storage.as_raw().as_ref();
                let sql = DoSql::new(self.sql.clone(), raw.clone());
                let mut engine = Engine::open(sql, random::now_ms()).map_err(store_error)?;
                if engine.interrupted() > 0 {
                    worker::console_warn!(
                        "store opened after a crash: {} interrupted apply(s) counted",
                        engine.interrupted()
                    );
                }
                for (_, peer) in self.joined_sockets() {
                    let _ = engine.handle_message(random::now_ms(), &peer, join(&peer));
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

    /// Closes every socket of `sid` (after logout or revocation).
    pub(crate) fn close_session_sockets(&self, sid: Option<&str>) {
        for ws in self.state.get_websockets() {
            let att: Option<Attachment> = ws.deserialize_attachment().ok().flatten();
            if sid.is_none() || att.as_ref().map(|a| a.sid.as_str()) == sid {
                let _ = ws.close(Some(CLOSE_POLICY), Some("session revoked"));
                self.socket_ended(&ws, CLOSE_POLICY);
            }
        }
    }

    /// `GET /sync/ws` after the Worker authenticated it: checks the
    /// session (consuming a ticket if one was used) and accepts the socket.
    pub(crate) fn accept_socket(&self, req: &Request) -> Answer {
        let header = |k: &str| req.headers().get(k).ok().flatten();
        let now_ms = random::now_ms();
        let sid = match (header("x-mfp-sid"), header("x-mfp-ticket")) {
            (Some(sid), None) => sid,
            (None, Some(ticket)) => self.consume_ticket(&ticket, now_ms)?,
            _ => return Err(http::internal("socket without credentials")),
        };
        self.authorize(&SessionCall {
            sid: sid.clone(),
            now_ms,
            ..SessionCall::default()
        })?;
        let request_id = header(observe::FORWARDED_ID)
            .filter(|id| telemetry::is_request_id(id))
            .unwrap_or_default();
        let pair = WebSocketPair::new().map_err(http::internal)?;
        self.state.accept_web_socket(&pair.server);
        pair.server
            .serialize_attachment(Attachment {
                sid,
                peer: None,
                stats: SocketStats::new(request_id.clone(), now_ms),
            })
            .map_err(http::internal)?;
        let mut builder = ResponseBuilder::new()
            .with_status(101)
            .with_header(observe::REQUEST_ID, &request_id)
            .map_err(http::internal)?;
        if header("x-mfp-subprotocol").is_some() {
            builder = builder
                .with_header(
                    "sec-websocket-protocol",
                    super::super::sync_api::SUBPROTOCOL,
                )
                .map_err(http::internal)?;
        }
        Ok(builder.with_websocket(pair.client).empty())
    }

    /// One message through the engine's single admission path: admitted,
    /// each crash marker made durable when the engine asks (before the
    /// changes it guards are applied), then applied. Also answers how many
    /// changes it stored.
    async fn handle_durably(
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
                        .map_err(|e| Failure::from(http::internal(e)))?;
                    step = self.engine_step(|e| e.resume(now_ms, *pending))?;
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
                store_error(se)
            })
        })
        .map_err(|api| Failure { api, reason })
    }

    /// One frame from a device: handled, counted in the socket's stats;
    /// a refusal sends an `error` message and closes the socket.
    pub(crate) async fn on_frame(&self, ws: &WebSocket, bytes: &[u8]) {
        let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() else {
            return refuse(ws, CLOSE_POLICY, "unknown connection");
        };
        att.stats.messages_in += 1;
        att.stats.bytes_in += bytes.len() as u64;
        let outcome = self.handle_frame(ws, bytes, &mut att).await;
        if let Err(refusal) = outcome {
            att.stats.rejection = refusal.reason.map(str::to_owned);
            let _ = ws.serialize_attachment(&att);
            refuse(ws, refusal.code, &refusal.why);
            self.socket_ended(ws, refusal.code);
            return;
        }
        if ws.serialize_attachment(&att).is_err() {
            refuse(ws, CLOSE_POLICY, "could not record the peer");
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
        let now_ms = random::now_ms();
        let live = self.authorize(&SessionCall {
            sid: att.sid.clone(),
            now_ms,
            ..SessionCall::default()
        });
        if live.is_err() {
            return Err(Refusal::new(CLOSE_POLICY, "session revoked"));
        }
        let msg = RepoMessage::decode(bytes)
            .map_err(|e| Refusal::new(CLOSE_POLICY, &format!("malformed message: {e}")))?;
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
        let (replies, applied) = self.handle_durably(now_ms, &peer, msg).await.map_err(|f| {
            let code = if f.api.code == ErrorCode::BadRequest {
                CLOSE_POLICY
            } else {
                CLOSE_SERVER_FAULT
            };
            Refusal {
                reason: f.reason,
                ..Refusal::new(code, &f.api.message)
            }
        })?;
        att.stats.changes_applied += applied;
        if replies.iter().any(refuses_a_change) {
            att.stats.rejection = Some(CHANGE_REFUSED.to_owned());
        }
        if joining {
            att.peer = Some(peer.as_str().to_owned());
        }
        let (mine, others): (Vec<_>, Vec<_>) = replies
            .into_iter()
            .partition(|m| m.target_id().is_none_or(|t| *t == peer));
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
            let _ = self.with_engine(|e| {
                e.handle_message(random::now_ms(), &peer, leave)
                    .map_err(store_error)
            });
        }
    }

    /// Writes the session's line once (a server-side close is followed by
    /// the runtime's close event).
    fn socket_ended(&self, ws: &WebSocket, code: u16) {
        let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() else {
            return;
        };
        if att.stats.logged {
            return;
        }
        att.stats.logged = true;
        let _ = ws.serialize_attachment(&att);
        observe::socket_closed(&self.env, att.stats.line(code, random::now_ms()));
    }

    /// `POST /sync`: a CBOR array of `request`/`sync` messages from one
    /// device; the answer is the array of the server's replies to it.
    pub(crate) async fn sync_batch(&self, req: &mut Request) -> Answer {
        let sid = req
            .headers()
            .get("x-mfp-sid")
            .ok()
            .flatten()
            .ok_or_else(|| http::internal("batch without session"))?;
        self.authorize(&SessionCall {
            sid,
            now_ms: random::now_ms(),
            ..SessionCall::default()
        })?;
        let bytes = req.bytes().await.map_err(http::internal)?;
        let batch = RepoMessage::decode_batch(&bytes)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed batch: {e}")))?;
        let Some(peer) = batch.first().and_then(|m| m.sender_id()).cloned() else {
            return Ok(batch_outcome(
                cbor(RepoMessage::encode_batch(&[]))?,
                0,
                None,
            ));
        };
        let now_ms = random::now_ms();
        let mut mine = Vec::new();
        let mut others = Vec::new();
        let mut applied = 0;
        let mut handled = 0;
        let mut first_refusal: Option<Failure> = None;
        let mut crash_refusal = None;
        // Every message is handled, also after one is refused, and each is
        // answered: a refused one by an `error` naming its document.
        for m in batch {
            let document_id = match &m {
                RepoMessage::Sync(d) | RepoMessage::Request(d) => Some(d.document_id),
                RepoMessage::Join { .. } | RepoMessage::Leave { .. } => continue,
                _ => None,
            };
            match self.handle_durably(now_ms, &peer, m).await {
                Ok((replies, n)) => {
                    handled += 1;
                    applied += n;
                    if replies.iter().any(refuses_a_change) {
                        crash_refusal = Some(CHANGE_REFUSED);
                    }
                    let (to_me, to_others): (Vec<_>, Vec<_>) = replies
                        .into_iter()
                        .partition(|r| r.target_id() == Some(&peer));
                    mine.extend(to_me);
                    others.extend(to_others);
                }
                Err(f) if f.api.code == ErrorCode::BadRequest => {
                    mine.push(RepoMessage::Error {
                        sender_id: None,
                        target_id: Some(peer.clone()),
                        message: f.api.message.clone(),
                        document_id,
                        reason: f.reason.map(str::to_owned),
                    });
                    first_refusal.get_or_insert(f);
                }
                Err(f) => {
                    self.deliver(others);
                    return Ok(batch_outcome(
                        http::error_response(&f.api),
                        applied,
                        f.reason,
                    ));
                }
            }
        }
        self.deliver(others);
        // The batch's sync hints, in one write (not one per message).
        self.with_engine(|e| e.flush_hints(Some(&peer)).map_err(store_error))?;
        // A batch of which nothing could be handled is refused as a whole
        // (400, as always); otherwise each refused message has its `error`.
        if let (0, Some(f)) = (handled, &first_refusal) {
            return Ok(batch_outcome(
                http::error_response(&f.api),
                applied,
                f.reason,
            ));
        }
        let reason = first_refusal.and_then(|f| f.reason).or(crash_refusal);
        Ok(batch_outcome(
            cbor(RepoMessage::encode_batch(&mine))?,
            applied,
            reason,
        ))
    }

    /// `GET /sync/changes?since=`.
    pub(crate) fn changes(&self, since: u64) -> Answer {
        let manifest = self.with_engine(|e| e.changes_since(since).map_err(store_error))?;
        http::json(200, &manifest)
    }

    /// The user's documents as a replica: all of them, or (`root_only`)
    /// just the root, which is all the preference-like views read.
    fn replica(&self, user_id: &str, root_only: bool) -> Result<Replica, ApiError> {
        let docs = self.with_engine(|e| {
            if root_only {
                e.export_some(&[myflashplay_client::layout::root_id(user_id)])
            } else {
                e.export_docs()
            }
            .map_err(store_error)
        })?;
        let actor: [u8; 16] = random::bytes()?;
        Replica::from_docs(user_id, &actor, docs).map_err(replica_error)
    }

    /// `GET /user/export`: the whole account in MyFlashPlay's shapes.
    pub(crate) fn export(&self, user_id: &str, email: &str) -> Answer {
        let mut data = self
            .replica(user_id, false)?
            .export()
            .map_err(replica_error)?;
        if let Some(obj) = data.as_object_mut() {
            obj.insert("user_id".into(), user_id.into());
            obj.insert("email".into(), email.into());
        }
        http::json(200, &data)
    }

    /// `GET|POST /sync/{view}` and `/sync/full`.
    pub(crate) fn view(&self, user_id: &str, call: &ViewCall) -> Answer {
        let one =
            match call.view.as_deref() {
                Some(name) => Some(View::parse(name).ok_or_else(|| {
                    ApiError::new(ErrorCode::NotFound, format!("no view {name:?}"))
                })?),
                None => None,
            };
        if let Some(body) = &call.body {
            self.write_view(user_id, one, body)?;
        }
        let replica = self.replica(user_id, one.is_some_and(View::root_only))?;
        let answer = match one {
            Some(v) => views::get(&replica, v),
            None => views::get_full(&replica),
        }
        .map_err(view_error)?;
        http::json(200, &answer)
    }

    fn write_view(
        &self,
        user_id: &str,
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
        let mut replica = self.replica(user_id, one.is_some_and(View::root_only))?;
        let before = heads_of(&replica);
        let actor: [u8; 16] = random::bytes()?;
        let now_ms = random::now_ms();
        views::post(&mut replica, &parts, base, &actor, now_ms as i64).map_err(view_error)?;
        self.store_changed(replica, &before, &actor, now_ms)
    }

    /// `POST /user/import`: merges an export into the account (see
    /// `Replica::import_export`) and answers the summary.
    pub(crate) fn import(&self, user_id: &str, data: &serde_json::Value) -> Answer {
        let actor: [u8; 16] = random::bytes()?;
        let now_ms = random::now_ms();
        let ids = Replica::import_documents(user_id, data);
        let docs = self.with_engine(|e| e.export_some(&ids).map_err(store_error))?;
        let mut replica = Replica::from_docs(user_id, &actor, docs).map_err(replica_error)?;
        let before = heads_of(&replica);
        replica.set_now(now_ms as i64);
        let summary = replica.import_export(data).map_err(replica_error)?;
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
    fn store_changed(
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
        let peer = PeerId::new(format!("json-view-{}", hex(actor))).map_err(http::internal)?;
        let mut others = Vec::new();
        let result = self.with_engine(|e| {
            let mut client = SyncClient::from_state(
                peer,
                ClientState {
                    last_seq: e.seq(),
                    ..ClientState::default()
                },
            );
            store::sync_until_quiet_routed(now_ms, &mut client, &mut changed, e, &mut |m| {
                others.push(m)
            })
            .map_err(http::internal)
        });
        self.deliver(others);
        result.map(|_| ())
    }
}

/// Each document's heads, to tell which ones an edit changed.
type Heads = std::collections::BTreeMap<myflashplay_client::DocumentId, Vec<automerge::ChangeHash>>;

fn heads_of(replica: &Replica) -> Heads {
    replica
        .docs()
        .iter()
        .map(|(id, d)| (*id, d.get_heads()))
        .collect()
}

fn join(peer: &PeerId) -> RepoMessage {
    RepoMessage::Join {
        sender_id: peer.clone(),
        supported_protocol_versions: vec![PROTOCOL_VERSION.to_owned()],
        peer_metadata: None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        .map_err(http::internal)?;
    Response::from_bytes(bytes)
        .map(|r| r.with_headers(headers))
        .map_err(http::internal)
}

/// A ticket for `/sync/ws?ticket=`: single use, valid 60 s.
pub(crate) const TICKET_TTL_MS: u64 = 60_000;

/// Close code for text frames (the protocol is binary only).
pub(crate) const CLOSE_TEXT: u16 = CLOSE_UNSUPPORTED;

/// Refuses a text frame (the protocol is binary only).
pub(crate) fn reject_text(ws: &WebSocket) {
    let _ = ws.close(Some(CLOSE_UNSUPPORTED), Some("binary frames only"));
}

/// True for the engine's refusal of a change that crashed it twice.
fn refuses_a_change(m: &RepoMessage) -> bool {
    matches!(m, RepoMessage::Error { reason: Some(r), .. } if r == CHANGE_REFUSED)
}

/// An engine call that failed, with the engine's reason when it refused.
struct Failure {
    api: ApiError,
    reason: Option<&'static str>,
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
}

/// Sends an `error` message, then closes with `code`.
fn refuse(ws: &WebSocket, code: u16, why: &str) {
    let err = RepoMessage::Error {
        sender_id: None,
        target_id: None,
        message: why.to_owned(),
        document_id: None,
        reason: None,
    };
    let _ = ws.send_with_bytes(err.encode());
    let _ = ws.close(Some(code), Some(why));
}

/// Counts a push in the target socket's stats.
fn count_out(ws: &WebSocket, bytes: usize) {
    if let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() {
        att.stats.messages_out += 1;
        att.stats.bytes_out += bytes as u64;
        let _ = ws.serialize_attachment(&att);
    }
}
