//! A native device built on the shared crate: a `Replica` of the user's
//! documents and a `SyncClient`, talking to the Worker over a WebSocket
//! (bearer subprotocol) or over `POST /sync`.

use super::api::{self, Tokens};
use myflashplay_client::sync::{PeerId, RepoMessage, SyncClient};
use myflashplay_client::Replica;
use sha2::{Digest, Sha256};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// What one `POST /sync` may carry, with room for the CBOR array header.
const MAX_BATCH_BYTES: usize = 1024 * 1024 - 1024;

/// What one sync round cost.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundStats {
    pub round_trips: usize,
    pub bytes_up: usize,
    pub bytes_down: usize,
}

/// One device of a user.
pub struct Device {
    pub name: String,
    pub replica: Replica,
    pub client: SyncClient,
    pub tokens: Tokens,
    pub base: String,
    ws: Option<Socket>,
}

impl Device {
    /// A device with empty local storage, logged in with `tokens`.
    pub fn new(name: &str, tokens: Tokens, base: &str) -> Self {
        let actor: [u8; 16] = Sha256::digest(format!("device:{name}:{}", tokens.user_id))[..16]
            .try_into()
            .expect("16 bytes");
        let replica = Replica::new(&tokens.user_id, &actor).expect("replica");
        let peer = PeerId::new(format!("{name}-{}", &tokens.user_id[..8])).expect("peer id");
        Self {
            name: name.to_owned(),
            replica,
            client: SyncClient::new(peer),
            tokens,
            base: base.to_owned(),
            ws: None,
        }
    }

    /// Opens the WebSocket with the bearer subprotocol and joins.
    pub fn connect(&mut self) {
        self.try_connect()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
    }

