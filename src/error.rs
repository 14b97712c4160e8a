//! The one API error type, and the one place where the layers' errors become HTTP answers.
//! Every error a client can get has a [`Code`]; [`Code::row`] is the table that gives each
//! its HTTP status, OpenAI error `type` and whether its message is shown. Below it, one
//! exhaustive `From` per layer's error enum picks the code (and the parameter) for each of
//! its variants. Unexpected failures are logged with their cause chain and answered with an
//! opaque message. The body is OpenAI's `{"error": {"message", "type", "param", "code"}}` with
//! the message also at the top level (`"message"`), for JamAI's SDK; the one status that
//! depends on the client (400, which JamAI's dialect gets as 422) is `api::dialect`'s.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use ragway_protocol::ParamError;
use serde::Serialize;

use crate::auth::{AuthError, PROJECT_HEADER};
use crate::chat::ChatError;
use crate::documents::IngestError;
use crate::generation::GenerationError;
use crate::jobs::JobError;
use crate::knowledge::KnowledgeError;
use crate::rerank::RerankError;
use crate::retrieval::RetrievalError;
use crate::state::UnknownModel;
use crate::store::StoreError;
use crate::vector::VectorError;

/// Every error a client can get, by the stable `code` of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A request field or header is wrong; `param` names it.
    InvalidValue,
    InvalidJson,
    InvalidContentType,
    /// The client went away mid-stream (logged, never sent).
    ClientClosed,
    /// The generation backend refused the request as invalid.
    UpstreamInvalidRequest,
    /// No token, or one that is unknown or revoked.
    InvalidApiKey,
    /// The token is valid but may not do this.
    Forbidden,
    NotFound,
    /// The path exists, but not with this method (405, with `Allow`).
    MethodNotAllowed,
    ModelNotFound,
    /// The thing exists already, or the request conflicts with its state.
    Conflict,
    PayloadTooLarge,
    /// An upstream (generation backend, reranker) answered badly or not at all.
    BadGateway,
    GatewayTimeout,
    /// Nothing is configured to answer (no generation backend): retry later.
    ServiceUnavailable,
    /// The metadata database is down: retry later (its own code, so clients and dashboards
    /// can tell which store).
    DatabaseUnavailable,
    /// The vector store (Qdrant Edge or server) is down: retry later.
    VectorStoreUnavailable,
    /// A bug or an unexpected failure: logged, never shown.
    InternalError,
}

/// How a code answers: its status, the body's `type` and `code`, and whether the error's
/// own message is shown (else this fixed text).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub opaque: Option<&'static str>,
}

const fn row(status: StatusCode, kind: &'static str, code: &'static str) -> Row {
    Row {
        status,
        kind,
        code,
        opaque: None,
    }
}

impl Code {
    /// The table: code → HTTP status, OpenAI error type, wire code, message.
    pub const fn row(self) -> Row {
        use StatusCode as S;
        const INVALID: &str = "invalid_request_error";
        match self {
            Code::InvalidValue => row(S::BAD_REQUEST, INVALID, "invalid_value"),
            Code::InvalidJson => row(S::BAD_REQUEST, INVALID, "invalid_json"),
            Code::InvalidContentType => row(S::BAD_REQUEST, INVALID, "invalid_content_type"),
            Code::ClientClosed => row(S::BAD_REQUEST, INVALID, "client_closed"),
            Code::UpstreamInvalidRequest => {
                row(S::BAD_REQUEST, INVALID, "upstream_invalid_request")
            }
            Code::InvalidApiKey => row(S::UNAUTHORIZED, "authentication_error", "invalid_api_key"),
            Code::Forbidden => row(S::FORBIDDEN, "permission_error", "forbidden"),
            Code::NotFound => row(S::NOT_FOUND, INVALID, "not_found"),
            Code::MethodNotAllowed => row(S::METHOD_NOT_ALLOWED, INVALID, "method_not_allowed"),
            Code::ModelNotFound => row(S::NOT_FOUND, INVALID, "model_not_found"),
            Code::Conflict => row(S::CONFLICT, INVALID, "conflict"),
            Code::PayloadTooLarge => row(S::PAYLOAD_TOO_LARGE, INVALID, "payload_too_large"),
            Code::BadGateway => row(S::BAD_GATEWAY, "api_error", "bad_gateway"),
            Code::GatewayTimeout => row(S::GATEWAY_TIMEOUT, "api_error", "gateway_timeout"),
            Code::ServiceUnavailable => {
                row(S::SERVICE_UNAVAILABLE, "api_error", "service_unavailable")
            }
            Code::DatabaseUnavailable => {
                row(S::SERVICE_UNAVAILABLE, "api_error", "database_unavailable")
            }
            Code::VectorStoreUnavailable => row(
                S::SERVICE_UNAVAILABLE,
                "api_error",
                "vector_store_unavailable",
            ),
            Code::InternalError => Row {
                opaque: Some("internal server error"),
                ..row(S::INTERNAL_SERVER_ERROR, "api_error", "internal_error")
            },
        }
    }
}

