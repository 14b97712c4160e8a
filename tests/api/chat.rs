//! `POST /v1/chat/completions` against a real ragway and a fake OpenAI-compatible backend
//! over real HTTP: defaults, ranges, dropped parameters, references and checked citations,
//! streaming, tools, n > 1, faults, disconnects, chat logs, query rewrite, reranking.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use ragway::config::{BackendConfig, ModelConfig, RerankerConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::documents::Kb;
use crate::fake_openai::FakeOpenAi;
use crate::helpers::{spawn_with, test_config, Backend, TestApp};

fn model(id: &str, ctx: u32, reasoning: bool) -> ModelConfig {
    ModelConfig {
        id: id.into(),
        upstream_id: None,
        context_length: ctx,
        reasoning,
        unsupported_params: vec![],
    }
}

/// An app whose backend is the fake, with a knowledge base `kb` holding three documents.
pub async fn chat_app() -> (TestApp, FakeOpenAi, String) {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.generation.timeout_secs = 2;
    config.generation.backends = vec![BackendConfig {
        name: "fake".into(),
        base_url: fake.base_url.clone(),
        api_key: Some("sk-test".to_owned().into()),
        models: ["echo", "tooler", "fail500", "slow", "badsse", "hang"]
            .iter()
            .map(|m| model(m, 4096, false))
            .chain([model("thinker", 4096, true), model("tiny", 600, false)])
            .collect(),
    }];
    config.rerankers = vec![RerankerConfig {
        name: "words".into(),
        url: format!("{}/rerank", fake.base_url),
        model: None,
        api_key: None,
        timeout_secs: 5,
    }];
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("u", "p").await;
    let kb = Kb::create(&app, &token, "kb").await;
    for (id, text) in [
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
    ] {
        let (s, b) = kb.put_text(id, text, json!({"animal": id})).await;
        assert_eq!(s, 200, "{b}");
    }
    (app, fake, token)
}

pub async fn chat(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.call(
        Method::POST,
        "/v1/chat/completions",
        Some(token),
        &[],
        Some(body),
    )
    .await
}

