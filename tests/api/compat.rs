//! One server for JamAI's SDK and OpenAI's, at the wire, against the fake backend over real
//! HTTP: JamAI's full-of-nulls body is normalised before the backend sees it; bad input is a
//! 422 for JamAI's dialect and a 400 for the others, with one body; the `/api` prefix,
//! `/health` and `/v1/models/ids`; the stream's first event and keep-alives per dialect; the
//! reasoning fields per model; backend models discovered and refreshed. The unmodified SDKs
//! themselves run in `sdk_compat.rs`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ragway::config::BackendConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::chat::{chat, chat_app, user};
use crate::fake_openai::{FakeOpenAi, FAKE_MODELS};
use crate::helpers::{spawn_with, test_config, Backend, TestApp};

/// `jamaibase` 1.0.5's User-Agent.
const JAMAI_UA: &str = "SDK/1.0.5 (Python/3.11.2; Linux 6.1.0; x86_64)";

/// The body `jamaibase` 1.0.5 sends for a RAG chat (`ChatRequest.model_dump(mode="json")`).
fn jamai_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "rag_params": {"table_id": "kb", "reranking_model": null, "search_query": "", "k": 2, "rerank": true, "concat_reranker_input": false, "inline_citations": true}, "tools": null, "tool_choice": null, "temperature": 0.2, "top_p": 0.6, "stream": stream, "max_tokens": 32, "stop": null, "presence_penalty": 0.0, "frequency_penalty": 0.0, "logit_bias": {}, "reasoning_effort": null, "thinking_budget": null, "reasoning_summary": "auto", "id": "", "messages": [{"role": "system", "content": "Be brief.", "name": null}, {"role": "user", "content": "Why do otters hold hands?", "name": null}], "max_completion_tokens": null, "n": 1, "user": ""})
}

