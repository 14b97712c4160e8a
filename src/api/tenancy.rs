//! Users, projects, members, PATs and service keys. Who may call each route is its rule (see
//! `routes`); the operations are `auth::tenancy`'s. Secrets appear once, in the 201 that
//! creates them; afterwards only their prefix is shown.

use actix_web::{web, HttpResponse};
use ragway_protocol::params::body as from_body;
use ragway_protocol::tenancy::{MemberRequest, MemberStatus, NewProject, NewToken, NewUser};
use serde_json::{json, Value};

use crate::api::routes::Routes;
use crate::api::validate_id;
use crate::auth::policy::Rule;
use crate::auth::{tenancy, Caller, Principal};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    const MEMBER: &str = "/v1/projects/{project_id}/members/{user_id}";
    r.post("/v1/users", Rule::Admin, create_user)
        .get("/v1/users/{user_id}", Rule::User, get_user)
        .patch("/v1/users/{user_id}", Rule::Account, update_user)
        .post("/v1/users/{user_id}/tokens", Rule::User, create_pat)
        .get("/v1/users/{user_id}/tokens", Rule::User, list_pats)
        .post("/v1/projects", Rule::Account, create_project)
        .get("/v1/projects", Rule::Token, list_projects)
        .get(
            "/v1/projects/{project_id}",
            Rule::ProjectMember,
            get_project,
        )
        .get(
            "/v1/projects/{project_id}/members",
            Rule::ProjectMember,
            list_members,
        )
        .put(MEMBER, Rule::ProjectOwner, put_member)
        .delete(MEMBER, Rule::OwnerOrSelf, remove_member)
        .post(
            "/v1/projects/{project_id}/members/{user_id}/accept",
            Rule::Account,
            accept,
        )
        .post(
            "/v1/projects/{project_id}/keys",
            Rule::ProjectOwner,
            create_key,
        )
        .get(
            "/v1/projects/{project_id}/keys",
            Rule::ProjectOwner,
            list_keys,
        )
        .delete("/v1/tokens/{token_id}", Rule::TokenHolder, revoke)
        .get("/v1/whoami", Rule::Project, whoami);
}

fn list(data: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

async fn create_user(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: NewUser = from_body(body.into_inner())?;
    validate_id("id", &body.id)?;
    let user = tenancy::create_user(&state, &body.id, body.name.as_deref()).await?;
    Ok(HttpResponse::Created().json(user))
}

async fn get_user(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(tenancy::account(&state, &p, &path).await?))
}

async fn update_user(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let update = from_body(body.into_inner())?;
    Ok(HttpResponse::Ok().json(tenancy::update_user(&state, &path, update).await?))
}

async fn create_pat(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let issued =
        tenancy::create_pat(&state, &p, &path, from_body::<NewToken>(body.into_inner())?).await?;
    Ok(HttpResponse::Created().json(issued))
}

async fn list_pats(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(list(tenancy::list_pats(&state, &p, &path).await?))
}

async fn create_project(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: NewProject = from_body(body.into_inner())?;
    validate_id("id", &body.id)?;
    let project = tenancy::create_project(&state, &p, body).await?;
    Ok(HttpResponse::Created().json(project))
}

async fn list_projects(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    Ok(list(tenancy::list_projects(&state, &p).await?))
}

async fn get_project(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let project = tenancy::get_project(&state, &caller.project_id).await?;
    Ok(HttpResponse::Ok().json(project))
}

async fn list_members(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(list(tenancy::members(&state, &caller.project_id).await?))
}

/// 200 with the membership when it took effect (the admin token, or a member's new role);
/// 202 with the invitation when the user has to accept first.
async fn put_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: MemberRequest = from_body(body.into_inner())?;
    let member = tenancy::put_member(&state, &caller, &path.1, body.role).await?;
    Ok(match member.status {
        MemberStatus::Invited => HttpResponse::Accepted().json(member),
        MemberStatus::Member => HttpResponse::Ok().json(member),
    })
}

async fn accept(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, user) = path.into_inner();
    Ok(HttpResponse::Ok().json(tenancy::accept(&state, &project, &user).await?))
}

async fn remove_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, user) = (caller.project_id, path.into_inner().1);
    let removed = match tenancy::remove_member(&state, &project, &user).await? {
        MemberStatus::Member => "membership",
        MemberStatus::Invited => "invitation",
    };
    Ok(
        HttpResponse::Ok()
            .json(json!({"project_id": project, "user_id": user, "removed": removed})),
    )
}

async fn create_key(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let issued = tenancy::create_key(
        &state,
        &caller.project_id,
        from_body::<NewToken>(body.into_inner())?,
    )
    .await?;
    Ok(HttpResponse::Created().json(issued))
}

async fn list_keys(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(list(tenancy::list_keys(&state, &caller.project_id).await?))
}

async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenancy::revoke(&state, &path).await?;
    Ok(HttpResponse::Ok().json(json!({"id": path.into_inner(), "revoked": true})))
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
