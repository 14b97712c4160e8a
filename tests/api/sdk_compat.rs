//! The same scenarios (`tests/sdk/scenarios.txt`) through three unmodified client SDKs against
//! one ragway with the real llama.cpp backend: JamAI Base's `jamaibase` (Python), OpenAI's
//! `openai` (Python) and OpenAI's `openai` (Node). Besides llama.cpp, the server has a slow
//! backend (the same llama.cpp behind a proxy that holds the first token back 3 s, so the
//! clients see keep-alives) and the fake backend for tool calls (SmolLM2 makes none).
//!
//! `scripts/sdk setup` installs the pinned SDKs (once per test binary; idempotent). A missing
//! Python or Node, a failed install, a client that does not finish in time or does not pass
//! every scenario fails the test; nothing is skipped.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ragway::config::{BackendConfig, ModelConfig};

use crate::fake_openai::FakeOpenAi;
use crate::helpers::{test_config, Backend, TestApp};
use crate::llm_e2e::{app_with_kb, repo_dir, tail, LlmServer, LLAMA_MODEL};
use crate::slow_proxy::SlowProxy;

/// Longest time one client may take for all its scenarios.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the slow backend holds back its answer.
const SLOW_DELAY: Duration = Duration::from_secs(3);

/// The model ids clients use: JamAI's `provider/model` form, which its `model_info()` requires.
const MODEL: &str = "llama/smollm2-135m-instruct";
const SLOW_MODEL: &str = "llama/smollm2-slow";
const TOOL_MODEL: &str = "fake/tooler";

fn sdk_dir() -> PathBuf {
    repo_dir().join("tests/sdk")
}

/// `scripts/sdk setup`, once per test binary; every caller gets its outcome.
fn sdk_setup() -> &'static Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let started = Instant::now();
        let out = std::process::Command::new(repo_dir().join("scripts/sdk"))
            .arg("setup")
            .current_dir(repo_dir())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run scripts/sdk setup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`scripts/sdk setup` failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        println!(
            "scripts/sdk setup: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// The scenario names every client must pass.
fn scenarios() -> Vec<String> {
    let text = std::fs::read_to_string(sdk_dir().join("scenarios.txt")).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn model(id: &str, upstream: &str) -> ModelConfig {
    ModelConfig {
        id: id.into(),
        upstream_id: Some(upstream.into()),
        context_length: 8192,
        reasoning: false,
        unsupported_params: vec![],
    }
}

fn backend(name: &str, base_url: &str, models: Vec<ModelConfig>) -> BackendConfig {
    BackendConfig {
        name: name.into(),
        base_url: base_url.into(),
        api_key: None,
        models,
    }
}

/// What one client did: its output and how long it took.
struct Run {
    client: &'static str,
    stdout: String,
    stderr: String,
    success: bool,
    secs: f64,
}

/// Run one client (`program script`) against the app; bounded by `CLIENT_TIMEOUT`.
async fn run_client(client: &'static str, program: PathBuf, app: &TestApp, token: &str) -> Run {
    let script = match client {
        "jamaibase (Python)" => "jamai_sdk.py",
        "openai (Python)" => "openai_sdk.py",
        _ => "openai_sdk.mjs",
    };
    let started = Instant::now();
    let child = tokio::process::Command::new(&program)
        .arg(sdk_dir().join(script))
        .current_dir(sdk_dir())
        .env("RAGWAY_URL", app.url(""))
        .env("RAGWAY_TOKEN", token)
        .env("RAGWAY_PROJECT", "p")
        .env("RAGWAY_KB", "kb")
        .env("RAGWAY_MODEL", MODEL)
        .env("RAGWAY_SLOW_MODEL", SLOW_MODEL)
        .env("RAGWAY_TOOL_MODEL", TOOL_MODEL)
        .env("PYTHONUNBUFFERED", "1")
        // jamaibase reads JAMAI_* settings and a `.env` file: none may leak in.
        .env_remove("JAMAI_API_BASE")
        .env_remove("JAMAI_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CLIENT_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{client} did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("could not run {} {script}: {e}", program.display()));
    Run {
        client,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
        secs: started.elapsed().as_secs_f64(),
    }
}

/// The scenarios a run did not pass (missing, failed, or exit status not 0).
fn problems(run: &Run, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| {
            !run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("ok   {n}:")))
        })
        .cloned()
        .collect();
    let want = format!("{} passed, 0 failed", names.len());
    if !run.success || run.stdout.lines().last() != Some(want.as_str()) {
        out.push(format!("exit status and summary (want `{want}`)"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jamai_and_openai_sdks_pass_the_same_scenarios() {
    let setup = tokio::task::spawn_blocking(sdk_setup).await.unwrap();
    if let Err(e) = setup {
        panic!("the client SDKs could not be set up: {e}");
    }
    let llm = LlmServer::start().await;
    let slow = SlowProxy::start(&llm.base_url, SLOW_DELAY).await;
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.generation.backends = vec![
        backend("llama", &llm.base_url, vec![model(MODEL, LLAMA_MODEL)]),
        backend("slow", &slow.base_url, vec![model(SLOW_MODEL, LLAMA_MODEL)]),
        backend("fake", &fake.base_url, vec![model(TOOL_MODEL, "tooler")]),
    ];
    let (app, token) = app_with_kb(config, dir).await;

    let venv = sdk_dir().join(".venv/bin/python");
    let clients = [
        ("jamaibase (Python)", venv.clone()),
        ("openai (Python)", venv),
        ("openai (Node)", PathBuf::from("node")),
    ];
    let names = scenarios();
    let mut runs = Vec::new();
    for (client, program) in clients {
        let run = run_client(client, program, &app, &token).await;
        println!("=== {} ({:.1} s):\n{}", run.client, run.secs, run.stdout);
        if !run.stderr.is_empty() {
            println!("--- stderr\n{}", tail(&run.stderr, 4000));
        }
        runs.push(run);
    }
    let failures: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let p = problems(r, &names);
            (!p.is_empty()).then(|| format!("{}: {}", r.client, p.join(", ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "scenarios not passed:\n{}\nllama.cpp log:\n{}",
        failures.join("\n"),
        llm.log_tail()
    );
    app.shutdown().await;
}
