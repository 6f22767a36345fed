//! The MyFlashPlay sync Worker.
//!
//! Everything outside [`shell`] is sans-IO and compiles natively, so it is
//! tested with `cargo test`; the `shell` module is the thin workers-rs layer
//! (routes, Durable Objects) and exists only on wasm32.
#![warn(missing_docs)]

pub mod alloc_count;
pub mod api_error;
pub mod auth;
pub mod hex;
pub mod limits;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod time;
pub mod views;

#[cfg(target_arch = "wasm32")]
mod shell;

/// The crate version, reported by `GET /health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
