//! Users, projects, memberships, invitations and API tokens. Tokens are stored only as
//! SHA-256 hashes; the secret exists once, in the response that created it. Membership changes
//! that must keep a project owned (demoting or removing an owner) run in one write
//! transaction that holds the project's row, so two owners removing each other cannot both win.

pub use ragway_protocol::tenancy::{MemberStatus, Role, TokenKind};
use serde::Serialize;
use sqlx::FromRow;

use super::{decode, now_ms, Db, StoreError};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct User {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// Where the user's PATs act when `X-PROJECT-ID` is omitted; set to their first project,
    /// changed only by the user (or the admin token).
    pub default_project_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// A token's public record (never its secret or hash).
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Token {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: TokenKind,
    /// The first characters of the secret, to recognise it in a list.
    pub prefix: String,
    pub name: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A member of a project, or a user invited to it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Member {
    pub project_id: String,
    pub user_id: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    #[sqlx(try_from = "String")]
    pub status: MemberStatus,
    /// For an invitation: the owner who sent it.
    pub invited_by: Option<String>,
    pub created_at: i64,
}

/// What `put_member` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// The user was not a member and now is (a pending invitation is consumed).
    Added,
    /// The member's role is now the one asked for (it may have been already).
    Changed,
    /// `existing_only` was asked and the user is not a member: nothing changed.
    NotMember,
    /// The change would leave the project without an owner: nothing changed.
    LastOwner,
}

/// What `remove_member` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Member,
    Invitation,
    /// The user is the project's last owner: nothing changed.
    LastOwner,
    /// Neither a member nor invited.
    Nothing,
}

const USER_COLUMNS: &str = "id, name, created_at, default_project_id";
const MEMBER_SQL: &str = "SELECT project_id, user_id, role, 'member' AS status, \
     CAST(NULL AS TEXT) AS invited_by, created_at FROM memberships WHERE {where} \
     UNION ALL SELECT project_id, user_id, role, 'invited' AS status, invited_by, created_at \
     FROM invitations WHERE {where} ORDER BY status DESC, user_id, project_id";

const TOKEN_COLUMNS: &str = "id, kind, prefix, name, user_id, project_id, created_at, revoked_at";

