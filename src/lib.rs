//! ragway: a retrieval-augmented, OpenAI-compatible chat server. `main.rs` only wires; the
//! modules below are the library that the binary and the tests use.

pub mod api;
pub mod auth;
pub mod bench;
pub mod chat;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod documents;
pub mod error;
pub mod eval;
pub mod generation;
pub mod ingest_cli;
pub mod jobs;
pub mod jobs_cli;
pub mod knowledge;
pub mod lease;
pub mod metrics;
pub mod retrieval;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod vector;
