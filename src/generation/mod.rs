//! Generation backends: any OpenAI-compatible server. Resolves a request's `model` to a
//! configured backend and model (with its context length and the parameters it does not
//! take), and forwards chat completions, whole or streamed (SSE).

use std::time::Duration;

use futures_util::Stream;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::config::{BackendConfig, GenerationConfig};

pub mod sse;

/// Request fields reasoning models ignore (the seed's list); dropped, not failed.
pub const REASONING_DROPPED: [&str; 6] = [
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
];

/// A model a request may name.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub upstream_id: String,
    pub context_length: u32,
    /// Request fields dropped before forwarding.
    pub dropped: Vec<String>,
    pub backend: usize,
    pub owned_by: String,
}

/// Why a generation call failed. The messages are the ones clients see.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("model `{0}` does not exist")]
    UnknownModel(String),
    #[error("no generation backend is configured (set generation.backends or OPENAI_BASE_URL)")]
    NoBackend,
    #[error("generation backend unreachable: {0}")]
    Unreachable(String),
    #[error("generation backend timed out")]
    Timeout,
    /// The backend answered with an error status; `body` is its (OpenAI-shaped) error.
    #[error("{}", upstream_message(*.status, .body))]
    Upstream { status: u16, body: Value },
    #[error("generation backend sent an invalid answer: {0}")]
    Malformed(String),
}

impl GenerationError {
    /// The backend refused the request itself (a 4xx other than auth, not found and rate
    /// limits): the client's request is at fault, not the backend.
    pub fn is_rejected_request(&self) -> bool {
        matches!(self, GenerationError::Upstream { status, .. } if rejected(*status))
    }

    /// The parameter the backend blamed, when it rejected the request.
    pub fn upstream_param(&self) -> Option<&str> {
        match self {
            GenerationError::Upstream { body, .. } => body["error"]["param"].as_str(),
            _ => None,
        }
    }
}

/// A status by which a backend refuses the request itself.
fn rejected(status: u16) -> bool {
    (400..500).contains(&status) && ![401, 403, 404, 429].contains(&status)
}

/// What the backend said, as clients see it.
fn upstream_message(status: u16, body: &Value) -> String {
    let message = body["error"]["message"].as_str().unwrap_or("no message");
    if rejected(status) {
        format!("the generation backend rejected the request: {message}")
    } else {
        format!("generation backend answered {status}: {message}")
    }
}

struct Backend {
    name: String,
    base_url: String,
    api_key: Option<String>,
    /// No models configured: any model name is forwarded as is.
    wildcard: bool,
    discovered: OnceCell<Option<String>>,
}

pub struct Generation {
    http: reqwest::Client,
    backends: Vec<Backend>,
    models: Vec<Model>,
    default_model: Option<String>,
    timeout: Duration,
}

fn model_from(b: usize, backend: &BackendConfig, m: &crate::config::ModelConfig) -> Model {
    let mut dropped: Vec<String> = m.unsupported_params.clone();
    if m.reasoning {
        dropped.extend(REASONING_DROPPED.iter().map(|s| s.to_string()));
    }
    Model {
        id: m.id.clone(),
        upstream_id: m.upstream_id.clone().unwrap_or_else(|| m.id.clone()),
        context_length: m.context_length,
        dropped,
        backend: b,
        owned_by: backend.name.clone(),
    }
}

impl Generation {
    pub fn from_config(cfg: &GenerationConfig) -> anyhow::Result<Generation> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let mut models = Vec::new();
        let mut backends = Vec::new();
        for (i, b) in cfg.backends.iter().enumerate() {
            models.extend(b.models.iter().map(|m| model_from(i, b, m)));
            backends.push(Backend {
                name: b.name.clone(),
                base_url: b.base_url.trim_end_matches('/').to_owned(),
                api_key: b.api_key.as_ref().map(|k| k.expose_secret().to_owned()),
                wildcard: b.models.is_empty(),
                discovered: OnceCell::new(),
            });
        }
        Ok(Generation {
            http,
            backends,
            models,
            default_model: cfg.default_model.clone(),
            timeout: Duration::from_secs(cfg.timeout_secs),
        })
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// The model a request's `model` names; `""` is the default model.
    pub async fn resolve(&self, requested: &str) -> Result<Model, GenerationError> {
        let name = if requested.is_empty() {
            match self
                .default_model
                .clone()
                .or_else(|| self.models.first().map(|m| m.id.clone()))
            {
                Some(d) => d,
                None => return self.discover_default().await,
            }
        } else {
            requested.to_owned()
        };
        if let Some(m) = self.models.iter().find(|m| m.id == name) {
            return Ok(m.clone());
        }
        match self.backends.iter().position(|b| b.wildcard) {
            Some(b) => Ok(Model {
                id: name.clone(),
                upstream_id: name,
                context_length: 8192,
                dropped: vec![],
                backend: b,
                owned_by: self.backends[b].name.clone(),
            }),
            None => Err(GenerationError::UnknownModel(name)),
        }
    }

