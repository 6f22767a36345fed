//! The real server for scenarios: the store engine (`src/store/`) on a
//! SQLite file, driven by each device's `SyncClient` through the sync
//! driver, so `sync` steps exchange the real protocol messages.

use super::server::ServerHarness;
use myflashplay_client::sync::{PeerId, SyncClient};
use myflashplay_client::{Docs, DocumentId};
use myflashplay_sync::store::sqlite::Sqlite;
use myflashplay_sync::store::{sync_until_quiet, Engine};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

/// The engine on its own SQLite file (removed when dropped) and one sync
/// client per device.
pub struct StoreServer {
    path: PathBuf,
    store: Option<Engine<Sqlite>>,
    clients: BTreeMap<String, SyncClient>,
    now_ms: u64,
}

impl StoreServer {
    /// A fresh engine on a new file in the temp directory.
    pub fn new() -> Result<Self, String> {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        // A RAM-backed directory when there is one: the scenarios restart
        // from the file, but need not pay for fsync on every commit.
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("mfp-scenario-{}-{n}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut server = StoreServer {
            path,
            store: None,
            clients: BTreeMap::new(),
            now_ms: 1_795_132_800_000,
        };
        server.open()?;
        Ok(server)
    }

    fn open(&mut self) -> Result<(), String> {
        let sql =
            Sqlite::open(&self.path).map_err(|e| format!("open {}: {e}", self.path.display()))?;
        self.store = Some(Engine::open(sql, self.now_ms).map_err(|e| format!("open store: {e}"))?);
        Ok(())
    }

    fn tick(&mut self) -> u64 {
        self.now_ms += 1000;
        self.now_ms
    }

    fn store(&mut self) -> Result<&mut Engine<Sqlite>, String> {
        self.store
            .as_mut()
            .ok_or_else(|| "server is not open".to_string())
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        self.store = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

fn heads(docs: &Docs) -> BTreeMap<DocumentId, Vec<automerge::ChangeHash>> {
    docs.iter().map(|(id, d)| (*id, d.get_heads())).collect()
}

impl ServerHarness for StoreServer {
    fn sync_device(&mut self, device: &str, docs: &mut Docs) -> Result<bool, String> {
        let now = self.tick();
        if !self.clients.contains_key(device) {
            let peer = PeerId::new(format!("device-{device}")).map_err(|e| e.to_string())?;
            self.clients
                .insert(device.to_string(), SyncClient::new(peer));
        }
        let seq_before = self.store()?.seq();
        let heads_before = heads(docs);
        let store = self.store.as_mut().ok_or("server is not open")?;
        let client = self.clients.get_mut(device).ok_or("no client")?;
        sync_until_quiet(now, client, docs, store).map_err(|e| format!("sync {device}: {e}"))?;
        let seq_after = self.store()?.seq();
        Ok(seq_before != seq_after || heads_before != heads(docs))
    }

    fn forget_device(&mut self, device: &str) {
        self.clients.remove(device);
    }

    fn restart(&mut self) -> Result<(), String> {
        self.store = None;
        self.tick();
        self.open()
    }

    fn compact(&mut self) -> Result<(), String> {
        let now = self.tick();
        self.store()?
            .force_compact(now)
            .map_err(|e| format!("compact: {e}"))
    }

    fn docs(&mut self) -> Result<Docs, String> {
        self.store()?
            .export_docs()
            .map_err(|e| format!("export: {e}"))
    }
}
