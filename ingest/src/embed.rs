//! Dense embeddings with all-MiniLM-L6-v2 (int8 ONNX) through fastembed, off the async workers.
//! A pool of model instances, one per permit of a semaphore, bounds the CPU spent on inference.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};
use tokenizers::Tokenizer;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::runtime;
use crate::tokenizer::load_tokenizer;

/// Where the model lives and how much CPU it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderConfig {
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`
    /// and `tokenizer_config.json`; its name is the model name.
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library, loaded once per process.
    pub onnxruntime_path: PathBuf,
    /// Model instances in the pool = inferences running at once. Each instance uses one ORT
    /// thread, so this is also the number of cores embedding may occupy.
    pub threads: usize,
    /// Texts per ONNX run; larger requests are split. Between batches other callers get a turn.
    pub max_batch: usize,
    /// Tokens per text including [CLS]/[SEP]; longer texts are truncated by the tokenizer.
    pub max_length: usize,
}

impl EmbedderConfig {
    /// Defaults (1 thread, batches of 32, 256 tokens) for the given files.
    pub fn new(model_dir: impl Into<PathBuf>, onnxruntime_path: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            onnxruntime_path: onnxruntime_path.into(),
            threads: 1,
            max_batch: 32,
            max_length: 256,
        }
    }

    /// Defaults for the layout `scripts/setup DATA_DIR` creates.
    pub fn from_data_dir(data_dir: &Path) -> Self {
        Self::new(
            data_dir.join("models").join(DEFAULT_MODEL),
            data_dir.join("runtime").join("libonnxruntime.so"),
        )
    }

    fn validate(&self) -> Result<()> {
        ensure!(self.threads >= 1, "embedder threads must be at least 1");
        ensure!(self.max_batch >= 1, "embedder max_batch must be at least 1");
        ensure!(
            (8..=512).contains(&self.max_length),
            "embedder max_length must be between 8 and 512 (got {})",
            self.max_length
        );
        Ok(())
    }
}

/// The model `scripts/setup` installs.
pub const DEFAULT_MODEL: &str = "all-minilm-l6-v2";

/// Computes L2-normalised sentence embeddings. Cloning is cheap: clones share one pool.
#[derive(Clone)]
pub struct Embedder {
    inner: Arc<Inner>,
}

struct Inner {
    pool: ModelPool,
    /// Async callers wait here, not on a blocking thread, so at most `threads` blocking
    /// tasks exist at a time and the wait never occupies a tokio worker.
    permits: Arc<Semaphore>,
    max_batch: usize,
    max_length: usize,
    dim: usize,
    model_name: String,
    tokenizer: Arc<Tokenizer>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_name", &self.inner.model_name)
            .field("dim", &self.inner.dim)
            .field("threads", &self.inner.pool.size)
            .finish()
    }
}

impl Embedder {
    /// Loads ONNX Runtime (if not yet loaded) and `threads` instances of the model.
    /// Blocking: reads ~25 MB and builds sessions (about a second per instance here).
    #[tracing::instrument(skip_all, fields(model_dir = %cfg.model_dir.display()), err)]
    pub fn load(cfg: EmbedderConfig) -> Result<Embedder> {
        cfg.validate()?;
        runtime::init_onnxruntime(&cfg.onnxruntime_path)?;
        let environment = runtime::environment()
            .ok_or_else(|| anyhow!("ONNX Runtime environment missing after initialisation"))?;

        let dir = &cfg.model_dir;
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| {
                format!(
                    "cannot read model file '{}': run scripts/setup first",
                    path.display()
                )
            })
        };
        let onnx = read("model.onnx")?;
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let dim = hidden_size(&files.config_file)?;

        let mut models = Vec::with_capacity(cfg.threads);
        for _ in 0..cfg.threads {
            let model = UserDefinedEmbeddingModel::new(onnx.clone(), files.clone())
                // MiniLM was trained with mean pooling; fastembed's default is CLS.
                .with_pooling(Pooling::Mean)
                // Static: batches are allowed (Dynamic forbids them), output unchanged.
                .with_quantization(QuantizationMode::Static);
            let options = InitOptionsUserDefined::new()
                .with_environment(environment.clone())
                .with_max_length(cfg.max_length)
                // One ORT thread per instance: parallelism comes from the pool, so
                // `threads` is exactly the number of cores embedding can use.
                .with_intra_threads(1);
            let model = TextEmbedding::try_new_from_user_defined(model, options)
                .with_context(|| format!("cannot load the model in '{}'", dir.display()))?;
            models.push(model);
        }

        let model_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(DEFAULT_MODEL)
            .to_string();
        let tokenizer = Arc::new(load_tokenizer(&dir.join("tokenizer.json"))?);
        tracing::info!(model = %model_name, dim, threads = cfg.threads, "embedder loaded");
        Ok(Embedder {
            inner: Arc::new(Inner {
                pool: ModelPool::new(models),
                permits: Arc::new(Semaphore::new(cfg.threads)),
                max_batch: cfg.max_batch,
                max_length: cfg.max_length,
                dim,
                model_name,
                tokenizer,
            }),
        })
    }

    /// Embedding dimension (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.inner.dim
    }

    /// The model's name, the name of its folder (`all-minilm-l6-v2`).
    pub fn model_name(&self) -> &str {
        &self.inner.model_name
    }

    /// Tokens per text the model sees, [CLS]/[SEP] included.
    pub fn max_length(&self) -> usize {
        self.inner.max_length
    }

    /// The model's tokenizer without truncation or padding, for sizing chunks.
    pub fn tokenizer(&self) -> Arc<Tokenizer> {
        self.inner.tokenizer.clone()
    }

    /// Embeds `texts` on the calling thread, one vector per text in the same order.
    /// Blocks while every model instance is busy. Never call it on an async worker.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::new(); texts.len()];
        for batch in self.inner.plan(texts) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.inner.run(&batch_texts)?;
            for (i, v) in batch.into_iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Embeds `texts` on tokio's blocking pool, one vector per text in the same order.
    ///
    /// Each batch waits for a semaphore permit, then runs on `spawn_blocking` with a model
    /// instance of its own. A call keeps at most `threads` batches waiting or running, so a
    /// large document uses every instance while a query that arrives meanwhile (the
    /// semaphore is FIFO) waits for at most `threads` batches, not for the whole document.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::new(); texts.len()];
        let mut pending = self.inner.plan(&texts).into_iter();
        let mut slots: Vec<Option<String>> = texts.into_iter().map(Some).collect();
        let mut running = JoinSet::new();
        loop {
            while running.len() < self.inner.pool.size {
                let Some(batch) = pending.next() else { break };
                let batch_texts: Vec<String> = batch
                    .iter()
                    .map(|&i| slots[i].take().unwrap_or_default())
                    .collect();
                running.spawn(run_batch(self.inner.clone(), batch, batch_texts));
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (batch, vectors) = done.context("embedding task panicked")??;
            for (i, v) in batch.into_iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Waits for a permit (on the async side), then runs one batch on the blocking pool.
async fn run_batch(
    inner: Arc<Inner>,
    batch: Vec<usize>,
    texts: Vec<String>,
) -> Result<(Vec<usize>, Vec<Vec<f32>>)> {
    let permit = inner
        .permits
        .clone()
        .acquire_owned()
        .await
        .context("embedder semaphore closed")?;
    let vectors = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        inner.run(&refs)
    })
    .await
    .context("embedding task panicked")??;
    Ok((batch, vectors))
}

impl Inner {
    /// Splits text indices into batches of at most `max_batch`, grouping texts of similar
    /// length: a batch is padded to its longest text, so mixing lengths wastes compute.
    fn plan(&self, texts: &[String]) -> Vec<Vec<usize>> {
        let mut order: Vec<(usize, usize)> = texts.iter().map(String::len).enumerate().collect();
        order.sort_by_key(|&(i, len)| (len, i));
        order
            .chunks(self.max_batch)
            .map(|c| c.iter().map(|&(i, _)| i).collect())
            .collect()
    }

    /// One ONNX run on a leased instance; the lease returns it to the pool even on panic.
    fn run(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut lease = self.pool.lease();
        let vectors = lease
            .model()
            .embed(texts, Some(texts.len()))
            .context("embedding failed")?;
        if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != self.dim) {
            bail!(
                "model returned {} vectors of unexpected shape for {} texts (expected dim {})",
                vectors.len(),
                texts.len(),
                self.dim
            );
        }
        Ok(vectors)
    }
}

/// Reads `hidden_size` from the model's `config.json`: the embedding dimension.
fn hidden_size(config: &[u8]) -> Result<usize> {
    let value: serde_json::Value =
        serde_json::from_slice(config).context("config.json is not valid JSON")?;
    value["hidden_size"]
        .as_u64()
        .map(|d| d as usize)
        .ok_or_else(|| anyhow!("config.json has no numeric 'hidden_size'"))
}

/// Model instances to lend out. `TextEmbedding::embed` takes `&mut self`, so each inference
/// needs an instance of its own; the mutex guards only the list, never an inference.
struct ModelPool {
    idle: Mutex<Vec<TextEmbedding>>,
    returned: Condvar,
    size: usize,
}

impl ModelPool {
    fn new(models: Vec<TextEmbedding>) -> Self {
        Self {
            size: models.len(),
            idle: Mutex::new(models),
            returned: Condvar::new(),
        }
    }

    /// Waits for an idle instance. Async callers hold a permit first, so for them the wait
    /// is only on `embed_blocking` callers finishing a batch.
    fn lease(&self) -> Lease<'_> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(model) = idle.pop() {
                return Lease {
                    pool: self,
                    model: Some(model),
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

struct Lease<'a> {
    pool: &'a ModelPool,
    model: Option<TextEmbedding>,
}

impl Lease<'_> {
    fn model(&mut self) -> &mut TextEmbedding {
        self.model
            .as_mut()
            .expect("a lease holds its model until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(model) = self.model.take() {
            let mut idle = self
                .pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            idle.push(model);
            self.pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_size_reads_config() {
        assert_eq!(hidden_size(br#"{"hidden_size": 384}"#).unwrap(), 384);
        assert!(hidden_size(b"{}").is_err());
    }

    #[test]
    fn config_validation_names_the_field() {
        let mut cfg = EmbedderConfig::from_data_dir(Path::new("/nowhere"));
        cfg.max_batch = 0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("max_batch"), "{err}");
    }
}
