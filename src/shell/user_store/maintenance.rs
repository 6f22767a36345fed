//! The `UserStore` alarm. It is set while the object is in use (any call
//! but the health probe sets one if none is pending) and renews itself
//! while a session is live or a socket is open. Each run deletes revoked
//! and expired sessions, refresh-token history older than a refresh token
//! lives, and expired tickets, then lets the engine drop the sync states of
//! devices unseen for long and compact idle documents.
//!
//! **Invariant:** the user's documents keep every change (history and
//! device attribution live in the documents, never in the rows deleted
//! here).

use super::UserStore;
use crate::api_error::ApiError;
use crate::auth::{profile, sessions};
use crate::shell::clock;
use crate::shell::config::{var_u64, DEFAULT_REFRESH_TTL_SECS};
use crate::shell::maintenance::{Schedule, LEFTOVER_DELAY_MS, MAX_COMPACTIONS_PER_RUN};
use serde::Serialize;

/// The run's log line (counts only).
#[derive(Serialize)]
struct Line {
    #[serde(rename = "type")]
    kind: &'static str,
    object: &'static str,
    sessions_deleted: u64,
    refresh_history_deleted: u64,
    tickets_deleted: u64,
    stale_peers: u64,
    sync_states_deleted: u64,
    documents_compacted: u64,
    next_in_ms: Option<u64>,
}

impl UserStore {
    /// Sets the maintenance alarm if none is pending (checked once per
    /// instance; after that the alarm renews itself).
    pub(super) async fn ensure_alarm(&self) {
        if self.alarm_set.get() {
            return;
        }
        let storage = self.state.storage();
        let pending = match storage.get_alarm().await {
            Ok(Some(_)) => true,
            Ok(None) => {
                let interval = Schedule::load(&self.env).interval_ms;
                storage.set_alarm(interval as i64).await.is_ok()
            }
            Err(_) => false,
        };
        self.alarm_set.set(pending);
    }

    /// One maintenance run; renews the alarm while the object is in use.
    pub(super) async fn maintain(&self) -> Result<(), ApiError> {
        let schedule = Schedule::load(&self.env);
        let now = clock::now_ms();
        self.alarm_set.set(false);
        if profile::profile(&self.db)?.is_none() {
            return Ok(()); // erased, or never held an account
        }
        let refresh_ttl_ms = var_u64(
            &self.env,
            "REFRESH_TOKEN_TTL_SECS",
            DEFAULT_REFRESH_TTL_SECS,
        ) * 1000;
        let swept = sessions::sweep(&self.db, now, refresh_ttl_ms)?;
        let done = self.with_engine(|e| {
            e.maintain(
                now,
                schedule.stale_peer_ms,
                schedule.compact_idle_ms,
                MAX_COMPACTIONS_PER_RUN,
            )
            .map_err(ApiError::from)
        })?;
        let in_use = sessions::live(&self.db)? > 0 || !self.state.get_websockets().is_empty();
        let next_in_ms = match (done.more_to_compact, in_use) {
            (true, _) => Some(LEFTOVER_DELAY_MS.min(schedule.interval_ms)),
            (false, true) => Some(schedule.interval_ms),
            (false, false) => None,
        };
        if let Some(ms) = next_in_ms {
            self.state
                .storage()
                .set_alarm(ms as i64)
                .await
                .map_err(ApiError::internal)?;
            self.alarm_set.set(true);
        }
        let line = Line {
            kind: "maintenance",
            object: "UserStore",
            sessions_deleted: swept.sessions,
            refresh_history_deleted: swept.refresh_history,
            tickets_deleted: swept.tickets,
            stale_peers: done.stale_peers,
            sync_states_deleted: done.sync_states_deleted,
            documents_compacted: done.documents_compacted,
            next_in_ms,
        };
        if let Ok(text) = serde_json::to_string(&line) {
            worker::console_log!("{text}");
        }
        Ok(())
    }
}
