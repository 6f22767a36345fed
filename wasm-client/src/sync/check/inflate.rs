//! The bounded inflate (docs/design.md §6): a device's sync message may
//! carry compressed change chunks and whole documents with deflated
//! columns (Automerge's v2 messages: what a stock client sends where the
//! server has nothing). Automerge inflates those without any bound (a
//! 261 KB deflate bomb grows by 787 MB), so we inflate them first, within
//! [`Limits::max_inflated_bytes`] for the whole message, and hand
//! Automerge a rewritten message in which nothing is deflated:
//!
//! - a compressed change chunk becomes the plain change chunk it stands
//!   for; its header's checksum was computed over that plain change, so
//!   the inflated bytes must hash to it;
//! - a document chunk's deflated columns are inflated in place (the spec's
//!   deflate bit cleared, the declared length replaced by the actual one)
//!   and the chunk gets the checksum of its new bytes;
//! - every deflate stream must end exactly at the length its chunk or
//!   column declares, and may not inflate past what is left of the budget.
//!
//! The rewritten message then passes [`check_sync_message`] with
//! `allow_compressed: false`, like any other.

use super::{
    check_sync_message, CheckError, Chunk, Cursor, Limits, SyncSummary, CHUNK_CHANGE,
    CHUNK_COMPRESSED, CHUNK_DOCUMENT, MAGIC,
};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::io::Read;

/// The bit of a column spec that marks its data as deflated.
const DEFLATE_BIT: u64 = 0b1000;
/// Columns one list of a document chunk may declare (Automerge writes
/// about a dozen per list).
pub(super) const MAX_COLUMNS: usize = 64;
/// Actors one document chunk may name.
const MAX_ACTORS: usize = 100_000;

/// Checks a device's message on the wire (compressed parts allowed),
/// inflates it within the budget and checks the result again with nothing
/// deflated left: `Ok` means Automerge may decode the returned bytes, which
/// borrow `bytes` when nothing was compressed.
pub fn admit_device_message(bytes: &[u8]) -> Result<(SyncSummary, Cow<'_, [u8]>), CheckError> {
    check_sync_message(bytes, &Limits::DEVICE_WIRE)?;
    let plain = inflate_sync_message(bytes, &Limits::DEVICE_WIRE)?;
    let summary = check_sync_message(&plain, &Limits::FROM_DEVICE)?;
    Ok((summary, plain))
}

/// `bytes` (which passed [`check_sync_message`] with `limits`) with every
/// compressed part inflated, within `limits.max_inflated_bytes` in total.
pub fn inflate_sync_message<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Cow<'a, [u8]>, CheckError> {
    let mut c = Cursor { bytes, pos: 0 };
    c.byte()?;
    c.hashes("heads", limits.max_hashes)?;
    c.hashes("need", limits.max_hashes)?;
    let haves = c.count("haves", limits.max_haves)?;
    for _ in 0..haves {
        c.hashes("last_sync hashes", limits.max_hashes)?;
        let bloom_len = c.len()?;
        c.take(bloom_len)?;
    }
    let envelope_end = c.pos;
    let entries = c.count_changes(limits.max_changes)?;
    let mut budget = limits.max_inflated_bytes;
    let mut rewritten = Vec::with_capacity(entries);
    let mut changed = false;
    for _ in 0..entries {
        let len = c.len()?;
        let entry = inflate_entry(c.take(len)?, &mut budget)?;
        changed |= matches!(entry, Cow::Owned(_));
        rewritten.push(entry);
    }
    if !changed {
        return Ok(Cow::Borrowed(bytes));
    }
    let rest = &bytes[c.pos..];
    let size: usize = rewritten.iter().map(|e| e.len() + 10).sum();
    let mut out = Vec::with_capacity(envelope_end + 10 + size + rest.len());
    out.extend_from_slice(&bytes[..envelope_end]);
    write_uleb(&mut out, entries as u64);
    for e in &rewritten {
        write_uleb(&mut out, e.len() as u64);
        out.extend_from_slice(e);
    }
    out.extend_from_slice(rest);
    Ok(Cow::Owned(out))
}

/// One change entry (a run of storage chunks) with its compressed chunks
/// replaced; borrowed when it has none.
fn inflate_entry<'a>(entry: &'a [u8], budget: &mut usize) -> Result<Cow<'a, [u8]>, CheckError> {
    let mut c = Cursor {
        bytes: entry,
        pos: 0,
    };
    let mut out = Vec::new();
    let mut changed = false;
    while !c.at_end() {
        let Chunk {
            whole,
            checksum,
            kind,
            data,
            ..
        } = c.chunk()?;
        match kind {
            CHUNK_COMPRESSED => {
                let plain = inflate(data, budget)?;
                let chunk = chunk_bytes(CHUNK_CHANGE, &plain);
                if chunk[4..8] != *checksum {
                    return Err(CheckError::Checksum);
                }
                out.extend_from_slice(&chunk);
                changed = true;
            }
            CHUNK_DOCUMENT => match inflate_document(data, budget)? {
                Some(plain) => {
                    out.extend_from_slice(&chunk_bytes(CHUNK_DOCUMENT, &plain));
                    changed = true;
                }
                None => out.extend_from_slice(whole),
            },
            _ => out.extend_from_slice(whole),
        }
    }
    Ok(if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(entry)
    })
}

