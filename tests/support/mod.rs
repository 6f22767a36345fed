//! Scenario glue for the convergence tests: devices are `wasm-client`
//! replicas, the server is behind [`server::ServerHarness`], and a scenario
//! (docs/fixtures.md format) is played step by step.

pub mod compare;
pub mod scenario;
pub mod server;
pub mod store_server;
