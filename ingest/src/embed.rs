//! Dense embeddings with all-MiniLM-L6-v2 (int8 ONNX) through fastembed, off the async workers.
//! A pool of model instances, one per permit of a semaphore, bounds the CPU spent on inference.
//! Async callers put their texts in one queue and whoever holds a permit runs the next batch
//! from it: concurrent queries share an inference, documents' chunks are batched across
//! documents by length, and queries go first.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};
use hashlink::LruCache;
use tokenizers::Tokenizer;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

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
    /// Model instances in the pool = inferences running at once.
    pub threads: usize,
    /// ONNX Runtime threads inside one inference (intra-op). Embedding may occupy
    /// `threads × intra_threads` cores.
    pub intra_threads: usize,
    /// Query embeddings kept (least recently used out); 0 turns the cache off.
    pub query_cache: usize,
    /// Texts per ONNX run; larger requests are split. Between batches other callers get a turn.
    pub max_batch: usize,
    /// Tokens per text including [CLS]/[SEP]; longer texts are truncated by the tokenizer.
    pub max_length: usize,
}

impl EmbedderConfig {
    /// Defaults (1 instance of 1 thread, batches of 32, 256 tokens, 4,096 cached queries)
    /// for the given files.
    pub fn new(model_dir: impl Into<PathBuf>, onnxruntime_path: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            onnxruntime_path: onnxruntime_path.into(),
            threads: 1,
            intra_threads: 1,
            query_cache: 4096,
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
        ensure!(
            self.intra_threads >= 1,
            "embedder intra_threads must be at least 1"
        );
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
    /// `threads` instances of `intra_threads` ONNX Runtime threads each.
    pool: ModelPool,
    /// With `intra_threads > 1` on at most `NARROW_MAX_CORES` cores: `threads ×
    /// intra_threads` instances of one thread each, for chunk batches, and for query batches
    /// that find the cores partly busy (see `spawn_next`). `None` otherwise: the pool's
    /// instances are single-threaded already, or the extra instances would cost too much.
    narrow: Option<ModelPool>,
    intra_threads: usize,
    /// With `narrow`, one permit per core embedding may use (`threads × intra_threads`): an
    /// inference on the pool holds `intra_threads` of them, one on `narrow` holds one.
    /// Without, one per instance of the pool. Async callers wait here, not on a blocking
    /// thread, so the wait never occupies a tokio worker.
    permits: Arc<Semaphore>,
    max_batch: usize,
    max_length: usize,
    dim: usize,
    model_name: String,
    tokenizer: Arc<Tokenizer>,
    /// Texts waiting for an inference (see `Queue`).
    queue: Mutex<Queue>,
    /// Recent query embeddings by text (the embedder is one model, so the text is the key).
    cache: Option<Mutex<LruCache<String, Arc<[f32]>>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_name", &self.inner.model_name)
            .field("dim", &self.inner.dim)
            .field("threads", &self.inner.pool.size)
            .field("intra_threads", &self.inner.intra_threads)
            .field("narrow", &self.inner.narrow.as_ref().map_or(0, |p| p.size))
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

        let instances = |count: usize, intra_threads: usize| -> Result<Vec<TextEmbedding>> {
            (0..count)
                .map(|_| {
                    let model = UserDefinedEmbeddingModel::new(onnx.clone(), files.clone())
                        // MiniLM was trained with mean pooling; fastembed's default is CLS.
                        .with_pooling(Pooling::Mean)
                        // Static: batches are allowed (Dynamic forbids them), output unchanged.
                        .with_quantization(QuantizationMode::Static);
                    // ORT's intra-op threads spin between operators (its default): turning
                    // that off measured 2.9 → 4.7 ms for a lone query on 1 × 2 threads.
                    let options = InitOptionsUserDefined::new()
                        .with_environment(environment.clone())
                        .with_max_length(cfg.max_length)
                        .with_intra_threads(intra_threads);
                    TextEmbedding::try_new_from_user_defined(model, options)
                        .with_context(|| format!("cannot load the model in '{}'", dir.display()))
                })
                .collect()
        };
        let models = instances(cfg.threads, cfg.intra_threads)?;
        let cores = cfg.threads * cfg.intra_threads;
        let narrow = if cfg.intra_threads > 1 && cores <= NARROW_MAX_CORES {
            Some(ModelPool::new(instances(cores, 1)?))
        } else {
            None
        };
        let permits = if narrow.is_some() { cores } else { cfg.threads };

        let model_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(DEFAULT_MODEL)
            .to_string();
        let tokenizer = Arc::new(load_tokenizer(&dir.join("tokenizer.json"))?);
        tracing::info!(
            model = %model_name,
            dim,
            threads = cfg.threads,
            intra_threads = cfg.intra_threads,
            "embedder loaded"
        );
        let cache = std::num::NonZeroUsize::new(cfg.query_cache)
            .map(|n| Mutex::new(LruCache::new(n.get())));
        Ok(Embedder {
            inner: Arc::new(Inner {
                pool: ModelPool::new(models),
                narrow,
                intra_threads: cfg.intra_threads,
                permits: Arc::new(Semaphore::new(permits)),
                max_batch: cfg.max_batch,
                max_length: cfg.max_length,
                dim,
                model_name,
                tokenizer,
                queue: Mutex::new(Queue::default()),
                cache,
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

    /// Inferences run so far on the multi-threaded instances and on the single-threaded
    /// ones (always 0 when `intra_threads` is 1: every instance is single-threaded then).
    pub fn runs(&self) -> (u64, u64) {
        let narrow = self.inner.narrow.as_ref();
        (
            self.inner.pool.runs.load(Ordering::Relaxed),
            narrow.map_or(0, |p| p.runs.load(Ordering::Relaxed)),
        )
    }

    /// Embeds `texts` on the calling thread, one vector per text in the same order.
    /// Blocks while every model instance is busy. Never call it on an async worker.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::new(); texts.len()];
        for batch in self.inner.plan(texts) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.inner.run(&self.inner.pool, &batch_texts)?;
            for (i, v) in batch.into_iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Embeds a document's texts, one vector per text in the same order.
    ///
    /// The texts join the chunk queue, where inferences take them in batches across
    /// documents, grouped by length (see `Queue::take`); the caller helps run those batches
    /// whenever it gets a model permit, so a lone document still uses every instance. Queries
    /// go before chunks, and a chunk batch holds at most `CHUNK_BATCH_TOKENS` padded tokens,
    /// so a query never waits behind more than one short batch per instance. A batch that
    /// fails is re-run document by document, so one document's failure is its alone.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let n = texts.len();
        let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
        if n == 0 {
            return Ok(Vec::new());
        }
        let (reply, mut rx) = mpsc::unbounded_channel();
        lock(&self.inner.queue).push_chunks(texts, &reply);
        drop(reply);
        let mut received = 0;
        let mut helping = true;
        while received < n {
            let permit = tokio::select! {
                biased;
                got = rx.recv() => {
                    let Some((i, v)) = got else { bail!("the embedder dropped a batch") };
                    out[i] = Some(v.map_err(|e| anyhow!(e))?);
                    received += 1;
                    continue;
                }
                permit = self.inner.permits.clone().acquire_owned(), if helping => {
                    permit.context("embedder semaphore closed")?
                }
            };
            // Nothing left to take: every text of ours is in an inference already.
            helping = self.inner.spawn_next(permit);
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Embeds one query, batched with the queries that arrive meanwhile.
    ///
    /// A cached vector comes back at once. Otherwise the query joins the query queue and the
    /// caller waits for either its vector or a model permit; with a permit it runs the next
    /// batch (queries first, up to `max_batch` of them, its own or others'). A lone query
    /// starts at once (no timer); under load each inference carries every query that queued
    /// during the previous one, so throughput follows batched inference, not one run per
    /// query. Inference and hand-out run on the blocking task, so a caller that goes away
    /// strands nobody.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        if let Some(v) = self.inner.cached(text) {
            return Ok(v);
        }
        let (reply, mut rx) = oneshot::channel();
        lock(&self.inner.queue).queries.push_back(WaitingQuery {
            text: text.to_owned(),
            reply,
        });
        let mut helping = true;
        loop {
            let permit = tokio::select! {
                biased;
                done = &mut rx => {
                    return done
                        .context("the embedder dropped a query")?
                        .map_err(|e| anyhow!(e));
                }
                permit = self.inner.permits.clone().acquire_owned(), if helping => {
                    permit.context("embedder semaphore closed")?
                }
            };
            helping = self.inner.spawn_next(permit);
        }
    }
}

/// Padded tokens (texts × the longest text's tokens) a batch of chunks may hold: 2 full
/// chunks, or 32 short texts. On a CPU long texts embed no faster in bigger batches (ONNX
/// Runtime, this model, 242-token chunks, 2 threads: 1 at a time 22.7 chunks/s, 2 → 21.0,
/// 8 → 18.8, 32 → 18.0) while short ones gain from them, and a query that arrives meanwhile
/// waits for at most one such batch per instance.
const CHUNK_BATCH_TOKENS: usize = 512;

/// The most cores for which single-threaded instances are loaded beside multi-threaded ones.
/// Each instance of this model costs about 120 MB of RSS here (an idle server: 1 × 1
/// 208 MB, 2 × 1 341 MB, 1 × 2 with its 2 single-threaded instances 439 MB, 1 × 4 with 4
/// 660 MB), so on bigger machines chunks share the multi-threaded instances instead.
const NARROW_MAX_CORES: usize = 4;

/// How many of the oldest queued chunks a batch is chosen from.
const CHUNK_WINDOW: usize = 256;

/// Texts waiting for an inference. Queries (short, latency-bound) go first; chunks are taken
/// in batches of similar length from the oldest queued ones (see `take`).
#[derive(Default)]
struct Queue {
    queries: VecDeque<WaitingQuery>,
    chunks: VecDeque<WaitingChunk>,
}

/// A query in the queue and where its vector goes.
struct WaitingQuery {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// One text of a document's `embed` call: its place in the call and where its vector goes.
struct WaitingChunk {
    text: String,
    index: usize,
    reply: ChunkReply,
}

type ChunkReply = mpsc::UnboundedSender<(usize, Result<Vec<f32>, String>)>;

/// One inference's worth of texts.
enum Batch {
    Queries(Vec<WaitingQuery>),
    Chunks(Vec<WaitingChunk>),
}

impl Queue {
    fn push_chunks(&mut self, texts: Vec<String>, reply: &ChunkReply) {
        self.chunks.extend(
            texts
                .into_iter()
                .enumerate()
                .map(|(index, text)| WaitingChunk {
                    text,
                    index,
                    reply: reply.clone(),
                }),
        );
    }

    /// The next batch: up to `max_batch` queries whose callers still wait; else chunks.
    ///
    /// Chunks: the oldest queued chunk always goes in (nothing starves), with the chunks
    /// closest to it in length among the `CHUNK_WINDOW` oldest, as many as `max_batch` and
    /// `CHUNK_BATCH_TOKENS` allow. A batch is padded to its longest text, so grouping by
    /// length across documents cuts the padding that one document's mixed chunks carry
    /// (a full chunk and a short last one).
    fn take(&mut self, max_batch: usize, max_length: usize) -> Option<Batch> {
        self.queries.retain(|q| !q.reply.is_closed());
        if !self.queries.is_empty() {
            let n = self.queries.len().min(max_batch);
            return Some(Batch::Queries(self.queries.drain(..n).collect()));
        }
        self.chunks.retain(|c| !c.reply.is_closed());
        if self.chunks.is_empty() {
            return None;
        }
        // The oldest chunk, and those of the `CHUNK_WINDOW` oldest within 1.5× of its length,
        // closest first: at most a third of any text's slot is padding.
        let base = estimate_tokens(&self.chunks[0].text, max_length);
        let window = self.chunks.len().min(CHUNK_WINDOW);
        let mut near: Vec<(usize, usize, usize)> = (0..window)
            .filter_map(|i| {
                let t = estimate_tokens(&self.chunks[i].text, max_length);
                let (short, long) = (t.min(base), t.max(base));
                (2 * long <= 3 * short).then_some((long - short, t, i))
            })
            .collect();
        near.sort_unstable();
        let (mut picked, mut longest) = (Vec::with_capacity(max_batch), 0);
        for (_, tokens, i) in near {
            let padded = (picked.len() + 1) * longest.max(tokens);
            if picked.is_empty() || padded <= CHUNK_BATCH_TOKENS {
                picked.push(i);
                longest = longest.max(tokens);
            }
            if picked.len() == max_batch {
                break;
            }
        }
        // Highest index first, so the indices still to remove stay valid.
        picked.sort_unstable_by(|a, b| b.cmp(a));
        let batch = picked
            .into_iter()
            .filter_map(|i| self.chunks.remove(i))
            .collect();
        Some(Batch::Chunks(batch))
    }
}

/// Tokens a text will take: about one per 4 bytes of English, plus [CLS]/[SEP], at most
/// the model's limit. Only for grouping and sizing batches, so a rough figure does.
fn estimate_tokens(text: &str, max_length: usize) -> usize {
    (text.len() / 4 + 2).clamp(1, max_length)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn cached(&self, text: &str) -> Option<Vec<f32>> {
        let cache = self.cache.as_ref()?;
        lock(cache).get(text).map(|v| v.to_vec())
    }

    /// With a permit in hand (a core; without `narrow`, an instance): start the next batch
    /// on the blocking pool (the permits it holds go with it) and say so, or give the permit
    /// back when nothing waits.
    ///
    /// Where it runs, when the pool's instances use several threads: a query batch takes
    /// the other cores' permits too if they are free and runs on a multi-threaded instance
    /// (a lone query uses the whole machine); otherwise, and for every chunk batch, it runs
    /// on a single-threaded instance with its one core. Under load, each core then runs an
    /// inference of its own instead of all of them waiting at every operator for the
    /// slowest of one inference's threads (ORT's threads spin there, and any other work on
    /// the machine — parsing, chunking, writes — stalls them all). `ragway bench ingest`,
    /// SciFact, 2 cores, 1 × 2 threads: 34.0–36.3 chunks/s with chunks on the two-threaded
    /// instance, 39.7–40.9 with them on two single-threaded ones.
    fn spawn_next(self: &Arc<Self>, mut permit: OwnedSemaphorePermit) -> bool {
        let Some(batch) = lock(&self.queue).take(self.max_batch, self.max_length) else {
            return false;
        };
        let wide = match (&batch, &self.narrow) {
            (_, None) => true,
            (Batch::Chunks(_), Some(_)) => false,
            (Batch::Queries(_), Some(_)) => {
                let more = self.intra_threads as u32 - 1;
                match self.permits.clone().try_acquire_many_owned(more) {
                    Ok(rest) => {
                        permit.merge(rest);
                        true
                    }
                    Err(_) => false,
                }
            }
        };
        let inner = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match batch {
                Batch::Queries(queries) => inner.answer_queries(queries, wide),
                Batch::Chunks(chunks) => inner.answer_chunks(chunks, wide),
            }
        });
        true
    }

    /// The instances an inference runs on: the pool's, or the single-threaded ones.
    fn instances(&self, wide: bool) -> &ModelPool {
        match &self.narrow {
            Some(narrow) if !wide => narrow,
            _ => &self.pool,
        }
    }

    /// Embeds a batch of queries in one run and hands each caller its vector (or the error).
    fn answer_queries(&self, batch: Vec<WaitingQuery>, wide: bool) {
        let texts: Vec<&str> = batch.iter().map(|q| q.text.as_str()).collect();
        match self.run(self.instances(wide), &texts) {
            Ok(vectors) => {
                if let Some(cache) = &self.cache {
                    let mut cache = lock(cache);
                    for (q, v) in batch.iter().zip(&vectors) {
                        cache.insert(q.text.clone(), Arc::from(v.as_slice()));
                    }
                }
                for (q, v) in batch.into_iter().zip(vectors) {
                    let _ = q.reply.send(Ok(v));
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                for q in batch {
                    let _ = q.reply.send(Err(message.clone()));
                }
            }
        }
    }

    /// Embeds a batch of chunks in one run and hands each its vector. When the run fails
    /// and the batch mixes documents, each document's chunks run again on their own, so
    /// the error reaches only the document that causes it.
    fn answer_chunks(&self, batch: Vec<WaitingChunk>, wide: bool) {
        let pool = self.instances(wide);
        let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
        let error = match self.run(pool, &texts) {
            Ok(vectors) => {
                for (c, v) in batch.into_iter().zip(vectors) {
                    let _ = c.reply.send((c.index, Ok(v)));
                }
                return;
            }
            Err(e) => format!("{e:#}"),
        };
        let mixed = batch.iter().any(|c| !c.reply.same_channel(&batch[0].reply));
        if !mixed {
            for c in batch {
                let _ = c.reply.send((c.index, Err(error.clone())));
            }
            return;
        }
        let mut rest = batch;
        while let Some(first) = rest.first() {
            let reply = first.reply.clone();
            let (mine, others): (Vec<_>, Vec<_>) =
                rest.into_iter().partition(|c| c.reply.same_channel(&reply));
            rest = others;
            let texts: Vec<&str> = mine.iter().map(|c| c.text.as_str()).collect();
            match self.run(pool, &texts) {
                Ok(vectors) => {
                    for (c, v) in mine.into_iter().zip(vectors) {
                        let _ = c.reply.send((c.index, Ok(v)));
                    }
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    for c in mine {
                        let _ = c.reply.send((c.index, Err(message.clone())));
                    }
                }
            }
        }
    }

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

    /// One ONNX run on an instance leased from `pool`; the lease returns it even on panic.
    fn run(&self, pool: &ModelPool, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut lease = pool.lease();
        pool.runs.fetch_add(1, Ordering::Relaxed);
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
    /// Inferences run on these instances so far.
    runs: AtomicU64,
}

impl ModelPool {
    fn new(models: Vec<TextEmbedding>) -> Self {
        Self {
            size: models.len(),
            idle: Mutex::new(models),
            returned: Condvar::new(),
            runs: AtomicU64::new(0),
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

    fn chunks(
        queue: &mut Queue,
        lens: &[usize],
    ) -> mpsc::UnboundedReceiver<(usize, Result<Vec<f32>, String>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        queue.push_chunks(lens.iter().map(|&n| "x".repeat(n)).collect(), &tx);
        rx
    }

    fn taken(batch: Option<Batch>) -> Vec<usize> {
        match batch {
            Some(Batch::Chunks(c)) => {
                let mut lens: Vec<usize> = c.iter().map(|c| c.text.len()).collect();
                lens.sort_unstable();
                lens
            }
            Some(Batch::Queries(_)) => panic!("queries where chunks were expected"),
            None => Vec::new(),
        }
    }

    #[test]
    fn chunk_batches_group_lengths_across_documents_and_never_skip_the_oldest() {
        let mut queue = Queue::default();
        // Two documents, each a long chunk (~250 tokens) then a short last one (~30).
        let _a = chunks(&mut queue, &[1000, 120]);
        let _b = chunks(&mut queue, &[1000, 120]);
        let _c = chunks(&mut queue, &[1000, 120]);
        // The oldest is long: long chunks go together (two fill the token budget); then the
        // oldest is a short one, and the three short ones go together.
        assert_eq!(taken(queue.take(32, 256)), vec![1000, 1000]);
        assert_eq!(taken(queue.take(32, 256)), vec![120, 120, 120]);
        assert_eq!(taken(queue.take(32, 256)), vec![1000]);
        assert!(queue.take(32, 256).is_none());

        // Padded tokens are capped: 5 full chunks make batches of 2, 2, 1.
        let _d = chunks(&mut queue, &[2000; 5]);
        let sizes: Vec<usize> = (0..4).map(|_| taken(queue.take(32, 256)).len()).collect();
        assert_eq!(sizes, vec![2, 2, 1, 0]);
        // max_batch caps short texts.
        let _e = chunks(&mut queue, &[8; 10]);
        assert_eq!(taken(queue.take(4, 256)).len(), 4);
    }

    #[test]
    fn queries_go_first_and_gone_callers_are_skipped() {
        let mut queue = Queue::default();
        let gone = chunks(&mut queue, &[40, 40]);
        drop(gone);
        let _live = chunks(&mut queue, &[400]);
        let (tx, rx) = oneshot::channel();
        queue.queries.push_back(WaitingQuery {
            text: "q".into(),
            reply: tx,
        });
        let (tx_gone, rx_gone) = oneshot::channel();
        drop(rx_gone);
        queue.queries.push_back(WaitingQuery {
            text: "gone".into(),
            reply: tx_gone,
        });
        match queue.take(32, 256) {
            Some(Batch::Queries(q)) => assert_eq!(q.len(), 1),
            _ => panic!("the live query goes first"),
        }
        drop(rx);
        assert_eq!(taken(queue.take(32, 256)), vec![400]);
        assert!(queue.take(32, 256).is_none());
    }

    #[test]
    fn config_validation_names_the_field() {
        let mut cfg = EmbedderConfig::from_data_dir(Path::new("/nowhere"));
        cfg.max_batch = 0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("max_batch"), "{err}");
    }
}
