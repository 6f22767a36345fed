//! Deterministic first changes.
//!
//! Two offline devices that both create "the deck document of deck d1"
//! must not end up with two competing `markdown` Text objects (after a merge
//! one would win and the other's text would vanish). So every document
//! starts with a genesis change that depends only on its kind and id: a
//! fixed actor, time 0, no message, and the same operations in the same
//! order. Both devices then produce byte-identical changes with the same
//! hash, which Automerge stores once. After genesis each device writes with
//! its own actor.

use super::{DocKind, SCHEMA};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, AutomergeError, ObjType, ReadDoc, ROOT};

/// The actor of every genesis change. Never used for anything else.
pub(crate) const GENESIS_ACTOR: [u8; 16] = *b"myflashplay-gen1";

/// A new document holding only the genesis change of `kind`, with
/// `actor` set for the caller's own edits.
pub fn create(kind: DocKind, key: &str, actor: ActorId) -> Result<Automerge, AutomergeError> {
    let mut doc = Automerge::new().with_actor(ActorId::from(GENESIS_ACTOR.as_slice()));
    let mut tx = doc.transaction();
    tx.put(ROOT, "schema", SCHEMA)?;
    tx.put(ROOT, "kind", kind.as_str())?;
    match kind {
        DocKind::Root => {
            tx.put(ROOT, "userId", key)?;
            let prefs = tx.put_object(ROOT, "preferences", ObjType::Map)?;
            tx.put_object(&prefs, "accessibility", ObjType::Map)?;
            tx.put_object(&prefs, "gameSettings", ObjType::Map)?;
            for map in [
                "starred",
                "achievements",
                "decks",
                "sessionMonths",
                "localStorage",
            ] {
                tx.put_object(ROOT, map, ObjType::Map)?;
            }
        }
        DocKind::Deck => {
            tx.put(ROOT, "deckId", key)?;
            tx.put_object(ROOT, "markdown", ObjType::Text)?;
            for map in ["metadata", "settings", "extra", "progressBase", "counters"] {
                tx.put_object(ROOT, map, ObjType::Map)?;
            }
            tx.put_object(ROOT, "reviews", ObjType::List)?;
        }
        DocKind::Sessions => {
            tx.put(ROOT, "month", key)?;
            tx.put_object(ROOT, "sessions", ObjType::Map)?;
        }
    }
    tx.commit_with(CommitOptions::default().with_time(0));
    doc.set_actor(actor);
    Ok(doc)
}

/// Writes a deck's first markdown as a deterministic change when `doc`
/// holds nothing but its genesis: the actor is derived from the deck id and
/// the text, the time is 0. Two devices that create the same deck with the
/// same text offline (the same localStorage imported twice) then write the
/// very same change, stored once, instead of two concurrent inserts that
/// would double the text. The change also sets the marker key of
/// [`super::first_markdown`], which repairs different first texts.
/// Returns whether it wrote.
pub fn initial_markdown(
    doc: &mut Automerge,
    deck_id: &str,
    text: &str,
) -> Result<bool, AutomergeError> {
    let heads = doc.get_heads();
    let genesis_only = heads.len() == 1
        && doc
            .get_change_by_hash(&heads[0])
            .is_some_and(|c| c.actor_id() == &ActorId::from(GENESIS_ACTOR.as_slice()));
    let Some((_, md)) = doc.get(ROOT, "markdown")? else {
        return Ok(false);
    };
    if !genesis_only || text.is_empty() || doc.length(&md) != 0 {
        return Ok(false);
    }
    let own = doc.get_actor().clone();
    let content = crate::DocumentId::derive(&["deck-markdown", deck_id, text]);
    let actor = ActorId::from(content.as_bytes().as_slice());
    let marker = format!(
        "{}{}",
        super::first_markdown::MARKER_PREFIX,
        actor.to_hex_string()
    );
    doc.set_actor(actor);
    let mut tx = doc.transaction();
    let written = super::markdown::update(&mut tx, &md, text)
        .and_then(|()| tx.put(ROOT, marker.as_str(), true));
    match written {
        Ok(()) => {
            tx.commit_with(CommitOptions::default().with_time(0));
        }
        Err(_) => {
            tx.rollback();
        }
    }
    doc.set_actor(own);
    written.map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_kind_and_key_give_the_same_change() {
        let a = create(DocKind::Deck, "d1", ActorId::from([1u8; 16].as_slice())).unwrap();
        let b = create(DocKind::Deck, "d1", ActorId::from([2u8; 16].as_slice())).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(a.get_heads().len(), 1);
        let c = create(DocKind::Deck, "d2", ActorId::from([1u8; 16].as_slice())).unwrap();
        assert_ne!(a.get_heads(), c.get_heads());
        assert_eq!(a.get_actor(), &ActorId::from([1u8; 16].as_slice()));
    }

    #[test]
    fn two_independent_copies_merge_without_conflicts() {
        let mut a = create(DocKind::Deck, "d1", ActorId::from([1u8; 16].as_slice())).unwrap();
        let mut b = create(DocKind::Deck, "d1", ActorId::from([2u8; 16].as_slice())).unwrap();
        for (doc, text, card) in [(&mut a, "one\n", "c1"), (&mut b, "two\n", "c2")] {
            let (_, md) = doc.get(ROOT, "markdown").unwrap().unwrap();
            let (_, base) = doc.get(ROOT, "progressBase").unwrap().unwrap();
            let mut tx = doc.transaction();
            tx.splice_text(&md, 0, 0, text).unwrap();
            tx.put(&base, card, true).unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        for key in ["markdown", "progressBase", "metadata", "reviews", "kind"] {
            assert_eq!(a.get_all(ROOT, key).unwrap().len(), 1, "{key} conflicts");
        }
        let (_, md) = a.get(ROOT, "markdown").unwrap().unwrap();
        let text = a.text(&md).unwrap();
        assert!(text == "one\ntwo\n" || text == "two\none\n", "{text}");
        let (_, base) = a.get(ROOT, "progressBase").unwrap().unwrap();
        assert_eq!(a.keys(&base).count(), 2);
    }

    #[test]
    fn same_first_markdown_is_one_change_different_is_two() {
        let actor = |n: u8| ActorId::from([n; 16].as_slice());
        let mut a = create(DocKind::Deck, "d1", actor(1)).unwrap();
        let mut b = create(DocKind::Deck, "d1", actor(2)).unwrap();
        assert!(initial_markdown(&mut a, "d1", "2+2 :: 4\n").unwrap());
        assert!(initial_markdown(&mut b, "d1", "2+2 :: 4\n").unwrap());
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(a.get_actor(), &actor(1));
        a.merge(&mut b).unwrap();
        let (_, md) = a.get(ROOT, "markdown").unwrap().unwrap();
        assert_eq!(a.text(&md).unwrap(), "2+2 :: 4\n");
        // Not on a document that already has edits.
        assert!(!initial_markdown(&mut a, "d1", "other").unwrap());
        let mut c = create(DocKind::Deck, "d1", actor(3)).unwrap();
        assert!(initial_markdown(&mut c, "d1", "1+1 :: 2\n").unwrap());
        assert_ne!(c.get_heads(), b.get_heads());
    }
}
