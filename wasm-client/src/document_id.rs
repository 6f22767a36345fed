//! Document ids as automerge-repo spells them: bs58check of 16 bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::fmt;

/// A document id: 16 bytes, shown as bs58check (what automerge-repo uses
/// in `documentId` and in `automerge:` URLs).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId([u8; 16]);

/// Why a string is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentIdError {
    /// Not base58, or the checksum does not match.
    #[error("document id is not bs58check")]
    NotBs58Check,
    /// Decodes, but not to 16 bytes.
    #[error("document id must hold 16 bytes, not {0}")]
    WrongLength(usize),
}

impl DocumentId {
    /// The longest bs58check form of 16 bytes is 28 characters; anything
    /// longer is refused before decoding.
    const MAX_TEXT_LEN: usize = 32;

    /// From raw bytes (e.g. 16 random bytes the caller drew).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A deterministic id: the first 16 bytes of SHA-256 over the parts,
    /// each length-prefixed so that no two part lists collide. Devices that
    /// derive a document from the same parts agree on its id offline.
    pub fn derive(parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(b"myflashplay-doc-v1");
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// `automerge:<id>`, the URL form automerge-repo clients take.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

impl std::str::FromStr for DocumentId {
    type Err = DocumentIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        if s.is_empty() || s.len() > Self::MAX_TEXT_LEN {
            return Err(DocumentIdError::NotBs58Check);
        }
        let slot = usize::from(fnv1a(s.as_bytes())) % MEMO_SLOTS;
        if let Some(id) = PARSED.with_borrow(|m| m.get(slot).and_then(|e| e.id_of(s))) {
            return Ok(Self(id));
        }
        let id = Self::parse_uncached(s)?;
        PARSED.with_borrow_mut(|m| memo_put(m, slot, Memo::new(id.0, s)));
        Ok(id)
    }
}

impl DocumentId {
    fn parse_uncached(s: &str) -> Result<Self, DocumentIdError> {
        let raw = bs58::decode(s)
            .into_vec()
            .map_err(|_| DocumentIdError::NotBs58Check)?;
        let (bytes, sum) = raw
            .split_last_chunk::<4>()
            .ok_or(DocumentIdError::NotBs58Check)?;
        if *sum != checksum(bytes) {
            return Err(DocumentIdError::NotBs58Check);
        }
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| DocumentIdError::WrongLength(bytes.len()))?;
        Ok(Self(arr))
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = usize::from(self.0[0]) % MEMO_SLOTS;
        let hit = SHOWN.with_borrow(|m| {
            m.get(slot)
                .filter(|e| e.len > 0 && e.id == self.0)
                .map(|e| f.write_str(e.text()))
        });
        if let Some(written) = hit {
            return written;
        }
        let text = self.text_uncached();
        SHOWN.with_borrow_mut(|m| memo_put(m, slot, Memo::new(self.0, &text)));
        f.write_str(&text)
    }
}

impl DocumentId {
    /// bs58check of the 16 bytes, computed.
    fn text_uncached(&self) -> String {
        let mut raw = [0u8; 20];
        raw[..16].copy_from_slice(&self.0);
        raw[16..].copy_from_slice(&checksum(&self.0));
        bs58::encode(raw).into_string()
    }
}

/// Slots of each memo below.
const MEMO_SLOTS: usize = 256;

thread_local! {
    /// Ids recently shown as text, by their first byte; and texts recently
    /// parsed, by a hash of the text. A server names the same few
    /// documents many times per message (frames, SQL keys, log lines),
    /// and bs58check costs two SHA-256 and a base conversion each way.
    static SHOWN: RefCell<Vec<Memo>> = const { RefCell::new(Vec::new()) };
    static PARSED: RefCell<Vec<Memo>> = const { RefCell::new(Vec::new()) };
}

/// One id with its text (at most `MAX_TEXT_LEN` bytes).
#[derive(Clone, Copy)]
struct Memo {
    id: [u8; 16],
    len: u8,
    text: [u8; DocumentId::MAX_TEXT_LEN],
}

