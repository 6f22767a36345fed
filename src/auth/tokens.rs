//! Access tokens: JWT HS256 with `JWT_SECRET`, algorithm pinned, claims
//! `iss`, `aud`, `sub`, `sid`, `iat`, `exp`. Time is passed in: the check of
//! `exp` is ours, so the same code runs natively and in the Worker.
//!
//! Key rotation: the header's `kid` names the key that signed the token
//! (derived from the key itself, so it changes with the key and needs no
//! configuration). [`Keys`] signs with the current key and accepts the
//! current and the previous one (`JWT_SECRET_PREVIOUS`), so rotating the
//! key logs nobody out; a `kid` naming neither is refused. A token without
//! `kid` (issued before key ids existed) is tried against both keys.

use super::{AuthError, SessionId, UserId};
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

impl Claims {
    /// The user and session the token names (a token we signed always
    /// names valid ones; anything else is an invalid token).
    pub fn ids(&self) -> Result<(UserId, SessionId), AuthError> {
        Ok((
            UserId::parse(&self.sub).ok_or(AuthError::InvalidToken)?,
            SessionId::parse(&self.sid).ok_or(AuthError::InvalidToken)?,
        ))
    }
}

/// A signing secret with its key id, checked once per request.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
    kid: String,
}

impl Secret {
    /// Refuses a missing or short secret: the Worker must not issue tokens
    /// anyone could forge.
    pub fn new(secret: Option<&str>) -> Result<Self, AuthError> {
        match secret {
            Some(s) if s.len() >= MIN_SECRET_LEN => Ok(Self {
                key: s.as_bytes().to_vec(),
                kid: key_id(s.as_bytes()),
            }),
            _ => Err(AuthError::Misconfigured(format!(
                "JWT_SECRET is missing or shorter than {MIN_SECRET_LEN} characters"
            ))),
        }
    }

    /// The key id written in the `kid` of the tokens this key signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// 16 hex digits of a hash of the key: names the key without revealing it.
fn key_id(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"myflashplay-jwt-kid-v1:");
    h.update(key);
    crate::hex::encode(&h.finalize()[..8])
}

/// The keys in use: tokens are signed with `current`; `previous` (the key
/// before the last rotation) is still accepted.
#[derive(Clone)]
pub struct Keys {
    /// Signs and verifies.
    pub current: Secret,
    /// Only verifies.
    pub previous: Option<Secret>,
}

impl Keys {
    /// `JWT_SECRET` and, if set and not empty, `JWT_SECRET_PREVIOUS`; both
    /// must be long enough.
    pub fn new(current: Option<&str>, previous: Option<&str>) -> Result<Self, AuthError> {
        let current = Secret::new(current)?;
        let previous = match previous.map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(Secret::new(Some(p)).map_err(|_| {
                AuthError::Misconfigured(format!(
                    "JWT_SECRET_PREVIOUS is shorter than {MIN_SECRET_LEN} characters"
                ))
            })?),
        };
        Ok(Self { current, previous })
    }

    /// The keys a token's `kid` allows: the one it names, or both when it
    /// names none.
    fn candidates(&self, kid: Option<&str>) -> Vec<&Secret> {
        let all = std::iter::once(&self.current).chain(self.previous.as_ref());
        match kid {
            Some(k) => all.filter(|s| s.kid == k).collect(),
            None => all.collect(),
        }
    }
}

impl From<Secret> for Keys {
    fn from(current: Secret) -> Self {
        Self {
            current,
            previous: None,
        }
    }
}

/// Signs an access token for a user's session valid for `ttl_secs` from
/// `now_secs`.
pub fn issue(
    secret: &Secret,
    user: UserId,
    session: &SessionId,
    now_secs: u64,
    ttl_secs: u64,
) -> Result<(String, Claims), AuthError> {
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: user.to_string(),
        sid: session.as_str().into(),
        iat: now_secs,
        exp: now_secs + ttl_secs,
    };
    super::hs256::install();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(secret.kid.clone());
    let token = encode(&header, &claims, &EncodingKey::from_secret(&secret.key))
        .map_err(|e| AuthError::Internal(format!("jwt encode: {e}")))?;
    Ok((token, claims))
}

