//! Limits on user data, from docs/api.md and common sense: they keep one
//! document within its budget (docs/design.md §3) and refuse absurd input early.

use super::ModelError;
use serde_json::Value;

/// Deck markdown, bytes (docs/api.md).
pub const MAX_MARKDOWN_BYTES: usize = 256 * 1024;
/// Decks per user (docs/api.md).
pub const MAX_DECKS: usize = 2_000;
/// Ids: deck, card, session, achievement, public deck ids.
pub const MAX_ID_BYTES: usize = 128;
/// Names, emoji, enum-like strings, timestamps.
pub const MAX_SHORT_BYTES: usize = 256;
/// Descriptions and other free text.
pub const MAX_TEXT_BYTES: usize = 4 * 1024;
/// Any string inside a JSON value we store as given (e.g. cards).
pub const MAX_JSON_STRING_BYTES: usize = 256 * 1024;
/// Nesting of stored JSON values.
pub const MAX_JSON_DEPTH: usize = 16;
/// Cards in one deck, tags on a deck, results in one session.
pub const MAX_ITEMS: usize = 10_000;

/// Refuses an empty string or one over `max` bytes.
pub fn check_required(field: &str, s: &str, max: usize) -> Result<(), ModelError> {
    if s.is_empty() {
        return Err(ModelError::Empty {
            field: field.into(),
        });
    }
    check_len(field, s, max)
}

/// Refuses a string over `max` bytes.
pub fn check_len(field: &str, s: &str, max: usize) -> Result<(), ModelError> {
    if s.len() > max {
        return Err(ModelError::TooLong {
            field: field.into(),
            len: s.len(),
            max,
        });
    }
    Ok(())
}

/// Refuses a collection over [`MAX_ITEMS`].
pub fn check_count(what: &str, count: usize) -> Result<(), ModelError> {
    if count > MAX_ITEMS {
        return Err(ModelError::TooMany {
            what: what.into(),
            count,
            max: MAX_ITEMS,
        });
    }
    Ok(())
}

/// Refuses a number that is not finite or not in `0..=max`.
pub fn check_number(field: &str, n: f64, max: f64) -> Result<(), ModelError> {
    if !n.is_finite() || !(0.0..=max).contains(&n) {
        return Err(ModelError::OutOfRange {
            field: field.into(),
        });
    }
    Ok(())
}

/// A finite number within `-max..=max`.
pub fn check_signed(field: &str, n: f64, max: f64) -> Result<(), ModelError> {
    if !n.is_finite() || !(-max..=max).contains(&n) {
        return Err(ModelError::OutOfRange {
            field: field.into(),
        });
    }
    Ok(())
}

/// Bounds any JSON value: depth, string sizes and collection sizes, so a
/// value kept as given (unknown fields, cards) cannot blow a document up.
pub fn check_json(field: &str, v: &Value, depth: usize) -> Result<(), ModelError> {
    if depth > MAX_JSON_DEPTH {
        return Err(ModelError::TooDeep {
            field: field.into(),
        });
    }
    match v {
        Value::String(s) => check_len(field, s, MAX_JSON_STRING_BYTES),
        Value::Array(a) => {
            check_count(field, a.len())?;
            a.iter().try_for_each(|x| check_json(field, x, depth + 1))
        }
        Value::Object(m) => {
            check_count(field, m.len())?;
            m.iter().try_for_each(|(k, x)| {
                check_len(field, k, MAX_SHORT_BYTES)?;
                check_json(field, x, depth + 1)
            })
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}
