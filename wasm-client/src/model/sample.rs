//! The app's bundled sample decks (`sampleMarkdownDecks`): fixed ids on
//! every device, seeded as `mdoc_<id>` keys with no index entry, so their
//! names live only in the app's bundle.

use super::limits::{self, check_len, check_required};
use super::{ModelError, Validate};
use serde_json::Value;

/// One bundled sample deck, as the app lists it (its other fields, such as
/// `author` and `difficulty`, are not needed here).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleDeck {
    /// The fixed id (`math-basics`, ...).
    pub id: String,
    /// The name the app shows.
    pub name: String,
    /// The description the app shows.
    pub description: String,
    /// An emoji, when the list has one (the app's has none: it shows 📚).
    pub emoji: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The markdown the app seeds: the shared first version of the deck on
    /// every device.
    pub markdown: String,
}

impl SampleDeck {
    /// The app's list (a JSON array of sample objects), checked. Read by
    /// hand rather than by a serde derive: the browser wasm stays smaller.
    pub fn list_from_json(list: &Value) -> Result<Vec<SampleDeck>, ModelError> {
        let shape = |reason: &str| ModelError::Shape {
            what: "samples",
            reason: reason.into(),
        };
        let items = list.as_array().ok_or_else(|| shape("not an array"))?;
        limits::check_count("samples", items.len())?;
        let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
        items
            .iter()
            .map(|v| {
                let (Some(id), Some(markdown)) = (v["id"].as_str(), v["markdown"].as_str()) else {
                    return Err(shape("each sample needs a string id and markdown"));
                };
                let sample = SampleDeck {
                    id: id.to_string(),
                    name: text(v, "name"),
                    description: text(v, "description"),
                    emoji: v["emoji"].as_str().map(str::to_string),
                    tags: v["tags"]
                        .as_array()
                        .map(|t| {
                            t.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    markdown: markdown.to_string(),
                };
                sample.validate()?;
                Ok(sample)
            })
            .collect()
    }
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
