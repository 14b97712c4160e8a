//! Users, projects, members and tokens: what the tenancy routes do once their rule (`policy`)
//! let them in. Two things are decided here rather than by the rule, because they depend on
//! the operation: a project-scoped PAT sees only its project's share of a user (projects,
//! tokens) and makes nothing outside it; and membership takes consent — an owner invites, the
//! user accepts (the admin token adds directly), and nobody but the user moves their default
//! project.

use ragway_protocol::tenancy::{MemberStatus, NewProject, NewToken, UserUpdate};
use serde::Serialize;

use super::{token, AuthError, Caller, Principal};
use crate::state::AppState;
use crate::store::tenancy::{Member, MemberChange, Project, Removed, Role, Token, TokenKind, User};
use crate::store::StoreError;

/// A token as created: its record and, this once, its secret.
#[derive(Debug, Serialize)]
pub struct Issued {
    pub token: Token,
    pub secret: String,
}

/// A user as their token may see them.
#[derive(Debug, Serialize)]
pub struct Account {
    #[serde(flatten)]
    pub user: User,
    pub projects: Vec<Project>,
    /// Invitations not answered yet (not shown to a project-scoped PAT).
    pub invitations: Vec<Member>,
}

/// The project a PAT is confined to, if any.
fn scope_of(p: &Principal) -> Option<&str> {
    match p {
        Principal::User { scope, .. } => scope.as_deref(),
        _ => None,
    }
}

fn forbidden(message: String) -> AuthError {
    AuthError::Forbidden(message)
}

fn exists_or(err: StoreError, what: String) -> AuthError {
    match err {
        StoreError::Duplicate(_) => AuthError::Exists(what),
        other => other.into(),
    }
}

async fn existing_user(state: &AppState, user: &str) -> Result<User, AuthError> {
    state
        .db
        .get_user(user)
        .await?
        .ok_or_else(|| AuthError::NotFound {
            param: "user_id",
            message: format!("user `{user}` does not exist"),
        })
}

pub async fn create_user(
    state: &AppState,
    id: &str,
    name: Option<&str>,
) -> Result<User, AuthError> {
    let name = name.unwrap_or(id);
    state
        .db
        .create_user(id, name)
        .await
        .map_err(|e| exists_or(e, format!("user `{id}`")))
}

/// The user, their projects and invitations, limited to a scoped PAT's project.
pub async fn account(state: &AppState, p: &Principal, user: &str) -> Result<Account, AuthError> {
    let mut user = existing_user(state, user).await?;
    let mut projects = state.db.user_projects(&user.id).await?;
    let mut invitations = state.db.user_invitations(&user.id).await?;
    if let Some(scope) = scope_of(p) {
        projects.retain(|x| x.id == scope);
        invitations.clear();
        user.default_project_id = user.default_project_id.filter(|d| d == scope);
    }
    Ok(Account {
        user,
        projects,
        invitations,
    })
}

/// Rename a user or choose their default project (one they are a member of, or none).
pub async fn update_user(
    state: &AppState,
    user: &str,
    update: UserUpdate,
) -> Result<User, AuthError> {
    existing_user(state, user).await?;
    if let Some(name) = &update.name {
        if name.trim().is_empty() {
            return Err(AuthError::Invalid {
                param: "name",
                message: "name must not be empty".into(),
            });
        }
        state.db.rename_user(user, name).await?;
    }
    if let Some(default) = &update.default_project_id {
        if let Some(project) = default {
            if state.db.membership(user, project).await?.is_none() {
                return Err(AuthError::Conflict {
                    param: "default_project_id",
                    message: format!("user `{user}` is not a member of project `{project}`"),
                });
            }
        }
        state
            .db
            .set_default_project(user, default.as_deref())
            .await?;
    }
    existing_user(state, user).await
}

/// A PAT for `user`; a scoped PAT may only make PATs scoped to its own project.
pub async fn create_pat(
    state: &AppState,
    p: &Principal,
    user: &str,
    body: NewToken,
) -> Result<Issued, AuthError> {
    if let Some(s) = scope_of(p) {
        if body.project_id.as_deref() != Some(s) {
            return Err(forbidden(format!(
                "a token scoped to `{s}` may only create tokens scoped to `{s}`"
            )));
        }
    }
    existing_user(state, user).await?;
    if let Some(project) = &body.project_id {
        if state.db.membership(user, project).await?.is_none() {
            return Err(AuthError::Conflict {
                param: "project_id",
                message: format!("user `{user}` is not a member of project `{project}`"),
            });
        }
    }
    let name = body.name.as_deref().unwrap_or("personal access token");
    let scope = body.project_id.as_deref();
    issue(state, TokenKind::Pat, name, Some(user), scope).await
}

/// `user`'s PATs; a scoped PAT sees only those scoped to its project.
pub async fn list_pats(
    state: &AppState,
    p: &Principal,
    user: &str,
) -> Result<Vec<Token>, AuthError> {
    existing_user(state, user).await?;
    let mut tokens = state.db.user_tokens(user).await?;
    if let Some(s) = scope_of(p) {
        tokens.retain(|t| t.project_id.as_deref() == Some(s));
    }
    Ok(tokens)
}

