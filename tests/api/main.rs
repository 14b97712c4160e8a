//! One integration test binary (linking ragway once): `cargo test --test api`.

/// The operator tools are compiled into the `ragway` binary, not the library; the tests that
/// drive them in-process compile the same source here (most of it goes unused by them).
#[path = "../../src/cli/mod.rs"]
#[allow(dead_code)]
mod cli;

mod auth;
mod authz;
mod chat;
mod compat;
mod config;
mod console;
mod console_api;
mod crash;
mod documents;
mod eval;
mod fake_openai;
mod faults;
mod fencing;
mod helpers;
mod hostile;
mod jobs;
mod llm_e2e;
mod members;
mod migrate;
mod openapi;
mod openapi_drift;
mod poison;
mod process;
mod qdrant_outage;
mod sdk_compat;
mod shutdown;
mod slow_proxy;
mod vector_store;
mod writers;
