//! Hostile-input checks on Automerge sync message bytes, run before
//! Automerge sees them (docs/design.md §6).
//!
//! Automerge 0.12 is not safe on hostile bytes: a Bloom filter with
//! `bits_per_entry = 0` divides by zero, `num_probes = 100M` burns CPU, a
//! compressed change chunk is a deflate bomb. So we parse the sync message
//! format ourselves (the layout of `automerge::sync::Message::encode`) and
//! refuse anything outside tight limits:
//!
//! ```text
//! 0x42 | 0x43                      message type (v1, v2)
//! uleb n, n × 32 bytes             heads
//! uleb n, n × 32 bytes             need
//! uleb n, n × { uleb m, m × 32 bytes (last_sync); uleb len, bloom }   have
//! uleb n, n × { uleb len, chunks } changes (each entry: ≥ 1 storage chunks)
//! [uleb len, flag bytes]           optional flags, then nothing
//! bloom = empty | uleb entries, uleb bits_per_entry, uleb probes, bits
//! chunk = 85 6f 4a 83, checksum(4), type(1), uleb len, data
//! ```
//!
//! Chunk checksums are verified (the first 4 bytes of SHA-256 over type,
//! length and data), which turns accidental corruption into a rejection.
//! A device's compressed parts (compressed change chunks, deflated columns
//! of a whole document) pass only through [`admit_device_message`]: our
//! own bounded inflate ([`inflate`]) rewrites them before Automerge sees
//! the message.
//! **Invariant:** a message that passes is no larger than the limits say,
//! and Automerge never inflates anything from it unless compressed parts
//! are allowed (server-to-device only: the device trusts its server).

use sha2::{Digest, Sha256};

mod inflate;
pub use inflate::{admit_device_message, inflate_sync_message};

const MESSAGE_TYPE_V1: u8 = 0x42;
const MESSAGE_TYPE_V2: u8 = 0x43;
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const HASH_LEN: usize = 32;
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

/// Limits for one direction of sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whole message, bytes.
    pub max_bytes: usize,
    /// Storage chunks across all change entries.
    pub max_changes: usize,
    /// Entries in `heads`, in `need` and in each `last_sync`.
    pub max_hashes: usize,
    /// Entries in `have` (Automerge sends one).
    pub max_haves: usize,
    /// Whether document chunks (a whole saved document) are accepted.
    pub allow_documents: bool,
    /// Whether compressed parts are accepted: compressed change chunks and
    /// deflated columns of documents. Automerge would inflate them without
    /// a bound, so only from the server, which we trust; a device's go
    /// through [`admit_device_message`] first.
    pub allow_compressed: bool,
    /// What [`inflate_sync_message`] may inflate one message to, in total.
    pub max_inflated_bytes: usize,
}

impl Limits {
    /// What the server hands Automerge from a device (docs/design.md §6):
    /// whole documents (a stock client's first upload of a document), but
    /// nothing deflated. Its size is the 1 MiB a device may send plus what
    /// inflating it may add.
    pub const FROM_DEVICE: Limits = Limits {
        max_bytes: (1 << 20) + (4 << 20),
        max_changes: 2_000,
        max_hashes: 1_024,
        max_haves: 8,
        allow_documents: true,
        allow_compressed: false,
        max_inflated_bytes: 0,
    };
    /// A device's message as it arrives: compressed parts too, inflated
    /// by [`inflate_sync_message`] into at most 4 MiB (a document within
    /// the 256 KB budget of docs/design.md §3 inflates to well under it;
    /// the 261 KB deflate bomb there would reach 787 MB).
    pub const DEVICE_WIRE: Limits = Limits {
        max_bytes: 1 << 20,
        allow_compressed: true,
        max_inflated_bytes: 4 << 20,
        ..Limits::FROM_DEVICE
    };
    /// What a device accepts from the server: the same bounds on the
    /// envelope, plus whole-document (v2) messages, which the server sends
    /// to a fresh device.
    /// Larger than what a device may send: the server's answer to a device
    /// back from weeks offline carries everything it missed at once.
    pub const FROM_SERVER: Limits = Limits {
        max_bytes: super::messages::MAX_SERVER_ANSWER_BYTES,
        max_changes: 200_000,
        max_hashes: 1_024,
        max_haves: 8,
        allow_documents: true,
        allow_compressed: true,
        max_inflated_bytes: 0,
    };
}

