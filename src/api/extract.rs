//! The request extractors every protected handler takes: [`Principal`] (who, by the bearer
//! token) and [`Caller`] (who, acting in which project). Neither decides anything: the route's
//! rule (`api::routes`, `auth::policy`) ran before the handler and left its grant in the
//! request; a handler asking for more than its rule grants is a bug in the route table, and
//! answers 500 (the authorization matrix test calls every route, so it cannot go unnoticed).

use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::auth::policy::Access;
use crate::auth::{Caller, Principal};
use crate::error::ApiError;

/// A header's trimmed text; None when absent or empty, 400 when not text.
pub(crate) fn header(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::invalid(name, format!("{name} is not valid text")))?;
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
    }
}

fn access(req: &HttpRequest) -> Result<Access, ApiError> {
    req.extensions().get::<Access>().cloned().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "{} {}: the route's rule grants no token, yet its handler asks for one",
            req.method(),
            req.path()
        ))
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(access(req).map(|a| a.principal))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(access(req).and_then(|a| {
            a.caller.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "{} {}: the route's rule acts in no project, yet its handler asks for one",
                    req.method(),
                    req.path()
                ))
            })
        }))
    }
}
