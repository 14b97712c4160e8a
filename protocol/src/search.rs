//! Search: the modes and fusions a query may ask for, and the body of
//! `POST /v1/knowledge_bases/{kb}/search`. `rag_params` of the chat request shares them.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::filter::Filter;
use crate::params::{
    fail, nullable, optional, Candidates, MaxChunksPerDocument, Param, ScoreThreshold, K,
};
use crate::ParamError;

/// Which legs a query runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Dense and BM25, fused by the engine.
    #[default]
    Hybrid,
    Dense,
    Sparse,
}

/// A search mode name that is none of `hybrid`, `dense`, `sparse`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown search_mode `{0}`; use hybrid, dense or sparse")]
pub struct UnknownSearchMode(pub String);

impl FromStr for SearchMode {
    type Err = UnknownSearchMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hybrid" => Ok(SearchMode::Hybrid),
            "dense" => Ok(SearchMode::Dense),
            "sparse" => Ok(SearchMode::Sparse),
            other => Err(UnknownSearchMode(other.to_owned())),
        }
    }
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Dense => "dense",
            SearchMode::Sparse => "sparse",
        }
    }
}

/// How the two legs of a hybrid query are fused, server-side.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Fusion {
    /// Reciprocal rank fusion: each leg adds `weight / (k + rank)`; the dense leg weighs
    /// `dense_weight`, the sparse one `1 - dense_weight`.
    Rrf { k: u32, dense_weight: f32 },
    /// Distribution-based score fusion. The default: on SciFact's training queries it beats
    /// RRF by +0.008 nDCG@10 (docs/retrieval-quality.md).
    #[default]
    Dbsf,
}

impl Fusion {
    /// RRF's `k` when none is given: 2, what a Qdrant server uses for a plain `Fusion::Rrf`,
    /// so both backends rank alike.
    pub const DEFAULT_RRF_K: u32 = 2;
    /// Plain RRF: the default `k`, both legs weighted equally.
    pub const RRF: Fusion = Fusion::Rrf {
        k: Fusion::DEFAULT_RRF_K,
        dense_weight: 0.5,
    };

    /// The per-leg weights `[dense, sparse]` of a weighted RRF, None when equal.
    pub fn rrf_weights(dense_weight: f32) -> Option<Vec<f32>> {
        ((dense_weight - 0.5).abs() > f32::EPSILON).then(|| vec![dense_weight, 1.0 - dense_weight])
    }
}

/// A fusion name that does not parse; says what would.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}; use dbsf, rrf or rrf(k=<1..=1000>,dense_weight=<0..=1>)")]
pub struct InvalidFusion(String);

/// `dbsf`, `rrf`, or a parametrised RRF `rrf(k=60,dense_weight=0.6)` (either key may be
/// left out: k defaults to 2, the dense leg's weight to 0.5).
impl FromStr for Fusion {
    type Err = InvalidFusion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dbsf" => return Ok(Fusion::Dbsf),
            "rrf" => return Ok(Fusion::RRF),
            _ => {}
        }
        let inner = s
            .strip_prefix("rrf(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| InvalidFusion(format!("unknown fusion `{s}`")))?;
        let (mut k, mut dense_weight) = (Fusion::DEFAULT_RRF_K, 0.5f32);
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| InvalidFusion(format!("`{part}` is not key=value")))?;
            let value = value.trim();
            match key.trim() {
                "k" => k = rrf_k(value)?,
                "dense_weight" => dense_weight = rrf_weight(value)?,
                other => return Err(InvalidFusion(format!("unknown RRF parameter `{other}`"))),
            }
        }
        Ok(Fusion::Rrf { k, dense_weight })
    }
}

fn rrf_k(value: &str) -> Result<u32, InvalidFusion> {
    value
        .parse()
        .ok()
        .filter(|k| (1..=1000).contains(k))
        .ok_or_else(|| InvalidFusion(format!("k `{value}` is not in 1..=1000")))
}

fn rrf_weight(value: &str) -> Result<f32, InvalidFusion> {
    value
        .parse()
        .ok()
        .filter(|w: &f32| (0.0..=1.0).contains(w))
        .ok_or_else(|| InvalidFusion(format!("dense_weight `{value}` is not in 0..=1")))
}

/// A word parsed by `FromStr`; a non-string is "must be a string".
fn parse_word<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s = String::deserialize(d)?;
    s.parse().map_err(fail)
}

impl<'de> Deserialize<'de> for SearchMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_word(d)
    }
}

impl<'de> Deserialize<'de> for Fusion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_word(d)
    }
}

