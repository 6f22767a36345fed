//! The client prehash checked against a second, independent argon2id
//! implementation (`rust-argon2`) and the vectors published in docs/api.md.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use myflashplay_client::prehash::{normalize_email, prehash};
use sha2::{Digest, Sha256};

fn reference(email: &str, password: &str) -> String {
    let salt = Sha256::digest(format!("myflashplay-auth-v1:{}", normalize_email(email)));
    let config = argon2_ref::Config {
        variant: argon2_ref::Variant::Argon2id,
        version: argon2_ref::Version::Version13,
        mem_cost: 19_456,
        time_cost: 2,
        lanes: 1,
        secret: &[],
        ad: &[],
        hash_length: 32,
        thread_mode: argon2_ref::ThreadMode::Sequential,
    };
    let raw = argon2_ref::hash_raw(password.as_bytes(), &salt, &config).expect("reference argon2");
    URL_SAFE_NO_PAD.encode(raw)
}

#[test]
fn matches_the_reference_implementation() {
    for (email, password) in [
        ("a@b.co", "pw"),
        (" Ana.Lucia@Example.COM ", "pässwörd 🔑"),
        ("kid@school.example", "correct horse battery staple"),
        ("x@y.z", ""),
    ] {
        let ours = prehash(email, password).unwrap();
        assert_eq!(ours, reference(email, password), "{email:?} / {password:?}");
        assert_eq!(ours.len(), 43);
    }
}

#[test]
fn published_vectors() {
    assert_eq!(
        reference("a@b.co", "pw"),
        "o5Rbp4uv_oY5JqouX0QaO19aTiOnkPBDiglBd--j3Lo"
    );
    assert_eq!(
        reference(" Ana.Lucia@Example.COM ", "pässwörd 🔑"),
        "ffiMl4q7un9CbaPqyIme2pxO2XhoG79Ys8nQ-2NnOBs"
    );
}
