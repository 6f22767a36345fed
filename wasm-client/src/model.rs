//! The MyFlashPlay data model: the app's own localStorage shapes (camelCase
//! on the wire), parsed and checked at the edge.
//!
//! Every struct keeps the fields it does not know in `extra`, so a value read
//! from the app and written back loses nothing. Parsing goes through
//! [`parse`], which runs serde (types and enums) and then the limits of
//! [`limits`]; a bad value is a [`ModelError`], never a panic.

mod achievement;
mod deck;
mod error;
pub mod limits;
mod preferences;
mod progress;
mod sample;
mod session;
pub mod timestamp;

pub use achievement::AchievementProgress;
pub use deck::{Deck, DeckDifficulty, DeckMetadata, DeckSettings, DeckSource, StudyMode};
pub use error::ModelError;
pub use preferences::{
    Accessibility, ColorScheme, Difficulty, FontSize, GameSettings, Theme, UserPreferences,
};
pub use progress::{CardProgress, CardStats, SpacedRepetition, Stage};
pub use sample::SampleDeck;
pub use session::{Bonus, BonusType, CardResult, GameMode, GameSession, Score, SessionDetails};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A model value that can check itself against the limits after serde
/// accepted its shape.
pub trait Validate {
    /// `Ok` when every field is within the limits of [`limits`].
    fn validate(&self) -> Result<(), ModelError>;
}

/// Parses `value` as a `T` (what = its name in errors) and validates it.
pub fn parse<T: DeserializeOwned + Validate>(
    what: &'static str,
    value: &Value,
) -> Result<T, ModelError> {
    limits::check_json(what, value, 0)?;
    let parsed: T = T::deserialize(value).map_err(|e| ModelError::Shape {
        what,
        reason: e.to_string(),
    })?;
    parsed.validate()?;
    Ok(parsed)
}
