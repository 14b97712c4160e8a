//! Streaming answers as OpenAI-compatible SSE: first a valid `chat.completion.chunk` (empty
//! assistant delta) carrying `references`, then the backend's deltas as they come, the chunk
//! with a choice's `finish_reason` carrying that choice's checked `citations`, then
//! `data: [DONE]`. An error after the start is one `{"error": …}` event, then `[DONE]`. A
//! client that goes away drops the receiver, which ends the pump and the backend request.
//! This module yields typed items; `api::chat` frames them as SSE bytes.

use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{citations, log, ChatError, Turn};
use crate::generation::GenerationError;
use crate::state::AppState;

/// Quiet time after which a keep-alive comment is sent.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// One item of the answer stream, in order.
#[derive(Debug)]
pub enum StreamItem {
    /// A `chat.completion.chunk` (or the first chunk with `references`).
    Chunk(Value),
    /// The stream failed after it started: one error event, then `Done`.
    Error(ChatError),
    /// Nothing to say for a while: an SSE comment, so a gone client is noticed.
    KeepAlive,
    /// `data: [DONE]`.
    Done,
}

/// Open the backend stream (its failure is still a normal HTTP error), then pump it.
pub async fn start(
    state: Arc<AppState>,
    turn: Turn,
) -> Result<impl Stream<Item = StreamItem>, ChatError> {
    let backend = match &turn.fixed_answer {
        Some(_) => None,
        None => match state.generation.stream(&turn.model, &turn.body).await {
            Ok(s) => Some(Box::pin(s)),
            Err(e) => {
                log::record(&state, &turn, None, Err(&e.to_string())).await;
                return Err(e.into());
            }
        },
    };
    let (tx, rx) = mpsc::channel::<StreamItem>(32);
    tokio::spawn(pump(state, turn, backend, tx));
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
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

/// The opening chunk: an empty assistant delta per choice, and the references.
fn opening(turn: &Turn) -> Value {
    let n = turn.request.n as usize;
    let mut first = chunk(turn, Value::Array((0..n).map(|i| json!({"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null})).collect()));
    if let Some(refs) = &turn.references {
        first["references"] = refs.clone();
    }
    first
}

async fn pump<S>(
    state: Arc<AppState>,
    mut turn: Turn,
    backend: Option<S>,
    tx: mpsc::Sender<StreamItem>,
) where
    S: Stream<Item = Result<Value, GenerationError>> + Send + Unpin + 'static,
{
    if tx.send(StreamItem::Chunk(opening(&turn))).await.is_err() {
        return;
    }
    let started = Instant::now();
    let mut relay = Relay::new(&turn);
    let outcome = match backend {
        Some(backend) => relay.run(&mut turn, backend, &tx, started).await,
        None => {
            send_fixed(&turn, &tx).await;
            Ok(())
        }
    };
    let _ = tx.send(StreamItem::Done).await;
    turn.timings.add("generate", started);
    turn.timings.add("total", turn.started);
    let outcome = outcome.as_ref().map_err(String::as_str).copied();
    log::record(&state, &turn, relay.usage.as_ref(), outcome).await;
}

/// The fixed answer (`on_no_results: {"message": …}`) as one finishing chunk.
async fn send_fixed(turn: &Turn, tx: &mpsc::Sender<StreamItem>) {
    let text = turn.fixed_answer.as_deref().unwrap_or_default();
    let n = turn.request.n as usize;
    let mut body = chunk(turn, Value::Array((0..n).map(|i| json!({"index": i, "delta": {"content": text}, "logprobs": null, "finish_reason": "stop"})).collect()));
    if turn.references.is_some() {
        body["citations"] = json!([]);
    }
    let _ = tx.send(StreamItem::Chunk(body)).await;
}

/// What the relay of the backend's events keeps: each choice's text so far (to check its
/// citations when it finishes) and the usage the backend reported.
struct Relay {
    ids: Vec<String>,
    with_citations: bool,
    texts: Vec<String>,
    usage: Option<Value>,
}

impl Relay {
    fn new(turn: &Turn) -> Relay {
        Relay {
            ids: turn.chunk_ids(),
            with_citations: turn.references.is_some(),
            texts: vec![String::new(); turn.request.n as usize],
            usage: None,
        }
    }

    /// Forward the backend's events until it ends, fails or the client goes away; the
    /// error message (for the chat log) when it did not end well.
    async fn run<S>(
        &mut self,
        turn: &mut Turn,
        mut backend: S,
        tx: &mpsc::Sender<StreamItem>,
        started: Instant,
    ) -> Result<(), String>
    where
        S: Stream<Item = Result<Value, GenerationError>> + Unpin,
    {
        let closed = || Err(ChatError::ClientClosed.to_string());
        let mut first_token = false;
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(HEARTBEAT, backend.next()) => next,
                _ = tx.closed() => return closed(),
            };
            let ev = match next {
                // An SSE comment: clients ignore it, and writing it is how the server
                // notices a client that went away while the backend is quiet.
                Err(_) if tx.send(StreamItem::KeepAlive).await.is_err() => return closed(),
                Err(_) => continue,
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => {
                    let message = e.to_string();
                    let _ = tx.send(StreamItem::Error(e.into())).await;
                    return Err(message);
                }
                Ok(Some(Ok(ev))) => ev,
            };
            if !first_token {
                first_token = true;
                turn.timings.add("first_token", started);
            }
            let ev = self.relay(turn, ev);
            if tx.send(StreamItem::Chunk(ev)).await.is_err() {
                return closed();
            }
        }
    }

    /// One backend event as the client gets it: our id and model name, and the citations of
    /// the choices it finishes.
    fn relay(&mut self, turn: &Turn, mut ev: Value) -> Value {
        ev["id"] = json!(turn.completion_id);
        ev["model"] = json!(turn.model.id);
        if ev.get("usage").is_some_and(|u| !u.is_null()) {
            self.usage = ev.get("usage").cloned();
        }
        let mut finished = Vec::new();
        for choice in ev["choices"].as_array().cloned().unwrap_or_default() {
            let i = choice["index"].as_u64().unwrap_or(0) as usize;
            if let (Some(t), Some(slot)) =
                (choice["delta"]["content"].as_str(), self.texts.get_mut(i))
            {
                slot.push_str(t);
            }
            if !choice["finish_reason"].is_null() {
                finished.push(i);
            }
        }
        if self.with_citations && !finished.is_empty() {
            let cites: Vec<citations::Citation> = finished
                .iter()
                .filter_map(|&i| {
                    (self.texts.get(i)).map(|t| citations::check(t, i as u32, &self.ids))
                })
                .flatten()
                .collect();
            ev["citations"] = json!(cites);
        }
        ev
    }
}
