//! The seed's chat request as typed values: every field checked once, here, against the
//! seed's defaults and ranges, errors naming the parameter. Unknown OpenAI fields are kept
//! verbatim and passed through.

use serde_json::{Map, Value};

use crate::vector::SearchMode;
use ragway_protocol::ParamError;

/// Fields ragway reads; everything else in the body is passed through unchanged.
const OWN_FIELDS: [&str; 19] = [
    "messages",
    "model",
    "temperature",
    "top_p",
    "stream",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "n",
    "tools",
    "tool_choice",
    "user",
    "id",
    "chat_id",
    "rag_params",
    "stream_options",
];

const RAG_FIELDS: [&str; 20] = [
    "table_id",
    "k",
    "search_query",
    "reranking_model",
    "concat_reranker_input",
    "inline_citations",
    "rerank",
    "knowledge_base_ids",
    "filter",
    "search_mode",
    "score_threshold",
    "candidates",
    "diversity",
    "max_chunks_per_document",
    "neighbors",
    "query_rewrite",
    "max_context_tokens",
    "on_no_results",
    "prompt_template",
    "fusion",
];

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Value>,
    pub model: String,
    pub temperature: f64,
    pub top_p: f64,
    pub stream: bool,
    /// Explicit `max_completion_tokens` (wins) or `max_tokens`; None = the default 2048.
    pub max_tokens: Option<u32>,
    pub max_tokens_field: &'static str,
    pub stop: Option<Vec<String>>,
    pub presence_penalty: f64,
    pub frequency_penalty: f64,
    pub logit_bias: Option<Map<String, Value>>,
    pub n: u32,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Value,
    pub user: Option<String>,
    /// The chat id for logging (`id` or `chat_id`); "" = not logged.
    pub chat_id: String,
    pub rag: Option<RagParams>,
    pub stream_options: Option<Value>,
    /// Other OpenAI fields (`response_format`, `seed`, `logprobs`, …), forwarded as they came.
    pub passthrough: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OnNoResults {
    Answer,
    Refuse,
    Message(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryRewrite {
    Auto,
    Off,
}

#[derive(Debug, Clone)]
pub struct RagParams {
    pub knowledge_base_ids: Vec<String>,
    pub k: usize,
    pub search_query: String,
    pub reranking_model: Option<String>,
    pub concat_reranker_input: bool,
    pub inline_citations: bool,
    pub filter: Option<crate::vector::Filter>,
    pub search_mode: SearchMode,
    pub score_threshold: Option<f32>,
    pub candidates: Option<usize>,
    pub diversity: Option<f32>,
    pub max_chunks_per_document: Option<usize>,
    pub neighbors: usize,
    pub query_rewrite: QueryRewrite,
    pub max_context_tokens: Option<usize>,
    pub on_no_results: OnNoResults,
    pub prompt_template: Option<String>,
    /// How hybrid search fuses its legs: `rrf` (default) or `dbsf`.
    pub fusion: crate::vector::Fusion,
}

fn num(
    body: &Map<String, Value>,
    key: &str,
    default: f64,
    min: f64,
    max: f64,
    rule: &str,
) -> Result<f64, ParamError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            let x = v
                .as_f64()
                .ok_or_else(|| ParamError::new(key, format!("{key} must be a number")))?;
            if x < min || x > max {
                return Err(ParamError::new(
                    key,
                    format!("{key} must be {rule}, got {x}"),
                ));
            }
            Ok(x)
        }
    }
}

fn int(v: &Value, param: &str, min: i64, max: i64) -> Result<i64, ParamError> {
    let x = v
        .as_i64()
        .ok_or_else(|| ParamError::new(param, format!("{param} must be an integer")))?;
    if x < min || x > max {
        return Err(ParamError::new(
            param,
            format!("{param} must be in {min}..={max}, got {x}"),
        ));
    }
    Ok(x)
}

/// A token count: an integer ≥ 1 (the upper bound depends on the model, checked later).
fn positive(v: &Value, param: &str) -> Result<u32, ParamError> {
    match v.as_i64() {
        Some(x) if x >= 1 => Ok(x.min(u32::MAX as i64) as u32),
        Some(x) => Err(ParamError::new(
            param,
            format!("{param} must be at least 1, got {x}"),
        )),
        None => Err(ParamError::new(
            param,
            format!("{param} must be an integer"),
        )),
    }
}

