//! The one API error type. Every variant maps to exactly one HTTP status and an OpenAI-shaped
//! body `{"error": {"message", "type", "param", "code"}}`; unexpected failures are logged with
//! their cause chain and answered with an opaque message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field or header is wrong. `param` names it (`rag_params.k`, `X-PROJECT-ID`).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: &'static str,
    },
    /// No token, or a token that is unknown or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The named thing does not exist (or is not visible to the caller).
    #[error("{message}")]
    NotFound {
        message: String,
        param: Option<String>,
        code: &'static str,
    },
    /// The thing exists already, or the request conflicts with its state.
    #[error("{0}")]
    Conflict(String),
    /// The upload is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An upstream (generation backend, reranker) answered badly or not at all.
    #[error("{0}")]
    BadGateway(String),
    /// An upstream did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
    /// A store we depend on is down; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
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
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: "invalid_value",
        }
    }

    pub fn not_found(param: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            message: message.into(),
            param: param.map(str::to_owned),
            code: "not_found",
        }
    }

    /// `(type, param, code)` of the OpenAI error body.
    fn parts(&self) -> (&'static str, Option<&str>, Option<&str>) {
        match self {
            ApiError::InvalidRequest { param, code, .. } => {
                ("invalid_request_error", param.as_deref(), Some(code))
            }
            ApiError::Unauthenticated(_) => ("authentication_error", None, Some("invalid_api_key")),
            ApiError::Forbidden(_) => ("permission_error", None, Some("forbidden")),
            ApiError::NotFound { param, code, .. } => {
                ("invalid_request_error", param.as_deref(), Some(code))
            }
            ApiError::Conflict(_) => ("invalid_request_error", None, Some("conflict")),
            ApiError::PayloadTooLarge(_) => {
                ("invalid_request_error", None, Some("payload_too_large"))
            }
            ApiError::BadGateway(_) => ("api_error", None, Some("bad_gateway")),
            ApiError::GatewayTimeout(_) => ("api_error", None, Some("gateway_timeout")),
            ApiError::Unavailable(_) => ("api_error", None, Some("service_unavailable")),
            ApiError::Internal(_) => ("api_error", None, Some("internal_error")),
        }
    }

    /// The OpenAI-shaped body, also used for in-stream SSE error events.
    pub fn body(&self) -> serde_json::Value {
        let (kind, param, code) = self.parts();
        let message = match self {
            ApiError::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        };
        serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                message: &message,
                kind,
                param,
                code,
            },
        })
        .unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(err) = self {
            tracing::error!(error = ?err, "internal error");
        }
        HttpResponse::build(self.status_code()).json(self.body())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::error!(error = %err, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry later".into())
            }
            other => ApiError::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<crate::vector::VectorError> for ApiError {
    fn from(err: crate::vector::VectorError) -> Self {
        use crate::vector::VectorError;
        match err {
            VectorError::Unavailable(msg) => {
                tracing::error!(error = %msg, "vector store unavailable");
                ApiError::Unavailable("the vector store is unavailable; retry later".into())
            }
            other @ (VectorError::CollectionNotFound(_)
            | VectorError::Invalid(_)
            | VectorError::Other(_)) => {
                ApiError::Internal(anyhow::Error::new(other).context("vector store"))
            }
        }
    }
}

impl From<ragway_protocol::ParamError> for ApiError {
    fn from(err: ragway_protocol::ParamError) -> Self {
        ApiError::InvalidRequest {
            message: err.message,
            param: Some(err.param),
            code: err.code,
        }
    }
}

impl From<crate::rerank::RerankError> for ApiError {
    fn from(err: crate::rerank::RerankError) -> Self {
        use crate::rerank::RerankError;
        match err {
            e @ RerankError::Unknown { .. } => {
                ApiError::invalid("rag_params.reranking_model", e.to_string())
            }
            e @ RerankError::Timeout(_) => ApiError::GatewayTimeout(e.to_string()),
            e @ (RerankError::Unreachable { .. } | RerankError::BadAnswer { .. }) => {
                ApiError::BadGateway(e.to_string())
            }
        }
    }
}

/// Map actix's JSON/query/path extractor failures into our shape, naming what was wrong.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(format!("request body is larger than {limit} bytes"))
        }
        JsonPayloadError::ContentType => ApiError::InvalidRequest {
            message: "Content-Type must be application/json".into(),
            param: None,
            code: "invalid_content_type",
        },
        JsonPayloadError::Deserialize(e) => ApiError::InvalidRequest {
            message: format!("invalid JSON body: {e}"),
            param: None,
            code: "invalid_json",
        },
        other => ApiError::InvalidRequest {
            message: format!("invalid JSON body: {other}"),
            param: None,
            code: "invalid_json",
        },
    };
    api.into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::InvalidRequest {
        message: format!("invalid query string: {err}"),
        param: None,
        code: "invalid_value",
    }
    .into()
}
