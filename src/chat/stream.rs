//! Streaming answers as OpenAI-compatible SSE: first a valid `chat.completion.chunk` (empty
//! assistant delta) carrying `references`, then the backend's deltas as they come, the chunk
//! with a choice's `finish_reason` carrying that choice's checked `citations`, then
//! `data: [DONE]`. An error after the start is one `{"error": …}` event, then `[DONE]`. A
//! client that goes away drops the receiver, which ends the pump and the backend request.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{citations, generation_error, log, Turn};
use crate::error::ApiError;
use crate::state::AppState;

fn event(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

const DONE: &str = "data: [DONE]\n\n";
/// Quiet time after which a keep-alive comment is sent.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

fn disconnected() -> ApiError {
    ApiError::InvalidRequest {
        message: "client disconnected".into(),
        param: None,
        code: "client_closed",
    }
}

/// Open the backend stream (its failure is still a normal HTTP error), then pump it.
pub async fn start(
    state: Arc<AppState>,
    turn: Turn,
) -> Result<impl Stream<Item = Result<Bytes, std::convert::Infallible>>, ApiError> {
    let backend = match &turn.fixed_answer {
        Some(_) => None,
        None => match state.generation.stream(&turn.model, &turn.body).await {
            Ok(s) => Some(Box::pin(s)),
            Err(e) => {
                let e = generation_error(e);
                log::record(&state, &turn, None, Err(&e)).await;
                return Err(e);
            }
        },
    };
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(pump(state, turn, backend, tx));
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(b), rx))
    }))
}

fn chunk(turn: &Turn, choices: Value) -> Value {
    json!({
        "id": turn.completion_id,
        "object": "chat.completion.chunk",
        "created": crate::store::now_ms() / 1000,
        "model": turn.model.id,
        "choices": choices,
    })
}

async fn pump<S>(state: Arc<AppState>, mut turn: Turn, backend: Option<S>, tx: mpsc::Sender<Bytes>)
where
    S: Stream<Item = Result<Value, crate::generation::GenerationError>> + Send + Unpin + 'static,
{
    let n = turn.request.n as usize;
    let mut first = chunk(&turn, Value::Array((0..n).map(|i| json!({"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null})).collect()));
    if let Some(refs) = &turn.references {
        first["references"] = refs.clone();
    }
    if tx.send(event(&first)).await.is_err() {
        return;
    }
    let ids = turn.chunk_ids();
    let with_citations = turn.references.is_some();
    let mut texts = vec![String::new(); n];
    let mut usage: Option<Value> = None;
    let mut outcome: Result<(), ApiError> = Ok(());
    let started = Instant::now();

    match (backend, &turn.fixed_answer) {
        (None, Some(text)) => {
            let mut body = chunk(&turn, Value::Array((0..n).map(|i| json!({"index": i, "delta": {"content": text}, "logprobs": null, "finish_reason": "stop"})).collect()));
            if with_citations {
                body["citations"] = json!([]);
            }
            let _ = tx.send(event(&body)).await;
        }
        (Some(mut backend), _) => {
            let mut first_token = false;
            loop {
                let next = tokio::select! {
                    next = tokio::time::timeout(HEARTBEAT, backend.next()) => next,
                    _ = tx.closed() => {
                        outcome = Err(disconnected());
                        break;
                    }
                };
                let next = match next {
                    Ok(next) => next,
                    Err(_) => {
                        // An SSE comment: clients ignore it, and writing it is how the server
                        // notices a client that went away while the backend is quiet.
                        if tx
                            .send(Bytes::from_static(b": keep-alive\n\n"))
                            .await
                            .is_err()
                        {
                            outcome = Err(disconnected());
                            break;
                        }
                        continue;
                    }
                };
                let mut ev = match next {
                    None => break,
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => {
                        let err = generation_error(e);
                        let _ = tx.send(event(&err.body())).await;
                        outcome = Err(err);
                        break;
                    }
                };
                if !first_token {
                    first_token = true;
                    turn.timings.add("first_token", started);
                }
                ev["id"] = json!(turn.completion_id);
                ev["model"] = json!(turn.model.id);
                if ev.get("usage").is_some_and(|u| !u.is_null()) {
                    usage = ev.get("usage").cloned();
                }
                let mut finished = Vec::new();
                for choice in ev["choices"].as_array().cloned().unwrap_or_default() {
                    let i = choice["index"].as_u64().unwrap_or(0) as usize;
                    if let (Some(t), Some(slot)) =
                        (choice["delta"]["content"].as_str(), texts.get_mut(i))
                    {
                        slot.push_str(t);
                    }
                    if !choice["finish_reason"].is_null() {
                        finished.push(i);
                    }
                }
                if with_citations && !finished.is_empty() {
                    let cites: Vec<citations::Citation> = finished
                        .iter()
                        .filter_map(|&i| texts.get(i).map(|t| citations::check(t, i as u32, &ids)))
                        .flatten()
                        .collect();
                    ev["citations"] = json!(cites);
                }
                if tx.send(event(&ev)).await.is_err() {
                    outcome = Err(disconnected());
                    break;
                }
            }
        }
        (None, None) => unreachable!("a turn without a fixed answer has a backend stream"),
    }
    let _ = tx.send(Bytes::from_static(DONE.as_bytes())).await;
    turn.timings.add("generate", started);
    turn.timings.add("total", turn.started);
    log::record(&state, &turn, usage.as_ref(), outcome.as_ref().map(|_| ())).await;
}
