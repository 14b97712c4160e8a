//! Who is calling, and in which project. The seed's headers: `Authorization: Bearer <token>`
//! (a user's PAT, a project's service key or the admin token), `X-USER-ID`, `X-PROJECT-ID`.
//! Every route that touches a project's data takes a [`Caller`], so tenancy is decided here once.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::tenancy::TokenKind;

pub mod bootstrap;
pub mod token;

pub const USER_HEADER: &str = "X-USER-ID";
pub const PROJECT_HEADER: &str = "X-PROJECT-ID";

/// The authenticated identity behind a token, before any project is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The configured admin token: may act in any project.
    Admin,
    /// A user's personal access token, optionally scoped to one project.
    User {
        user_id: String,
        token_id: String,
        scope: Option<String>,
    },
    /// A project's service key.
    Service {
        project_id: String,
        token_id: String,
    },
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin)
    }
}

/// An authenticated caller acting in one project.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The acting user: the PAT's user, or `X-USER-ID` with a service key or the admin token.
    pub user_id: Option<String>,
    pub project_id: String,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::invalid(name, format!("{name} is not valid text")))?;
            let s = s.trim();
            Ok((!s.is_empty()).then_some(s))
        }
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))
}

/// Resolve the bearer token to a principal: 401 when missing, unknown or revoked.
pub async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = state(req)?;
    let auth = header(req, "Authorization")?.ok_or_else(|| {
        ApiError::Unauthenticated("missing Authorization: Bearer <token> header".into())
    })?;
    let secret = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("Authorization must be `Bearer <token>`".into())
        })?;
    if let Some(admin) = &state.config.auth.admin_token {
        if token::constant_time_eq(secret, admin.expose_secret()) {
            return Ok(Principal::Admin);
        }
    }
    let record = state
        .db
        .active_token_by_hash(&token::hash(secret))
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("invalid or revoked token".into()))?;
    match (record.kind, record.user_id, record.project_id) {
        (TokenKind::Pat, Some(user_id), scope) => Ok(Principal::User {
            user_id,
            token_id: record.id,
            scope,
        }),
        (TokenKind::ServiceKey, _, Some(project_id)) => Ok(Principal::Service {
            project_id,
            token_id: record.id,
        }),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "token {} has an inconsistent owner",
            record.id
        ))),
    }
}

/// Apply the seed's omission rules to pick the acting user and project.
async fn resolve(req: &HttpRequest, principal: Principal) -> Result<Caller, ApiError> {
    let state = state(req)?;
    let user_header = header(req, USER_HEADER)?.map(str::to_owned);
    let project_header = header(req, PROJECT_HEADER)?.map(str::to_owned);
    let missing_project = || {
        ApiError::invalid(
            PROJECT_HEADER,
            format!("{PROJECT_HEADER} header is required with this token"),
        )
    };
    let (user_id, project_id) = match &principal {
        Principal::Admin => {
            let project = project_header.ok_or_else(missing_project)?;
            if state.db.get_project(&project).await?.is_none() {
                return Err(ApiError::not_found(
                    Some(PROJECT_HEADER),
                    format!("project `{project}` does not exist"),
                ));
            }
            (user_header, project)
        }
        Principal::Service { project_id, .. } => {
            if let Some(p) = &project_header {
                if p != project_id {
                    return Err(ApiError::Forbidden(format!(
                        "this service key may not act in project `{p}`"
                    )));
                }
            }
            let user = user_header.ok_or_else(|| {
                ApiError::invalid(
                    USER_HEADER,
                    format!("{USER_HEADER} header is required with a service key"),
                )
            })?;
            (Some(user), project_id.clone())
        }
        Principal::User { user_id, scope, .. } => {
            if let Some(u) = &user_header {
                if u != user_id {
                    return Err(ApiError::Forbidden(format!(
                        "{USER_HEADER} `{u}` is not the token's user"
                    )));
                }
            }
            let project = match (project_header, scope) {
                (Some(p), Some(s)) if &p != s => {
                    return Err(ApiError::Forbidden(format!(
                        "this token is scoped to project `{s}`, not `{p}`"
                    )));
                }
                (Some(p), _) => p,
                (None, Some(s)) => s.clone(),
                (None, None) => {
                    let mut projects = state.db.user_projects(user_id).await?;
                    if projects.len() != 1 {
                        return Err(missing_project());
                    }
                    projects.remove(0).id
                }
            };
            if state.db.membership(user_id, &project).await?.is_none() {
                return Err(ApiError::Forbidden(format!(
                    "user `{user_id}` is not a member of project `{project}`"
                )));
            }
            (Some(user_id.clone()), project)
        }
    };
    Ok(Caller {
        principal,
        user_id,
        project_id,
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            let caller = resolve(&req, principal).await?;
            tracing::Span::current().record("project", caller.project_id.as_str());
            Ok(caller)
        })
    }
}
