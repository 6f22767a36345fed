//! The browser API: a thin wasm-bindgen layer over [`Replica`] and
//! [`SyncClient`], built only for wasm32 with the `js` feature
//! (`scripts/build-web.sh`).
//!
//! **Invariant:** no I/O here either. The JavaScript wrapper
//! (`wasm-client/js/`) owns the network, the timers and IndexedDB; this
//! module turns edits into Automerge changes, encodes and applies protocol
//! messages, and says which documents need saving.
//!
//! Values cross the boundary as JSON text (the app's own shapes) and bytes;
//! every failure is a JS `Error` named `SyncClientError` with a stable
//! `code`, never a panic (a panic would abort the wasm instance).

mod device;
mod error;

pub use device::{Device, Received};
pub use error::JsFailure;

use wasm_bindgen::prelude::*;

/// The password prehash of docs/api.md: base64url(argon2id(password, salt from
/// the normalized email)), 43 characters. The server never sees the
/// password itself.
#[wasm_bindgen]
pub fn prehash(email: &str, password: &str) -> Result<String, JsValue> {
    crate::prehash::prehash(email, password).map_err(|e| JsFailure::new("prehash", e).into())
}

/// The root document id of a user (what login answers as
/// `root_document_id`), to check that both sides agree on the layout.
#[wasm_bindgen(js_name = rootDocumentId)]
pub fn root_document_id(user_id: &str) -> String {
    crate::layout::root_id(user_id).to_string()
}