fn string(v: &Value, param: &str) -> Result<String, ParamError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| ParamError::new(param, format!("{param} must be a string")))
}

fn boolean(v: &Value, param: &str) -> Result<bool, ParamError> {
    v.as_bool()
        .ok_or_else(|| ParamError::new(param, format!("{param} must be a boolean")))
}

fn present<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

impl ChatRequest {
    /// Parse and check a request body.
    pub fn parse(body: Value) -> Result<ChatRequest, ParamError> {
        let Value::Object(body) = body else {
            return Err(ParamError::new(
                "body",
                "the request body must be a JSON object",
            ));
        };
        let messages = parse_messages(body.get("messages"))?;
        let model = present(&body, "model")
            .map(|v| string(v, "model"))
            .transpose()?
            .unwrap_or_default();
        let temperature = num(&body, "temperature", 0.2, 0.001, 2.0, "in [0.001, 2]")?;
        let top_p = num(&body, "top_p", 0.6, 0.001, 1.0, "in [0.001, 1]")?;
        let stream = present(&body, "stream")
            .map(|v| boolean(v, "stream"))
            .transpose()?
            .unwrap_or(false);
        let (max_tokens, max_tokens_field) = match (
            present(&body, "max_completion_tokens"),
            present(&body, "max_tokens"),
        ) {
            (Some(v), _) => (
                Some(positive(v, "max_completion_tokens")?),
                "max_completion_tokens",
            ),
            (None, Some(v)) => (Some(positive(v, "max_tokens")?), "max_tokens"),
            (None, None) => (None, "max_tokens"),
        };
        let stop = match present(&body, "stop") {
            None => None,
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(items)) if !items.is_empty() => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| string(v, &format!("stop[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => {
                return Err(ParamError::new(
                    "stop",
                    "stop must be a string or a list of at least 1 string",
                ))
            }
        };
        let presence_penalty = num(&body, "presence_penalty", 0.0, -2.0, 2.0, "in [-2, 2]")?;
        let frequency_penalty = num(&body, "frequency_penalty", 0.0, -2.0, 2.0, "in [-2, 2]")?;
        let logit_bias = match present(&body, "logit_bias") {
            None => None,
            Some(Value::Object(m)) => {
                for (token, bias) in m {
                    let param = format!("logit_bias.{token}");
                    token.parse::<u32>().map_err(|_| {
                        ParamError::new(&param, "logit_bias keys must be token ids (integers)")
                    })?;
                    let b = bias
                        .as_f64()
                        .ok_or_else(|| ParamError::new(&param, "a bias must be a number"))?;
                    if !(-100.0..=100.0).contains(&b) {
                        return Err(ParamError::new(
                            &param,
                            format!("a bias must be in [-100, 100], got {b}"),
                        ));
                    }
                }
                Some(m.clone())
            }
            Some(_) => {
                return Err(ParamError::new(
                    "logit_bias",
                    "logit_bias must be an object mapping token ids to biases",
                ))
            }
        };
        let n = present(&body, "n")
            .map(|v| int(v, "n", 1, 128))
            .transpose()?
            .unwrap_or(1) as u32;
        let tools = match present(&body, "tools") {
            None => None,
            Some(Value::Array(t)) if !t.is_empty() => Some(t.clone()),
            Some(_) => {
                return Err(ParamError::new(
                    "tools",
                    "tools must be a list of at least 1 tool",
                ))
            }
        };
        let tool_choice = parse_tool_choice(present(&body, "tool_choice"), tools.is_some())?;
        let user = present(&body, "user")
            .map(|v| string(v, "user"))
            .transpose()?;
        let chat_id = match (present(&body, "id"), present(&body, "chat_id")) {
            (Some(a), Some(b)) if a != b => {
                return Err(ParamError::new(
                    "chat_id",
                    "id and chat_id differ; send one",
                ))
            }
            (Some(v), _) => string(v, "id")?,
            (None, Some(v)) => string(v, "chat_id")?,
            (None, None) => String::new(),
        };
        if chat_id.len() > 256 {
            return Err(ParamError::new("id", "id must be at most 256 characters"));
        }
        let rag = present(&body, "rag_params")
            .map(RagParams::parse)
            .transpose()?;
        let stream_options = present(&body, "stream_options").cloned();
        let passthrough = body
            .into_iter()
            .filter(|(k, _)| !OWN_FIELDS.contains(&k.as_str()))
            .collect();
        Ok(ChatRequest {
            messages,
            model,
            temperature,
            top_p,
            stream,
            max_tokens,
            max_tokens_field,
            stop,
            presence_penalty,
            frequency_penalty,
            logit_bias,
            n,
            tools,
            tool_choice,
            user,
            chat_id,
            rag,
            stream_options,
            passthrough,
        })
    }

