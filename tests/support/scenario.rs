//! Plays one docs/fixtures.md scenario: devices, steps, then the `expect` checks.

use super::compare;
use super::server::ServerHarness;
use super::store_server::StoreServer;
use automerge::Automerge;
use myflashplay_client::model::SampleDeck;
use myflashplay_client::replica::{LocalStorage, ReviewInput};
use myflashplay_client::{Docs, DocumentId, Replica};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Every scenario's user.
pub const USER: &str = "user-fixtures";
/// The clock starts here and moves one second per step.
const START_MS: i64 = 1_795_132_800_000; // 2026-11-20T00:00:00Z
const SERVER_ACTOR: [u8; 16] = *b"fixture-reader-0";

/// One device of a scenario.
pub struct Device {
    replica: Replica,
    actor: Vec<u8>,
    online: bool,
}

impl Device {
    fn new(name: &str) -> Result<Self, String> {
        let actor = DocumentId::derive(&["device", name]).as_bytes().to_vec();
        let mut replica = Replica::new(USER, &actor).map_err(|e| e.to_string())?;
        // History names a scenario's devices as the scenario does.
        replica.set_device_name(name).map_err(|e| e.to_string())?;
        Ok(Device {
            replica,
            actor,
            online: true,
        })
    }
}

/// The state of a scenario being played.
pub struct World {
    devices: BTreeMap<String, Device>,
    server: Box<dyn ServerHarness>,
    clock_ms: i64,
    reviews: BTreeSet<String>,
    sessions: BTreeSet<String>,
    /// The step being played.
    step_index: usize,
    /// The deck version each deck op left on its device, by step index
    /// (what `restore_deck`'s `version_of` names).
    versions: BTreeMap<usize, String>,
}

impl World {
    /// A world with these devices (online) and a fresh server.
    pub fn new(devices: &[String]) -> Result<Self, String> {
        let mut world = World {
            devices: BTreeMap::new(),
            server: Box::new(StoreServer::new()?),
            clock_ms: START_MS,
            reviews: BTreeSet::new(),
            sessions: BTreeSet::new(),
            step_index: 0,
            versions: BTreeMap::new(),
        };
        for d in devices {
            world.add_device(d)?;
        }
        Ok(world)
    }

    fn add_device(&mut self, name: &str) -> Result<(), String> {
        if self.devices.contains_key(name) {
            return Err(format!("device {name:?} exists already"));
        }
        self.devices.insert(name.to_string(), Device::new(name)?);
        Ok(())
    }

    fn device(&mut self, name: &str) -> Result<&mut Device, String> {
        self.devices
            .get_mut(name)
            .ok_or_else(|| format!("unknown device {name:?}"))
    }

    /// Plays one step.
    pub fn step(&mut self, step: &Value) -> Result<(), String> {
        self.clock_ms += 1000;
        let s = step.as_object().ok_or("a step must be an object")?;
        if let Some(d) = s.get("device") {
            let d = d.as_str().ok_or("device must be a string")?.to_string();
            let op = s
                .get("op")
                .and_then(Value::as_str)
                .ok_or("a device step needs an op")?;
            return self.op(&d, op, s);
        }
        if let Some(which) = s.get("sync") {
            let names: Vec<String> = match which {
                Value::String(all) if all == "all" => self.devices.keys().cloned().collect(),
                Value::Array(list) => list
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or("sync list holds device names")
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err("sync must be \"all\" or a list of devices".into()),
            };
            return self.sync(&names);
        }
        if let Some(d) = s.get("offline").and_then(Value::as_str) {
            self.device(d)?.online = false;
            return Ok(());
        }
        if let Some(d) = s.get("online").and_then(Value::as_str) {
            self.device(d)?.online = true;
            return Ok(());
        }
        if let Some(what) = s.get("restart").and_then(Value::as_str) {
            return if what == "server" {
                self.server.restart()
            } else {
                self.restart_device(what)
            };
        }
        if let Some(what) = s.get("compact").and_then(Value::as_str) {
            return match what {
                "server" => self.server.compact(),
                other => Err(format!(
                    "compact {other:?}: only \"server\" can be compacted"
                )),
            };
        }
        if let Some(d) = s.get("new_device").and_then(Value::as_str) {
            return self.add_device(d);
        }
        if let Some(expect) = s.get("expect") {
            return self.check(expect);
        }
        Err(format!("unknown step {}", Value::Object(s.clone())))
    }

