//! Retrieval: one query against one or more knowledge bases — embed, search each live
//! collection (hybrid dense + BM25 by default, fused by the engine), merge, cap per document.
//! The search endpoint, the chat flow and the evaluator all come through here.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use ragway_protocol::search::SearchRequest;

use crate::rerank::RerankError;
use crate::state::AppState;
use crate::store::knowledge::KnowledgeBase;
use crate::store::StoreError;
use crate::vector::{Filter, Fusion, Hit, Query, SearchMode, SparseVec, VectorError};

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("the search query is empty")]
    EmptyQuery,
    /// A knowledge base names an embedding model this process has not loaded.
    #[error("embedding model `{0}` of a knowledge base is not configured")]
    ModelMissing(String),
    /// The embedder failed on the query (a bug or a broken model): not the caller's fault.
    #[error("embedding the query: {0}")]
    Embedding(String),
    #[error(transparent)]
    Rerank(#[from] RerankError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vector(#[from] VectorError),
}

pub mod explain;

/// Typed, range-checked retrieval parameters.
#[derive(Debug, Clone)]
pub struct SearchParams {
    /// Chunks returned.
    pub k: usize,
    pub filter: Option<Filter>,
    pub mode: SearchMode,
    pub score_threshold: Option<f32>,
    /// Hits each leg fetches before fusion; default max(4k, 40).
    pub candidates: Option<usize>,
    /// At most this many chunks of one document.
    pub max_chunks_per_document: Option<usize>,
    /// How the hybrid legs are fused.
    pub fusion: Fusion,
}

impl From<&SearchRequest> for SearchParams {
    fn from(r: &SearchRequest) -> Self {
        SearchParams {
            k: r.k,
            filter: r.filter.clone(),
            mode: r.search_mode,
            score_threshold: r.score_threshold,
            candidates: r.candidates,
            max_chunks_per_document: r.max_chunks_per_document,
            fusion: r.fusion,
        }
    }
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            k: 5,
            filter: None,
            mode: SearchMode::Hybrid,
            score_threshold: None,
            candidates: None,
            max_chunks_per_document: None,
            // Measured on SciFact training queries: DBSF beats RRF by +0.008 nDCG@10
            // (docs/retrieval-quality.md).
            fusion: Fusion::Dbsf,
        }
    }
}

/// One retrieved chunk with what a reference needs.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievedChunk {
    pub chunk_id: String,
    pub score: f32,
    pub kb_id: String,
    /// The knowledge base generation (re-index) the chunk comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    pub document_id: String,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub file_name: Option<String>,
    pub page: Option<u64>,
    pub ordinal: u64,
    pub char_start: Option<u64>,
    pub char_end: Option<u64>,
    #[serde(skip)]
    pub section: Option<u64>,
    pub text: String,
    pub metadata: Value,
}

impl RetrievedChunk {
    pub fn from_hit(hit: Hit) -> RetrievedChunk {
        let p = &hit.payload;
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let n = |k: &str| p.get(k).and_then(Value::as_u64);
        RetrievedChunk {
            chunk_id: hit.id.to_string(),
            score: hit.score,
            kb_id: s("kb_id").unwrap_or_default(),
            generation: n("generation"),
            document_id: s("document_id").unwrap_or_default(),
            external_id: s("external_id"),
            title: s("title"),
            file_name: s("file_name"),
            page: n("page"),
            ordinal: n("ordinal").unwrap_or(0),
            char_start: n("char_start"),
            char_end: n("char_end"),
            section: n("section"),
            text: s("text").unwrap_or_default(),
            metadata: p
                .get("metadata")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
        }
    }
}

/// Search `kbs` (already confined to the caller's project) for `query`.
#[tracing::instrument(skip_all, fields(kbs = kbs.len(), k = params.k), err)]
pub async fn search(
    state: &AppState,
    kbs: &[KnowledgeBase],
    query: &str,
    params: &SearchParams,
) -> Result<Vec<RetrievedChunk>, RetrievalError> {
    let prepared = prepare(state, kbs, query, params).await?;
    run(state, kbs, query, params, &prepared).await
}

