//! `GameSession` from the app's `game.types.ts`: one finished game.

use super::limits::{self, check_count, check_len, check_number, check_required};
use super::{timestamp, ModelError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One game played.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GameSession {
    /// Session id (UUID in practice).
    pub id: String,
    /// The deck played.
    pub deck_id: String,
    /// Its name at the time.
    pub deck_name: String,
    /// The game.
    pub mode: GameMode,
    /// ISO timestamp; its month picks the sessions document.
    pub start_time: String,
    /// ISO timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// The result.
    pub score: Score,
    /// Per-card results and bonuses.
    pub details: SessionDetails,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The app's game modes (`falling` is newer than `game.types.ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GameMode {
    /// Flip cards.
    Study,
    /// Multiple choice.
    Quiz,
    /// Against the clock.
    Speed,
    /// Pairs.
    Memory,
    /// Falling answers.
    Falling,
}

/// `GameSession.score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    /// Points earned.
    pub points: i64,
    /// Percent.
    pub accuracy: f64,
    /// Right answers.
    pub correct_answers: u64,
    /// Questions asked.
    pub total_questions: u64,
    /// Current streak at the end.
    pub streak: u64,
    /// Best streak in the game.
    pub best_streak: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GameSession.details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    /// One entry per question.
    #[serde(default)]
    pub card_results: Vec<CardResult>,
    /// Extra points.
    #[serde(default)]
    pub bonuses: Vec<Bonus>,
    /// Free text (`easy`, `medium`, ...).
    #[serde(default)]
    pub difficulty: String,
    /// Hints used in the game.
    #[serde(default)]
    pub hints_used: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One answered card in a game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardResult {
    /// The card.
    pub card_id: String,
    /// Right or wrong.
    pub was_correct: bool,
    /// Seconds.
    pub time_spent: f64,
    /// Tries.
    pub attempts: u64,
    /// A hint was shown.
    pub hint_used: bool,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A bonus in a game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bonus {
    /// Why.
    #[serde(rename = "type")]
    pub kind: BonusType,
    /// How much.
    pub points: i64,
    /// Shown to the player.
    #[serde(default)]
    pub description: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Bonus.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BonusType {
    /// Fast answers.
    Speed,
    /// A streak.
    Streak,
    /// No mistakes.
    Perfect,
    /// No hints used.
    NoHints,
}

impl Validate for GameSession {
    fn validate(&self) -> Result<(), ModelError> {
        check_required("session.id", &self.id, limits::MAX_ID_BYTES)?;
        check_required("session.deckId", &self.deck_id, limits::MAX_ID_BYTES)?;
        check_len("session.deckName", &self.deck_name, limits::MAX_SHORT_BYTES)?;
        timestamp::parse_ms("session.startTime", &self.start_time)?;
        if let Some(end) = &self.end_time {
            check_len("session.endTime", end, limits::MAX_SHORT_BYTES)?;
        }
        if let Some(d) = self.duration {
            check_number("session.duration", d, 1e9)?;
        }
        check_number("session.score.accuracy", self.score.accuracy, 100.0)?;
        check_count(
            "session.details.cardResults",
            self.details.card_results.len(),
        )?;
        check_count("session.details.bonuses", self.details.bonuses.len())?;
        check_len(
            "session.details.difficulty",
            &self.details.difficulty,
            limits::MAX_SHORT_BYTES,
        )?;
        self.details.card_results.iter().try_for_each(|r| {
            check_required(
                "session.details.cardResults[].cardId",
                &r.card_id,
                limits::MAX_ID_BYTES,
            )?;
            check_number("session.details.cardResults[].timeSpent", r.time_spent, 1e9)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse;
    use serde_json::json;

    #[test]
    fn needs_a_real_start_time_and_known_mode() {
        let ok = json!({"id": "s", "deckId": "d", "deckName": "D", "mode": "falling",
            "startTime": "2026-10-28T21:15:00.000Z",
            "score": {"points": 30, "accuracy": 100.0, "correctAnswers": 3, "totalQuestions": 3, "streak": 3, "bestStreak": 3},
            "details": {"cardResults": [], "bonuses": [{"type": "perfect", "points": 50, "description": "x"}], "difficulty": "medium", "hintsUsed": 0}});
        assert!(parse::<GameSession>("session", &ok).is_ok());
        let mut bad = ok.clone();
        bad["startTime"] = json!("yesterday");
        assert!(matches!(
            parse::<GameSession>("session", &bad),
            Err(ModelError::BadTimestamp { .. })
        ));
        let mut bad = ok;
        bad["mode"] = json!("chess");
        assert!(parse::<GameSession>("session", &bad).is_err());
    }
}
