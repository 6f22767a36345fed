//! `POST /sync` of a live session: a CBOR array of `request`/`sync`
//! messages from one device, each through the engine's admission path
//! (`sync.rs`), every one answered (a refused one by an `error` naming its
//! document).

use super::sync::{refuses_a_change, Failure};
use super::{Answer, UserStore};
use crate::api_error::{ApiError, ErrorCode};
use crate::shell::{clock, http, observe};
use crate::store::{self, CHANGE_REFUSED};
use myflashplay_client::sync::RepoMessage;
use worker::{Request, Response};

impl UserStore {
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
                    let (to_me, to_others) = store::split_replies(replies, &peer);
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
        self.with_engine(|e| Ok(e.flush_hints(Some(&peer))?))?;
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
