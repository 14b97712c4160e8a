//! The body a generation backend gets, normalised so that every backend takes it whatever the
//! client sent: the seed's defaults made explicit; null-valued optional fields dropped from the
//! body, the messages and the tool definitions (llama.cpp answers 500 to `"name": null`, and
//! `jamaibase` sends every field, nulls included); JamAI's reasoning fields mapped to OpenAI's
//! `reasoning_effort` for reasoning models and dropped for the others; the model's unsupported
//! parameters dropped; other OpenAI fields passed through.

use serde_json::{json, Map, Value};

use crate::generation::Model;
use ragway_protocol::chat::ChatRequest;

/// The backend's body for `r` with the conversation `messages` (sources already injected).
pub fn body(r: &ChatRequest, model: &Model, messages: Vec<Value>, max_tokens: u32) -> Value {
    let mut b: Map<String, Value> = r.passthrough.clone();
    b.retain(|_, v| !v.is_null());
    b.insert("model".into(), json!(model.upstream_id));
    b.insert(
        "messages".into(),
        Value::Array(messages.into_iter().map(message).collect()),
    );
    b.insert("temperature".into(), json!(r.temperature));
    b.insert("top_p".into(), json!(r.top_p));
    b.insert(r.max_tokens_field.into(), json!(max_tokens));
    b.insert("stream".into(), json!(r.stream));
    if let Some(s) = &r.stop {
        b.insert("stop".into(), json!(s));
    }
    if r.presence_penalty != 0.0 {
        b.insert("presence_penalty".into(), json!(r.presence_penalty));
    }
    if r.frequency_penalty != 0.0 {
        b.insert("frequency_penalty".into(), json!(r.frequency_penalty));
    }
    // `{}` is what absent means (and what `jamaibase` always sends).
    if let Some(lb) = r.logit_bias.as_ref().filter(|lb| !lb.is_empty()) {
        b.insert("logit_bias".into(), Value::Object(lb.clone()));
    }
    if r.n != 1 {
        b.insert("n".into(), json!(r.n));
    }
    if let Some(t) = &r.tools {
        b.insert("tools".into(), t.iter().cloned().map(tool).collect());
        b.insert("tool_choice".into(), r.tool_choice.clone());
    }
    // `""` is `jamaibase`'s "no end-user id".
    if let Some(u) = r.user.as_ref().filter(|u| !u.is_empty()) {
        b.insert("user".into(), json!(u));
    }
    if r.stream {
        if let Some(o) = &r.stream_options {
            b.insert("stream_options".into(), o.clone());
        }
    }
    if model.reasoning {
        if let Some(effort) = r.backend_reasoning_effort() {
            b.insert("reasoning_effort".into(), json!(effort.as_str()));
        }
    }
    for p in &model.dropped {
        b.remove(p);
    }
    Value::Object(b)
}

/// A message without its null-valued fields, but for `content`: an assistant message that
/// only calls tools has `"content": null` in OpenAI's own API.
fn message(mut m: Value) -> Value {
    if let Some(o) = m.as_object_mut() {
        o.retain(|k, v| !v.is_null() || k == "content");
    }
    m
}

/// A tool definition without null-valued fields at the tool's and its function's level
/// (`jamaibase` sends `"description": null`); the JSON Schema under `parameters` is left as
/// sent, where `null` can mean something.
fn tool(mut t: Value) -> Value {
    if let Some(o) = t.as_object_mut() {
        o.retain(|_, v| !v.is_null());
        if let Some(f) = o.get_mut("function").and_then(Value::as_object_mut) {
            f.retain(|_, v| !v.is_null());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(reasoning: bool) -> Model {
        Model {
            id: "m".into(),
            upstream_id: "up".into(),
            context_length: 8192,
            dropped: if reasoning {
                crate::generation::REASONING_DROPPED
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                vec![]
            },
            reasoning,
            backend: 0,
            owned_by: "b".into(),
        }
    }

    fn forward(body: Value, reasoning: bool) -> Value {
        let r = ChatRequest::parse(body).unwrap();
        let messages = r.messages.iter().map(|m| m.to_value()).collect();
        super::body(&r, &model(reasoning), messages, 32)
    }

    #[test]
    fn nulls_and_jamai_defaults_do_not_reach_the_backend() {
        let sent = json!({
            "model": "", "messages": [
                {"role": "user", "content": "hi", "name": null},
                {"role": "assistant", "content": null, "name": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "content": "sunny", "tool_call_id": "c", "name": null}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": null, "strict": false,
                "parameters": {"type": "object", "properties": {"x": {"type": ["string", "null"], "default": null}}}}}],
            "tool_choice": null, "stop": null, "logit_bias": {}, "user": "", "seed": null,
            "response_format": {"type": "text"}, "reasoning_effort": "low", "thinking_budget": null,
            "reasoning_summary": "auto", "max_completion_tokens": null, "id": ""
        });
        let b = forward(sent, false);
        let text = b.to_string();
        assert!(!text.contains("\"name\":null"), "{b}");
        assert_eq!(b["messages"][1]["content"], Value::Null);
        assert!(b["messages"][1].get("content").is_some(), "{b}");
        assert_eq!(b["messages"][2]["tool_call_id"], "c");
        assert!(
            b["tools"][0]["function"].get("description").is_none(),
            "{b}"
        );
        assert_eq!(
            b["tools"][0]["function"]["parameters"]["properties"]["x"]["default"],
            Value::Null,
            "the schema is left as sent"
        );
        assert!(b["tools"][0]["function"]["parameters"]["properties"]["x"]
            .get("default")
            .is_some());
        for absent in [
            "seed",
            "logit_bias",
            "user",
            "stop",
            "reasoning_effort",
            "thinking_budget",
            "reasoning_summary",
            "max_completion_tokens",
            "id",
            "rag_params",
        ] {
            assert!(b.get(absent).is_none(), "{absent} forwarded: {b}");
        }
        assert_eq!(b["response_format"], json!({"type": "text"}));
        assert_eq!((&b["model"], &b["max_tokens"]), (&json!("up"), &json!(32)));
    }

    #[test]
    fn reasoning_fields_go_to_reasoning_models_only() {
        let m = json!([{"role": "user", "content": "hi"}]);
        let sent = json!({"messages": m, "thinking_budget": 2000, "reasoning_summary": "detailed", "temperature": 0.5});
        let b = forward(sent.clone(), true);
        assert_eq!(b["reasoning_effort"], "medium");
        assert!(b.get("reasoning_summary").is_none() && b.get("thinking_budget").is_none());
        assert!(
            b.get("temperature").is_none(),
            "reasoning models drop sampling: {b}"
        );
        let b = forward(sent, false);
        assert!(b.get("reasoning_effort").is_none(), "{b}");
        assert_eq!(b["temperature"], 0.5);
        let b = forward(json!({"messages": m, "reasoning_effort": "disable"}), true);
        assert_eq!(b["reasoning_effort"], "none");
    }
}
