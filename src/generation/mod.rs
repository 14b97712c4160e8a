//! Generation backends: any OpenAI-compatible server. Resolves a request's `model` to a
//! backend and model (with its context length and the parameters it does not take), and
//! forwards chat completions, whole or streamed (SSE). A backend configured without a model
//! list serves the models its own `GET /models` lists: asked at start, again every
//! `generation.models_refresh_secs`, and at once when a request comes before any answer.

use std::sync::RwLock;
use std::time::Duration;

use futures_util::Stream;
use secrecy::ExposeSecret;
use serde_json::Value;

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
    /// A reasoning model: it gets `reasoning_effort` (and no sampling parameters).
    pub reasoning: bool,
    pub backend: usize,
    pub owned_by: String,
}

/// Why a generation call failed. The messages are the ones clients see.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("model `{name}` does not exist; available: {}", listing(available))]
    UnknownModel {
        name: String,
        available: Vec<String>,
    },
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

/// The first model names, for a message (a hosted backend lists a hundred).
fn listing(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(
            " and {} more (GET /v1/models)",
            names.len() - SHOWN
        ));
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
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
    /// No models configured: the models the backend's `/models` listed last (None until it
    /// first answered).
    discovered: Option<RwLock<Option<Vec<Model>>>>,
}

pub struct Generation {
    http: reqwest::Client,
    backends: Vec<Backend>,
    models: Vec<Model>,
    default_model: Option<String>,
    timeout: Duration,
    refresh: Duration,
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
        reasoning: m.reasoning,
        backend: b,
        owned_by: backend.name.clone(),
    }
}

/// A model listed by a backend's `/models`: its id, and its context length when the listing
/// gives one (`context_length`, or vLLM's `max_model_len`), else 8192.
fn listed_model(b: usize, backend: &str, item: &Value) -> Option<Model> {
    let id = item["id"].as_str().filter(|id| !id.is_empty())?;
    let context_length = ["context_length", "max_model_len"]
        .iter()
        .find_map(|k| item[*k].as_u64())
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= 16)
        .unwrap_or(8192);
    Some(Model {
        id: id.to_owned(),
        upstream_id: id.to_owned(),
        context_length,
        dropped: vec![],
        reasoning: false,
        backend: b,
        owned_by: backend.to_owned(),
    })
}

