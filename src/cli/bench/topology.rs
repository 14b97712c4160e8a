//! `ragway bench topology STEP`: drives a running scale-out deployment (serve replicas and
//! workers sharing PostgreSQL and a Qdrant server) over HTTP, one step per call, and checks
//! it against the stores themselves. `bench/topology.sh` starts and kills the processes
//! between the steps; the steps share what they learn through a JSON state file.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ragway::config::Config;
use ragway::store::Db;
use ragway::vector::qdrant::{QdrantOptions, QdrantStore};
use ragway::vector::{Filter, MatchValue, VectorStore};

const USER: &str = "topology";
const PROJECT: &str = "topology";
const KB: &str = "scifact";

#[derive(Debug, clap::Args)]
pub struct TopologyArgs {
    /// Where the steps keep what they share (created by `setup`).
    #[arg(long)]
    state: PathBuf,
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, clap::Subcommand)]
enum Step {
    /// Create a user, project, token and the knowledge base through the first replica.
    Setup {
        /// A serve replica's base URL (give two or more).
        #[arg(long = "replica", required = true)]
        replicas: Vec<String>,
        /// The deployment's admin token.
        #[arg(long, env = "RAGWAY_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
        /// The deployment's PostgreSQL database (for the checks).
        #[arg(long)]
        database: String,
        /// The deployment's Qdrant server, gRPC (for the checks).
        #[arg(long)]
        qdrant: String,
    },
    /// Send a BEIR corpus (corpus.jsonl) through all replicas at once; the last `--overlap`
    /// documents go through every replica, at the same moment.
    Upload {
        corpus: PathBuf,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value_t = 100)]
        overlap: usize,
        /// Requests in flight per replica.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Ingest rate while `--docs` more documents become ready (after `--warmup` more).
    Measure {
        #[arg(long)]
        label: String,
        #[arg(long)]
        docs: i64,
        #[arg(long, default_value_t = 0)]
        warmup: i64,
    },
    /// Record something the script did (a kill, a restart) with the queue at that moment.
    Event {
        #[arg(long)]
        name: String,
    },
    /// Wait until nothing is queued or processing.
    Settle {
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
    },
    /// No document lost or duplicated; Qdrant's points equal the `chunk_count` sums.
    Check {
        #[arg(long)]
        label: String,
    },
    /// Search latency through one replica.
    Search {
        /// Index of the replica to search through.
        #[arg(long, default_value_t = 1)]
        via: usize,
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, default_value_t = 300)]
        n: usize,
    },
    /// Re-index through one replica while searching through another, until the job ends.
    Reindex {
        #[arg(long, default_value_t = 0)]
        via: usize,
        #[arg(long, default_value_t = 1)]
        search_via: usize,
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, default_value_t = 200)]
        max_tokens: usize,
        /// Pause between two searches, so the loop does not starve the re-index of CPU.
        #[arg(long, default_value_t = 100)]
        pause_ms: u64,
    },
    /// Print every result: a table, or JSON lines with `--json`.
    Report {
        #[arg(long)]
        json: bool,
    },
}

/// What the steps share.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    replicas: Vec<String>,
    token: String,
    database: String,
    qdrant: String,
    results: Vec<Value>,
}

impl State {
    fn load(path: &Path) -> anyhow::Result<State> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {} (run `setup` first)", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    fn replica(&self, i: usize) -> anyhow::Result<&str> {
        self.replicas
            .get(i)
            .map(String::as_str)
            .with_context(|| format!("there is no replica {i}"))
    }

    /// Record a result and show it at once.
    fn push(&mut self, result: Value) {
        eprintln!("{result}");
        self.results.push(result);
    }

    async fn db(&self) -> anyhow::Result<Db> {
        let mut config = Config::default();
        config.database.url = Some(self.database.clone());
        config.database.max_connections = 2;
        Ok(Db::connect(&config).await?)
    }
}

