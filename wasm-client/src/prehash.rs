//! The client password prehash of docs/api.md: the server never sees a password.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Domain separation for the salt, fixed by the wire contract.
const SALT_PREFIX: &str = "myflashplay-auth-v1:";
/// Memory cost in KiB (19 MiB), iterations and lanes, fixed by the contract.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Length of the raw hash; its base64url form has 43 characters.
const OUTPUT_LEN: usize = 32;

/// Why a prehash could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PrehashError {
    /// The argon2 implementation refused the parameters or input.
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

/// `lowercase(trim(email))`, the form every account lookup uses.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `base64url_nopad(argon2id(password, SHA-256(prefix + normalized email)))`.
pub fn prehash(email: &str, password: &str) -> Result<String, PrehashError> {
    let salt = Sha256::digest(format!("{SALT_PREFIX}{}", normalize_email(email)).as_bytes());
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN))
        .map_err(|e| PrehashError::Argon2(e.to_string()))?;
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .map_err(|e| PrehashError::Argon2(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// True for exactly 43 base64url characters that decode to 32 bytes.
pub fn is_prehash(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|v| v.len() == OUTPUT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors published in docs/api.md, computed there with an independent
    /// argon2 implementation.
    #[test]
    fn api_md_vectors() {
        assert_eq!(
            prehash("a@b.co", "pw").unwrap(),
            "o5Rbp4uv_oY5JqouX0QaO19aTiOnkPBDiglBd--j3Lo"
        );
        assert_eq!(
            prehash(" Ana.Lucia@Example.COM ", "pässwörd 🔑").unwrap(),
            "ffiMl4q7un9CbaPqyIme2pxO2XhoG79Ys8nQ-2NnOBs"
        );
    }

    #[test]
    fn email_is_normalized_before_salting() {
        assert_eq!(
            prehash("  A@B.CO\t", "pw").unwrap(),
            prehash("a@b.co", "pw").unwrap()
        );
    }

    #[test]
    fn shape_check() {
        let p = prehash("a@b.co", "pw").unwrap();
        assert!(is_prehash(&p));
        assert!(!is_prehash("pw"));
        assert!(!is_prehash(&format!("{}=", &p[..42])));
        assert!(!is_prehash(&"+".repeat(43)));
        // 43 chars whose last char carries bits past 256: not canonical.
        assert!(!is_prehash(&format!("{}_", &p[..42])));
    }
}
