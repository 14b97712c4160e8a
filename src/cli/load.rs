//! `ragway bench load`: load and soak a real `ragway serve` (this binary, as a child process
//! on loopback, in a throw-away data dir) against an instant OpenAI-compatible backend the
//! bench serves itself: streaming chats with `rag_params`, concurrent uploaders that wait for
//! their documents, and a re-index in the middle. Bounded in time and in requests. Prints the
//! answers by status and p50/p99 per route, the server's resident memory before the load,
//! after warm-up and at the end, and the growth after warm-up (`--json` for one JSON object).

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::cli::bench::{fake_backend, percentile, Scratch};
use ragway::config::Config;

/// What to run, from the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// How long the load runs after warm-up, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Warm-up before the memory baseline is taken, in seconds.
    #[arg(long, default_value_t = 20)]
    pub warmup: u64,
    /// Streaming chats in flight at once.
    #[arg(long, default_value_t = 200)]
    pub chats: usize,
    /// Uploaders, each sending a document and waiting for it to be ready, then the next.
    #[arg(long, default_value_t = 16)]
    pub uploaders: usize,
    /// Documents in the knowledge base before the load starts.
    #[arg(long, default_value_t = 200)]
    pub documents: usize,
    /// Stop once this many requests were sent, whatever the time.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
    /// The server's database (default: SQLite in the scratch dir). A PostgreSQL URL must name
    /// a database the bench may fill (it is not emptied afterwards).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Latencies and answers of one route.
#[derive(Default)]
struct Route {
    ms: Vec<f64>,
    statuses: BTreeMap<String, u64>,
}

/// Everything measured, shared by the load tasks.
#[derive(Default)]
struct Stats {
    routes: Mutex<BTreeMap<&'static str, Route>>,
    sent: AtomicU64,
}

impl Stats {
    /// Record one answer of `route`: `status` is the HTTP status, `0` for a transport error,
    /// or a word for an answer that was wrong though 200 (a stream that did not end).
    fn record(&self, route: &'static str, status: String, ms: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let r = routes.entry(route).or_default();
        r.ms.push(ms);
        *r.statuses.entry(status).or_default() += 1;
    }

    /// Count a request against the budget; false once it is spent.
    fn take(&self, max: u64) -> bool {
        self.sent.fetch_add(1, Ordering::Relaxed) < max
    }
}

/// The server under load: a `ragway serve` child process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS` of /proc; 0 where there is none).
fn rss_kib(pid: u32) -> u64 {
    status_kib(&pid.to_string(), "VmRSS:")
}

/// A KiB figure (`VmRSS:`, `RssAnon:` …) of `/proc/{pid}/status`; `pid` may be `self`.
/// 0 where there is none.
pub(crate) fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

const ADMIN: &str = "bench-admin-token-0123456789";

/// Start `ragway serve` (this executable) on a free loopback port over `dir`, with `backend`
/// as its one generation backend; wait until it answers.
async fn start_server(
    base: &Config,
    args: &LoadArgs,
    dir: &std::path::Path,
    backend: &str,
) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("serve")
        .env_remove("RAGWAY_CONFIG")
        .env("RAGWAY__DATA_DIR", dir)
        .env("RAGWAY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("RAGWAY__AUTH__ADMIN_TOKEN", ADMIN)
        .env("RAGWAY__AUTH__DEV_BOOTSTRAP", "false")
        .env("RAGWAY__EMBEDDING__MODEL_DIR", base.model_dir())
        .env(
            "RAGWAY__EMBEDDING__ONNXRUNTIME_PATH",
            base.onnxruntime_path(),
        )
        .env("RAGWAY__LOG__LEVEL", "error")
        .env("OPENAI_BASE_URL", backend)
        .env("OPENAI_MODEL", "instant")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = &args.database_url {
        cmd.env("RAGWAY__DATABASE__URL", url);
    }
    let server = Server {
        child: cmd.spawn().context("starting ragway serve")?,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while reqwest::get(format!("{}/healthz", server.base))
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "ragway serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(server)
}

/// A client of the server with a token of a fresh user and project (made with the admin
/// token), and the knowledge base the load uses.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    kb: String,
}

impl Client {
    async fn setup(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        let id = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let admin = |path: &str, body: Value| {
            http.post(format!("{base}{path}"))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
        };
        admin("/v1/users", json!({"id": id}))
            .await?
            .error_for_status()?;
        admin("/v1/projects", json!({"id": id, "owner": id}))
            .await?
            .error_for_status()?;
        let pat: Value = admin(&format!("/v1/users/{id}/tokens"), json!({}))
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = pat["secret"]
            .as_str()
            .context("no token secret")?
            .to_owned();
        let client = Client {
            http,
            base: base.to_owned(),
            token,
            kb: "load".into(),
        };
        client
            .http
            .post(format!("{base}/v1/knowledge_bases"))
            .bearer_auth(&client.token)
            .json(&json!({"id": client.kb}))
            .send()
            .await?
            .error_for_status()?;
        Ok(client)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/knowledge_bases/{}{path}", self.base, self.kb)
    }