    /// A wildcard backend's first model, asked once from its `/models`.
    async fn discover_default(&self) -> Result<Model, GenerationError> {
        let b = self
            .backends
            .iter()
            .position(|b| b.wildcard)
            .ok_or(GenerationError::NoBackend)?;
        let backend = &self.backends[b];
        let found = backend
            .discovered
            .get_or_init(|| async {
                let url = format!("{}/models", backend.base_url);
                let res = self
                    .authorize(self.http.get(url), backend)
                    .timeout(self.timeout)
                    .send()
                    .await
                    .ok()?;
                let body: Value = res.json().await.ok()?;
                body["data"][0]["id"].as_str().map(str::to_owned)
            })
            .await
            .clone();
        let id = found.ok_or_else(|| {
            GenerationError::Unreachable(format!("backend `{}` lists no models", backend.name))
        })?;
        Ok(Model {
            id: id.clone(),
            upstream_id: id,
            context_length: 8192,
            dropped: vec![],
            backend: b,
            owned_by: backend.name.clone(),
        })
    }

    fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        backend: &Backend,
    ) -> reqwest::RequestBuilder {
        match &backend.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    fn request(&self, model: &Model, body: &Value) -> reqwest::RequestBuilder {
        let backend = &self.backends[model.backend];
        let mut body = body.clone();
        body["model"] = Value::String(model.upstream_id.clone());
        self.authorize(
            self.http
                .post(format!("{}/chat/completions", backend.base_url)),
            backend,
        )
        .json(&body)
    }

    /// A whole (non-streaming) chat completion.
    pub async fn complete(&self, model: &Model, body: &Value) -> Result<Value, GenerationError> {
        let res = self
            .request(model, body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(send_error)?;
        let status = res.status();
        let text = res.text().await.map_err(send_error)?;
        if !status.is_success() {
            return Err(upstream(status.as_u16(), &text));
        }
        serde_json::from_str(&text)
            .map_err(|e| GenerationError::Malformed(format!("not JSON: {e}")))
    }

    /// A streamed chat completion: each item one parsed `data:` event, ending before `[DONE]`.
    /// Dropping the stream closes the connection, which cancels the backend's work.
    pub async fn stream(
        &self,
        model: &Model,
        body: &Value,
    ) -> Result<impl Stream<Item = Result<Value, GenerationError>> + Send + 'static, GenerationError>
    {
        let res = tokio::time::timeout(self.timeout, self.request(model, body).send())
            .await
            .map_err(|_| GenerationError::Timeout)?
            .map_err(send_error)?;
        let status = res.status();
        if !status.is_success() {
            let text = res.text().await.unwrap_or_default();
            return Err(upstream(status.as_u16(), &text));
        }
        let timeout = self.timeout;
        let bytes = res.bytes_stream();
        Ok(sse::events(bytes, timeout))
    }
}

/// A transport error: timeout or unreachable (also used by `sse` for stream errors).
pub(crate) fn send_error(e: reqwest::Error) -> GenerationError {
    if e.is_timeout() {
        GenerationError::Timeout
    } else {
        GenerationError::Unreachable(e.to_string())
    }
}

fn upstream(status: u16, text: &str) -> GenerationError {
    let body = serde_json::from_str(text)
        .unwrap_or_else(|_| serde_json::json!({"error": {"message": text}}));
    GenerationError::Upstream { status, body }
}
