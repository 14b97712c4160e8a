//! Rerankers: a configured Cohere/Jina-style HTTP endpoint (`POST {url}` with
//! `{model, query, documents, top_n}` answering `{results: [{index, relevance_score}]}`),
//! applied to retrieved candidates before they are cut to `k`.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::RetrievedChunk;
use crate::config::RerankerConfig;
use crate::error::ApiError;

pub struct Rerankers {
    http: reqwest::Client,
    configs: Vec<RerankerConfig>,
}

impl Rerankers {
    pub fn new(configs: Vec<RerankerConfig>) -> anyhow::Result<Rerankers> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Rerankers { http, configs })
    }

    pub fn names(&self) -> Vec<&str> {
        self.configs.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.configs.iter().any(|c| c.name == name)
    }

    /// Reorder `chunks` by the reranker's relevance, keep the best `k`; scores become the
    /// reranker's. `concat` reranks on title + text instead of text alone.
    pub async fn rerank(
        &self,
        name: &str,
        query: &str,
        chunks: Vec<RetrievedChunk>,
        k: usize,
        concat: bool,
    ) -> Result<Vec<RetrievedChunk>, ApiError> {
        let cfg = self
            .configs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                ApiError::invalid(
                    "rag_params.reranking_model",
                    format!(
                        "unknown reranking_model `{name}`; configured: {:?}",
                        self.names()
                    ),
                )
            })?;
        if chunks.is_empty() {
            return Ok(chunks);
        }
        let documents: Vec<String> = chunks
            .iter()
            .map(|c| match (&c.title, concat) {
                (Some(t), true) => format!("{t}\n{}", c.text),
                _ => c.text.clone(),
            })
            .collect();
        let mut req = self
            .http
            .post(&cfg.url)
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .json(&json!({"model": cfg.model.clone().unwrap_or_else(|| cfg.name.clone()), "query": query, "documents": documents, "top_n": k.min(chunks.len())}));
        if let Some(key) = &cfg.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                ApiError::GatewayTimeout(format!("reranker `{name}` timed out"))
            } else {
                ApiError::BadGateway(format!("reranker `{name}` unreachable: {e}"))
            }
        })?;
        if !res.status().is_success() {
            return Err(ApiError::BadGateway(format!(
                "reranker `{name}` answered {}",
                res.status()
            )));
        }
        let body: Value = res.json().await.map_err(|e| {
            ApiError::BadGateway(format!("reranker `{name}` sent invalid JSON: {e}"))
        })?;
        let results = body["results"]
            .as_array()
            .ok_or_else(|| ApiError::BadGateway(format!("reranker `{name}` sent no results")))?;
        let mut slots: Vec<Option<RetrievedChunk>> = chunks.into_iter().map(Some).collect();
        let mut scored = Vec::with_capacity(results.len());
        for r in results {
            let (Some(i), Some(score)) = (r["index"].as_u64(), r["relevance_score"].as_f64())
            else {
                return Err(ApiError::BadGateway(format!(
                    "reranker `{name}` sent a result without index or relevance_score"
                )));
            };
            let mut c = slots
                .get_mut(i as usize)
                .and_then(Option::take)
                .ok_or_else(|| {
                    ApiError::BadGateway(format!("reranker `{name}` sent an index out of range"))
                })?;
            c.score = score as f32;
            scored.push(c);
        }
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored.truncate(k);
        Ok(scored)
    }
}