    /// `max_tokens` checked against the model: in [1, context_length − 1); default 2048 (or
    /// less for a model whose context is smaller).
    pub fn max_tokens_for(&self, context_length: u32) -> Result<u32, ParamError> {
        let limit = context_length.saturating_sub(1);
        match self.max_tokens {
            Some(m) if m >= limit => Err(ParamError::new(
                self.max_tokens_field,
                format!("{} must be in [1, {}) for this model (context length {context_length}), got {m}", self.max_tokens_field, limit),
            )),
            Some(m) => Ok(m),
            None => Ok(2048.min(limit.saturating_sub(1)).max(1)),
        }
    }
}

fn parse_messages(v: Option<&Value>) -> Result<Vec<Value>, ParamError> {
    let items = match v {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(ParamError::new(
                "messages",
                "messages must contain at least 1 message",
            ))
        }
        None | Some(Value::Null) => {
            return Err(ParamError::new("messages", "messages is required"))
        }
        Some(_) => return Err(ParamError::new("messages", "messages must be a list")),
    };
    for (i, m) in items.iter().enumerate() {
        let obj = m.as_object().ok_or_else(|| {
            ParamError::new(format!("messages[{i}]"), "a message must be an object")
        })?;
        let role = obj.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "system" | "user" | "assistant" | "tool" | "developer") {
            return Err(ParamError::new(
                format!("messages[{i}].role"),
                format!("role must be system, user, assistant or tool, got `{role}`"),
            ));
        }
        match obj.get("content") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            None | Some(Value::Null) if role == "assistant" => {}
            _ => {
                return Err(ParamError::new(
                    format!("messages[{i}].content"),
                    "content must be a string or a list of content parts",
                ))
            }
        }
        if role == "tool" && !obj.get("tool_call_id").is_some_and(Value::is_string) {
            return Err(ParamError::new(
                format!("messages[{i}].tool_call_id"),
                "a tool message needs tool_call_id",
            ));
        }
    }
    Ok(items.clone())
}

fn parse_tool_choice(v: Option<&Value>, has_tools: bool) -> Result<Value, ParamError> {
    let choice = match v {
        None => Value::String(if has_tools { "auto" } else { "none" }.into()),
        Some(Value::String(s)) if matches!(s.as_str(), "none" | "auto" | "required") => Value::String(s.clone()),
        Some(obj @ Value::Object(o))
            if o.get("type").and_then(Value::as_str) == Some("function")
                && o.get("function").and_then(|f| f.get("name")).is_some_and(Value::is_string) =>
        {
            obj.clone()
        }
        Some(_) => {
            return Err(ParamError::new("tool_choice", "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}"))
        }
    };
    if !has_tools && choice != "none" {
        return Err(ParamError::new("tool_choice", "tool_choice needs tools"));
    }
    Ok(choice)
}

/// The text of the last user message (content parts joined).
pub fn last_user_text(messages: &[Value]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
}

/// A message's text: the string, or its text parts joined.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