    /// [`Device::connect`], failing instead of panicking when the server
    /// is unreachable or goes away (the kill test).
    pub fn try_connect(&mut self) -> Result<(), String> {
        self.ws = None;
        let url = format!("{}/sync/ws", self.base.replacen("http://", "ws://", 1));
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        req.headers_mut().insert(
            "sec-websocket-protocol",
            format!("myflashplay-sync.v1, bearer.{}", self.tokens.access_token)
                .parse()
                .expect("header"),
        );
        let (mut ws, res) = tungstenite::connect(req).map_err(|e| format!("ws connect: {e}"))?;
        assert_eq!(
            res.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("myflashplay-sync.v1")
        );
        if let MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
        }
        ws.send(Message::Binary(self.client.join().encode().into()))
            .map_err(|e| format!("send join: {e}"))?;
        self.ws = Some(ws);
        let peer = self
            .try_recv(Duration::from_secs(10))?
            .ok_or("the server did not answer join")?;
        if peer.kind() != "peer" {
            return Err(format!("first answer: {peer:?}"));
        }
        self.client
            .handle_message(self.replica.docs_mut(), peer)
            .map_err(|e| e.to_string())
    }

    /// Closes the WebSocket (the device goes offline).
    pub fn disconnect(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }

    /// Sends one message on the open socket.
    pub fn send(&mut self, msg: RepoMessage) {
        let mut stats = RoundStats::default();
        self.send_all(vec![msg], &mut stats);
    }

    /// Applies one message from the server and answers it.
    pub fn handle(&mut self, msg: RepoMessage) {
        self.client
            .handle_message(self.replica.docs_mut(), msg)
            .expect("server message applies");
        let out = self.client.poll_messages(self.replica.docs());
        let mut stats = RoundStats::default();
        self.send_all(out, &mut stats);
    }

    fn send_all(&mut self, msgs: Vec<RepoMessage>, stats: &mut RoundStats) {
        self.try_send_all(msgs, stats)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
    }

    /// Sends messages as they are (diagnostics of the kill test).
    #[allow(dead_code)] // only tests/e2e_kill.rs
    pub fn debug_send(
        &mut self,
        msgs: Vec<RepoMessage>,
        stats: &mut RoundStats,
    ) -> Result<(), String> {
        self.try_send_all(msgs, stats)
    }

    fn try_send_all(
        &mut self,
        msgs: Vec<RepoMessage>,
        stats: &mut RoundStats,
    ) -> Result<(), String> {
        let ws = self.ws.as_mut().ok_or("not connected")?;
        for m in msgs {
            let bytes = m.encode();
            stats.bytes_up += bytes.len();
            ws.send(Message::Binary(bytes.into()))
                .map_err(|e| format!("ws send: {e}"))?;
        }
        Ok(())
    }

    /// The next message from the server, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<RepoMessage> {
        self.try_recv(timeout)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// [`Device::recv`], an error when the socket closed or failed.
    pub fn try_recv(&mut self, timeout: Duration) -> Result<Option<RepoMessage>, String> {
        let Some(ws) = self.ws.as_mut() else {
            return Ok(None);
        };
        let deadline = Instant::now() + timeout;
        loop {
            match ws.read() {
                Ok(Message::Binary(b)) => {
                    return Ok(Some(
                        RepoMessage::decode_from_server(&b).expect("server sends valid messages"),
                    ))
                }
                Ok(Message::Close(frame)) => return Err(format!("server closed: {frame:?}")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(format!("ws read: {e}")),
            }
        }
    }

    /// One full round over the WebSocket: the manifest question, then
    /// messages both ways until neither side has anything to say (the
    /// device has nothing to send and the server stays silent).
    pub fn sync_ws(&mut self) -> RoundStats {
        self.try_sync_ws()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// [`Device::sync_ws`], failing instead of panicking when the socket
    /// goes away or the round does not settle.
    pub fn try_sync_ws(&mut self) -> Result<RoundStats, String> {
        let mut stats = RoundStats::default();
        let mut first = vec![self.client.start()];
        first.extend(self.client.poll_messages(self.replica.docs()));
        stats.round_trips = 1;
        self.try_send_all(first, &mut stats)?;
        let mut answered = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if Instant::now() >= deadline {
                return Err("sync did not settle".into());
            }
            let wait = if answered {
                Duration::from_millis(300)
            } else {
                Duration::from_secs(10)
            };
            let Some(msg) = self.try_recv(wait)? else {
                if !answered {
                    return Err("no answer from the server".into());
                }
                return Ok(stats);
            };
            stats.bytes_down += msg.encode().len();
            answered |= msg.kind() == "changes";
            self.client
                .handle_message(self.replica.docs_mut(), msg)
                .map_err(|e| format!("server message: {e}"))?;
            let out = self.client.poll_messages(self.replica.docs());
            if !out.is_empty() {
                stats.round_trips += 1;
            }
            self.try_send_all(out, &mut stats)?;
        }
    }

    /// Handles whatever the server pushed, for up to `timeout`; returns how
    /// many messages arrived.
    pub fn pump(&mut self, timeout: Duration) -> usize {
        let mut n = 0;
        let mut stats = RoundStats::default();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let Some(m) = self.recv(Duration::from_millis(20)) else {
                continue;
            };
            n += 1;
            self.client
                .handle_message(self.replica.docs_mut(), m)
                .expect("pushed message applies");
            let out = self.client.poll_messages(self.replica.docs());
            self.send_all(out, &mut stats);
        }
        n
    }

    /// A full round over `POST /sync` batches.
    pub fn sync_http(&mut self) -> RoundStats {
        self.try_sync_http()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// [`Device::sync_http`], failing instead of panicking when the server
    /// is unreachable (the restart test stops it mid-stream).
    pub fn try_sync_http(&mut self) -> Result<RoundStats, String> {
        let mut stats = RoundStats::default();
        let mut pending = vec![self.client.start()];
        for _ in 0..1000 {
            pending.extend(self.client.poll_messages(self.replica.docs()));
            if pending.is_empty() {
                return Ok(stats);
            }
            // Requests stay under the 1 MiB body limit: a round may take
            // several POSTs when many documents have news.
            let mut batch = Vec::new();
            let mut size = 0;
            while let Some(m) = pending.first() {
                let len = m.encode().len();
                if !batch.is_empty() && size + len > MAX_BATCH_BYTES {
                    break;
                }
                size += len;
                batch.push(pending.remove(0));
            }
            let body = RepoMessage::encode_batch(&batch);
            stats.bytes_up += body.len();
            let (status, answer) = api::try_post_sync(&self.base, &self.tokens.access_token, body)?;
            if status != 200 {
                return Err(format!("POST /sync answered {status}"));
            }
            stats.bytes_down += answer.len();
            stats.round_trips += 1;
            for m in RepoMessage::decode_batch_from_server(&answer).expect("valid batch") {
                self.client
                    .handle_message(self.replica.docs_mut(), m)
                    .map_err(|e| format!("server message: {e}"))?;
            }
        }
        Err("HTTP sync did not settle in 1000 round trips".into())
    }

    /// The account as this device sees it (the `GET /user/export` shape).
    pub fn state(&self) -> serde_json::Value {
        self.replica.export().expect("export")
    }
}
