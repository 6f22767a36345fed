//! Server-side password hashing: argon2id (PHC string, random salt) over
//! the client's prehash. The server never sees a password.

use super::AuthError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (docs/design.md §7).
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// A hash of a random value made with the same parameters: logins for an
/// unknown email verify against it, so they cost what a wrong password costs.
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$bXlmbGFzaHBsYXktZHVtbXk$3ZyWk6Yb6JqV4yiTnB8s6m0kqQ7GdQ2b8xX3pH1s1ZQ";

/// A validated client prehash (43 base64url characters). Crosses from the
/// Worker to the `Account` object as its text, checked again on arrival.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Prehash(String);

impl TryFrom<String> for Prehash {
    type Error = AuthError;
    fn try_from(s: String) -> Result<Self, AuthError> {
        Self::parse(&s)
    }
}

impl From<Prehash> for String {
    fn from(p: Prehash) -> Self {
        p.0
    }
}

impl Prehash {
    /// Accepts exactly what docs/api.md calls a prehash, nothing else.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        if myflashplay_client::prehash::is_prehash(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(AuthError::Validation(
                "password must be the 43-character base64url client prehash".into(),
            ))
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Prehash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prehash(..)")
    }
}

fn hasher() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(32))
        .map_err(|e| AuthError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string stored for an account; `salt` is 16 random bytes.
pub fn hash(prehash: &Prehash, salt: &[u8; 16]) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(salt)
        .map_err(|e| AuthError::Internal(format!("argon2 salt: {e}")))?;
    hasher()?
        .hash_password(prehash.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2 hash: {e}")))
}

/// True when `prehash` matches the stored PHC string. A malformed stored
/// string verifies as false rather than failing the request.
pub fn verify(phc: &str, prehash: &Prehash) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    match hasher() {
        Ok(h) => h.verify_password(prehash.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(s: &str) -> Prehash {
        Prehash::parse(&myflashplay_client::prehash::prehash("a@b.co", s).unwrap()).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let phc = hash(&pre("pw"), &[9; 16]).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(&phc, &pre("pw")));
        assert!(!verify(&phc, &pre("other")));
    }

    #[test]
    fn dummy_hash_parses_with_the_same_parameters_and_matches_nothing() {
        let parsed = PasswordHash::new(DUMMY_PHC).unwrap();
        let real = hash(&pre("pw"), &[1; 16]).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.params, real.params);
        assert!(!verify(DUMMY_PHC, &pre("pw")));
    }

    #[test]
    fn prehash_shape_is_enforced() {
        assert!(Prehash::parse("hunter2").is_err());
        assert!(Prehash::parse(&"a".repeat(44)).is_err());
        assert!(!verify("not a phc", &pre("pw")));
    }
}
