//! Chat completions: the seed's request (`POST /v1/chat/completions`) as typed values, every
//! field checked here against the seed's defaults and ranges, errors naming the parameter;
//! unknown OpenAI fields are kept verbatim (`passthrough`) and forwarded. Also the chat log
//! view (`GET /v1/chats/{id}`).

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::filter::Filter;
use crate::params::{
    default, fail, from_value, nullable, optional, or_default, true_unless_false, yes, Candidates,
    Diversity, MaxChunksPerDocument, MaxContextTokens, MaxTokens, Neighbors, Param, Penalty,
    ScoreThreshold, Temperature, ThinkingBudget, TopP, K, N,
};
use crate::search::{bounded_query, Fusion, SearchMode};
use crate::words::word_enum;
use crate::ParamError;

/// Most messages in one request.
pub const MAX_MESSAGES: usize = 4096;
/// Most bytes of message text in one request, all messages together (about a million tokens:
/// more than any model's context, and what bounds the tokenising a request can ask for).
pub const MAX_MESSAGE_TEXT_BYTES: usize = 4 << 20;
/// Longest `prompt_template`, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 << 10;
/// Most `{{context}}` placeholders in a `prompt_template` (each is replaced by every source).
pub const MAX_TEMPLATE_CONTEXTS: usize = 4;

/// `POST /v1/chat/completions`: OpenAI's chat request plus `rag_params`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// The conversation, at least one message.
    #[serde(default, deserialize_with = "messages")]
    pub messages: Vec<Message>,
    /// A configured model; `""` (or absent) is the default model.
    #[serde(default, deserialize_with = "nullable")]
    pub model: String,
    #[serde(
        default = "default::<Temperature>",
        deserialize_with = "or_default::<_, Temperature>"
    )]
    pub temperature: f64,
    #[serde(
        default = "default::<TopP>",
        deserialize_with = "or_default::<_, TopP>"
    )]
    pub top_p: f64,
    /// Answer as server-sent events.
    #[serde(default, deserialize_with = "nullable")]
    pub stream: bool,
    /// Explicit `max_completion_tokens` (wins) or `max_tokens`; None = the default 2048.
    #[serde(default, deserialize_with = "optional::<_, MaxTokens>")]
    pub max_tokens: Option<u32>,
    #[serde(default, deserialize_with = "optional::<_, MaxTokens>")]
    max_completion_tokens: Option<u32>,
    /// Which of the two the request used (the backend gets the same one).
    #[serde(skip, default = "max_tokens_name")]
    pub max_tokens_field: &'static str,
    /// Stop sequences: a string or a list of at least one.
    #[serde(default, deserialize_with = "stop")]
    pub stop: Option<Vec<String>>,
    #[serde(
        default = "default::<Penalty>",
        deserialize_with = "or_default::<_, Penalty>"
    )]
    pub presence_penalty: f64,
    #[serde(
        default = "default::<Penalty>",
        deserialize_with = "or_default::<_, Penalty>"
    )]
    pub frequency_penalty: f64,
    /// Token id → bias in [-100, 100], forwarded as sent.
    #[serde(default, deserialize_with = "logit_bias")]
    pub logit_bias: Option<Map<String, Value>>,
    #[serde(default = "default::<N>", deserialize_with = "or_default::<_, N>")]
    pub n: u32,
    /// Tool definitions, forwarded as sent: a list of at least one.
    #[serde(default, deserialize_with = "tools")]
    pub tools: Option<Vec<Value>>,
    /// `none`, `auto`, `required` or `{"type": "function", "function": {"name": …}}`; `auto`
    /// with tools, `none` without.
    #[serde(default)]
    pub tool_choice: Value,
    #[serde(default)]
    pub user: Option<String>,
    /// The chat id for logging (`id` or `chat_id`); "" = not logged.
    #[serde(skip)]
    pub chat_id: String,
    #[serde(default, rename = "id")]
    sent_id: Option<String>,
    #[serde(default, rename = "chat_id")]
    sent_chat_id: Option<String>,
    /// Retrieval: which knowledge bases, how to search, how to cite.
    #[serde(default, rename = "rag_params", deserialize_with = "rag_params")]
    pub rag: Option<RagParams>,
    #[serde(default)]
    pub stream_options: Option<Value>,
    /// How much a reasoning model thinks; forwarded to reasoning models only.
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// JamAI's reasoning budget in tokens; for reasoning models it becomes a
    /// `reasoning_effort` when none was sent (see [`ChatRequest::backend_reasoning_effort`]).
    #[serde(default, deserialize_with = "optional::<_, ThinkingBudget>")]
    pub thinking_budget: Option<u32>,
    /// JamAI's reasoning summary: checked, never forwarded (chat completions have no such
    /// field; OpenAI's Responses API does).
    #[serde(default)]
    pub reasoning_summary: Option<ReasoningSummary>,
    /// Other OpenAI fields (`response_format`, `seed`, `logprobs`, …), forwarded as they came.
    #[serde(flatten)]
    pub passthrough: Map<String, Value>,
}

