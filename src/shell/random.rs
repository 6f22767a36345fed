//! Randomness for the shell (the sans-IO core takes bytes, never draws them).

use super::http;
use crate::api_error::ApiError;

/// `N` bytes from the platform CSPRNG (`crypto.getRandomValues`).
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(http::internal)?;
    Ok(buf)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}
