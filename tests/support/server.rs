//! The server side of a scenario, behind one small trait so the runner does
//! not care how the server is driven ([`super::store_server`] runs the real
//! engine).

use myflashplay_client::Docs;

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
    fn docs(&mut self) -> Result<Docs, String>;
}
