//! The model layer's one error type.

/// Why a MyFlashPlay value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// serde refused the shape: a missing field, a wrong type or an unknown
    /// enum value.
    #[error("invalid {what}: {reason}")]
    Shape {
        /// What was being parsed ("deck", "preferences", ...).
        what: &'static str,
        /// serde's explanation.
        reason: String,
    },
    /// A string over its limit.
    #[error("{field} is too long ({len} > {max})")]
    TooLong {
        /// The field.
        field: String,
        /// Its length (bytes).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required string is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field.
        field: String,
    },
    /// Too many items in a collection.
    #[error("too many {what} ({count} > {max})")]
    TooMany {
        /// The collection.
        what: String,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A JSON value nested deeper than the limit.
    #[error("{field} is nested too deeply")]
    TooDeep {
        /// The field.
        field: String,
    },
    /// Not an ISO-8601 UTC timestamp (`2026-10-04T11:48:00.000Z`).
    #[error("{field} is not an ISO-8601 UTC timestamp: {value:?}")]
    BadTimestamp {
        /// The field.
        field: String,
        /// The refused text (cut to 40 characters).
        value: String,
    },
    /// A number outside its range.
    #[error("{field} is out of range")]
    OutOfRange {
        /// The field.
        field: String,
    },
}