/// The column layout of a document chunk's data.
pub(super) struct DocumentLayout {
    /// End of the actors and heads (where the column lists start).
    pub prefix_end: usize,
    /// (spec, declared length) of the change columns, then the op columns.
    pub columns: Vec<(u64, usize)>,
    /// Number of change columns (the rest are op columns).
    pub change_columns: usize,
    /// Where the column data starts.
    pub data_start: usize,
}

impl DocumentLayout {
    /// Parses what Automerge's `Document::parse` reads before the column
    /// data, with our bounds.
    pub(super) fn parse(data: &[u8]) -> Result<Self, CheckError> {
        let mut c = Cursor {
            bytes: data,
            pos: 0,
        };
        let actors = c.count("actors", MAX_ACTORS)?;
        for _ in 0..actors {
            let len = c.len()?;
            c.take(len)?;
        }
        c.hashes("document heads", MAX_ACTORS)?;
        let prefix_end = c.pos;
        let mut columns = Vec::new();
        let mut change_columns = 0;
        for list in 0..2 {
            let n = c.count("columns", MAX_COLUMNS)?;
            if list == 0 {
                change_columns = n;
            }
            for _ in 0..n {
                let spec = c.uleb_u32()?;
                let len = usize::try_from(c.uleb()?).map_err(|_| CheckError::Truncated)?;
                columns.push((spec, len));
            }
        }
        let data_start = c.pos;
        let total = columns
            .iter()
            .try_fold(0usize, |acc, (_, len)| acc.checked_add(*len))
            .ok_or(CheckError::Truncated)?;
        if total > data.len() - data_start {
            return Err(CheckError::Truncated);
        }
        Ok(Self {
            prefix_end,
            columns,
            change_columns,
            data_start,
        })
    }

    /// Whether any column is deflated.
    pub(super) fn deflated(&self) -> bool {
        self.columns.iter().any(|(spec, _)| spec & DEFLATE_BIT != 0)
    }
}

/// A document chunk's data with its deflated columns inflated; `None`
/// when none is.
fn inflate_document(data: &[u8], budget: &mut usize) -> Result<Option<Vec<u8>>, CheckError> {
    let layout = DocumentLayout::parse(data)?;
    if !layout.deflated() {
        return Ok(None);
    }
    let mut pos = layout.data_start;
    let mut specs = Vec::with_capacity(layout.columns.len());
    let mut bodies: Vec<Cow<'_, [u8]>> = Vec::with_capacity(layout.columns.len());
    for &(spec, len) in &layout.columns {
        let raw = &data[pos..pos + len];
        pos += len;
        if spec & DEFLATE_BIT != 0 {
            let plain = inflate(raw, budget)?;
            specs.push((spec & !DEFLATE_BIT, plain.len()));
            bodies.push(Cow::Owned(plain));
        } else {
            specs.push((spec, len));
            bodies.push(Cow::Borrowed(raw));
        }
    }
    let suffix = &data[pos..];
    let mut out = Vec::with_capacity(data.len() * 2);
    out.extend_from_slice(&data[..layout.prefix_end]);
    let (change, ops) = specs.split_at(layout.change_columns);
    for list in [change, ops] {
        write_uleb(&mut out, list.len() as u64);
        for (spec, len) in list {
            write_uleb(&mut out, *spec);
            write_uleb(&mut out, *len as u64);
        }
    }
    for b in &bodies {
        out.extend_from_slice(b);
    }
    out.extend_from_slice(suffix);
    Ok(Some(out))
}

/// Inflates `data`, which must be one whole deflate stream, into at most
/// `*budget` bytes; takes what it used from the budget.
fn inflate(data: &[u8], budget: &mut usize) -> Result<Vec<u8>, CheckError> {
    let mut decoder = flate2::bufread::DeflateDecoder::new(data);
    let mut out = Vec::new();
    let limit = u64::try_from(*budget).unwrap_or(u64::MAX).saturating_add(1);
    (&mut decoder)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| CheckError::Deflate)?;
    if out.len() > *budget {
        return Err(CheckError::InflatedTooLarge);
    }
    // The stream must end where its chunk or column says it does.
    if decoder.total_in() != data.len() as u64 {
        return Err(CheckError::Deflate);
    }
    *budget -= out.len();
    Ok(out)
}

/// A storage chunk of `kind` around `data`, with its checksum (the first
/// 4 bytes of SHA-256 over type, length and data).
fn chunk_bytes(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut len = Vec::with_capacity(10);
    write_uleb(&mut len, data.len() as u64);
    let mut h = Sha256::new();
    h.update([kind]);
    h.update(&len);
    h.update(data);
    let sum = h.finalize();
    let mut out = Vec::with_capacity(9 + len.len() + data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&sum[..4]);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(data);
    out
}

/// Unsigned LEB128, as Automerge writes lengths.
pub(super) fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}
