//! Errors as JavaScript sees them: an `Error` named `SyncClientError` with a
//! stable `code` property.

use crate::replica::ReplicaError;
use crate::sync::{ClientError, MessageError};
use std::fmt::Display;
use wasm_bindgen::JsValue;

/// A failure on its way to JavaScript.
#[derive(Debug)]
pub struct JsFailure {
    code: &'static str,
    message: String,
}

impl JsFailure {
    /// A failure with a stable `code` and a human message.
    pub fn new(code: &'static str, message: impl Display) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ReplicaError> for JsFailure {
    fn from(e: ReplicaError) -> Self {
        let code = match &e {
            ReplicaError::Model(_) => "validation_failed",
            ReplicaError::Automerge(_) => "automerge",
            ReplicaError::DeckNotFound(_) => "deck_not_found",
            ReplicaError::TooManyDecks => "too_many_decks",
            ReplicaError::BadPath(_) => "bad_path",
            ReplicaError::Layout { .. } => "layout",
            ReplicaError::LocalStorage { .. } => "local_storage",
            ReplicaError::Identity(_) => "identity",
            ReplicaError::VersionNotFound(_) => "not_found",
            ReplicaError::BadVersion => "validation_failed",
            // A newer app version wrote this document: update the app.
            ReplicaError::NewerSchema { .. } => "newer_schema",
        };
        Self::new(code, e)
    }
}

impl From<MessageError> for JsFailure {
    fn from(e: MessageError) -> Self {
        Self::new("protocol", e)
    }
}

impl From<ClientError> for JsFailure {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Server(_) => "server_error",
            _ => "sync_refused",
        };
        Self::new(code, e)
    }
}

impl From<serde_json::Error> for JsFailure {
    fn from(e: serde_json::Error) -> Self {
        Self::new("invalid_json", e)
    }
}

impl From<JsFailure> for JsValue {
    fn from(f: JsFailure) -> Self {
        let err = js_sys::Error::new(&f.message);
        err.set_name("SyncClientError");
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&err, &"code".into(), &f.code.into());
        err.into()
    }
}