    /// PUT document `ext` (with `?wait=true`): its status and time.
    async fn put(&self, ext: &str, text: &str) -> (String, f64) {
        let t = Instant::now();
        let res = self
            .http
            .put(self.url(&format!("/documents/{ext}?wait=true")))
            .bearer_auth(&self.token)
            .json(&json!({"text": text}))
            .send()
            .await;
        let status = match res {
            Ok(r) => {
                let s = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                match body["data"][0]["status"].as_str() {
                    Some("ready") | None => s.to_string(),
                    Some(other) => format!("{s} {other}"),
                }
            }
            Err(_) => "0".into(),
        };
        (status, t.elapsed().as_secs_f64() * 1000.0)
    }

    /// One streaming chat with `rag_params`, read to its end: status and time.
    async fn chat(&self, i: u64) -> (String, f64) {
        let t = Instant::now();
        let body = json!({
            "model": "instant", "stream": true, "max_tokens": 16,
            "messages": [{"role": "user", "content": QUESTIONS[i as usize % QUESTIONS.len()]}],
            "rag_params": {"table_id": self.kb, "k": 3}
        });
        let res = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await;
        let status = match res {
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(text) if text.trim_end().ends_with("data: [DONE]") => "200".into(),
                Ok(_) => "200 unfinished stream".into(),
                Err(_) => "200 broken stream".into(),
            },
            Ok(r) => r.status().as_u16().to_string(),
            Err(_) => "0".into(),
        };
        (status, t.elapsed().as_secs_f64() * 1000.0)
    }
}

const QUESTIONS: [&str; 6] = [
    "When did the keeper trim the wick?",
    "How many ships passed in the fog?",
    "What did the barometer do before dawn?",
    "Which way was the wind backing?",
    "What was wound on the island?",
    "What did the logbook note about the weather?",
];

/// Document `i`, revision `r`: a few sentences, one or two chunks.
fn text(i: usize, r: u64) -> String {
    format!(
        "Logbook {i}, revision {r}: the keeper on island {i} trimmed the wick at dusk, wound the \
         clockwork, and counted {r} ships in the fog; the barometer fell and the wind backed to \
         the south-west before dawn, so the horn sounded every thirty seconds."
    )
}

/// Fill the knowledge base with `n` documents, 16 at a time, each ready before the load.
async fn seed(client: &Client, n: usize) -> anyhow::Result<()> {
    let ids: Vec<usize> = (0..n).collect();
    for batch in ids.chunks(16) {
        let answers = futures_util::future::join_all(
            batch
                .iter()
                .map(|i| async move { client.put(&format!("seed{i}"), &text(*i, 0)).await }),
        )
        .await;
        for (s, _) in answers {
            anyhow::ensure!(s == "200", "seeding answered {s}");
        }
    }
    Ok(())
}

/// Run the load until `until` or the request budget is spent.
fn spawn_load(
    client: &Client,
    stats: &Arc<Stats>,
    args: &LoadArgs,
    until: Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for c in 0..args.chats {
        let (client, stats, max) = (client.clone(), stats.clone(), args.max_requests);
        tasks.push(tokio::spawn(async move {
            let mut i = c as u64;
            while Instant::now() < until && stats.take(max) {
                let (s, ms) = client.chat(i).await;
                stats.record("POST /v1/chat/completions (stream, rag)", s, ms);
                i += 1;
            }
        }));
    }
    for u in 0..args.uploaders {
        let (client, stats, max) = (client.clone(), stats.clone(), args.max_requests);
        tasks.push(tokio::spawn(async move {
            // Revisions of a fixed set of 20 documents per uploader, so the knowledge base
            // keeps its size and memory can be compared over time.
            let mut r = 1u64;
            while Instant::now() < until && stats.take(max) {
                let i = u * 20 + (r as usize % 20);
                let (s, ms) = client.put(&format!("up{i}"), &text(i, r)).await;
                stats.record("PUT …/documents/{id}?wait=true", s, ms);
                r += 1;
            }
        }));
    }
    tasks
}

