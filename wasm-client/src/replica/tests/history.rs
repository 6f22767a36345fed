//! Device attribution, history, restore, undelete and conflicts between
//! replicas merged directly.

use super::{device, math_deck, merge, review};
use crate::replica::{Replica, ReplicaError};
use serde_json::{json, Map, Value};

const T0: i64 = 1_790_000_000_000;

fn named(actor: u8, name: &str) -> Replica {
    let mut r = device(actor);
    r.set_device_name(name).unwrap();
    r
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn markdown_of(r: &Replica) -> String {
    r.decks().unwrap()["d1"]["markdown"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn devices_name_themselves_once_and_history_names_them() {
    let (mut a, mut b) = (named(1, "phone"), named(2, "laptop"));
    a.create_deck(&math_deck()).unwrap();
    let heads = a.root().unwrap().get_heads();
    a.edit_markdown("d1", "2+2 :: 4\n3+3 :: 6\n").unwrap();
    // The entry is written once: the second edit leaves the root alone.
    assert_eq!(a.root().unwrap().get_heads(), heads);
    merge(&mut a, &mut b);
    b.set_now(T0 + 3_600_000);
    b.edit_markdown("d1", "1+1 :: 2\n2+2 :: 4\n3+3 :: 6\n")
        .unwrap();
    b.record_review(&review("c1", true, "2026-09-21T10:00:00.000Z"))
        .unwrap();
    merge(&mut a, &mut b);
    let names = a.device_names().unwrap();
    assert_eq!(names[&a.actor_hex()], "phone");
    assert_eq!(names[&b.actor_hex()], "laptop");

    let page = a.deck_history("d1", None, None).unwrap();
    let devices: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.device_name.as_str())
        .collect();
    // Newest first: laptop's run (edit + review), phone's edit, phone's creation.
    assert_eq!(devices, ["laptop", "phone", "phone"]);
    let laptop = &page.entries[0].summary;
    assert_eq!(laptop.chars_inserted, "1+1 :: 2\n".len() as u64);
    assert_eq!(laptop.chars_deleted, 0);
    assert_eq!(laptop.reviews_recorded, 1);
    assert_eq!(page.entries[1].summary.chars_inserted, 9);
    let created = &page.entries[2].summary;
    assert!(created.created);
    assert_eq!(
        created.chars_inserted, 9,
        "the first text counts in the creation"
    );
    assert!(created.fields_changed.contains(&"name".to_string()));
    assert!(!created
        .fields_changed
        .contains(&"metadata.lastModified".to_string()));
    assert_eq!(page.next_before, None);
    // Both devices list the same history.
    assert_eq!(b.deck_history("d1", None, None).unwrap(), page);

    // Paging.
    let first = a.deck_history("d1", Some(2), None).unwrap();
    assert_eq!(first.entries.len(), 2);
    let before = first.next_before.clone().unwrap();
    let rest = a.deck_history("d1", Some(2), Some(&before)).unwrap();
    assert_eq!(rest.entries, page.entries[2..]);
    assert_eq!(rest.next_before, None);
}

#[test]
fn a_run_of_one_device_is_one_entry_until_a_pause() {
    let mut a = named(1, "phone");
    a.create_deck(&math_deck()).unwrap();
    for (i, minutes) in [1, 2, 4, 20].iter().enumerate() {
        a.set_now(T0 + minutes * 60_000);
        a.edit_markdown("d1", &format!("2+2 :: 4\nq{i} :: a\n"))
            .unwrap();
    }
    let page = a.deck_history("d1", None, None).unwrap();
    // create | edits at 1, 2, 4 min | edit at 20 min.
    assert_eq!(page.entries.len(), 3);
    assert!(page.entries[2].summary.created);
    assert_eq!(page.entries[0].at, "2026-09-21T14:33:20.000Z");
}

#[test]
fn deck_at_a_version_is_what_the_device_saw_then() {
    let mut a = named(1, "phone");
    a.create_deck(&math_deck()).unwrap();
    let then = a.decks().unwrap()["d1"].clone();
    a.set_now(T0 + 3_600_000);
    a.update_deck(
        "d1",
        &fields(json!({"name": "Maths", "markdown": "new :: text\n"})),
    )
    .unwrap();
    let page = a.deck_history("d1", None, None).unwrap();
    let old = &page.entries[1].version;
    assert_eq!(a.deck_at("d1", old).unwrap(), then);
    assert!(matches!(
        a.deck_at("d1", "v1.!!"),
        Err(ReplicaError::BadVersion)
    ));
    let other = crate::version::encode([(
        &crate::layout::deck_doc_id("user-1", "d2"),
        [automerge::ChangeHash([1; 32])].as_slice(),
    )]);
    assert!(matches!(
        a.deck_at("d1", &other),
        Err(ReplicaError::VersionNotFound(_))
    ));
}

#[test]
fn restore_merges_with_a_concurrent_edit_and_keeps_progress() {
    let (mut a, mut b) = (named(1, "phone"), named(2, "laptop"));
    a.create_deck(&math_deck()).unwrap();
    let v1 = a.deck_history("d1", None, None).unwrap().entries[0]
        .version
        .clone();
    a.set_now(T0 + 3_600_000);
    a.update_deck("d1", &fields(json!({"name": "Wiped", "markdown": ""})))
        .unwrap();
    a.record_review(&review("c1", true, "2026-09-21T11:00:00.000Z"))
        .unwrap();
    merge(&mut a, &mut b);
    // B, offline, adds a card while A restores.
    b.set_now(T0 + 7_200_000);
    b.edit_markdown("d1", "5+5 :: 10\n").unwrap();
    a.set_now(T0 + 7_200_000);
    a.restore_deck("d1", &v1).unwrap();
    merge(&mut a, &mut b);
    for r in [&a, &b] {
        let deck = &r.decks().unwrap()["d1"];
        assert_eq!(deck["name"], "Math");
        let md = deck["markdown"].as_str().unwrap();
        assert!(
            md.contains("2+2 :: 4\n") && md.contains("5+5 :: 10\n"),
            "{md}"
        );
    }
    let progress = a.progress().unwrap();
    assert!(!progress.is_empty(), "reviews survive a restore");
    let page = a.deck_history("d1", None, None).unwrap();
    assert!(page.entries.iter().any(|e| e.summary.restored));
}

#[test]
fn deleted_decks_are_listed_and_come_back_with_progress() {
    let (mut a, mut b) = (named(1, "phone"), named(2, "laptop"));
    a.create_deck(&math_deck()).unwrap();
    a.record_review(&review("c1", true, "2026-09-21T11:00:00.000Z"))
        .unwrap();
    let progress = a.progress().unwrap();
    merge(&mut a, &mut b);
    b.set_now(T0 + 60_000);
    b.delete_deck("d1").unwrap();
    merge(&mut a, &mut b);
    let deleted = a.deleted_deck_list().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].deck_id, "d1");
    assert_eq!(deleted[0].name, "Math");
    assert_eq!(deleted[0].device_name, "laptop");
    assert_eq!(deleted[0].deleted_at, "2026-09-21T14:14:20.000Z");
    assert!(a.decks().unwrap().is_empty());
    a.undelete_deck("d1").unwrap();
    assert!(a.deleted_deck_list().unwrap().is_empty());
    assert_eq!(markdown_of(&a), "2+2 :: 4\n");
    assert_eq!(a.progress().unwrap(), progress);
    assert!(matches!(
        a.undelete_deck("d1"),
        Err(ReplicaError::DeckNotFound(_))
    ));
}

