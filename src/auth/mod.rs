//! Who is calling, and in which project. The seed's headers: `Authorization: Bearer <token>`
//! (a user's PAT, a project's service key or the admin token), `X-USER-ID`, `X-PROJECT-ID`.
//! Every route names a [`policy::Rule`]; the rule is evaluated before its handler runs
//! (`authenticate`, then `resolve` or a rule of its own), so tenancy is decided here once.
//! `tenancy` holds the operations on users, projects, members and tokens.

use secrecy::ExposeSecret;

use crate::state::AppState;
use crate::store::tenancy::TokenKind;
use crate::store::StoreError;

pub mod bootstrap;
pub mod policy;
pub mod tenancy;
pub mod token;

pub const USER_HEADER: &str = "X-USER-ID";
pub const PROJECT_HEADER: &str = "X-PROJECT-ID";

/// Why a request may not go on.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization: Bearer <token> header")]
    MissingToken,
    #[error("Authorization must be `Bearer <token>`")]
    MalformedToken,
    #[error("invalid or revoked token")]
    InvalidToken,
    /// A header this token needs is missing; `header` names it.
    #[error("{header} header is required {with}")]
    MissingHeader {
        header: &'static str,
        with: &'static str,
    },
    /// The admin token named a project that does not exist.
    #[error("project `{0}` does not exist")]
    UnknownProject(String),
    /// The token is valid but may not act there.
    #[error("{0}")]
    Forbidden(String),
    /// A thing the request names (user, project, token, invitation) does not exist, or is not
    /// the caller's to see; `param` says where it was named.
    #[error("{message}")]
    NotFound {
        param: &'static str,
        message: String,
    },
    /// A request value is wrong; `param` names it.
    #[error("{message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    /// A well-formed request at odds with the stored state (a user who is not a member of the
    /// project named); `param` names the value.
    #[error("{message}")]
    Conflict {
        param: &'static str,
        message: String,
    },
    /// The user or project exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// The change would leave the project without an owner.
    #[error(
        "`{user}` is the last owner of project `{project}`: make another member an owner first"
    )]
    LastOwner { user: String, project: String },
    /// A stored token whose owner does not fit its kind: a bug or a manual edit.
    #[error("token {0} has an inconsistent owner")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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

/// Resolve the bearer token (the `Authorization` header's value) to a principal.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
) -> Result<Principal, AuthError> {
    let auth = authorization.ok_or(AuthError::MissingToken)?;
    let secret = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MalformedToken)?;
    if let Some(admin) = &state.config.auth.admin_token {
        if token::constant_time_eq(secret, admin.expose_secret()) {
            return Ok(Principal::Admin);
        }
    }
    let record = state
        .db
        .active_token_by_hash(&token::hash(secret))
        .await?
        .ok_or(AuthError::InvalidToken)?;
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
        _ => Err(AuthError::Inconsistent(record.id)),
    }
}

/// Apply the seed's omission rules to pick the acting user and project from the
/// `X-USER-ID` and `X-PROJECT-ID` headers (trimmed, empty = absent).
pub async fn resolve(
    state: &AppState,
    principal: Principal,
    user_header: Option<String>,
    project_header: Option<String>,
) -> Result<Caller, AuthError> {
    let (user_id, project_id) = match &principal {
        Principal::Admin => admin_acts_in(state, user_header, project_header).await?,
        Principal::Service { project_id, .. } => {
            service_acts_in(project_id, user_header, project_header)?
        }
        Principal::User { user_id, scope, .. } => {
            let project = user_acts_in(state, user_id, scope, user_header, project_header).await?;
            (Some(user_id.clone()), project)
        }
    };
    Ok(Caller {
        principal,
        user_id,
        project_id,
    })
}

fn missing_project() -> AuthError {
    AuthError::MissingHeader {
        header: PROJECT_HEADER,
        with: "with this token",
    }
}

/// The admin token acts in the named (existing) project, as the named user if any.
async fn admin_acts_in(
    state: &AppState,
    user_header: Option<String>,
    project_header: Option<String>,
) -> Result<(Option<String>, String), AuthError> {
    let project = project_header.ok_or_else(missing_project)?;
    if state.db.get_project(&project).await?.is_none() {
        return Err(AuthError::UnknownProject(project));
    }
    Ok((user_header, project))
}

/// A service key acts in its own project, for the user named in `X-USER-ID`.
fn service_acts_in(
    project_id: &str,
    user_header: Option<String>,
    project_header: Option<String>,
) -> Result<(Option<String>, String), AuthError> {
    if let Some(p) = &project_header {
        if p != project_id {
            return Err(AuthError::Forbidden(format!(
                "this service key may not act in project `{p}`"
            )));
        }
    }
    let user = user_header.ok_or(AuthError::MissingHeader {
        header: USER_HEADER,
        with: "with a service key",
    })?;
    Ok((Some(user), project_id.to_owned()))
}

/// A PAT acts as its user, in the named project, its scope, or the user's default project;
/// the user must be a member there.
async fn user_acts_in(
    state: &AppState,
    user_id: &str,
    scope: &Option<String>,
    user_header: Option<String>,
    project_header: Option<String>,
) -> Result<String, AuthError> {
    if let Some(u) = &user_header {
        if u != user_id {
            return Err(AuthError::Forbidden(format!(
                "{USER_HEADER} `{u}` is not the token's user"
            )));
        }
    }
    let project = match (project_header, scope) {
        (Some(p), Some(s)) if &p != s => {
            return Err(AuthError::Forbidden(format!(
                "this token is scoped to project `{s}`, not `{p}`"
            )));
        }
        (Some(p), _) => p,
        (None, Some(s)) => s.clone(),
        (None, None) => return default_project(state, user_id).await,
    };
    if state.db.membership(user_id, &project).await?.is_none() {
        return Err(not_a_member(user_id, &project));
    }
    Ok(project)
}

fn not_a_member(user: &str, project: &str) -> AuthError {
    AuthError::Forbidden(format!(
        "user `{user}` is not a member of project `{project}`"
    ))
}

/// The project a PAT acts in when none is named: the user's stored default. It is set to their
/// first project and changed only by them, so what others do (inviting them elsewhere,
/// removing them) never moves their requests to another project; a default they are no longer
/// a member of answers 403 instead.
async fn default_project(state: &AppState, user_id: &str) -> Result<String, AuthError> {
    let default = state
        .db
        .get_user(user_id)
        .await?
        .and_then(|u| u.default_project_id);
    let Some(project) = default else {
        return Err(AuthError::MissingHeader {
            header: PROJECT_HEADER,
            with: "with this token: its user has no default project",
        });
    };
    if state.db.membership(user_id, &project).await?.is_none() {
        return Err(AuthError::Forbidden(format!(
            "user `{user_id}` is no longer a member of project `{project}`, their default \
             project: name a project in {PROJECT_HEADER} or choose another default"
        )));
    }
    Ok(project)
}