/// An error answered to a client: its code, message and the parameter it concerns; an
/// internal one keeps its cause for the log.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    code: Code,
    message: String,
    param: Option<String>,
    #[source]
    cause: Option<anyhow::Error>,
}

/// OpenAI's `{"error": {…}}`, plus the message at the top level, where JamAI's SDK (and
/// other FastAPI-style clients) read it: one body every client understands.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
    message: &'a str,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            param: None,
            cause: None,
        }
    }

    /// The error concerns `param` (`rag_params.k`, `X-PROJECT-ID`).
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// `param` has a wrong value.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(Code::InvalidValue, message).with_param(param)
    }

    /// The named thing does not exist (or is not visible to the caller).
    pub fn not_found(param: Option<&str>, message: impl Into<String>) -> Self {
        let e = ApiError::new(Code::NotFound, message);
        match param {
            Some(p) => e.with_param(p),
            None => e,
        }
    }

    /// A bug or an unexpected failure: `cause` is logged, the client gets an opaque message.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        ApiError {
            message: cause.to_string(),
            cause: Some(cause),
            ..ApiError::new(Code::InternalError, "")
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// The OpenAI-shaped body, also used for in-stream SSE error events.
    pub fn body(&self) -> serde_json::Value {
        let row = self.code.row();
        let message = row.opaque.unwrap_or(&self.message);
        serde_json::to_value(ErrorBody {
            message,
            error: ErrorDetail {
                message,
                kind: row.kind,
                param: self.param.as_deref(),
                code: Some(row.code),
            },
        })
        .unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.row().status
    }

    fn error_response(&self) -> HttpResponse {
        if self.code == Code::InternalError {
            let cause = self.cause.as_ref().map(|c| format!("{c:?}"));
            tracing::error!(
                error = cause.as_deref().unwrap_or(&self.message),
                "internal error"
            );
        }
        HttpResponse::build(self.status_code()).json(self.body())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::internal(err)
    }
}

// ---------------------------------------------------------------------------------------------
// Each layer's errors, variant by variant (no catch-all: a new variant must be placed here).

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        ApiError::invalid(err.param, err.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::new(
                    Code::DatabaseUnavailable,
                    "the database is unavailable; retry later",
                )
            }
            e @ (StoreError::Duplicate(_)
            | StoreError::Corrupt(_)
            | StoreError::Setup(_)
            | StoreError::Query(_)) => ApiError::internal(anyhow::Error::new(e)),
        }
    }
}

impl From<VectorError> for ApiError {
    fn from(err: VectorError) -> Self {
        match err {
            VectorError::Unavailable(msg) => {
                tracing::error!(error = %msg, "vector store unavailable");
                ApiError::new(
                    Code::VectorStoreUnavailable,
                    "the vector store is unavailable; retry later",
                )
            }
            e @ (VectorError::CollectionNotFound(_)
            | VectorError::Invalid(_)
            | VectorError::Other(_)) => {
                ApiError::internal(anyhow::Error::new(e).context("vector store"))
            }
        }
    }
}

