//! `Replica::import_export`: restoring an account from its own export.
//! Round trips to a fresh account, idempotence, and "an older export never
//! overwrites newer data".

use myflashplay_client::replica::{LocalStorage, ReviewInput};
use myflashplay_client::Replica;
use serde_json::{json, Value};

fn account(user: &str, actor: u8) -> Replica {
    let mut r = Replica::new(user, &[actor; 16]).unwrap();
    r.set_now(1_790_000_000_000);
    r
}

fn sample() -> LocalStorage {
    let text = include_str!("../../fixtures/samples/localstorage-sample.json");
    serde_json::from_str(text).unwrap()
}

const IMPORTED_DECK: &str = "f29d0da9-953f-48f1-a09f-76b5a170b338";
const IMPORTED_CARD: &str = "0becd7b0-3898-4190-b9eb-dacc0cb1e29c";

fn review(deck: &str, card: &str, correct: bool, at: &str) -> ReviewInput {
    ReviewInput {
        deck_id: deck.into(),
        card_id: card.into(),
        correct,
        response_ms: 3_000,
        at: at.into(),
        quality: None,
    }
}

/// An account with everything an export carries: the app's sample data
/// (decks, imported progress, sessions, achievements, starred,
/// preferences), reviews on imported and new cards, a deleted deck with
/// reviews.
fn learner() -> Replica {
    let mut a = account("user-a", 1);
    a.import_local_storage(&sample()).unwrap();
    a.create_deck(&json!({"id": "math", "name": "Math", "emoji": "➕",
        "markdown": "2+2 :: 4\n3+3 :: 6\n"}))
        .unwrap();
    a.create_deck(&json!({"id": "gone", "name": "Old", "emoji": "🗑",
        "markdown": "a :: b\n"}))
        .unwrap();
    a.record_review(&review(
        IMPORTED_DECK,
        IMPORTED_CARD,
        false,
        "2026-11-20T09:00:00.000Z",
    ))
    .unwrap();
    a.record_review(&review("math", "m1", true, "2026-11-21T09:00:00.000Z"))
        .unwrap();
    a.record_review(&review("math", "m1", true, "2026-11-23T09:00:00.000Z"))
        .unwrap();
    a.record_review(&review("gone", "g1", true, "2026-11-22T09:00:00.000Z"))
        .unwrap();
    a.delete_deck("gone").unwrap();
    a
}

fn heads(r: &Replica) -> Vec<(String, Vec<String>)> {
    r.docs()
        .iter()
        .map(|(id, d)| {
            (
                id.to_string(),
                d.get_heads().iter().map(|h| h.to_string()).collect(),
            )
        })
        .collect()
}

