//! The app's bundled sample decks (`sampleMarkdownDecks`): fixed ids on
//! every device, seeded as `mdoc_<id>` keys with no index entry, so their
//! names live only in the app's bundle.

use super::limits::{self, check_len, check_required};
use super::{ModelError, Validate};
use serde::Deserialize;

/// One bundled sample deck, as the app lists it (its other fields, such as
/// `author` and `difficulty`, are not needed here).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SampleDeck {
    /// The fixed id (`math-basics`, ...).
    pub id: String,
    /// The name the app shows.
    pub name: String,
    /// The description the app shows.
    #[serde(default)]
    pub description: String,
    /// An emoji, when the list has one (the app's has none: it shows 📚).
    #[serde(default)]
    pub emoji: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The markdown the app seeds: the shared first version of the deck on
    /// every device.
    pub markdown: String,
}

impl Validate for SampleDeck {
    fn validate(&self) -> Result<(), ModelError> {
        check_required("sample.id", &self.id, limits::MAX_ID_BYTES)?;
        check_len("sample.name", &self.name, limits::MAX_SHORT_BYTES)?;
        check_len(
            "sample.description",
            &self.description,
            limits::MAX_TEXT_BYTES,
        )?;
        check_len(
            "sample.markdown",
            &self.markdown,
            limits::MAX_MARKDOWN_BYTES,
        )?;
        limits::check_count("sample.tags", self.tags.len())
    }
}
