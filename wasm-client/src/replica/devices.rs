//! Which device wrote what. Each device names its own actor in the root
//! document (`device/<actor hex>` → device name) when it first writes, so
//! the map syncs like any data: history names devices offline too, and no
//! cleanup of sessions can lose it. The server writes the same entry for
//! the actors of its own changes (JSON view writes, import, restore) and
//! refuses a change that names an actor other than its own.
//!
//! The entries are plain keys of the root map, not a nested map: a map
//! created lazily by two devices would conflict and hide one of them (see
//! the invariant of [`crate::layout`]), and genesis stays unchanged.

use super::{Replica, ReplicaError};
use crate::model::limits;
use automerge::transaction::Transactable;
use automerge::{ReadDoc, ROOT};
use std::collections::BTreeMap;

/// The root key prefix of device entries.
pub const DEVICE_KEY_PREFIX: &str = "device/";

/// The name history shows for an actor no entry names (a device of an
/// older version, a stock automerge-repo client).
pub const UNKNOWN_DEVICE: &str = "unknown device";

/// Longest device name (docs/api.md Limits).
const MAX_DEVICE_NAME_CHARS: usize = 100;

/// The root key naming `actor_hex`'s device.
pub fn device_key(actor_hex: &str) -> String {
    format!("{DEVICE_KEY_PREFIX}{actor_hex}")
}

impl Replica {
    /// Names this device; its next write records the name in the root
    /// document (once per actor, again only when the name changes).
    pub fn set_device_name(&mut self, name: &str) -> Result<(), ReplicaError> {
        let name = name.trim();
        limits::check_required("device_name", name, 4 * MAX_DEVICE_NAME_CHARS)?;
        let len = name.chars().count();
        if len > MAX_DEVICE_NAME_CHARS {
            return Err(crate::model::ModelError::TooLong {
                field: "device_name".into(),
                len,
                max: MAX_DEVICE_NAME_CHARS,
            }
            .into());
        }
        if self.device_name.as_deref() != Some(name) {
            self.device_name = Some(name.to_string());
            self.device_recorded = false;
        }
        Ok(())
    }

    /// Actor hex → device name, as recorded in the root document.
    pub fn device_names(&self) -> Result<BTreeMap<String, String>, ReplicaError> {
        let root = self.root()?;
        let mut out = BTreeMap::new();
        for key in root.map_range(ROOT, DEVICE_KEY_PREFIX.to_string()..) {
            let Some(actor) = key.key.strip_prefix(DEVICE_KEY_PREFIX) else {
                break;
            };
            if let Some(name) = super::get_str(root, &ROOT, &key.key)? {
                out.insert(actor.to_string(), name);
            }
        }
        Ok(out)
    }

    /// Writes this device's entry if the root lacks it (after an edit).
    pub(super) fn record_device(&mut self) -> Result<(), ReplicaError> {
        let Some(name) = self.device_name.clone() else {
            return Ok(());
        };
        if self.device_recorded {
            return Ok(());
        }
        let key = device_key(&self.actor_hex());
        let root_id = self.root_id();
        let held = super::get_str(self.root()?, &ROOT, &key)?;
        if held.as_deref() != Some(name.as_str()) {
            self.commit_edit(root_id, None, |tx, _| {
                tx.put(ROOT, key.as_str(), name.as_str())?;
                Ok(())
            })?;
        }
        self.device_recorded = true;
        Ok(())
    }
}
