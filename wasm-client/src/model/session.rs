//! `GameSession` from the app's `game.types.ts`: one finished game.

use super::limits::{self, check_count, check_len, check_number, check_required, check_signed};
use super::{timestamp, ModelError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

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

/// `GameSession.score`. The numbers are kept as the app wrote them: its
/// speed mode writes `-1` or `null` (from `-Infinity`) streaks, its memory
/// mode accuracies up to 200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    /// Points earned.
    pub points: Option<Number>,
    /// Percent.
    pub accuracy: Option<Number>,
    /// Right answers.
    pub correct_answers: Option<Number>,
    /// Questions asked.
    pub total_questions: Option<Number>,
    /// Current streak at the end.
    pub streak: Option<Number>,
    /// Best streak in the game.
    pub best_streak: Option<Number>,
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
        let sc = &self.score;
        for (field, v) in [
            ("session.score.points", &sc.points),
            ("session.score.accuracy", &sc.accuracy),
            ("session.score.correctAnswers", &sc.correct_answers),
            ("session.score.totalQuestions", &sc.total_questions),
            ("session.score.streak", &sc.streak),
            ("session.score.bestStreak", &sc.best_streak),
        ] {
            if let Some(n) = v {
                check_signed(field, n.as_f64().unwrap_or(f64::NAN), 1e12)?;
            }
        }
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

    #[test]
    fn takes_the_numbers_the_app_really_writes() {
        let speed = json!({"id": "s", "deckId": "d", "deckName": "D", "mode": "speed",
            "startTime": "2026-10-28T21:15:00.000Z",
            "score": {"points": 0, "accuracy": 0, "correctAnswers": 0, "totalQuestions": 0, "streak": null, "bestStreak": -1},
            "details": {"cardResults": [{"cardId": "c", "wasCorrect": true, "timeSpent": 1.5, "attempts": 1, "hintUsed": false, "speedBonus": 3}],
                        "bonuses": [], "difficulty": "speed", "hintsUsed": 0}});
        let parsed = parse::<GameSession>("session", &speed).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), speed);
        let mut memory = speed;
        memory["mode"] = json!("memory");
        memory["score"]["accuracy"] = json!(200);
        memory["wasCompleted"] = json!(true);
        memory["moves"] = json!(4);
        assert!(parse::<GameSession>("session", &memory).is_ok());
    }
}
