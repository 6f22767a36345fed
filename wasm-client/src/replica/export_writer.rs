//! `GET /user/export` written one deck document at a time.
//!
//! [`Replica::export`] needs every document loaded and builds the answer as
//! one JSON value: for a heavy learner (200 decks, 150k reviews) that is
//! hundreds of MB, over the 128 MB of a Durable Object's isolate. The
//! writer holds only the root and the sessions documents; the deck
//! documents come one by one from the caller's reader
//! ([`ExportWriter::write`]) and each is dropped once its part is written
//! as JSON text. The reviews of each deck are kept sorted in deflated
//! blocks and merged (by `at`, then id) as the answer
//! is read in pieces ([`ExportText`]), so it need not exist whole either.
//! Same JSON as [`Replica::export`] (the tests hold them equal).

use super::{layout, DeckInPass, Replica, ReplicaError};
use crate::{Docs, DocumentId};
use automerge::Automerge;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Size of the pieces [`ExportText`] yields.
const PIECE_BYTES: usize = 256 << 10;

/// The export being written (see the module).
pub struct ExportWriter {
    decks: Members,
    progress: Members,
    deleted: Members,
    /// Each deck's reviews, sorted, in blocks.
    reviews: Vec<Vec<Block>>,
}

/// `"key":value` members of a JSON object, comma-joined, in one part per
/// deck (each its exact size: one string of 20k members would grow to
/// twice its size).
#[derive(Default)]
struct Members {
    parts: Vec<String>,
    open: String,
}

impl Members {
    fn push(&mut self, key: &str, value: &Value) {
        if !(self.open.is_empty() && self.parts.is_empty()) {
            self.open.push(',');
        }
        write_json_str(&mut self.open, key);
        self.open.push(':');
        write_json(&mut self.open, value);
    }

    /// Ends the deck's part.
    fn cut(&mut self) {
        if !self.open.is_empty() {
            let mut part = std::mem::take(&mut self.open);
            part.shrink_to_fit();
            self.parts.push(part);
        }
    }

    /// `{...}` as pieces.
    fn into_object(mut self) -> Vec<Vec<u8>> {
        self.cut();
        let mut out = vec![b"{".to_vec()];
        out.extend(self.parts.into_iter().map(String::into_bytes));
        out.push(b"}".to_vec());
        out
    }
}

fn write_json(out: &mut String, value: &Value) {
    use std::fmt::Write;
    match value {
        Value::String(s) => write_json_str(out, s),
        // Writing to a String cannot fail.
        v => {
            let _ = write!(out, "{v}");
        }
    }
}

/// A string as a JSON literal: copied between quotes when nothing in it
/// needs escaping (the usual case), else escaped as serde_json does.
fn write_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        use std::fmt::Write;
        let _ = write!(out, "{}", Value::from(s));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// One deck's review events as JSON text while it is written, and where
/// each one's `at` and `id` are in it.
#[derive(Default)]
struct ReviewRun {
    text: String,
    items: Vec<ReviewAt>,
}

/// Byte ranges in a text: the event, and the JSON string literals (quotes
/// included) of its `at` and `id`.
#[derive(Clone, Copy)]
struct ReviewAt {
    event: (u32, u32),
    at: Option<(u32, u32)>,
    id: Option<(u32, u32)>,
}

/// Events of one block of a deck's sorted run.
const BLOCK_EVENTS: usize = 128;

/// [`BLOCK_EVENTS`] events of a deck, sorted, as deflated JSON text (about
/// a sixth of its size): 150k reviews are held in a few MB, not 30.
struct Block {
    deflated: Vec<u8>,
    /// Ranges in the inflated text.
    items: Vec<ReviewAt>,
}

fn len32(s: &str) -> u32 {
    u32::try_from(s.len()).unwrap_or(u32::MAX)
}

fn slice(text: &str, (a, b): (u32, u32)) -> &str {
    text.get(a as usize..b as usize).unwrap_or("")
}

/// The string a JSON literal stands for (unescaped only if it must be).
fn literal(text: &str, range: Option<(u32, u32)>) -> Option<Cow<'_, str>> {
    let lit = slice(text, range?);
    let inner = lit.get(1..lit.len().saturating_sub(1)).unwrap_or("");
    if inner.contains('\\') {
        serde_json::from_str::<String>(lit).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The sort key of an event: (`at`, id), as `Replica::export` sorts.
type Key<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

fn key<'a>(text: &'a str, at: &ReviewAt) -> Key<'a> {
    (literal(text, at.at), literal(text, at.id))
}

