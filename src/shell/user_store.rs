//! `UserStore`: one Durable Object per user, holding that user's documents,
//! sessions and sync state in its SQLite storage.

use super::http;
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, SqlStorage, State};

/// The binding name in `wrangler.toml`.
pub(crate) const BINDING: &str = "USER_STORE";

#[durable_object]
pub struct UserStore {
    sql: SqlStorage,
}

impl DurableObject for UserStore {
    fn new(state: State, _env: Env) -> Self {
        Self {
            sql: state.storage().sql(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let outcome = match req.path().as_str() {
            "/internal/health" => self.health(),
            _ => Err(crate::api_error::ApiError::new(
                crate::api_error::ErrorCode::NotFound,
                "no such object route",
            )),
        };
        Ok(outcome.unwrap_or_else(|e| http::error_response(&e)))
    }
}

impl UserStore {
    fn health(&self) -> std::result::Result<Response, crate::api_error::ApiError> {
        #[derive(serde::Deserialize)]
        struct Probe {
            one: i64,
        }
        let probe: Probe = self
            .sql
            .exec("SELECT 1 AS one", None)
            .and_then(|c| c.one())
            .map_err(http::internal)?;
        http::json(200, &serde_json::json!({"sqlite": probe.one}))
    }
}