fn max_tokens_name() -> &'static str {
    "max_tokens"
}

word_enum! {
    /// Who wrote a message.
    pub enum MessageRole("role") {
        System = "system",
        User = "user",
        Assistant = "assistant",
        Tool = "tool",
        Developer = "developer",
    }
}

word_enum! {
    /// `reasoning_effort`: OpenAI's words, plus JamAI's `disable`.
    pub enum ReasoningEffort("reasoning_effort") {
        Disable = "disable",
        None = "none",
        Minimal = "minimal",
        Low = "low",
        Medium = "medium",
        High = "high",
    }
}

word_enum! {
    /// JamAI's `reasoning_summary`.
    pub enum ReasoningSummary("reasoning_summary") {
        Auto = "auto",
        Concise = "concise",
        Detailed = "detailed",
    }
}

/// A message's content as sent: absent and `null` are told apart, so it is forwarded as it
/// came.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Content {
    #[default]
    Absent,
    Null,
    Text(String),
    /// Content parts (`{"type": "text", "text": …}`, images, …).
    Parts(Vec<Value>),
}

/// One message of the conversation; fields other than these (`name`, `tool_calls`, …) are
/// kept in `rest` and forwarded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct Message {
    pub role: MessageRole,
    #[serde(default, skip_serializing_if = "Content::is_absent")]
    pub content: Content,
    /// The tool call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `rag_params.on_no_results`: what to do when nothing relevant was retrieved.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OnNoResults {
    /// Tell the model nothing was found; it may still answer.
    #[default]
    Answer,
    /// Tell the model to say it could not find this, and not to answer.
    Refuse,
    /// Answer with this text, without calling the model.
    Message(String),
}

/// `rag_params.query_rewrite`: whether a multi-turn conversation's last message is rewritten
/// into a standalone search query by the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryRewrite {
    #[default]
    Auto,
    Off,
}