/// Bloom filter parameters we accept: Automerge uses 10 bits and 7 probes.
const BITS_PER_ENTRY: std::ops::RangeInclusive<u64> = 1..=64;
const PROBES: std::ops::RangeInclusive<u64> = 1..=32;

/// Why a sync message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Over `max_bytes`.
    #[error("sync message of {0} bytes is too large")]
    TooLarge(usize),
    /// First byte is not 0x42 or 0x43.
    #[error("not a sync message (first byte {0:#04x})")]
    WrongType(u8),
    /// Ends in the middle of a field.
    #[error("sync message is truncated")]
    Truncated,
    /// A LEB128 number that overflows or is not minimally encoded.
    #[error("bad LEB128 number")]
    BadLeb128,
    /// Too many heads, needs, haves or last-sync hashes.
    #[error("too many {0}")]
    TooMany(&'static str),
    /// More change chunks than `max_changes`.
    #[error("more than {0} changes")]
    TooManyChanges(usize),
    /// Bloom `bits_per_entry` outside 1..=64.
    #[error("Bloom bits per entry {0} out of range")]
    BloomBitsPerEntry(u64),
    /// Bloom `num_probes` outside 1..=32.
    #[error("Bloom probes {0} out of range")]
    BloomProbes(u64),
    /// Bloom bit array not of the size its header implies.
    #[error("Bloom filter has the wrong length")]
    BloomLength,
    /// A change entry that is not a sequence of storage chunks.
    #[error("change chunk lacks the magic bytes")]
    BadMagic,
    /// A compressed change chunk (deflate) where none is accepted.
    #[error("compressed change chunks are not accepted")]
    CompressedChunk,
    /// A document column still deflated where nothing deflated is
    /// accepted.
    #[error("deflated document columns are not accepted")]
    DeflatedColumn,
    /// A deflate stream that does not decode, or does not end exactly
    /// where its chunk or column says.
    #[error("compressed data does not inflate")]
    Deflate,
    /// Compressed parts inflating past `max_inflated_bytes`.
    #[error("compressed data inflates past the limit")]
    InflatedTooLarge,
    /// A document chunk where only changes are accepted.
    #[error("document chunks are not accepted here")]
    DocumentChunk,
    /// A chunk type other than document, change or compressed.
    #[error("unknown chunk type {0}")]
    UnknownChunkType(u8),
    /// A chunk whose checksum does not match its contents.
    #[error("chunk checksum mismatch")]
    Checksum,
    /// A change chunk whose header or op columns do not decode.
    #[error("change chunk does not decode")]
    BadChange,
    /// Flags section over 8 bytes.
    #[error("flags section too long")]
    Flags,
    /// Bytes after the flags section.
    #[error("trailing bytes after the sync message")]
    TrailingBytes,
}

/// What a checked message holds, for logging and accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncSummary {
    /// True for a v2 (0x43) message.
    pub v2: bool,
    /// Number of heads.
    pub heads: usize,
    /// Number of needed hashes.
    pub need: usize,
    /// Number of storage chunks carried.
    pub chunks: usize,
    /// Bytes of chunk data carried.
    pub chunk_bytes: usize,
    /// Whether any chunk is a whole document.
    pub has_document: bool,
}

/// Checks `bytes` against `limits`; `Ok` means Automerge may decode it.
pub fn check_sync_message(bytes: &[u8], limits: &Limits) -> Result<SyncSummary, CheckError> {
    if bytes.len() > limits.max_bytes {
        return Err(CheckError::TooLarge(bytes.len()));
    }
    let mut c = Cursor { bytes, pos: 0 };
    let v2 = match c.byte()? {
        MESSAGE_TYPE_V1 => false,
        MESSAGE_TYPE_V2 => true,
        other => return Err(CheckError::WrongType(other)),
    };
    let mut s = SyncSummary {
        v2,
        ..SyncSummary::default()
    };
    s.heads = c.hashes("heads", limits.max_hashes)?;
    s.need = c.hashes("need", limits.max_hashes)?;
    let haves = c.count("haves", limits.max_haves)?;
    for _ in 0..haves {
        c.hashes("last_sync hashes", limits.max_hashes)?;
        let bloom_len = c.len()?;
        check_bloom(c.take(bloom_len)?)?;
    }
    let entries = c.count_changes(limits.max_changes)?;
    for _ in 0..entries {
        let len = c.len()?;
        let entry = c.take(len)?;
        check_chunks(entry, limits, &mut s)?;
    }
    if !c.at_end() {
        let flags_len = c.len()?;
        if flags_len > 8 {
            return Err(CheckError::Flags);
        }
        c.take(flags_len)?;
    }
    if !c.at_end() {
        return Err(CheckError::TrailingBytes);
    }
    Ok(s)
}

