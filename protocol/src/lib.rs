//! ragway's wire contract: the request bodies and values parsed at the edge, each field
//! range-checked once here, errors naming the parameter (`ParamError`). No HTTP, no database:
//! the server maps `ParamError` to its 400 and builds its domain calls from these types.

pub mod chat;
pub mod client;
pub mod documents;
pub mod error;
pub mod filter;
pub mod jobs;
pub mod knowledge;
pub mod params;
pub mod search;
pub mod sse;
pub mod tenancy;
mod words;

pub use error::ParamError;
pub use words::UnknownWord;
