//! The Worker's clock (the sans-IO core takes the time, never reads it).

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}