/// The Bloom filter of one `have`: Automerge's `BloomFilter::parse`
/// divides by the bit count and loops `num_probes` times per hash.
fn check_bloom(bloom: &[u8]) -> Result<(), CheckError> {
    if bloom.is_empty() {
        return Ok(());
    }
    let mut c = Cursor {
        bytes: bloom,
        pos: 0,
    };
    let entries = c.uleb_u32()?;
    let bits_per_entry = c.uleb_u32()?;
    let probes = c.uleb_u32()?;
    if !BITS_PER_ENTRY.contains(&bits_per_entry) {
        return Err(CheckError::BloomBitsPerEntry(bits_per_entry));
    }
    if !PROBES.contains(&probes) {
        return Err(CheckError::BloomProbes(probes));
    }
    // Automerge computes ceil(entries × bits / 8) bytes; both are ≤ 2^32 so
    // the product fits in u64.
    let want = (entries * bits_per_entry).div_ceil(8);
    // An empty bit array with entries > 0 would make Automerge divide by 0.
    if entries > 0 && want == 0 {
        return Err(CheckError::BloomLength);
    }
    if (c.remaining() as u64) != want {
        return Err(CheckError::BloomLength);
    }
    Ok(())
}

/// One change entry: a concatenation of storage chunks.
fn check_chunks(entry: &[u8], limits: &Limits, s: &mut SyncSummary) -> Result<(), CheckError> {
    let mut c = Cursor {
        bytes: entry,
        pos: 0,
    };
    if c.at_end() {
        // An empty entry would be an empty `load_incremental`: harmless,
        // but Automerge never sends one.
        return Err(CheckError::Truncated);
    }
    while !c.at_end() {
        let Chunk {
            whole,
            checksum,
            kind,
            len_bytes,
            data,
        } = c.chunk()?;
        match kind {
            CHUNK_CHANGE => {}
            CHUNK_DOCUMENT if limits.allow_documents => s.has_document = true,
            CHUNK_DOCUMENT => return Err(CheckError::DocumentChunk),
            CHUNK_COMPRESSED if limits.allow_compressed => {}
            CHUNK_COMPRESSED => return Err(CheckError::CompressedChunk),
            other => return Err(CheckError::UnknownChunkType(other)),
        }
        if kind == CHUNK_DOCUMENT {
            let layout = inflate::DocumentLayout::parse(data)?;
            if layout.deflated() && !limits.allow_compressed {
                return Err(CheckError::DeflatedColumn);
            }
        }
        if kind == CHUNK_COMPRESSED {
            // Its checksum is over the change it inflates to: checked by
            // `inflate_sync_message`, like the change itself afterwards.
            s.chunks += 1;
            s.chunk_bytes += data.len();
            if s.chunks > limits.max_changes {
                return Err(CheckError::TooManyChanges(limits.max_changes));
            }
            continue;
        }
        let mut h = Sha256::new();
        h.update([kind]);
        h.update(len_bytes);
        h.update(data);
        if h.finalize()[..4] != *checksum {
            return Err(CheckError::Checksum);
        }
        // A valid checksum proves nothing against an attacker: decode the
        // change's op columns too (Automerge panics on some malformed ops,
        // e.g. an actor index past the change's actor list, when applying
        // them, but reports them as errors here).
        if kind == CHUNK_CHANGE && automerge::Change::try_from(whole).is_err() {
            return Err(CheckError::BadChange);
        }
        s.chunks += 1;
        s.chunk_bytes += data.len();
        if s.chunks > limits.max_changes {
            return Err(CheckError::TooManyChanges(limits.max_changes));
        }
    }
    Ok(())
}

/// One storage chunk of a change entry.
struct Chunk<'a> {
    /// Header and data.
    whole: &'a [u8],
    checksum: &'a [u8],
    kind: u8,
    /// The LEB128 length as written.
    len_bytes: &'a [u8],
    data: &'a [u8],
}

