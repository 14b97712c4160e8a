//! Typed, layered configuration: compiled defaults < a TOML file < `RAGWAY__…` environment
//! variables. `Config::load` validates everything once, naming the key that is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    /// Where the embedded stores, models and the dev token live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub vector_store: VectorStoreConfig,
    pub auth: AuthConfig,
    pub embedding: EmbeddingConfig,
    pub chunking: ChunkingConfig,
    pub sparse: SparseConfig,
    pub ingest: IngestConfig,
    pub jobs: JobsConfig,
    pub generation: GenerationConfig,
    pub rerankers: Vec<RerankerConfig>,
    pub log: LogConfig,
}

/// A reranking service (Cohere/Jina-style `/rerank` API) that `rag_params.reranking_model`
/// may name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerankerConfig {
    pub name: String,
    /// The full endpoint, e.g. `http://127.0.0.1:8082/v1/rerank`.
    pub url: String,
    /// The model name sent upstream; defaults to `name`.
    pub model: Option<String>,
    pub api_key: Option<SecretString>,
    #[serde(default = "default_rerank_timeout")]
    pub timeout_secs: u64,
}

fn default_rerank_timeout() -> u64 {
    30
}

/// OpenAI-compatible generation backends and the models each serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// The model used when a request says `""`; unset = the first configured model.
    pub default_model: Option<String>,
    pub backends: Vec<BackendConfig>,
    /// Longest wait for a backend's answer (non-streaming) or its next streamed event.
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// How often a backend configured without a model list is asked for its models
    /// (`GET /models`); 0 = only at start (and when a request finds no list yet).
    pub models_refresh_secs: u64,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            default_model: None,
            backends: Vec::new(),
            timeout_secs: 120,
            connect_timeout_secs: 5,
            models_refresh_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    /// Base URL including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// The models it serves; empty = the ones its own `GET /models` lists.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name clients use.
    pub id: String,
    /// The name the backend knows it by; defaults to `id`.
    pub upstream_id: Option<String>,
    #[serde(default = "default_context_length")]
    pub context_length: u32,
    /// A reasoning model: temperature, top_p, stop, penalties and logit_bias are dropped.
    #[serde(default)]
    pub reasoning: bool,
    /// Further request fields this model does not take; dropped before forwarding.
    #[serde(default)]
    pub unsupported_params: Vec<String>,
}

fn default_context_length() -> u32 {
    8192
}
/// Defaults for new knowledge bases; each knowledge base records its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkingConfig {
    /// Tokens of the embedding model per chunk (MiniLM sees 256 including [CLS]/[SEP]).
    pub max_tokens: usize,
    pub overlap_tokens: usize,
    /// Split Markdown/HTML/DOCX along their structure.
    pub markdown: bool,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            max_tokens: 254,
            overlap_tokens: 32,
            markdown: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Documents processed at once in this process; 0 = none (leave it to `ragway worker`).
    /// 4 by default: while one document is parsed, written or flipped, others keep the
    /// embedder fed (`ragway bench ingest`, SciFact, 2 cores: 4 workers 47.7–50.1 chunks/s,
    /// 2 workers 44.4–44.6).
    pub workers: usize,
    /// Largest accepted file, enforced while the upload streams in.
    pub max_file_bytes: usize,
    /// Files per multipart upload.
    pub max_files_per_upload: usize,
    /// A claimed document's lease; renewed while it is processed, reclaimed when it runs out.
    pub lease_secs: u64,
    /// Claims of a document before it becomes `failed`: each claim counts, so a document whose
    /// worker keeps dying (or stalling past its lease) ends after this many, as does one that
    /// keeps failing transiently (vector store down).
    pub max_attempts: i64,
    /// Longest one claim may process a document (parse, chunk, embed, write) before it fails
    /// with a message naming this key; also the limit per document of a re-index job.
    pub document_timeout_secs: u64,
    /// Longest `?wait=true` waits before answering 202 with the current statuses.
    pub wait_timeout_secs: u64,
    /// The text field of JSON/JSONL documents.
    pub json_text_field: String,
    pub json_title_field: String,
    /// Prepend the document title to each chunk for embedding and BM25 (not to the stored text).
    pub title_in_chunks: bool,
    /// Where documents are parsed: `process` (each in a child process under OS limits, so a
    /// parser bug fails the document alone) or `in_process` (a blocking thread of the server;
    /// faster by a few ms per document, but a parser crash would take the server down).
    pub isolation: Isolation,
    /// The parser program of `process` isolation, started as `PROGRAM parse`; unset = this
    /// very binary.
    pub parser_program: Option<PathBuf>,
    /// What one document may cost its parser (`ingest.limits.*`).
    pub limits: ragway_ingest::parse::ParseLimits,
    /// Largest `metadata` of one document, as JSON bytes (it is copied into every chunk).
    pub max_metadata_bytes: usize,
    /// Largest multipart upload, all files together; files are spooled to disk as they
    /// arrive, so memory holds one file at a time.
    pub max_upload_bytes: u64,
}