#[test]
fn concurrent_renames_conflict_until_written_again() {
    let (mut a, mut b) = (named(1, "phone"), named(2, "laptop"));
    a.create_deck(&math_deck()).unwrap();
    merge(&mut a, &mut b);
    a.update_deck("d1", &fields(json!({"name": "Maths"})))
        .unwrap();
    b.update_deck("d1", &fields(json!({"name": "Mathe"})))
        .unwrap();
    a.set_preference("gameSettings.showHints", &json!(true))
        .unwrap();
    b.set_preference("gameSettings.showHints", &json!(false))
        .unwrap();
    merge(&mut a, &mut b);
    for r in [&a, &b] {
        let c = r.deck_conflicts("d1").unwrap();
        assert_eq!(Value::Object(c), json!({"name": ["Mathe", "Maths"]}));
        let p = r.preference_conflicts().unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"gameSettings.showHints": [false, true]})
        );
        assert_eq!(
            Value::Object(r.all_conflicts().unwrap()),
            json!({"decks": {"d1": {"name": ["Mathe", "Maths"]}},
                   "preferences": {"gameSettings.showHints": [false, true]}})
        );
    }
    // Writing the value already shown resolves it too; `conflicts` sent
    // back is dropped.
    let shown = a.decks().unwrap()["d1"]["name"].clone();
    a.update_deck(
        "d1",
        &fields(json!({"name": shown, "conflicts": {"name": ["x"]}})),
    )
    .unwrap();
    a.set_preference("gameSettings.showHints", &json!(true))
        .unwrap();
    merge(&mut a, &mut b);
    for r in [&a, &b] {
        assert!(r.deck_conflicts("d1").unwrap().is_empty());
        assert!(r.preference_conflicts().unwrap().is_empty());
        assert!(r.decks().unwrap()["d1"].get("conflicts").is_none());
        assert_eq!(
            Value::Object(r.all_conflicts().unwrap()),
            json!({"decks": {}, "preferences": {}})
        );
    }
}

#[test]
fn bookkeeping_fields_never_conflict() {
    let (mut a, mut b) = (named(1, "phone"), named(2, "laptop"));
    a.create_deck(&math_deck()).unwrap();
    merge(&mut a, &mut b);
    a.set_now(T0 + 1_000);
    b.set_now(T0 + 2_000);
    a.edit_markdown("d1", "2+2 :: 4\na :: b\n").unwrap();
    b.edit_markdown("d1", "2+2 :: 4\nc :: d\n").unwrap();
    merge(&mut a, &mut b);
    assert!(a.deck_conflicts("d1").unwrap().is_empty());
}
