//! Housekeeping the Durable Object's alarm runs: sync states of devices
//! gone quiet are dropped, and documents that stopped changing are folded
//! into one snapshot.
//!
//! **Invariant:** nothing that history or attribution needs is removed: a
//! sync state is only a hint (a device without one starts its next sync
//! from scratch), and compaction keeps every change (a snapshot is the
//! whole history, compressed).

use super::{int, uint, Engine};
use crate::store::error::StoreError;
use crate::store::sql::{Sql, SqlValue};
use myflashplay_client::sync::PeerId;
use myflashplay_client::DocumentId;

/// A peer's `last_seen_at` is rewritten at most this often.
const SEEN_GRANULARITY_MS: u64 = 3_600_000;

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    /// Peers unseen for the whole retention, forgotten.
    pub stale_peers: u64,
    /// Their sync-state rows deleted.
    pub sync_states_deleted: u64,
    /// Documents rewritten as one snapshot.
    pub documents_compacted: u64,
    /// True when documents past the threshold are left for the next pass.
    pub more_to_compact: bool,
}

impl<S: Sql> Engine<S> {
    /// Records that `peer` sent a message at `now` (throttled).
    pub(super) fn note_peer(&mut self, now: u64, peer: &PeerId) -> Result<(), StoreError> {
        if self
            .seen
            .get(peer)
            .is_some_and(|&at| now.saturating_sub(at) < SEEN_GRANULARITY_MS)
        {
            return Ok(());
        }
        self.sql.exec(
            "INSERT OR REPLACE INTO peers (peer_id, last_seen_at) VALUES (?, ?)",
            &[peer.as_str().into(), int(now)],
        )?;
        self.seen.insert(peer.clone(), now);
        Ok(())
    }

    /// Drops the sync states of peers not seen for `unseen_ms`, then
    /// compacts up to `max_compactions` documents that have more than one
    /// chunk and no change for `idle_ms`.
    pub fn maintain(
        &mut self,
        now: u64,
        unseen_ms: u64,
        idle_ms: u64,
        max_compactions: usize,
    ) -> Result<Maintenance, StoreError> {
        self.flush_hints(None)?;
        let mut done = self.drop_stale_peers(now, unseen_ms)?;
        let cutoff = now.saturating_sub(idle_ms);
        let rows = self.sql.query(
            "SELECT id FROM documents WHERE chunk_count > 1 AND updated_at <= ?
             ORDER BY chunk_count DESC LIMIT ?",
            &[int(cutoff), int(max_compactions as u64 + 1)],
        )?;
        let ids: Vec<DocumentId> = rows
            .iter()
            .filter_map(|r| r.first()?.as_str()?.parse().ok())
            .collect();
        done.more_to_compact = ids.len() > max_compactions;
        for id in ids.into_iter().take(max_compactions) {
            if self.load(&id)? {
                self.compact(now, &id)?;
                done.documents_compacted += 1;
            }
        }
        Ok(done)
    }

    fn drop_stale_peers(&mut self, now: u64, unseen_ms: u64) -> Result<Maintenance, StoreError> {
        // Peers with states from before `peers` existed count from now.
        self.sql.exec(
            "INSERT OR IGNORE INTO peers (peer_id, last_seen_at)
             SELECT DISTINCT peer_id, ? FROM sync_states",
            &[int(now)],
        )?;
        let cutoff = now.saturating_sub(unseen_ms);
        let stale: Vec<PeerId> = self
            .sql
            .query(
                "SELECT peer_id FROM peers WHERE last_seen_at < ?",
                &[int(cutoff)],
            )?
            .iter()
            .filter_map(|r| r.first().and_then(SqlValue::as_str))
            .filter_map(|p| PeerId::new(p.to_owned()).ok())
            .filter(|p| !self.live_peers.contains(p))
            .collect();
        let mut done = Maintenance::default();
        for peer in stale {
            let n = uint(
                self.sql
                    .query(
                        "SELECT COUNT(*) FROM sync_states WHERE peer_id = ?",
                        &[peer.as_str().into()],
                    )?
                    .first()
                    .and_then(|r| r.first()),
            );
            self.sql.transaction(|sql| {
                sql.exec(
                    "DELETE FROM sync_states WHERE peer_id = ?",
                    &[peer.as_str().into()],
                )?;
                sql.exec(
                    "DELETE FROM peers WHERE peer_id = ?",
                    &[peer.as_str().into()],
                )
            })?;
            self.states.retain(|(p, _), _| *p != peer);
            self.hints.retain(|(p, _), _| *p != peer);
            self.seen.remove(&peer);
            done.stale_peers += 1;
            done.sync_states_deleted += n;
        }
        Ok(done)
    }
}
