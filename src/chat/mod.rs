//! The chat flow with `rag_params`: resolve knowledge bases in the caller's project → the
//! search query (given, or rewritten from the conversation) → retrieve → rerank → diversify
//! → widen with neighbours → fit the context budget → inject → forward → check citations →
//! log. `api/chat` only parses the body and turns the result into JSON or SSE.

use std::time::Instant;

use serde_json::{json, Value};

use ragway_protocol::ParamError;

use crate::auth::Caller;
use crate::generation::{GenerationError, Model};
use crate::retrieval::{self, RetrievalError, RetrievedChunk, SearchParams};
use crate::state::AppState;
use crate::store::knowledge::KnowledgeBase;
use crate::store::StoreError;

pub mod citations;
pub mod forward;
pub mod log;
pub mod prompt;
pub mod stream;

use ragway_protocol::chat::{
    content_text, last_user_text, ChatRequest, Message, MessageRole, OnNoResults, QueryRewrite,
    RagParams,
};

/// Stage timings of one request, in milliseconds, in the order they ran.
#[derive(Debug, Clone, Default)]
pub struct Timings(pub Vec<(&'static str, f64)>);

impl Timings {
    pub fn add(&mut self, stage: &'static str, since: Instant) {
        self.0.push((stage, since.elapsed().as_secs_f64() * 1000.0));
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (format!("{k}_ms"), json!((v * 100.0).round() / 100.0)))
                .collect(),
        )
    }
}

/// A request ready to forward: the body for the backend and what retrieval found.
pub struct Turn {
    pub caller: Caller,
    pub request: ChatRequest,
    pub model: Model,
    /// The body sent to the backend.
    pub body: Value,
    /// `references` of the response (when rag_params was given).
    pub references: Option<Value>,
    pub chunks: Vec<RetrievedChunk>,
    pub search_query: Option<String>,
    /// Answer given without calling the backend (`on_no_results: {"message": …}`).
    pub fixed_answer: Option<String>,
    pub timings: Timings,
    pub started: Instant,
    pub completion_id: String,
}

impl Turn {
    pub fn chunk_ids(&self) -> Vec<String> {
        self.chunks.iter().map(|c| c.chunk_id.clone()).collect()
    }
}

/// Why a chat completion failed. The messages are the ones clients see (and chat logs keep).
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A request value is wrong (`max_tokens` for the model, no search query).
    #[error(transparent)]
    Invalid(#[from] ParamError),
    #[error(transparent)]
    Generation(#[from] GenerationError),
    /// `rag_params` names a knowledge base the caller's project does not have.
    #[error("knowledge base `{0}` does not exist in this project")]
    UnknownKnowledgeBase(String),
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client went away while the answer streamed.
    #[error("client disconnected")]
    ClientClosed,
}

/// Everything before the backend call.
#[tracing::instrument(skip_all, fields(model = %request.model, rag = request.rag.is_some()), err)]
pub async fn prepare(
    state: &AppState,
    caller: Caller,
    request: ChatRequest,
) -> Result<Turn, ChatError> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let model = state.generation.resolve(&request.model).await?;
    let max_tokens = request.max_tokens_for(model.context_length)?;
    let mut messages: Vec<Value> = request.messages.iter().map(Message::to_value).collect();
    let (mut references, mut chunks, mut search_query, mut fixed_answer) =
        (None, Vec::new(), None, None);
    if let Some(rag) = &request.rag {
        let kbs = resolve_kbs(state, &caller, rag).await?;
        let t = Instant::now();
        let query = search_query_for(state, &model, &request, rag).await?;
        timings.add("query", t);
        let t = Instant::now();
        let found = retrieve(state, &kbs, &query, rag, &mut timings).await?;
        timings.add("retrieve", t);
        let texts: Vec<String> = request.messages.iter().map(|m| m.content.text()).collect();
        let (context_length, cap) = (model.context_length as usize, rag.max_context_tokens);
        let count = state.token_counter();
        let kept = retrieval::off_thread(move || {
            let prompt_tokens: usize = texts.iter().map(|t| count(t) + 4).sum();
            let room = context_length.saturating_sub(max_tokens as usize + prompt_tokens + 96);
            prompt::fit_budget(found, cap.map_or(room, |b| b.min(room)), count)
        })
        .await;
        if kept.is_empty() {
            if let OnNoResults::Message(m) = &rag.on_no_results {
                fixed_answer = Some(m.clone());
            }
        }
        messages = prompt::inject(&messages, &prompt::system_block(rag, &kept));
        references = Some(references_json(&query, &kept));
        search_query = Some(query);
        chunks = kept;
    }
    let body = forward::body(&request, &model, messages, max_tokens);
    Ok(Turn {
        caller,
        request,
        model,
        body,
        references,
        chunks,
        search_query,
        fixed_answer,
        timings,
        started,
        completion_id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
    })
}