pub async fn run(args: TopologyArgs) -> anyhow::Result<()> {
    let path = args.state;
    if let Step::Setup {
        replicas,
        admin_token,
        database,
        qdrant,
    } = args.step
    {
        let state = setup(replicas, &admin_token, database, qdrant).await?;
        return state.save(&path);
    }
    let mut state = State::load(&path)?;
    let http = reqwest::Client::new();
    let api = Api {
        http: &http,
        token: &state.token,
    };
    let result = match args.step {
        Step::Setup { .. } => unreachable!("handled above"),
        Step::Upload {
            corpus,
            limit,
            overlap,
            concurrency,
        } => upload(&api, &state.replicas, &corpus, limit, overlap, concurrency).await?,
        Step::Measure {
            label,
            docs,
            warmup,
        } => measure(&api, state.replica(0)?, &label, docs, warmup).await?,
        Step::Event { name } => {
            let counts = counts(&api, state.replica(0)?).await?;
            json!({"step": "event", "name": name, "documents": counts.documents})
        }
        Step::Settle { timeout_secs } => settle(&api, state.replica(0)?, timeout_secs).await?,
        Step::Check { label } => check(&state, &label).await?,
        Step::Search { via, queries, n } => {
            let queries = read_queries(&queries)?;
            search_latency(&api, state.replica(via)?, &queries, n).await?
        }
        Step::Reindex {
            via,
            search_via,
            queries,
            max_tokens,
            pause_ms,
        } => {
            let queries = read_queries(&queries)?;
            let via = state.replica(via)?.to_owned();
            let search_via = state.replica(search_via)?.to_owned();
            let pause = Duration::from_millis(pause_ms);
            reindex(&api, &via, &search_via, &queries, max_tokens, pause).await?
        }
        Step::Report { json } => {
            report(&state, json);
            return Ok(());
        }
    };
    state.push(result);
    state.save(&path)
}

/// An authenticated client of the deployment.
struct Api<'a> {
    http: &'a reqwest::Client,
    token: &'a str,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, &url).bearer_auth(self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.with_context(|| format!("calling {url}"))?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }
}

async fn setup(
    replicas: Vec<String>,
    admin_token: &str,
    database: String,
    qdrant: String,
) -> anyhow::Result<State> {
    ensure!(replicas.len() >= 2, "give at least two --replica URLs");
    let replicas: Vec<String> = replicas
        .into_iter()
        .map(|r| r.trim_end_matches('/').to_owned())
        .collect();
    let http = reqwest::Client::new();
    let admin = Api {
        http: &http,
        token: admin_token,
    };
    let base = &replicas[0];
    let post = reqwest::Method::POST;
    for (path, body) in [
        ("/v1/users", json!({"id": USER})),
        ("/v1/projects", json!({"id": PROJECT, "owner": USER})),
    ] {
        let (s, b) = admin
            .call(post.clone(), format!("{base}{path}"), Some(&body))
            .await?;
        ensure!(s == 201, "POST {path}: {s} {b}");
    }
    let (s, b) = admin
        .call(
            post.clone(),
            format!("{base}/v1/users/{USER}/tokens"),
            Some(&json!({})),
        )
        .await?;
    ensure!(s == 201, "creating a token: {s} {b}");
    let token = b["secret"].as_str().context("no token secret")?.to_owned();
    let api = Api {
        http: &http,
        token: &token,
    };
    // The second replica sees what the first created: they share the database.
    let (s, b) = api
        .call(
            post,
            format!("{}/v1/knowledge_bases", replicas[1]),
            Some(&json!({"id": KB, "name": "SciFact"})),
        )
        .await?;
    ensure!(s == 201, "creating the knowledge base: {s} {b}");
    Ok(State {
        replicas,
        token,
        database,
        qdrant,
        results: Vec::new(),
    })
}

/// One corpus document, as sent.
struct Doc {
    body: Value,
}

fn read_corpus(corpus: &Path, limit: Option<usize>) -> anyhow::Result<Vec<Doc>> {
    let file = corpus.join("corpus.jsonl");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut docs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)?;
        let (Some(id), Some(body)) = (v["_id"].as_str(), v["text"].as_str()) else {
            continue;
        };
        if body.trim().is_empty() {
            continue;
        }
        let mut doc = json!({"external_id": id, "text": body});
        if let Some(title) = v["title"].as_str().filter(|t| !t.is_empty()) {
            doc["title"] = json!(title);
        }
        docs.push(Doc { body: doc });
        if limit.is_some_and(|l| docs.len() >= l) {
            break;
        }
    }
    Ok(docs)
}