/// `POST /v1/knowledge_bases/{kb}/search`: retrieval only, the chat flow's first step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to search for, at most [`MAX_QUERY_BYTES`].
    #[serde(deserialize_with = "bounded_query")]
    pub query: String,
    /// Chunks returned, 1..=1024; 5 when absent.
    #[serde(default = "five", deserialize_with = "k_or_five")]
    pub k: usize,
    /// Metadata conditions (see `filter`).
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default, deserialize_with = "nullable")]
    pub search_mode: SearchMode,
    /// Hits scoring below this are dropped.
    #[serde(default, deserialize_with = "optional::<_, ScoreThreshold>")]
    pub score_threshold: Option<f32>,
    /// Hits each leg fetches before fusion; default max(4k, 40).
    #[serde(default, deserialize_with = "optional::<_, Candidates>")]
    pub candidates: Option<usize>,
    /// At most this many chunks of one document.
    #[serde(default, deserialize_with = "optional::<_, MaxChunksPerDocument>")]
    pub max_chunks_per_document: Option<usize>,
    #[serde(default, deserialize_with = "nullable")]
    pub fusion: Fusion,
    /// Per-leg scores on each hit (`scores: {dense, sparse, fused}`) and per-stage
    /// `timings` on the response.
    #[serde(default, deserialize_with = "nullable")]
    pub explain: bool,
}

/// Longest query, in bytes: a `query` or `search_query` past it is refused, and a query taken
/// from the last user message is cut there (the embedder reads its first 512 tokens anyway, and
/// BM25 would otherwise score every distinct word of a megabyte).
pub const MAX_QUERY_BYTES: usize = 8 << 10;

/// A query string (null = ""), at most [`MAX_QUERY_BYTES`].
pub(crate) fn bounded_query<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let query = Option::<String>::deserialize(d)?.unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return Err(fail(format!(
            "{{param}} is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
            query.len()
        )));
    }
    Ok(query)
}

/// `text` cut to at most [`MAX_QUERY_BYTES`], at a character boundary.
pub fn clip_query(text: &str) -> &str {
    if text.len() <= MAX_QUERY_BYTES {
        return text;
    }
    let mut end = MAX_QUERY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn five() -> usize {
    5
}

fn k_or_five<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Option::<K>::deserialize(d)?.map_or(5, K::get))
}

impl SearchRequest {
    /// Parse a search body.
    pub fn parse(body: Value) -> Result<SearchRequest, ParamError> {
        crate::params::body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_queries_are_cut_at_a_character_boundary() {
        let ascii = "a".repeat(MAX_QUERY_BYTES + 10);
        assert_eq!(clip_query(&ascii).len(), MAX_QUERY_BYTES);
        let wide = "é".repeat(MAX_QUERY_BYTES); // 2 bytes each: the cut lands mid-character
        let cut = clip_query(&wide);
        assert!(cut.len() <= MAX_QUERY_BYTES && cut.len() > MAX_QUERY_BYTES - 2);
        assert_eq!(clip_query("short"), "short");
        assert!(SearchRequest::parse(json!({"query": "q".repeat(MAX_QUERY_BYTES)})).is_ok());
    }

    #[test]
    fn search_body_defaults_and_ranges() {
        let r = SearchRequest::parse(json!({"query": "q"})).unwrap();
        assert_eq!(
            (r.k, r.search_mode, r.fusion),
            (5, SearchMode::Hybrid, Fusion::Dbsf)
        );
        let r =
            SearchRequest::parse(json!({"query": "q", "fusion": "dbsf", "search_mode": "sparse"}));
        let r = r.unwrap();
        assert_eq!(
            (r.search_mode, r.fusion),
            (SearchMode::Sparse, Fusion::Dbsf)
        );
        let w = "rrf(dense_weight=0.25)".parse::<Fusion>().unwrap();
        assert_eq!(
            w,
            Fusion::Rrf {
                k: 2,
                dense_weight: 0.25
            }
        );
        for (body, param) in [
            (json!({"query": "q", "k": 0}), "k"),
            (json!({"query": "q", "candidates": 10_001}), "candidates"),
            (
                json!({"query": "q", "max_chunks_per_document": 0}),
                "max_chunks_per_document",
            ),
            (json!({"query": "q", "search_mode": "fuzzy"}), "search_mode"),
            (json!({"query": "q", "fusion": "rrf(k=0)"}), "fusion"),
            (
                json!({"query": "q", "filter": {"year": {"gte": "x"}}}),
                "filter.year.gte",
            ),
            (json!({"k": 3}), "query"),
            (json!({"query": "q", "bogus": 1}), "bogus"),
            (json!({"query": "q".repeat(MAX_QUERY_BYTES + 1)}), "query"),
        ] {
            assert_eq!(
                SearchRequest::parse(body.clone()).unwrap_err().param,
                param,
                "{body}"
            );
        }
    }
}