/// Where the ingest worker runs parsers (`ingest.isolation`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    #[default]
    Process,
    InProcess,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            workers: 4,
            max_file_bytes: 50 << 20,
            max_files_per_upload: 100,
            lease_secs: 60,
            max_attempts: 8,
            document_timeout_secs: 600,
            wait_timeout_secs: 300,
            json_text_field: "text".into(),
            json_title_field: "title".into(),
            title_in_chunks: true,
            isolation: Isolation::Process,
            parser_program: None,
            limits: Default::default(),
            max_metadata_bytes: 64 << 10,
            max_upload_bytes: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port` to listen on; port 0 picks a free port (tests).
    pub bind: String,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            shutdown_timeout_secs: 30,
            workers: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; unset = SQLite in `data_dir/ragway.db`.
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorStoreConfig {
    /// A Qdrant server or cluster (`http://host:6334`, gRPC); unset = Qdrant Edge in
    /// `data_dir/vectors`.
    pub url: Option<String>,
    pub api_key: Option<SecretString>,
    /// Server only: in front of every collection name on the server, so deployments can share
    /// a cluster. Changing it hides the existing collections.
    pub collection_prefix: String,
    /// Server only: longest wait for one call to the server, connecting included.
    pub timeout_secs: u64,
    /// Server only: shards per new collection.
    pub shard_number: u32,
    /// Server only: copies of each shard of a new collection.
    pub replication_factor: u32,
    /// Server only: replicas that must apply a write before it is acknowledged.
    pub write_consistency_factor: u32,
    /// New collections keep their dense vectors on disk (memory-mapped), not in RAM.
    pub on_disk_vectors: bool,
    /// New collections keep payloads (chunk text, metadata) on disk, not in RAM.
    pub on_disk_payload: bool,
    /// New collections keep their indexes (the HNSW graph, the sparse index) on disk,
    /// memory-mapped and read as searches need them, not in RAM.
    pub on_disk_index: bool,
    /// New collections also keep a quantized copy of each dense vector in RAM and search it
    /// instead of the originals (Qdrant's default for scalar int8: no rescoring).
    pub quantization: Quantization,
}

/// A quantized copy of the dense vectors (`vector_store.quantization`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Search the original vectors only.
    #[default]
    None,
    /// Scalar int8: a quarter of the size of the f32 vectors, kept in RAM.
    Int8,
}

impl Default for VectorStoreConfig {
    fn default() -> Self {
        // One node: one shard, one copy, vectors in RAM (searched often), payloads on disk
        // (read only for the hits) — Qdrant's own defaults.
        VectorStoreConfig {
            url: None,
            api_key: None,
            collection_prefix: String::new(),
            timeout_secs: 10,
            shard_number: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            on_disk_vectors: false,
            on_disk_payload: true,
            on_disk_index: false,
            quantization: Quantization::None,
        }
    }
}