/// A new project; a PAT's user owns it, the admin token may name an owner (or none).
pub async fn create_project(
    state: &AppState,
    p: &Principal,
    body: NewProject,
) -> Result<Project, AuthError> {
    let owner = match (p, body.owner) {
        (Principal::User { user_id, .. }, Some(o)) if o != *user_id => {
            return Err(AuthError::Forbidden(
                "only the admin token may name another owner".into(),
            ))
        }
        (Principal::User { user_id, .. }, _) => Some(user_id.clone()),
        (_, owner) => owner,
    };
    if let Some(o) = &owner {
        if state.db.get_user(o).await?.is_none() {
            return Err(AuthError::NotFound {
                param: "owner",
                message: format!("user `{o}` does not exist"),
            });
        }
    }
    let name = body.name.as_deref().unwrap_or(&body.id);
    state
        .db
        .create_project(&body.id, name, owner.as_deref())
        .await
        .map_err(|e| exists_or(e, format!("project `{}`", body.id)))
}

/// The projects a token reaches: all (admin), its user's (a scoped PAT: its one), its own
/// (service key).
pub async fn list_projects(state: &AppState, p: &Principal) -> Result<Vec<Project>, AuthError> {
    Ok(match p {
        Principal::Admin => state.db.list_projects().await?,
        Principal::User { user_id, scope, .. } => {
            let mut projects = state.db.user_projects(user_id).await?;
            projects.retain(|x| scope.as_ref().is_none_or(|s| *s == x.id));
            projects
        }
        Principal::Service { project_id, .. } => state
            .db
            .get_project(project_id)
            .await?
            .into_iter()
            .collect(),
    })
}

pub async fn get_project(state: &AppState, project: &str) -> Result<Project, AuthError> {
    state
        .db
        .get_project(project)
        .await?
        .ok_or_else(|| AuthError::NotFound {
            param: "project_id",
            message: format!("project `{project}` does not exist"),
        })
}

/// Add `user` to the caller's project as `role`. The admin token adds (or changes) directly;
/// an owner changes an existing member's role directly but only invites anyone else — the
/// user joins when they accept. Never demotes the last owner.
pub async fn put_member(
    state: &AppState,
    caller: &Caller,
    user: &str,
    role: Role,
) -> Result<Member, AuthError> {
    existing_user(state, user).await?;
    let project = &caller.project_id;
    let admin = caller.principal.is_admin();
    match state.db.put_member(user, project, role, !admin).await? {
        MemberChange::Added | MemberChange::Changed => member(state, project, user).await,
        MemberChange::LastOwner => Err(last_owner(user, project)),
        MemberChange::NotMember => {
            let by = caller.user_id.as_deref().unwrap_or("admin");
            Ok(state.db.invite(user, project, role, by).await?)
        }
    }
}

fn last_owner(user: &str, project: &str) -> AuthError {
    AuthError::LastOwner {
        user: user.to_owned(),
        project: project.to_owned(),
    }
}

async fn member(state: &AppState, project: &str, user: &str) -> Result<Member, AuthError> {
    let members = state.db.project_members(project).await?;
    members
        .into_iter()
        .find(|m| m.user_id == user && m.status == MemberStatus::Member)
        .ok_or_else(|| AuthError::NotFound {
            param: "user_id",
            message: format!("user `{user}` is not a member of project `{project}`"),
        })
}

/// `user` accepts their invitation to `project`.
pub async fn accept(state: &AppState, project: &str, user: &str) -> Result<Member, AuthError> {
    match state.db.accept_invitation(user, project).await? {
        Some(_) => member(state, project, user).await,
        None => Err(AuthError::NotFound {
            param: "project_id",
            message: format!("user `{user}` has no pending invitation to project `{project}`"),
        }),
    }
}

/// End `user`'s membership of `project` or withdraw their invitation. Their tokens stay as
/// they are; a PAT of theirs stops reaching the project because membership is checked on every
/// request.
pub async fn remove_member(
    state: &AppState,
    project: &str,
    user: &str,
) -> Result<MemberStatus, AuthError> {
    match state.db.remove_member(user, project).await? {
        Removed::Member => Ok(MemberStatus::Member),
        Removed::Invitation => Ok(MemberStatus::Invited),
        Removed::LastOwner => Err(last_owner(user, project)),
        Removed::Nothing => Err(AuthError::NotFound {
            param: "user_id",
            message: format!(
                "user `{user}` is neither a member of nor invited to project `{project}`"
            ),
        }),
    }
}

pub async fn members(state: &AppState, project: &str) -> Result<Vec<Member>, AuthError> {
    Ok(state.db.project_members(project).await?)
}

/// A service key of `project`.
pub async fn create_key(
    state: &AppState,
    project: &str,
    body: NewToken,
) -> Result<Issued, AuthError> {
    if body.project_id.as_deref().is_some_and(|x| x != project) {
        return Err(AuthError::Conflict {
            param: "project_id",
            message: "a service key belongs to the project in the path".into(),
        });
    }
    let name = body.name.as_deref().unwrap_or("service key");
    issue(state, TokenKind::ServiceKey, name, None, Some(project)).await
}

pub async fn list_keys(state: &AppState, project: &str) -> Result<Vec<Token>, AuthError> {
    Ok(state.db.project_keys(project).await?)
}

pub async fn revoke(state: &AppState, token: &str) -> Result<(), AuthError> {
    state.db.revoke_token(token).await?;
    Ok(())
}

/// Make a secret and store its hash; the secret is handed out this once.
async fn issue(
    state: &AppState,
    kind: TokenKind,
    name: &str,
    user: Option<&str>,
    project: Option<&str>,
) -> Result<Issued, AuthError> {
    let secret = token::generate(kind);
    let (hash, prefix) = (token::hash(&secret), token::prefix(&secret));
    let token = state
        .db
        .insert_token(kind, &hash, &prefix, name, user, project)
        .await?;
    Ok(Issued { token, secret })
}
