//! jsonwebtoken's cryptography for the one algorithm we sign and accept:
//! HS256, over `hmac` and the `sha2` Automerge already links. jsonwebtoken's
//! bundled `rust_crypto` provider would also link RSA, P-256, P-384 and
//! Ed25519 (about 0.25 MB of the Worker's wasm) that no token of ours uses.
//! Every other algorithm is refused here too, not only by `Validation`.

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use sha2::Sha256;
use std::sync::Once;

/// An HMAC-SHA256 key, ready to sign or verify.
struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(alg: &Algorithm, family: AlgorithmFamily, key: &[u8]) -> Result<Self> {
        if *alg != Algorithm::HS256 || family != AlgorithmFamily::Hmac {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        Hmac::new_from_slice(key)
            .map(Self)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn mac(&self, msg: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(msg);
        mac
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.mac(msg).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Constant-time comparison (`verify_slice`).
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.mac(msg)
            .verify_slice(sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| Ok(Box::new(Hs256::new(alg, key.family(), key.as_bytes())?)),
    verifier_factory: |alg, key| {
        Ok(Box::new(Hs256::new(
            alg,
            key.family(),
            key.try_get_as_bytes()?,
        )?))
    },
    // No JWK support: we neither publish nor accept keys as JWKs.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this the process's provider; called before every use of
/// jsonwebtoken (its fallback without a crate feature panics).
pub(super) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only if a provider was installed already: this one, since
        // nothing else in the crate installs one.
        let _ = PROVIDER.install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::crypto::{sign, verify};
    use jsonwebtoken::{DecodingKey, EncodingKey};

    // The well-known HS256 example token (header, payload, signature).
    const MESSAGE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ";
    const SIGNATURE: &str = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    const SECRET: &[u8] = b"your-256-bit-secret";

    #[test]
    fn signs_and_verifies_the_reference_token() {
        install();
        let key = EncodingKey::from_secret(SECRET);
        assert_eq!(
            sign(MESSAGE.as_bytes(), &key, Algorithm::HS256).unwrap(),
            SIGNATURE
        );
        let key = DecodingKey::from_secret(SECRET);
        assert!(verify(SIGNATURE, MESSAGE.as_bytes(), &key, Algorithm::HS256).unwrap());
        let other = DecodingKey::from_secret(b"another-256-bit-secret");
        assert!(!verify(SIGNATURE, MESSAGE.as_bytes(), &other, Algorithm::HS256).unwrap());
    }

    #[test]
    fn refuses_every_other_algorithm() {
        install();
        let key = EncodingKey::from_secret(SECRET);
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let err = sign(MESSAGE.as_bytes(), &key, alg).unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::InvalidAlgorithm);
        }
    }
}