/// A query turned into vectors: its embedding by each knowledge base's model, and the engine
/// query (BM25 vector, limits, filter) shared by every knowledge base.
pub(crate) struct Prepared {
    embeddings: HashMap<String, Vec<f32>>,
    query: Query,
}

/// Embed the query (once per model) and encode its BM25 vector: the CPU-bound stage.
pub(crate) async fn prepare(
    state: &AppState,
    kbs: &[KnowledgeBase],
    query: &str,
    params: &SearchParams,
) -> Result<Prepared, RetrievalError> {
    if query.trim().is_empty() {
        return Err(RetrievalError::EmptyQuery);
    }
    // Each knowledge base is searched with its own embedding model (they may differ, and a
    // re-index may switch one): one query embedding per model.
    let mut embeddings: HashMap<String, Vec<f32>> = HashMap::new();
    if params.mode != SearchMode::Sparse {
        for kb in kbs {
            embed_for(state, &kb.embedding_model, query, &mut embeddings).await?;
        }
    }
    let sparse = match params.mode {
        SearchMode::Dense => None,
        SearchMode::Sparse | SearchMode::Hybrid => {
            let sv = state.pipeline.bm25.encode_query(query);
            Some(SparseVec {
                indices: sv.indices,
                values: sv.values,
            })
        }
    };
    // Over-fetch when a per-document cap may discard hits.
    let limit = match params.max_chunks_per_document {
        Some(_) => params.k * 4,
        None => params.k,
    };
    let query = Query {
        mode: params.mode,
        dense: None,
        sparse,
        limit,
        candidates: params
            .candidates
            .unwrap_or((4 * params.k).max(40))
            .max(limit),
        fusion: params.fusion,
        filter: params.filter.clone(),
        score_threshold: params.score_threshold,
    };
    Ok(Prepared { embeddings, query })
}

