//! [`Sql`] over rusqlite: the engine's database in native tests, benches
//! and the fixture runner. Not compiled for wasm32 (the Worker uses the
//! Durable Object's SQLite instead).

use super::sql::{Row, Sql, SqlError, SqlValue};
use rusqlite::types::{Value, ValueRef};
use std::path::Path;

/// A SQLite connection.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

fn err(e: rusqlite::Error) -> SqlError {
    SqlError(e.to_string())
}

impl Sqlite {
    /// Opens (or creates) a database file: reopening it is a server restart.
    ///
    /// WAL with `synchronous = NORMAL`: commits survive a process crash
    /// (what restart tests need) without an fsync per transaction, closer
    /// to a Durable Object's storage than SQLite's default full sync.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqlError> {
        let conn = rusqlite::Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(err)?;
        Ok(Self { conn })
    }

    /// A private in-memory database.
    pub fn in_memory() -> Result<Self, SqlError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(err)?;
        Ok(Self { conn })
    }
}

fn to_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(*i),
        SqlValue::Real(f) => Value::Real(*f),
        SqlValue::Text(t) => Value::Text(t.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_ref(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

impl Sql for Sqlite {
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<(), SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        stmt.execute(rusqlite::params_from_iter(params.iter().map(to_value)))
            .map_err(err)?;
        Ok(())
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(to_value)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut r = Vec::with_capacity(width);
            for i in 0..width {
                r.push(from_ref(row.get_ref(i).map_err(err)?));
            }
            out.push(r);
        }
        Ok(out)
    }

    fn transaction<T, E: From<SqlError>>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn.execute_batch("BEGIN").map_err(err)?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(err)?;
                Ok(v)
            }
            Err(e) => {
                self.conn.execute_batch("ROLLBACK").map_err(err)?;
                Err(e)
            }
        }
    }
}