impl VectorStoreConfig {
    /// Check every `vector_store.*` key, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "vector_store.url",
                    format!("`{url}` is not an http:// or https:// URL of a Qdrant server"),
                ));
            }
        }
        let prefix = &self.collection_prefix;
        if prefix.len() > 32
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(invalid(
                "vector_store.collection_prefix",
                "use at most 32 of [A-Za-z0-9_-]",
            ));
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return Err(invalid("vector_store.timeout_secs", "must be in 1..=600"));
        }
        if !(1..=1000).contains(&self.shard_number) {
            return Err(invalid("vector_store.shard_number", "must be in 1..=1000"));
        }
        if !(1..=100).contains(&self.replication_factor) {
            return Err(invalid(
                "vector_store.replication_factor",
                "must be in 1..=100",
            ));
        }
        if !(1..=self.replication_factor).contains(&self.write_consistency_factor) {
            return Err(invalid(
                "vector_store.write_consistency_factor",
                format!(
                    "must be in 1..=vector_store.replication_factor ({})",
                    self.replication_factor
                ),
            ));
        }
        if self.url.is_none() {
            // Qdrant Edge is one shard in this process: asking it for a cluster layout is a
            // mistake worth stopping at, not a setting to drop silently.
            let server_only = [
                ("vector_store.collection_prefix", !prefix.is_empty()),
                ("vector_store.shard_number", self.shard_number != 1),
                (
                    "vector_store.replication_factor",
                    self.replication_factor != 1,
                ),
                (
                    "vector_store.write_consistency_factor",
                    self.write_consistency_factor != 1,
                ),
            ];
            if let Some((key, _)) = server_only.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    key,
                    "applies only to a Qdrant server (set vector_store.url); the embedded \
                     Qdrant Edge store is one local shard",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A token that may act in any project; unset = no admin token.
    pub admin_token: Option<SecretString>,
    /// On `serve`, create a dev user, project and PAT when the database has no users, and
    /// write the PAT to `data_dir/dev-token`.
    pub dev_bootstrap: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            admin_token: None,
            dev_bootstrap: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// The default model's directory; unset = `data_dir/models/all-minilm-l6-v2`.
    pub model_dir: Option<PathBuf>,
    /// ONNX Runtime's shared library; unset = `data_dir/runtime/libonnxruntime.so`.
    pub onnxruntime_path: Option<PathBuf>,
    /// Model instances: inferences running at once, each on a blocking thread.
    /// Unset = from the cores (see `layout`).
    pub threads: Option<usize>,
    /// ONNX Runtime threads inside one inference. Unset = from the cores (see `layout`).
    pub intra_threads: Option<usize>,
    /// Texts per inference call (documents' chunks, or queries batched together).
    pub max_batch: usize,
    /// Query embeddings kept in memory per model (least recently used out); 0 = off.
    pub query_cache: usize,
    /// Further models knowledge bases may use (and re-index jobs may switch to), besides the
    /// default one. Each is loaded at start.
    pub models: Vec<EmbeddingModelConfig>,
}

/// An embedding model on offer: a folder with `model.onnx` and the tokenizer files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingModelConfig {
    /// The name knowledge bases and re-index requests use.
    pub name: String,
    pub dir: PathBuf,
}

/// The BM25 leg's document-side term weighting (the engine applies IDF). Changing it changes
/// only documents indexed afterwards: re-index a knowledge base to apply it to all of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SparseConfig {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation: 0 ignores chunk length, 1 normalises fully.
    pub b: f32,
    /// The chunk length (in terms, after stop words) counted as average.
    pub avg_len: f32,
}

impl Default for SparseConfig {
    fn default() -> Self {
        let d = ragway_ingest::sparse::Bm25Config::default();
        SparseConfig {
            k1: d.k1,
            b: d.b,
            avg_len: d.avg_len,
        }
    }
}

