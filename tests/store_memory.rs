//! The document cache's memory estimate against what loading really
//! allocates (a counting allocator: this test binary only), and the cache
//! bounded by it.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjType, ROOT};
use myflashplay_sync::alloc_count::{live_bytes, Counting};
use myflashplay_sync::store::cache;

// The library's counting allocator, for this test binary.
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A deck-like document: `cards` entries, one change each, and a markdown
/// text of `text` characters.
fn deck(cards: usize, text: usize) -> Automerge {
    let mut d = AutoCommit::new();
    let map = d.put_object(ROOT, "cards", ObjType::Map).unwrap();
    let md = d.put_object(ROOT, "markdown", ObjType::Text).unwrap();
    d.splice_text(&md, 0, 0, &"q :: a\n".repeat(text / 7))
        .unwrap();
    d.commit();
    for c in 0..cards {
        let card = d
            .put_object(&map, format!("card-{c}"), ObjType::Map)
            .unwrap();
        d.put(&card, "front", format!("Question {c}")).unwrap();
        d.put(&card, "views", automerge::ScalarValue::counter(1))
            .unwrap();
        d.commit();
    }
    d.document().clone()
}

#[test]
fn the_estimate_bounds_what_a_loaded_document_takes() {
    // One test in this binary: no other thread allocates meanwhile.
    for (cards, text) in [(5, 0), (100, 0), (100, 2_000), (600, 0), (50, 20_000)] {
        let saved = deck(cards, text).save();
        let before = live_bytes();
        let doc = Automerge::load(&saved).unwrap();
        let taken = live_bytes().saturating_sub(before);
        let estimate = cache::estimate(saved.len() as u64);
        println!(
            "{cards} cards, {text} chars: stored {} B, loaded {taken} B ({:.1}x), estimate {estimate} B",
            saved.len(),
            taken as f64 / saved.len() as f64
        );
        assert!(
            estimate >= taken,
            "estimate {estimate} < {taken} for {cards} cards, {text} chars"
        );
        assert!(
            estimate <= taken * 4,
            "estimate {estimate} far above {taken}"
        );
        drop(doc);
    }
}
