//! A MyFlashPlay deck (`Deck` in the app's `flashcard.types.ts`) plus its
//! markdown, the source the app parses cards from.

use super::limits::{self, check_count, check_len, check_required};
use super::{ModelError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A deck. `cards` are kept as the app wrote them: they are derived from the
/// markdown by the app's parser, so the core stores them without
/// interpreting them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deck {
    /// The app's deck id (a UUID in practice).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text under the title.
    #[serde(default)]
    pub description: String,
    /// One emoji shown with the name.
    #[serde(default)]
    pub emoji: String,
    /// The parsed cards, as the app stored them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cards: Option<Vec<Value>>,
    /// The deck's markdown (`mdoc_<id>` in localStorage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// Dates, counts, tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<DeckMetadata>,
    /// How the deck is studied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<DeckSettings>,
    /// Fields this version does not know, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Deck.metadata`. Every field is optional here: decks imported from
/// markdown alone carry only some of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeckMetadata {
    /// ISO timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// ISO timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// ISO timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_played: Option<String>,
    /// Games played with this deck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_count: Option<u64>,
    /// Where the deck came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DeckSource>,
    /// The markdown the deck was imported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_markdown: Option<String>,
    /// Free tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The deck's level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<DeckDifficulty>,
    /// Minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_time: Option<f64>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Deck.metadata.source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeckSource {
    /// From a file or markdown.
    Imported,
    /// Written in the app.
    Created,
    /// From a built-in template.
    Template,
}

/// `Deck.metadata.difficulty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeckDifficulty {
    /// For starters.
    Beginner,
    /// Middle.
    Intermediate,
    /// Hard.
    Advanced,
}

/// `Deck.settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeckSettings {
    /// Shuffle before playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_cards: Option<bool>,
    /// Ask missed cards again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_incorrect: Option<bool>,
    /// Order of study.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_mode: Option<StudyMode>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Deck.settings.studyMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StudyMode {
    /// In order.
    Sequential,
    /// Shuffled.
    Random,
    /// By the spaced-repetition schedule.
    Spaced,
}

impl Validate for Deck {
    fn validate(&self) -> Result<(), ModelError> {
        check_required("deck.id", &self.id, limits::MAX_ID_BYTES)?;
        check_len("deck.name", &self.name, limits::MAX_SHORT_BYTES)?;
        check_len(
            "deck.description",
            &self.description,
            limits::MAX_TEXT_BYTES,
        )?;
        check_len("deck.emoji", &self.emoji, limits::MAX_SHORT_BYTES)?;
        if let Some(md) = &self.markdown {
            check_len("deck.markdown", md, limits::MAX_MARKDOWN_BYTES)?;
        }
        if let Some(cards) = &self.cards {
            check_count("deck.cards", cards.len())?;
        }
        if let Some(m) = &self.metadata {
            for (field, v) in [
                ("deck.metadata.createdAt", &m.created_at),
                ("deck.metadata.lastModified", &m.last_modified),
                ("deck.metadata.lastPlayed", &m.last_played),
            ] {
                if let Some(s) = v {
                    check_len(field, s, limits::MAX_SHORT_BYTES)?;
                }
            }
            if let Some(md) = &m.original_markdown {
                check_len(
                    "deck.metadata.originalMarkdown",
                    md,
                    limits::MAX_MARKDOWN_BYTES,
                )?;
            }
            if let Some(tags) = &m.tags {
                check_count("deck.metadata.tags", tags.len())?;
                tags.iter().try_for_each(|t| {
                    check_len("deck.metadata.tags[]", t, limits::MAX_SHORT_BYTES)
                })?;
            }
            if let Some(t) = m.estimated_time {
                limits::check_number("deck.metadata.estimatedTime", t, 1e9)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse;
    use serde_json::json;

    #[test]
    fn full_deck_round_trips_unknown_fields() {
        let v = json!({
            "id": "d1", "name": "Math", "description": "", "emoji": "➕",
            "cards": [{"id": "c1", "front": "2+2", "back": "4", "type": "simple", "future": 1}],
            "metadata": {"createdAt": "2026-10-04T11:48:00.000Z", "lastModified": "2026-10-04T11:48:00.000Z",
                         "playCount": 2, "source": "created", "tags": ["a"], "difficulty": "beginner",
                         "estimatedTime": 5, "color": "red"},
            "settings": {"shuffleCards": true, "repeatIncorrect": false, "studyMode": "spaced"},
            "folder": "school"
        });
        let deck: Deck = parse("deck", &v).unwrap();
        assert_eq!(deck.extra["folder"], "school");
        let back = serde_json::to_value(&deck).unwrap();
        assert_eq!(back["metadata"]["color"], "red");
        assert_eq!(back["folder"], "school");
        assert_eq!(back["cards"], v["cards"]);
    }

    #[test]
    fn refuses_bad_enum_empty_id_and_huge_markdown() {
        let bad_enum = json!({"id": "d", "name": "n", "settings": {"studyMode": "sideways"}});
        assert!(matches!(
            parse::<Deck>("deck", &bad_enum),
            Err(ModelError::Shape { .. })
        ));
        let empty = json!({"id": "", "name": "n"});
        assert!(matches!(
            parse::<Deck>("deck", &empty),
            Err(ModelError::Empty { .. })
        ));
        let big =
            json!({"id": "d", "name": "n", "markdown": "x".repeat(limits::MAX_MARKDOWN_BYTES + 1)});
        assert!(matches!(
            parse::<Deck>("deck", &big),
            Err(ModelError::TooLong { .. })
        ));
    }
}