/// Search every knowledge base with a prepared query, merge by score, cap per document.
pub(crate) async fn run(
    state: &AppState,
    kbs: &[KnowledgeBase],
    query: &str,
    params: &SearchParams,
    prepared: &Prepared,
) -> Result<Vec<RetrievedChunk>, RetrievalError> {
    let searches = kbs
        .iter()
        .map(|kb| search_kb(state, kb, query, &prepared.query, &prepared.embeddings));
    let mut hits: Vec<Hit> = Vec::new();
    for result in futures_util::future::join_all(searches).await {
        hits.extend(result?);
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut per_doc: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(params.k);
    for hit in hits {
        let chunk = RetrievedChunk::from_hit(hit);
        if let Some(cap) = params.max_chunks_per_document {
            let n = per_doc.entry(chunk.document_id.clone()).or_default();
            if *n >= cap {
                continue;
            }
            *n += 1;
        }
        out.push(chunk);
        if out.len() == params.k {
            break;
        }
    }
    Ok(out)
}

/// The query's embedding by `model`, computed once per search.
async fn embed_for(
    state: &AppState,
    model: &str,
    query: &str,
    cache: &mut HashMap<String, Vec<f32>>,
) -> Result<Vec<f32>, RetrievalError> {
    if let Some(v) = cache.get(model) {
        return Ok(v.clone());
    }
    let pipeline = state
        .models
        .get(model)
        .ok_or_else(|| RetrievalError::ModelMissing(model.to_owned()))?;
    let v = pipeline
        .embedder
        .embed_query(query)
        .await
        .map_err(|e| RetrievalError::Embedding(format!("{e:#}")))?;
    cache.insert(model.to_owned(), v.clone());
    Ok(v)
}

/// One knowledge base's hits. A search that read the knowledge base just before a re-index
/// switched it finds the old collection gone: it reads the knowledge base again and searches
/// the new generation (with its model), so a switch is never seen as an error or as nothing.
async fn search_kb(
    state: &AppState,
    kb: &KnowledgeBase,
    query: &str,
    q: &Query,
    embeddings: &HashMap<String, Vec<f32>>,
) -> Result<Vec<Hit>, RetrievalError> {
    let mut kb = kb.clone();
    let mut cache = embeddings.clone();
    for attempt in 0..3 {
        let mut q = q.clone();
        if q.mode != SearchMode::Sparse {
            q.dense = Some(embed_for(state, &kb.embedding_model, query, &mut cache).await?);
        }
        match state.vectors.query(&kb.collection, &q).await {
            Err(e @ VectorError::CollectionNotFound(_)) if attempt < 2 => {
                match state.db.get_kb(&kb.project_id, &kb.id).await? {
                    Some(now) if now.collection != kb.collection => kb = now,
                    // Deleted meanwhile: nothing to find in it.
                    None => return Ok(Vec::new()),
                    Some(_) => return Err(e.into()),
                }
            }
            r => return Ok(r?),
        }
    }
    Ok(Vec::new())
}

/// Reorder `chunks` by reranker `name`'s relevance, keep the best `k`; scores become the
/// reranker's. `concat` reranks on title + text instead of text alone.
pub async fn rerank(
    state: &AppState,
    name: &str,
    query: &str,
    chunks: Vec<RetrievedChunk>,
    k: usize,
    concat: bool,
) -> Result<Vec<RetrievedChunk>, RetrievalError> {
    let documents: Vec<String> = chunks
        .iter()
        .map(|c| match (&c.title, concat) {
            (Some(t), true) => format!("{t}\n{}", c.text),
            _ => c.text.clone(),
        })
        .collect();
    let scores = state.rerankers.rerank(name, query, documents, k).await?;
    let mut slots: Vec<Option<RetrievedChunk>> = chunks.into_iter().map(Some).collect();
    let mut scored: Vec<RetrievedChunk> = scores
        .into_iter()
        .filter_map(|(i, score)| {
            let mut c = slots[i].take()?;
            c.score = score;
            Some(c)
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    scored.truncate(k);
    Ok(scored)
}

/// Maximal-marginal-relevance re-ordering: pick `k` chunks, each time the one with the best
/// `(1 − diversity) · relevance − diversity · (similarity to those already picked)`.
/// Relevance is the score scaled to [0, 1]; similarity is the Jaccard overlap of word sets
/// (no vectors needed, so it works for every search mode and after reranking).
/// Runs CPU-bound `f` (MMR over thousands of candidates, tokenising a long conversation) on a
/// blocking thread, so it never stalls the HTTP workers; a panic in it stays a panic.
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

pub fn mmr(chunks: Vec<RetrievedChunk>, diversity: f32, k: usize) -> Vec<RetrievedChunk> {
    if chunks.len() <= 1 || diversity <= 0.0 {
        return chunks.into_iter().take(k).collect();
    }
    let words: Vec<std::collections::HashSet<String>> = chunks
        .iter()
        .map(|c| {
            c.text
                .split(|ch: char| !ch.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .map(str::to_lowercase)
                .collect()
        })
        .collect();
    let (lo, hi) = chunks.iter().fold((f32::MAX, f32::MIN), |(lo, hi), c| {
        (lo.min(c.score), hi.max(c.score))
    });
    let rel = |c: &RetrievedChunk| {
        if hi > lo {
            (c.score - lo) / (hi - lo)
        } else {
            1.0
        }
    };
    let jaccard = |a: &std::collections::HashSet<String>, b: &std::collections::HashSet<String>| {
        let inter = a.intersection(b).count() as f32;
        let union = (a.len() + b.len()) as f32 - inter;
        if union == 0.0 {
            0.0
        } else {
            inter / union
        }
    };
    // Each candidate's highest similarity to the chunks picked so far, updated against the
    // newest pick only: O(n·k) similarities instead of O(n·k²).
    let mut max_sim = vec![0.0f32; chunks.len()];
    let mut picked: Vec<usize> = Vec::with_capacity(k);
    let mut left: Vec<usize> = (0..chunks.len()).collect();
    while picked.len() < k && !left.is_empty() {
        let (pos, _) = left
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                (
                    pos,
                    (1.0 - diversity) * rel(&chunks[i]) - diversity * max_sim[i],
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("left is not empty");
        let newest = left.remove(pos);
        picked.push(newest);
        for &i in &left {
            max_sim[i] = max_sim[i].max(jaccard(&words[i], &words[newest]));
        }
    }
    let mut slots: Vec<Option<RetrievedChunk>> = chunks.into_iter().map(Some).collect();
    picked.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Widen each chunk with up to `n` neighbours on each side (same document, adjacent
/// ordinals), merged into one passage; hits already covered by an earlier widened passage
/// are dropped.
pub async fn expand_neighbors(
    state: &AppState,
    kbs: &[KnowledgeBase],
    chunks: Vec<RetrievedChunk>,
    n: usize,
) -> Result<Vec<RetrievedChunk>, RetrievalError> {
    use crate::vector::{Condition, MatchValue, RangeBounds};
    if n == 0 {
        return Ok(chunks);
    }
    let mut covered: std::collections::HashSet<(String, u64)> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(chunks.len());
    for mut c in chunks {
        if covered.contains(&(c.document_id.clone(), c.ordinal)) {
            continue;
        }
        let Some(kb) = kbs.iter().find(|kb| kb.id == c.kb_id) else {
            out.push(c);
            continue;
        };
        let filter = Filter {
            must: vec![
                Condition::Match {
                    key: "document_id".into(),
                    value: MatchValue::Keyword(c.document_id.clone()),
                },
                Condition::Range {
                    key: "ordinal".into(),
                    range: RangeBounds {
                        gte: Some(c.ordinal.saturating_sub(n as u64) as f64),
                        lte: Some((c.ordinal + n as u64) as f64),
                        ..Default::default()
                    },
                },
            ],
            ..Default::default()
        };
        let mut around: Vec<RetrievedChunk> = state
            .vectors
            .scroll(&kb.collection, &filter, 2 * n + 1)
            .await?
            .into_iter()
            .map(RetrievedChunk::from_hit)
            .collect();
        around.sort_by_key(|x| x.ordinal);
        if around.len() > 1 {
            c.text = merge_overlapping(&around);
            c.char_start = around.first().and_then(|x| x.char_start);
            c.char_end = around.last().and_then(|x| x.char_end);
        }
        covered.extend(around.iter().map(|x| (x.document_id.clone(), x.ordinal)));
        out.push(c);
    }
    Ok(out)
}

/// Join consecutive chunks of one document, removing the overlap the chunker put between
/// them (known exactly from their character offsets).
fn merge_overlapping(chunks: &[RetrievedChunk]) -> String {
    let mut out = String::new();
    let mut prev: Option<&RetrievedChunk> = None;
    for c in chunks {
        let skip = match (prev, c.char_start) {
            (Some(p), Some(start)) if p.section == c.section => p
                .char_end
                .map_or(0, |end| end.saturating_sub(start) as usize),
            _ => 0,
        };
        if prev.is_some() && skip == 0 {
            out.push(' ');
        }
        out.extend(c.text.chars().skip(skip));
        prev = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, score: f32, text: &str) -> RetrievedChunk {
        RetrievedChunk {
            chunk_id: id.into(),
            score,
            kb_id: "kb".into(),
            generation: None,
            document_id: id.into(),
            external_id: None,
            title: None,
            file_name: None,
            page: None,
            ordinal: 0,
            char_start: None,
            char_end: None,
            section: Some(0),
            text: text.into(),
            metadata: Value::Null,
        }
    }

    #[test]
    fn mmr_skips_near_duplicates() {
        let chunks = vec![
            chunk("a", 1.0, "otters hold hands while sleeping"),
            chunk("b", 0.95, "otters hold hands while sleeping at sea"),
            chunk("c", 0.9, "beavers build dams from branches"),
        ];
        let ids = |v: Vec<RetrievedChunk>| v.into_iter().map(|c| c.chunk_id).collect::<Vec<_>>();
        assert_eq!(ids(mmr(chunks.clone(), 0.0, 2)), vec!["a", "b"]);
        assert_eq!(ids(mmr(chunks, 0.7, 2)), vec!["a", "c"]);
    }

    #[test]
    fn neighbours_merge_without_repeating_the_overlap() {
        let mut a = chunk("a", 1.0, "the quick brown");
        (a.char_start, a.char_end) = (Some(0), Some(15));
        let mut b = chunk("b", 1.0, "brown fox jumps");
        (b.char_start, b.char_end) = (Some(10), Some(25));
        let mut c = chunk("c", 1.0, "Next section");
        (c.section, c.char_start) = (Some(1), Some(0));
        assert_eq!(
            merge_overlapping(&[a, b, c]),
            "the quick brown fox jumps Next section"
        );
    }
}
