//! Hostile input against the real binary: each file of the issue's list is uploaded over HTTP
//! to a `ragway serve` child process, which parses in `ragway parse` grandchildren. The server
//! stays up, every document ends `failed` naming the limit it broke, the server's peak RSS stays
//! under a stated bound, oversized requests are refused whole, and a restart takes nothing up
//! again. A parser program that hangs or dies of a signal fails its documents alone too.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::Backend;
use crate::process::{stop, Site};
use ragway_ingest::hostile;

/// The bound on the server's peak resident set over the whole suite: the embedding model and
/// runtime take about 250 MiB; what a hostile file could add must stay far below the 15 GB the
/// DOCX bomb once cost.
const MAX_SERVER_RSS_MIB: u64 = 768;
const GIB: u64 = 1 << 30;

struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    async fn create_kb(&self, kb: &str) {
        let res = self
            .http
            .post(format!("{}/v1/knowledge_bases", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"id": kb}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
    }

    /// POST `files` (name, bytes, metadata) as one multipart upload; status and body.
    async fn upload(&self, kb: &str, files: Vec<(&str, Vec<u8>, Value)>) -> (u16, Value) {
        let mut form = Form::new();
        for (name, bytes, metadata) in files {
            form = form
                .part("file", Part::bytes(bytes).file_name(name.to_owned()))
                .text("metadata", metadata.to_string());
        }
        let res = self
            .http
            .post(format!("{}/v1/knowledge_bases/{kb}/documents", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn documents(&self, kb: &str) -> Vec<Value> {
        let res = self
            .http
            .get(format!(
                "{}/v1/knowledge_bases/{kb}/documents?limit=100",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// Wait until every document of `kb` is `ready` or `failed`; their rows by file name.
    async fn settled(&self, kb: &str, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let docs = self.documents(kb).await;
            let open: Vec<_> = docs
                .iter()
                .filter(|d| !matches!(d["status"].as_str(), Some("ready" | "failed")))
                .map(|d| d["file_name"].clone())
                .collect();
            if open.is_empty() {
                return docs;
            }
            assert!(Instant::now() < deadline, "still processing: {open:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn alive(&self) {
        let res = self.http.get(format!("{}/healthz", self.base)).send().await;
        assert_eq!(res.expect("the server is down").status().as_u16(), 200);
    }
}

fn error_of<'a>(docs: &'a [Value], file_name: &str) -> (&'a str, &'a str) {
    let d = docs
        .iter()
        .find(|d| d["file_name"] == file_name)
        .unwrap_or_else(|| panic!("no document {file_name}"));
    (
        d["status"].as_str().unwrap(),
        d["error"].as_str().unwrap_or(""),
    )
}

/// Peak resident set of process `pid`, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_fail_alone_and_a_restart_takes_none_up_again() {
    let site = Site::new(Backend::Sqlite).await;
    let env = [
        ("RAGWAY__INGEST__WORKERS", "2".to_owned()),
        ("RAGWAY__INGEST__MAX_FILE_BYTES", (12u64 << 20).to_string()),
        (
            "RAGWAY__INGEST__MAX_UPLOAD_BYTES",
            (16u64 << 20).to_string(),
        ),
    ];
    let (proc, base) = site.serve(&env).await;
    let pid = proc.0.as_ref().unwrap().id();
    let server = Server {
        base,
        token: site.token(),
        http: reqwest::Client::new(),
    };
    server.create_kb("hostile").await;

    let depth = "nesting depth over 512 (ingest.limits.max_depth)";
    let inflated = "over 134217728 bytes (ingest.limits.max_inflated_bytes)";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("spans.html", hostile::nested_html("span", 200_000), depth),
        ("divs.html", hostile::nested_html("div", 200_000), depth),
        ("quotes.md", hostile::nested_markdown_quotes(50_000), depth),
        ("arrays.pdf", hostile::pdf_nested_arrays(200_000), depth),
        (
            "deep.json",
            hostile::nested_json(100_000),
            "expected a JSON object with a 'text' field",
        ),
        ("bomb.docx", hostile::docx_bomb(3 * GIB / 2), inflated),
        ("bomb.pdf", hostile::pdf_bomb(3 * GIB / 2), inflated),
        (
            "giant.txt",
            hostile::giant_line(9 << 20),
            "over 8388608 bytes (ingest.limits.max_text_bytes)",
        ),
    ];
    for (name, bytes, _) in &cases {
        let (status, body) = server
            .upload("hostile", vec![(name, bytes.clone(), json!({}))])
            .await;
        assert_eq!(status, 202, "{name}: {body}");
    }
    let docs = server.settled("hostile", 240).await;
    for (name, _, reason) in &cases {
        let (status, error) = error_of(&docs, name);
        assert_eq!(status, "failed", "{name}");
        assert!(error.contains(reason), "{name}: {error}");
    }
    server.alive().await;

    // Requests past a cap are refused whole: nothing of them is queued.
    let before = server.documents("hostile").await.len();
    let fine = || ("fine.txt", b"A fine small document.".to_vec(), json!({}));
    let huge_metadata = json!({"blob": "x".repeat(100 << 10)});
    let (status, body) = server
        .upload(
            "hostile",
            vec![fine(), ("meta.txt", b"text".to_vec(), huge_metadata)],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "metadata", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ingest.max_metadata_bytes"),
        "{body}"
    );
    let six_mib = || vec![b'a'; 6 << 20];
    let (status, body) = server
        .upload(
            "hostile",
            vec![
                ("a.txt", six_mib(), json!({})),
                ("b.txt", six_mib(), json!({})),
                ("c.txt", six_mib(), json!({})),
            ],
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ingest.max_upload_bytes"));
    assert_eq!(server.documents("hostile").await.len(), before);
    let chat =
        |rag: Value| json!({"messages": [{"role": "user", "content": "hi"}], "rag_params": rag});
    let template = format!("{{{{context}}}}{}", "x".repeat(100 << 10));
    let (status, body) = server
        .post(
            "/v1/chat/completions",
            chat(json!({"table_id": "hostile", "prompt_template": template})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "rag_params.prompt_template");
    let (status, body) = server
        .post(
            "/v1/knowledge_bases/hostile/search",
            json!({"query": "q".repeat(10_000)}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "query");

    let peak = peak_rss_mib(pid);
    println!("server peak RSS over the hostile suite: {peak} MiB");
    assert!(
        peak < MAX_SERVER_RSS_MIB,
        "peak RSS {peak} MiB >= {MAX_SERVER_RSS_MIB} MiB"
    );

    // A restart processes nothing again: the failed documents keep their attempts and errors.
    let settled: Vec<(Value, Value, Value)> = docs
        .iter()
        .map(|d| (d["id"].clone(), d["attempts"].clone(), d["error"].clone()))
        .collect();
    stop(proc).await;
    let (_proc, base) = site.serve(&env).await;
    let server = Server { base, ..server };
    let (status, body) = server.upload("hostile", vec![fine()]).await;
    assert_eq!(status, 202, "{body}");
    let after = server.settled("hostile", 120).await;
    assert_eq!(error_of(&after, "fine.txt").0, "ready");
    for (id, attempts, error) in settled {
        let d = after.iter().find(|d| d["id"] == id).unwrap();
        assert_eq!(d["status"], "failed", "{d}");
        assert_eq!((&d["attempts"], &d["error"]), (&attempts, &error), "{d}");
    }
}

/// A parser program that misbehaves on purpose: it hangs on `hang.txt` (until the parse
/// deadline kills it), aborts on `abort.txt`, and dies of SIGSEGV on anything else.
const BAD_PARSER: &str = r#"#!/bin/sh
request=$(mktemp)
cat > "$request"
if grep -aq hang.txt "$request"; then rm -f "$request"; exec sleep 600; fi
if grep -aq abort.txt "$request"; then rm -f "$request"; kill -ABRT $$; fi
rm -f "$request"
kill -SEGV $$
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parser_that_hangs_or_crashes_fails_its_document_alone() {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new(Backend::Sqlite).await;
    let program = site.dir.path().join("bad-parser");
    std::fs::write(&program, BAD_PARSER).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = [
        ("RAGWAY__INGEST__WORKERS", "3".to_owned()),
        (
            "RAGWAY__INGEST__PARSER_PROGRAM",
            program.display().to_string(),
        ),
        ("RAGWAY__INGEST__LIMITS__PARSE_TIMEOUT_SECS", "3".to_owned()),
    ];
    let (_proc, base) = site.serve(&env).await;
    let server = Server {
        base,
        token: site.token(),
        http: reqwest::Client::new(),
    };
    server.create_kb("bad").await;
    let started = Instant::now();
    for name in ["hang.txt", "abort.txt", "segv.txt"] {
        let (status, body) = server
            .upload("bad", vec![(name, b"some text".to_vec(), json!({}))])
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let docs = server.settled("bad", 60).await;
    let cases = [
        (
            "hang.txt",
            "the parser did not finish in 3 s (ingest.limits.parse_timeout_secs)",
        ),
        ("abort.txt", "the parser crashed (signal 6)"),
        ("segv.txt", "the parser crashed (signal 11)"),
    ];
    for (name, reason) in cases {
        let (status, error) = error_of(&docs, name);
        assert_eq!(status, "failed", "{name}");
        assert!(error.contains(reason), "{name}: {error}");
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    server.alive().await;
}
