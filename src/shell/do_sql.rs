//! The `Sql` trait over a Durable Object's SQLite (`ctx.storage.sql`),
//! with `transactionSync` for all-or-nothing writes: the engine, the
//! session rules and the account rules all run on it.
//!
//! **Invariant:** the only shell file that holds SQL text or runs it.

use crate::store::{Row, Sql, SqlError, SqlValue};
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, SqlStorage, SqlStorageValue, State};

/// The object's SQLite plus the storage handle that owns `transactionSync`.
#[derive(Clone)]
pub(crate) struct DoSql {
    sql: SqlStorage,
    storage: JsValue,
    /// `storage.transactionSync`, looked up once.
    transaction_sync: Option<js_sys::Function>,
}

impl DoSql {
    /// The SQLite of the object whose state is `state`.
    pub(crate) fn of(state: &State) -> Self {
        let storage = state.storage();
        let raw: &JsValue = storage.as_raw().as_ref();
        let transaction_sync = js_sys::Reflect::get(raw, &"transactionSync".into())
            .ok()
            .and_then(|v| v.dyn_into().ok());
        Self {
            sql: storage.sql(),
            storage: raw.clone(),
            transaction_sync,
        }
    }

    fn run(&self, sql: &str, params: &[SqlValue]) -> Result<worker::SqlCursor, SqlError> {
        self.sql
            .exec_raw(sql, params.iter().map(to_js).collect::<Vec<_>>())
            .map_err(err)
    }
}

/// A parameter as JavaScript holds it, converted in place (no copy of a
/// string or blob on the Rust side first). Integers become numbers, as
/// workers-rs's own conversion does; ours are counts, sizes, sequence numbers
/// and millisecond times, far inside the safe-integer range.
fn to_js(v: &SqlValue) -> JsValue {
    match v {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Integer(i) => JsValue::from(*i as f64),
        SqlValue::Real(f) => JsValue::from(*f),
        SqlValue::Text(s) => JsValue::from_str(s),
        SqlValue::Blob(b) => js_sys::Uint8Array::from(b.as_slice()).into(),
    }
}

fn from_js(v: SqlStorageValue) -> SqlValue {
    match v {
        SqlStorageValue::Null => SqlValue::Null,
        SqlStorageValue::Boolean(b) => SqlValue::Integer(i64::from(b)),
        SqlStorageValue::Integer(i) => SqlValue::Integer(i),
        // JS numbers come back as floats when outside the safe-integer
        // range; integral ones inside it are integers already.
        SqlStorageValue::Float(f) => SqlValue::Real(f),
        SqlStorageValue::String(s) => SqlValue::Text(s),
        SqlStorageValue::Blob(b) => SqlValue::Blob(b),
    }
}

fn err(e: impl std::fmt::Display) -> SqlError {
    SqlError(e.to_string())
}

impl Sql for DoSql {
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<(), SqlError> {
        let cursor = self.run(sql, params)?;
        // Drain so that every statement of the string runs.
        for row in cursor.raw() {
            row.map_err(err)?;
        }
        Ok(())
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, SqlError> {
        let cursor = self.run(sql, params)?;
        cursor
            .raw()
            .map(|row| {
                row.map(|r| r.into_iter().map(from_js).collect())
                    .map_err(err)
            })
            .collect()
    }

    fn transaction<T, E: From<SqlError>>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx_sync = self
            .transaction_sync
            .as_ref()
            .ok_or_else(|| SqlError("transactionSync is not available".into()))?;
        let mut job = Some(f);
        let mut outcome: Option<Result<T, E>> = None;
        {
            let mut run = || -> Result<JsValue, JsValue> {
                if let Some(f) = job.take() {
                    let r = f(self);
                    let failed = r.is_err();
                    outcome = Some(r);
                    if failed {
                        // Throwing rolls every write of `f` back.
                        return Err(JsValue::from_str("rollback"));
                    }
                }
                Ok(JsValue::UNDEFINED)
            };
            let borrowed: &mut dyn FnMut() -> Result<JsValue, JsValue> = &mut run;
            // SAFETY: `transactionSync` calls its callback synchronously and
            // keeps no reference to it: the closure is dropped below, before
            // `run` (and what it borrows) goes out of scope.
            let extended: &'static mut dyn FnMut() -> Result<JsValue, JsValue> =
                unsafe { std::mem::transmute(borrowed) };
            let callback =
                Closure::wrap(Box::new(extended) as Box<dyn FnMut() -> Result<JsValue, JsValue>>);
            let called = tx_sync.call1(&self.storage, callback.as_ref().unchecked_ref());
            drop(callback);
            if let (Err(e), None) = (&called, &outcome) {
                return Err(SqlError(format!("transactionSync: {e:?}")).into());
            }
        }
        outcome.unwrap_or_else(|| Err(SqlError("transaction did not run".into()).into()))
    }
}