/// A null anywhere but in a message's `content`: what llama.cpp refuses.
fn nulls(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null if !path.ends_with(".content") => out.push(path.to_owned()),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| nulls(v, &format!("{path}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| nulls(v, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

async fn jamai_call(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let headers = [("User-Agent", JAMAI_UA), ("X-USER-ID", "")];
    app.call(Method::POST, path, Some(token), &headers, Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jamai_bodies_are_normalised_and_errors_negotiated() {
    let (app, fake, token) = chat_app().await;
    // JamAI's body, at the root and under /api: the backend sees no nulls and no JamAI-only
    // fields; the chunks' context holds strings only, the numbers have fields of their own.
    for path in ["/v1/chat/completions", "/api/v1/chat/completions"] {
        let (s, b) = jamai_call(&app, &token, path, jamai_body("echo", false)).await;
        assert_eq!(s, 200, "{path}: {b}");
        let sent = fake.last_body();
        let mut found = Vec::new();
        nulls(&sent, "", &mut found);
        assert!(found.is_empty(), "nulls forwarded at {found:?}: {sent}");
        for absent in [
            "reasoning_summary",
            "logit_bias",
            "user",
            "id",
            "rag_params",
        ] {
            assert!(sent.get(absent).is_none(), "{absent} forwarded: {sent}");
        }
        for c in b["references"]["chunks"].as_array().unwrap() {
            let context = c["context"].as_object().unwrap();
            assert!(context.values().all(Value::is_string), "{c}");
            assert_eq!(c["context"]["kb_id"], "kb");
            assert!(c["ordinal"].is_u64() && c["kb_id"] == "kb", "{c}");
        }
    }

    // Bad input: 422 for JamAI's dialect (its BadInputError), 400 for OpenAI's; one body with
    // the message both at the top level and in `error`.
    let mut bad = jamai_body("echo", false);
    bad["presence_penalty"] = json!(3);
    let (s, b) = jamai_call(&app, &token, "/api/v1/chat/completions", bad.clone()).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["param"], "presence_penalty", "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("presence_penalty must be in [-2, 2]"),
        "{b}"
    );
    assert_eq!(b["message"], b["error"]["message"]);
    let (s, b2) = chat(&app, &token, bad.clone()).await;
    assert_eq!((s, &b2), (400, &b), "OpenAI's dialect: same body, 400");
    let explicit = [("X-Ragway-Dialect", "jamai")];
    let path = "/v1/chat/completions";
    let (s, _) = app
        .call(Method::POST, path, Some(&token), &explicit, Some(bad))
        .await;
    assert_eq!(s, 422);
    let wrong = [("X-Ragway-Dialect", "klingon")];
    let (s, b) = app
        .call(
            Method::POST,
            path,
            Some(&token),
            &wrong,
            Some(jamai_body("echo", false)),
        )
        .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (400, Some("X-Ragway-Dialect")),
        "{b}"
    );
    // Statuses other than 400 are the same for both: an unknown model is a 404.
    let (s, b) = jamai_call(&app, &token, path, jamai_body("nope", false)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("model_not_found")),
        "{b}"
    );

    // health(), model_ids(), the model list per dialect.
    for p in ["/health", "/api/health"] {
        let (s, b) = app.call(Method::GET, p, None, &[], None).await;
        assert_eq!((s, &b["status"]), (200, &json!("ok")), "{p}");
    }
    let (s, ids) = app
        .call(
            Method::GET,
            "/api/v1/models/ids?prefer=tooler",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200, "{ids}");
    assert_eq!(ids[0], "tooler", "{ids}");
    assert_eq!(ids.as_array().unwrap().len(), 8, "{ids}");
    let (_, ids) = app
        .call(
            Method::GET,
            "/v1/models/ids?capabilities=reasoning",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(ids, json!(["thinker"]));
    let ua = [("User-Agent", JAMAI_UA)];
    let (_, b) = app
        .call(
            Method::GET,
            "/v1/models?model=echo",
            Some(&token),
            &ua,
            None,
        )
        .await;
    assert_eq!(
        (&b["object"], b["data"].as_array().unwrap().len()),
        (&json!("models.info"), 1),
        "{b}"
    );
    assert!(b["data"][0]["created_at"].is_string(), "{b}");
    let (_, b) = app
        .call(Method::GET, "/v1/models", Some(&token), &[], None)
        .await;
    assert_eq!(b["object"], "list", "{b}");

    // Reasoning fields reach reasoning models only, as OpenAI's reasoning_effort.
    let mut body = jamai_body("thinker", false);
    body["thinking_budget"] = json!(2000);
    let (s, b) = jamai_call(&app, &token, path, body.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(fake.last_body()["reasoning_effort"], "medium");
    body["model"] = json!("echo");
    body["reasoning_effort"] = json!("high");
    let (s, _) = jamai_call(&app, &token, path, body).await;
    assert_eq!(s, 200);
    assert!(fake.last_body().get("reasoning_effort").is_none());
}

/// The SSE events of a whole answer: each `data:` payload (`[DONE]` included); any other
/// non-blank line fails the test (JamAI's SDK raises on it).
fn data_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("a line JamAI's SDK cannot parse: {l:?}\n{text}"))
                .to_owned()
        })
        .collect()
}