impl From<GenerationError> for ApiError {
    fn from(err: GenerationError) -> Self {
        let message = err.to_string();
        match &err {
            GenerationError::UnknownModel { .. } => {
                ApiError::new(Code::ModelNotFound, message).with_param("model")
            }
            GenerationError::NoBackend => ApiError::new(Code::ServiceUnavailable, message),
            GenerationError::Unreachable(_) | GenerationError::Malformed(_) => {
                ApiError::new(Code::BadGateway, message)
            }
            GenerationError::Timeout => ApiError::new(Code::GatewayTimeout, message),
            GenerationError::Upstream { .. } if err.is_rejected_request() => ApiError {
                param: err.upstream_param().map(str::to_owned),
                ..ApiError::new(Code::UpstreamInvalidRequest, message)
            },
            GenerationError::Upstream { .. } => ApiError::new(Code::BadGateway, message),
        }
    }
}

impl From<RerankError> for ApiError {
    fn from(err: RerankError) -> Self {
        let message = err.to_string();
        match err {
            RerankError::Unknown { .. } => {
                ApiError::new(Code::ModelNotFound, message).with_param("rag_params.reranking_model")
            }
            RerankError::Timeout(_) => ApiError::new(Code::GatewayTimeout, message),
            RerankError::Unreachable { .. } | RerankError::BadAnswer { .. } => {
                ApiError::new(Code::BadGateway, message)
            }
        }
    }
}

/// A model the request names that is not configured: 404 `model_not_found`, as for chat's
/// `model` (the request is well formed; the model is not there).
impl From<UnknownModel> for ApiError {
    fn from(err: UnknownModel) -> Self {
        ApiError::new(Code::ModelNotFound, err.to_string()).with_param("embedding_model")
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::MissingToken | AuthError::MalformedToken | AuthError::InvalidToken => {
                ApiError::new(Code::InvalidApiKey, message)
            }
            AuthError::MissingHeader { header, .. } => ApiError::invalid(header, message),
            AuthError::UnknownProject(_) => ApiError::not_found(Some(PROJECT_HEADER), message),
            AuthError::Forbidden(_) => ApiError::new(Code::Forbidden, message),
            AuthError::NotFound { param, .. } => ApiError::not_found(Some(param), message),
            AuthError::Invalid { param, .. } => ApiError::invalid(param, message),
            AuthError::Conflict { param, .. } => {
                ApiError::new(Code::Conflict, message).with_param(param)
            }
            AuthError::Exists(_) | AuthError::LastOwner { .. } => {
                ApiError::new(Code::Conflict, message)
            }
            e @ AuthError::Inconsistent(_) => ApiError::internal(anyhow::Error::new(e)),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Invalid { param, message } => ApiError::invalid(param, message),
            e @ (IngestError::NotRetryable { .. } | IngestError::NoText { .. }) => {
                ApiError::new(Code::Conflict, e.to_string())
            }
            e @ IngestError::NoSource(_) => ApiError::not_found(Some("document_id"), e.to_string()),
            IngestError::Store(e) => e.into(),
            IngestError::Vector(e) => e.into(),
        }
    }
}

