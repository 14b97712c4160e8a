//! The web console in a real browser: a real ragway (real embedder, Qdrant Edge, SQLite) with
//! the llama.cpp backend and the fake backend (`echo`: fixed citations; `/rerank`), driven by
//! `web/tests/console.mjs` through playwright-core and Debian's Chromium. The script prints one
//! line per check and `N passed, M failed`; this test fails unless every check ran and passed.
//! It saves a screenshot of every page at 1280×800 and 390×844 in `target/console-screenshots`.
//!
//! Needs the console built into the binary (`scripts/web` before `cargo build`; `scripts/test`
//! does it), Node with `web/node_modules`, and /usr/bin/chromium (`scripts/web --browser`).
//! Nothing is skipped: a missing piece fails the test with what to run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ragway::config::{BackendConfig, RerankerConfig};
use reqwest::header;

use crate::fake_openai::FakeOpenAi;
use crate::helpers::{spawn_app, spawn_with, test_config, Backend};
use crate::llm_e2e::{llama_backend, model, LlmServer, LLAMA_MODEL};

/// The whole browser suite's bound: the chat with the tiny model and a re-index dominate.
const SUITE_TIMEOUT: Duration = Duration::from_secs(420);

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn assert_console_built() {
    assert!(
        ragway::api::console::is_built(),
        "this ragway was compiled without web/dist: run `scripts/web`, then the tests again"
    );
    assert!(
        repo_dir().join("web/node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run `scripts/web`"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run `scripts/web --browser` (apt-get install chromium)"
    );
}

/// The console's routes serve files with the right types and cache rules, and take nothing
/// from the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_served_beside_the_api() {
    assert_console_built();
    let app = spawn_app().await;
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<div id=\"app\">"), "{html}");
    // Every asset the page names is served, immutable, with its type.
    let assets: Vec<&str> = html
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert!(assets.len() >= 2, "{html}");
    for a in assets {
        let res = app.client.get(app.url(a)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{a}");
        let ctype = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let want = if a.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(ctype, want, "{a}");
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
    // The API keeps its routes and its JSON errors.
    for (path, status) in [
        ("/healthz", 200),
        ("/openapi.json", 200),
        ("/metrics", 200),
        ("/v1/whoami", 401),
        ("/v1/nothing", 404),
        ("/assets/missing.js", 404),
        ("/index.html", 404),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        let ctype = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!ctype.starts_with("text/html"), "{path} answered {ctype}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_flows_in_chromium() {
    assert_console_built();
    let llm = LlmServer::start().await;
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.generation.backends = vec![
        llama_backend(&llm),
        BackendConfig {
            name: "fake".into(),
            base_url: fake.base_url.clone(),
            api_key: Some("sk-test".to_owned().into()),
            models: vec![model("echo")],
        },
    ];
    config.rerankers = vec![RerankerConfig {
        name: "words".into(),
        url: format!("{}/rerank", fake.base_url),
        model: None,
        api_key: None,
        timeout_secs: 5,
    }];
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("dev", "default").await;

    // The files the browser uploads: made here, never committed.
    let files = tempfile::tempdir().unwrap();
    let pdf = ragway_ingest::fixtures::pdf(
        &[
            &[
                "Sea otters hold hands while they sleep.",
                "They do this so that they do not drift apart on the water.",
            ],
            &[
                "Otters also keep a favourite stone in a pouch of skin.",
                "They use the stone to crack open shellfish.",
            ],
        ],
        Some("Otter facts"),
    );
    std::fs::write(files.path().join("otters.pdf"), pdf).unwrap();
    std::fs::write(
        files.path().join("beavers.md"),
        "# Beavers\n\nBeavers build dams from branches and mud to create deep ponds.\n\n\
         ## Lodges\n\nA beaver lodge has an underwater entrance that keeps predators out.\n",
    )
    .unwrap();
    std::fs::write(
        files.path().join("broken.pdf"),
        b"%PDF-1.4 this is not a pdf",
    )
    .unwrap();

    let shots = repo_dir().join("target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    println!("screenshots: {}", shots.display());

    let script = repo_dir().join("web/tests/console.mjs");
    let started = Instant::now();
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(repo_dir().join("web"))
        .env("RAGWAY_URL", &app.address)
        .env("RAGWAY_TOKEN", &token)
        .env("RAGWAY_LLM_MODEL", LLAMA_MODEL)
        .env("RAGWAY_FILES", files.path())
        .env("SCREENSHOT_DIR", &shots)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SUITE_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("the browser suite did not finish within {SUITE_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("could not run node {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "{} ({:.1} s, {}):\n{stdout}",
        script.display(),
        started.elapsed().as_secs_f64(),
        out.status
    );
    if !stderr.is_empty() {
        println!("--- stderr\n{stderr}");
    }
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && summary.ends_with(" passed, 0 failed"),
        "the browser checks failed ({}):\n{stdout}\n{stderr}\nllama.cpp log:\n{}",
        out.status,
        llm.log_tail()
    );
    // Exit 0 must come from every check having run: the script declares how many it has.
    let declared = stdout
        .lines()
        .find_map(|l| l.strip_prefix("plan: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .expect("the script prints `plan: N` first");
    assert_eq!(summary, format!("{declared} passed, 0 failed"), "{stdout}");
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(pngs >= 18, "only {pngs} screenshots in {}", shots.display());
    app.shutdown().await;
}
