//! Users, projects, memberships and API tokens. Tokens are stored only as SHA-256 hashes;
//! the secret exists once, in the response that created it.

pub use ragway_protocol::tenancy::{Role, TokenKind};
use serde::Serialize;
use sqlx::FromRow;

use super::{decode, now_ms, Db, StoreError};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct User {
    pub id: String,
    pub name: String,
    pub created_at: i64,
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

const TOKEN_COLUMNS: &str = "id, kind, prefix, name, user_id, project_id, created_at, revoked_at";

impl Db {
    pub async fn create_user(&self, id: &str, name: &str) -> Result<User, StoreError> {
        let user = User {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: now_ms(),
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
        sqlx::query_as("SELECT id, name, created_at FROM users WHERE id = $1")
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
    /// transaction.
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

    /// Add `user` to `project` with `role`, or change the role of an existing member.
    pub async fn set_membership(
        &self,
        user: &str,
        project: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO memberships (user_id, project_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, project_id) DO UPDATE SET role = excluded.role",
        )
        .bind(user)
        .bind(project)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
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