async fn upload(
    api: &Api<'_>,
    replicas: &[String],
    corpus: &Path,
    limit: Option<usize>,
    overlap: usize,
    concurrency: usize,
) -> anyhow::Result<Value> {
    let docs = read_corpus(corpus, limit)?;
    let distinct = docs.len();
    let overlap = overlap.min(distinct);
    // Request i goes to replica i % n; the last `overlap` documents to every replica, each
    // copy sent by a different replica at about the same moment.
    let mut requests: Vec<(usize, &Value)> = Vec::new();
    for (i, doc) in docs[..distinct - overlap].iter().enumerate() {
        requests.push((i % replicas.len(), &doc.body));
    }
    for doc in &docs[distinct - overlap..] {
        for r in 0..replicas.len() {
            requests.push((r, &doc.body));
        }
    }
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<(u16, Value)>> = futures_util::stream::iter(requests)
        .map(|(r, body)| {
            api.call(
                reqwest::Method::POST,
                format!("{}/v1/knowledge_bases/{KB}/documents", replicas[r]),
                Some(body),
            )
        })
        .buffer_unordered(concurrency * replicas.len())
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let mut by_status: HashMap<String, usize> = HashMap::new();
    let mut first_error = None;
    for outcome in &outcomes {
        let key = match outcome {
            Ok((s, b)) => {
                if *s >= 300 && first_error.is_none() {
                    first_error = Some(format!("{s} {b}"));
                }
                s.to_string()
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e:#}"));
                "error".to_owned()
            }
        };
        *by_status.entry(key).or_insert(0) += 1;
    }
    Ok(json!({
        "step": "upload", "requests": outcomes.len(), "distinct": distinct, "overlap": overlap,
        "replicas": replicas.len(), "secs": secs, "statuses": by_status, "first_error": first_error,
    }))
}

/// Document counts by status and chunk total of the knowledge base, as the API reports them.
struct Counts {
    documents: Value,
    ready: i64,
    busy: i64,
    chunks: i64,
}

async fn counts(api: &Api<'_>, base: &str) -> anyhow::Result<Counts> {
    let (s, b) = api
        .call(
            reqwest::Method::GET,
            format!("{base}/v1/knowledge_bases/{KB}"),
            None,
        )
        .await?;
    ensure!(s == 200, "reading the knowledge base: {s} {b}");
    let n = |k: &str| b["documents"][k].as_i64().unwrap_or(0);
    Ok(Counts {
        ready: n("ready"),
        busy: n("queued") + n("processing"),
        chunks: b["chunks"].as_i64().unwrap_or(0),
        documents: b["documents"].clone(),
    })
}

