//! `UserPreferences` from the app's `storage.types.ts`. Every field is
//! optional: preferences are edited one path at a time and a fresh account
//! has none, so the typed form is the partial one.

use super::limits::{self, check_len};
use super::{ModelError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The player's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPreferences {
    /// The app's storage version ("1.0.0").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Light, dark or auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<Theme>,
    /// Colour palette.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_scheme: Option<ColorScheme>,
    /// Sounds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound_enabled: Option<bool>,
    /// Animations on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animations_enabled: Option<bool>,
    /// Text size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_size: Option<FontSize>,
    /// BCP-47 tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Accessibility switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessibility: Option<Accessibility>,
    /// Game switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_settings: Option<GameSettings>,
    /// ISO timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `UserPreferences.theme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Follow the system.
    Auto,
}

/// `UserPreferences.colorScheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColorScheme {
    /// Rainbow.
    Rainbow,
    /// Ocean.
    Ocean,
    /// Space.
    Space,
    /// Forest.
    Forest,
}

/// `UserPreferences.fontSize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FontSize {
    /// Small.
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
    /// Extra large (the app's accessibility panel writes it, though its
    /// type does not name it).
    ExtraLarge,
}

/// `UserPreferences.accessibility`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accessibility {
    /// High contrast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_contrast: Option<bool>,
    /// Less motion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduced_motion: Option<bool>,
    /// Screen-reader friendly layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_reader_mode: Option<bool>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `UserPreferences.gameSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GameSettings {
    /// Default level of new games.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_difficulty: Option<Difficulty>,
    /// Offer hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_hints: Option<bool>,
    /// Go to the next card by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_advance: Option<bool>,
    /// Warn when time runs out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_warning: Option<bool>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A game level (`gameSettings.defaultDifficulty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Difficulty {
    /// Easy.
    Easy,
    /// Medium.
    Medium,
    /// Hard.
    Hard,
}

impl Validate for UserPreferences {
    fn validate(&self) -> Result<(), ModelError> {
        for (field, v) in [
            ("preferences.version", &self.version),
            ("preferences.language", &self.language),
            ("preferences.lastUpdated", &self.last_updated),
        ] {
            if let Some(s) = v {
                check_len(field, s, limits::MAX_SHORT_BYTES)?;
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
    fn partial_preferences_are_fine_bad_enums_are_not() {
        let p: UserPreferences = parse(
            "preferences",
            &json!({"gameSettings": {"showHints": false}}),
        )
        .unwrap();
        assert_eq!(p.game_settings.unwrap().show_hints, Some(false));
        assert!(parse::<UserPreferences>("preferences", &json!({"theme": "neon"})).is_err());
        assert!(parse::<UserPreferences>("preferences", &json!({"soundEnabled": "yes"})).is_err());
    }
}
