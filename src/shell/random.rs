//! Randomness for the shell (the sans-IO core takes bytes, never draws them).

use crate::api_error::ApiError;

/// `N` bytes from the platform CSPRNG (`crypto.getRandomValues`).
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(ApiError::internal)?;
    Ok(buf)
}
