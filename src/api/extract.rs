//! The request extractors every protected handler takes: [`Principal`] (who, by the bearer
//! token) and [`Caller`] (who, acting in which project). They read the headers and hand them
//! to `auth`, which decides; its errors become 401/403/400/404 through `error.rs`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{self, Caller, Principal, PROJECT_HEADER, USER_HEADER};
use crate::error::ApiError;
use crate::state::AppState;

/// A header's trimmed text; None when absent or empty, 400 when not text.
fn header(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
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

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))
}

async fn principal(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = state(req)?;
    let authorization = header(req, "Authorization")?;
    Ok(auth::authenticate(&state, authorization.as_deref()).await?)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { principal(&req).await })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = principal(&req).await?;
            let (user, project) = (header(&req, USER_HEADER)?, header(&req, PROJECT_HEADER)?);
            let state = state(&req)?;
            let caller = auth::resolve(&state, principal, user, project).await?;
            tracing::Span::current().record("project", caller.project_id.as_str());
            Ok(caller)
        })
    }
}