/// Verifies key id, signature, algorithm, issuer, audience and expiry.
pub fn verify(keys: &Keys, token: &str, now_secs: u64) -> Result<Claims, AuthError> {
    if token.len() > 4096 {
        return Err(AuthError::InvalidToken);
    }
    super::hs256::install();
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
    let mut outcome = Err(AuthError::InvalidToken);
    for secret in keys.candidates(header.kid.as_deref()) {
        outcome = verify_with(secret, token, now_secs);
        if outcome.is_ok() {
            break;
        }
    }
    outcome
}

fn verify_with(secret: &Secret, token: &str, now_secs: u64) -> Result<Claims, AuthError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // `exp` is checked below against the time we were given.
    v.validate_exp = false;
    let data = decode::<Claims>(token, &DecodingKey::from_secret(&secret.key), &v)
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

    fn user() -> UserId {
        UserId::new(1_700_000_000_000, [1; 10])
    }

    fn session() -> SessionId {
        SessionId::new([2; 16])
    }

    const K1: &str = "0123456789abcdef0123456789abcdef";
    const K2: &str = "fedcba9876543210fedcba9876543210-new";

    fn secret() -> Secret {
        Secret::new(Some(K1)).unwrap()
    }

    fn keys() -> Keys {
        secret().into()
    }

    #[test]
    fn tokens_name_their_key_and_rotation_keeps_them_valid() {
        let old = secret();
        let (t, c) = issue(&old, user(), &session(), 1000, 900).unwrap();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.kid.as_deref(), Some(old.kid()));
        assert_eq!(old.kid().len(), 16);
        assert!(!old.kid().contains("0123"));

        let rotated = Keys::new(Some(K2), Some(K1)).unwrap();
        assert_ne!(rotated.current.kid(), old.kid());
        assert_eq!(
            verify(&rotated, &t, 1001).unwrap(),
            c,
            "previous key accepted"
        );
        let (t2, _) = issue(&rotated.current, user(), &session(), 1000, 900).unwrap();
        assert!(verify(&rotated, &t2, 1001).is_ok());

        // Once the previous key is removed, its tokens are refused.
        let only_new = Keys::new(Some(K2), Some("  ")).unwrap();
        assert!(only_new.previous.is_none());
        assert!(matches!(
            verify(&only_new, &t, 1001),
            Err(AuthError::InvalidToken)
        ));
        assert!(verify(&only_new, &t2, 1001).is_ok());
        assert!(Keys::new(Some(K2), Some("short")).is_err());
    }

    fn sign_with_header(header: Header, key: &str) -> String {
        let c = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "u".into(),
            sid: "s".into(),
            iat: 1,
            exp: 10_000,
        };
        super::super::hs256::install();
        encode(&header, &c, &EncodingKey::from_secret(key.as_bytes())).unwrap()
    }

    #[test]
    fn an_unknown_kid_is_refused_even_with_a_valid_signature() {
        let keys = Keys::new(Some(K2), Some(K1)).unwrap();
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("0000000000000000".into());
        assert!(matches!(
            verify(&keys, &sign_with_header(h, K2), 2),
            Err(AuthError::InvalidToken)
        ));
        // A kid naming one key with the other key's signature: refused.
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(keys.current.kid().to_owned());
        assert!(verify(&keys, &sign_with_header(h, K1), 2).is_err());
        // No kid (tokens from before key ids): either key verifies.
        for k in [K1, K2] {
            let t = sign_with_header(Header::new(Algorithm::HS256), k);
            assert!(verify(&keys, &t, 2).is_ok());
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let (t, c) = issue(&secret(), user(), &session(), 1000, 900).unwrap();
        assert_eq!(verify(&keys(), &t, 1899).unwrap(), c);
        assert!(matches!(
            verify(&keys(), &t, 1900),
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
        let (t, _) = issue(&secret(), user(), &session(), 1000, 900).unwrap();
        let other = Secret::new(Some("another-secret-another-secret-xx")).unwrap();
        assert!(matches!(
            verify(&other.into(), &t, 1001),
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
                verify(&keys(), &t, 2),
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
        assert!(verify(&keys(), &mk(ISSUER, "other"), 2).is_err());
        assert!(verify(&keys(), &mk("other", AUDIENCE), 2).is_err());
        assert!(verify(&keys(), &mk(ISSUER, AUDIENCE), 2).is_ok());
    }

    #[test]
    fn garbage_fails() {
        for t in ["", "a.b.c", "....", &"x".repeat(5000)] {
            assert!(verify(&keys(), t, 2).is_err());
        }
    }
}