/// A bounds-checked reader; every read either advances or fails.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next storage chunk: magic, checksum, type, length, data.
    fn chunk(&mut self) -> Result<Chunk<'a>, CheckError> {
        let start = self.pos;
        if self.take(4)? != MAGIC {
            return Err(CheckError::BadMagic);
        }
        let checksum = self.take(4)?;
        let kind = self.byte()?;
        let len_start = self.pos;
        let len = self.len()?;
        let len_bytes = &self.bytes[len_start..self.pos];
        let data = self.take(len)?;
        Ok(Chunk {
            whole: &self.bytes[start..self.pos],
            checksum,
            kind,
            len_bytes,
            data,
        })
    }

    fn byte(&mut self) -> Result<u8, CheckError> {
        let b = *self.bytes.get(self.pos).ok_or(CheckError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckError> {
        if n > self.remaining() {
            return Err(CheckError::Truncated);
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Unsigned LEB128, at most 10 bytes, no overflow, minimal encoding.
    fn uleb(&mut self) -> Result<u64, CheckError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let low = u64::from(b & 0x7f);
            if i == 9 && low > 1 {
                return Err(CheckError::BadLeb128);
            }
            value |= low << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(CheckError::BadLeb128);
                }
                return Ok(value);
            }
        }
        Err(CheckError::BadLeb128)
    }

    fn uleb_u32(&mut self) -> Result<u64, CheckError> {
        let v = self.uleb()?;
        if v > u64::from(u32::MAX) {
            return Err(CheckError::BadLeb128);
        }
        Ok(v)
    }

    /// A length that must fit in what is left of the input.
    fn len(&mut self) -> Result<usize, CheckError> {
        let v = self.uleb()?;
        if v > self.remaining() as u64 {
            return Err(CheckError::Truncated);
        }
        Ok(v as usize)
    }

    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, CheckError> {
        let v = self.uleb()?;
        if v > max as u64 {
            return Err(CheckError::TooMany(what));
        }
        Ok(v as usize)
    }

    fn count_changes(&mut self, max: usize) -> Result<usize, CheckError> {
        let v = self.uleb()?;
        if v > max as u64 {
            return Err(CheckError::TooManyChanges(max));
        }
        Ok(v as usize)
    }

    /// A length-prefixed list of 32-byte hashes; returns its length.
    fn hashes(&mut self, what: &'static str, max: usize) -> Result<usize, CheckError> {
        let n = self.count(what, max)?;
        self.take(n * HASH_LEN)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::{Message, State, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, Automerge, ROOT};

    /// A sync message with one `have` whose Bloom filter is `bloom`.
    fn with_bloom(bloom: &[u8]) -> Vec<u8> {
        let mut m = vec![MESSAGE_TYPE_V1, 0, 0, 1, 0, bloom.len() as u8];
        m.extend_from_slice(bloom);
        m.push(0);
        m
    }

    fn doc_with(n: usize) -> Automerge {
        let mut d = AutoCommit::new();
        for i in 0..n {
            d.put(ROOT, format!("k{i}"), i as i64).unwrap();
            d.commit();
        }
        d.document().clone()
    }

    /// A device's messages to a server, as Automerge produces them, when
    /// the server strips the flags from its own messages (as our store
    /// does) so that the device sends individual change chunks.
    fn real_messages() -> Vec<Vec<u8>> {
        let mut a = doc_with(5);
        let mut b = Automerge::new();
        let (mut sa, mut sb) = (State::new(), State::new());
        let mut out = Vec::new();
        for _ in 0..4 {
            if let Some(m) = a.generate_sync_message(&mut sa) {
                let bytes = m.encode();
                out.push(bytes.clone());
                b.receive_sync_message(&mut sb, Message::decode(&bytes).unwrap())
                    .unwrap();
            }
            if let Some(mut m) = b.generate_sync_message(&mut sb) {
                m.flags = None;
                a.receive_sync_message(&mut sa, m).unwrap();
            }
        }
        assert_eq!(b.get_heads(), a.get_heads());
        out
    }

    #[test]
    fn real_messages_pass() {
        let msgs = real_messages();
        assert!(msgs.len() >= 2);
        let mut chunks = 0;
        for m in &msgs {
            chunks += check_sync_message(m, &Limits::FROM_DEVICE).unwrap().chunks;
        }
        assert_eq!(chunks, 5, "all five changes travelled as change chunks");
    }

    #[test]
    fn automerge_bloom_passes() {
        // Automerge's own filter: 10 bits per entry, 7 probes.
        let a = doc_with(3);
        let mut s = State::new();
        let bytes = a.generate_sync_message(&mut s).unwrap().encode();
        assert_eq!(
            check_sync_message(&bytes, &Limits::FROM_DEVICE)
                .unwrap()
                .heads,
            1
        );
    }

    #[test]
    fn bloom_zero_bits_per_entry_is_refused() {
        // 1 entry, 0 bits per entry, 7 probes, no bits: Automerge divides by 0.
        let m = with_bloom(&[1, 0, 7]);
        assert_eq!(
            check_sync_message(&m, &Limits::FROM_DEVICE),
            Err(CheckError::BloomBitsPerEntry(0))
        );
    }

    #[test]
    fn bloom_huge_probes_is_refused() {
        // 1 entry, 10 bits, 100M probes (LEB128 of 100_000_000), 2 bytes.
        let mut bloom = vec![1, 10];
        bloom.extend_from_slice(&[0x80, 0xc2, 0xd7, 0x2f]);
        bloom.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(
            check_sync_message(&with_bloom(&bloom), &Limits::FROM_DEVICE),
            Err(CheckError::BloomProbes(100_000_000))
        );
    }

    #[test]
    fn bloom_length_must_match_header() {
        // 1 entry × 10 bits = 2 bytes; 3 given.
        assert_eq!(
            check_sync_message(&with_bloom(&[1, 10, 7, 0, 0, 0]), &Limits::FROM_DEVICE),
            Err(CheckError::BloomLength)
        );
        assert!(check_sync_message(&with_bloom(&[1, 10, 7, 0, 0]), &Limits::FROM_DEVICE).is_ok());
    }

    /// A change big enough that Automerge stores it compressed.
    fn compressed_change(text_len: usize) -> automerge::Change {
        let mut d = AutoCommit::new();
        d.put(ROOT, "text", "x".repeat(text_len)).unwrap();
        d.commit();
        d.get_changes(&[]).into_iter().next().unwrap().clone()
    }

    fn message_with(chunks: Vec<Vec<u8>>, version: automerge::sync::MessageVersion) -> Vec<u8> {
        Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: chunks.into(),
            flags: None,
            version,
        }
        .encode()
    }

    #[test]
    fn compressed_change_chunk_passes_only_through_the_inflate() {
        let mut change = compressed_change(4096);
        let compressed = change.bytes().to_vec();
        assert_eq!(compressed[8], CHUNK_COMPRESSED, "Automerge compressed it");
        let msg = message_with(vec![compressed], automerge::sync::MessageVersion::V1);
        assert_eq!(
            check_sync_message(&msg, &Limits::FROM_DEVICE),
            Err(CheckError::CompressedChunk)
        );
        let (summary, plain) = admit_device_message(&msg).unwrap();
        assert_eq!(summary.chunks, 1);
        let decoded = Message::decode(&plain).unwrap();
        let chunk = decoded.changes.iter().next().unwrap();
        assert_eq!(chunk, change.raw_bytes(), "the plain change chunk");
        let mut doc = Automerge::new();
        doc.receive_sync_message(&mut State::new(), decoded)
            .unwrap();
        assert_eq!(doc.get_heads(), vec![change.hash()]);
    }

    #[test]
    fn a_compressed_change_must_inflate_to_its_checksum() {
        let mut change = compressed_change(4096);
        let mut compressed = change.bytes().to_vec();
        compressed[4] ^= 1; // the declared checksum
        let msg = message_with(vec![compressed], automerge::sync::MessageVersion::V1);
        assert_eq!(admit_device_message(&msg), Err(CheckError::Checksum));
    }

    #[test]
    fn whole_documents_from_a_device_are_inflated_first() {
        let mut d = AutoCommit::new();
        d.put(ROOT, "text", "y".repeat(8192)).unwrap();
        d.commit();
        for i in 0..50 {
            d.put(ROOT, format!("k{i}"), i as i64).unwrap();
            d.commit();
        }
        let saved = d.save();
        let msg = message_with(vec![saved.clone()], automerge::sync::MessageVersion::V2);
        assert_eq!(
            check_sync_message(&msg, &Limits::FROM_DEVICE),
            Err(CheckError::DeflatedColumn)
        );
        assert!(
            check_sync_message(&msg, &Limits::FROM_SERVER)
                .unwrap()
                .has_document
        );
        let (summary, plain) = admit_device_message(&msg).unwrap();
        assert!(summary.has_document);
        assert!(plain.len() > msg.len(), "the columns were inflated");
        let mut doc = Automerge::new();
        doc.receive_sync_message(&mut State::new(), Message::decode(&plain).unwrap())
            .unwrap();
        assert_eq!(doc.get_heads(), d.get_heads());
        assert_eq!(doc.save(), saved, "the same document");
    }

    #[test]
    fn a_small_document_has_nothing_to_inflate() {
        let msg = message_with(
            vec![doc_with(3).save()],
            automerge::sync::MessageVersion::V2,
        );
        assert!(
            check_sync_message(&msg, &Limits::FROM_DEVICE)
                .unwrap()
                .has_document
        );
        let (_, plain) = admit_device_message(&msg).unwrap();
        assert!(matches!(plain, std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn deflate_bombs_are_refused_within_the_budget() {
        // docs/design.md §6: a small compressed chunk that inflates far past
        // the budget. Zeros deflate about 1,000 to 1.
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &vec![0u8; 5 << 20]).unwrap();
        let bomb = enc.finish().unwrap();
        let mut chunk = MAGIC.to_vec();
        chunk.extend_from_slice(&[0, 0, 0, 0, CHUNK_COMPRESSED]);
        let mut len = Vec::new();
        inflate::write_uleb(&mut len, bomb.len() as u64);
        chunk.extend_from_slice(&len);
        chunk.extend_from_slice(&bomb);
        let msg = message_with(vec![chunk], automerge::sync::MessageVersion::V1);
        assert!(msg.len() < 64 << 10, "{} bytes", msg.len());
        assert_eq!(
            admit_device_message(&msg),
            Err(CheckError::InflatedTooLarge)
        );
        // The budget is for the whole message: two honest chunks of 2.5 MiB
        // each are over it together.
        let mut a = compressed_change(5 << 19);
        let mut b = compressed_change(5 << 19);
        let msg = message_with(
            vec![a.bytes().to_vec(), b.bytes().to_vec()],
            automerge::sync::MessageVersion::V1,
        );
        assert_eq!(
            admit_device_message(&msg),
            Err(CheckError::InflatedTooLarge)
        );
    }

    #[test]
    fn corrupted_checksum_is_refused() {
        let msgs = real_messages();
        let with_changes = msgs
            .iter()
            .find(|m| check_sync_message(m, &Limits::FROM_DEVICE).unwrap().chunks > 0)
            .unwrap();
        let mut bad = with_changes.clone();
        let last = bad.len() - 5; // inside the last change's data, before flags
        bad[last] ^= 0x01;
        assert_eq!(
            check_sync_message(&bad, &Limits::FROM_DEVICE),
            Err(CheckError::Checksum)
        );
    }

    #[test]
    fn structural_limits() {
        assert_eq!(
            check_sync_message(&[0x41], &Limits::FROM_DEVICE),
            Err(CheckError::WrongType(0x41))
        );
        assert_eq!(
            check_sync_message(&[0x42, 0, 0], &Limits::FROM_DEVICE),
            Err(CheckError::Truncated)
        );
        // 2,000 heads declared: over the 1,024 bound before any read.
        assert_eq!(
            check_sync_message(&[0x42, 0xd0, 0x0f], &Limits::FROM_DEVICE),
            Err(CheckError::TooMany("heads"))
        );
        // 2,001 changes declared.
        assert_eq!(
            check_sync_message(&[0x42, 0, 0, 0, 0xd1, 0x0f], &Limits::FROM_DEVICE),
            Err(CheckError::TooManyChanges(2_000))
        );
        // LEB128 running past 10 bytes, and an overlong zero.
        let mut overflow = vec![0x42];
        overflow.extend_from_slice(&[0xff; 11]);
        assert_eq!(
            check_sync_message(&overflow, &Limits::FROM_DEVICE),
            Err(CheckError::BadLeb128)
        );
        assert_eq!(
            check_sync_message(&[0x42, 0x80, 0x00, 0, 0, 0], &Limits::FROM_DEVICE),
            Err(CheckError::BadLeb128)
        );
        // Flags then garbage.
        assert!(check_sync_message(&[0x42, 0, 0, 0, 0, 2, 2, 0x84], &Limits::FROM_DEVICE).is_ok());
        assert_eq!(
            check_sync_message(&[0x42, 0, 0, 0, 0, 2, 2, 0x84, 9], &Limits::FROM_DEVICE),
            Err(CheckError::TrailingBytes)
        );
        let big = vec![0u8; (1 << 20) + 1];
        assert_eq!(
            check_sync_message(&big, &Limits::DEVICE_WIRE),
            Err(CheckError::TooLarge((1 << 20) + 1))
        );
        assert_eq!(
            admit_device_message(&big),
            Err(CheckError::TooLarge((1 << 20) + 1))
        );
    }
}
