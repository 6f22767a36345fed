//! Version strings: the heads of documents, so that the state that was read
//! can be rebuilt exactly. `v1.` then base64url (no padding) of, per
//! document, its 16-byte id, a count byte and that many 32-byte change
//! hashes. The JSON views name every document read; a deck's history
//! names its deck document alone. Opaque to clients.

use crate::{Docs, DocumentId};
use automerge::ChangeHash;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::BTreeMap;

/// Most documents a version may name (the deck limit plus the root and
/// years of session months); bounds the work a hostile version can cause.
const MAX_VERSION_DOCS: usize = 4096;

/// The string is not a version this API issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed version")]
pub struct BadVersion;

/// The version naming `heads` of each document.
pub fn encode<'a>(heads: impl IntoIterator<Item = (&'a DocumentId, &'a [ChangeHash])>) -> String {
    let mut bytes = Vec::new();
    for (id, heads) in heads {
        bytes.extend_from_slice(id.as_bytes());
        bytes.push(heads.len().min(255) as u8);
        for h in heads.iter().take(255) {
            bytes.extend_from_slice(&h.0);
        }
    }
    format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The version naming every document's current heads.
pub fn of_docs(docs: &Docs) -> String {
    let heads: Vec<(&DocumentId, Vec<ChangeHash>)> =
        docs.iter().map(|(id, d)| (id, d.get_heads())).collect();
    encode(heads.iter().map(|(id, h)| (*id, h.as_slice())))
}

/// The heads a version names, per document.
pub fn parse(s: &str) -> Result<BTreeMap<DocumentId, Vec<ChangeHash>>, BadVersion> {
    let body = s.strip_prefix("v1.").ok_or(BadVersion)?;
    if body.len() > MAX_VERSION_DOCS * 60 {
        return Err(BadVersion);
    }
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| BadVersion)?;
    let mut out = BTreeMap::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (id, tail) = rest.split_at_checked(16).ok_or(BadVersion)?;
        let (&n, tail) = tail.split_first().ok_or(BadVersion)?;
        let (hashes, tail) = tail.split_at_checked(n as usize * 32).ok_or(BadVersion)?;
        let id: [u8; 16] = id.try_into().map_err(|_| BadVersion)?;
        let heads = hashes
            .chunks_exact(32)
            .map(|c| ChangeHash::try_from(c).map_err(|_| BadVersion))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(DocumentId::from_bytes(id), heads);
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let id = DocumentId::derive(&["deck", "u", "d1"]);
        let h = ChangeHash([7u8; 32]);
        let v = encode([(&id, [h].as_slice())]);
        assert_eq!(parse(&v).unwrap()[&id], vec![h]);
        for bad in ["", "v2.AAAA", "v1.!!", "v1.AAAA"] {
            assert_eq!(parse(bad), Err(BadVersion), "{bad}");
        }
    }
}
