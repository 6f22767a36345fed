//! The app's own localStorage, as its code writes it (snapshots made by
//! running the app's modules, `fixtures/app/`), through import, sync to
//! another device and export.

use super::{device, merge};
use crate::cards;
use crate::model::SampleDeck;
use crate::replica::{LocalStorage, ReviewInput};
use serde_json::Value;

fn samples() -> Vec<SampleDeck> {
    let list = serde_json::from_str(include_str!("../../../../fixtures/app/sample-decks.json"));
    SampleDeck::list_from_json(&list.unwrap()).unwrap()
}

fn first_run() -> LocalStorage {
    serde_json::from_str(include_str!("../../../../fixtures/app/first-run.json")).unwrap()
}

fn after_create_and_play() -> LocalStorage {
    serde_json::from_str(include_str!(
        "../../../../fixtures/app/after-create-and-play.json"
    ))
    .unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Every key of `input` comes back, with the same value (JSON compared as
/// values, achievements by id), except those listed as not imported.
fn assert_round_trip(input: &LocalStorage, output: &LocalStorage, not_imported: &[&str]) {
    let want: Vec<&String> = input
        .keys()
        .filter(|k| !not_imported.contains(&k.as_str()))
        .collect();
    assert_eq!(output.keys().collect::<Vec<_>>(), want);
    for key in want {
        let (a, b) = (&input[key], &output[key]);
        match (serde_json::from_str::<Value>(a), key.as_str()) {
            (Ok(mut va), "myflashplay_achievements") => {
                let mut vb = json(b);
                for v in [&mut va, &mut vb] {
                    v["achievements"].as_array_mut().unwrap().sort_by(|x, y| {
                        x["achievementId"]
                            .as_str()
                            .cmp(&y["achievementId"].as_str())
                    });
                }
                assert_eq!(vb, va, "{key}");
            }
            (Ok(va), _) if !key.starts_with("mdoc_") || key == "mdoc_index" => {
                assert_eq!(json(b), va, "{key}")
            }
            // Raw strings (markdown, streak, dates, theme): byte for byte.
            _ => assert_eq!(b, a, "{key}"),
        }
    }
}

#[test]
fn first_run_imports_the_samples_under_the_names_the_app_shows() {
    let mut a = device(1);
    a.set_samples(samples());
    a.import_local_storage(&first_run()).unwrap();
    let decks = a.export().unwrap()["decks"].as_object().unwrap().clone();
    assert_eq!(decks.len(), 12);
    for s in samples() {
        let d = &decks[&s.id];
        assert_eq!(d["name"], s.name.as_str());
        assert_eq!(d["emoji"], "📚");
        assert_eq!(d["description"], s.description.as_str());
        assert_eq!(d["markdown"], s.markdown.as_str());
        assert_eq!(d["metadata"]["originalMarkdown"], s.markdown.as_str());
        assert_eq!(d["cards"], Value::Array(cards::parse(&s.id, &s.markdown)));
        assert!(!d["cards"].as_array().unwrap().is_empty(), "{}", s.id);
    }
    assert!(!decks.values().any(|d| d["name"] == "Untitled Deck"));
    // Exported as the app had it: the samples' markdown, still no index.
    let out = a.export_local_storage().unwrap();
    assert_round_trip(&first_run(), &out, &[]);
    assert!(!out.contains_key("mdoc_index"));
}

#[test]
fn without_the_sample_list_the_samples_are_untitled_as_in_the_app() {
    let mut a = device(1);
    a.import_local_storage(&first_run()).unwrap();
    let decks = &a.export().unwrap()["decks"];
    assert_eq!(decks["math-basics"]["name"], "Untitled Deck");
    assert_eq!(decks["math-basics"]["emoji"], "📚");
}

#[test]
fn after_creating_a_deck_and_playing_everything_round_trips() {
    let input = after_create_and_play();
    let mut a = device(1);
    a.set_samples(samples());
    a.import_local_storage(&input).unwrap();
    let out = a.export_local_storage().unwrap();
    let backup = "mdoc_math-basics_backup_1795165920000";
    assert!(input.contains_key(backup));
    assert_round_trip(&input, &out, &[backup]);
    // The index exactly as the app had it: its two decks, its order.
    assert_eq!(json(&out["mdoc_index"]), json(&input["mdoc_index"]));
    assert_eq!(out["myflashplay-ui-theme"], "dark");
    assert_eq!(
        out["myflashplay_daily_streak"],
        input["myflashplay_daily_streak"]
    );

    let export = a.export().unwrap();
    let index: Vec<Value> = serde_json::from_str(&input["mdoc_index"]).unwrap();
    for entry in &index {
        let id = entry["id"].as_str().unwrap();
        assert_eq!(export["decks"][id]["name"], entry["name"], "{id}");
    }
    assert_eq!(
        export["decks"]["science-animals"]["name"],
        "Amazing Animals"
    );
    let sessions: Vec<Value> = serde_json::from_str(&input["myflashplay_sessions"]).unwrap();
    for s in &sessions {
        assert_eq!(export["sessions"][s["id"].as_str().unwrap()], *s);
    }
    assert_eq!(export["preferences"]["soundEnabled"], false);
}

#[test]
fn a_second_device_sees_cards_and_the_markdown_where_the_app_reads_it() {
    let input = after_create_and_play();
    let (mut a, mut b) = (device(1), device(2));
    a.set_samples(samples());
    a.import_local_storage(&input).unwrap();
    merge(&mut a, &mut b);
    let decks = b.export().unwrap()["decks"].as_object().unwrap().clone();
    assert_eq!(decks.len(), 13);
    for (id, deck) in &decks {
        let stored = &input[&format!("mdoc_{id}")];
        assert_eq!(
            deck["metadata"]["originalMarkdown"],
            stored.as_str(),
            "{id}"
        );
        assert_eq!(deck["markdown"], stored.as_str(), "{id}");
        let cards = deck["cards"].as_array().unwrap();
        assert!(!cards.is_empty(), "{id}");
        assert_eq!(
            Value::Array(cards.clone()),
            Value::Array(cards::parse(id, stored))
        );
    }
    // The deck the learner created: its four cards, under the category the
    // app's own saved text gives them.
    let mine = &decks["3705346b-c0c9-4e63-91d5-689a3eb23581"];
    assert_eq!(mine["name"], "My Animals");
    assert_eq!(mine["cards"].as_array().unwrap().len(), 4);
    assert_eq!(mine["cards"][3]["type"], "true-false");
    let index = &b.export_local_storage().unwrap()["mdoc_index"];
    assert_eq!(json(index), json(&input["mdoc_index"]));
}

#[test]
fn both_devices_derive_the_same_card_ids_and_a_review_meets_its_card() {
    let (mut a, mut b) = (device(1), device(2));
    a.set_samples(samples());
    a.import_local_storage(&first_run()).unwrap();
    merge(&mut a, &mut b);
    // Both edit the deck offline, then merge: both parse the merged text.
    let deck = |r: &crate::Replica| r.export().unwrap()["decks"]["math-basics"].clone();
    let base = deck(&a)["markdown"].as_str().unwrap().to_string();
    a.edit_markdown("math-basics", &format!("Added on A :: a\n{base}"))
        .unwrap();
    b.edit_markdown("math-basics", &base.replace(":: 13", ":: thirteen"))
        .unwrap();
    merge(&mut a, &mut b);
    merge(&mut b, &mut a);
    let (da, db) = (deck(&a), deck(&b));
    assert_eq!(da["markdown"], db["markdown"]);
    assert_eq!(da["cards"], db["cards"]);
    let cards = da["cards"].as_array().unwrap();
    let six_seven = cards
        .iter()
        .find(|c| c["front"] == "What is 6 + 7?")
        .unwrap();
    assert_eq!(six_seven["back"], "thirteen");
    // The id survived the answer edit and the insertion above it.
    let before = cards::parse("math-basics", &base);
    let old = before
        .iter()
        .find(|c| c["front"] == "What is 6 + 7?")
        .unwrap();
    assert_eq!(six_seven["id"], old["id"]);
    // A review recorded on B by that id is that card's progress on A.
    let card_id = six_seven["id"].as_str().unwrap().to_string();
    b.record_review(&ReviewInput {
        deck_id: "math-basics".into(),
        card_id: card_id.clone(),
        correct: true,
        response_ms: 3000,
        at: "2026-11-20T10:00:00.000Z".into(),
        quality: None,
    })
    .unwrap();
    merge(&mut a, &mut b);
    let progress = &a.export().unwrap()["progress"][&card_id];
    assert_eq!(progress["deckId"], "math-basics");
    assert_eq!(progress["stats"]["views"], 1);
    assert_eq!(progress["stats"]["correctCount"], 1);
}

#[test]
fn a_first_run_sample_edited_later_joins_the_index_on_every_device() {
    let (mut a, mut b) = (device(1), device(2));
    a.set_samples(samples());
    a.import_local_storage(&first_run()).unwrap();
    assert!(!a.export_local_storage().unwrap().contains_key("mdoc_index"));
    let text = format!("{}\nWhat is 10 + 10? :: 20", samples()[0].markdown);
    a.edit_markdown(&samples()[0].id, &text).unwrap();
    merge(&mut a, &mut b);
    for r in [&a, &b] {
        let index: Vec<Value> =
            serde_json::from_str(&r.export_local_storage().unwrap()["mdoc_index"]).unwrap();
        let ids: Vec<&str> = index.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [samples()[0].id.as_str()]);
    }
}