/// Queue a re-index (to 96-token chunks) and follow it to its end: its outcome.
async fn reindex(client: &Client, stats: &Stats) -> Value {
    let max_tokens = 96;
    let t = Instant::now();
    let res = client
        .http
        .post(client.url("/reindex"))
        .bearer_auth(&client.token)
        .json(&json!({"chunking": {"max_tokens": max_tokens, "overlap_tokens": 8}}))
        .send()
        .await;
    let (status, job) = match res {
        Ok(r) => (
            r.status().as_u16().to_string(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        ),
        Err(_) => ("0".into(), Value::Null),
    };
    stats.record(
        "POST …/reindex",
        status.clone(),
        t.elapsed().as_secs_f64() * 1000.0,
    );
    let Some(id) = job["id"].as_str() else {
        return json!({"status": status, "error": job});
    };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = Instant::now();
        let res = client
            .http
            .get(format!("{}/v1/jobs/{id}", client.base))
            .bearer_auth(&client.token)
            .send()
            .await;
        let (s, j) = match res {
            Ok(r) => (
                r.status().as_u16().to_string(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            ),
            Err(_) => ("0".into(), Value::Null),
        };
        stats.record("GET /v1/jobs/{id}", s, t.elapsed().as_secs_f64() * 1000.0);
        if !matches!(j["status"].as_str(), Some("queued" | "running")) {
            let secs = (j["finished_at"].as_i64().unwrap_or(0)
                - j["created_at"].as_i64().unwrap_or(0)) as f64
                / 1000.0;
            return json!({"id": id, "status": j["status"], "error": j["error"],
                "documents": j["docs_done"], "chunks": j["chunks_done"], "attempts": j["attempts"], "seconds": secs, "max_tokens": max_tokens});
        }
    }
}

pub async fn run(base: Config, args: LoadArgs) -> anyhow::Result<()> {
    let backend = fake_backend().await?;
    let scratch = Scratch::new()?;
    let server = start_server(&base, &args, scratch.path(), &backend).await?;
    let client = Client::setup(&server.base).await?;
    eprintln!("seeding {} documents …", args.documents);
    seed(&client, args.documents).await?;
    let rss_before = server.rss_kib();
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let warm = started + Duration::from_secs(args.warmup);
    let until = warm + Duration::from_secs(args.duration);
    eprintln!(
        "load: {} streaming chats, {} uploaders, {} s warm-up + {} s …",
        args.chats, args.uploaders, args.warmup, args.duration
    );
    let tasks = spawn_load(&client, &stats, &args, until);
    tokio::time::sleep_until(warm.into()).await;
    let rss_warm = server.rss_kib();
    // The re-index starts halfway through the measured time.
    tokio::time::sleep(Duration::from_secs(args.duration / 2)).await;
    let job = reindex(&client, &stats).await;
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let rss_end = server.rss_kib();
    report(&args, &stats, secs, [rss_before, rss_warm, rss_end], job);
    Ok(())
}

/// Print the figures: answers by status and latency per route, memory, the re-index.
fn report(args: &LoadArgs, stats: &Stats, secs: f64, rss: [u64; 3], job: Value) {
    let routes = stats.routes.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = serde_json::Map::new();
    let mut errors = 0u64;
    let mut table = Vec::new();
    for (name, r) in routes.iter() {
        let mut ms = r.ms.clone();
        ms.sort_by(f64::total_cmp);
        let bad: u64 = r
            .statuses
            .iter()
            .filter(|(s, _)| !s.starts_with('2') || s.contains(' '))
            .map(|(_, n)| n)
            .sum();
        // A re-index answers 202; everything else of the load 200.
        errors += bad;
        let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
        table.push(format!(
            "{name:<42} {:>8} {:>8.1} {:>9.1} {:>9.1}   {:?}",
            ms.len(),
            ms.len() as f64 / secs,
            p50,
            p99,
            r.statuses
        ));
        out.insert(
            (*name).to_owned(),
            json!({"requests": ms.len(), "p50_ms": p50, "p99_ms": p99, "statuses": r.statuses, "errors": bad}),
        );
    }
    let growth = if rss[1] > 0 {
        (rss[2] as f64 / rss[1] as f64 - 1.0) * 100.0
    } else {
        0.0
    };
    let summary = json!({
        "database": if args.database_url.is_some() { "postgres" } else { "sqlite" },
        "seconds": secs, "chats": args.chats, "uploaders": args.uploaders,
        "errors": errors, "routes": out, "reindex": job,
        "rss_kib": {"before": rss[0], "after_warmup": rss[1], "end": rss[2]},
        "rss_growth_after_warmup_pct": growth,
    });
    if args.json {
        println!("{summary}");
        return;
    }
    println!(
        "{} s, {} streaming chats + {} uploaders, database {}",
        secs.round(),
        args.chats,
        args.uploaders,
        summary["database"].as_str().unwrap_or("")
    );
    println!(
        "{:<42} {:>8} {:>8} {:>9} {:>9}   statuses",
        "route", "requests", "req/s", "p50 ms", "p99 ms"
    );
    for row in table {
        println!("{row}");
    }
    println!("errors               {errors}");
    println!("re-index             {job}");
    println!(
        "server RSS           {} MiB before, {} MiB after warm-up, {} MiB at the end ({growth:+.1}% after warm-up)",
        rss[0] / 1024,
        rss[1] / 1024,
        rss[2] / 1024
    );
}
