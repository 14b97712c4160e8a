//! Users, projects, memberships, PATs and service keys. Secrets appear once, in the 201 that
//! creates them; afterwards only their prefix is shown.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::api::validate_id;
use crate::auth::{token, Caller, Principal};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::store::tenancy::{Role, TokenKind};
use crate::store::StoreError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/users", web::post().to(create_user))
        .route("/v1/users/{user_id}", web::get().to(get_user))
        .route("/v1/users/{user_id}/tokens", web::post().to(create_pat))
        .route("/v1/users/{user_id}/tokens", web::get().to(list_pats))
        .route("/v1/projects", web::post().to(create_project))
        .route("/v1/projects", web::get().to(list_projects))
        .route("/v1/projects/{project_id}", web::get().to(get_project))
        .route(
            "/v1/projects/{project_id}/members/{user_id}",
            web::put().to(set_member),
        )
        .route("/v1/projects/{project_id}/keys", web::post().to(create_key))
        .route("/v1/projects/{project_id}/keys", web::get().to(list_keys))
        .route("/v1/tokens/{token_id}", web::delete().to(revoke))
        .route("/v1/whoami", web::get().to(whoami));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    id: String,
    name: Option<String>,
    /// With the admin token: the user who becomes the project's owner.
    owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: Option<String>,
    /// Scope a PAT to one project.
    project_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Membership {
    role: String,
}

fn conflict_or(err: StoreError, what: String) -> ApiError {
    match err {
        StoreError::Duplicate(_) => ApiError::new(Code::Conflict, format!("{what} already exists")),
        other => other.into(),
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::Forbidden, message)
}

fn admin_only(p: &Principal) -> Result<(), ApiError> {
    match p {
        Principal::Admin => Ok(()),
        _ => Err(forbidden("only the admin token may do this")),
    }
}

/// Admin, or the PAT's own user.
fn self_or_admin(p: &Principal, user_id: &str) -> Result<(), ApiError> {
    match p {
        Principal::Admin => Ok(()),
        Principal::User { user_id: u, .. } if u == user_id => Ok(()),
        _ => Err(forbidden(format!(
            "this token may not act for user `{user_id}`"
        ))),
    }
}

/// Admin, or a PAT whose user owns `project`.
async fn owner_or_admin(state: &AppState, p: &Principal, project: &str) -> Result<(), ApiError> {
    if state.db.get_project(project).await?.is_none() {
        return Err(ApiError::not_found(
            Some("project_id"),
            format!("project `{project}` does not exist"),
        ));
    }
    match p {
        Principal::Admin => Ok(()),
        Principal::User { user_id, .. }
            if state.db.membership(user_id, project).await? == Some(Role::Owner) =>
        {
            Ok(())
        }
        _ => Err(forbidden(format!(
            "only an owner of project `{project}` may do this"
        ))),
    }
}

async fn create_user(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    admin_only(&p)?;
    validate_id("id", &body.id)?;
    let name = body.name.clone().unwrap_or_else(|| body.id.clone());
    let user = state
        .db
        .create_user(&body.id, &name)
        .await
        .map_err(|e| conflict_or(e, format!("user `{}`", body.id)))?;
    Ok(HttpResponse::Created().json(user))
}

async fn get_user(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    self_or_admin(&p, &path)?;
    let user = state.db.get_user(&path).await?.ok_or_else(|| {
        ApiError::not_found(Some("user_id"), format!("user `{path}` does not exist"))
    })?;
    let projects = state.db.user_projects(&user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"id": user.id, "name": user.name, "created_at": user.created_at, "projects": projects})))
}

async fn create_pat(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    self_or_admin(&p, &user_id)?;
    if state.db.get_user(&user_id).await?.is_none() {
        return Err(ApiError::not_found(
            Some("user_id"),
            format!("user `{user_id}` does not exist"),
        ));
    }
    if let Some(project) = &body.project_id {
        if state.db.membership(&user_id, project).await?.is_none() {
            return Err(ApiError::invalid(
                "project_id",
                format!("user `{user_id}` is not a member of project `{project}`"),
            ));
        }
    }
    // A project-scoped PAT may not mint wider tokens for its user.
    if let Principal::User { scope: Some(s), .. } = &p {
        if body.project_id.as_deref() != Some(s.as_str()) {
            return Err(forbidden(format!(
                "a token scoped to `{s}` may only create tokens scoped to `{s}`"
            )));
        }
    }
    let name = body
        .name
        .clone()
        .unwrap_or_else(|| "personal access token".into());
    issue(
        &state,
        TokenKind::Pat,
        &name,
        Some(&user_id),
        body.project_id.as_deref(),
    )
    .await
}

async fn list_pats(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    self_or_admin(&p, &path)?;
    let tokens = state.db.user_tokens(&path).await?;
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": tokens})))
}