impl SparseConfig {
    pub fn bm25(&self) -> ragway_ingest::sparse::Bm25Config {
        ragway_ingest::sparse::Bm25Config {
            k1: self.k1,
            b: self.b,
            avg_len: self.avg_len,
            ..Default::default()
        }
    }
}

/// Background jobs (re-indexing a knowledge base).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Job runners in this process; 0 = none (leave it to `ragway worker`).
    pub workers: usize,
    /// A running job's lease; renewed while it works, reclaimed by another worker when it runs
    /// out (its worker died).
    pub lease_secs: u64,
    /// Claims of a job before it fails: each claim counts, so a job whose runner keeps dying
    /// ends after this many, as does one that keeps failing transiently (vector store down).
    pub max_attempts: i64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: 1,
            lease_secs: 30,
            max_attempts: 5,
        }
    }
}

impl EmbeddingConfig {
    /// Model instances and intra-op threads per instance, for `cores` cores. Unset values
    /// come from the cores: an instance gets one thread fewer than the cores, at least 1 and
    /// at most 4 (a lone query uses them all; past 4 a model this small gains little), and
    /// there are as many instances as fill the cores: 2 cores give 2 × 1, 4 give 1 × 3, 16
    /// give 4 × 4. One value set fills the other in.
    ///
    /// The core left over is for the rest of the request. ONNX Runtime's threads wait for
    /// each other at every operator, spinning; when the request's own search or the HTTP
    /// server takes one of their cores, the whole inference stalls until it is back.
    /// `ragway bench chat`, 100k chunks, 2 cores, concurrency 1: a lone query on 1 × 2
    /// threads added p50 5.2–6.0 / p99 14.0–17.6 ms, on 2 × 1 added 6.8–7.4 / 8.8–9.8 ms.
    pub fn layout_for(&self, cores: usize) -> (usize, usize) {
        let cores = cores.max(1);
        match (self.threads, self.intra_threads) {
            (Some(n), Some(t)) => (n, t),
            (Some(n), None) => (n, (cores / n).max(1)),
            (None, Some(t)) => ((cores / t).max(1), t),
            (None, None) => {
                let t = (cores - 1).clamp(1, 4);
                ((cores / t).max(1), t)
            }
        }
    }