/// `rag_params`: retrieval for one chat completion.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object or null")]
pub struct RagParams {
    /// The knowledge bases searched: `table_id`, then `knowledge_base_ids`, without repeats.
    #[serde(skip)]
    pub knowledge_base_ids: Vec<String>,
    /// The seed's name for one knowledge base.
    #[serde(default, deserialize_with = "nullable")]
    table_id: String,
    /// 1 to 16 knowledge bases.
    #[serde(default, rename = "knowledge_base_ids", deserialize_with = "kb_ids")]
    sent_kb_ids: Vec<String>,
    /// Chunks given to the model, 1..=1024; 3 when absent.
    #[serde(default = "three", deserialize_with = "k_or_three")]
    pub k: usize,
    /// The search query; "" = the last user message (or its rewrite).
    #[serde(default, deserialize_with = "bounded_query")]
    pub search_query: String,
    /// A configured reranker applied to the candidates.
    #[serde(default, deserialize_with = "non_empty")]
    pub reranking_model: Option<String>,
    /// Rerank on title + text instead of text alone.
    #[serde(default, deserialize_with = "nullable")]
    pub concat_reranker_input: bool,
    /// Ask the model for `[@n]` markers (checked into `citations`).
    #[serde(default = "yes", deserialize_with = "true_unless_false")]
    pub inline_citations: bool,
    /// Deprecated by the seed; accepted and ignored.
    #[serde(default)]
    rerank: Option<IgnoredAny>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default, deserialize_with = "nullable")]
    pub search_mode: SearchMode,
    #[serde(default, deserialize_with = "optional::<_, ScoreThreshold>")]
    pub score_threshold: Option<f32>,
    #[serde(default, deserialize_with = "optional::<_, Candidates>")]
    pub candidates: Option<usize>,
    /// MMR diversity in [0, 1] applied to the candidates.
    #[serde(default, deserialize_with = "optional::<_, Diversity>")]
    pub diversity: Option<f32>,
    #[serde(default, deserialize_with = "optional::<_, MaxChunksPerDocument>")]
    pub max_chunks_per_document: Option<usize>,
    /// Neighbouring chunks merged into each hit on each side, 0..=5.
    #[serde(
        default = "default::<Neighbors>",
        deserialize_with = "or_default::<_, Neighbors>"
    )]
    pub neighbors: usize,
    #[serde(default, deserialize_with = "nullable")]
    pub query_rewrite: QueryRewrite,
    /// A cap on the tokens of injected sources (the model's context caps it anyway).
    #[serde(default, deserialize_with = "optional::<_, MaxContextTokens>")]
    pub max_context_tokens: Option<usize>,
    #[serde(default, deserialize_with = "nullable")]
    pub on_no_results: OnNoResults,
    /// Replaces ragway's system text; must contain `{{context}}`, where the sources go.
    #[serde(default, deserialize_with = "prompt_template")]
    pub prompt_template: Option<String>,
    /// How hybrid search fuses its legs: `dbsf` (default) or `rrf`.
    #[serde(default, deserialize_with = "nullable")]
    pub fusion: Fusion,
}

impl ChatRequest {
    /// Parse and check a request body.
    pub fn parse(body: Value) -> Result<ChatRequest, ParamError> {
        if !body.is_object() {
            return Err(ParamError::new(
                "body",
                "the request body must be a JSON object",
            ));
        }
        let mut request: ChatRequest = from_value(body, "")?;
        request.resolve()?;
        Ok(request)
    }