async fn measure(
    api: &Api<'_>,
    base: &str,
    label: &str,
    docs: i64,
    warmup: i64,
) -> anyhow::Result<Value> {
    let wait_for = |target: i64| async move {
        loop {
            let c = counts(api, base).await?;
            if c.ready >= target || c.busy == 0 {
                return anyhow::Ok((Instant::now(), c));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let start = counts(api, base).await?;
    let (t0, c0) = wait_for(start.ready + warmup).await?;
    let (t1, c1) = wait_for(c0.ready + docs).await?;
    let secs = (t1 - t0).as_secs_f64();
    let done = c1.ready - c0.ready;
    ensure!(done > 0, "no document became ready while measuring {label}");
    Ok(json!({
        "step": "measure", "label": label, "documents": done, "chunks": c1.chunks - c0.chunks,
        "secs": secs, "docs_per_sec": done as f64 / secs,
        "chunks_per_sec": (c1.chunks - c0.chunks) as f64 / secs,
    }))
}

async fn settle(api: &Api<'_>, base: &str, timeout_secs: u64) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let c = counts(api, base).await?;
        if c.busy == 0 {
            return Ok(json!({
                "step": "settle", "secs": started.elapsed().as_secs_f64(),
                "documents": c.documents, "chunks": c.chunks,
            }));
        }
        ensure!(
            started.elapsed() < Duration::from_secs(timeout_secs),
            "still {} documents queued or processing after {timeout_secs} s",
            c.busy
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every document once and ready; in Qdrant, each document's points are exactly its
/// `chunk_count` at its current content, and nothing else is in the collection.
async fn check(state: &State, label: &str) -> anyhow::Result<Value> {
    let db = state.db().await?;
    let kb = db
        .get_kb(PROJECT, KB)
        .await?
        .context("the knowledge base is gone")?;
    let mut docs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db
            .list_documents(PROJECT, KB, None, after.as_deref(), 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        docs.extend(page);
    }
    let external: BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| d.external_id.as_deref())
        .collect();
    let not_ready = docs.iter().filter(|d| d.status != "ready").count();
    let chunk_sum: i64 = docs.iter().map(|d| d.chunk_count).sum();
    let store = QdrantStore::connect(QdrantOptions::new(&state.qdrant))?;
    let points = store.count(&kb.collection, None).await?;
    // Each document's points, at its current content: deterministic ids make a retried or
    // doubled write land on the same points, so a duplicate would show up here.
    let mismatched: Vec<Value> = futures_util::stream::iter(&docs)
        .map(|d| {
            let store = &store;
            let collection = &kb.collection;
            async move {
                let mine = Filter::eq("document_id", MatchValue::Keyword(d.id.clone())).and(
                    Filter::eq("content_hash", MatchValue::Keyword(d.content_hash.clone())),
                );
                let n = store.count(collection, Some(&mine)).await?;
                anyhow::Ok((n as i64 != d.chunk_count).then(
                    || json!({"document": d.external_id, "chunk_count": d.chunk_count, "points": n}),
                ))
            }
        })
        .buffer_unordered(8)
        .filter_map(|r| async move { r.transpose() })
        .collect::<Vec<anyhow::Result<Value>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    Ok(json!({
        "step": "check", "label": label, "generation": kb.generation,
        "documents": docs.len(), "distinct_external_ids": external.len(), "not_ready": not_ready,
        "chunk_count_sum": chunk_sum, "qdrant_points": points,
        "documents_with_wrong_points": mismatched.len(), "examples": mismatched.iter().take(3).collect::<Vec<_>>(),
        "ok": not_ready == 0 && external.len() == docs.len() && points as i64 == chunk_sum && mismatched.is_empty(),
    }))
}

fn read_queries(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let queries: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    ensure!(!queries.is_empty(), "no queries in {}", path.display());
    Ok(queries)
}

/// One search: its latency (ms) and how many hits, or why it failed.
async fn search_once(api: &Api<'_>, base: &str, query: &str) -> (f64, Result<usize, String>) {
    let started = Instant::now();
    let outcome = api
        .call(
            reqwest::Method::POST,
            format!("{base}/v1/knowledge_bases/{KB}/search"),
            Some(&json!({"query": query, "k": 10})),
        )
        .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let result = match outcome {
        Ok((200, b)) => Ok(b["data"].as_array().map_or(0, Vec::len)),
        Ok((s, b)) => Err(format!("{s} {b}")),
        Err(e) => Err(format!("{e:#}")),
    };
    (ms, result)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Latency percentiles and the empty/failed counts of a run of searches.
#[derive(Default)]
struct SearchStats {
    latencies: Vec<f64>,
    empty: usize,
    failed: usize,
    first_failure: Option<String>,
}

impl SearchStats {
    fn add(&mut self, ms: f64, result: Result<usize, String>) {
        self.latencies.push(ms);
        match result {
            Ok(0) => self.empty += 1,
            Ok(_) => {}
            Err(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert(e);
            }
        }
    }

    fn json(&mut self) -> Value {
        self.latencies.sort_by(f64::total_cmp);
        json!({
            "searches": self.latencies.len(), "empty": self.empty, "failed": self.failed,
            "p50_ms": percentile(&self.latencies, 0.5), "p99_ms": percentile(&self.latencies, 0.99),
            "first_failure": self.first_failure,
        })
    }
}

async fn search_latency(
    api: &Api<'_>,
    base: &str,
    queries: &[String],
    n: usize,
) -> anyhow::Result<Value> {
    // Warm-up: connections, the replica's embedder.
    for q in queries.iter().take(5) {
        let _ = search_once(api, base, q).await;
    }
    let mut stats = SearchStats::default();
    for q in queries.iter().cycle().take(n) {
        let (ms, result) = search_once(api, base, q).await;
        stats.add(ms, result);
    }
    let mut v = stats.json();
    v["step"] = json!("search");
    v["via"] = json!(base);
    Ok(v)
}

async fn reindex(
    api: &Api<'_>,
    via: &str,
    search_via: &str,
    queries: &[String],
    max_tokens: usize,
    pause: Duration,
) -> anyhow::Result<Value> {
    let body = json!({"chunking": {"max_tokens": max_tokens, "overlap_tokens": max_tokens / 8}});
    let (s, job) = api
        .call(
            reqwest::Method::POST,
            format!("{via}/v1/knowledge_bases/{KB}/reindex"),
            Some(&body),
        )
        .await?;
    ensure!(s == 202, "starting the re-index: {s} {job}");
    let id = job["id"].as_str().context("no job id")?.to_owned();
    let started = Instant::now();
    // (when, latency, outcome) of every search, to single out those around the switch.
    let mut searches: Vec<(i64, f64, Result<usize, String>)> = Vec::new();
    let mut last_poll = Instant::now() - Duration::from_secs(10);
    let mut i = 0;
    let job = loop {
        if last_poll.elapsed() >= Duration::from_secs(1) {
            last_poll = Instant::now();
            let (s, job) = api
                .call(reqwest::Method::GET, format!("{via}/v1/jobs/{id}"), None)
                .await?;
            ensure!(s == 200, "reading the job: {s} {job}");
            if !matches!(job["status"].as_str(), Some("queued" | "running")) {
                break job;
            }
        }
        let (ms, result) = search_once(api, search_via, &queries[i % queries.len()]).await;
        searches.push((ragway::store::now_ms(), ms, result));
        i += 1;
        tokio::time::sleep(pause).await;
    };
    // A few more after the switch: the old collection is dropped right after it.
    for _ in 0..50 {
        let (ms, result) = search_once(api, search_via, &queries[i % queries.len()]).await;
        searches.push((ragway::store::now_ms(), ms, result));
        i += 1;
        tokio::time::sleep(pause).await;
    }
    let secs = started.elapsed().as_secs_f64();
    if job["status"] != "succeeded" {
        bail!("the re-index ended {}: {}", job["status"], job["error"]);
    }
    let switched_at = job["finished_at"].as_i64().unwrap_or(0);
    let (mut all, mut around) = (SearchStats::default(), SearchStats::default());
    for (at, ms, result) in searches {
        if (at - switched_at).abs() <= 10_000 {
            around.add(ms, result.clone());
        }
        all.add(ms, result);
    }
    let docs = job["progress"]["documents_done"]
        .as_i64()
        .or_else(|| job["docs_done"].as_i64())
        .unwrap_or(0);
    Ok(json!({
        "step": "reindex", "job": id, "max_tokens": max_tokens, "secs": secs,
        "documents": docs, "docs_per_sec": docs as f64 / secs, "job_record": job,
        "search_via": search_via, "searches": all.json(), "within_10s_of_switch": around.json(),
    }))
}

fn report(state: &State, json: bool) {
    if json {
        for r in &state.results {
            let mut line = r.clone();
            line["bench"] = json!("topology");
            println!("{line}");
        }
        return;
    }
    println!(
        "topology: {} serve replicas (HTTP only) + workers, PostgreSQL, Qdrant server",
        state.replicas.len()
    );
    for r in &state.results {
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        match r["step"].as_str().unwrap_or("") {
            "upload" => println!(
                "upload      {} requests ({} distinct documents, {} sent through every replica) in {:.1} s; statuses {}",
                r["requests"], r["distinct"], r["overlap"], f("secs"), r["statuses"]
            ),
            "measure" => println!(
                "ingest      {:<28} {:>5} docs {:>6} chunks in {:>6.1} s   {:>6.2} docs/s {:>6.2} chunks/s",
                r["label"].as_str().unwrap_or(""), r["documents"], r["chunks"], f("secs"),
                f("docs_per_sec"), f("chunks_per_sec")
            ),
            "event" => println!("event       {:<28} documents then: {}", r["name"].as_str().unwrap_or(""), r["documents"]),
            "settle" => println!("settled     after {:.1} s: {} ({} chunks)", f("secs"), r["documents"], r["chunks"]),
            "check" => println!(
                "check       {:<28} {} documents ({} distinct ids, {} not ready), chunk_count sum {} = Qdrant points {}: {}",
                r["label"].as_str().unwrap_or(""), r["documents"], r["distinct_external_ids"], r["not_ready"],
                r["chunk_count_sum"], r["qdrant_points"],
                if r["ok"] == true { "ok".to_owned() } else { format!("MISMATCH {}", r["examples"]) }
            ),
            "search" => println!(
                "search      via {}: {} searches, p50 {:.1} ms, p99 {:.1} ms, {} empty, {} failed",
                r["via"].as_str().unwrap_or(""), r["searches"], f("p50_ms"), f("p99_ms"), r["empty"], r["failed"]
            ),
            "reindex" => {
                let s = &r["searches"];
                let w = &r["within_10s_of_switch"];
                println!(
                    "reindex     {} documents to {}-token chunks in {:.1} s ({:.2} docs/s)",
                    r["documents"], r["max_tokens"], f("secs"), f("docs_per_sec")
                );
                println!(
                    "  searching via {} meanwhile: {} searches, p50 {:.1} ms, p99 {:.1} ms, {} empty, {} failed; within 10 s of the switch: {} searches, {} empty, {} failed",
                    r["search_via"].as_str().unwrap_or(""), s["searches"], s["p50_ms"].as_f64().unwrap_or(0.0),
                    s["p99_ms"].as_f64().unwrap_or(0.0), s["empty"], s["failed"], w["searches"], w["empty"], w["failed"]
                );
            }
            other => println!("{other}: {r}"),
        }
    }
}
