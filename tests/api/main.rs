//! One integration test binary (linking ragway once): `cargo test --test api`.

mod auth;
mod chat;
mod config;
mod console;
mod console_api;
mod documents;
mod eval;
mod fake_openai;
mod faults;
mod helpers;
mod jobs;
mod llm_e2e;
mod openapi;
mod shutdown;
mod vector_store;