    fn restart_device(&mut self, name: &str) -> Result<(), String> {
        let device = self.device(name)?;
        let mut docs = Docs::new();
        for (id, doc) in device.replica.docs() {
            let reloaded = Automerge::load(&doc.save()).map_err(|e| format!("reload {id}: {e}"))?;
            docs.insert(*id, reloaded);
        }
        device.replica =
            Replica::from_docs(USER, &device.actor, docs).map_err(|e| e.to_string())?;
        device
            .replica
            .set_device_name(name)
            .map_err(|e| e.to_string())?;
        self.server.forget_device(name);
        Ok(())
    }

    fn sync(&mut self, names: &[String]) -> Result<(), String> {
        for _ in 0..20 {
            let mut changed = false;
            for name in names {
                let device = self
                    .devices
                    .get_mut(name)
                    .ok_or_else(|| format!("unknown device {name:?}"))?;
                if device.online && self.server.sync_device(name, device.replica.docs_mut())? {
                    changed = true;
                    // What a device does after its documents merged:
                    // repair concurrent first versions of a deck's text.
                    device.replica.set_now(self.clock_ms);
                    device.replica.repair_decks().map_err(|e| e.to_string())?;
                }
            }
            if !changed {
                return Ok(());
            }
        }
        Err("sync did not settle after 20 rounds".into())
    }

    fn op(&mut self, name: &str, op: &str, s: &Map<String, Value>) -> Result<(), String> {
        self.deck_op(name, op, s)?;
        // The deck's version after the op, for a later `restore_deck`.
        let deck_id = s
            .get("deck_id")
            .or_else(|| s.get("deck").and_then(|d| d.get("id")))
            .and_then(Value::as_str);
        if let Some(deck_id) = deck_id {
            let doc_id = myflashplay_client::layout::deck_doc_id(USER, deck_id);
            if let Some(doc) = self.device(name)?.replica.docs().get(&doc_id) {
                let v =
                    myflashplay_client::version::encode([(&doc_id, doc.get_heads().as_slice())]);
                self.versions.insert(self.step_index, v);
            }
        }
        Ok(())
    }