impl From<KnowledgeError> for ApiError {
    fn from(err: KnowledgeError) -> Self {
        let message = err.to_string();
        match err {
            KnowledgeError::Invalid(e) => e.into(),
            KnowledgeError::UnknownModel(e) => e.into(),
            KnowledgeError::Exists(_) => ApiError::new(Code::Conflict, message),
            KnowledgeError::NotFound(_) => ApiError::not_found(Some("kb_id"), message),
            KnowledgeError::Job(e) => e.into(),
            KnowledgeError::Store(e) => e.into(),
            KnowledgeError::Vector(e) => e.into(),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(err: JobError) -> Self {
        let message = err.to_string();
        match err {
            JobError::Invalid(e) => e.into(),
            JobError::UnknownModel(e) => e.into(),
            JobError::AlreadyReindexing { .. } | JobError::Ended { .. } => {
                ApiError::new(Code::Conflict, message)
            }
            JobError::NotFound(_) => ApiError::not_found(Some("job_id"), message),
            JobError::Store(e) => e.into(),
            JobError::Vector(e) => e.into(),
        }
    }
}

impl From<RetrievalError> for ApiError {
    fn from(err: RetrievalError) -> Self {
        match err {
            e @ RetrievalError::EmptyQuery => ApiError::invalid("query", e.to_string()),
            e @ (RetrievalError::ModelMissing(_) | RetrievalError::Embedding(_)) => {
                ApiError::internal(anyhow::Error::new(e))
            }
            RetrievalError::Rerank(e) => e.into(),
            RetrievalError::Store(e) => e.into(),
            RetrievalError::Vector(e) => e.into(),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        let message = err.to_string();
        match err {
            ChatError::Invalid(e) => e.into(),
            ChatError::Generation(e) => e.into(),
            ChatError::UnknownKnowledgeBase(_) => {
                ApiError::not_found(Some("rag_params.table_id"), message)
            }
            ChatError::Retrieval(e) => e.into(),
            ChatError::Store(e) => e.into(),
            ChatError::ClientClosed => ApiError::new(Code::ClientClosed, message),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// actix's extractor failures, in the same shape, naming what was wrong.

pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            Code::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            Code::InvalidContentType,
            "Content-Type must be application/json",
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::new(Code::InvalidJson, format!("invalid JSON body: {e}"))
        }
        other => ApiError::new(Code::InvalidJson, format!("invalid JSON body: {other}")),
    };
    api.into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::new(Code::InvalidValue, format!("invalid query string: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(e: impl Into<ApiError>) -> (u16, serde_json::Value) {
        let e = e.into();
        (e.status_code().as_u16(), e.body()["error"].clone())
    }

    #[test]
    fn the_table_decides_status_type_code_and_what_is_shown() {
        let e = ApiError::internal(anyhow::anyhow!("secret detail"));
        assert_eq!(
            e.body()["message"],
            "internal server error",
            "top level too"
        );
        let (s, b) = answer(e);
        assert_eq!(
            (s, &b["message"], &b["code"]),
            (
                500,
                &json!("internal server error"),
                &json!("internal_error")
            )
        );
        let (s, b) = answer(ParamError::new(
            "rag_params.k",
            "rag_params.k must be in 1..=1024, got 0",
        ));
        assert_eq!(
            (s, &b["param"], &b["type"]),
            (400, &json!("rag_params.k"), &json!("invalid_request_error"))
        );
        assert_eq!(b["message"], "rag_params.k must be in 1..=1024, got 0");
        let (s, b) = answer(StoreError::Unavailable("pool timed out".into()));
        assert_eq!((s, &b["code"]), (503, &json!("database_unavailable")));
        assert_eq!(b["message"], "the database is unavailable; retry later");
        let rejected = GenerationError::Upstream {
            status: 400,
            body: json!({"error": {"message": "bad stop", "param": "stop"}}),
        };
        let (s, b) = answer(ChatError::from(rejected));
        assert_eq!(
            (s, &b["code"], &b["param"]),
            (400, &json!("upstream_invalid_request"), &json!("stop"))
        );
        assert_eq!(
            b["message"],
            "the generation backend rejected the request: bad stop"
        );
        let limited = GenerationError::Upstream {
            status: 429,
            body: json!({"error": {"message": "slow down"}}),
        };
        let (s, b) = answer(limited);
        assert_eq!(
            (s, &b["message"]),
            (502, &json!("generation backend answered 429: slow down"))
        );
        let (s, b) = answer(ChatError::UnknownKnowledgeBase("kb".into()));
        assert_eq!((s, &b["param"]), (404, &json!("rag_params.table_id")));
        let (s, b) = answer(AuthError::MissingHeader {
            header: PROJECT_HEADER,
            with: "with this token",
        });
        assert_eq!((s, &b["param"]), (400, &json!("X-PROJECT-ID")));
        assert_eq!(
            b["message"],
            "X-PROJECT-ID header is required with this token"
        );
    }
}