impl ReviewRun {
    fn push(&mut self, event: &Map<String, Value>) {
        let start = len32(&self.text);
        let (mut at, mut id) = (None, None);
        self.text.push('{');
        for (i, (k, v)) in event.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            write_json_str(&mut self.text, k);
            self.text.push(':');
            let from = len32(&self.text);
            write_json(&mut self.text, v);
            let range = Some((from, len32(&self.text)));
            if v.is_string() {
                match k.as_str() {
                    "at" => at = range,
                    "id" => id = range,
                    _ => {}
                }
            }
        }
        self.text.push('}');
        self.items.push(ReviewAt {
            event: (start, len32(&self.text)),
            at,
            id,
        });
    }

    /// The run sorted (stably, so equal keys keep their order) and cut
    /// into deflated blocks.
    fn seal(mut self) -> Result<Vec<Block>, ReplicaError> {
        let text = std::mem::take(&mut self.text);
        self.items.sort_by(|a, b| key(&text, a).cmp(&key(&text, b)));
        let mut blocks = Vec::new();
        for chunk in self.items.chunks(BLOCK_EVENTS) {
            let mut plain = String::new();
            let mut items = Vec::with_capacity(chunk.len());
            for at in chunk {
                let base = i64::from(len32(&plain)) - i64::from(at.event.0);
                let shift = |r: (u32, u32)| {
                    let f = |x: u32| u32::try_from(i64::from(x) + base).unwrap_or(0);
                    (f(r.0), f(r.1))
                };
                plain.push_str(slice(&text, at.event));
                items.push(ReviewAt {
                    event: shift(at.event),
                    at: at.at.map(shift),
                    id: at.id.map(shift),
                });
            }
            blocks.push(Block {
                deflated: deflate(plain.as_bytes())?,
                items,
            });
        }
        Ok(blocks)
    }
}

fn deflate(bytes: &[u8]) -> Result<Vec<u8>, ReplicaError> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .map_err(|_| ReplicaError::Identity("export: deflate failed"))
}

fn inflate(block: &Block) -> String {
    use std::io::Read;
    let mut out = String::new();
    // Our own deflate of our own text: it inflates.
    let _ = flate2::read::DeflateDecoder::new(block.deflated.as_slice()).read_to_string(&mut out);
    out
}

impl ExportWriter {
    /// The export of `user_id`'s account with `extra` members, asking
    /// `read` for each document it needs (`None`: not stored) in the order
    /// the writer takes them: the root, the sessions documents, then each
    /// deck document, dropped once written.
    pub fn write<E: From<ReplicaError>>(
        user_id: &str,
        actor: &[u8],
        extra: &Map<String, Value>,
        mut read: impl FnMut(&DocumentId) -> Result<Option<Automerge>, E>,
    ) -> Result<ExportText, E> {
        let root_id = layout::root_id(user_id);
        let mut replica = Replica::from_docs(user_id, actor, Docs::new())?;
        // Not stored yet: the genesis stands in, as on a device.
        if let Some(root) = read(&root_id)? {
            replica.docs_mut().insert(root_id, root);
        }
        let mut sessions = Docs::new();
        for id in replica.session_doc_ids()? {
            if let Some(doc) = read(&id)? {
                sessions.insert(id, doc);
            }
        }
        replica.docs_mut().extend(sessions);
        let mut writer = Self {
            decks: Members::default(),
            progress: Members::default(),
            deleted: Members::default(),
            reviews: Vec::new(),
        };
        replica.each_deck(read, |r, deck| Ok(writer.write_deck(r, deck)?))?;
        Ok(writer.finish(&replica, extra)?)
    }

    /// Writes the deck's part (the deck, its cards' progress, its reviews)
    /// as [`Replica::export`]'s `decks`, `progress`, `reviews` and
    /// `deleted_decks` have it.
    fn write_deck(&mut self, r: &Replica, deck: &DeckInPass) -> Result<(), ReplicaError> {
        if let Some(json) = r.live_deck(deck, false)? {
            self.decks.push(&deck.deck_id, &json);
        }
        if r.deck_document(deck)?.is_some() {
            let (progress, reviews) = r.deck_progress_and_reviews(deck)?;
            for (card, p) in progress {
                self.progress.push(&card, &p);
            }
            let mut run = ReviewRun::default();
            for e in reviews {
                run.push(&e);
            }
            self.reviews.push(run.seal()?);
        }
        if let Some(json) = r.deleted_deck_json(deck)? {
            self.deleted.push(&deck.deck_id, &json);
        }
        for m in [&mut self.decks, &mut self.progress, &mut self.deleted] {
            m.cut();
        }
        Ok(())
    }

