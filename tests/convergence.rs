//! Convergence: every scenario of `fixtures/scenarios/` (and of each
//! directory in `EXTRA_FIXTURES`, colon-separated) played through
//! `wasm-client` replicas and a server, plus a property test that random
//! interleavings of edits, syncs and restarts over three devices converge
//! and lose no review or session.

mod support;

use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use support::scenario::{play, World};

fn scenario_files() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios")];
    if let Ok(extra) = std::env::var("EXTRA_FIXTURES") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fixtures dir {}: {e}", dir.display()));
        let mut here: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        here.sort();
        files.extend(here);
    }
    files
}

#[test]
fn every_scenario_converges() {
    let files = scenario_files();
    let mut failures = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = serde_json::from_str::<Value>(&text)
            .map_err(|e| format!("invalid JSON: {e}"))
            .and_then(|s| play(&s));
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    println!("played {} scenarios", files.len());
    assert!(!files.is_empty(), "no scenario found");
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn unknown_ops_and_steps_fail_clearly() {
    let unknown_op =
        json!({"devices": ["a"], "steps": [{"device": "a", "op": "teleport"}], "expect": {}});
    assert!(play(&unknown_op)
        .unwrap_err()
        .contains("unknown op \"teleport\""));
    let unknown_step = json!({"devices": ["a"], "steps": [{"dance": "a"}], "expect": {}});
    assert!(play(&unknown_step)
        .unwrap_err()
        .contains("step 0: unknown step"));
    let wrong_state = json!({"devices": ["a"], "steps": [{"device": "a", "op": "star", "public_deck_id": "x"}, {"sync": "all"}],
        "expect": {"converged": true, "state": {"starred": ["y"]}}});
    assert!(play(&wrong_state)
        .unwrap_err()
        .contains("$.starred: expected [\"y\"], got [\"x\"]"));
}

/// One random action of the property test.
#[derive(Debug, Clone)]
enum Action {
    Edit {
        device: usize,
        kind: u8,
        n: u8,
    },
    Sync(usize),
    SyncAll,
    Toggle(usize),
    RestartServer,
    RestartDevice(usize),
    Compact,
    /// A fourth device logs in with empty storage (once).
    Join,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..3usize, 0..9u8, 0..4u8).prop_map(|(device, kind, n)| Action::Edit { device, kind, n }),
        2 => (0..3usize).prop_map(Action::Sync),
        1 => Just(Action::SyncAll),
        1 => (0..3usize).prop_map(Action::Toggle),
        1 => Just(Action::RestartServer),
        1 => (0..3usize).prop_map(Action::RestartDevice),
        1 => Just(Action::Compact),
        1 => Just(Action::Join),
    ]
}

const DEVICES: [&str; 3] = ["phone", "laptop", "tablet"];

/// The step a random action stands for. Edits that are invalid in the
/// device's current state (e.g. a review of a deck it has not seen) are
/// skipped by the caller.
fn step_of(a: &Action, counter: usize) -> Value {
    match a {
        Action::Edit { device, kind, n } => {
            let d = DEVICES[*device];
            let deck = format!("d{}", n % 2);
            match kind {
                0 => {
                    json!({"device": d, "op": "create_deck", "deck": {"id": deck, "name": format!("Deck {n}"), "emoji": "🐙", "markdown": "a :: b\n"}})
                }
                1 => {
                    json!({"device": d, "op": "edit_markdown", "deck_id": deck, "markdown": format!("a :: b\n{d} {counter} :: {n}\n")})
                }
                2 => {
                    json!({"device": d, "op": "record_review", "deck_id": deck, "card_id": format!("c{n}"), "correct": !counter.is_multiple_of(3),
                            "response_ms": 1000 * (counter % 40) as u64, "at": format!("2026-11-{:02}T10:00:00.000Z", 1 + counter % 28)})
                }
                3 => json!({"device": d, "op": "record_session", "session": {
                            "id": format!("s-{d}-{counter}"), "deckId": deck, "deckName": "D", "mode": "quiz",
                            "startTime": format!("2026-{:02}-05T10:00:00.000Z", 9 + n % 3),
                            "score": {"points": counter, "accuracy": 50.0, "correctAnswers": 1, "totalQuestions": 2, "streak": 1, "bestStreak": 1},
                            "details": {"cardResults": [], "bonuses": [], "difficulty": "medium", "hintsUsed": 0}}}),
                4 => {
                    json!({"device": d, "op": if n % 2 == 0 { "star" } else { "unstar" }, "public_deck_id": format!("p{}", n / 2)})
                }
                6 => json!({"device": d, "op": "delete_deck", "deck_id": deck}),
                7 => {
                    json!({"device": d, "op": "update_deck", "deck_id": deck, "fields": {"name": format!("{d} {counter}"), "metadata": {"tags": [d]}}})
                }
                8 => {
                    json!({"device": d, "op": "set_achievement", "achievement_id": format!("a{}", n % 2), "progress": counter, "max_progress": 100})
                }
                _ => {
                    json!({"device": d, "op": "set_preference", "path": if n % 2 == 0 { "gameSettings.showHints" } else { "theme" },
                            "value": if n % 2 == 0 { json!(counter.is_multiple_of(2)) } else { json!(["light", "dark", "auto"][counter % 3]) }})
                }
            }
        }
        Action::Sync(d) => json!({"sync": [DEVICES[*d]]}),
        Action::SyncAll => json!({"sync": "all"}),
        Action::Toggle(d) => json!({"offline": DEVICES[*d]}),
        Action::RestartServer => json!({"restart": "server"}),
        Action::RestartDevice(d) => json!({"restart": DEVICES[*d]}),
        Action::Compact => json!({"compact": "server"}),
        Action::Join => json!({"new_device": "late"}),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_converge_and_lose_nothing(actions in proptest::collection::vec(action(), 1..40)) {
        let names: Vec<String> = DEVICES.iter().map(|s| s.to_string()).collect();
        let mut world = World::new(&names).unwrap();
        let mut offline = [false; 3];
        let mut joined = false;
        for (i, a) in actions.iter().enumerate() {
            let mut step = step_of(a, i);
            if let Action::Toggle(d) = a {
                offline[*d] = !offline[*d];
                if !offline[*d] {
                    step = json!({"online": DEVICES[*d]});
                }
            }
            if matches!(a, Action::Join) {
                if joined {
                    continue;
                }
                joined = true;
            }
            let is_edit = matches!(a, Action::Edit { .. });
            match world.step(&step) {
                Ok(()) => {}
                // A device may not know the deck yet, or it was deleted: the
                // app would refuse the edit too. Anything else is a bug.
                Err(e) if is_edit && e.contains("not found") => {}
                Err(e) => prop_assert!(false, "step {i} {step}: {e}"),
            }
        }
        for d in DEVICES {
            world.step(&json!({"online": d})).unwrap();
        }
        world.step(&json!({"sync": "all"})).unwrap();
        let outcome = world.check(&json!({"converged": true}));
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }
}