async fn create_project(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<NewProject>,
) -> Result<HttpResponse, ApiError> {
    validate_id("id", &body.id)?;
    let owner = match (&p, &body.owner) {
        (Principal::Admin, owner) => owner.clone(),
        (
            Principal::User {
                user_id,
                scope: None,
                ..
            },
            None,
        ) => Some(user_id.clone()),
        (Principal::User { .. }, Some(_)) => {
            return Err(ApiError::invalid(
                "owner",
                "only the admin token may name another owner",
            ))
        }
        (Principal::User { scope: Some(_), .. }, None) | (Principal::Service { .. }, _) => {
            return Err(forbidden(
                "project-scoped tokens and service keys may not create projects",
            ))
        }
    };
    if let Some(o) = &owner {
        if state.db.get_user(o).await?.is_none() {
            return Err(ApiError::invalid(
                "owner",
                format!("user `{o}` does not exist"),
            ));
        }
    }
    let name = body.name.clone().unwrap_or_else(|| body.id.clone());
    let project = state
        .db
        .create_project(&body.id, &name, owner.as_deref())
        .await
        .map_err(|e| conflict_or(e, format!("project `{}`", body.id)))?;
    Ok(HttpResponse::Created().json(project))
}

async fn list_projects(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    let projects = match &p {
        Principal::Admin => state.db.list_projects().await?,
        Principal::User { user_id, .. } => state.db.user_projects(user_id).await?,
        Principal::Service { project_id, .. } => state
            .db
            .get_project(project_id)
            .await?
            .into_iter()
            .collect(),
    };
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": projects})))
}

async fn get_project(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let visible = match &p {
        Principal::Admin => true,
        Principal::User { user_id, .. } => state.db.membership(user_id, &id).await?.is_some(),
        Principal::Service { project_id, .. } => *project_id == id,
    };
    let project = state.db.get_project(&id).await?.filter(|_| visible);
    let project = project.ok_or_else(|| {
        ApiError::not_found(Some("project_id"), format!("project `{id}` does not exist"))
    })?;
    Ok(HttpResponse::Ok().json(project))
}

async fn set_member(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<Membership>,
) -> Result<HttpResponse, ApiError> {
    let (project, user) = path.into_inner();
    owner_or_admin(&state, &p, &project).await?;
    let role: Role = body
        .role
        .parse()
        .map_err(|_| ApiError::invalid("role", "role must be `owner` or `member`"))?;
    if state.db.get_user(&user).await?.is_none() {
        return Err(ApiError::not_found(
            Some("user_id"),
            format!("user `{user}` does not exist"),
        ));
    }
    state.db.set_membership(&user, &project, role).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": user, "project_id": project, "role": role})))
}

async fn create_key(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let project = path.into_inner();
    owner_or_admin(&state, &p, &project).await?;
    if body.project_id.as_deref().is_some_and(|x| x != project) {
        return Err(ApiError::invalid(
            "project_id",
            "a service key belongs to the project in the path",
        ));
    }
    let name = body.name.clone().unwrap_or_else(|| "service key".into());
    issue(&state, TokenKind::ServiceKey, &name, None, Some(&project)).await
}

async fn list_keys(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    owner_or_admin(&state, &p, &path).await?;
    let keys = state.db.project_keys(&path).await?;
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": keys})))
}

async fn revoke(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let not_found =
        || ApiError::not_found(Some("token_id"), format!("token `{id}` does not exist"));
    let record = state.db.get_token(&id).await?.ok_or_else(not_found)?;
    let allowed = match (&p, record.kind) {
        (Principal::Admin, _) => true,
        (Principal::User { user_id, .. }, TokenKind::Pat) => {
            record.user_id.as_deref() == Some(user_id.as_str())
        }
        (Principal::User { user_id, .. }, TokenKind::ServiceKey) => match &record.project_id {
            Some(project) => state.db.membership(user_id, project).await? == Some(Role::Owner),
            None => false,
        },
        (Principal::Service { token_id, .. }, _) => *token_id == record.id,
    };
    if !allowed {
        return Err(not_found());
    }
    state.db.revoke_token(&id).await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "revoked": true})))
}

/// Make a secret, store its hash, and answer 201 with the secret shown this once.
async fn issue(
    state: &AppState,
    kind: TokenKind,
    name: &str,
    user: Option<&str>,
    project: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let secret = token::generate(kind);
    let record = state
        .db
        .insert_token(
            kind,
            &token::hash(&secret),
            &token::prefix(&secret),
            name,
            user,
            project,
        )
        .await?;
    Ok(HttpResponse::Created().json(json!({"token": record, "secret": secret})))
}

/// The acting user and project the headers resolve to: a way to check a token's reach.
async fn whoami(caller: Caller) -> HttpResponse {
    let kind = match caller.principal {
        Principal::Admin => "admin",
        Principal::User { .. } => "pat",
        Principal::Service { .. } => "service_key",
    };
    HttpResponse::Ok().json(
        json!({"user_id": caller.user_id, "project_id": caller.project_id, "token_kind": kind}),
    )
}