    fn deck_op(&mut self, name: &str, op: &str, s: &Map<String, Value>) -> Result<(), String> {
        let now = self.clock_ms;
        let step_versions = &self.versions;
        let device = self
            .devices
            .get_mut(name)
            .ok_or_else(|| format!("unknown device {name:?}"))?;
        let r = &mut device.replica;
        r.set_now(now);
        let str_arg = |k: &str| {
            s.get(k)
                .and_then(Value::as_str)
                .ok_or(format!("{op}: missing string {k:?}"))
        };
        let res = match op {
            "create_deck" => r.create_deck(s.get("deck").ok_or("create_deck: missing deck")?),
            "update_deck" => {
                let fields = s
                    .get("fields")
                    .and_then(Value::as_object)
                    .ok_or("update_deck: missing fields")?;
                r.update_deck(str_arg("deck_id")?, fields)
            }
            "edit_markdown" => r.edit_markdown(str_arg("deck_id")?, str_arg("markdown")?),
            "delete_deck" => r.delete_deck(str_arg("deck_id")?),
            "undelete_deck" => r.undelete_deck(str_arg("deck_id")?),
            "restore_deck" => {
                let step = s
                    .get("version_of")
                    .and_then(Value::as_u64)
                    .ok_or("restore_deck: missing version_of (a step index)")?;
                let version = step_versions
                    .get(&(step as usize))
                    .ok_or(format!("restore_deck: step {step} made no deck version"))?;
                r.restore_deck(str_arg("deck_id")?, version)
            }
            "record_review" => {
                let review = ReviewInput {
                    deck_id: str_arg("deck_id")?.to_string(),
                    card_id: str_arg("card_id")?.to_string(),
                    correct: s
                        .get("correct")
                        .and_then(Value::as_bool)
                        .ok_or("record_review: missing correct")?,
                    response_ms: s.get("response_ms").and_then(Value::as_u64).unwrap_or(0),
                    // ISO-8601 as the app writes it, or Unix milliseconds.
                    at: match s.get("at") {
                        Some(Value::Number(n)) => n
                            .as_i64()
                            .map(myflashplay_client::model::timestamp::format_ms)
                            .ok_or("record_review: at out of range")?,
                        _ => str_arg("at")?.to_string(),
                    },
                    quality: s
                        .get("quality")
                        .and_then(Value::as_u64)
                        .map(|q| q.min(255) as u8),
                };
                let id = r
                    .record_review(&review)
                    .map_err(|e| format!("{name} {op}: {e}"))?;
                self.reviews.insert(id);
                return Ok(());
            }
            "record_session" => {
                let session = s.get("session").ok_or("record_session: missing session")?;
                r.record_session(session)
                    .map_err(|e| format!("{name} {op}: {e}"))?;
                if let Some(id) = session["id"].as_str() {
                    self.sessions.insert(id.to_string());
                }
                return Ok(());
            }
            "set_achievement" => {
                let mut a = json!({
                    "achievementId": str_arg("achievement_id")?,
                    "progress": s.get("progress").cloned().unwrap_or(json!(0)),
                    "maxProgress": s.get("max_progress").cloned().unwrap_or(json!(0)),
                });
                if let Some(u) = s.get("unlocked_at") {
                    a["unlockedAt"] = u.clone();
                }
                r.set_achievement(&a)
            }
            "star" => r.star(str_arg("public_deck_id")?),
            "unstar" => r.unstar(str_arg("public_deck_id")?),
            "set_preference" => r.set_preference(
                str_arg("path")?,
                s.get("value").ok_or("set_preference: missing value")?,
            ),
            "import_local_storage" => {
                if let Some(samples) = s.get("samples") {
                    let list = SampleDeck::list_from_json(samples)
                        .map_err(|e| format!("import_local_storage: samples: {e}"))?;
                    r.set_samples(list);
                }
                let entries: LocalStorage = serde_json::from_value(
                    s.get("entries")
                        .cloned()
                        .ok_or("import_local_storage: missing entries")?,
                )
                .map_err(|e| format!("import_local_storage: entries: {e}"))?;
                r.import_local_storage(&entries)
                    .map_err(|e| format!("{name} {op}: {e}"))?;
                let ids: Vec<String> = r
                    .sessions()
                    .map_err(|e| e.to_string())?
                    .keys()
                    .cloned()
                    .collect();
                self.sessions.extend(ids);
                return Ok(());
            }
            other => return Err(format!("unknown op {other:?}")),
        };
        res.map_err(|e| format!("{name} {op}: {e}"))
    }

    /// The server's view, read through a replica of its documents.
    fn server_replica(&mut self) -> Result<Replica, String> {
        Replica::from_docs(USER, &SERVER_ACTOR, self.server.docs()?).map_err(|e| e.to_string())
    }

    /// Checks `expect`: convergence, the expected state on every device and
    /// the server, and that no review or session was lost.
    pub fn check(&mut self, expect: &Value) -> Result<(), String> {
        let server = self.server_replica()?;
        let server_export = server.export().map_err(|e| e.to_string())?;
        let mut views: Vec<(String, &Replica)> = vec![("server".into(), &server)];
        views.extend(self.devices.iter().map(|(n, d)| (n.clone(), &d.replica)));

        if expect
            .get("converged")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let server_heads = heads(server.docs());
            for (name, d) in &self.devices {
                if heads(d.replica.docs()) != server_heads {
                    let export = d.replica.export().map_err(|e| e.to_string())?;
                    let diff = compare::first_difference(&export, &server_export, "$")
                        .unwrap_or_else(|| "same export, different document heads".into());
                    return Err(format!(
                        "device {name} did not converge with the server: {diff}"
                    ));
                }
            }
        }
        if let Some(state) = expect.get("state") {
            for (name, r) in &views {
                let export = r.export().map_err(|e| e.to_string())?;
                compare::subset(state, &export, "$").map_err(|e| format!("{name}: {e}"))?;
            }
        }
        if let Some(want) = expect.get("history") {
            for (name, r) in &views {
                check_history(r, want).map_err(|e| format!("{name}: history: {e}"))?;
            }
        }
        if let Some(want) = expect.get("conflicts") {
            for (name, r) in &views {
                check_conflicts(r, want).map_err(|e| format!("{name}: conflicts: {e}"))?;
            }
        }
        // Lost means missing from every replica and the server. Once all
        // devices are online and synced, it must also be on each of them.
        let mut held: Vec<(String, BTreeSet<String>, BTreeSet<String>)> = Vec::new();
        for (name, r) in &views {
            let reviews = r
                .review_ids()
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect();
            let sessions = r
                .sessions()
                .map_err(|e| e.to_string())?
                .keys()
                .cloned()
                .collect();
            held.push((name.clone(), reviews, sessions));
        }
        let mut lost = Vec::new();
        for id in &self.reviews {
            if !held.iter().any(|(_, r, _)| r.contains(id)) {
                lost.push(format!("review {id}"));
            }
        }
        for id in &self.sessions {
            if !held.iter().any(|(_, _, s)| s.contains(id)) {
                lost.push(format!("session {id}"));
            }
        }
        if !lost.is_empty() {
            return Err(format!("lost everywhere: {}", lost.join(", ")));
        }
        if self.devices.values().all(|d| d.online) {
            for (name, reviews, sessions) in &held {
                let missing: Vec<&String> = self
                    .reviews
                    .difference(reviews)
                    .chain(self.sessions.difference(sessions))
                    .collect();
                if !missing.is_empty() && expect.get("converged") == Some(&json!(true)) {
                    return Err(format!("{name} lacks {missing:?}"));
                }
            }
        }
        if let Some(want) = expect.get("lost") {
            if *want != json!(lost) {
                return Err(format!("lost: expected {want}, got {}", json!(lost)));
            }
        }
        Ok(())
    }
}

