//! The object's WebSockets (Hibernation API): accepting one for a live
//! session, what each remembers while the object sleeps, and the one way
//! the server closes one (with the session's log line).

use super::{Answer, UserStore};
use crate::api_error::{close, ApiError};
use crate::auth::SessionId;
use crate::shell::calls::SUBPROTOCOL;
use crate::shell::{clock, observe};
use crate::telemetry::{self, SocketStats};
use serde::{Deserialize, Serialize};
use worker::{ResponseBuilder, WebSocket, WebSocketPair};

/// What a hibernating socket remembers.
#[derive(Serialize, Deserialize)]
pub(crate) struct Attachment {
    /// The session that opened it (re-checked on every message).
    pub sid: SessionId,
    /// The device's peer id, once it joined.
    pub peer: Option<String>,
    /// What the session did, for its log line at close.
    #[serde(default)]
    pub stats: SocketStats,
}

impl UserStore {
    /// `GET /sync/ws` for a live session (the Worker authenticated it, a
    /// ticket was used up): accepts the socket.
    pub(crate) fn accept_socket(
        &self,
        sid: SessionId,
        subprotocol: bool,
        request_id: String,
        now_ms: u64,
    ) -> Answer {
        let request_id = Some(request_id)
            .filter(|id| telemetry::is_request_id(id))
            .unwrap_or_default();
        let pair = WebSocketPair::new().map_err(ApiError::internal)?;
        self.state.accept_web_socket(&pair.server);
        pair.server
            .serialize_attachment(Attachment {
                sid,
                peer: None,
                stats: SocketStats::new(request_id.clone(), now_ms),
            })
            .map_err(ApiError::internal)?;
        let mut builder = ResponseBuilder::new()
            .with_status(101)
            .with_header(observe::REQUEST_ID, &request_id)
            .map_err(ApiError::internal)?;
        if subprotocol {
            builder = builder
                .with_header("sec-websocket-protocol", SUBPROTOCOL)
                .map_err(ApiError::internal)?;
        }
        Ok(builder.with_websocket(pair.client).empty())
    }

    /// Closes every socket of `session` (`None`: every socket) after a
    /// logout, revocation or recovery.
    pub(super) fn close_session_sockets(&self, session: Option<&SessionId>) {
        self.close_sockets(|s| session.is_none() || s == session);
    }

    /// Closes the sockets whose session `which` selects (`None`: a
    /// socket that never recorded one).
    pub(super) fn close_sockets(&self, which: impl Fn(Option<&SessionId>) -> bool) {
        for ws in self.state.get_websockets() {
            let att: Option<Attachment> = ws.deserialize_attachment().ok().flatten();
            if which(att.as_ref().map(|a| &a.sid)) {
                self.close_socket(&ws, close::POLICY, "session revoked");
            }
        }
    }

    /// Closes a socket from our side and writes its session's line: the
    /// one way the server ends a connection.
    pub(crate) fn close_socket(&self, ws: &WebSocket, code: u16, why: &str) {
        let _ = ws.close(Some(code), Some(why));
        self.socket_ended(ws, code);
    }

    /// Writes the session's line once (a server-side close is followed by
    /// the runtime's close event).
    pub(super) fn socket_ended(&self, ws: &WebSocket, code: u16) {
        let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() else {
            return;
        };
        if att.stats.logged {
            return;
        }
        att.stats.logged = true;
        let _ = ws.serialize_attachment(&att);
        observe::socket_closed(&self.env, att.stats.line(code, clock::now_ms()));
    }
}
