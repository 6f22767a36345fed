//! Replica edits merged by direct `Automerge::merge` between devices (the
//! full protocol runs in the root crate's convergence tests).

use super::*;
use serde_json::{json, Value};

fn device(actor: u8) -> Replica {
    let mut r = Replica::new("user-1", &[actor; 16]).unwrap();
    r.set_now(1_790_000_000_000);
    r
}

/// Both replicas end with the union of their documents.
fn merge(a: &mut Replica, b: &mut Replica) {
    for (id, doc) in b.docs_mut().iter_mut() {
        match a.docs_mut().get_mut(id) {
            Some(mine) => {
                mine.merge(doc).unwrap();
            }
            None => {
                a.docs_mut().insert(*id, doc.fork());
            }
        }
    }
    for (id, doc) in a.docs_mut().iter_mut() {
        match b.docs_mut().get_mut(id) {
            Some(theirs) => {
                theirs.merge(doc).unwrap();
            }
            None => {
                b.docs_mut().insert(*id, doc.fork());
            }
        }
    }
}

fn math_deck() -> Value {
    json!({"id": "d1", "name": "Math", "emoji": "➕", "markdown": "2+2 :: 4\n"})
}

fn review(card: &str, correct: bool, at: &str) -> ReviewInput {
    ReviewInput {
        deck_id: "d1".into(),
        card_id: card.into(),
        correct,
        response_ms: 8_000,
        at: at.into(),
        quality: None,
    }
}

#[test]
fn independently_created_documents_merge_without_conflicts() {
    let (mut a, mut b) = (device(1), device(2));
    a.create_deck(&math_deck()).unwrap();
    b.create_deck(&json!({"id": "d1", "name": "Math", "emoji": "➕", "markdown": "1+1 :: 2\n"}))
        .unwrap();
    b.star("solar-system").unwrap();
    merge(&mut a, &mut b);
    for (id, doc) in a.docs() {
        for key in [
            "schema",
            "kind",
            "markdown",
            "metadata",
            "reviews",
            "counters",
            "decks",
            "preferences",
        ] {
            assert!(
                doc.get_all(automerge::ROOT, key).unwrap().len() <= 1,
                "{key} conflicts in {id}"
            );
        }
    }
    assert_eq!(a.export().unwrap(), b.export().unwrap());
    let md = a.export().unwrap()["decks"]["d1"]["markdown"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        md.contains("2+2 :: 4\n") && md.contains("1+1 :: 2\n"),
        "{md}"
    );
}

#[test]
fn concurrent_markdown_edits_keep_both() {
    let (mut a, mut b) = (device(1), device(2));
    a.create_deck(&math_deck()).unwrap();
    merge(&mut a, &mut b);
    a.edit_markdown("d1", "2+2 :: 4\n3+3 :: 6\n").unwrap();
    b.edit_markdown("d1", "1+1 :: 2\n2+2 :: 4\n").unwrap();
    merge(&mut a, &mut b);
    let e = a.export().unwrap();
    assert_eq!(
        e["decks"]["d1"]["markdown"],
        "1+1 :: 2\n2+2 :: 4\n3+3 :: 6\n"
    );
    assert_eq!(e, b.export().unwrap());
}

#[test]
fn delete_wins_over_a_concurrent_edit_and_create_restores() {
    let (mut a, mut b) = (device(1), device(2));
    a.create_deck(&math_deck()).unwrap();
    merge(&mut a, &mut b);
    a.delete_deck("d1").unwrap();
    b.update_deck("d1", json!({"name": "Maths"}).as_object().unwrap())
        .unwrap();
    b.edit_markdown("d1", "2+2 :: 4\n5+5 :: 10\n").unwrap();
    merge(&mut a, &mut b);
    assert_eq!(a.export().unwrap()["decks"], json!({}));
    assert_eq!(b.export().unwrap()["decks"], json!({}));
    assert!(matches!(
        b.edit_markdown("d1", "x"),
        Err(ReplicaError::DeckNotFound(_))
    ));
    b.create_deck(&json!({"id": "d1", "name": "Maths", "emoji": "➕"}))
        .unwrap();
    merge(&mut a, &mut b);
    assert_eq!(
        a.export().unwrap()["decks"]["d1"]["markdown"],
        "2+2 :: 4\n5+5 :: 10\n"
    );
}

