//! Timestamps on the wire: RFC 3339 in UTC with milliseconds, as the app's
//! `toISOString()` writes them.

/// `2026-11-25T12:00:00.000Z` for milliseconds since the epoch.
pub fn iso8601(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms.min(i64::MAX as u64) as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_to_iso_string() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::iso8601(1_764_072_000_123),
            "2025-11-25T12:00:00.123Z"
        );
    }
}