impl Generation {
    pub fn from_config(cfg: &GenerationConfig) -> anyhow::Result<Generation> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
            // Below the 5 s after which llama.cpp, uvicorn and actix close an idle keep-alive
            // connection: reusing one the server is closing fails the request ("connection
            // closed before message completed"), which no retry may safely repeat.
            .pool_idle_timeout(Duration::from_secs(4))
            .build()?;
        let mut models = Vec::new();
        let mut backends = Vec::new();
        for (i, b) in cfg.backends.iter().enumerate() {
            models.extend(b.models.iter().map(|m| model_from(i, b, m)));
            backends.push(Backend {
                name: b.name.clone(),
                base_url: b.base_url.trim_end_matches('/').to_owned(),
                api_key: b.api_key.as_ref().map(|k| k.expose_secret().to_owned()),
                discovered: b.models.is_empty().then(|| RwLock::new(None)),
            });
        }
        Ok(Generation {
            http,
            backends,
            models,
            default_model: cfg.default_model.clone(),
            timeout: Duration::from_secs(cfg.timeout_secs),
            refresh: Duration::from_secs(cfg.models_refresh_secs),
        })
    }

    /// Every model a request may name: the configured ones, then those the backends without a
    /// model list listed last.
    pub fn models(&self) -> Vec<Model> {
        let mut all = self.models.clone();
        for b in &self.backends {
            if let Some(Some(listed)) = b.discovered.as_ref().map(read) {
                all.extend(listed);
            }
        }
        all
    }

    /// `models`, after asking every backend that has not listed its models yet (at start-up
    /// the first listing may still be on its way): what `GET /v1/models` answers.
    pub async fn listed_models(&self) -> Vec<Model> {
        self.list_unlisted().await;
        self.models()
    }

    /// Ask the backends without a model list for theirs when one has not answered yet.
    async fn list_unlisted(&self) {
        let unlisted = self.backends.iter().any(|b| {
            b.discovered
                .as_ref()
                .is_some_and(|slot| read(slot).is_none())
        });
        if unlisted {
            self.refresh_models().await;
        }
    }

    /// Whether some backend's models are asked from the backend itself.
    pub fn discovers(&self) -> bool {
        self.backends.iter().any(|b| b.discovered.is_some())
    }

    /// Ask every backend without a model list for its models; a backend that does not answer
    /// keeps the list it gave before (and is logged).
    pub async fn refresh_models(&self) {
        for (i, b) in self.backends.iter().enumerate() {
            let Some(slot) = &b.discovered else { continue };
            match self.list_models(i, b).await {
                Ok(listed) => {
                    tracing::debug!(backend = %b.name, models = listed.len(), "backend models listed");
                    *slot.write().unwrap_or_else(|e| e.into_inner()) = Some(listed);
                }
                Err(e) => {
                    tracing::warn!(backend = %b.name, error = %e, "listing the backend's models failed")
                }
            }
        }
    }

    /// Keep the backends' model lists fresh: now, then every `models_refresh_secs` (0 = only
    /// now). Runs until the task is dropped.
    pub async fn keep_models_fresh(&self) {
        if !self.discovers() {
            return;
        }
        self.refresh_models().await;
        if self.refresh.is_zero() {
            return;
        }
        let mut tick = tokio::time::interval(self.refresh);
        tick.tick().await;
        loop {
            tick.tick().await;
            self.refresh_models().await;
        }
    }

    async fn list_models(&self, i: usize, b: &Backend) -> Result<Vec<Model>, GenerationError> {
        // A request may be waiting on this list: a backend that does not answer it soon is
        // reported, not waited for as long as for an answer.
        let res = self
            .authorize(self.http.get(format!("{}/models", b.base_url)), b)
            .timeout(self.timeout.min(Duration::from_secs(10)))
            .send()
            .await
            .map_err(send_error)?;
        let status = res.status();
        let text = res.text().await.map_err(send_error)?;
        if !status.is_success() {
            return Err(upstream(status.as_u16(), &text));
        }
        let body: Value = serde_json::from_str(&text)
            .map_err(|e| GenerationError::Malformed(format!("GET /models: not JSON: {e}")))?;
        let items = body["data"]
            .as_array()
            .ok_or_else(|| GenerationError::Malformed("GET /models: no `data` list".to_owned()))?;
        Ok(items
            .iter()
            .filter_map(|m| listed_model(i, &b.name, m))
            .collect())
    }

    /// A model by name among those known now.
    fn find(&self, name: &str) -> Option<Model> {
        self.models().into_iter().find(|m| m.id == name)
    }

    /// The model a request's `model` names; `""` is the default model (the configured one,
    /// else the first model of the first backend). A backend without a model list that has not
    /// answered yet is asked now; a name no backend serves is `UnknownModel`.
    pub async fn resolve(&self, requested: &str) -> Result<Model, GenerationError> {
        self.list_unlisted().await;
        let name = match requested {
            "" => self.default_model.clone(),
            name => Some(name.to_owned()),
        };
        let found = match &name {
            Some(n) => self.find(n),
            None => self.models().into_iter().next(),
        };
        if let Some(m) = found {
            return Ok(m);
        }
        if self.backends.is_empty() {
            return Err(GenerationError::NoBackend);
        }
        let silent = self.backends.iter().find(|b| {
            b.discovered
                .as_ref()
                .is_some_and(|slot| read(slot).is_none())
        });
        if let Some(b) = silent {
            return Err(GenerationError::Unreachable(format!(
                "backend `{}` did not list its models at {}/models",
                b.name, b.base_url
            )));
        }
        let available: Vec<String> = self.models().into_iter().map(|m| m.id).collect();
        match name {
            Some(name) => Err(GenerationError::UnknownModel { name, available }),
            None => Err(GenerationError::Unreachable(
                "the generation backends list no models".to_owned(),
            )),
        }
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

/// A lock's value, even after a writer panicked (the list is replaced whole, never torn).
fn read(slot: &RwLock<Option<Vec<Model>>>) -> Option<Vec<Model>> {
    slot.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn upstream(status: u16, text: &str) -> GenerationError {
    let body = serde_json::from_str(text)
        .unwrap_or_else(|_| serde_json::json!({"error": {"message": text}}));
    GenerationError::Upstream { status, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listed_models_and_their_context() {
        let m = listed_model(1, "b", &json!({"id": "qwen", "max_model_len": 32768})).unwrap();
        assert_eq!(
            (m.id.as_str(), m.context_length, m.backend),
            ("qwen", 32768, 1)
        );
        let m = listed_model(0, "b", &json!({"id": "x", "context_length": 4096})).unwrap();
        assert_eq!(m.context_length, 4096);
        let m = listed_model(0, "b", &json!({"id": "x", "context_length": 3})).unwrap();
        assert_eq!(
            m.context_length, 8192,
            "an implausible length is not believed"
        );
        assert!(listed_model(0, "b", &json!({"object": "model"})).is_none());
        assert!(listed_model(0, "b", &json!({"id": ""})).is_none());
    }

    #[test]
    fn unknown_model_messages_name_at_most_twenty() {
        let names: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
        let e = GenerationError::UnknownModel {
            name: "x".into(),
            available: names,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("model `x` does not exist; available: m0, m1,"),
            "{text}"
        );
        assert!(text.ends_with("m19 and 5 more (GET /v1/models)"), "{text}");
        let none = GenerationError::UnknownModel {
            name: "x".into(),
            available: vec![],
        };
        assert!(none.to_string().ends_with("available: none"));
    }
}
