//! The Qdrant server going down mid-ingest, for real: a server of our own (started from
//! `QDRANT_BIN` on free loopback ports, with its own storage) is killed while documents are
//! being ingested, then started again. Meanwhile search and chat answer 503
//! `vector_store_unavailable`, uploads are still queued, and no document fails; afterwards
//! every document ends `ready` with its chunks in the store exactly once. Compiled as ignored
//! (with the reason) unless `QDRANT_BIN` was set at build time (see build.rs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::documents::Kb;
use crate::fake_openai::FakeOpenAi;
use crate::helpers::{spawn_with, test_config, Backend, TestApp};

/// A Qdrant server process on loopback, killed when dropped.
struct QdrantProcess {
    bin: PathBuf,
    dir: PathBuf,
    http_port: u16,
    grpc_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl QdrantProcess {
    async fn start(bin: &Path, dir: &Path) -> QdrantProcess {
        let mut server = QdrantProcess {
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            http_port: free_port(),
            grpc_port: free_port(),
            child: None,
        };
        server.restart().await;
        server
    }

    fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Start it (again, on the same ports and storage) and wait until it is ready.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.join("qdrant.log")).unwrap();
        let child = Command::new(&self.bin)
            .arg("--disable-telemetry")
            .current_dir(&self.dir)
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", self.http_port.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", self.grpc_port.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", self.dir.join("storage"))
            .env(
                "QDRANT__STORAGE__SNAPSHOTS_PATH",
                self.dir.join("snapshots"),
            )
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        self.child = Some(child);
        let ready = format!("http://127.0.0.1:{}/readyz", self.http_port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = reqwest::get(&ready).await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Qdrant did not become ready; see {}",
                self.dir.join("qdrant.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: the server dies as in a crash, mid-write.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for QdrantProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(qdrant_bin)]
fn qdrant_bin() -> PathBuf {
    PathBuf::from(std::env::var_os("QDRANT_BIN").expect("QDRANT_BIN names a Qdrant binary"))
}

#[cfg(not(qdrant_bin))]
fn qdrant_bin() -> PathBuf {
    unreachable!("compiled without QDRANT_BIN: the outage test is ignored")
}

/// A text of about `words` words about topic `i`, so each document is a few chunks.
fn text(i: usize, words: usize) -> String {
    let topics = ["otters", "glaciers", "volcanoes", "lighthouses", "beehives"];
    let topic = topics[i % topics.len()];
    (0..words)
        .map(|w| match w % 7 {
            0 => topic.to_owned(),
            1 => format!("observation{}", (i * 31 + w) % 97),
            2 => "the".to_owned(),
            3 => "record".to_owned(),
            4 => format!("site{}", i),
            5 => "shows".to_owned(),
            _ => "change.".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `status → count` of the knowledge base's documents, and their `chunk_count` sum.
async fn statuses(kb: &Kb<'_>) -> (std::collections::BTreeMap<String, usize>, u64, Vec<Value>) {
    let (s, b) = kb.call(Method::GET, "/documents?limit=1000", None).await;
    assert_eq!(s, 200, "{b}");
    let docs = b["data"].as_array().unwrap().clone();
    let mut counts = std::collections::BTreeMap::new();
    let mut chunks = 0;
    for d in &docs {
        *counts
            .entry(d["status"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
        chunks += d["chunk_count"].as_u64().unwrap_or(0);
    }
    (counts, chunks, docs)
}

fn assert_vector_store_503(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], "vector_store_unavailable",
        "{what}: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vector store"),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(qdrant_bin),
    ignore = "needs a Qdrant server binary: set QDRANT_BIN"
)]
async fn qdrant_server_down_mid_ingest_then_back() {
    const DOCS: usize = 40;
    const LATE: usize = 5;
    let scratch = tempfile::tempdir().unwrap();
    let mut qdrant = QdrantProcess::start(&qdrant_bin(), scratch.path()).await;
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.vector_store.url = Some(qdrant.grpc_url());
    config.vector_store.collection_prefix = String::new();
    config.vector_store.timeout_secs = 5;
    config.ingest.workers = 2;
    // Two attempts: the claim the outage cuts, and the one after it. A worker that kept
    // claiming during the outage would fail documents within seconds.
    config.ingest.max_attempts = 2;
    config.generation.backends = vec![ragway::config::BackendConfig {
        name: "fake".into(),
        base_url: fake.base_url.clone(),
        api_key: None,
        models: vec![],
    }];
    let app: TestApp = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("ana", "p").await;
    let kb = Kb::create(&app, &token, "kb").await;

    for i in 0..DOCS {
        let (s, b) = kb
            .call(
                Method::POST,
                "/documents",
                Some(json!({"external_id": format!("d{i}"), "text": text(i, 900)})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    // Kill the server once a few documents are in and most are not.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (counts, _, _) = statuses(&kb).await;
        if counts.get("ready").copied().unwrap_or(0) >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ingest made no progress: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    qdrant.kill();
    let (at_kill, _, _) = statuses(&kb).await;
    let ready_at_kill = at_kill.get("ready").copied().unwrap_or(0);
    assert!(ready_at_kill < DOCS, "killed mid-ingest: {at_kill:?}");
    eprintln!("Qdrant killed with documents {at_kill:?}");

    // Search, chat (whole and streamed) and a new knowledge base: a clear 503.
    let (s, b) = kb
        .call(
            Method::POST,
            "/search",
            Some(json!({"query": "otters", "k": 3})),
        )
        .await;
    assert_vector_store_503(s, &b, "search");
    let chat = |stream: bool| {
        json!({"model": "echo", "stream": stream,
               "messages": [{"role": "user", "content": "What about otters?"}],
               "rag_params": {"table_id": "kb", "k": 3, "search_query": "otters"}})
    };
    for stream in [false, true] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/chat/completions",
                Some(&token),
                &[],
                Some(chat(stream)),
            )
            .await;
        assert_vector_store_503(s, &b, &format!("chat (stream: {stream})"));
    }
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/knowledge_bases",
            Some(&token),
            &[],
            Some(json!({"id": "another"})),
        )
        .await;
    assert_vector_store_503(s, &b, "creating a knowledge base");
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    // Uploads need only the database: they are queued for when the store is back.
    for i in DOCS..DOCS + LATE {
        let (s, b) = kb
            .call(
                Method::POST,
                "/documents",
                Some(json!({"external_id": format!("d{i}"), "text": text(i, 300)})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }

    // Far longer than the retries of a worker that kept trying would last (one 2 s backoff
    // for 2 attempts): nothing fails, the work waits.
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(15) {
        let (counts, _, docs) = statuses(&kb).await;
        assert!(
            !counts.contains_key("failed"),
            "a document failed for the outage: {:?}",
            docs.iter()
                .filter(|d| d["status"] == "failed")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (during, _, _) = statuses(&kb).await;
    assert_eq!(
        during.get("ready").copied().unwrap_or(0),
        ready_at_kill,
        "nothing finishes without the store: {during:?}"
    );
    eprintln!("after 15 s of outage: {during:?}");

    qdrant.restart().await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let (counts, chunks, docs) = loop {
        let (counts, chunks, docs) = statuses(&kb).await;
        assert!(!counts.contains_key("failed"), "{counts:?}");
        if counts.get("ready").copied().unwrap_or(0) == DOCS + LATE {
            break (counts, chunks, docs);
        }
        assert!(
            Instant::now() < deadline,
            "ingest did not resume: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("after the restart: {counts:?}, {chunks} chunks");
    // Only the claims the outage cut (one per ingest worker at most) were tried twice: no
    // attempt was spent while the store was down.
    let retried = docs
        .iter()
        .filter(|d| d["attempts"].as_i64().unwrap_or(0) > 1)
        .count();
    assert!(
        retried <= 2,
        "{retried} documents were claimed again during the outage: {:?}",
        docs.iter().map(|d| &d["attempts"]).collect::<Vec<_>>()
    );
    assert_eq!(kb.point_count().await, chunks, "points = chunk_count sum");
    let hits = kb.search("glaciers observation", json!({})).await;
    assert!(!hits.is_empty());
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/chat/completions",
            Some(&token),
            &[],
            Some(chat(false)),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    app.shutdown().await;
}