impl Memo {
    /// Zero length: a slot never filled.
    const EMPTY: Self = Self {
        id: [0; 16],
        len: 0,
        text: [0; DocumentId::MAX_TEXT_LEN],
    };

    fn new(id: [u8; 16], text: &str) -> Self {
        let mut m = Self { id, ..Self::EMPTY };
        if let Some(dst) = m.text.get_mut(..text.len()) {
            dst.copy_from_slice(text.as_bytes());
            m.len = text.len() as u8;
        }
        m
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("")
    }

    /// The id, when this slot holds `text`.
    fn id_of(&self, text: &str) -> Option<[u8; 16]> {
        (self.len > 0 && self.text() == text).then_some(self.id)
    }
}

fn memo_put(memo: &mut Vec<Memo>, slot: usize, entry: Memo) {
    if memo.is_empty() {
        memo.resize(MEMO_SLOTS, Memo::EMPTY);
    }
    if entry.len > 0 {
        memo[slot] = entry;
    }
}

fn fnv1a(bytes: &[u8]) -> u8 {
    let h = bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) as u8
}

/// The bs58check checksum: the first 4 bytes of SHA-256(SHA-256(payload)).
/// Computed here with the `sha2` that Automerge already links, instead of
/// `bs58`'s `check` feature, which would link a second `sha2` into the
/// browser wasm.
fn checksum(payload: &[u8]) -> [u8; 4] {
    let twice = Sha256::digest(Sha256::digest(payload));
    let mut out = [0u8; 4];
    out.copy_from_slice(&twice[..4]);
    out
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = DocumentId::from_bytes([7; 16]);
        let s = id.to_string();
        assert_eq!(s, bs58::encode([7u8; 16]).with_check().into_string());
        assert_eq!(s.parse::<DocumentId>().unwrap(), id);
        assert_eq!(id.url().parse::<DocumentId>().unwrap(), id);
    }

    /// `s` with its last character changed (its checksum then fails).
    fn last_char_changed(s: &str) -> String {
        let mut bytes = s.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'2' { b'3' } else { b'2' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn rejects_bad_checksum_and_length() {
        let s = DocumentId::from_bytes([1; 16]).to_string();
        assert!(last_char_changed(&s).parse::<DocumentId>().is_err());
        let short = bs58::encode([1u8; 8]).with_check().into_string();
        assert_eq!(
            short.parse::<DocumentId>(),
            Err(DocumentIdError::WrongLength(8))
        );
        assert!("0OIl".parse::<DocumentId>().is_err());
        assert!("".parse::<DocumentId>().is_err());
        assert!("x".repeat(1000).parse::<DocumentId>().is_err());
    }

    /// The memos answer as the conversion would, whatever shares a slot
    /// (1,000 ids in 256 slots: every slot is overwritten many times).
    #[test]
    fn memoized_text_and_parse_match_the_conversion() {
        let ids: Vec<DocumentId> = (0..1_000)
            .map(|i| DocumentId::derive(&["memo", &i.to_string()]))
            .chain([DocumentId::from_bytes([0; 16])])
            .collect();
        for pass in 0..3 {
            let order: Vec<&DocumentId> = if pass == 1 {
                ids.iter().rev().collect()
            } else {
                ids.iter().collect()
            };
            for id in order {
                let text = id.to_string();
                assert_eq!(text, id.text_uncached());
                assert_eq!(text.parse::<DocumentId>().unwrap(), *id);
                assert_eq!(id.url().parse::<DocumentId>().unwrap(), *id);
            }
        }
        // A text that differs from a memoized one in its checksum is refused.
        let text = ids[0].to_string();
        assert!(last_char_changed(&text).parse::<DocumentId>().is_err());
    }

    #[test]
    fn derive_is_stable_and_separated() {
        assert_eq!(
            DocumentId::derive(&["a", "b"]),
            DocumentId::derive(&["a", "b"])
        );
        assert_ne!(
            DocumentId::derive(&["ab", ""]),
            DocumentId::derive(&["a", "b"])
        );
    }
}