fn added(summary: &Value) -> Vec<u64> {
    summary["added"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn the_export_carries_review_events_and_deleted_decks() {
    let e = learner().export().unwrap();
    let reviews = e["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 4);
    let first = &reviews[0];
    assert_eq!(first["deckId"], IMPORTED_DECK);
    assert_eq!(first["cardId"], IMPORTED_CARD);
    assert_eq!(first["correct"], false);
    assert!(first["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(reviews.iter().any(|r| r["deckId"] == "gone"));
    assert_eq!(e["deleted_decks"]["gone"]["name"], "Old");
    assert!(e["decks"].get("gone").is_none());
}

#[test]
fn an_export_restores_a_fresh_account_exactly() {
    let original = learner().export().unwrap();
    let mut fresh = account("user-b", 2);
    let summary = fresh.import_export(&original).unwrap();
    assert_eq!(summary["added"]["decks"], 4);
    assert_eq!(summary["added"]["deleted_decks"], 1);
    assert_eq!(summary["added"]["reviews"], 4);
    assert_eq!(summary["account"]["decks"], 4);
    assert_eq!(summary["account"]["deleted_decks"], 1);
    assert_eq!(fresh.export().unwrap(), original);
}

#[test]
fn importing_twice_changes_nothing() {
    let original = learner().export().unwrap();
    let mut fresh = account("user-b", 2);
    fresh.import_export(&original).unwrap();
    let before = heads(&fresh);
    let again = fresh.import_export(&original).unwrap();
    assert!(added(&again).iter().all(|n| *n == 0), "{again}");
    assert_eq!(heads(&fresh), before, "no document changed");
    assert_eq!(fresh.export().unwrap(), original);
}

#[test]
fn a_review_after_a_restore_builds_on_the_restored_progress() {
    let original = learner().export().unwrap();
    let mut fresh = account("user-b", 2);
    fresh.import_export(&original).unwrap();
    fresh
        .record_review(&review("math", "m1", false, "2026-11-25T09:00:00.000Z"))
        .unwrap();
    let before = &original["progress"]["m1"]["stats"];
    let after = &fresh.export().unwrap()["progress"]["m1"]["stats"];
    assert_eq!(before["views"], 2);
    assert_eq!(after["views"], 3);
    assert_eq!(after["correctCount"], 2);
    assert_eq!(after["incorrectCount"], 1);
}

#[test]
fn an_older_export_overwrites_nothing() {
    let mut a = learner();
    let old = a.export().unwrap();
    a.set_now(1_800_000_000_000);
    a.record_review(&review("math", "m1", false, "2026-12-01T09:00:00.000Z"))
        .unwrap();
    a.update_deck("math", json!({"name": "Maths"}).as_object().unwrap())
        .unwrap();
    a.set_preference("colorScheme", &json!("ocean")).unwrap();
    a.delete_deck("math").unwrap();
    let newer = a.export().unwrap();
    let before = heads(&a);
    let summary = a.import_export(&old).unwrap();
    assert!(added(&summary).iter().all(|n| *n == 0), "{summary}");
    assert_eq!(heads(&a), before);
    assert_eq!(a.export().unwrap(), newer);
}

#[test]
fn into_an_account_with_its_own_data_missing_reviews_are_added_and_counted() {
    let original = learner().export().unwrap();
    let mut other = account("user-c", 3);
    other
        .create_deck(
            &json!({"id": "math", "name": "My math", "emoji": "🔢", "markdown": "1 :: 1\n"}),
        )
        .unwrap();
    other
        .record_review(&review("math", "m1", true, "2026-11-30T09:00:00.000Z"))
        .unwrap();
    other
        .set_preference("colorScheme", &json!("ocean"))
        .unwrap();
    other.import_export(&original).unwrap();
    let e = other.export().unwrap();
    // The account's own deck and preference stay; the rest is filled in.
    assert_eq!(e["decks"]["math"]["name"], "My math");
    assert_eq!(e["preferences"]["colorScheme"], "ocean");
    assert_eq!(
        e["preferences"]["soundEnabled"],
        original["preferences"]["soundEnabled"]
    );
    // m1: its own review plus the two imported ones, each counted once.
    assert_eq!(e["progress"]["m1"]["stats"]["views"], 3);
    assert_eq!(e["progress"]["m1"]["stats"]["correctCount"], 3);
    assert_eq!(e["reviews"].as_array().unwrap().len(), 5);
    assert_eq!(e["sessions"], original["sessions"]);
    assert_eq!(e["starred"], original["starred"]);
    // Imported progress of cards the account lacked is restored as it was.
    assert_eq!(
        e["progress"][IMPORTED_CARD],
        original["progress"][IMPORTED_CARD]
    );
    let before = heads(&other);
    other.import_export(&original).unwrap();
    assert_eq!(heads(&other), before, "idempotent here too");
}

#[test]
fn achievements_keep_the_highest_progress_and_the_earliest_unlock() {
    let mut a = account("user-a", 1);
    a.set_achievement(
        &json!({"achievementId": "streak", "progress": 5, "maxProgress": 10,
        "unlockedAt": "2026-11-10T00:00:00.000Z"}),
    )
    .unwrap();
    a.set_achievement(&json!({"achievementId": "first", "progress": 1, "maxProgress": 1}))
        .unwrap();
    let export = json!({"achievements": {
        "streak": {"achievementId": "streak", "progress": 3, "maxProgress": 10,
            "unlockedAt": "2026-11-01T00:00:00.000Z"},
        "first": {"achievementId": "first", "progress": 1, "maxProgress": 1},
        "new": {"achievementId": "new", "progress": 2, "maxProgress": 4}
    }});
    let summary = a.import_export(&export).unwrap();
    assert_eq!(summary["added"]["achievements"], 2);
    let got = a.achievements().unwrap();
    assert_eq!(got["streak"]["progress"], 5);
    assert_eq!(got["streak"]["unlockedAt"], "2026-11-01T00:00:00.000Z");
    assert_eq!(got["new"]["progress"], 2);
}

#[test]
fn an_import_needs_only_the_documents_it_names() {
    let full = learner();
    let original = full.export().unwrap();
    // A part with one deck, its progress and reviews, and one session.
    let session = original["sessions"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let part = json!({
        "decks": {"math": original["decks"]["math"]},
        "progress": {"m1": original["progress"]["m1"]},
        "reviews": original["reviews"].as_array().unwrap().iter()
            .filter(|r| r["deckId"] == "math").cloned().collect::<Vec<_>>(),
        "sessions": {session.0.as_str(): session.1},
    });
    let ids = Replica::import_documents("user-a", &part);
    assert_eq!(ids.len(), 3, "root, the deck, the session month");
    // Into the account itself, holding only those documents: nothing new.
    let subset: myflashplay_client::Docs = full
        .docs()
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .map(|(id, d)| (*id, d.clone()))
        .collect();
    let mut partial = Replica::from_docs("user-a", &[9; 16], subset).unwrap();
    let summary = partial.import_export(&part).unwrap();
    assert!(added(&summary).iter().all(|n| *n == 0), "{summary}");
    assert_eq!(summary["account"]["decks"], 4);
}

#[test]
fn a_bad_export_imports_nothing() {
    let original = learner().export().unwrap();
    for (path, bad) in [
        (
            "reviews",
            json!([{"id": "x", "deckId": "d", "cardId": "c", "at": "yesterday", "correct": true}]),
        ),
        (
            "reviews",
            json!([{"id": "x", "deckId": "d", "cardId": "c", "at": "2026-11-20T09:00:00.000Z", "correct": true, "quality": 9}]),
        ),
        (
            "decks",
            json!({"a": {"id": "b", "name": "x", "emoji": "x"}}),
        ),
        ("starred", json!([5])),
        ("progress", json!("nope")),
    ] {
        let mut e = original.clone();
        e[path] = bad;
        let mut fresh = account("user-b", 2);
        let before = heads(&fresh);
        assert!(fresh.import_export(&e).is_err(), "{path}");
        assert_eq!(heads(&fresh), before, "{path}");
    }
    assert!(account("user-b", 2).import_export(&json!([1])).is_err());
}

/// The export a server writes one deck document at a time
/// (`ExportWriter`, in pieces) is the same JSON as `Replica::export`,
/// reviews of several decks interleaved in the same order.
#[test]
fn the_export_written_one_deck_at_a_time_is_the_export() {
    use myflashplay_client::replica::ExportWriter;
    let mut a = learner();
    for (deck, day) in [("math", 19), (IMPORTED_DECK, 21), ("math", 21)] {
        a.record_review(&review(
            deck,
            "m2",
            day % 2 == 0,
            &format!("2026-11-{day}T09:00:00.000Z"),
        ))
        .unwrap();
    }
    // Runs of several blocks, interleaved, with equal times across decks
    // (and within one: the order of equal times is the ids').
    for i in 0..700 {
        let deck = if i % 3 == 0 { "math" } else { IMPORTED_DECK };
        let at = format!(
            "2026-10-{:02}T{:02}:00:00.000Z",
            1 + (i * 7) % 28,
            (i / 2) % 24
        );
        a.record_review(&review(deck, &format!("c{}", i % 9), i % 2 == 0, &at))
            .unwrap();
    }
    let mut expected = a.export().unwrap();
    assert!(expected["reviews"].as_array().unwrap().len() >= 6);
    let docs = a.docs().clone();
    let mut extra = serde_json::Map::new();
    extra.insert("user_id".into(), json!("user-a"));
    let mut asked = Vec::new();
    let pieces = ExportWriter::write("user-a", &[9; 16], &extra, |id| {
        asked.push(*id);
        Ok::<_, myflashplay_client::ReplicaError>(docs.get(id).cloned())
    })
    .unwrap();
    let sessions_doc = |id: &myflashplay_client::DocumentId| {
        use automerge::ReadDoc;
        docs.get(id).is_some_and(|d| {
            d.get(automerge::ROOT, "kind")
                .ok()
                .flatten()
                .is_some_and(|(v, _)| {
                    v.as_str() == Some(myflashplay_client::layout::DocKind::Sessions.as_str())
                })
        })
    };
    assert!(asked.iter().any(sessions_doc), "the sample has sessions");
    let len = pieces.len();
    let text = pieces.into_string();
    assert_eq!(text.len(), len);
    expected["user_id"] = json!("user-a");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
}
