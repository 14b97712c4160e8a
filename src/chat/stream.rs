//! Streaming answers as SSE that both OpenAI's SDKs and JamAI's parse: first the references
//! (when `rag_params` was given), then the backend's deltas as they come, the chunk with a
//! choice's `finish_reason` carrying that choice's checked `citations`, then `data: [DONE]`.
//! The first event is a `chat.completion.chunk` with an empty assistant delta per choice that
//! carries `references`; for JamAI's dialect it is JamAI's own `chat.references` event (its
//! `chunks` and `search_query` at the top level) with the same envelope, which OpenAI parsers
//! read as an empty delta. While the backend is quiet, a keep-alive every second is a
//! `chat.completion.chunk` with empty content (JamAI's SDK fails on SSE comment lines). An
//! error after the start is one `{"error": …}` event, then `[DONE]`. A client that goes away
//! drops the receiver, which ends the pump and the backend request. This module yields typed
//! items; `api::chat` frames them as SSE bytes.

use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{citations, log, ChatError, Turn};
use crate::generation::GenerationError;
use crate::state::AppState;
use ragway_protocol::client::Dialect;

/// Quiet time after which a keep-alive chunk is sent.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// One item of the answer stream, in order.
#[derive(Debug)]
pub enum StreamItem {
    /// A `chat.completion.chunk`, the first event with the references, or a keep-alive.
    Chunk(Value),
    /// The stream failed after it started: one error event, then `Done`.
    Error(ChatError),
    /// `data: [DONE]`.
    Done,
}

/// Open the backend stream (its failure is still a normal HTTP error), then pump it.
pub async fn start(
    state: Arc<AppState>,
    turn: Turn,
    dialect: Dialect,
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
    tokio::spawn(pump(state, turn, dialect, backend, tx));
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

/// One empty delta per choice: `{"role": "assistant", "content": ""}` opens a stream, and
/// `{"content": ""}` keeps it alive (text that a client appending `content` can append).
fn empty_deltas(turn: &Turn, delta: &Value) -> Value {
    let n = turn.request.n as usize;
    Value::Array(
        (0..n)
            .map(|i| json!({"index": i, "delta": delta, "logprobs": null, "finish_reason": null}))
            .collect(),
    )
}

/// The opening event: an empty assistant delta per choice, and the references; for JamAI's
/// dialect, JamAI's `chat.references` event in that envelope.
fn opening(turn: &Turn, dialect: Dialect) -> Value {
    let mut first = chunk(
        turn,
        empty_deltas(turn, &json!({"role": "assistant", "content": ""})),
    );
    if let Some(refs) = &turn.references {
        match dialect {
            Dialect::OpenAi => first["references"] = refs.clone(),
            Dialect::JamAi => {
                first["object"] = refs["object"].clone();
                first["chunks"] = refs["chunks"].clone();
                first["search_query"] = refs["search_query"].clone();
            }
        }
    }
    first
}

/// A keep-alive: an empty-content delta per choice. Writing it is also how the server notices
/// a client that went away while the backend is quiet.
fn keep_alive(turn: &Turn) -> Value {
    chunk(turn, empty_deltas(turn, &json!({"content": ""})))
}

async fn pump<S>(
    state: Arc<AppState>,
    mut turn: Turn,
    dialect: Dialect,
    backend: Option<S>,
    tx: mpsc::Sender<StreamItem>,
) where
    S: Stream<Item = Result<Value, GenerationError>> + Send + Unpin + 'static,
{
    if tx
        .send(StreamItem::Chunk(opening(&turn, dialect)))
        .await
        .is_err()
    {
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
                Err(_) => {
                    if tx.send(StreamItem::Chunk(keep_alive(turn))).await.is_err() {
                        return closed();
                    }
                    continue;
                }
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
