//! Request bodies of the account endpoints, parsed into typed values.

use super::{AuthError, Email, Prehash};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Longest device or display name (docs/api.md Limits).
pub const MAX_NAME_CHARS: usize = 100;

/// Parses JSON: syntax errors are `invalid_json`, a wrong shape (missing
/// field, wrong type) is `validation_failed`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AuthError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => AuthError::Validation(e.to_string()),
        _ => AuthError::InvalidJson(e.to_string()),
    })
}

/// A device or display name: trimmed, ≤ 100 characters, no control chars.
pub fn name(field: &str, raw: Option<&str>) -> Result<Option<String>, AuthError> {
    let Some(raw) = raw else { return Ok(None) };
    let s = raw.trim();
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::Validation(format!(
            "{field} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(AuthError::Validation(format!(
            "{field} has control characters"
        )));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// `POST /auth/register` and `POST /auth/login`.
#[derive(Debug, Deserialize)]
pub struct CredentialsBody {
    email: String,
    password: String,
    device_name: Option<String>,
}

/// Validated credentials.
#[derive(Debug)]
pub struct Credentials {
    /// The normalized email.
    pub email: Email,
    /// The client prehash.
    pub prehash: Prehash,
    /// The device's name, if it gave one.
    pub device_name: Option<String>,
}

impl CredentialsBody {
    /// Checks every field.
    pub fn validate(self) -> Result<Credentials, AuthError> {
        Ok(Credentials {
            email: Email::parse(&self.email)?,
            prehash: Prehash::parse(&self.password)?,
            device_name: name("device_name", self.device_name.as_deref())?,
        })
    }
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize)]
pub struct RefreshBody {
    /// The refresh token from the last `Tokens`.
    pub refresh_token: String,
}

/// `POST /user/password`.
#[derive(Debug, Deserialize)]
pub struct PasswordChangeBody {
    old_password: String,
    new_password: String,
}

impl PasswordChangeBody {
    /// `(old, new)` prehashes.
    pub fn validate(self) -> Result<(Prehash, Prehash), AuthError> {
        Ok((
            Prehash::parse(&self.old_password)?,
            Prehash::parse(&self.new_password)?,
        ))
    }
}

/// `DELETE /user/account` and `POST /user/recovery-codes`: the password
/// that confirms the operation.
#[derive(Debug, Deserialize)]
pub struct DeleteAccountBody {
    password: String,
}

impl DeleteAccountBody {
    /// The prehash that confirms the deletion.
    pub fn validate(self) -> Result<Prehash, AuthError> {
        Prehash::parse(&self.password)
    }
}

/// `POST /auth/recover`.
#[derive(Debug, Deserialize)]
pub struct RecoverBody {
    email: String,
    code: String,
    new_password: String,
    device_name: Option<String>,
}

/// A validated recovery request. The code is passed on as typed: a code
/// that cannot be one is a wrong code, answered and counted like one.
#[derive(Debug)]
pub struct Recovery {
    /// The normalized email.
    pub email: Email,
    /// The code as typed (at most [`super::recovery::MAX_CODE_INPUT`] bytes).
    pub code: String,
    /// The new password's prehash.
    pub new_prehash: Prehash,
    /// The device's name, if it gave one.
    pub device_name: Option<String>,
}

impl RecoverBody {
    /// Checks every field.
    pub fn validate(self) -> Result<Recovery, AuthError> {
        if self.code.len() > super::recovery::MAX_CODE_INPUT {
            return Err(AuthError::Validation("code is too long".into()));
        }
        Ok(Recovery {
            email: Email::parse(&self.email)?,
            code: self.code,
            new_prehash: Prehash::parse(&self.new_password)?,
            device_name: name("device_name", self.device_name.as_deref())?,
        })
    }
}

/// `PUT /user/profile`.
#[derive(Debug, Deserialize)]
pub struct ProfileBody {
    display_name: Option<String>,
}

impl ProfileBody {
    /// The new display name (`None` clears it).
    pub fn validate(self) -> Result<Option<String>, AuthError> {
        name("display_name", self.display_name.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRE: &str = "o5Rbp4uv_oY5JqouX0QaO19aTiOnkPBDiglBd--j3Lo";

    #[test]
    fn syntax_versus_shape_errors() {
        assert!(matches!(
            parse_json::<RefreshBody>(b"{not json"),
            Err(AuthError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<RefreshBody>(b"{}"),
            Err(AuthError::Validation(_))
        ));
        assert!(matches!(
            parse_json::<RefreshBody>(br#"{"refresh_token": 5}"#),
            Err(AuthError::Validation(_))
        ));
    }

    #[test]
    fn credentials_validate_every_field() {
        let ok: CredentialsBody = parse_json(
            format!(r#"{{"email":" A@B.co ","password":"{PRE}","device_name":" Phone "}}"#)
                .as_bytes(),
        )
        .unwrap();
        let c = ok.validate().unwrap();
        assert_eq!(c.email.as_str(), "a@b.co");
        assert_eq!(c.device_name.as_deref(), Some("Phone"));

        let bad_pw: CredentialsBody =
            parse_json(br#"{"email":"a@b.co","password":"plaintext"}"#).unwrap();
        assert!(matches!(bad_pw.validate(), Err(AuthError::Validation(_))));

        let long_name = format!(
            r#"{{"email":"a@b.co","password":"{PRE}","device_name":"{}"}}"#,
            "x".repeat(101)
        );
        let b: CredentialsBody = parse_json(long_name.as_bytes()).unwrap();
        assert!(b.validate().is_err());
    }

    #[test]
    fn recovery_bodies_are_checked() {
        let ok: RecoverBody = parse_json(
            format!(r#"{{"email":"A@b.co","code":"abcd-efgh","new_password":"{PRE}"}}"#).as_bytes(),
        )
        .unwrap();
        let r = ok.validate().unwrap();
        assert_eq!((r.email.as_str(), r.code.as_str()), ("a@b.co", "abcd-efgh"));
        let plain: RecoverBody =
            parse_json(br#"{"email":"a@b.co","code":"x","new_password":"plain"}"#).unwrap();
        assert!(matches!(plain.validate(), Err(AuthError::Validation(_))));
        let long = format!(
            r#"{{"email":"a@b.co","code":"{}","new_password":"{PRE}"}}"#,
            "a".repeat(65)
        );
        let long: RecoverBody = parse_json(long.as_bytes()).unwrap();
        assert!(long.validate().is_err());
        assert!(parse_json::<RecoverBody>(br#"{"email":"a@b.co"}"#).is_err());
    }

    #[test]
    fn names_count_characters_not_bytes() {
        assert!(name("n", Some(&"é".repeat(100))).unwrap().is_some());
        assert!(name("n", Some(&"é".repeat(101))).is_err());
        assert!(name("n", Some("a\u{0}b")).is_err());
        assert_eq!(name("n", Some("   ")).unwrap(), None);
    }
}