impl RagParams {
    pub fn parse(v: &Value) -> Result<RagParams, ParamError> {
        let obj = v
            .as_object()
            .ok_or_else(|| ParamError::new("rag_params", "rag_params must be an object or null"))?;
        if let Some(k) = obj.keys().find(|k| !RAG_FIELDS.contains(&k.as_str())) {
            return Err(ParamError::new(
                format!("rag_params.{k}"),
                format!("unknown rag_params field `{k}`"),
            ));
        }
        let p = |k: &str| format!("rag_params.{k}");
        let get = |k: &str| present(obj, k);
        let mut kbs = Vec::new();
        if let Some(t) = get("table_id") {
            let t = string(t, &p("table_id"))?;
            if !t.is_empty() {
                kbs.push(t);
            }
        }
        if let Some(ids) = get("knowledge_base_ids") {
            let arr = ids
                .as_array()
                .filter(|a| (1..=16).contains(&a.len()))
                .ok_or_else(|| {
                    ParamError::new(
                        p("knowledge_base_ids"),
                        "knowledge_base_ids must be a list of 1 to 16 ids",
                    )
                })?;
            for (i, id) in arr.iter().enumerate() {
                let id = string(id, &format!("rag_params.knowledge_base_ids[{i}]"))?;
                if !kbs.contains(&id) {
                    kbs.push(id);
                }
            }
        }
        if kbs.is_empty() {
            return Err(ParamError::new(
                p("table_id"),
                "rag_params needs table_id (or knowledge_base_ids) naming a knowledge base",
            ));
        }
        if kbs.len() > 16 {
            return Err(ParamError::new(
                p("knowledge_base_ids"),
                "at most 16 knowledge bases at once",
            ));
        }
        let k = get("k")
            .map(|v| int(v, &p("k"), 1, 1024))
            .transpose()?
            .unwrap_or(3) as usize;
        let opt_usize = |k: &str, min: i64, max: i64| {
            get(k)
                .map(|v| int(v, &p(k), min, max).map(|x| x as usize))
                .transpose()
        };
        let opt_f32 = |k: &str, min: f64, max: f64| -> Result<Option<f32>, ParamError> {
            get(k)
                .map(|v| {
                    let x = v
                        .as_f64()
                        .ok_or_else(|| ParamError::new(p(k), format!("{k} must be a number")))?;
                    if !(min..=max).contains(&x) {
                        return Err(ParamError::new(
                            p(k),
                            format!("{k} must be in [{min}, {max}], got {x}"),
                        ));
                    }
                    Ok(x as f32)
                })
                .transpose()
        };
        let search_mode = match get("search_mode") {
            None => SearchMode::Hybrid,
            Some(v) => string(v, &p("search_mode"))?.parse().map_err(
                |e: crate::vector::UnknownSearchMode| {
                    ParamError::new(p("search_mode"), e.to_string())
                },
            )?,
        };
        let query_rewrite = match get("query_rewrite")
            .map(|v| string(v, &p("query_rewrite")))
            .transpose()?
            .as_deref()
        {
            None | Some("auto") => QueryRewrite::Auto,
            Some("off") => QueryRewrite::Off,
            Some(other) => {
                return Err(ParamError::new(
                    p("query_rewrite"),
                    format!("query_rewrite must be auto or off, got `{other}`"),
                ))
            }
        };
        let on_no_results = match get("on_no_results") {
            None => OnNoResults::Answer,
            Some(Value::String(s)) if s == "answer" => OnNoResults::Answer,
            Some(Value::String(s)) if s == "refuse" => OnNoResults::Refuse,
            Some(Value::Object(o))
                if o.len() == 1 && o.get("message").is_some_and(Value::is_string) =>
            {
                OnNoResults::Message(o["message"].as_str().unwrap_or_default().to_owned())
            }
            Some(_) => {
                return Err(ParamError::new(
                    p("on_no_results"),
                    "on_no_results must be \"answer\", \"refuse\" or {\"message\": \"…\"}",
                ))
            }
        };
        let prompt_template = get("prompt_template")
            .map(|v| string(v, &p("prompt_template")))
            .transpose()?;
        if let Some(t) = &prompt_template {
            if !t.contains("{{context}}") {
                return Err(ParamError::new(
                    p("prompt_template"),
                    "prompt_template must contain {{context}}",
                ));
            }
        }
        let fusion = match get("fusion") {
            Some(f) => crate::retrieval::parse_fusion(&string(f, &p("fusion"))?, &p("fusion"))?,
            None => crate::retrieval::SearchParams::default().fusion,
        };
        Ok(RagParams {
            knowledge_base_ids: kbs,
            k,
            search_query: get("search_query")
                .map(|v| string(v, &p("search_query")))
                .transpose()?
                .unwrap_or_default(),
            reranking_model: get("reranking_model")
                .map(|v| string(v, &p("reranking_model")))
                .transpose()?
                .filter(|s| !s.is_empty()),
            concat_reranker_input: get("concat_reranker_input")
                .map(|v| boolean(v, &p("concat_reranker_input")))
                .transpose()?
                .unwrap_or(false),
            inline_citations: get("inline_citations")
                .map(|v| boolean(v, &p("inline_citations")))
                .transpose()?
                .unwrap_or(true),
            filter: get("filter")
                .map(|f| crate::retrieval::user_filter::parse(f, &p("filter")))
                .transpose()?,
            search_mode,
            score_threshold: opt_f32("score_threshold", -1e9, 1e9)?,
            candidates: opt_usize("candidates", 1, 10_000)?,
            diversity: opt_f32("diversity", 0.0, 1.0)?,
            max_chunks_per_document: opt_usize("max_chunks_per_document", 1, 1024)?,
            neighbors: opt_usize("neighbors", 0, 5)?.unwrap_or(0),
            query_rewrite,
            max_context_tokens: opt_usize("max_context_tokens", 1, 10_000_000)?,
            on_no_results,
            prompt_template,
            fusion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param_of(body: Value) -> String {
        match ChatRequest::parse(body) {
            Err(ParamError { param: p, .. }) => p,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_seed() {
        let r = ChatRequest::parse(json!({"messages": [{"role": "user", "content": "hi"}], "seed": 7, "response_format": {"type": "text"}})).unwrap();
        assert_eq!(
            (r.model.as_str(), r.temperature, r.top_p, r.stream, r.n),
            ("", 0.2, 0.6, false, 1)
        );
        assert_eq!((r.presence_penalty, r.frequency_penalty), (0.0, 0.0));
        assert_eq!(r.tool_choice, json!("none"));
        assert_eq!(r.max_tokens_for(8192).unwrap(), 2048);
        assert_eq!(r.max_tokens_for(1024).unwrap(), 1022);
        let mut passed: Vec<&String> = r.passthrough.keys().collect();
        passed.sort();
        assert_eq!(passed, vec!["response_format", "seed"]);
        assert!(r.rag.is_none());
        let r = ChatRequest::parse(json!({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}], "chat_id": "c1", "stop": "END"})).unwrap();
        assert_eq!(r.tool_choice, json!("auto"));
        assert_eq!(r.chat_id, "c1");
        assert_eq!(r.stop, Some(vec!["END".to_owned()]));
    }

    #[test]
    fn ranges_name_the_parameter() {
        let m = json!([{"role": "user", "content": "hi"}]);
        assert_eq!(param_of(json!({})), "messages");
        assert_eq!(param_of(json!({"messages": []})), "messages");
        assert_eq!(
            param_of(json!({"messages": [{"role": "robot", "content": "x"}]})),
            "messages[0].role"
        );
        assert_eq!(
            param_of(json!({"messages": m, "temperature": 0})),
            "temperature"
        );
        assert_eq!(param_of(json!({"messages": m, "top_p": 0.0})), "top_p");
        assert_eq!(
            param_of(json!({"messages": m, "presence_penalty": 2.5})),
            "presence_penalty"
        );
        assert_eq!(
            param_of(json!({"messages": m, "frequency_penalty": -3})),
            "frequency_penalty"
        );
        assert_eq!(
            param_of(json!({"messages": m, "max_tokens": 0})),
            "max_tokens"
        );
        assert_eq!(param_of(json!({"messages": m, "stop": []})), "stop");
        assert_eq!(param_of(json!({"messages": m, "n": 0})), "n");
        assert_eq!(param_of(json!({"messages": m, "tools": []})), "tools");
        assert_eq!(
            param_of(json!({"messages": m, "tool_choice": "required"})),
            "tool_choice"
        );
        assert_eq!(
            param_of(json!({"messages": m, "logit_bias": {"50256": 101}})),
            "logit_bias.50256"
        );
        assert_eq!(
            param_of(json!({"messages": m, "logit_bias": {"abc": 1}})),
            "logit_bias.abc"
        );
        assert_eq!(
            param_of(json!({"messages": m, "rag_params": {"table_id": "t", "k": 0}})),
            "rag_params.k"
        );
        assert_eq!(
            param_of(json!({"messages": m, "rag_params": {"table_id": "t", "k": 1025}})),
            "rag_params.k"
        );
        assert_eq!(
            param_of(json!({"messages": m, "rag_params": {"table_id": "t", "bogus": 1}})),
            "rag_params.bogus"
        );
        assert_eq!(
            param_of(json!({"messages": m, "rag_params": {}})),
            "rag_params.table_id"
        );
        assert_eq!(
            param_of(json!({"messages": m, "rag_params": {"table_id": "t", "neighbors": 6}})),
            "rag_params.neighbors"
        );
        assert_eq!(
            param_of(json!({"messages": m, "rag_params": {"table_id": "t", "diversity": 1.5}})),
            "rag_params.diversity"
        );
        assert_eq!(
            param_of(
                json!({"messages": m, "rag_params": {"table_id": "t", "prompt_template": "no slot"}})
            ),
            "rag_params.prompt_template"
        );
        assert_eq!(
            param_of(
                json!({"messages": m, "rag_params": {"table_id": "t", "query_rewrite": "sometimes"}})
            ),
            "rag_params.query_rewrite"
        );
        let r = ChatRequest::parse(
            json!({"messages": m, "max_tokens": 10, "max_completion_tokens": 20}),
        )
        .unwrap();
        assert_eq!(
            (r.max_tokens, r.max_tokens_field),
            (Some(20), "max_completion_tokens")
        );
        assert!(r.max_tokens_for(21).is_err() && r.max_tokens_for(22).is_ok());
    }

    #[test]
    fn rag_params_defaults_and_deprecated_rerank() {
        let r = RagParams::parse(&json!({"table_id": "kb", "rerank": true})).unwrap();
        assert_eq!(r.fusion, crate::vector::Fusion::Dbsf);
        let d = RagParams::parse(&json!({"table_id": "kb", "fusion": "rrf"})).unwrap();
        assert_eq!(d.fusion, crate::vector::Fusion::RRF);
        let w =
            RagParams::parse(&json!({"table_id": "kb", "fusion": "rrf(k=60, dense_weight=0.7)"}))
                .unwrap();
        assert_eq!(
            w.fusion,
            crate::vector::Fusion::Rrf {
                k: 60,
                dense_weight: 0.7
            }
        );
        for bad in [
            "rrf(k=0)",
            "rrf(dense_weight=2)",
            "rrf(q=1)",
            "rrf(k)",
            "rrf(k=5",
        ] {
            let e = RagParams::parse(&json!({"table_id": "kb", "fusion": bad})).unwrap_err();
            assert!(e.to_string().contains("rrf(k="), "{bad}: {e}");
        }
        assert!(RagParams::parse(&json!({"table_id": "kb", "fusion": "max"})).is_err());
        assert_eq!(r.knowledge_base_ids, vec!["kb"]);
        assert_eq!(
            (
                r.k,
                r.inline_citations,
                r.concat_reranker_input,
                r.neighbors
            ),
            (3, true, false, 0)
        );
        assert_eq!(
            (r.search_mode, r.query_rewrite, r.on_no_results),
            (SearchMode::Hybrid, QueryRewrite::Auto, OnNoResults::Answer)
        );
        let r = RagParams::parse(&json!({"table_id": "a", "knowledge_base_ids": ["b", "a"], "on_no_results": {"message": "Nothing."}})).unwrap();
        assert_eq!(r.knowledge_base_ids, vec!["a", "b"]);
        assert_eq!(r.on_no_results, OnNoResults::Message("Nothing.".into()));
    }
}