    /// The rules across fields, and the values that follow from several.
    fn resolve(&mut self) -> Result<(), ParamError> {
        if self.messages.is_empty() {
            return Err(ParamError::new("messages", "messages is required"));
        }
        let mut text_bytes = 0;
        for (i, m) in self.messages.iter().enumerate() {
            m.check(i)?;
            text_bytes += m.content.text().len();
        }
        if text_bytes > MAX_MESSAGE_TEXT_BYTES {
            return Err(ParamError::new(
                "messages",
                format!(
                    "the messages hold {text_bytes} bytes of text; at most \
                     {MAX_MESSAGE_TEXT_BYTES} are accepted"
                ),
            ));
        }
        if let Some(m) = self.max_completion_tokens {
            self.max_tokens = Some(m);
            self.max_tokens_field = "max_completion_tokens";
        }
        self.tool_choice = tool_choice(&self.tool_choice, self.tools.is_some())?;
        self.chat_id = match (self.sent_id.take(), self.sent_chat_id.take()) {
            (Some(a), Some(b)) if a != b => {
                return Err(ParamError::new(
                    "chat_id",
                    "id and chat_id differ; send one",
                ))
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => String::new(),
        };
        if self.chat_id.chars().count() > 256 {
            return Err(ParamError::new("id", "id must be at most 256 characters"));
        }
        if let Some(rag) = &mut self.rag {
            rag.resolve()?;
        }
        Ok(())
    }

    /// The `reasoning_effort` a reasoning model's backend gets: the one sent (JamAI's
    /// `disable` as OpenAI's `none`), else JamAI's bands of `thinking_budget` (0 → `none`,
    /// up to 1024 → `low`, up to 4096 → `medium`, more → `high`); None when neither was sent.
    pub fn backend_reasoning_effort(&self) -> Option<ReasoningEffort> {
        match (self.reasoning_effort, self.thinking_budget) {
            (Some(ReasoningEffort::Disable), _) => Some(ReasoningEffort::None),
            (Some(effort), _) => Some(effort),
            (None, Some(0)) => Some(ReasoningEffort::None),
            (None, Some(b)) if b <= 1024 => Some(ReasoningEffort::Low),
            (None, Some(b)) if b <= 4096 => Some(ReasoningEffort::Medium),
            (None, Some(_)) => Some(ReasoningEffort::High),
            (None, None) => None,
        }
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

impl Message {
    /// Content is required except for assistant messages; a tool message names its call.
    fn check(&self, i: usize) -> Result<(), ParamError> {
        let required = self.role != MessageRole::Assistant;
        if required && matches!(self.content, Content::Absent | Content::Null) {
            return Err(ParamError::new(
                format!("messages[{i}].content"),
                "content must be a string or a list of content parts",
            ));
        }
        if self.role == MessageRole::Tool && self.tool_call_id.is_none() {
            return Err(ParamError::new(
                format!("messages[{i}].tool_call_id"),
                "a tool message needs tool_call_id",
            ));
        }
        Ok(())
    }

    /// The message as JSON, as it came (with any content the server set).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Content {
    pub fn is_absent(&self) -> bool {
        matches!(self, Content::Absent)
    }

    /// The text: the string, or the text parts joined by newlines.
    pub fn text(&self) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Parts(parts) => join_text_parts(parts),
            Content::Absent | Content::Null => String::new(),
        }
    }
}

/// A message's text from its JSON `content` (a backend's answer): the string, or its text
/// parts joined.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => join_text_parts(parts),
        _ => String::new(),
    }
}

fn join_text_parts(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of the last user message.
pub fn last_user_text(messages: &[Message]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::User)
        .map(|m| m.content.text())
}

impl RagParams {
    /// Parse and check `rag_params` on its own (errors still name `rag_params.…`).
    pub fn parse(v: &Value) -> Result<RagParams, ParamError> {
        let mut rag: RagParams = from_value(v.clone(), "rag_params")?;
        rag.resolve()?;
        Ok(rag)
    }

    /// The knowledge bases to search: `table_id` first, then the others, without repeats.
    fn resolve(&mut self) -> Result<(), ParamError> {
        let _ = self.rerank;
        let mut kbs: Vec<String> = Vec::new();
        for id in std::iter::once(&self.table_id).chain(&self.sent_kb_ids) {
            if !id.is_empty() && !kbs.contains(id) {
                kbs.push(id.clone());
            }
        }
        if kbs.is_empty() {
            return Err(ParamError::new(
                "rag_params.table_id",
                "rag_params needs table_id (or knowledge_base_ids) naming a knowledge base",
            ));
        }
        if kbs.len() > 16 {
            return Err(ParamError::new(
                "rag_params.knowledge_base_ids",
                "at most 16 knowledge bases at once",
            ));
        }
        self.knowledge_base_ids = kbs;
        Ok(())
    }
}

