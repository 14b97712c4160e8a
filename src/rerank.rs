//! Rerankers: configured Cohere/Jina-style HTTP endpoints (`POST {url}` with
//! `{model, query, documents, top_n}` answering `{results: [{index, relevance_score}]}`).
//! An adapter like `generation`: it speaks the wire format and knows nothing of chunks;
//! `retrieval` applies its scores to retrieved candidates.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::config::RerankerConfig;

/// Why a rerank call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RerankError {
    /// No reranker of that name is configured (the request named it).
    #[error("unknown reranking_model `{name}`; configured: {configured:?}")]
    Unknown {
        name: String,
        configured: Vec<String>,
    },
    #[error("reranker `{0}` timed out")]
    Timeout(String),
    #[error("reranker `{name}` unreachable: {reason}")]
    Unreachable { name: String, reason: String },
    /// It answered, but not with what the protocol promises.
    #[error("reranker `{name}` {what}")]
    BadAnswer { name: String, what: String },
}

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

    /// The reranker `name`, or `Unknown` naming those configured.
    fn config(&self, name: &str) -> Result<&RerankerConfig, RerankError> {
        self.configs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| RerankError::Unknown {
                name: name.to_owned(),
                configured: self.names().into_iter().map(str::to_owned).collect(),
            })
    }

    /// Is `name` configured? `Unknown` otherwise, so a request fails before any search.
    pub fn check(&self, name: &str) -> Result<(), RerankError> {
        self.config(name).map(|_| ())
    }

    /// Scores of the best `top_n` of `documents` for `query`: `(index into documents,
    /// relevance)`, in the reranker's order.
    pub async fn rerank(
        &self,
        name: &str,
        query: &str,
        documents: Vec<String>,
        top_n: usize,
    ) -> Result<Vec<(usize, f32)>, RerankError> {
        let cfg = self.config(name)?;
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let count = documents.len();
        let body = json!({"model": cfg.model.clone().unwrap_or_else(|| cfg.name.clone()), "query": query, "documents": documents, "top_n": top_n.min(count)});
        let answer = self.call(cfg, &body).await?;
        scores(name, &answer, count)
    }

    /// POST the request; the answer's JSON when the status is a success.
    async fn call(&self, cfg: &RerankerConfig, body: &Value) -> Result<Value, RerankError> {
        let name = cfg.name.clone();
        let mut req = self
            .http
            .post(&cfg.url)
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .json(body);
        if let Some(key) = &cfg.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                RerankError::Timeout(name.clone())
            } else {
                RerankError::Unreachable {
                    name: name.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
        if !res.status().is_success() {
            return Err(bad(&name, format!("answered {}", res.status())));
        }
        res.json()
            .await
            .map_err(|e| bad(&name, format!("sent invalid JSON: {e}")))
    }
}

fn bad(name: &str, what: String) -> RerankError {
    RerankError::BadAnswer {
        name: name.to_owned(),
        what,
    }
}

/// `(index, relevance_score)` of each result, each index below `count` and given once.
fn scores(name: &str, body: &Value, count: usize) -> Result<Vec<(usize, f32)>, RerankError> {
    let results = body["results"]
        .as_array()
        .ok_or_else(|| bad(name, "sent no results".into()))?;
    let mut seen = vec![false; count];
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        let (Some(i), Some(score)) = (r["index"].as_u64(), r["relevance_score"].as_f64()) else {
            return Err(bad(
                name,
                "sent a result without index or relevance_score".into(),
            ));
        };
        let i = usize::try_from(i)
            .ok()
            .filter(|i| *i < count && !std::mem::replace(&mut seen[*i], true))
            .ok_or_else(|| bad(name, "sent an index out of range".into()))?;
        out.push((i, score as f32));
    }
    Ok(out)
}
