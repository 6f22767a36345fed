//! An achievement's progress (`myflashplay_achievements[].achievements[]`).

use super::limits::{self, check_len, check_required};
use super::{ModelError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How far the player is towards one achievement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AchievementProgress {
    /// The achievement (`first-deck`, `streak-5`, ...).
    pub achievement_id: String,
    /// Steps done.
    pub progress: u64,
    /// Steps needed.
    pub max_progress: u64,
    /// ISO timestamp, once unlocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocked_at: Option<String>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Validate for AchievementProgress {
    fn validate(&self) -> Result<(), ModelError> {
        check_required(
            "achievement.achievementId",
            &self.achievement_id,
            limits::MAX_ID_BYTES,
        )?;
        if let Some(at) = &self.unlocked_at {
            check_len("achievement.unlockedAt", at, limits::MAX_SHORT_BYTES)?;
        }
        Ok(())
    }
}