/// `tool_choice` as sent (Null = absent), checked against whether there are tools.
fn tool_choice(sent: &Value, has_tools: bool) -> Result<Value, ParamError> {
    let choice = match sent {
        Value::Null => Value::String(if has_tools { "auto" } else { "none" }.into()),
        Value::String(s) if matches!(s.as_str(), "none" | "auto" | "required") => sent.clone(),
        Value::Object(o)
            if o.get("type").and_then(Value::as_str) == Some("function")
                && o.get("function").and_then(|f| f.get("name")).is_some_and(Value::is_string) =>
        {
            sent.clone()
        }
        _ => {
            return Err(ParamError::new("tool_choice", "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}"))
        }
    };
    if !has_tools && choice != "none" {
        return Err(ParamError::new("tool_choice", "tool_choice needs tools"));
    }
    Ok(choice)
}

// ---------------------------------------------------------------------------------------------
// Field parsers

/// A JSON list of `min..=max` items; `expecting` words a wrong type, `count` a wrong length.
struct List<T> {
    min: usize,
    max: usize,
    expecting: &'static str,
    count: &'static str,
    item: std::marker::PhantomData<T>,
}

impl<T> List<T> {
    fn new(min: usize, max: usize, expecting: &'static str, count: &'static str) -> Self {
        List {
            min,
            max,
            expecting,
            count,
            item: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for List<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        if !(self.min..=self.max).contains(&out.len()) {
            return Err(fail(self.count));
        }
        Ok(out)
    }
}

/// Null, or a list (see `List`).
fn nullable_list<'de, D, T>(d: D, list: List<T>) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct OrNull<T>(List<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for OrNull<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            self.0.expecting(f)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            self.0.visit_seq(seq).map(Some)
        }
    }
    d.deserialize_any(OrNull(list))
}

fn messages<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Message>, D::Error> {
    let list = List::new(
        1,
        MAX_MESSAGES,
        "a list",
        "{param} must contain 1 to 4096 messages",
    );
    Ok(nullable_list(d, list)?.unwrap_or_default())
}

fn tools<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Value>>, D::Error> {
    const RULE: &str = "a list of at least 1 tool";
    nullable_list(
        d,
        List::new(
            1,
            usize::MAX,
            RULE,
            "{param} must be a list of at least 1 tool",
        ),
    )
}

fn kb_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    const RULE: &str = "a list of 1 to 16 ids";
    let list = List::new(1, 16, RULE, "{param} must be a list of 1 to 16 ids");
    Ok(nullable_list(d, list)?.unwrap_or_default())
}

/// `stop`: a string, or a list of at least one string.
fn stop<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    const RULE: &str = "a string or a list of at least 1 string";
    struct Stop;
    impl<'de> Visitor<'de> for Stop {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(RULE)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![s.to_owned()]))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let rule = "{param} must be a string or a list of at least 1 string";
            List::new(1, usize::MAX, RULE, rule)
                .visit_seq(seq)
                .map(Some)
        }
    }
    d.deserialize_any(Stop)
}

/// `logit_bias`: token id → bias in [-100, 100]; kept as sent.
fn logit_bias<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Map<String, Value>>, D::Error> {
    struct Biases;
    impl<'de> Visitor<'de> for Biases {
        type Value = Option<Map<String, Value>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object mapping token ids to biases")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Map::new();
            while let Some(TokenId(token)) = map.next_key()? {
                let Bias(bias) = map.next_value()?;
                out.insert(token, Value::Number(bias));
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(Biases)
}

/// A `logit_bias` key: a token id.
struct TokenId(String);

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.parse::<u32>() {
            Ok(_) => Ok(TokenId(s)),
            Err(_) => Err(fail("logit_bias keys must be token ids (integers)")),
        }
    }
}

/// A `logit_bias` value: a number in [-100, 100], kept as sent.
struct Bias(serde_json::Number);

impl<'de> Deserialize<'de> for Bias {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)
            .map_err(|_: D::Error| fail("a bias must be a number"))?;
        let b = n.as_f64().unwrap_or(f64::NAN);
        if !(-100.0..=100.0).contains(&b) {
            return Err(fail(format!("a bias must be in [-100, 100], got {b}")));
        }
        Ok(Bias(n))
    }
}

