//! Who may call which route. Every route of the API names one [`Rule`] where it is registered
//! (`api::routes`); [`authorize`] evaluates it before the handler runs and hands the handler
//! the [`Access`] it grants: the principal, and for the rules that act in a project, the
//! [`Caller`]. A project-scoped PAT is confined here: no rule lets it reach another project.
//! Denials: 401 without a valid token, 403 outside the token's reach, 404 for a token id the
//! caller may not touch (as if it did not exist).

use super::{authenticate, not_a_member, resolve, AuthError, Caller, Principal};
use crate::state::AppState;
use crate::store::tenancy::{Role, TokenKind};

/// An authorization rule: which principals may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// No token needed, and a token changes nothing: health, metrics, the API description, the
    /// console's files.
    Public,
    /// Any valid token; what the route answers is limited to the token's reach.
    Token,
    /// The admin token only.
    Admin,
    /// Acts in the project the headers give (`X-PROJECT-ID`, else the PAT's scope, else its
    /// user's default project): a member's PAT within its scope, that project's service key
    /// (with `X-USER-ID`), or the admin token.
    Project,
    /// The path's `{project_id}`: a member's PAT within its scope, that project's service key,
    /// or the admin token.
    ProjectMember,
    /// The path's `{project_id}`: an owner's PAT within its scope, or the admin token.
    ProjectOwner,
    /// `ProjectOwner`, or the path's `{user_id}` themself (a PAT within its scope): to leave a
    /// project or decline an invitation.
    OwnerOrSelf,
    /// The path's `{user_id}`: their own PAT, or the admin token. A project-scoped PAT sees
    /// only what belongs to its project and makes nothing outside it.
    User,
    /// An unscoped PAT (the path's `{user_id}`'s, when the path names one), or the admin token:
    /// acts beyond one project (creating projects, choosing the default, accepting invitations).
    Account,
    /// The path's `{token_id}`: a PAT's own user, an owner of a service key's project, the
    /// token itself, or the admin token — a scoped PAT only for tokens of its project. Anyone
    /// else gets 404.
    TokenHolder,
}

impl Rule {
    pub const ALL: &'static [Rule] = &[
        Rule::Public,
        Rule::Token,
        Rule::Admin,
        Rule::Project,
        Rule::ProjectMember,
        Rule::ProjectOwner,
        Rule::OwnerOrSelf,
        Rule::User,
        Rule::Account,
        Rule::TokenHolder,
    ];

    /// The rule's name in docs/API.md's table.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Public => "public",
            Rule::Token => "token",
            Rule::Admin => "admin",
            Rule::Project => "project",
            Rule::ProjectMember => "project_member",
            Rule::ProjectOwner => "project_owner",
            Rule::OwnerOrSelf => "owner_or_self",
            Rule::User => "user",
            Rule::Account => "account",
            Rule::TokenHolder => "token_holder",
        }
    }

    /// The path parameters the rule reads; a route with this rule must have them.
    pub fn path_params(self) -> &'static [&'static str] {
        match self {
            Rule::ProjectMember | Rule::ProjectOwner => &["project_id"],
            Rule::OwnerOrSelf => &["project_id", "user_id"],
            Rule::User => &["user_id"],
            Rule::TokenHolder => &["token_id"],
            Rule::Public | Rule::Token | Rule::Admin | Rule::Project | Rule::Account => &[],
        }
    }
}

/// What a request names, as far as the rules care: its headers and path parameters.
#[derive(Debug, Default)]
pub struct Request<'a> {
    /// The `Authorization` header's value.
    pub authorization: Option<&'a str>,
    pub user_header: Option<String>,
    pub project_header: Option<String>,
    pub project_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub token_id: Option<&'a str>,
}

/// What a rule granted: who is calling and, for the rules that act in a project, where.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Principal,
    pub caller: Option<Caller>,
}

/// Decide whether `req` may go on under `rule`. `Ok(None)`: a public route, nobody checked.
pub async fn authorize(
    state: &AppState,
    rule: Rule,
    req: Request<'_>,
) -> Result<Option<Access>, AuthError> {
    if rule == Rule::Public {
        return Ok(None);
    }
    let principal = authenticate(state, req.authorization).await?;
    let caller = match rule {
        Rule::Public | Rule::Token => None,
        Rule::Admin => admin(&principal).map(|()| None)?,
        Rule::Project => {
            let (user, project) = (req.user_header, req.project_header);
            Some(resolve(state, principal.clone(), user, project).await?)
        }
        Rule::ProjectMember | Rule::ProjectOwner => {
            let project = param(req.project_id, "project_id")?;
            let owner = rule == Rule::ProjectOwner;
            Some(enter(state, &principal, project, owner, req.user_header).await?)
        }
        Rule::OwnerOrSelf => Some(owner_or_self(state, &principal, &req).await?),
        Rule::User => user(&principal, param(req.user_id, "user_id")?).map(|()| None)?,
        Rule::Account => account(&principal, req.user_id).map(|()| None)?,
        Rule::TokenHolder => {
            let token = param(req.token_id, "token_id")?;
            holder(state, &principal, token).await.map(|()| None)?
        }
    };
    Ok(Some(Access { principal, caller }))
}

