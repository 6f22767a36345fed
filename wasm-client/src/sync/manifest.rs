//! The change manifest: "which documents changed since sequence number N".
//!
//! The server bumps a per-user sequence number on every document change.
//! A device remembers the last sequence it saw and asks only for what
//! changed after it, so a reconnect with nothing new costs one small round
//! trip however many documents the user has. Over HTTP this is
//! `GET /sync/changes?since=N` (JSON, this module's serde shape); over a
//! WebSocket it is the `changes-since` / `changes` message pair.

use crate::DocumentId;
use automerge::ChangeHash;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The answer to "what changed since N": `{seq, documents: [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The server's sequence number when the answer was made; the device
    /// asks with this value next time.
    pub seq: u64,
    /// Documents whose last change has a sequence number above `since`,
    /// in increasing `seq` order.
    pub documents: Vec<ManifestEntry>,
}

/// One changed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The document.
    pub document_id: DocumentId,
    /// The sequence number of its last change.
    pub seq: u64,
    /// Its heads on the server (hex, as Automerge spells change hashes).
    #[serde(serialize_with = "hashes_hex", deserialize_with = "hashes_from_hex")]
    pub heads: Vec<ChangeHash>,
}

impl Manifest {
    /// At most this many entries are accepted from the wire (a user has at
    /// most 2,000 decks, a root and some months of sessions).
    pub const MAX_DOCUMENTS: usize = 20_000;
}

fn hashes_hex<S: Serializer>(heads: &[ChangeHash], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(heads.iter().map(ToString::to_string))
}

fn hashes_from_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChangeHash>, D::Error> {
    let text: Vec<String> = Vec::deserialize(d)?;
    text.iter()
        .map(|h| h.parse().map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_api_md() {
        let mut doc = automerge::AutoCommit::new();
        use automerge::transaction::Transactable;
        doc.put(automerge::ROOT, "a", 1).unwrap();
        let heads = doc.get_heads();
        let m = Manifest {
            seq: 7,
            documents: vec![ManifestEntry {
                document_id: DocumentId::from_bytes([3; 16]),
                seq: 7,
                heads: heads.clone(),
            }],
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["documents"][0]["heads"][0], heads[0].to_string());
        assert_eq!(
            json["documents"][0]["document_id"],
            DocumentId::from_bytes([3; 16]).to_string()
        );
        let back: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }
}