#[test]
fn concurrent_reviews_are_all_counted_and_scheduled() {
    let (mut a, mut b) = (device(1), device(2));
    a.create_deck(&math_deck()).unwrap();
    merge(&mut a, &mut b);
    a.record_review(&review("c1", true, "2026-11-01T10:00:00.000Z"))
        .unwrap();
    a.record_review(&review("c1", true, "2026-11-03T10:00:00.000Z"))
        .unwrap();
    b.record_review(&review("c1", false, "2026-11-02T10:00:00.000Z"))
        .unwrap();
    merge(&mut a, &mut b);
    let p = &a.export().unwrap()["progress"]["c1"];
    assert_eq!(p["stats"]["views"], 3);
    assert_eq!(p["stats"]["correctCount"], 2);
    assert_eq!(p["stats"]["incorrectCount"], 1);
    assert_eq!(p["stats"]["confidence"], 67);
    assert_eq!(p["stats"]["lastSeen"], "2026-11-03T10:00:00.000Z");
    // Replayed in time order: right (1 day), wrong (reset, ease 2.3), right (1 day).
    assert_eq!(p["spacedRepetition"]["interval"], 1);
    assert_eq!(p["spacedRepetition"]["easeFactor"], 2.3);
    assert_eq!(
        p["spacedRepetition"]["nextReview"],
        "2026-11-04T10:00:00.000Z"
    );
    assert_eq!(p["spacedRepetition"]["stage"], "learning");
    assert_eq!(a.review_ids().unwrap().len(), 3);
    assert_eq!(a.export().unwrap(), b.export().unwrap());
}

#[test]
fn star_wins_a_concurrent_unstar_but_not_a_later_one() {
    let (mut a, mut b) = (device(1), device(2));
    a.star("animals-basic").unwrap();
    merge(&mut a, &mut b);
    a.unstar("animals-basic").unwrap();
    b.star("animals-basic").unwrap();
    merge(&mut a, &mut b);
    assert_eq!(a.starred().unwrap(), vec!["animals-basic".to_string()]);
    b.unstar("animals-basic").unwrap();
    merge(&mut a, &mut b);
    assert!(a.starred().unwrap().is_empty());
}

#[test]
fn preferences_merge_per_field_and_are_validated() {
    let (mut a, mut b) = (device(1), device(2));
    a.set_preference("gameSettings.showHints", &json!(false))
        .unwrap();
    b.set_preference("theme", &json!("dark")).unwrap();
    b.set_preference("custom.nested.flag", &json!(1)).unwrap();
    a.set_preference("custom.other", &json!("x")).unwrap();
    merge(&mut a, &mut b);
    let p = &a.export().unwrap()["preferences"];
    assert_eq!(p["gameSettings"]["showHints"], false);
    assert_eq!(p["theme"], "dark");
    // Both devices created `custom` concurrently: the maps merge on read.
    assert_eq!(p["custom"]["nested"]["flag"], 1);
    assert_eq!(p["custom"]["other"], "x");
    assert!(a.set_preference("theme", &json!("neon")).is_err());
    assert!(a.set_preference("", &json!(1)).is_err());
    assert!(a.set_preference("a.b.c.d.e", &json!(1)).is_err());
}

#[test]
fn achievements_keep_the_highest_progress() {
    let (mut a, mut b) = (device(1), device(2));
    a.set_achievement(&json!({"achievementId": "streak-10", "progress": 7, "maxProgress": 10}))
        .unwrap();
    b.set_achievement(&json!({"achievementId": "streak-10", "progress": 4, "maxProgress": 10}))
        .unwrap();
    merge(&mut a, &mut b);
    assert_eq!(a.achievements().unwrap()["streak-10"]["progress"], 7);
    assert_eq!(b.achievements().unwrap()["streak-10"]["progress"], 7);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut a = device(1);
    let before = a.export().unwrap();
    let huge = "x".repeat(crate::model::limits::MAX_MARKDOWN_BYTES + 1);
    assert!(a
        .create_deck(&json!({"id": "d1", "name": "n", "markdown": huge}))
        .is_err());
    assert!(a.create_deck(&json!({"id": "d1"})).is_err());
    assert!(a.create_deck(&json!([1, 2])).is_err());
    assert!(a.record_session(&json!({"id": "s"})).is_err());
    assert!(a
        .record_review(&review("c1", true, "2026-11-01T10:00:00.000Z"))
        .is_err());
    let mut bad_time = review("c1", true, "soon");
    bad_time.deck_id = "nope".into();
    assert!(a.record_review(&bad_time).is_err());
    assert!(Replica::new("", &[1]).is_err());
    assert!(Replica::new("u", &[]).is_err());
    assert_eq!(a.export().unwrap(), before);
}

