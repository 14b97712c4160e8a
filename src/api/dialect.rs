//! The client dialect of a request (see `ragway_protocol::client`): [`ClientDialect`] for the
//! handlers whose answers differ, and [`statuses`], the middleware that answers JamAI's SDK
//! 422 where OpenAI's SDKs get 400 — the same body, so each SDK raises its own bad-input
//! error (`BadInputError`, `BadRequestError`) with the server's message.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest};
use ragway_protocol::client::{Dialect, DIALECT_HEADER};
use ragway_protocol::ParamError;

use crate::error::ApiError;

/// The dialect a request speaks (a wrong `X-Ragway-Dialect` is a 400 naming the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientDialect(pub Dialect);

fn detect(req: &HttpRequest) -> Result<Dialect, ParamError> {
    // A dialect header that is not text is refused, not taken for absent.
    let explicit = match req.headers().get(DIALECT_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ParamError::new(
                DIALECT_HEADER,
                format!("{DIALECT_HEADER} is not valid text"),
            )
        })?),
    };
    let user_agent = req
        .headers()
        .get("User-Agent")
        .and_then(|v| v.to_str().ok());
    Dialect::detect(explicit, user_agent)
}

impl FromRequest for ClientDialect {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(detect(req).map(ClientDialect).map_err(ApiError::from))
    }
}

/// Middleware: a 400 becomes a 422 for JamAI's dialect (its SDK maps 422 to `BadInputError`,
/// as JamAI's own server answers bad input).
pub async fn statuses(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let jamai = detect(req.request()) == Ok(Dialect::JamAi);
    let mut res = next.call(req).await?;
    if jamai && res.status() == StatusCode::BAD_REQUEST {
        *res.response_mut().status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}
