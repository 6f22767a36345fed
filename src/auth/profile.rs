//! The user's profile, kept in the user's `UserStore` (one row of the
//! `profile` table, made when the first session opens; see
//! [`super::sessions`]).

use super::{AuthError, UserId};
use crate::store::sql::{text_at, uint_at};
use crate::store::{Sql, SqlValue};
use crate::time::iso8601;
use serde::{Deserialize, Serialize};

/// The user's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Whose store this is.
    pub user_id: UserId,
    /// The account's normalized email.
    pub email: String,
    /// Set by the user; `None` until then.
    pub display_name: Option<String>,
    /// When the profile was made (ms).
    pub created_at: u64,
}

/// The profile as `GET /user/profile` answers it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileAnswer {
    user_id: UserId,
    email: String,
    display_name: Option<String>,
    created_at: String,
    root_document_id: String,
}

impl Profile {
    /// The wire shape.
    pub fn answer(&self) -> ProfileAnswer {
        ProfileAnswer {
            user_id: self.user_id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            created_at: iso8601(self.created_at),
            root_document_id: self.user_id.root_document_id().to_string(),
        }
    }
}

/// The profile, if this store holds an account.
pub fn profile(sql: &impl Sql) -> Result<Option<Profile>, AuthError> {
    let rows = sql.query(
        "SELECT user_id, email, display_name, created_at FROM profile WHERE id = 1",
        &[],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let user_id =
        UserId::parse(text_at(r, 0)).ok_or_else(|| AuthError::Internal("stored user id".into()))?;
    Ok(Some(Profile {
        user_id,
        email: text_at(r, 1).to_owned(),
        display_name: r.get(2).and_then(SqlValue::as_str).map(str::to_owned),
        created_at: uint_at(r, 3),
    }))
}

/// Sets (or with `None` clears) the display name.
pub fn set_display_name(sql: &impl Sql, name: Option<&str>) -> Result<(), AuthError> {
    let value = name.map_or(SqlValue::Null, SqlValue::from);
    sql.exec("UPDATE profile SET display_name = ? WHERE id = 1", &[value])?;
    Ok(())
}
