//! End to end against a real generation backend: llama.cpp's OpenAI-compatible server
//! (`xllamacpp`) serving SmolLM2-135M-Instruct, started by `scripts/llm serve`. The client SDKs
//! run against it in `sdk_compat.rs`.
//!
//! Needs the venv of `scripts/llm setup` (run here once per test binary; idempotent) in the
//! repo's data dir, or `RAGWAY_TEST_DATA_DIR`. A missing Python or a failed install fails the
//! tests; nothing is skipped.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ragway::config::{BackendConfig, Config, ModelConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::documents::Kb;
use crate::helpers::{spawn_with, test_config, Backend, TestApp};

/// The alias `scripts/llm serve` gives the model.
pub const LLAMA_MODEL: &str = "smollm2-135m-instruct";
/// How long llama.cpp may take to answer `GET /v1/models` after its start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/llm setup` puts the venv: `<repo>/data`, or `RAGWAY_TEST_DATA_DIR`.
fn llm_data_dir() -> PathBuf {
    std::env::var_os("RAGWAY_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("data"))
}

fn venv_python() -> PathBuf {
    llm_data_dir().join(".venv/bin/python")
}

/// `scripts/llm setup DATA_DIR`, once per test binary; every caller gets its outcome.
fn llm_setup() -> &'static Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let started = Instant::now();
        let out = Command::new(repo_dir().join("scripts/llm"))
            .arg("setup")
            .arg(llm_data_dir())
            .current_dir(repo_dir())
            .output()
            .map_err(|e| format!("could not run scripts/llm setup: {e}"))?;
        let log = format!(
            "--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(format!(
                "`scripts/llm setup {}` failed ({}):\n{log}",
                llm_data_dir().display(),
                out.status
            ));
        }
        if !venv_python().exists() {
            return Err(format!(
                "scripts/llm setup succeeded but {} is missing:\n{log}",
                venv_python().display()
            ));
        }
        println!(
            "scripts/llm setup: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// Keep only the end of a long log.
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A llama.cpp server run by `scripts/llm serve PORT DATA_DIR` as a child process; killed on
/// drop. Its output goes to a temporary log file, shown when something goes wrong.
pub struct LlmServer {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl LlmServer {
    pub async fn start() -> LlmServer {
        let setup = tokio::task::spawn_blocking(llm_setup).await.unwrap();
        if let Err(e) = setup {
            panic!("the llama.cpp backend could not be set up: {e}");
        }
        // The free port is only free when we look: if another process takes it first, the
        // server exits at once and we try another port.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match LlmServer::try_start().await {
                Ok(server) => return server,
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "scripts/llm serve did not start:\n{}",
            failures.join("\n\n")
        );
    }

    async fn try_start() -> Result<LlmServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(repo_dir().join("scripts/llm"))
            .arg("serve")
            .arg(port.to_string())
            .arg(llm_data_dir())
            .current_dir(repo_dir())
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .map_err(|e| format!("could not run scripts/llm serve: {e}"))?;
        let mut server = LlmServer {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            child,
            log,
        };
        let started = Instant::now();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!(
                    "scripts/llm serve {port} exited with {status}:\n{}",
                    server.log_tail()
                ));
            }
            if let Ok(res) = client
                .get(format!("{}/models", server.base_url))
                .send()
                .await
            {
                if res.status() == 200 && res.text().await.unwrap_or_default().contains(LLAMA_MODEL)
                {
                    println!(
                        "llama.cpp on port {port}: ready in {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(server);
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "GET {}/models did not answer within {READY_TIMEOUT:?}:\n{}",
                    server.base_url,
                    server.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        tail(&text, 4000).to_owned()
    }

    /// Stop with SIGTERM, the way a supervisor would, and return how the server exited.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            matches!(sent, Ok(s) if s.success()),
            "could not send SIGTERM to {pid}: {sent:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "llama.cpp ignored SIGTERM for 10 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn model(id: &str) -> ModelConfig {
    ModelConfig {
        id: id.into(),
        upstream_id: None,
        context_length: 8192,
        reasoning: false,
        unsupported_params: vec![],
    }
}

pub fn llama_backend(llm: &LlmServer) -> BackendConfig {
    BackendConfig {
        name: "llama".into(),
        base_url: llm.base_url.clone(),
        api_key: None,
        models: vec![model(LLAMA_MODEL)],
    }
}

const DOCS: [(&str, &str); 3] = [
    (
        "otters",
        "Sea otters hold hands while they sleep so that they do not drift apart.",
    ),
    (
        "beavers",
        "Beavers build dams from branches and mud to create deep ponds.",
    ),
    (
        "owls",
        "Owls can rotate their heads about 270 degrees to look around.",
    ),
];

/// An app with the given config, a user with a PAT, and a knowledge base `kb` with `DOCS`.
pub async fn app_with_kb(config: Config, dir: tempfile::TempDir) -> (TestApp, String) {
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("u", "p").await;
    let kb = Kb::create(&app, &token, "kb").await;
    for (id, text) in DOCS {
        let (s, b) = kb.put_text(id, text, json!({"animal": id})).await;
        assert_eq!(s, 200, "{b}");
    }
    (app, token)
}

fn question() -> Value {
    json!([{"role": "user", "content": "How do sea otters sleep? One sentence."}])
}

fn assert_references(refs: &Value) {
    assert_eq!(refs["object"], "chat.references", "{refs}");
    assert!(refs["search_query"].is_string(), "{refs}");
    let chunks = refs["chunks"]
        .as_array()
        .unwrap_or_else(|| panic!("no references.chunks: {refs}"));
    assert!((1..=2).contains(&chunks.len()), "k=2: {refs}");
    for c in chunks {
        let text = c["text"].as_str().unwrap_or_default().trim();
        let ours = DOCS
            .iter()
            .any(|(_, doc)| doc.contains(text) || text.contains(doc));
        assert!(!text.is_empty() && ours, "not a chunk of ours: {c}");
    }
}

fn assert_citations(citations: &Value, n_chunks: usize) {
    let list = citations
        .as_array()
        .unwrap_or_else(|| panic!("citations is not a list: {citations}"));
    for c in list {
        for key in ["choice_index", "chunk_index", "valid", "start", "end"] {
            assert!(c.get(key).is_some(), "citation without {key}: {c}");
        }
        if c["valid"] == true {
            assert!(c["chunk_index"].as_u64().unwrap() < n_chunks as u64, "{c}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_plain_and_streaming_chat_with_references() {
    let llm = LlmServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.generation.backends = vec![llama_backend(&llm)];
    let (app, token) = app_with_kb(config, dir).await;
    let body = json!({"model": LLAMA_MODEL, "messages": question(), "max_tokens": 48, "rag_params": {"table_id": "kb", "k": 2}});

    // Non-streaming.
    let started = Instant::now();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/chat/completions",
            Some(&token),
            &[],
            Some(body.clone()),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(s, 200, "{b}\nllama.cpp log:\n{}", llm.log_tail());
    println!(
        "chat (non-streaming, k=2, max_tokens 48): {:.2} s: {b}",
        took.as_secs_f64()
    );
    assert_eq!(
        (b["object"].as_str(), b["model"].as_str()),
        (Some("chat.completion"), Some(LLAMA_MODEL)),
        "{b}"
    );
    let content = b["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!content.trim().is_empty(), "empty answer: {b}");
    assert_references(&b["references"]);
    assert_citations(
        &b["citations"],
        b["references"]["chunks"].as_array().unwrap().len(),
    );

    // Streaming: references first, the backend's deltas, citations at the finish, [DONE].
    let mut stream_body = body;
    stream_body["stream"] = json!(true);
    let started = Instant::now();
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&stream_body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut bytes = res.bytes_stream();
    let mut text = String::new();
    let mut first_event = None;
    while let Some(part) = bytes.next().await {
        text.push_str(std::str::from_utf8(&part.unwrap()).unwrap());
        if first_event.is_none() && text.contains("\n\n") {
            first_event = Some(started.elapsed());
        }
    }
    let took = started.elapsed();
    println!(
        "chat (streaming): first event after {:.2} s, done after {:.2} s",
        first_event.unwrap_or_default().as_secs_f64(),
        took.as_secs_f64()
    );
    let events: Vec<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(events.last().copied(), Some("data: [DONE]"), "{text}");
    let parsed: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not an SSE data line: {e}"));
            serde_json::from_str(data).unwrap_or_else(|err| panic!("bad JSON ({err}): {data}"))
        })
        .collect();
    assert!(
        parsed.iter().all(|e| e.get("error").is_none()),
        "an error event: {text}"
    );
    let first = &parsed[0];
    assert_eq!(first["object"], "chat.completion.chunk", "{first}");
    assert_references(&first["references"]);
    let n_chunks = first["references"]["chunks"].as_array().unwrap().len();
    let content: String = parsed
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.trim().is_empty(), "empty streamed answer: {text}");
    let finish = parsed
        .iter()
        .find(|e| e["choices"][0]["finish_reason"].is_string())
        .unwrap_or_else(|| panic!("no chunk with a finish_reason: {text}"));
    assert_citations(&finish["citations"], n_chunks);
    println!("streamed answer: {content:?}");

    app.shutdown().await;
    let status = llm.stop();
    assert!(
        status.success(),
        "scripts/llm serve did not exit cleanly on SIGTERM: {status}"
    );
}
