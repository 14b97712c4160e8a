//! Why a search ranked what it did: the same search as `retrieval::search`, timed per stage,
//! with each hit's dense and sparse leg scores beside the fused one (`explain: true`).

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::RetrievalError;
use super::{prepare, run, RetrievedChunk, SearchParams};
use crate::state::AppState;
use crate::store::knowledge::KnowledgeBase;
use crate::vector::{Query, SearchMode, VectorError};

/// One hit's scores: each leg's own (None when that leg did not return the hit, or did not
/// run) and the final one the ranking used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LegScores {
    pub dense: Option<f32>,
    pub sparse: Option<f32>,
    pub fused: f32,
}

/// Milliseconds per stage: encoding the query (embedding + BM25), the search itself, the
/// extra leg queries that explain it, and the whole.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SearchTimings {
    pub embed_ms: f64,
    pub search_ms: f64,
    pub legs_ms: f64,
    pub total_ms: f64,
}

pub struct Explained {
    /// The hits, exactly as `retrieval::search` returns them, with their scores beside.
    pub hits: Vec<(RetrievedChunk, LegScores)>,
    pub timings: SearchTimings,
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 100_000.0).round() / 100.0
}

/// `retrieval::search`, explained. For a hybrid search each leg runs again alone, with the
/// same filter and the same number of candidates as the fused query's prefetch, so a leg
/// score is present exactly when that leg put the hit among its candidates.
pub async fn search_explained(
    state: &AppState,
    kbs: &[KnowledgeBase],
    query: &str,
    params: &SearchParams,
) -> Result<Explained, RetrievalError> {
    let total = Instant::now();
    let t = Instant::now();
    let prepared = prepare(state, kbs, query, params).await?;
    let embed_ms = ms(t);
    let t = Instant::now();
    let chunks = run(state, kbs, query, params, &prepared).await?;
    let search_ms = ms(t);
    let t = Instant::now();
    let (dense, sparse) = match params.mode {
        SearchMode::Hybrid => (
            leg(state, kbs, &prepared, SearchMode::Dense).await?,
            leg(state, kbs, &prepared, SearchMode::Sparse).await?,
        ),
        // A single-leg search's score is that leg's score.
        SearchMode::Dense => (own_scores(&chunks), HashMap::new()),
        SearchMode::Sparse => (HashMap::new(), own_scores(&chunks)),
    };
    let legs_ms = ms(t);
    let hits = chunks
        .into_iter()
        .map(|c| {
            let scores = LegScores {
                dense: dense.get(&c.chunk_id).copied(),
                sparse: sparse.get(&c.chunk_id).copied(),
                fused: c.score,
            };
            (c, scores)
        })
        .collect();
    Ok(Explained {
        hits,
        timings: SearchTimings {
            embed_ms,
            search_ms,
            legs_ms,
            total_ms: ms(total),
        },
    })
}

fn own_scores(chunks: &[RetrievedChunk]) -> HashMap<String, f32> {
    chunks
        .iter()
        .map(|c| (c.chunk_id.clone(), c.score))
        .collect()
}

/// One leg of the hybrid query, alone, over every knowledge base: chunk id → that leg's score.
async fn leg(
    state: &AppState,
    kbs: &[KnowledgeBase],
    prepared: &super::Prepared,
    mode: SearchMode,
) -> Result<HashMap<String, f32>, RetrievalError> {
    let mut out = HashMap::new();
    for kb in kbs {
        let dense = prepared.embeddings.get(&kb.embedding_model).cloned();
        if mode == SearchMode::Dense && dense.is_none() {
            continue;
        }
        let q = Query {
            mode,
            dense,
            // Exactly what the fused query's prefetch fetched per leg, with no threshold:
            // the threshold applies to fused scores only.
            limit: prepared.query.candidates,
            score_threshold: None,
            ..prepared.query.clone()
        };
        match state.vectors.query(&kb.collection, &q).await {
            Ok(hits) => out.extend(hits.into_iter().map(|h| (h.id.to_string(), h.score))),
            // Switched by a re-index since the search: its scores are unknown (null), not an
            // error.
            Err(VectorError::CollectionNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