fn sample() -> LocalStorage {
    let text = include_str!("../../../fixtures/samples/localstorage-sample.json");
    serde_json::from_str(text).unwrap()
}

/// Sorts the id-keyed arrays the way the export writes them (documented
/// normalization), so the comparison is about fields, not order.
fn normalize(key: &str, v: &mut Value) {
    let sort_by = |arr: &mut Vec<Value>, fields: &[&str]| {
        arr.sort_by_key(|x| {
            fields
                .iter()
                .map(|f| x[*f].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
    };
    match key {
        "myflashplay_scores" => {
            if let Some(a) = v["sessions"].as_array_mut() {
                sort_by(a, &["startTime", "id"]);
            }
        }
        "myflashplay_achievements" => {
            if let Some(a) = v["achievements"].as_array_mut() {
                sort_by(a, &["achievementId"]);
            }
        }
        "mdoc_index" => {
            if let Some(a) = v.as_array_mut() {
                sort_by(a, &["lastModified", "id"]);
            }
        }
        _ => {}
    }
}

#[test]
fn sample_local_storage_round_trips_every_field() {
    let input = sample();
    let mut a = device(1);
    a.import_local_storage(&input).unwrap();
    let mut output = a.export_local_storage().unwrap();
    // Sessions also go where the app's code keeps them.
    let sessions: Value =
        serde_json::from_str(&output.remove("myflashplay_sessions").unwrap()).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 12);
    assert_eq!(
        output.keys().collect::<Vec<_>>(),
        input.keys().collect::<Vec<_>>()
    );
    for (key, text) in &input {
        if key.starts_with("mdoc_") && key != "mdoc_index" {
            assert_eq!(&output[key], text, "{key}");
            continue;
        }
        let mut want: Value = serde_json::from_str(text).unwrap();
        let mut got: Value = serde_json::from_str(&output[key]).unwrap();
        normalize(key, &mut want);
        normalize(key, &mut got);
        assert_eq!(got, want, "{key}");
    }
}

#[test]
fn imported_data_reaches_another_device() {
    let (mut a, mut b) = (device(1), device(2));
    a.import_local_storage(&sample()).unwrap();
    merge(&mut a, &mut b);
    let e = b.export().unwrap();
    assert_eq!(e, a.export().unwrap());
    assert_eq!(e["decks"].as_object().unwrap().len(), 3);
    assert_eq!(e["sessions"].as_object().unwrap().len(), 12);
    assert_eq!(e["progress"].as_object().unwrap().len(), 13);
    assert_eq!(
        e["starred"],
        json!(["animals-basic", "solar-system", "world-capitals"])
    );
    assert_eq!(e["preferences"]["colorScheme"], "rainbow");
}

#[test]
fn a_review_after_import_builds_on_the_imported_progress() {
    let mut a = device(1);
    a.import_local_storage(&sample()).unwrap();
    let card = "0becd7b0-3898-4190-b9eb-dacc0cb1e29c";
    a.record_review(&ReviewInput {
        deck_id: "f29d0da9-953f-48f1-a09f-76b5a170b338".into(),
        card_id: card.into(),
        correct: false,
        response_ms: 4_000,
        at: "2026-11-20T09:00:00.000Z".into(),
        quality: None,
    })
    .unwrap();
    let p = &a.export().unwrap()["progress"][card];
    assert_eq!(p["stats"]["views"], 4);
    assert_eq!(p["stats"]["correctCount"], 3);
    assert_eq!(p["stats"]["incorrectCount"], 1);
    assert_eq!(p["stats"]["confidence"], 75);
    // (8.62 × 3 + 4) / 4 = 7.465 → 7.47 (rounded to 2 decimals).
    assert_eq!(p["stats"]["averageResponseTime"], 7.47);
    assert_eq!(p["spacedRepetition"]["easeFactor"], 2.3);
    assert_eq!(
        p["spacedRepetition"]["nextReview"],
        "2026-11-21T09:00:00.000Z"
    );
}

#[test]
fn sessions_are_sharded_by_month() {
    let mut a = device(1);
    a.import_local_storage(&sample()).unwrap();
    let months: Vec<_> = ["2026-10", "2026-11"]
        .iter()
        .map(|m| crate::layout::sessions_doc_id("user-1", m))
        .collect();
    for id in &months {
        assert!(a.docs().contains_key(id));
    }
    // root + 3 decks + 2 months
    assert_eq!(a.docs().len(), 6);
}

#[test]
fn the_same_snapshot_imported_on_two_devices_is_not_doubled() {
    let (mut a, mut b) = (device(1), device(2));
    a.import_local_storage(&sample()).unwrap();
    b.set_now(1_790_000_555_000);
    b.import_local_storage(&sample()).unwrap();
    let alone = a.export().unwrap();
    merge(&mut a, &mut b);
    let merged = a.export().unwrap();
    assert_eq!(merged, b.export().unwrap());
    assert_eq!(merged["decks"], alone["decks"]);
    assert_eq!(merged["progress"], alone["progress"]);
    assert_eq!(merged["sessions"], alone["sessions"]);
    assert_eq!(merged["starred"], alone["starred"]);
}

#[test]
fn a_bad_snapshot_imports_nothing() {
    let mut a = device(1);
    let before = a.export().unwrap();
    let mut snapshot = sample();
    let scores =
        snapshot["myflashplay_scores"].replace("\"mode\": \"memory\"", "\"mode\": \"chess\"");
    snapshot.insert("myflashplay_scores".into(), scores);
    assert!(a.import_local_storage(&snapshot).is_err());
    snapshot.insert("myflashplay_progress".into(), "{not json".into());
    assert!(matches!(
        a.import_local_storage(&snapshot),
        Err(ReplicaError::LocalStorage { .. })
    ));
    assert_eq!(a.export().unwrap(), before);
}

#[test]
fn an_empty_placeholder_document_is_replaced_by_genesis() {
    let (mut a, mut b) = (device(1), device(2));
    a.create_deck(&math_deck()).unwrap();
    // b learned of the deck's document but none of its changes yet.
    let id = crate::layout::deck_doc_id("user-1", "d1");
    b.docs_mut().insert(id, automerge::Automerge::new());
    b.create_deck(&math_deck()).unwrap();
    merge(&mut a, &mut b);
    let doc = &a.docs()[&id];
    assert_eq!(doc.get_all(automerge::ROOT, "markdown").unwrap().len(), 1);
    assert_eq!(a.export().unwrap()["decks"]["d1"]["markdown"], "2+2 :: 4\n");
}

#[test]
fn a_full_app_deck_round_trips_with_unknown_fields() {
    let mut a = device(1);
    let deck = json!({
        "id": "d9", "name": "Colors", "description": "Learn colors", "emoji": "🎨",
        "cards": [{"id": "c1", "front": "red", "back": "rojo", "type": "simple",
                   "metadata": {"difficulty": "easy", "tags": []}, "sparkle": true}],
        "metadata": {"createdAt": "2026-10-01T08:00:00.000Z", "lastModified": "2026-10-02T08:00:00.000Z",
                     "lastPlayed": "2026-10-03T08:00:00.000Z", "playCount": 4, "source": "template",
                     "originalMarkdown": "red :: rojo", "tags": ["es"], "difficulty": "intermediate",
                     "estimatedTime": 5, "futureField": {"x": 1.5}},
        "settings": {"shuffleCards": false, "repeatIncorrect": true, "studyMode": "sequential"},
        "markdown": "red :: rojo\n",
        "folder": "languages"
    });
    a.create_deck(&deck).unwrap();
    let exported = &a.export().unwrap()["decks"]["d9"];
    // Cards come back derived from the markdown (derived ids; fields the
    // grammar has no place for are not kept) and `originalMarkdown`
    // mirrors `markdown`; everything else as given.
    let mut want = deck.clone();
    want["cards"] = json!(crate::cards::parse("d9", "red :: rojo\n"));
    want["metadata"]["originalMarkdown"] = json!("red :: rojo\n");
    assert_eq!(exported, &want);
    assert_eq!(exported["cards"][0]["front"], "red");
    let typed: crate::model::Deck = crate::model::parse("deck", exported).unwrap();
    assert_eq!(typed.extra["folder"], "languages");
    a.update_deck(
        "d9",
        json!({"folder": "spanish", "metadata": {"playCount": 5}})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let exported = &a.export().unwrap()["decks"]["d9"];
    assert_eq!(exported["folder"], "spanish");
    assert_eq!(exported["metadata"]["playCount"], 5);
    assert_eq!(exported["metadata"]["futureField"], json!({"x": 1.5}));
    assert!(a
        .update_deck(
            "d9",
            json!({"settings": {"studyMode": "backwards"}})
                .as_object()
                .unwrap()
        )
        .is_err());
}

#[test]
fn the_deck_limit_counts_live_decks_only() {
    let mut a = device(1);
    for i in 0..crate::model::limits::MAX_DECKS {
        a.create_deck(&json!({"id": format!("d{i}"), "name": "n"}))
            .unwrap();
    }
    assert!(matches!(
        a.create_deck(&json!({"id": "one-more", "name": "n"})),
        Err(ReplicaError::TooManyDecks)
    ));
    // Re-creating an existing deck is not a new deck.
    a.create_deck(&json!({"id": "d0", "name": "renamed"}))
        .unwrap();
    a.delete_deck("d1").unwrap();
    a.create_deck(&json!({"id": "one-more", "name": "n"}))
        .unwrap();
}

/// docs/design.md §3 budget: a deck document saved ≤ 256 KB. Reviews are the
/// only part that grows with use; 2,000 of them (a very busy deck) measure
/// about 26 KB, so the budget holds for ~20,000 reviews per deck.
#[test]
fn two_thousand_reviews_stay_within_the_document_budget() {
    let mut a = device(1);
    a.create_deck(&math_deck()).unwrap();
    for i in 0..2000u64 {
        a.record_review(&ReviewInput {
            deck_id: "d1".into(),
            card_id: format!("card-{:036}", i % 50),
            correct: !i.is_multiple_of(3),
            response_ms: 1000 + i * 37 % 20000,
            at: crate::model::timestamp::format_ms(1_790_000_000_000 + i as i64 * 60_000),
            quality: None,
        })
        .unwrap();
    }
    let id = crate::layout::deck_doc_id("user-1", "d1");
    let saved = a.docs()[&id].save().len();
    assert!(saved < 64 * 1024, "{saved} bytes");
    assert_eq!(a.review_ids().unwrap().len(), 2000);
    assert_eq!(
        a.export().unwrap()["progress"]["card-000000000000000000000000000000000007"]["stats"]
            ["views"],
        40
    );
}

#[test]
fn documents_of_a_newer_schema_are_not_written() {
    use automerge::transaction::Transactable;
    let mut a = device(1);
    a.create_deck(&math_deck()).unwrap();
    let id = crate::layout::deck_doc_id("user-1", "d1");
    let doc = a.docs_mut().get_mut(&id).unwrap();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "schema", crate::layout::SCHEMA + 1)
        .unwrap();
    tx.commit();
    assert!(matches!(
        a.edit_markdown("d1", "new"),
        Err(ReplicaError::NewerSchema { .. })
    ));
    assert_eq!(a.export().unwrap()["decks"]["d1"]["markdown"], "2+2 :: 4\n");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Reviews recorded on three devices merged in any order: every review
    /// is counted once, on every device, whatever the interleaving.
    #[test]
    fn counts_equal_the_reviews_recorded(
        actions in proptest::collection::vec((0..3usize, 0..4u8, proptest::bool::ANY, 0..3usize), 1..40)
    ) {
        let mut devices = [device(1), device(2), device(3)];
        devices[0].create_deck(&math_deck()).unwrap();
        let (first, rest) = devices.split_at_mut(1);
        for other in rest.iter_mut() {
            merge(&mut first[0], other);
        }
        let mut expected: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for (i, (d, card, correct, merge_with)) in actions.into_iter().enumerate() {
            let card = format!("c{card}");
            let at = crate::model::timestamp::format_ms(1_790_000_000_000 + i as i64 * 1000);
            devices[d].record_review(&review(&card, correct, &at)).unwrap();
            let e = expected.entry(card).or_default();
            if correct { e.0 += 1 } else { e.1 += 1 }
            if merge_with != d {
                let (lo, hi) = (d.min(merge_with), d.max(merge_with));
                let (left, right) = devices.split_at_mut(hi);
                merge(&mut left[lo], &mut right[0]);
            }
        }
        let (left, right) = devices.split_at_mut(1);
        merge(&mut left[0], &mut right[0]);
        merge(&mut left[0], &mut right[1]);
        merge(&mut left[0], &mut right[0]);
        for r in &devices {
            let progress = &r.export().unwrap()["progress"];
            for (card, (right_answers, wrong)) in &expected {
                let stats = &progress[card]["stats"];
                proptest::prop_assert_eq!(&stats["correctCount"], &json!(right_answers));
                proptest::prop_assert_eq!(&stats["incorrectCount"], &json!(wrong));
                proptest::prop_assert_eq!(&stats["views"], &json!(right_answers + wrong));
            }
        }
    }
}

mod app_snapshots;

mod history;
