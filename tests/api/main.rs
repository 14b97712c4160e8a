//! One integration test binary (linking ragway once): `cargo test --test api`.

mod auth;
mod chat;
mod config;
mod documents;
mod eval;
mod fake_openai;
mod faults;
mod helpers;
mod jobs;
mod llm_e2e;
mod migrate;
mod openapi;
mod qdrant_outage;
mod shutdown;
mod vector_store;
