//! The small synchronous SQL interface the store engine runs on.
//!
//! Two implementations: the Durable Object's `SqlStorage` (wasm32 shell,
//! where `exec` is synchronous and `transactionSync` groups writes) and
//! [`super::sqlite::Sqlite`] (rusqlite, native tests and benches). No
//! `Send`, no `async`: a Durable Object is single-threaded.

/// A value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes (at most 2 MB per value in a Durable Object).
    Blob(Vec<u8>),
}

/// A failure reported by the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sql: {0}")]
pub struct SqlError(pub String);

/// One row of a query result.
pub type Row = Vec<SqlValue>;

/// What the engine needs from a database.
///
/// Limits the engine respects (those of Durable Object SQLite): a value or
/// row ≤ 2 MB, a statement ≤ 100 KB, no `BEGIN`/`COMMIT` statements.
pub trait Sql {
    /// Runs a statement that returns no rows.
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<(), SqlError>;

    /// Runs a query and returns all its rows.
    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, SqlError>;

    /// Runs `f` so that all its writes happen together or not at all
    /// (`transactionSync` in a Durable Object). `f` must not nest another
    /// transaction.
    fn transaction<T, E: From<SqlError>>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E>;
}

/// Column `i` of a row as text (`""` if it is not text).
pub fn text_at(row: &Row, i: usize) -> &str {
    row.get(i).and_then(SqlValue::as_str).unwrap_or_default()
}

/// Column `i` of a row as an unsigned integer (0 if it is not one).
pub fn uint_at(row: &Row, i: usize) -> u64 {
    row.get(i).and_then(SqlValue::as_u64).unwrap_or(0)
}

/// A round trip into the database (`/health`): `true` if `SELECT 1`
/// answers 1.
pub fn probe(sql: &impl Sql) -> Result<bool, SqlError> {
    let rows = sql.query("SELECT 1", &[])?;
    Ok(rows.first().and_then(|r| r.first()) == Some(&SqlValue::Integer(1)))
}

impl SqlValue {
    /// The integer, or `None` for any other type.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The integer if it is not negative, or `None`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i64().and_then(|i| u64::try_from(i).ok())
    }

    /// An unsigned count or time as an integer (saturating at `i64::MAX`).
    pub fn uint(v: u64) -> Self {
        Self::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// The bytes of a blob (or of text), or `None`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Blob(b) => Some(b),
            Self::Text(t) => Some(t.as_bytes()),
            _ => None,
        }
    }

    /// The text, or `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        Self::Integer(i)
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(b: Vec<u8>) -> Self {
        Self::Blob(b)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(b: &[u8]) -> Self {
        Self::Blob(b.to_vec())
    }
}