/// The knowledge bases named, all inside the caller's project (others are "not found").
async fn resolve_kbs(
    state: &AppState,
    caller: &Caller,
    rag: &RagParams,
) -> Result<Vec<KnowledgeBase>, ChatError> {
    let mut kbs = Vec::with_capacity(rag.knowledge_base_ids.len());
    for id in &rag.knowledge_base_ids {
        let kb = state
            .db
            .get_kb(&caller.project_id, id)
            .await?
            .ok_or_else(|| ChatError::UnknownKnowledgeBase(id.clone()))?;
        kbs.push(kb);
    }
    Ok(kbs)
}

/// `search_query` when given; else, with `query_rewrite: auto` and an earlier turn to
/// resolve against, a standalone query written by the backend; else the last user message.
async fn search_query_for(
    state: &AppState,
    model: &Model,
    request: &ChatRequest,
    rag: &RagParams,
) -> Result<String, ChatError> {
    if !rag.search_query.trim().is_empty() {
        return Ok(rag.search_query.clone());
    }
    // The last user message may be megabytes long: the search reads its start.
    let clipped = |text: String| ragway_protocol::search::clip_query(&text).to_owned();
    let last = last_user_text(&request.messages)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            ParamError::new(
                "rag_params.search_query",
                "no search_query and no user message to search for",
            )
        })?;
    let in_dialogue = |m: &&Message| matches!(m.role, MessageRole::User | MessageRole::Assistant);
    let turns = request.messages.iter().filter(in_dialogue).count();
    if rag.query_rewrite == QueryRewrite::Off || turns < 2 {
        return Ok(clipped(last));
    }
    let transcript: Vec<String> = request
        .messages
        .iter()
        .filter(in_dialogue)
        .map(|m| format!("{}: {}", m.role, m.content.text()))
        .collect();
    let body = json!({
        "messages": [
            {"role": "system", "content": "Rewrite the user's last message as one standalone search query for a document search engine, resolving references to earlier turns. Reply with the query only."},
            {"role": "user", "content": transcript.join("\n")}
        ],
        "temperature": 0.001,
        "max_tokens": 64,
        "stream": false,
    });
    match state.generation.complete(model, &body).await {
        Ok(v) => {
            let q = v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .trim()
                .to_owned();
            Ok(if q.is_empty() { clipped(last) } else { q })
        }
        Err(e) => {
            // Retrieval still works on the last message; the answer call will surface a dead
            // backend on its own.
            tracing::warn!(error = %e, "query rewrite failed; searching for the last user message");
            Ok(clipped(last))
        }
    }
}