impl Db {
    pub async fn create_user(&self, id: &str, name: &str) -> Result<User, StoreError> {
        let user = User {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: now_ms(),
            default_project_id: None,
        };
        sqlx::query("INSERT INTO users (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&user.id)
            .bind(&user.name)
            .bind(user.created_at)
            .execute(&self.pool)
            .await?;
        Ok(user)
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Create a project; when `owner` is given, it becomes the project's owner in the same
    /// transaction (and their default project, if they had none).
    pub async fn create_project(
        &self,
        id: &str,
        name: &str,
        owner: Option<&str>,
    ) -> Result<Project, StoreError> {
        let project = Project {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&project.id)
            .bind(&project.name)
            .bind(project.created_at)
            .execute(&mut *tx)
            .await?;
        if let Some(user) = owner {
            sqlx::query(
                "INSERT INTO memberships (user_id, project_id, role, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(user)
            .bind(&project.id)
            .bind(Role::Owner.as_str())
            .bind(project.created_at)
            .execute(&mut *tx)
            .await?;
            default_if_none(&mut tx, user, &project.id).await?;
        }
        tx.commit().await?;
        Ok(project)
    }

    pub async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        sqlx::query_as("SELECT id, name, created_at FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        sqlx::query_as("SELECT id, name, created_at FROM projects ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// The projects `user` is a member of, ordered by id.
    pub async fn user_projects(&self, user: &str) -> Result<Vec<Project>, StoreError> {
        sqlx::query_as(
            "SELECT p.id, p.name, p.created_at FROM projects p \
             JOIN memberships m ON m.project_id = p.id WHERE m.user_id = $1 ORDER BY p.id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// `user`'s role in `project`, if a member.
    pub async fn membership(&self, user: &str, project: &str) -> Result<Option<Role>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT role FROM memberships WHERE user_id = $1 AND project_id = $2")
                .bind(user)
                .bind(project)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(role,)| decode(role)).transpose()
    }

    /// Set `user`'s default project (None: none, `X-PROJECT-ID` is then required).
    pub async fn set_default_project(
        &self,
        user: &str,
        project: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET default_project_id = $2 WHERE id = $1")
            .bind(user)
            .bind(project)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn rename_user(&self, user: &str, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
            .bind(user)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Make `user` a member of `project` with `role`, or change an existing member's role;
    /// with `existing_only`, only the latter. Refuses (`LastOwner`) to demote the last owner.
    /// A new member's pending invitation is consumed, and the project becomes their default
    /// if they had none.
    pub async fn put_member(
        &self,
        user: &str,
        project: &str,
        role: Role,
        existing_only: bool,
    ) -> Result<MemberChange, StoreError> {
        let mut tx = self.begin_write().await?;
        self.lock_project(&mut tx, project).await?;
        let current = role_in(&mut tx, user, project).await?;
        let change = match current {
            None if existing_only => MemberChange::NotMember,
            Some(Role::Owner) if role != Role::Owner && owners(&mut tx, project).await? <= 1 => {
                MemberChange::LastOwner
            }
            Some(_) => {
                sqlx::query(
                    "UPDATE memberships SET role = $3 WHERE user_id = $1 AND project_id = $2",
                )
                .bind(user)
                .bind(project)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
                MemberChange::Changed
            }
            None => {
                join(&mut tx, user, project, role).await?;
                MemberChange::Added
            }
        };
        tx.commit().await?;
        Ok(change)
    }

    /// Invite `user` to `project` as `role` (again: the newer role wins). Grants nothing until
    /// accepted.
    pub async fn invite(
        &self,
        user: &str,
        project: &str,
        role: Role,
        invited_by: &str,
    ) -> Result<Member, StoreError> {
        let created_at = now_ms();
        sqlx::query(
            "INSERT INTO invitations (project_id, user_id, role, invited_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, user_id) DO UPDATE \
             SET role = excluded.role, invited_by = excluded.invited_by, created_at = excluded.created_at",
        )
        .bind(project)
        .bind(user)
        .bind(role.as_str())
        .bind(invited_by)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
        Ok(Member {
            project_id: project.to_owned(),
            user_id: user.to_owned(),
            role,
            status: MemberStatus::Invited,
            invited_by: Some(invited_by.to_owned()),
            created_at,
        })
    }

    /// Turn `user`'s invitation to `project` into a membership; None when there is none. A
    /// user who became a member meanwhile (the admin added them) keeps their role.
    pub async fn accept_invitation(
        &self,
        user: &str,
        project: &str,
    ) -> Result<Option<Role>, StoreError> {
        let mut tx = self.begin_write().await?;
        self.lock_project(&mut tx, project).await?;
        let invited: Option<(String,)> = sqlx::query_as(
            "DELETE FROM invitations WHERE user_id = $1 AND project_id = $2 RETURNING role",
        )
        .bind(user)
        .bind(project)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((invited,)) = invited else {
            return Ok(None);
        };
        let role = match role_in(&mut tx, user, project).await? {
            Some(role) => role,
            None => {
                let role: Role = decode(invited)?;
                join(&mut tx, user, project, role).await?;
                role
            }
        };
        tx.commit().await?;
        Ok(Some(role))
    }

    /// End `user`'s membership of `project`, or withdraw their invitation; never the last
    /// owner's membership. The user's tokens are left as they are: membership is checked on
    /// every request, so their PATs stop reaching the project at once.
    pub async fn remove_member(&self, user: &str, project: &str) -> Result<Removed, StoreError> {
        let mut tx = self.begin_write().await?;
        self.lock_project(&mut tx, project).await?;
        let removed = match role_in(&mut tx, user, project).await? {
            Some(Role::Owner) if owners(&mut tx, project).await? <= 1 => Removed::LastOwner,
            Some(_) => {
                sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND project_id = $2")
                    .bind(user)
                    .bind(project)
                    .execute(&mut *tx)
                    .await?;
                Removed::Member
            }
            None => {
                let done =
                    sqlx::query("DELETE FROM invitations WHERE user_id = $1 AND project_id = $2")
                        .bind(user)
                        .bind(project)
                        .execute(&mut *tx)
                        .await?;
                if done.rows_affected() > 0 {
                    Removed::Invitation
                } else {
                    Removed::Nothing
                }
            }
        };
        tx.commit().await?;
        Ok(removed)
    }

    /// A project's members and pending invitations: members first, then by user.
    pub async fn project_members(&self, project: &str) -> Result<Vec<Member>, StoreError> {
        self.members_where("project_id = $1", project).await
    }

    /// The invitations `user` has not answered yet.
    pub async fn user_invitations(&self, user: &str) -> Result<Vec<Member>, StoreError> {
        let mut all = self.members_where("user_id = $1", user).await?;
        all.retain(|m| m.status == MemberStatus::Invited);
        Ok(all)
    }

    async fn members_where(&self, condition: &str, arg: &str) -> Result<Vec<Member>, StoreError> {
        sqlx::query_as(&MEMBER_SQL.replace("{where}", condition))
            .bind(arg)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Serialize membership changes of one project: PostgreSQL locks its row until the
    /// transaction ends; on SQLite `begin_write` already holds the database's write lock.
    async fn lock_project(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        project: &str,
    ) -> Result<(), StoreError> {
        if self.kind == crate::config::DatabaseKind::Postgres {
            sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
                .bind(project)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Store a new token's hash. The caller made the secret and hands it out once.
    pub async fn insert_token(
        &self,
        kind: TokenKind,
        token_hash: &str,
        prefix: &str,
        name: &str,
        user_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<Token, StoreError> {
        let token = Token {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            prefix: prefix.to_owned(),
            name: name.to_owned(),
            user_id: user_id.map(str::to_owned),
            project_id: project_id.map(str::to_owned),
            created_at: now_ms(),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, kind, token_hash, prefix, name, user_id, project_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.id)
        .bind(kind.as_str())
        .bind(token_hash)
        .bind(&token.prefix)
        .bind(&token.name)
        .bind(&token.user_id)
        .bind(&token.project_id)
        .bind(token.created_at)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The live (unrevoked) token with this hash.
    pub async fn active_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Token>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    pub async fn get_token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// A user's PATs, newest first.
    pub async fn user_tokens(&self, user_id: &str) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("user_id = $1 AND kind = 'pat'", user_id)
            .await
    }

    /// A project's service keys, newest first.
    pub async fn project_keys(&self, project_id: &str) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("project_id = $1 AND kind = 'service_key'", project_id)
            .await
    }

    async fn tokens_where(&self, condition: &str, arg: &str) -> Result<Vec<Token>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE {condition} ORDER BY created_at DESC, id"
        ))
        .bind(arg)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Revoke; returns false when the token did not exist. Revoking twice keeps the first time.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// `user`'s role in `project`, inside a transaction.
async fn role_in(
    conn: &mut sqlx::AnyConnection,
    user: &str,
    project: &str,
) -> Result<Option<Role>, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT role FROM memberships WHERE user_id = $1 AND project_id = $2")
            .bind(user)
            .bind(project)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|(role,)| decode(role)).transpose()
}

/// How many owners `project` has, inside a transaction.
async fn owners(conn: &mut sqlx::AnyConnection, project: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE project_id = $1 AND role = $2")
            .bind(project)
            .bind(Role::Owner.as_str())
            .fetch_one(&mut *conn)
            .await?;
    Ok(n)
}

/// Insert a membership, drop the user's invitation to the project, and make it their default
/// project if they had none.
async fn join(
    conn: &mut sqlx::AnyConnection,
    user: &str,
    project: &str,
    role: Role,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO memberships (user_id, project_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user)
    .bind(project)
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM invitations WHERE user_id = $1 AND project_id = $2")
        .bind(user)
        .bind(project)
        .execute(&mut *conn)
        .await?;
    default_if_none(conn, user, project).await
}

/// The user's first project becomes their default; later ones never replace it.
async fn default_if_none(
    conn: &mut sqlx::AnyConnection,
    user: &str,
    project: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET default_project_id = $2 WHERE id = $1 AND default_project_id IS NULL",
    )
    .bind(user)
    .bind(project)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