async fn stream_text(app: &TestApp, token: &str, headers: &[(&str, &str)], body: Value) -> String {
    let mut req = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_open_per_dialect_and_keep_alive_with_chunks() {
    let (app, _fake, token) = chat_app().await;
    // JamAI's dialect: JamAI's own references event first, in a chunk's envelope.
    let ua = [("User-Agent", JAMAI_UA)];
    let text = stream_text(&app, &token, &ua, jamai_body("echo", true)).await;
    let lines = data_lines(&text);
    assert_eq!(lines.last().map(String::as_str), Some("[DONE]"));
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["object"], "chat.references", "{first}");
    assert_eq!(first["search_query"], "Why do otters hold hands?");
    assert_eq!(first["chunks"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["choices"][0]["delta"]["content"], "", "{first}");
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["object"], "chat.completion.chunk", "{second}");
    // OpenAI's dialect: a chunk carrying `references`.
    let text = stream_text(&app, &token, &[], jamai_body("echo", true)).await;
    let first: Value = serde_json::from_str(&data_lines(&text)[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk", "{first}");
    assert_eq!(first["references"]["chunks"].as_array().unwrap().len(), 2);

    // A quiet backend: keep-alives are data chunks with empty content, never comment lines.
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .header("User-Agent", JAMAI_UA)
        .json(&json!({"model": "hang", "stream": true, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    let mut bytes = res.bytes_stream();
    let mut text = String::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3500) {
        match tokio::time::timeout(Duration::from_millis(500), bytes.next()).await {
            Ok(Some(part)) => text.push_str(std::str::from_utf8(&part.unwrap()).unwrap()),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    drop(bytes);
    let events: Vec<Value> = data_lines(&text)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The opening, the backend's one event, then keep-alives about every second.
    let keep_alives = events[2..]
        .iter()
        .filter(|e| {
            e["object"] == "chat.completion.chunk"
                && e["choices"][0]["delta"] == json!({"content": ""})
        })
        .count();
    assert!(keep_alives >= 2, "{text}");
    assert_eq!(
        keep_alives,
        events.len() - 2,
        "only keep-alives after the backend's event: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_models_are_listed_refreshed_and_enforced() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.generation.models_refresh_secs = 1;
    config.generation.backends = vec![BackendConfig {
        name: "fake".into(),
        base_url: fake.base_url.clone(),
        api_key: None,
        models: vec![],
    }];
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("u", "p").await;
    let (s, b) = app
        .call(Method::GET, "/v1/models", Some(&token), &[], None)
        .await;
    assert_eq!(s, 200, "{b}");
    let listed: Vec<&str> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(listed, FAKE_MODELS, "{b}");
    // A listed model answers; "" is the first listed; anything else is a 404 naming the rest.
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "echo", "messages": user("hi")}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = chat(&app, &token, json!({"messages": user("hi")})).await;
    assert_eq!((s, b["model"].as_str()), (200, Some("echo")), "{b}");
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "gpt-4o", "messages": user("hi")}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["param"].as_str()),
        (404, Some("model_not_found"), Some("model")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("available: echo, tooler"),
        "{b}"
    );
    // The backend starts serving another model: listed within the refresh interval.
    fake.rec.listed.lock().unwrap().push("fresh".into());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = chat(
            &app,
            &token,
            json!({"model": "fresh", "messages": user("hi")}),
        )
        .await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 404, "{b}");
        assert!(
            Instant::now() < deadline,
            "`fresh` was not listed after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.shutdown().await;

    // A backend that never answered its model list: a 502 that says so, not a 404.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.generation.backends = vec![BackendConfig {
        name: "down".into(),
        base_url: format!("http://127.0.0.1:{closed}/v1"),
        api_key: None,
        models: vec![],
    }];
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("u", "p").await;
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "echo", "messages": user("hi")}),
    )
    .await;
    assert_eq!(s, 502, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("did not list its models"),
        "{b}"
    );
}

/// `ragway serve` with only `OPENAI_BASE_URL` (no model list): the backend's own models are
/// listed and enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_base_url_alone_serves_the_backends_models() {
    let fake = FakeOpenAi::start().await;
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = crate::helpers::ragway_command(data.path())
        .arg("serve")
        .env("RAGWAY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("OPENAI_BASE_URL", &fake.base_url)
        .env_remove("OPENAI_MODEL")
        .env_remove("OPENAI_API_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "ragway serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = std::fs::read_to_string(data.path().join("dev-token")).unwrap();
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(token.trim())
            .send()
    };
    let ids: Value = get("/v1/models/ids").await.unwrap().json().await.unwrap();
    assert_eq!(ids, json!(FAKE_MODELS));
    let chat = |model: &str| {
        client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(token.trim())
            .json(&json!({"model": model, "messages": user("hi")}))
            .send()
    };
    assert_eq!(chat("echo").await.unwrap().status(), 200);
    let res = chat("gpt-4o").await.unwrap();
    assert_eq!(res.status(), 404);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"]["code"], "model_not_found", "{b}");
    let _ = child.kill();
    let _ = child.wait();
}