/// A path parameter the rule needs; the route table guarantees it (`Rule::path_params`).
fn param<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, AuthError> {
    value.ok_or_else(|| AuthError::Inconsistent(format!("route without `{{{name}}}`")))
}

fn admin(p: &Principal) -> Result<(), AuthError> {
    match p {
        Principal::Admin => Ok(()),
        _ => Err(AuthError::Forbidden(
            "only the admin token may do this".into(),
        )),
    }
}

/// A project-scoped PAT may not reach any other project.
fn in_scope(scope: &Option<String>, project: &str) -> Result<(), AuthError> {
    match scope {
        Some(s) if s != project => Err(AuthError::Forbidden(format!(
            "this token is scoped to project `{s}`, not `{project}`"
        ))),
        _ => Ok(()),
    }
}

/// The principal acting in `project` named by the path (as an owner when `owner`).
async fn enter(
    state: &AppState,
    principal: &Principal,
    project: &str,
    owner: bool,
    user_header: Option<String>,
) -> Result<Caller, AuthError> {
    let user_id = match principal {
        Principal::Admin => {
            if state.db.get_project(project).await?.is_none() {
                return Err(AuthError::NotFound {
                    param: "project_id",
                    message: format!("project `{project}` does not exist"),
                });
            }
            user_header
        }
        Principal::Service { project_id, .. } => {
            service_enters(project_id, project, owner)?;
            user_header
        }
        Principal::User { user_id, scope, .. } => {
            in_scope(scope, project)?;
            match state.db.membership(user_id, project).await? {
                None => return Err(not_a_member(user_id, project)),
                Some(Role::Member) if owner => return Err(owners_only(project)),
                Some(_) => Some(user_id.clone()),
            }
        }
    };
    Ok(Caller {
        principal: principal.clone(),
        user_id,
        project_id: project.to_owned(),
    })
}

fn owners_only(project: &str) -> AuthError {
    AuthError::Forbidden(format!("only an owner of project `{project}` may do this"))
}

/// A service key reads its own project; it manages nothing (no keys, no members).
fn service_enters(own: &str, project: &str, owner: bool) -> Result<(), AuthError> {
    if own != project {
        return Err(AuthError::Forbidden(format!(
            "this service key may not act in project `{project}`"
        )));
    }
    if owner {
        return Err(owners_only(project));
    }
    Ok(())
}

/// The path's user themself (leaving, declining), else an owner of the path's project.
async fn owner_or_self(
    state: &AppState,
    principal: &Principal,
    req: &Request<'_>,
) -> Result<Caller, AuthError> {
    let project = param(req.project_id, "project_id")?;
    let target = param(req.user_id, "user_id")?;
    if let Principal::User { user_id, scope, .. } = principal {
        if user_id == target {
            in_scope(scope, project)?;
            return Ok(Caller {
                principal: principal.clone(),
                user_id: Some(user_id.clone()),
                project_id: project.to_owned(),
            });
        }
    }
    enter(state, principal, project, true, req.user_header.clone()).await
}

fn user(principal: &Principal, target: &str) -> Result<(), AuthError> {
    match principal {
        Principal::Admin => Ok(()),
        Principal::User { user_id, .. } if user_id == target => Ok(()),
        _ => Err(AuthError::Forbidden(format!(
            "this token may not act for user `{target}`"
        ))),
    }
}

fn account(principal: &Principal, target: Option<&str>) -> Result<(), AuthError> {
    match principal {
        Principal::Admin => Ok(()),
        Principal::User { scope: Some(s), .. } => Err(AuthError::Forbidden(format!(
            "a token scoped to project `{s}` may not do this: use an unscoped PAT"
        ))),
        Principal::User { user_id, .. } => match target {
            Some(t) if t != user_id => Err(AuthError::Forbidden(format!(
                "this token may not act for user `{t}`"
            ))),
            _ => Ok(()),
        },
        Principal::Service { .. } => Err(AuthError::Forbidden(
            "a service key may not do this: use a PAT".into(),
        )),
    }
}

/// May `principal` touch token `id`? Anyone who may not is told it does not exist.
async fn holder(state: &AppState, principal: &Principal, id: &str) -> Result<(), AuthError> {
    let hidden = || AuthError::NotFound {
        param: "token_id",
        message: format!("token `{id}` does not exist"),
    };
    let record = state.db.get_token(id).await?.ok_or_else(hidden)?;
    let allowed = match principal {
        Principal::Admin => true,
        Principal::Service { token_id, .. } => *token_id == record.id,
        Principal::User { user_id, scope, .. } => {
            let in_scope = scope.is_none() || *scope == record.project_id;
            in_scope
                && match (record.kind, &record.project_id) {
                    (TokenKind::Pat, _) => record.user_id.as_deref() == Some(user_id.as_str()),
                    (TokenKind::ServiceKey, Some(project)) => {
                        state.db.membership(user_id, project).await? == Some(Role::Owner)
                    }
                    (TokenKind::ServiceKey, None) => false,
                }
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(hidden())
    }
}
