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

use super::sync::store_error;
use super::UserStore;
use crate::api_error::ApiError;
use crate::shell::config::{var_u64, DEFAULT_REFRESH_TTL_SECS};
use crate::shell::http;
use crate::shell::maintenance::{Schedule, LEFTOVER_DELAY_MS, MAX_COMPACTIONS_PER_RUN};
use crate::shell::random;
use serde::Serialize;

/// The run's log line (counts only).
#[derive(Serialize)]
struct Line {
    #[serde(rename = "type")]
    kind: &'static str,
    object: &'static str,
    sessions_deleted: usize,
    refresh_history_deleted: usize,
    tickets_deleted: usize,
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
        let now = random::now_ms();
        self.alarm_set.set(false);
        if self.profile_row()?.is_none() {
            return Ok(()); // erased, or never held an account
        }
        let refresh_ttl_ms = var_u64(
            &self.env,
            "REFRESH_TOKEN_TTL_SECS",
            DEFAULT_REFRESH_TTL_SECS,
        ) * 1000;
        let now_i = now as i64;
        let sessions_deleted = self.delete(
            "DELETE FROM sessions WHERE revoked_at IS NOT NULL OR refresh_expires_at <= ?",
            vec![now_i.into()],
        )?;
        let refresh_history_deleted = self.delete(
            "DELETE FROM refresh_history WHERE rotated_at <= ?
               OR session_id NOT IN (SELECT session_id FROM sessions)",
            vec![(now.saturating_sub(refresh_ttl_ms) as i64).into()],
        )?;
        let tickets_deleted = self.delete(
            "DELETE FROM tickets WHERE expires_at <= ?
               OR session_id NOT IN (SELECT session_id FROM sessions)",
            vec![now_i.into()],
        )?;
        let done = self.with_engine(|e| {
            e.maintain(
                now,
                schedule.stale_peer_ms,
                schedule.compact_idle_ms,
                MAX_COMPACTIONS_PER_RUN,
            )
            .map_err(store_error)
        })?;
        let in_use = self.live_sessions()? > 0 || !self.state.get_websockets().is_empty();
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
                .map_err(http::internal)?;
            self.alarm_set.set(true);
        }
        let line = Line {
            kind: "maintenance",
            object: "UserStore",
            sessions_deleted,
            refresh_history_deleted,
            tickets_deleted,
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

    fn delete(&self, sql: &str, args: Vec<worker::SqlStorageValue>) -> Result<usize, ApiError> {
        self.sql
            .exec(sql, args)
            .map(|c| c.rows_written())
            .map_err(http::internal)
    }

    fn live_sessions(&self) -> Result<u64, ApiError> {
        self.count(
            "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL",
            vec![],
        )
    }
}