    /// The answer, with `extra` members added to the object, in pieces.
    /// `r`: the root and the sessions documents.
    fn finish(self, r: &Replica, extra: &Map<String, Value>) -> Result<ExportText, ReplicaError> {
        // The large members (decks, progress) go as their own pieces,
        // moved, not copied into one head.
        let mut head: Vec<Vec<u8>> = Vec::new();
        let mut member = |key: &str, value: Vec<Vec<u8>>| {
            let sep = if head.is_empty() { "{" } else { "," };
            head.push(format!("{sep}{}:", Value::from(key)).into_bytes());
            head.extend(value);
        };
        let json = |v: Value| vec![v.to_string().into_bytes()];
        member("preferences", json(Value::Object(r.preferences()?)));
        member("achievements", json(Value::Object(r.achievements()?)));
        let starred = r.starred()?.into_iter().map(Value::String).collect();
        member("starred", json(Value::Array(starred)));
        member("sessions", json(Value::Object(r.sessions()?)));
        member("decks", self.decks.into_object());
        member("progress", self.progress.into_object());
        member("deleted_decks", self.deleted.into_object());
        for (k, v) in extra {
            member(k, json(v.clone()));
        }
        member("reviews", vec![b"[".to_vec()]);
        head.reverse();
        let mut text = ExportText {
            head,
            len: 0,
            runs: self.reviews,
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
            first: true,
            done: false,
        };
        text.len = text.head.iter().map(Vec::len).sum::<usize>() + text.reviews_len();
        for run in 0..text.runs.len() {
            text.cursors.push(Cursor::default());
            text.advance(run);
        }
        Ok(text)
    }
}

/// A run's next event for the merge: its (`at`, id) and the run.
type Next = (Option<String>, Option<String>, usize);

/// Where the merge is in one deck's run: its current block, inflated.
#[derive(Default)]
struct Cursor {
    block: usize,
    item: usize,
    text: Option<String>,
}

/// The export's JSON text in pieces of about 256 KiB (an iterator): the
/// head, then the reviews of every deck merged in order (one inflated
/// block per deck at a time).
pub struct ExportText {
    /// Everything before the first review, in pieces, last first.
    head: Vec<Vec<u8>>,
    len: usize,
    runs: Vec<Vec<Block>>,
    cursors: Vec<Cursor>,
    /// The next event of each run that has one: (at, id, run), least first.
    heap: BinaryHeap<Reverse<Next>>,
    first: bool,
    done: bool,
}

impl ExportText {
    /// Bytes of the whole text.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty: at least `{...,"reviews":[]}`.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn reviews_len(&self) -> usize {
        let (mut bytes, mut n) = (0, 0);
        for block in self.runs.iter().flatten() {
            for at in &block.items {
                bytes += (at.event.1 - at.event.0) as usize;
                n += 1;
            }
        }
        bytes + usize::saturating_sub(n, 1) + "]}".len()
    }

    /// Moves run `run` to its next event (inflating the next block when
    /// one ends) and puts that event's key on the heap.
    fn advance(&mut self, run: usize) {
        let blocks = &self.runs[run];
        let c = &mut self.cursors[run];
        if c.text.is_some() {
            c.item += 1;
            if c.item >= blocks[c.block].items.len() {
                c.block += 1;
                c.item = 0;
                c.text = None;
            }
        }
        let Some(block) = blocks.get(c.block) else {
            return;
        };
        let text = c.text.get_or_insert_with(|| inflate(block));
        if let Some(at) = block.items.get(c.item) {
            let (a, i) = key(text, at);
            self.heap.push(Reverse((
                a.map(Cow::into_owned),
                i.map(Cow::into_owned),
                run,
            )));
        }
    }

    /// The whole text at once (tests, small accounts).
    pub fn into_string(self) -> String {
        let bytes: Vec<u8> = self.flatten().collect();
        String::from_utf8(bytes).unwrap_or_default()
    }
}

impl Iterator for ExportText {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if let Some(piece) = self.head.pop() {
            return Some(piece);
        }
        if self.done {
            return None;
        }
        let mut piece = String::with_capacity(PIECE_BYTES + 1024);
        while piece.len() < PIECE_BYTES {
            let Some(Reverse((_, _, run))) = self.heap.pop() else {
                piece.push_str("]}");
                self.done = true;
                break;
            };
            if !self.first {
                piece.push(',');
            }
            self.first = false;
            let c = &self.cursors[run];
            let at = &self.runs[run][c.block].items[c.item];
            piece.push_str(slice(c.text.as_deref().unwrap_or(""), at.event));
            self.advance(run);
        }
        Some(piece.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::{write_json, write_json_str};
    use serde_json::{json, Value};

    /// The copy between quotes is the literal serde_json writes, and every
    /// string that needs escaping is escaped as serde_json does.
    #[test]
    fn a_string_is_written_as_serde_json_writes_it() {
        for s in [
            "",
            "plain",
            "2026-11-19T09:00:00.000Z",
            "é 😀 \u{7f} \u{2028}",
            "a \"quote\"",
            "back\\slash",
            "new\nline\ttab\r",
            "\u{0}\u{1f}",
        ] {
            let mut out = String::new();
            write_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
            let mut out = String::new();
            write_json(&mut out, &Value::from(s));
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
        let mut out = String::new();
        write_json(&mut out, &json!({"a\"b": [1, 2.5, null, true, "x\\y"]}));
        assert_eq!(out, r#"{"a\"b":[1,2.5,null,true,"x\\y"]}"#);
    }
}
