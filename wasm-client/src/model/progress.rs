//! `CardProgress` from the app's `storage.types.ts`: per-card counts and the
//! SM-2 schedule.

use super::limits::{self, check_len, check_number, check_required};
use super::{ModelError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Progress on one card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardProgress {
    /// The card.
    pub card_id: String,
    /// The deck holding the card.
    pub deck_id: String,
    /// Counts and timings.
    pub stats: CardStats,
    /// The SM-2 schedule.
    pub spaced_repetition: SpacedRepetition,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CardProgress.stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardStats {
    /// Times shown.
    pub views: u64,
    /// Right answers.
    pub correct_count: u64,
    /// Wrong answers.
    pub incorrect_count: u64,
    /// ISO timestamp of the last view.
    pub last_seen: String,
    /// Seconds.
    pub average_response_time: f64,
    /// 0..=100.
    pub confidence: f64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CardProgress.spacedRepetition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpacedRepetition {
    /// Days until the next review.
    pub interval: u64,
    /// SM-2 ease, at least 1.3.
    pub ease_factor: f64,
    /// ISO timestamp.
    pub next_review: String,
    /// Learning stage.
    pub stage: Stage,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `spacedRepetition.stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Fewer than two successful reviews in a row.
    Learning,
    /// Repeating at growing intervals.
    Reviewing,
    /// Interval over 21 days.
    Mastered,
}

impl Stage {
    /// The app's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Learning => "learning",
            Stage::Reviewing => "reviewing",
            Stage::Mastered => "mastered",
        }
    }
}

impl Validate for CardProgress {
    fn validate(&self) -> Result<(), ModelError> {
        check_required("progress.cardId", &self.card_id, limits::MAX_ID_BYTES)?;
        check_required("progress.deckId", &self.deck_id, limits::MAX_ID_BYTES)?;
        check_len(
            "progress.stats.lastSeen",
            &self.stats.last_seen,
            limits::MAX_SHORT_BYTES,
        )?;
        check_number(
            "progress.stats.averageResponseTime",
            self.stats.average_response_time,
            1e9,
        )?;
        check_number("progress.stats.confidence", self.stats.confidence, 100.0)?;
        check_number(
            "progress.spacedRepetition.easeFactor",
            self.spaced_repetition.ease_factor,
            100.0,
        )?;
        check_len(
            "progress.spacedRepetition.nextReview",
            &self.spaced_repetition.next_review,
            limits::MAX_SHORT_BYTES,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse;
    use serde_json::json;

    fn sample() -> Value {
        json!({"cardId": "c", "deckId": "d",
               "stats": {"views": 3, "correctCount": 2, "incorrectCount": 1, "lastSeen": "2026-11-16T13:57:00.000Z",
                         "averageResponseTime": 3.92, "confidence": 67},
               "spacedRepetition": {"interval": 1, "easeFactor": 2.5, "nextReview": "2026-10-02T08:00:00.000Z", "stage": "learning"}})
    }

    #[test]
    fn parses_the_app_shape() {
        let p: CardProgress = parse("progress", &sample()).unwrap();
        assert_eq!(p.stats.views, 3);
        assert_eq!(p.spaced_repetition.stage, Stage::Learning);
    }

    #[test]
    fn refuses_bad_stage_and_confidence() {
        let mut v = sample();
        v["spacedRepetition"]["stage"] = json!("forgotten");
        assert!(parse::<CardProgress>("progress", &v).is_err());
        let mut v = sample();
        v["stats"]["confidence"] = json!(140);
        assert!(matches!(
            parse::<CardProgress>("progress", &v),
            Err(ModelError::OutOfRange { .. })
        ));
        let mut v = sample();
        v["stats"]["views"] = json!(-1);
        assert!(parse::<CardProgress>("progress", &v).is_err());
    }
}