pub fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_answer_with_references_and_checked_citations() {
    let (app, fake, token) = chat_app().await;
    let (s, b) = chat(&app, &token, json!({
        "model": "echo",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why do otters hold hands?"}],
        "rag_params": {"table_id": "kb", "k": 2},
        "seed": 42,
        "id": "chat-1",
    })).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["model"], "echo");
    let refs = &b["references"];
    assert_eq!(refs["object"], "chat.references");
    assert_eq!(refs["search_query"], "Why do otters hold hands?");
    let chunks = refs["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 2);
    assert!(
        chunks[0]["text"].as_str().unwrap().contains("hold hands"),
        "{refs}"
    );
    assert_eq!(chunks[0]["file_path"], "otters");
    assert_eq!(chunks[0]["metadata"]["animal"], "otters");
    // [@0] points at a chunk; [@7] points nowhere and is reported as such.
    let cites = b["citations"].as_array().unwrap();
    assert_eq!(cites.len(), 2, "{b}");
    assert_eq!(
        (
            cites[0]["chunk_index"].as_u64(),
            cites[0]["valid"].as_bool()
        ),
        (Some(0), Some(true))
    );
    assert_eq!(cites[0]["chunk_id"], chunks[0]["chunk_id"]);
    assert_eq!(
        (
            cites[1]["chunk_index"].as_u64(),
            cites[1]["valid"].as_bool()
        ),
        (Some(7), Some(false))
    );
    let content = b["choices"][0]["message"]["content"].as_str().unwrap();
    let span: String = content
        .chars()
        .skip(cites[0]["start"].as_u64().unwrap() as usize)
        .take(4)
        .collect();
    assert_eq!(span, "[@0]");

    // What the backend got: the seed's defaults explicit, the caller's system prompt kept with
    // the numbered sources after it, passthrough fields unchanged, ragway's own fields gone.
    let sent = fake.last_body();
    assert_eq!(
        (
            sent["temperature"].as_f64(),
            sent["top_p"].as_f64(),
            sent["max_tokens"].as_u64()
        ),
        (Some(0.2), Some(0.6), Some(2048))
    );
    assert_eq!(sent["seed"], 42);
    assert!(sent.get("rag_params").is_none() && sent.get("id").is_none());
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Be brief.") && system.contains("[@0]") && system.contains("hold hands"),
        "{system}"
    );
    assert_eq!(sent["messages"].as_array().unwrap().len(), 2);

    // The chat log has what was retrieved and how long each stage took.
    let (s, log) = app
        .call(Method::GET, "/v1/chats/chat-1", Some(&token), &[], None)
        .await;
    assert_eq!(s, 200, "{log}");
    let entry = &log["data"][0];
    assert_eq!(entry["search_query"], "Why do otters hold hands?");
    assert_eq!(entry["retrieved"].as_array().unwrap().len(), 2);
    assert_eq!(entry["usage"]["total_tokens"], 15);
    assert!(
        ["query", "embed", "search", "retrieve", "generate", "total"]
            .iter()
            .all(|k| entry["timings"][format!("{k}_ms")].as_f64().is_some()),
        "{entry}"
    );
    let (s, _) = app
        .call(Method::GET, "/v1/chats/nope", Some(&token), &[], None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_carries_references_first_and_citations_at_the_finish() {
    let (app, _fake, token) = chat_app().await;
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({"model": "echo", "stream": true, "stream_options": {"include_usage": true}, "messages": user("Do owls turn their heads?"), "rag_params": {"table_id": "kb", "k": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = res.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let parsed: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let first = &parsed[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert!(
        first["references"]["chunks"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Owls"),
        "{first}"
    );
    let content: String = parsed
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Sourced [@0]. Invented [@7].");
    let finish = parsed
        .iter()
        .find(|e| e["choices"][0]["finish_reason"] == "stop")
        .unwrap();
    let cites = finish["citations"].as_array().unwrap();
    assert_eq!(cites.len(), 2);
    assert_eq!(
        (cites[0]["valid"].as_bool(), cites[1]["valid"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(parsed
        .iter()
        .all(|e| e["id"] == first["id"] && e["model"] == "echo"));
    assert_eq!(parsed.last().unwrap()["usage"]["total_tokens"], 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_models_and_errors() {
    let (app, fake, token) = chat_app().await;
    // Reasoning models: the seed's unsupported parameters are dropped, not failed.
    let (s, b) = chat(&app, &token, json!({"model": "thinker", "messages": user("hi"), "temperature": 0.5, "stop": ["x"], "logit_bias": {"1": 5}, "presence_penalty": 1})).await;
    assert_eq!(s, 200, "{b}");
    let sent = fake.last_body();
    for dropped in [
        "temperature",
        "top_p",
        "stop",
        "logit_bias",
        "presence_penalty",
    ] {
        assert!(sent.get(dropped).is_none(), "{dropped} forwarded: {sent}");
    }
    // max_completion_tokens wins over max_tokens and is checked against the context length.
    let (s, b) = chat(&app, &token, json!({"model": "tiny", "messages": user("hi"), "max_tokens": 5, "max_completion_tokens": 599})).await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (400, Some("max_completion_tokens")),
        "{b}"
    );
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "tiny", "messages": user("hi")}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // The default 2048 is cut to the largest value in [1, 600 − 1).
    assert_eq!(fake.last_body()["max_tokens"], 598);
    // Unknown model, unknown knowledge base, bad rag_params.
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "gpt-nope", "messages": user("hi")}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["param"].as_str()),
        (404, Some("model_not_found"), Some("model")),
        "{b}"
    );
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "echo", "messages": user("hi"), "rag_params": {"table_id": "missing"}}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (404, Some("rag_params.table_id")),
        "{b}"
    );
    let (s, b) = chat(&app, &token, json!({"model": "echo", "messages": user("hi"), "rag_params": {"table_id": "kb", "reranking_model": "nope"}})).await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (404, Some("rag_params.reranking_model")),
        "{b}"
    );
    // "" is the default (first configured) model; GET /v1/models lists them.
    let (s, b) = chat(&app, &token, json!({"messages": user("hi")})).await;
    assert_eq!((s, b["model"].as_str()), (200, Some("echo")), "{b}");
    let (s, b) = app
        .call(Method::GET, "/v1/models", Some(&token), &[], None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 8);
    // Backend faults: 5xx → 502, timeout → 504, both in OpenAI's shape.
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "fail500", "messages": user("hi")}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["type"].as_str()),
        (502, Some("api_error")),
        "{b}"
    );
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "slow", "messages": user("hi")}),
    )
    .await;
    assert_eq!(s, 504, "{b}");
    // No token: 401.
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/chat/completions",
            None,
            &[],
            Some(json!({"messages": user("hi")})),
        )
        .await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_n_and_stream_faults() {
    let (app, fake, token) = chat_app().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let (s, b) = chat(
        &app,
        &token,
        json!({"model": "tooler", "messages": user("weather in Oslo?"), "tools": tools}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Oslo\"}"
    );
    assert_eq!(fake.last_body()["tool_choice"], "auto");
    assert_eq!(fake.last_body()["tools"], tools);

    // n > 1: one retrieval, citations checked per choice.
    let before = fake.bodies().len();
    let (s, b) = chat(&app, &token, json!({"model": "echo", "n": 2, "messages": user("beaver dams"), "rag_params": {"table_id": "kb", "k": 2}, "id": "n2"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(fake.bodies().len(), before + 1);
    assert_eq!(fake.last_body()["n"], 2);
    let cites = b["citations"].as_array().unwrap();
    assert!(
        cites
            .iter()
            .any(|c| c["choice_index"] == 1 && c["chunk_index"] == 1 && c["valid"] == true),
        "{b}"
    );
    let (_, log) = app
        .call(Method::GET, "/v1/chats/n2", Some(&token), &[], None)
        .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1);

    // A malformed event mid-stream: one error event, then [DONE].
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({"model": "badsse", "stream": true, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let err: Value =
        serde_json::from_str(events[events.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(err["error"]["type"], "api_error", "{text}");

    // A client that goes away cancels the backend request.
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({"model": "hang", "stream": true, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    let mut body = res.bytes_stream();
    body.next().await.unwrap().unwrap();
    drop(body);
    let mut dropped = false;
    for _ in 0..50 {
        if fake.rec.hang_dropped.load(Ordering::SeqCst) {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dropped,
        "the backend stream was not closed after the client left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_options() {
    let (app, fake, token) = chat_app().await;
    // Follow-up questions are rewritten by the backend into a standalone query.
    let before = fake.bodies().len();
    let (s, b) = chat(&app, &token, json!({"model": "echo", "messages": [
        {"role": "user", "content": "Tell me about otters"}, {"role": "assistant", "content": "They are mammals."},
        {"role": "user", "content": "Why do they hold hands?"}], "rag_params": {"table_id": "kb"}})).await;
    assert_eq!(s, 200, "{b}");
    let bodies = fake.bodies();
    assert_eq!(bodies.len(), before + 2, "a rewrite call, then the answer");
    assert!(bodies[before]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("Tell me about otters"));
    assert_eq!(
        b["references"]["search_query"], "Sourced [@0]. Invented [@7].",
        "the echo backend's 'rewrite' is used as the query"
    );
    // query_rewrite: off uses the last user message, with no extra call.
    let before = fake.bodies().len();
    let (s, b) = chat(&app, &token, json!({"model": "echo", "messages": [
        {"role": "user", "content": "Tell me about otters"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "owls heads"}], "rag_params": {"table_id": "kb", "query_rewrite": "off"}})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(fake.bodies().len(), before + 1);
    assert_eq!(b["references"]["search_query"], "owls heads");
    // A metadata filter confines retrieval; a fixed on_no_results message skips the backend.
    let (_, b) = chat(&app, &token, json!({"model": "echo", "messages": user("animals"), "rag_params": {"table_id": "kb", "filter": {"animal": "owls"}, "k": 3}})).await;
    let refs = b["references"]["chunks"].as_array().unwrap();
    assert!(
        !refs.is_empty() && refs.iter().all(|c| c["file_path"] == "owls"),
        "{b}"
    );
    let before = fake.bodies().len();
    let (s, b) = chat(&app, &token, json!({"model": "echo", "messages": user("animals"), "rag_params": {"table_id": "kb", "filter": {"animal": "cats"}, "on_no_results": {"message": "Nothing on that."}}})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["choices"][0]["message"]["content"], "Nothing on that.");
    assert_eq!(fake.bodies().len(), before);
    // The reranker reorders candidates before they are cut to k.
    let (s, b) = chat(&app, &token, json!({"model": "echo", "messages": user("x"), "rag_params": {"table_id": "kb", "k": 1, "search_query": "beavers build dams", "reranking_model": "words"}})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["references"]["chunks"][0]["file_path"], "beavers");
    assert_eq!(b["references"]["chunks"][0]["score"], 1.0);
    // A tiny context budget drops chunks rather than failing.
    let (s, b) = chat(&app, &token, json!({"model": "echo", "messages": user("otters"), "rag_params": {"table_id": "kb", "k": 3, "max_context_tokens": 30}})).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["references"]["chunks"].as_array().unwrap().len() < 3,
        "{b}"
    );
    // A prompt template replaces the built-in injection.
    let (s, _) = chat(&app, &token, json!({"model": "echo", "messages": user("otters"), "rag_params": {"table_id": "kb", "k": 1, "prompt_template": "CONTEXT START\n{{context}}\nCONTEXT END"}})).await;
    assert_eq!(s, 200);
    let system = fake.last_body()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.starts_with("CONTEXT START\n[@0]") && system.ends_with("CONTEXT END"),
        "{system}"
    );
}