/// Search, rerank, diversify, cap to k, widen with neighbours; the stages' times go to
/// `timings` (`embed`: the query's vectors, `search`: the engine, then `rerank` when asked).
pub async fn retrieve(
    state: &AppState,
    kbs: &[KnowledgeBase],
    query: &str,
    rag: &RagParams,
    timings: &mut Timings,
) -> Result<Vec<RetrievedChunk>, ChatError> {
    if let Some(name) = &rag.reranking_model {
        state.rerankers.check(name).map_err(RetrievalError::from)?;
    }
    let widen = rag.reranking_model.is_some() || rag.diversity.is_some_and(|d| d > 0.0);
    let fetch = if widen {
        rag.candidates.unwrap_or(4 * rag.k).max(rag.k)
    } else {
        rag.k
    };
    let params = SearchParams {
        k: fetch,
        filter: rag.filter.clone(),
        mode: rag.search_mode,
        score_threshold: rag.score_threshold,
        candidates: rag.candidates,
        max_chunks_per_document: rag.max_chunks_per_document,
        fusion: rag.fusion,
    };
    let t = Instant::now();
    let prepared = retrieval::prepare(state, kbs, query, &params).await?;
    timings.add("embed", t);
    let t = Instant::now();
    let mut chunks = retrieval::run(state, kbs, query, &params, &prepared).await?;
    timings.add("search", t);
    if let Some(name) = &rag.reranking_model {
        let t = Instant::now();
        let keep = if rag.diversity.is_some() {
            fetch
        } else {
            rag.k
        };
        chunks =
            retrieval::rerank(state, name, query, chunks, keep, rag.concat_reranker_input).await?;
        timings.add("rerank", t);
    }
    if let Some(d) = rag.diversity {
        let k = rag.k;
        chunks = retrieval::off_thread(move || retrieval::mmr(chunks, d, k)).await;
    }
    chunks.truncate(rag.k);
    Ok(retrieval::expand_neighbors(state, kbs, chunks, rag.neighbors).await?)
}

/// The seed's `references` object. Each chunk is JamAI's `Chunk` (whose `context` is a map of
/// strings, shown to the model as extra context): the knowledge base in `context`, and the
/// chunk's place in its document (`ordinal`, `char_start`, `char_end`: numbers) and `kb_id` as
/// fields of their own, which clients that do not know them ignore.
pub fn references_json(query: &str, chunks: &[RetrievedChunk]) -> Value {
    let items: Vec<Value> = chunks
        .iter()
        .map(|c| {
            json!({
                "text": c.text,
                "title": c.title.clone().unwrap_or_default(),
                "page": c.page,
                "file_name": c.file_name.clone().unwrap_or_default(),
                "file_path": c.external_id.clone().unwrap_or_default(),
                "document_id": c.document_id,
                "chunk_id": c.chunk_id,
                "context": {"kb_id": c.kb_id},
                "kb_id": c.kb_id,
                "ordinal": c.ordinal,
                "char_start": c.char_start,
                "char_end": c.char_end,
                "metadata": c.metadata,
                "score": c.score,
            })
        })
        .collect();
    json!({"object": "chat.references", "search_query": query, "chunks": items})
}

/// A whole completion: the backend's answer plus `references` and checked `citations`.
pub async fn complete(state: &AppState, mut turn: Turn) -> Result<Value, ChatError> {
    let t = Instant::now();
    let result = match &turn.fixed_answer {
        Some(text) => Ok(fixed_completion(&turn, text)),
        None => state.generation.complete(&turn.model, &turn.body).await,
    };
    turn.timings.add("generate", t);
    let mut answer = match result {
        Ok(a) => a,
        Err(e) => {
            log::record(state, &turn, None, Err(&e.to_string())).await;
            return Err(e.into());
        }
    };
    answer["id"] = json!(turn.completion_id);
    answer["model"] = json!(turn.model.id);
    if let Some(refs) = &turn.references {
        let ids = turn.chunk_ids();
        let mut cites = Vec::new();
        for choice in answer["choices"].as_array().cloned().unwrap_or_default() {
            let index = choice["index"].as_u64().unwrap_or(0) as u32;
            let text = content_text(&choice["message"]["content"]);
            cites.extend(citations::check(&text, index, &ids));
        }
        answer["references"] = refs.clone();
        answer["citations"] = json!(cites);
    }
    turn.timings.add("total", turn.started);
    log::record(state, &turn, answer.get("usage"), Ok(())).await;
    Ok(answer)
}

/// A completion made by ragway itself (`on_no_results: {"message": …}`), one choice per `n`.
pub fn fixed_completion(turn: &Turn, text: &str) -> Value {
    let choices: Vec<Value> = (0..turn.request.n)
        .map(|i| json!({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": null}))
        .collect();
    json!({
        "id": turn.completion_id,
        "object": "chat.completion",
        "created": crate::store::now_ms() / 1000,
        "model": turn.model.id,
        "choices": choices,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    })
}
