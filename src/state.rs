//! The application state every handler, worker and tool shares: the configuration, the stores,
//! the embedding pipelines, the generation backends and rerankers, and the wake-ups of the
//! queues. A leaf below every service: it knows how to open the adapters, nothing about HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use ragway_ingest::embed::{Embedder, EmbedderConfig};
use ragway_ingest::pipeline::Pipeline;
use ragway_ingest::sparse::Bm25;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::config::Config;
use crate::generation::Generation;
use crate::rerank::Rerankers;
use crate::store::Db;
use crate::vector::edge::EdgeStore;
use crate::vector::qdrant::{QdrantOptions, QdrantStore};
use crate::vector::{CollectionSettings, VectorStore};

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
    pub models: BTreeMap<String, Arc<Pipeline>>,
    /// Wakes this process's ingest workers when a document is queued.
    pub ingest_notify: Notify,
    /// Wakes this process's job runners when a job is queued.
    pub jobs_notify: Notify,
    pub generation: Generation,
    pub rerankers: Rerankers,
    /// The embedding model's tokenizer, used to estimate prompt sizes.
    pub tokenizer: Arc<tokenizers::Tokenizer>,
    /// Where tests hold a worker to interleave writers (none armed in a server).
    pub pauses: crate::lease::Pauses,
}

/// A request named an embedding model this server does not offer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown embedding model `{name}`; available: {}", available.join(", "))]
pub struct UnknownModel {
    pub name: String,
    pub available: Vec<String>,
}

impl AppState {
    /// Counts the tokens of a text by the embedding model's tokenizer (an estimate for the
    /// generation model, close enough to keep the context budget safe); owned, so it can run
    /// on a blocking thread.
    pub fn token_counter(&self) -> impl Fn(&str) -> usize + Send + 'static {
        let tokenizer = self.tokenizer.clone();
        move |text: &str| {
            tokenizer
                .encode(text, false)
                .map(|e| e.len())
                .unwrap_or(text.len() / 3)
        }
    }

    /// The pipeline of embedding model `name`.
    pub fn pipeline_for(&self, name: &str) -> Result<&Arc<Pipeline>, UnknownModel> {
        self.models.get(name).ok_or_else(|| UnknownModel {
            name: name.to_owned(),
            available: self.models.keys().cloned().collect(),
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
        let models = load_models(&config, &pipeline, &bm25).await?;
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
            pauses: Default::default(),
        })
    }
}

/// The default pipeline under its model's name, plus every further configured model.
async fn load_models(
    config: &Config,
    default: &Arc<Pipeline>,
    bm25: &Bm25,
) -> anyhow::Result<BTreeMap<String, Arc<Pipeline>>> {
    let mut models = BTreeMap::new();
    models.insert(default.embedder.model_name().to_owned(), default.clone());
    for m in &config.embedding.models {
        if models.contains_key(&m.name) {
            anyhow::bail!(
                "embedding.models: `{}` is the default model's name already",
                m.name
            );
        }
        let extra = load_model(config, m.dir.clone())
            .await
            .with_context(|| format!("embedding.models `{}`", m.name))?;
        models.insert(m.name.clone(), Arc::new(Pipeline::new(extra, bm25.clone())));
    }
    Ok(models)
}

/// The configured vector store: a Qdrant server when `vector_store.url` is set, else Qdrant
/// Edge in the data dir.
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
                collections: CollectionSettings::from(settings),
            };
            Arc::new(
                QdrantStore::connect(options)
                    .with_context(|| format!("connecting to Qdrant at {url}"))?,
            )
        }
        None => {
            let dir = config.vectors_dir();
            let collections = CollectionSettings::from(settings);
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
    let (threads, intra_threads) = config.embedding.layout();
    let cfg = EmbedderConfig {
        model_dir,
        onnxruntime_path: config.onnxruntime_path(),
        threads,
        intra_threads,
        query_cache: config.embedding.query_cache,
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
