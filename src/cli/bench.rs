//! Benchmarks that print numbers (`ragway bench ingest|chat|reindex`), run in-process on the
//! embedded stores in a throw-away data dir (`bench load`, in `cli::load`, drives a real
//! `ragway serve` instead). `bench/*.sh` run them on release builds.
//! `ragway bench topology` drives a running scale-out deployment (`topology`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use ragway::config::Config;
use ragway::documents::{self, Upload};
use ragway::knowledge;
use ragway::retrieval::{self, RetrievalError, SearchParams};
use ragway::startup::Application;
use ragway::state::AppState;
use ragway::store::jobs::JobStatus;
use ragway::store::knowledge::KnowledgeBase;
use ragway::vector::{Filter, MatchValue, Point, SparseVec};
use ragway_protocol::knowledge::{Chunking, NewKnowledgeBase, ReindexRequest};

mod scale;
mod topology;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest a BEIR corpus (corpus.jsonl) through the whole pipeline, then embed the same
    /// chunks with the bare embedder; print both rates and their ratio.
    Ingest {
        /// A BEIR-layout folder.
        dir: PathBuf,
        /// Only the first N documents.
        #[arg(long)]
        limit: Option<usize>,
        /// Ingest workers (documents at once). The embedder's instances and threads come
        /// from `embedding.threads` / `embedding.intra_threads`, by default from the cores.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// ragway's added latency and throughput against an instant fake backend, without and
    /// with rag_params over a knowledge base of `--chunks` chunks.
    Chat {
        #[arg(long, default_value_t = 100_000)]
        chunks: usize,
        /// Requests per measurement.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        concurrency: Vec<usize>,
        /// One JSON object per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// A knowledge base of `--chunks` synthetic chunks (random unit vectors, BM25 of
    /// Zipf-distributed words) in the embedded store: load and optimise times, RSS after
    /// loading and after optimising, size on disk; then, in a new process that opens the data
    /// as a restarted server would, hybrid search latency at each concurrency and its RSS (the
    /// engine alone: the query vectors are made beforehand).
    Scale(scale::ScaleArgs),
    /// The search half of `bench scale` (it runs this itself).
    #[command(hide = true)]
    ScaleSearch(scale::SearchArgs),
    /// Re-index a knowledge base built from a BEIR corpus (to other chunk sizes) while a loop
    /// searches it: the job's rate, and search latency before and during, with how many
    /// searches came back empty or failed.
    Reindex {
        /// A BEIR-layout folder.
        dir: PathBuf,
        /// Only the first N documents.
        #[arg(long, default_value_t = 300)]
        limit: usize,
        /// The new chunk size in tokens.
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// Embedding threads (model instances).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Load and soak a real `ragway serve` (child process, loopback) against an instant
    /// streaming backend: concurrent streaming chats with rag_params, uploaders, a re-index
    /// in the middle; errors by status, p50/p99 per route, server RSS before, after warm-up
    /// and at the end.
    Load(crate::cli::load::LoadArgs),
    /// Drive a running scale-out deployment (serve replicas, workers, PostgreSQL, a Qdrant
    /// server) one step at a time: upload, measure, check, search, re-index, report.
    /// `bench/topology.sh` starts the processes and calls the steps.
    Topology(topology::TopologyArgs),
}

pub async fn run(cmd: BenchCommand, base: Config) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest {
            dir,
            limit,
            threads,
            json,
        } => ingest(base, &dir, limit, threads, json).await,
        BenchCommand::Chat {
            chunks,
            requests,
            concurrency,
            json,
        } => chat(base, chunks, requests, &concurrency, json).await,
        BenchCommand::Scale(args) => scale::run(base, args).await,
        BenchCommand::ScaleSearch(args) => scale::search(base, args).await,
        BenchCommand::Reindex {
            dir,
            limit,
            max_tokens,
            threads,
        } => reindex(base, &dir, limit, max_tokens, threads).await,
        BenchCommand::Load(args) => crate::cli::load::run(base, args).await,
        BenchCommand::Topology(args) => topology::run(args).await,
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new() -> anyhow::Result<Scratch> {
        let dir =
            std::env::temp_dir().join(format!("ragway-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config over a fresh data dir, reusing `base`'s model files.
pub(crate) fn scratch_config(base: &Config, dir: &Path) -> Config {
    let mut c = base.clone();
    c.embedding.model_dir = Some(base.model_dir());
    c.embedding.onnxruntime_path = Some(base.onnxruntime_path());
    c.data_dir = dir.to_path_buf();
    c.database.url = None;
    c.vector_store.url = None;
    c.ingest.workers = 0;
    c.server.bind = "127.0.0.1:0".into();
    c
}

pub(crate) async fn new_kb(state: &AppState, project: &str) -> anyhow::Result<KnowledgeBase> {
    if state.db.get_project(project).await?.is_none() {
        state.db.create_project(project, project, None).await?;
    }
    knowledge::create(state, project, NewKnowledgeBase::with_id("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("creating the knowledge base: {e}"))
}

async fn ingest(
    base: Config,
    dir: &Path,
    limit: Option<usize>,
    threads: usize,
    as_json: bool,
) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let config = scratch_config(&base, scratch.path());
    let (instances, intra) = config.embedding.layout();
    let state = Arc::new(AppState::load(config, None).await?);
    let kb = new_kb(&state, "bench").await?;
    let docs = queue_corpus(&state, &kb, dir, limit).await?;
    eprintln!("queued {docs} documents; ingesting with {threads} worker(s) …");
    let started = Instant::now();
    let workers = documents::worker::spawn(state.clone(), threads);
    settle(&state, &kb).await?;
    let pipeline_secs = started.elapsed().as_secs_f64();
    workers.iter().for_each(|w| w.abort());
    let chunks = state.vectors.count(&kb.collection, None).await?;

    // The same chunks (title prefix included, as the pipeline embeds them), bare embedder.
    let hits = state
        .vectors
        .scroll(
            &kb.collection,
            &Filter::eq("kb_id", MatchValue::Keyword(kb.id.clone())),
            chunks as usize,
        )
        .await?;
    let texts: Vec<String> = hits
        .iter()
        .map(|h| match h.payload.get("title").and_then(Value::as_str) {
            Some(t) => format!("{t}\n{}", h.payload["text"].as_str().unwrap_or("")),
            None => h.payload["text"].as_str().unwrap_or("").to_owned(),
        })
        .collect();
    let started = Instant::now();
    // One call: the embedder sorts all texts by length and batches them, its best case.
    let n_texts = texts.len();
    state.pipeline.embedder.embed(texts).await?;
    let bare_secs = started.elapsed().as_secs_f64();
    let (pipeline_rate, bare_rate) = (chunks as f64 / pipeline_secs, n_texts as f64 / bare_secs);
    if as_json {
        println!(
            "{}",
            json!({"documents": docs, "chunks": chunks, "pipeline_chunks_per_s": round2(pipeline_rate),
                "bare_chunks_per_s": round2(bare_rate), "ratio": (pipeline_rate / bare_rate * 1000.0).round() / 1000.0,
                "workers": threads, "instances": instances, "intra_threads": intra, "max_batch": state.config.embedding.max_batch})
        );
        return Ok(());
    }
    println!("documents            {docs}");
    println!("chunks               {chunks}");
    println!("pipeline             {pipeline_secs:.1} s   {pipeline_rate:.2} chunks/s  (parse, chunk, embed, BM25, store, queue)");
    println!("bare embedder        {bare_secs:.1} s   {bare_rate:.2} chunks/s  (same texts, one call, batched as the embedder does)");
    println!("ratio                {:.3}", pipeline_rate / bare_rate);
    Ok(())
}

/// Queue the first `limit` documents of a BEIR corpus; returns how many.
async fn queue_corpus(
    state: &AppState,
    kb: &KnowledgeBase,
    dir: &Path,
    limit: Option<usize>,
) -> anyhow::Result<usize> {
    let corpus = std::fs::read_to_string(dir.join("corpus.jsonl"))
        .with_context(|| format!("reading {}/corpus.jsonl", dir.display()))?;
    let mut docs = 0;
    for line in corpus
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(limit.unwrap_or(usize::MAX))
    {
        let v: Value = serde_json::from_str(line)?;
        let up = Upload {
            external_id: v["_id"].as_str().map(str::to_owned),
            title: v["title"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            content: v["text"].as_str().unwrap_or("").as_bytes().to_vec(),
            ..Default::default()
        };
        if up.content.is_empty() {
            continue;
        }
        documents::submit(state, kb, up)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        docs += 1;
    }
    Ok(docs)
}

/// Wait until no document of `kb` is queued or processing.
async fn settle(state: &AppState, kb: &KnowledgeBase) -> anyhow::Result<()> {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let counts = state.db.kb_document_counts(&kb.project_id, &kb.id).await?;
        let busy: i64 = counts
            .iter()
            .filter(|(s, _, _)| !s.is_settled())
            .map(|(_, n, _)| n)
            .sum();
        if busy == 0 {
            return Ok(());
        }
    }
}

async fn reindex(
    base: Config,
    dir: &Path,
    limit: usize,
    max_tokens: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let mut config = scratch_config(&base, scratch.path());
    config.embedding.threads = Some(threads);
    config.jobs.workers = 0;
    let state = Arc::new(AppState::load(config, None).await?);
    let kb = new_kb(&state, "bench").await?;
    let docs = queue_corpus(&state, &kb, dir, Some(limit)).await?;
    eprintln!("ingesting {docs} documents …");
    let workers = documents::worker::spawn(state.clone(), threads);
    settle(&state, &kb).await?;
    workers.iter().for_each(|w| w.abort());
    let before_chunks = state.vectors.count(&kb.collection, None).await?;
    let searches = Searches::new(state.clone(), kb.clone(), dir)?;
    let mut before = Vec::new();
    for i in 0..searches.queries.len() {
        before.push(searches.once(i).await?.0);
    }
    before.sort_by(f64::total_cmp);
    eprintln!("re-indexing {docs} documents to {max_tokens}-token chunks while searching …");
    let run = reindex_while_searching(&state, &kb, &searches, max_tokens).await?;
    let now = state.db.get_kb(&kb.project_id, &kb.id).await?.unwrap_or(kb);
    let after_chunks = state.vectors.count(&now.collection, None).await?;
    println!("documents            {docs}");
    println!("chunks               {before_chunks} (generation 1) -> {after_chunks} (generation {}, {max_tokens}-token chunks)", now.generation);
    println!("re-index             {:.1} s   {:.2} docs/s   {:.2} chunks/s  (parse, chunk, embed, BM25, store, HNSW, switch)", run.secs, docs as f64 / run.secs, after_chunks as f64 / run.secs);
    println!(
        "search before        p50 {:.2} ms   p99 {:.2} ms   ({} searches)",
        percentile(&before, 0.5),
        percentile(&before, 0.99),
        before.len()
    );
    println!(
        "search during        p50 {:.2} ms   p99 {:.2} ms   ({} searches, {} empty, {} failed)",
        percentile(&run.during, 0.5),
        percentile(&run.during, 0.99),
        run.during.len(),
        run.empty,
        run.failed
    );
    Ok(())
}

/// Searches of a knowledge base with a BEIR folder's queries, in a loop.
struct Searches {
    state: Arc<AppState>,
    kb: KnowledgeBase,
    queries: Vec<String>,
    params: SearchParams,
}

impl Searches {
    /// The first 200 queries of `dir/queries.jsonl`.
    fn new(state: Arc<AppState>, kb: KnowledgeBase, dir: &Path) -> anyhow::Result<Searches> {
        let queries: Vec<String> = std::fs::read_to_string(dir.join("queries.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(str::to_owned))
            .take(200)
            .collect();
        anyhow::ensure!(
            !queries.is_empty(),
            "no queries in {}/queries.jsonl",
            dir.display()
        );
        Ok(Searches {
            state,
            kb,
            queries,
            params: SearchParams::default(),
        })
    }

    /// Search with query `i` (modulo): its time in ms, and how many hits or the error.
    async fn once(&self, i: usize) -> anyhow::Result<(f64, Result<usize, RetrievalError>)> {
        let q = &self.queries[i % self.queries.len()];
        let kb = self.kb.clone();
        let kb = self
            .state
            .db
            .get_kb(&kb.project_id, &kb.id)
            .await?
            .unwrap_or(kb);
        let t = Instant::now();
        let hits = retrieval::search(&self.state, &[kb], q, &self.params).await;
        Ok((t.elapsed().as_secs_f64() * 1000.0, hits.map(|h| h.len())))
    }
}

/// How a re-index went for the searches meanwhile.
struct ReindexRun {
    secs: f64,
    /// Search latencies (ms, sorted) while the job ran.
    during: Vec<f64>,
    empty: usize,
    failed: usize,
}

/// Queue a re-index of `kb` to `max_tokens`-token chunks and run it, searching all along;
/// fails unless the job succeeds.
async fn reindex_while_searching(
    state: &Arc<AppState>,
    kb: &KnowledgeBase,
    searches: &Searches,
    max_tokens: usize,
) -> anyhow::Result<ReindexRun> {
    let request = ReindexRequest {
        chunking: Some(Chunking {
            max_tokens: Some(max_tokens),
            overlap_tokens: Some(max_tokens / 8),
            markdown: None,
        }),
        embedding_model: None,
    };
    let job = ragway::jobs::enqueue_reindex(state, kb, request).await?;
    let started = Instant::now();
    let runner = tokio::spawn({
        let state = state.clone();
        async move { ragway::jobs::worker::run_once(&state, "bench").await }
    });
    let mut run = ReindexRun {
        secs: 0.0,
        during: Vec::new(),
        empty: 0,
        failed: 0,
    };
    while !runner.is_finished() {
        let (ms, hits) = searches.once(run.during.len()).await?;
        run.during.push(ms);
        match hits {
            Ok(0) => run.empty += 1,
            Ok(_) => {}
            Err(_) => run.failed += 1,
        }
    }
    run.secs = started.elapsed().as_secs_f64();
    runner.await??;
    run.during.sort_by(f64::total_cmp);
    let done = state
        .db
        .get_job(&job.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the job vanished"))?;
    anyhow::ensure!(
        done.status == JobStatus::Succeeded,
        "the job ended {}: {:?}",
        done.status,
        done.error
    );
    Ok(run)
}

/// Synthetic text of `n` words from a fixed vocabulary: the BM25 leg gets realistic posting
/// lists without embedding 100k chunks (which would take hours on 2 cores).
fn words(rng: &mut u64, n: usize) -> String {
    const VOCAB: [&str; 48] = [
        "protein",
        "cell",
        "gene",
        "expression",
        "tumor",
        "patients",
        "risk",
        "clinical",
        "trial",
        "dose",
        "mice",
        "immune",
        "response",
        "virus",
        "infection",
        "brain",
        "neurons",
        "signal",
        "pathway",
        "receptor",
        "insulin",
        "glucose",
        "heart",
        "blood",
        "pressure",
        "cancer",
        "therapy",
        "drug",
        "mutation",
        "dna",
        "rna",
        "sequence",
        "enzyme",
        "activity",
        "growth",
        "factor",
        "model",
        "study",
        "cohort",
        "children",
        "women",
        "mortality",
        "vaccine",
        "antibody",
        "membrane",
        "tissue",
        "liver",
        "kidney",
    ];
    (0..n)
        .map(|_| VOCAB[(next(rng) % VOCAB.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn next(rng: &mut u64) -> u64 {
    // xorshift64*: deterministic, dependency-free.
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

pub(crate) fn unit_vector(rng: &mut u64, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim)
        .map(|_| (next(rng) % 20_000) as f32 / 10_000.0 - 1.0)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.into_iter().map(|x| x / norm).collect()
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Latencies (ms, sorted) and requests/s of `n` requests, `c` at a time; each request's
/// body is `body(i)` for a number `i` no other request of the run gets.
async fn load(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
    n: usize,
    c: usize,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let started = Instant::now();
    let per_task = n.div_ceil(c);
    let body = Arc::new(body);
    let tasks = (0..c).map(|task| {
        let (client, url, token, body) = (
            client.clone(),
            url.to_owned(),
            token.map(str::to_owned),
            body.clone(),
        );
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for j in 0..per_task {
                let body = body(task * per_task + j);
                let t = Instant::now();
                let mut req = client.post(&url).json(&body);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await?;
                anyhow::ensure!(res.status().is_success(), "status {}", res.status());
                res.bytes().await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        })
    });
    let mut all = Vec::with_capacity(n);
    for t in futures_util::future::join_all(tasks).await {
        all.extend(t??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let rps = all.len() as f64 / secs;
    Ok((all, rps))
}

/// The `i`-th question of a bench run: every request asks something else, so the query
/// cache never answers and each retrieval embeds its query (as distinct users' chats do).
fn question(i: usize) -> String {
    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    next(&mut rng);
    format!(
        "Which {} drives {} in case {i}?",
        words(&mut rng, 3),
        words(&mut rng, 2)
    )
}

/// Request bodies for `bench chat`: each run of rows takes fresh questions (`bodies` moves
/// past every number used so far), so the query cache never answers.
struct Bodies {
    kb_id: String,
    offset: std::sync::atomic::AtomicUsize,
}

impl Bodies {
    fn new(kb_id: &str) -> Bodies {
        Bodies {
            kb_id: kb_id.to_owned(),
            offset: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn bodies(
        &self,
        rag: bool,
        chat_id: Option<&str>,
    ) -> impl Fn(usize) -> Value + Send + Sync + 'static {
        let (kb_id, chat_id) = (self.kb_id.clone(), chat_id.map(str::to_owned));
        let start = self
            .offset
            .fetch_add(1_000_000, std::sync::atomic::Ordering::Relaxed);
        move |i: usize| {
            let mut body = json!({"model": "instant", "max_tokens": 16,
                "messages": [{"role": "user", "content": question(start + i)}]});
            if rag {
                body["rag_params"] = json!({"table_id": kb_id, "k": 3});
            }
            if let Some(id) = &chat_id {
                body["chat_id"] = json!(id);
            }
            body
        }
    }
}

/// Prints a row of `bench chat`: a table line, or a JSON object with `--json`.
struct Rows {
    as_json: bool,
    chunks: usize,
}

impl Rows {
    fn header(&self, dim: usize, requests: usize) {
        if self.as_json {
            return;
        }
        println!("knowledge base: {} chunks, dim {dim}; {requests} requests per row, each a different question; instant fake backend", self.chunks);
        println!(
            "{:<28} {:>6} {:>10} {:>10} {:>12} {:>12} {:>10}",
            "path", "conc", "p50 ms", "p99 ms", "added p50", "added p99", "req/s"
        );
    }

    /// `direct`: the backend's own p50/p99 at this concurrency, for the added latency.
    fn row(
        &self,
        path: &str,
        name: &str,
        c: usize,
        lat: &[f64],
        rps: f64,
        direct: Option<(f64, f64)>,
    ) {
        let (p50, p99) = (percentile(lat, 0.5), percentile(lat, 0.99));
        let added = direct.map(|(d50, d99)| (p50 - d50, p99 - d99));
        if self.as_json {
            println!(
                "{}",
                json!({"path": path, "concurrency": c, "p50_ms": round2(p50), "p99_ms": round2(p99),
                    "added_p50_ms": added.map(|a| round2(a.0)), "added_p99_ms": added.map(|a| round2(a.1)),
                    "req_per_s": round2(rps), "chunks": self.chunks, "requests": lat.len()})
            );
        } else {
            let (a50, a99) = match added {
                Some((a, b)) => (format!("{a:.2}"), format!("{b:.2}")),
                None => ("-".into(), "-".into()),
            };
            println!("{name:<28} {c:>6} {p50:>10.2} {p99:>10.2} {a50:>12} {a99:>12} {rps:>10.1}");
        }
    }
}

async fn chat(
    base: Config,
    chunks: usize,
    requests: usize,
    concurrency: &[usize],
    as_json: bool,
) -> anyhow::Result<()> {
    let backend = fake_backend().await?;
    let scratch = Scratch::new()?;
    let app = Application::build(instant_config(&base, scratch.path(), &backend)).await?;
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", app.port());
    let state = app.state();
    let server = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    let (_, token) = ragway::auth::bootstrap::dev_token(&state)
        .await?
        .context("no dev token")?;
    let kb = new_kb(&state, ragway::auth::bootstrap::DEV_PROJECT).await?;
    load_synthetic_chunks(&state, &kb, chunks).await?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let bodies = Bodies::new(&kb.id);
    let direct_url = format!("{backend}/chat/completions");
    // Warm up connections, the embedder and the shard's caches.
    load(
        &client,
        &url,
        Some(&token),
        bodies.bodies(true, None),
        20,
        2,
    )
    .await?;
    load(
        &client,
        &direct_url,
        None,
        bodies.bodies(false, None),
        20,
        2,
    )
    .await?;

    let rows = Rows { as_json, chunks };
    rows.header(state.pipeline.embedder.dim(), requests);
    for &c in concurrency {
        let plain = bodies.bodies(false, None);
        let (direct, direct_rps) = load(&client, &direct_url, None, plain, requests, c).await?;
        rows.row("direct", "backend direct", c, &direct, direct_rps, None);
        let d = (percentile(&direct, 0.5), percentile(&direct, 0.99));
        for (path, name, rag) in [
            ("plain", "ragway, no rag_params", false),
            ("rag", "ragway, rag_params k=3", true),
        ] {
            let body = bodies.bodies(rag, None);
            let (lat, rps) = load(&client, &url, Some(&token), body, requests, c).await?;
            rows.row(path, name, c, &lat, rps, Some(d));
        }
    }
    // Where one chat's time goes, from the chat log of logged requests at concurrency 1.
    let stages = requests.min(200);
    let logged = bodies.bodies(true, Some("bench-stages"));
    load(&client, &url, Some(&token), logged, stages, 1).await?;
    print_stages(&state, as_json).await?;
    print_query_encoders(&state, requests, as_json).await?;
    // Stop the server and its workers before the scratch dir goes: the store flushes its
    // collections when the last handle drops, and they must still be there.
    server.stop(true).await;
    running.await??;
    drop(state);
    Ok(())
}

/// p50/p99 per stage of the chats logged as `bench-stages`.
async fn print_stages(state: &AppState, as_json: bool) -> anyhow::Result<()> {
    let logs = state
        .db
        .chat_logs(ragway::auth::bootstrap::DEV_PROJECT, "bench-stages")
        .await?;
    let mut by_stage: Vec<(String, Vec<f64>)> = Vec::new();
    for log in &logs {
        let timings: serde_json::Map<String, Value> = serde_json::from_str(&log.timings)?;
        for (k, v) in timings {
            let v = v.as_f64().unwrap_or(0.0);
            match by_stage.iter_mut().find(|(name, _)| *name == k) {
                Some((_, all)) => all.push(v),
                None => by_stage.push((k, vec![v])),
            }
        }
    }
    let mut stage_json = serde_json::Map::new();
    for (k, all) in &mut by_stage {
        all.sort_by(f64::total_cmp);
        stage_json.insert(
            k.trim_end_matches("_ms").to_owned(),
            json!({"p50_ms": round2(percentile(all, 0.5)), "p99_ms": round2(percentile(all, 0.99))}),
        );
    }
    if as_json {
        println!(
            "{}",
            json!({"stages": stage_json, "concurrency": 1, "requests": logs.len()})
        );
    } else {
        println!(
            "stages of a chat with rag_params at concurrency 1 ({} logged chats): p50 / p99 ms",
            logs.len()
        );
        for (k, all) in &by_stage {
            println!(
                "  {:<12} {:>8.2} {:>8.2}",
                k.trim_end_matches("_ms"),
                percentile(all, 0.5),
                percentile(all, 0.99)
            );
        }
    }
    Ok(())
}

/// The BM25 query vector's cost, and the bare embedder on the same kind of query texts in
/// full batches on every instance: the ceiling chat throughput with rag_params can approach.
async fn print_query_encoders(
    state: &AppState,
    requests: usize,
    as_json: bool,
) -> anyhow::Result<()> {
    let bm25_texts: Vec<String> = (0..10_000).map(|i| question(80_000_000 + i)).collect();
    let t = Instant::now();
    for text in &bm25_texts {
        std::hint::black_box(state.pipeline.bm25.encode_query(text));
    }
    let bm25_us = t.elapsed().as_secs_f64() * 1e6 / bm25_texts.len() as f64;
    let embedder = state.pipeline.embedder.clone();
    let (instances, intra) = state.config.embedding.layout();
    let texts: Vec<String> = (0..requests.max(1024))
        .map(|i| question(90_000_000 + i))
        .collect();
    embedder.embed(texts[..64].to_vec()).await?;
    let n = texts.len();
    let t = Instant::now();
    embedder.embed(texts).await?;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let max_batch = state.config.embedding.max_batch;
    if as_json {
        println!("{}", json!({"bm25_query_encode_us": round2(bm25_us)}));
        println!(
            "{}",
            json!({"embedder_batched_queries_per_s": round2(rate), "texts": n, "max_batch": max_batch, "instances": instances, "intra_threads": intra})
        );
    } else {
        println!("BM25 query vector: {bm25_us:.1} µs per query");
        println!("bare embedder, {n} query texts in batches of {max_batch} on {instances} instance(s) × {intra} thread(s): {rate:.1} queries/s");
    }
    Ok(())
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A scratch config whose one generation backend is the instant fake at `backend`.
fn instant_config(base: &Config, dir: &Path, backend: &str) -> Config {
    let mut config = scratch_config(base, dir);
    config.generation.default_model = None;
    config.generation.backends = vec![ragway::config::BackendConfig {
        name: "instant".into(),
        base_url: backend.to_owned(),
        api_key: None,
        models: vec![ragway::config::ModelConfig {
            id: "instant".into(),
            upstream_id: None,
            context_length: 8192,
            reasoning: false,
            unsupported_params: vec![],
        }],
    }];
    config.log.level = "error".into();
    config
}

/// Fill `kb` with `chunks` synthetic chunks (random unit vectors, BM25 of synthetic text),
/// then build its index.
async fn load_synthetic_chunks(
    state: &AppState,
    kb: &KnowledgeBase,
    chunks: usize,
) -> anyhow::Result<()> {
    eprintln!("loading {chunks} chunks (random unit vectors, BM25 of synthetic text) …");
    let t = Instant::now();
    let dim = state.pipeline.embedder.dim();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..chunks {
        batch.push(synthetic_point(state, kb, &mut rng, i, dim));
        if batch.len() == 1000 {
            let full = std::mem::take(&mut batch);
            state.vectors.upsert(&kb.collection, full).await?;
        }
    }
    if !batch.is_empty() {
        state.vectors.upsert(&kb.collection, batch).await?;
    }
    eprintln!("loaded in {:.1} s; optimizing …", t.elapsed().as_secs_f64());
    let t = Instant::now();
    state.vectors.optimize(&kb.collection).await?;
    eprintln!("optimized in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Chunk `i`: four chunks per synthetic document, 60 words each.
fn synthetic_point(
    state: &AppState,
    kb: &KnowledgeBase,
    rng: &mut u64,
    i: usize,
    dim: usize,
) -> Point {
    let text = words(rng, 60);
    let sv = state.pipeline.bm25.encode_document(&text);
    let doc = format!("doc-{}", i / 4);
    let payload = json!({"project_id": kb.project_id, "kb_id": kb.id, "document_id": doc, "external_id": doc, "content_hash": "x",
        "title": format!("Document {}", i / 4), "ordinal": i % 4, "section": 0, "char_start": 0, "char_end": text.len(), "text": text, "metadata": {}});
    let Value::Object(payload) = payload else {
        unreachable!("json! of an object literal is an object")
    };
    Point {
        id: documents::chunk_id(&kb.uid, &doc, "x", 0, (i % 4) as u32),
        dense: unit_vector(rng, dim),
        sparse: SparseVec {
            indices: sv.indices,
            values: sv.values,
        },
        payload,
    }
}

/// An OpenAI-compatible backend that answers at once, whole or streamed (`"stream": true`):
/// measures ragway, not a model.
pub(crate) async fn fake_backend() -> anyhow::Result<String> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let server = HttpServer::new(|| {
        App::new().route(
            "/v1/chat/completions",
            web::post().to(|body: web::Json<Value>| async move {
                if body["stream"].as_bool().unwrap_or(false) {
                    return HttpResponse::Ok()
                        .content_type("text/event-stream")
                        .body(instant_stream());
                }
                HttpResponse::Ok().json(json!({"id": "x", "object": "chat.completion", "created": 0, "model": "instant",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "An answer [@0]."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
            }),
        )
    })
    .workers(2)
    .bind("127.0.0.1:0")?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok(format!("http://127.0.0.1:{port}/v1"))
}

/// A whole streamed answer: role, two content pieces, the finish, usage, `[DONE]`.
fn instant_stream() -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "instant",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let events = [
        chunk(json!({"role": "assistant"}), Value::Null),
        chunk(json!({"content": "An answer "}), Value::Null),
        chunk(json!({"content": "[@0]."}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "instant", "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}),
    ];
    let mut out: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    out.push_str("data: [DONE]\n\n");
    out
}
