//! `Account`: one Durable Object per normalized email, holding credentials
//! and lockout state.

use super::http;
use crate::api_error::{ApiError, ErrorCode};
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, SqlStorage, State};

#[durable_object]
pub struct Account {
    #[allow(dead_code)]
    sql: SqlStorage,
}

impl DurableObject for Account {
    fn new(state: State, _env: Env) -> Self {
        Self {
            sql: state.storage().sql(),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Ok(http::error_response(&ApiError::new(
            ErrorCode::NotFound,
            "no such object route",
        )))
    }
}
