//! A small OpenAI-compatible server for tests, over real HTTP: it stands in for a third
//! party's generation backend and a `/rerank` service. What it does depends on the model:
//! - `echo`: answers "Sourced [@0]. Invented [@7]." (+ the choice index for n > 1), whole or streamed
//! - `tooler`: answers with a tool call
//! - `fail500`: a 500; `slow`: answers after 5 s; `badsse`: one good event, then garbage
//! - `hang`: streams one event, then only SSE comments until the client goes away
//!
//! Every request body is recorded; `hang` records when its stream was dropped. `GET /models`
//! lists `listed` (all of the above, until a test changes it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use bytes::Bytes;
use serde_json::{json, Value};

/// The models the fake answers for, as its `GET /models` lists them at first.
pub const FAKE_MODELS: [&str; 6] = ["echo", "tooler", "fail500", "slow", "badsse", "hang"];

pub struct Recorder {
    pub bodies: Mutex<Vec<Value>>,
    pub hang_dropped: AtomicBool,
    /// What `GET /models` lists.
    pub listed: Mutex<Vec<String>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            bodies: Mutex::default(),
            hang_dropped: AtomicBool::default(),
            listed: Mutex::new(FAKE_MODELS.iter().map(|m| m.to_string()).collect()),
        }
    }
}

pub struct FakeOpenAi {
    pub base_url: String,
    pub rec: Arc<Recorder>,
    _handle: actix_web::dev::ServerHandle,
}

impl FakeOpenAi {
    pub async fn start() -> FakeOpenAi {
        let rec = Arc::new(Recorder::default());
        let data = web::Data::from(rec.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(completions))
                .route("/v1/rerank", web::post().to(rerank))
                .route("/v1/models", web::get().to(models))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeOpenAi {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            rec,
            _handle: handle,
        }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.rec.bodies.lock().unwrap().clone()
    }

    pub fn last_body(&self) -> Value {
        self.bodies()
            .last()
            .cloned()
            .expect("the backend was called")
    }
}

async fn models(rec: web::Data<Recorder>) -> HttpResponse {
    let data: Vec<Value> = rec
        .listed
        .lock()
        .unwrap()
        .iter()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "fake"}))
        .collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

fn answer_text(i: usize) -> String {
    if i == 0 {
        "Sourced [@0]. Invented [@7].".into()
    } else {
        format!("Choice {i} cites [@0; @1].")
    }
}

async fn completions(rec: web::Data<Recorder>, body: web::Json<Value>) -> HttpResponse {
    let body = body.into_inner();
    rec.bodies.lock().unwrap().push(body.clone());
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let n = body["n"].as_u64().unwrap_or(1) as usize;
    let stream = body["stream"].as_bool().unwrap_or(false);
    match model.as_str() {
        "fail500" => {
            return HttpResponse::InternalServerError()
                .json(json!({"error": {"message": "boom", "type": "server_error"}}))
        }
        "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    if !stream {
        let choices: Vec<Value> = (0..n)
            .map(|i| {
                if model == "tooler" {
                    json!({"index": i, "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}, "finish_reason": "tool_calls"})
                } else {
                    json!({"index": i, "message": {"role": "assistant", "content": answer_text(i)}, "finish_reason": "stop"})
                }
            })
            .collect();
        return HttpResponse::Ok().json(json!({
            "id": "upstream-id", "object": "chat.completion", "created": 1, "model": model,
            "choices": choices, "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }));
    }
    let mut events: Vec<String> = Vec::new();
    let ev = |v: Value| format!("data: {v}\n\n");
    for i in 0..n {
        let text = answer_text(i);
        let (a, b) = text.split_at(9);
        for part in [a, b] {
            events.push(ev(json!({"id": "up", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": i, "delta": {"content": part}, "finish_reason": null}]})));
        }
        events.push(ev(json!({"id": "up", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]})));
    }
    if body["stream_options"]["include_usage"] == true {
        events.push(ev(json!({"id": "up", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})));
    }
    match model.as_str() {
        "badsse" => {
            events.truncate(1);
            events.push("data: {this is not json\n\n".into());
        }
        "hang" => {
            events.truncate(1);
            let first = Bytes::from(events.remove(0));
            let guard = DropFlag(rec.into_inner());
            let s =
                futures_util::stream::unfold((Some(first), guard), |(first, guard)| async move {
                    match first {
                        Some(b) => Some((Ok::<_, actix_web::Error>(b), (None, guard))),
                        None => {
                            // Quiet, but for SSE comments: writing them is how a server notices
                            // its client left (as ragway does with its own keep-alives).
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Some((
                                Ok(Bytes::from_static(b": still thinking\n\n")),
                                (None, guard),
                            ))
                        }
                    }
                });
            return HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(s);
        }
        _ => events.push("data: [DONE]\n\n".into()),
    }
    let s = futures_util::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, actix_web::Error>(Bytes::from(e))),
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(s)
}

/// Sets `hang_dropped` when the streaming response is dropped (the client went away).
struct DropFlag(Arc<Recorder>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.hang_dropped.store(true, Ordering::SeqCst);
    }
}

/// Cohere/Jina-style rerank: relevance = how many query words a document contains.
async fn rerank(body: web::Json<Value>) -> HttpResponse {
    let query: Vec<String> = body["query"]
        .as_str()
        .unwrap_or("")
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let docs = body["documents"].as_array().cloned().unwrap_or_default();
    let mut results: Vec<Value> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let text = d.as_str().unwrap_or("").to_lowercase();
            let score = query.iter().filter(|w| text.contains(w.as_str())).count() as f64
                / query.len().max(1) as f64;
            json!({"index": i, "relevance_score": score})
        })
        .collect();
    results.sort_by(|a, b| {
        b["relevance_score"]
            .as_f64()
            .partial_cmp(&a["relevance_score"].as_f64())
            .unwrap()
    });
    let top = body["top_n"].as_u64().unwrap_or(results.len() as u64) as usize;
    results.truncate(top);
    HttpResponse::Ok().json(json!({"results": results}))
}
