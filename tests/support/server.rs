//! The server side of a scenario, behind one small trait so the runner does
//! not care which engine answers.
//!
//! [`MemoryServer`] is the stand-in used until the UserStore engine
//! (`src/store/`) offers a natively testable driver: it keeps each document
//! as saved Automerge bytes (what a restart reloads) and speaks the
//! Automerge sync protocol with encoded messages, as a device would.

use automerge::sync::{Message, State, SyncDoc};
use automerge::{ActorId, Automerge};
use myflashplay_client::{Docs, DocumentId};
use std::collections::BTreeMap;

/// What the runner needs from a server.
pub trait ServerHarness {
    /// Syncs every document of one device with the server until neither
    /// side has anything to send, documents the device lacks included.
    /// Returns whether anything changed on either side.
    fn sync_device(&mut self, device: &str, docs: &mut Docs) -> Result<bool, String>;
    /// Forgets what the server side kept about a device's sync session
    /// (the device restarted and lost its in-memory sync state).
    fn forget_device(&mut self, device: &str);
    /// Drops the in-memory state and reloads from storage.
    fn restart(&mut self) -> Result<(), String>;
    /// Compacts every document's storage.
    fn compact(&mut self) -> Result<(), String>;
    /// The server's current documents (copies), for the final checks.
    fn docs(&self) -> Result<Docs, String>;
}

/// A stand-in server: live documents plus their stored bytes.
#[derive(Default)]
pub struct MemoryServer {
    live: Docs,
    stored: BTreeMap<DocumentId, Vec<u8>>,
}

const SERVER_ACTOR: [u8; 16] = *b"fixture-server-0";

impl MemoryServer {
    fn persist(&mut self, id: DocumentId) {
        if let Some(doc) = self.live.get(&id) {
            self.stored.insert(id, doc.save());
        }
    }
}

/// One document synced between a device copy and the server copy with
/// fresh states, every message encoded and decoded as on the wire.
pub fn sync_pair(device: &mut Automerge, server: &mut Automerge) -> Result<(), String> {
    let (mut ds, mut ss) = (State::new(), State::new());
    for _ in 0..100 {
        let to_server = device.generate_sync_message(&mut ds).map(|m| m.encode());
        let to_device = server.generate_sync_message(&mut ss).map(|m| m.encode());
        if to_server.is_none() && to_device.is_none() {
            return Ok(());
        }
        if let Some(bytes) = to_server {
            let msg = Message::decode(&bytes).map_err(|e| e.to_string())?;
            server
                .receive_sync_message(&mut ss, msg)
                .map_err(|e| e.to_string())?;
        }
        if let Some(bytes) = to_device {
            let msg = Message::decode(&bytes).map_err(|e| e.to_string())?;
            device
                .receive_sync_message(&mut ds, msg)
                .map_err(|e| e.to_string())?;
        }
    }
    Err("sync did not become quiet after 100 rounds".into())
}

impl ServerHarness for MemoryServer {
    fn sync_device(&mut self, _device: &str, docs: &mut Docs) -> Result<bool, String> {
        let ids: Vec<DocumentId> = docs.keys().chain(self.live.keys()).copied().collect();
        let mut changed = false;
        for id in ids {
            let device_doc = docs.entry(id).or_default();
            let server_doc = self.live.entry(id).or_insert_with(|| {
                Automerge::new().with_actor(ActorId::from(SERVER_ACTOR.as_slice()))
            });
            let before = (device_doc.get_heads(), server_doc.get_heads());
            sync_pair(device_doc, server_doc)?;
            let after = (device_doc.get_heads(), server_doc.get_heads());
            if before != after {
                changed = true;
                self.persist(id);
            }
        }
        Ok(changed)
    }

    fn forget_device(&mut self, _device: &str) {}

    fn restart(&mut self) -> Result<(), String> {
        self.live.clear();
        for (id, bytes) in &self.stored {
            let doc = Automerge::load(bytes).map_err(|e| format!("reload {id}: {e}"))?;
            self.live
                .insert(*id, doc.with_actor(ActorId::from(SERVER_ACTOR.as_slice())));
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), String> {
        let ids: Vec<DocumentId> = self.live.keys().copied().collect();
        for id in ids {
            self.persist(id);
        }
        Ok(())
    }

    fn docs(&self) -> Result<Docs, String> {
        Ok(self.live.iter().map(|(id, d)| (*id, d.fork())).collect())
    }
}
