//! A deck's first markdown, and the repair when two devices wrote
//! different first versions of the same deck.
//!
//! A deck's first text is written as a deterministic change (see
//! [`super::genesis::initial_markdown`]): two devices that create a deck
//! with the same text write the same change. With *different* texts (the
//! app's bundled sample decks, which have fixed ids, edited on two devices
//! before their first sync) both changes insert at the start of the same
//! Text, and after a merge the deck holds both texts one after the other:
//! every shared card twice.
//!
//! Each first version leaves a marker key `firstMarkdown/<actor hex>` in the
//! deck document (written by that same change, so equal texts leave one
//! marker). When a document carries two or more markers, [`repair`]
//! finds the cards to drop: the runs are ranked by their actor (hex order),
//! and a card whose lines (with its metadata comments) were all written by
//! one first version is dropped when the same card (the same lines,
//! trimmed; not its category, which the concatenation can change) also
//! stands in a better-ranked run or in text a device wrote later. Text written after the first versions is never dropped, and the
//! best-ranked copy of every card stays, so two devices repairing at once
//! delete the same characters (deleting a deleted character is a no-op)
//! and never both copies. What each device added is kept.

use crate::cards;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutomergeError, ObjId, ReadDoc, ROOT};
use std::collections::BTreeMap;

/// Prefix of the marker keys at the document root.
pub const MARKER_PREFIX: &str = "firstMarkdown/";

/// The actors of the first versions the document holds, best rank first.
fn runs<D: ReadDoc>(doc: &D) -> Vec<ActorId> {
    let mut out: Vec<ActorId> = doc
        .keys(ROOT)
        .filter_map(|k| {
            let hex = k.strip_prefix(MARKER_PREFIX)?;
            ActorId::try_from(hex).ok()
        })
        .collect();
    out.sort_by_key(ActorId::to_hex_string);
    out
}

/// What [`repair`] changes, in the document's text units, ascending.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// Where a newline goes: one first version's last line runs into the
    /// next one's first line (the app's texts need not end with one).
    newlines: Vec<usize>,
    /// `(start, len)` of duplicated cards to delete, with their newline.
    deletes: Vec<(usize, usize)>,
}

/// A line of the text: its range (end after its newline) and who wrote
/// its characters other than the newline: `None` for a blank line,
/// `Some(Some(run))` for one first version, `Some(None)` for several or a
/// later edit.
type Line = (usize, usize, Option<Option<usize>>);

fn plan<D: ReadDoc>(doc: &D, md: &ObjId, deck_id: &str) -> Result<Plan, AutomergeError> {
    let runs = runs(doc);
    if runs.len() < 2 {
        return Ok(Plan::default());
    }
    let rank: BTreeMap<&ActorId, usize> = runs.iter().enumerate().map(|(i, a)| (a, i)).collect();
    let encoding = doc.text_encoding();
    let mut plan = Plan::default();
    let mut lines: Vec<Line> = Vec::new();
    let mut text = String::new();
    let (mut start, mut at) = (0usize, 0usize);
    let mut owner: Option<Option<usize>> = None;
    let mut previous: Option<(Option<usize>, char)> = None;
    for item in doc.list_range(md, ..) {
        let s = match &item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => s.to_string(),
            _ => continue,
        };
        let by = match item.id() {
            automerge::ObjId::Id(_, actor, _) => rank.get(&actor).copied(),
            automerge::ObjId::Root => None,
        };
        for c in s.chars() {
            if let Some((Some(prev_run), prev_c)) = previous {
                if by.is_some() && by != Some(prev_run) && prev_c != '\n' {
                    plan.newlines.push(at);
                }
            }
            previous = Some((by, c));
            at += super::markdown::width(encoding, c);
            text.push(c);
            if c == '\n' {
                lines.push((start, at, owner.take()));
                start = at;
            } else {
                owner = Some(match owner {
                    None => by,
                    Some(o) if o == by => o,
                    Some(_) => None,
                });
            }
        }
    }
    if start < at || lines.is_empty() {
        lines.push((start, at, owner));
    }
    if !plan.newlines.is_empty() {
        // Delete nothing until the glued lines are apart (the next pass).
        return Ok(plan);
    }
    let parsed = cards::parse_with_lines(deck_id, &text);
    let text_lines: Vec<&str> = text.split('\n').collect();
    // What a card says: its own lines and comments, trimmed (not its
    // category: one text may now follow the other's last header).
    let key = |p: &cards::ParsedCard| {
        let mut k = String::new();
        for line in &text_lines[p.first_line..=p.comments_end_line.min(text_lines.len() - 1)] {
            let t = line.trim();
            if !t.is_empty() {
                k.push_str(t);
                k.push('\n');
            }
        }
        k
    };
    let last = |p: &cards::ParsedCard| p.comments_end_line.min(lines.len() - 1);
    let owners: Vec<Option<usize>> = parsed
        .iter()
        .map(|p| {
            let mut written = lines[p.first_line..=last(p)].iter().filter_map(|l| l.2);
            let first = written.next().flatten();
            if written.all(|o| o == first) {
                first
            } else {
                None
            }
        })
        .collect();
    // The best copy of each card: text written later (-1), else the
    // best-ranked first version.
    let mut best: BTreeMap<String, i64> = BTreeMap::new();
    for (p, o) in parsed.iter().zip(&owners) {
        let r = o.map_or(-1, |r| r as i64);
        let e = best.entry(key(p)).or_insert(r);
        *e = (*e).min(r);
    }
    for (p, o) in parsed.iter().zip(&owners) {
        let Some(r) = o else { continue };
        if best[&key(p)] < *r as i64 {
            let first = lines[p.first_line].0;
            let end = lines[last(p)].1;
            plan.deletes.push((first, end - first));
        }
    }
    Ok(plan)
}

