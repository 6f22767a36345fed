//! Access tokens: JWT HS256 with `JWT_SECRET`, algorithm pinned, claims
//! `iss`, `aud`, `sub`, `sid`, `iat`, `exp`. Time is passed in: the check of
//! `exp` is ours, so the same code runs natively and in the Worker.

use super::AuthError;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// `iss` of every token we issue.
pub const ISSUER: &str = "myflashplay-sync";
/// `aud` of every token we issue.
pub const AUDIENCE: &str = "myflashplay";
/// The shortest secret we sign with (256 bits of base64 is ~43 chars).
pub const MIN_SECRET_LEN: usize = 32;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer, always [`ISSUER`].
    pub iss: String,
    /// Audience, always [`AUDIENCE`].
    pub aud: String,
    /// The user id (UUID v7).
    pub sub: String,
    /// The session id; the `UserStore` refuses it once revoked.
    pub sid: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
}

/// The signing secret, checked once per request.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Refuses a missing or short secret: the Worker must not issue tokens
    /// anyone could forge.
    pub fn new(secret: Option<&str>) -> Result<Self, AuthError> {
        match secret {
            Some(s) if s.len() >= MIN_SECRET_LEN => Ok(Self(s.as_bytes().to_vec())),
            _ => Err(AuthError::Misconfigured(format!(
                "JWT_SECRET is missing or shorter than {MIN_SECRET_LEN} characters"
            ))),
        }
    }
}

/// Signs an access token for `sub`/`sid` valid for `ttl_secs` from `now_secs`.
pub fn issue(
    secret: &Secret,
    sub: &str,
    sid: &str,
    now_secs: u64,
    ttl_secs: u64,
) -> Result<(String, Claims), AuthError> {
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: sub.into(),
        sid: sid.into(),
        iat: now_secs,
        exp: now_secs + ttl_secs,
    };
    super::hs256::install();
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret.0),
    )
    .map_err(|e| AuthError::Internal(format!("jwt encode: {e}")))?;
    Ok((token, claims))
}

/// Verifies signature, algorithm, issuer, audience and expiry.
pub fn verify(secret: &Secret, token: &str, now_secs: u64) -> Result<Claims, AuthError> {
    if token.len() > 4096 {
        return Err(AuthError::InvalidToken);
    }
    super::hs256::install();
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // `exp` is checked below against the time we were given.
    v.validate_exp = false;
    let data = decode::<Claims>(token, &DecodingKey::from_secret(&secret.0), &v)
        .map_err(|_| AuthError::InvalidToken)?;
    if data.claims.exp <= now_secs {
        return Err(AuthError::TokenExpired);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn secret() -> Secret {
        Secret::new(Some("0123456789abcdef0123456789abcdef")).unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let (t, c) = issue(&secret(), "u1", "s1", 1000, 900).unwrap();
        assert_eq!(verify(&secret(), &t, 1899).unwrap(), c);
        assert!(matches!(
            verify(&secret(), &t, 1900),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn short_or_missing_secret_is_refused() {
        assert!(Secret::new(None).is_err());
        assert!(Secret::new(Some("short")).is_err());
    }

    #[test]
    fn other_secret_fails() {
        let (t, _) = issue(&secret(), "u1", "s1", 1000, 900).unwrap();
        let other = Secret::new(Some("another-secret-another-secret-xx")).unwrap();
        assert!(matches!(
            verify(&other, &t, 1001),
            Err(AuthError::InvalidToken)
        ));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(
            br#"{"iss":"myflashplay-sync","aud":"myflashplay","sub":"u","sid":"s","iat":1,"exp":99999999999}"#,
        );
        for t in [format!("{header}.{body}."), format!("{header}.{body}")] {
            assert!(matches!(
                verify(&secret(), &t, 2),
                Err(AuthError::InvalidToken)
            ));
        }
    }

    #[test]
    fn wrong_audience_or_issuer_fails() {
        let mk = |iss: &str, aud: &str| {
            let c = Claims {
                iss: iss.into(),
                aud: aud.into(),
                sub: "u".into(),
                sid: "s".into(),
                iat: 1,
                exp: 10_000,
            };
            encode(
                &Header::new(Algorithm::HS256),
                &c,
                &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            )
            .unwrap()
        };
        assert!(verify(&secret(), &mk(ISSUER, "other"), 2).is_err());
        assert!(verify(&secret(), &mk("other", AUDIENCE), 2).is_err());
        assert!(verify(&secret(), &mk(ISSUER, AUDIENCE), 2).is_ok());
    }

    #[test]
    fn garbage_fails() {
        for t in ["", "a.b.c", "....", &"x".repeat(5000)] {
            assert!(verify(&secret(), t, 2).is_err());
        }
    }
}
