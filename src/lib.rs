//! ragway: a retrieval-augmented, OpenAI-compatible chat server. `main.rs` only wires; the
//! modules below are the server library that the binary and the tests use. The layers, from
//! the bottom: `config`, `lease`, `metrics` → the adapters `store`, `vector`, `generation`,
//! `rerank` → `state` → `auth`, `documents`, `retrieval` → `jobs` → `knowledge` → `chat` →
//! `error`, `telemetry` → `api` → `startup` (docs/architecture.md; `tests/architecture.rs`
//! keeps it so). The operator tools live in `src/cli/`, in the binary only.

pub mod api;
pub mod auth;
pub mod chat;
pub mod config;
pub mod documents;
pub mod error;
pub mod generation;
pub mod jobs;
pub mod knowledge;
pub mod lease;
pub mod metrics;
pub mod rerank;
pub mod retrieval;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod vector;