/// Repairs the markdown `md` of deck `deck_id` when it holds concurrent
/// first versions: newlines between glued versions, then the duplicated
/// cards removed. Returns whether it changed anything.
pub fn repair<T: Transactable>(
    tx: &mut T,
    md: &ObjId,
    deck_id: &str,
) -> Result<bool, AutomergeError> {
    let mut changed = false;
    for _ in 0..2 {
        let plan = plan(tx, md, deck_id)?;
        for at in plan.newlines.iter().rev() {
            tx.splice_text(md, *at, 0, "\n")?;
        }
        for (start, len) in plan.deletes.iter().rev() {
            tx.splice_text(md, *start, *len as isize, "")?;
        }
        let done = plan.newlines.is_empty();
        changed |= plan != Plan::default();
        if done {
            break;
        }
    }
    Ok(changed)
}

/// Whether the document holds two first versions or more (a repair may be
/// due); cheap.
pub fn needs_repair<D: ReadDoc>(doc: &D) -> bool {
    doc.keys(ROOT)
        .filter(|k| k.starts_with(MARKER_PREFIX))
        .nth(1)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::super::genesis::{create, initial_markdown};
    use super::super::DocKind;
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::Automerge;

    fn device(n: u8, text: &str) -> Automerge {
        let mut doc = create(DocKind::Deck, "d1", ActorId::from([n; 16].as_slice())).unwrap();
        initial_markdown(&mut doc, "d1", text).unwrap();
        doc
    }

    fn fix(doc: &mut Automerge) -> bool {
        let (_, md) = doc.get(ROOT, "markdown").unwrap().unwrap();
        let mut tx = doc.transaction();
        let changed = repair(&mut tx, &md, "d1").unwrap();
        tx.commit();
        changed
    }

    fn text(doc: &Automerge) -> String {
        let (_, md) = doc.get(ROOT, "markdown").unwrap().unwrap();
        doc.text(&md).unwrap()
    }

    #[test]
    fn concurrent_first_versions_keep_each_card_once_even_when_both_repair() {
        let mut a = device(1, "A :: 1\nB :: 2\n<!-- Hint: h -->\nOnly A :: a\n");
        let mut b = device(2, "A :: 1\nB :: 2\n<!-- Hint: h -->\nOnly B :: b\n");
        a.merge(&mut b.clone()).unwrap();
        b.merge(&mut a.clone()).unwrap();
        assert_eq!(a.get_all(ROOT, "markdown").unwrap().len(), 1);
        let merged = text(&a);
        assert_eq!(cards::parse("d1", &merged).len(), 6, "{merged}");
        // Both devices repair from the same merged state, then sync.
        assert!(fix(&mut a));
        assert!(fix(&mut b));
        a.merge(&mut b).unwrap();
        let t = text(&a);
        let fronts: Vec<String> = cards::parse("d1", &t)
            .iter()
            .map(|c| c["front"].as_str().unwrap().to_string())
            .collect();
        let mut sorted = fronts.clone();
        sorted.sort();
        assert_eq!(sorted, ["A", "B", "Only A", "Only B"], "{t}");
        assert_eq!(t.matches("Hint").count(), 1, "{t}");
        assert!(!fix(&mut a), "nothing left to repair");
    }

    #[test]
    fn a_card_a_device_rewrote_later_is_never_dropped() {
        let mut a = device(1, "A :: 1\n");
        let mut b = device(2, "A :: 1\n");
        // Same text: one change, one marker, nothing to repair.
        a.merge(&mut b).unwrap();
        assert!(!needs_repair(&a));
        let mut c = device(3, "X :: 9\n");
        let (_, md_c) = c.get(ROOT, "markdown").unwrap().unwrap();
        let mut tx = c.transaction();
        tx.splice_text(&md_c, 0, 0, "A :: 1\n").unwrap();
        tx.commit();
        a.merge(&mut c).unwrap();
        // The first version's copy goes; the one typed later stays.
        assert!(fix(&mut a));
        assert_eq!(text(&a).matches("A :: 1").count(), 1, "{}", text(&a));
        assert!(text(&a).contains("X :: 9"));
    }
}

#[cfg(test)]
mod glued {
    use super::super::genesis::{create, initial_markdown};
    use super::super::DocKind;
    use super::*;
    use automerge::Automerge;

    #[test]
    fn texts_without_a_final_newline_are_split_then_deduplicated() {
        let mk = |n: u8, t: &str| {
            let mut d = create(DocKind::Deck, "d1", ActorId::from([n; 16].as_slice())).unwrap();
            initial_markdown(&mut d, "d1", t).unwrap();
            d
        };
        let mut a: Automerge = mk(1, "Q :: 1\nA only :: x");
        let mut b = mk(2, "Q :: 1\nB only :: y");
        a.merge(&mut b).unwrap();
        let (_, md) = a.get(ROOT, "markdown").unwrap().unwrap();
        let mut tx = a.transaction();
        assert!(repair(&mut tx, &md, "d1").unwrap());
        tx.commit();
        let text = a.text(&md).unwrap();
        let mut fronts: Vec<String> = cards::parse("d1", &text)
            .iter()
            .map(|c| c["front"].as_str().unwrap().to_string())
            .collect();
        fronts.sort();
        assert_eq!(fronts, ["A only", "B only", "Q"], "{text:?}");
    }
}
