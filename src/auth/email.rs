//! `Email`: a normalized, validated address. Parsing happens at the edge;
//! everything inward takes the typed value.

use super::AuthError;
use std::fmt;

/// Longest address SMTP can carry (RFC 5321 path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// A normalized (`lowercase(trim(s))`) and plausibly deliverable address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates. The rules are deliberately simple (no quoted
    /// local parts, no IP literals): one `@`, a local part of safe
    /// characters, and a dotted domain of letters, digits and hyphens.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let s = myflashplay_client::prehash::normalize_email(raw);
        let bad = |why: &str| AuthError::Validation(format!("email {why}"));
        if s.is_empty() {
            return Err(bad("is required"));
        }
        if s.len() > MAX_EMAIL_LEN {
            return Err(bad("is longer than 254 characters"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("needs an @"))?;
        if local.is_empty() || local.len() > MAX_LOCAL_LEN {
            return Err(bad("has an empty or too long local part"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("has characters not allowed before the @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(bad("has an invalid domain"));
        }
        Ok(Self(s))
    }

    /// The normalized text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Ana@Example.COM\t").unwrap().as_str(),
            "ana@example.com"
        );
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "élève@école.fr"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "plain",
            "@x.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            ".a@b.com",
            "a.@b.com",
            "a@-b.com",
            "a@b.com-",
            "a:b@c.com",
            "a@b_c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