/// `{deck_id: {entries: N, devices: [newest first]}}`: the whole history
/// of each deck (every page).
fn check_history(r: &Replica, want: &Value) -> Result<(), String> {
    let want = want.as_object().ok_or("history: expected an object")?;
    for (deck_id, w) in want {
        let mut devices = Vec::new();
        let mut before = None;
        loop {
            let page = r
                .deck_history(deck_id, Some(100), before.as_deref())
                .map_err(|e| format!("{deck_id}: {e}"))?;
            devices.extend(page.entries.into_iter().map(|e| e.device_name));
            match page.next_before {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        if let Some(n) = w.get("entries") {
            if *n != json!(devices.len()) {
                return Err(format!(
                    "{deck_id}: {} entries ({devices:?}), expected {n}",
                    devices.len()
                ));
            }
        }
        if let Some(names) = w.get("devices") {
            if *names != json!(devices) {
                return Err(format!("{deck_id}: devices {devices:?}, expected {names}"));
            }
        }
    }
    Ok(())
}

/// `{decks: {deck_id: {field: [values]}}, preferences: {path: [values]}}`,
/// compared exactly (`{}` says "none").
fn check_conflicts(r: &Replica, want: &Value) -> Result<(), String> {
    if let Some(decks) = want.get("decks").and_then(Value::as_object) {
        for (deck_id, w) in decks {
            let got = Value::Object(r.deck_conflicts(deck_id).map_err(|e| e.to_string())?);
            if got != *w {
                return Err(format!("deck {deck_id}: {got}, expected {w}"));
            }
        }
    }
    if let Some(w) = want.get("preferences") {
        let got = Value::Object(r.preference_conflicts().map_err(|e| e.to_string())?);
        if got != *w {
            return Err(format!("preferences: {got}, expected {w}"));
        }
    }
    Ok(())
}

fn heads(docs: &Docs) -> BTreeMap<DocumentId, Vec<automerge::ChangeHash>> {
    docs.iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(id, d)| {
            let mut h = d.get_heads();
            h.sort();
            (*id, h)
        })
        .collect()
}

/// Plays a whole scenario. The error says which step or check failed.
pub fn play(scenario: &Value) -> Result<(), String> {
    let listed: Vec<String> =
        serde_json::from_value(scenario.get("devices").cloned().unwrap_or(json!([])))
            .map_err(|e| format!("devices: {e}"))?;
    let steps = scenario
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("missing steps")?;
    // A device that a `new_device` step brings in may also be listed in
    // `devices`: it exists only from that step on (so `sync: all` before
    // it leaves it out, and an op naming it earlier is an unknown device).
    let late: BTreeSet<&str> = steps
        .iter()
        .filter_map(|s| s.get("new_device").and_then(Value::as_str))
        .collect();
    let devices: Vec<String> = listed
        .into_iter()
        .filter(|d| !late.contains(d.as_str()))
        .collect();
    let mut world = World::new(&devices)?;
    for (i, step) in steps.iter().enumerate() {
        world.step_index = i;
        world.step(step).map_err(|e| format!("step {i}: {e}"))?;
    }
    world.check(scenario.get("expect").unwrap_or(&json!({})))
}
