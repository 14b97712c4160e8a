//! Building the application: stores, embedder and HTTP server from a `Config`. Tests call
//! `Application::build` with port 0 and a fresh data dir; `ragway serve` calls it with the
//! configured address.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use ragway_ingest::embed::{Embedder, EmbedderConfig};
use ragway_ingest::pipeline::Pipeline;
use ragway_ingest::sparse::Bm25;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::config::Config;
use crate::generation::Generation;
use crate::retrieval::rerank::Rerankers;
use crate::store::Db;
use crate::vector::edge::EdgeStore;
use crate::vector::qdrant::{QdrantOptions, QdrantStore};
use crate::vector::VectorStore;
use crate::{api, error, telemetry};

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub vectors: Arc<dyn VectorStore>,
    /// Parse → chunk → embed (dense + BM25) with the default embedding model, shared by
    /// ingest and queries.
    pub pipeline: Arc<Pipeline>,
    /// Every embedding model on offer (the default one included), by name, each with its
    /// pipeline (the chunker counts tokens with that model's tokenizer).
    pub models: std::collections::BTreeMap<String, Arc<Pipeline>>,
    /// Wakes this process's ingest workers when a document is queued.
    pub ingest_notify: Notify,
    /// Wakes this process's job runners when a job is queued.
    pub jobs_notify: Notify,
    pub generation: Generation,
    pub rerankers: Rerankers,
    /// The embedding model's tokenizer, used to estimate prompt sizes.
    pub tokenizer: Arc<tokenizers::Tokenizer>,
}

impl AppState {
    /// Tokens in `text` (by the embedding model's tokenizer: an estimate for the generation
    /// model, close enough to keep the context budget safe).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or(text.len() / 3)
    }
}

impl AppState {
    /// The pipeline of embedding model `name`; a 400 naming the models on offer otherwise.
    pub fn pipeline_for(&self, name: &str, param: &str) -> Result<&Arc<Pipeline>, error::ApiError> {
        self.models.get(name).ok_or_else(|| {
            error::ApiError::invalid(
                param,
                format!(
                    "unknown embedding model `{name}`; available: {}",
                    self.models.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// Open every store and load the embedder (or use the one given: tests share one).
    pub async fn load(config: Config, embedder: Option<Embedder>) -> anyhow::Result<AppState> {
        let db = Db::connect(&config).await?;
        let vectors = open_vector_store(&config).await?;
        let embedder = match embedder {
            Some(e) => e,
            None => load_embedder(&config).await?,
        };
        let tokenizer = embedder.tokenizer();
        let bm25 = Bm25::new(config.sparse.bm25());
        let pipeline = Arc::new(Pipeline::new(embedder, bm25.clone()));
        let mut models = std::collections::BTreeMap::new();
        models.insert(pipeline.embedder.model_name().to_owned(), pipeline.clone());
        for m in &config.embedding.models {
            if models.contains_key(&m.name) {
                anyhow::bail!(
                    "embedding.models: `{}` is the default model's name already",
                    m.name
                );
            }
            let extra = load_model(&config, m.dir.clone())
                .await
                .with_context(|| format!("embedding.models `{}`", m.name))?;
            models.insert(m.name.clone(), Arc::new(Pipeline::new(extra, bm25.clone())));
        }
        let generation = Generation::from_config(&config.generation)?;
        let rerankers = Rerankers::new(config.rerankers.clone())?;
        Ok(AppState {
            config,
            db,
            vectors,
            pipeline,
            models,
            ingest_notify: Notify::new(),
            jobs_notify: Notify::new(),
            generation,
            rerankers,
            tokenizer,
        })
    }
}

pub async fn open_vector_store(config: &Config) -> anyhow::Result<Arc<dyn VectorStore>> {
    let settings = &config.vector_store;
    Ok(match &settings.url {
        Some(url) => {
            let options = QdrantOptions {
                url: url.clone(),
                api_key: settings
                    .api_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned()),
                collection_prefix: settings.collection_prefix.clone(),
                timeout: std::time::Duration::from_secs(settings.timeout_secs),
                collections: settings.collection_settings(),
            };
            Arc::new(
                QdrantStore::connect(options)
                    .with_context(|| format!("connecting to Qdrant at {url}"))?,
            )
        }
        None => {
            let dir = config.vectors_dir();
            let collections = settings.collection_settings();
            let store =
                tokio::task::spawn_blocking(move || EdgeStore::open_with(&dir, collections))
                    .await??;
            Arc::new(store)
        }
    })
}

/// Load the default embedding model from the data dir, off the async workers.
pub async fn load_embedder(config: &Config) -> anyhow::Result<Embedder> {
    load_model(config, config.model_dir()).await
}

/// Load the embedding model in `model_dir`, off the async workers.
async fn load_model(config: &Config, model_dir: std::path::PathBuf) -> anyhow::Result<Embedder> {
    let cfg = EmbedderConfig {
        model_dir,
        onnxruntime_path: config.onnxruntime_path(),
        threads: config.embedding.threads,
        max_batch: config.embedding.max_batch,
        max_length: 256,
    };
    let missing = [
        cfg.onnxruntime_path.clone(),
        cfg.model_dir.join("model.onnx"),
    ]
    .into_iter()
    .find(|p| !p.exists());
    if let Some(path) = missing {
        anyhow::bail!(
            "{} is missing: run `scripts/setup {}` to fetch ONNX Runtime and the embedding model",
            path.display(),
            config.data_dir.display()
        );
    }
    tokio::task::spawn_blocking(move || Embedder::load(cfg))
        .await?
        .context("loading the embedding model")
}

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with(config, None).await
    }

    /// Like `build`, reusing an already loaded embedder.
    pub async fn build_with(
        config: Config,
        embedder: Option<Embedder>,
    ) -> anyhow::Result<Application> {
        let addr = config.bind_addr()?;
        let listener =
            TcpListener::bind(addr).with_context(|| format!("binding {addr} (server.bind)"))?;
        let port = listener.local_addr()?.port();
        let shutdown = config.server.shutdown_timeout_secs;
        let http_workers = config.server.workers;
        let ingest_workers = config.ingest.workers;
        let job_workers = config.jobs.workers;
        let state = Arc::new(AppState::load(config, embedder).await?);
        let mut workers = crate::documents::worker::spawn(state.clone(), ingest_workers);
        workers.extend(crate::jobs::worker::spawn(state.clone(), job_workers));
        let state = web::Data::from(state);
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(32 << 20)
                        .error_handler(error::json_error_handler),
                )
                .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
                .wrap(from_fn(telemetry::request_span))
                .configure(api::configure)
                .default_service(web::to(api::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(shutdown);
        if http_workers > 0 {
            server = server.workers(http_workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            state,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serve until SIGINT/SIGTERM, then let in-flight requests finish (`shutdown_timeout_secs`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Claimed documents keep their lease and are picked up again after it runs out.
        for w in self.workers {
            w.abort();
        }
        result
    }

    /// A handle that stops the server (gracefully) and with it the ingest workers.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