fn rag_params<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RagParams>, D::Error> {
    crate::params::object_at(d, "rag_params")
}

fn three() -> usize {
    3
}

fn k_or_three<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Option::<K>::deserialize(d)?.map_or(3, K::get))
}

/// A string where `""` means absent.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

fn prompt_template<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(t) if !t.contains("{{context}}") => Err(fail("{param} must contain {{context}}")),
        Some(t) if t.len() > MAX_TEMPLATE_BYTES => Err(fail(format!(
            "{{param}} is {} bytes; at most {MAX_TEMPLATE_BYTES} are accepted",
            t.len()
        ))),
        Some(t) if t.matches("{{context}}").count() > MAX_TEMPLATE_CONTEXTS => Err(fail(format!(
            "{{param}} may contain {{{{context}}}} at most {MAX_TEMPLATE_CONTEXTS} times"
        ))),
        t => Ok(t),
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_unit<E>(self) -> Result<Content, E> {
                Ok(Content::Null)
            }
            fn visit_str<E>(self, s: &str) -> Result<Content, E> {
                Ok(Content::Text(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Content, E> {
                Ok(Content::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element()? {
                    parts.push(p);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(ContentVisitor)
    }
}

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Absent | Content::Null => s.serialize_unit(),
            Content::Text(t) => s.serialize_str(t),
            Content::Parts(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for QueryRewrite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "auto" => Ok(QueryRewrite::Auto),
            "off" => Ok(QueryRewrite::Off),
            other => Err(fail(format!(
                "{{param}} must be auto or off, got `{other}`"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for OnNoResults {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "answer" => Ok(OnNoResults::Answer),
            Value::String(s) if s == "refuse" => Ok(OnNoResults::Refuse),
            Value::Object(o) if o.len() == 1 && o.get("message").is_some_and(Value::is_string) => {
                Ok(OnNoResults::Message(
                    o["message"].as_str().unwrap_or_default().to_owned(),
                ))
            }
            _ => Err(fail(
                "{param} must be \"answer\", \"refuse\" or {\"message\": \"…\"}",
            )),
        }
    }
}

/// One logged completion of a chat id (`GET /v1/chats/{id}`).
#[derive(Debug, Clone, Serialize)]
pub struct ChatLogView {
    pub id: String,
    pub chat_id: String,
    pub user_id: Option<String>,
    pub model: String,
    pub search_query: Option<String>,
    /// `[{chunk_id, document_id, kb_id, score}]` of the chunks retrieved.
    pub retrieved: Value,
    /// Stage → milliseconds (`query_ms`, `retrieve_ms`, `first_token_ms`, `generate_ms`, …).
    pub timings: Value,
    /// The backend's usage, when it gave one.
    pub usage: Option<Value>,
    /// `ok` or `error`.
    pub outcome: String,
    pub error: Option<String>,
    pub created_at: i64,
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
    fn sizes_are_bounded() {
        let user = |text: String| json!({"role": "user", "content": text});
        let many: Vec<Value> = (0..=MAX_MESSAGES).map(|_| user("x".into())).collect();
        assert_eq!(param_of(json!({"messages": many})), "messages");
        let half = MAX_MESSAGE_TEXT_BYTES / 2 + 1;
        let big = json!({"messages": [user("a".repeat(half)), user("b".repeat(half))]});
        assert_eq!(param_of(big), "messages");
        let m = json!([user("hi".into())]);
        let rag = |extra: Value| {
            let mut r = json!({"table_id": "kb"});
            r.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"messages": m, "rag_params": r})
        };
        let long_template = format!("{{{{context}}}}{}", " ".repeat(MAX_TEMPLATE_BYTES));
        assert_eq!(
            param_of(rag(json!({"prompt_template": long_template}))),
            "rag_params.prompt_template"
        );
        let repeated = "{{context}}".repeat(MAX_TEMPLATE_CONTEXTS + 1);
        assert_eq!(
            param_of(rag(json!({"prompt_template": repeated}))),
            "rag_params.prompt_template"
        );
        let query = "q".repeat(crate::search::MAX_QUERY_BYTES + 1);
        assert_eq!(
            param_of(rag(json!({"search_query": query}))),
            "rag_params.search_query"
        );
        let fine = "{{context}}".repeat(MAX_TEMPLATE_CONTEXTS);
        assert!(ChatRequest::parse(rag(json!({"prompt_template": fine}))).is_ok());
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

    /// The body `jamaibase` 1.0.5 sends (`ChatRequest.model_dump(mode="json")`): every field,
    /// nulls included, and its own reasoning fields.
    #[test]
    fn the_jamai_sdk_body_parses() {
        let body = json!({"model": "", "rag_params": {"table_id": "kb", "reranking_model": null, "search_query": "", "k": 2, "rerank": true, "concat_reranker_input": false, "inline_citations": true}, "tools": null, "tool_choice": null, "temperature": 0.2, "top_p": 0.6, "stream": true, "max_tokens": 32, "stop": null, "presence_penalty": 0.0, "frequency_penalty": 0.0, "logit_bias": {}, "reasoning_effort": null, "thinking_budget": null, "reasoning_summary": "auto", "id": "", "messages": [{"role": "system", "content": "Be brief.", "name": null}, {"role": "user", "content": "How do otters sleep?", "name": null}], "max_completion_tokens": null, "n": 1, "user": ""});
        let r = ChatRequest::parse(body).unwrap();
        assert!(r.passthrough.is_empty(), "{:?}", r.passthrough);
        assert_eq!(r.reasoning_summary, Some(ReasoningSummary::Auto));
        assert_eq!((r.reasoning_effort, r.thinking_budget), (None, None));
        assert_eq!(r.backend_reasoning_effort(), None);
        assert_eq!(r.rag.unwrap().knowledge_base_ids, vec!["kb"]);
        let m = json!([{"role": "user", "content": "hi"}]);
        let effort = |extra: Value| {
            let mut b = json!({"messages": m});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ChatRequest::parse(b)
                .unwrap()
                .backend_reasoning_effort()
                .map(|e| e.as_str())
        };
        assert_eq!(effort(json!({"reasoning_effort": "disable"})), Some("none"));
        assert_eq!(
            effort(json!({"reasoning_effort": "high", "thinking_budget": 0})),
            Some("high")
        );
        assert_eq!(effort(json!({"thinking_budget": 0})), Some("none"));
        assert_eq!(effort(json!({"thinking_budget": 1024})), Some("low"));
        assert_eq!(effort(json!({"thinking_budget": 4096})), Some("medium"));
        assert_eq!(effort(json!({"thinking_budget": 4097})), Some("high"));
        assert_eq!(
            param_of(json!({"messages": m, "reasoning_effort": "max"})),
            "reasoning_effort"
        );
        assert_eq!(
            param_of(json!({"messages": m, "thinking_budget": -1})),
            "thinking_budget"
        );
        assert_eq!(
            param_of(json!({"messages": m, "reasoning_summary": "long"})),
            "reasoning_summary"
        );
    }

    #[test]
    fn rag_params_defaults_and_deprecated_rerank() {
        let r = RagParams::parse(&json!({"table_id": "kb", "rerank": true})).unwrap();
        assert_eq!(r.fusion, crate::search::Fusion::Dbsf);
        let d = RagParams::parse(&json!({"table_id": "kb", "fusion": "rrf"})).unwrap();
        assert_eq!(d.fusion, crate::search::Fusion::RRF);
        let w =
            RagParams::parse(&json!({"table_id": "kb", "fusion": "rrf(k=60, dense_weight=0.7)"}))
                .unwrap();
        assert_eq!(
            w.fusion,
            crate::search::Fusion::Rrf {
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