    /// `layout_for` this machine's available cores.
    pub fn layout(&self) -> (usize, usize) {
        self.layout_for(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            model_dir: None,
            onnxruntime_path: None,
            threads: None,
            intra_threads: None,
            max_batch: 32,
            query_cache: 4096,
            models: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `ragway=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// Which relational backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// A configuration error, naming the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Defaults < `file` (when given, it must exist) < `RAGWAY__SECTION__KEY` env vars.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(invalid(
                    "--config",
                    format!("file {} does not exist", path.display()),
                ));
            }
            fig = fig.merge(Toml::file(path));
        }
        let mut config = Self::from_figment(fig.merge(Env::prefixed("RAGWAY__").split("__")))?;
        // As in OpenAI's own SDKs: with no backend configured, OPENAI_BASE_URL (and
        // OPENAI_API_KEY, OPENAI_MODEL) name the default one.
        if config.generation.backends.is_empty() {
            if let Ok(base_url) = std::env::var("OPENAI_BASE_URL") {
                let model = std::env::var("OPENAI_MODEL")
                    .ok()
                    .or(config.generation.default_model.clone());
                config.generation.backends.push(BackendConfig {
                    name: "openai".into(),
                    base_url,
                    api_key: std::env::var("OPENAI_API_KEY").ok().map(SecretString::from),
                    models: model
                        .into_iter()
                        .map(|id| ModelConfig {
                            id,
                            upstream_id: None,
                            context_length: default_context_length(),
                            reasoning: false,
                            unsupported_params: vec![],
                        })
                        .collect(),
                });
                config.validate()?;
            }
        }
        Ok(config)
    }

    pub fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = fig.extract().map_err(|e| ConfigError::Parse(Box::new(e)))?;
        if config.data_dir.as_os_str().is_empty() {
            config.data_dir = PathBuf::from("./data");
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        self.database_kind()?;
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        self.vector_store.validate()?;
        if let Some(token) = &self.auth.admin_token {
            use secrecy::ExposeSecret;
            if token.expose_secret().len() < 16 {
                return Err(invalid(
                    "auth.admin_token",
                    "must be at least 16 characters",
                ));
            }
        }
        if self
            .embedding
            .threads
            .is_some_and(|n| !(1..=256).contains(&n))
        {
            return Err(invalid("embedding.threads", "must be in 1..=256"));
        }
        if self
            .embedding
            .intra_threads
            .is_some_and(|n| !(1..=256).contains(&n))
        {
            return Err(invalid("embedding.intra_threads", "must be in 1..=256"));
        }
        if !(1..=1024).contains(&self.embedding.max_batch) {
            return Err(invalid("embedding.max_batch", "must be in 1..=1024"));
        }
        if !(16..=8192).contains(&self.chunking.max_tokens) {
            return Err(invalid("chunking.max_tokens", "must be in 16..=8192"));
        }
        if self.chunking.overlap_tokens * 2 >= self.chunking.max_tokens {
            return Err(invalid(
                "chunking.overlap_tokens",
                "must be less than half of chunking.max_tokens",
            ));
        }
        self.validate_ingest()?;
        if !(self.sparse.k1 > 0.0 && self.sparse.k1 <= 10.0) {
            return Err(invalid("sparse.k1", "must be in (0, 10]"));
        }
        if !(0.0..=1.0).contains(&self.sparse.b) {
            return Err(invalid("sparse.b", "must be in [0, 1]"));
        }
        if !(1.0..=100_000.0).contains(&self.sparse.avg_len) {
            return Err(invalid("sparse.avg_len", "must be in [1, 100000]"));
        }
        if self.jobs.lease_secs < 2 {
            return Err(invalid("jobs.lease_secs", "must be at least 2"));
        }
        if self.jobs.max_attempts < 1 {
            return Err(invalid("jobs.max_attempts", "must be at least 1"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.embedding.models.iter().enumerate() {
            if m.name.is_empty() || !names.insert(m.name.as_str()) {
                return Err(invalid(
                    "embedding.models",
                    format!("entry {i}: `name` must be non-empty and unique"),
                ));
            }
        }
        if self.ingest.json_text_field.is_empty() {
            return Err(invalid("ingest.json_text_field", "must not be empty"));
        }
        self.validate_generation()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", format!("not a tracing filter: {e}")))?;
        Ok(())
    }

    fn validate_ingest(&self) -> Result<(), ConfigError> {
        let i = &self.ingest;
        if i.max_file_bytes == 0 {
            return Err(invalid("ingest.max_file_bytes", "must be positive"));
        }
        if i.lease_secs < 5 {
            return Err(invalid("ingest.lease_secs", "must be at least 5"));
        }
        if i.max_attempts < 1 {
            return Err(invalid("ingest.max_attempts", "must be at least 1"));
        }
        if i.document_timeout_secs == 0 {
            return Err(invalid(
                "ingest.document_timeout_secs",
                "must be at least 1",
            ));
        }
        if i.max_metadata_bytes < 2 {
            return Err(invalid("ingest.max_metadata_bytes", "must be at least 2"));
        }
        if i.max_upload_bytes < i.max_file_bytes as u64 {
            return Err(invalid(
                "ingest.max_upload_bytes",
                "must be at least ingest.max_file_bytes",
            ));
        }
        if let Some(program) = &i.parser_program {
            if !program.is_file() {
                return Err(invalid(
                    "ingest.parser_program",
                    format!("{} is not a file", program.display()),
                ));
            }
        }
        i.limits
            .validate()
            .map_err(|message| invalid("ingest.limits", message))
    }

    fn validate_generation(&self) -> Result<(), ConfigError> {
        let g = &self.generation;
        if g.timeout_secs == 0 || g.connect_timeout_secs == 0 {
            return Err(invalid(
                "generation.timeout_secs",
                "timeouts must be positive",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for b in &g.backends {
            if !(b.base_url.starts_with("http://") || b.base_url.starts_with("https://")) {
                return Err(invalid(
                    "generation.backends.base_url",
                    format!(
                        "backend `{}`: `{}` is not an http(s) URL",
                        b.name, b.base_url
                    ),
                ));
            }
            for m in &b.models {
                if !seen.insert(m.id.as_str()) {
                    return Err(invalid(
                        "generation.backends.models.id",
                        format!("model `{}` is configured twice", m.id),
                    ));
                }
                if m.context_length < 16 {
                    return Err(invalid(
                        "generation.backends.models.context_length",
                        format!("model `{}`: context_length must be at least 16", m.id),
                    ));
                }
            }
        }
        if let Some(d) = &g.default_model {
            let any_listing = g.backends.iter().any(|b| b.models.is_empty());
            if !seen.contains(d.as_str()) && !any_listing {
                return Err(invalid(
                    "generation.default_model",
                    format!("`{d}` is not a configured model"),
                ));
            }
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!("`{}` is not a host:port address", self.server.bind),
            )
        })
    }

    /// The database URL in force: the configured one, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ragway.db").display()
            ),
        }
    }

    pub fn database_kind(&self) -> Result<DatabaseKind, ConfigError> {
        let url = self.database_url();
        if url.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(invalid(
                "database.url",
                format!("`{url}` is neither sqlite:// nor postgres://"),
            ))
        }
    }

    pub fn model_dir(&self) -> PathBuf {
        self.embedding
            .model_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models").join("all-minilm-l6-v2"))
    }

    pub fn onnxruntime_path(&self) -> PathBuf {
        self.embedding
            .onnxruntime_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("runtime").join("libonnxruntime.so"))
    }

    pub fn vectors_dir(&self) -> PathBuf {
        self.data_dir.join("vectors")
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::{Format, Toml};
    use figment::Figment;

    use super::{Config, EmbeddingConfig, Quantization};

    #[test]
    fn vector_store_placement_keys_parse_and_a_bad_value_names_its_key() {
        let toml = "[vector_store]\non_disk_index = true\nquantization = \"int8\"\n";
        let config = Config::from_figment(Figment::new().merge(Toml::string(toml))).unwrap();
        assert!(config.vector_store.on_disk_index);
        assert_eq!(config.vector_store.quantization, Quantization::Int8);
        let defaults = Config::from_figment(Figment::new()).unwrap();
        assert!(!defaults.vector_store.on_disk_index);
        assert_eq!(defaults.vector_store.quantization, Quantization::None);
        let bad = Toml::string("[vector_store]\nquantization = \"int4\"\n");
        let message = Config::from_figment(Figment::new().merge(bad))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("quantization") && message.contains("int4"),
            "{message}"
        );
    }

    #[test]
    fn embedder_layout_fills_the_cores() {
        let auto = EmbeddingConfig::default();
        assert_eq!(auto.layout_for(1), (1, 1));
        assert_eq!(auto.layout_for(2), (2, 1));
        assert_eq!(auto.layout_for(3), (1, 2));
        assert_eq!(auto.layout_for(4), (1, 3));
        assert_eq!(auto.layout_for(8), (2, 4));
        assert_eq!(auto.layout_for(16), (4, 4));
        let instances = EmbeddingConfig {
            threads: Some(2),
            ..Default::default()
        };
        assert_eq!(instances.layout_for(2), (2, 1));
        assert_eq!(instances.layout_for(8), (2, 4));
        let intra = EmbeddingConfig {
            intra_threads: Some(1),
            ..Default::default()
        };
        assert_eq!(intra.layout_for(2), (2, 1));
        let both = EmbeddingConfig {
            threads: Some(3),
            intra_threads: Some(3),
            ..Default::default()
        };
        assert_eq!(both.layout_for(2), (3, 3));
    }
}
