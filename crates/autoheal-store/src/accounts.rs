//! People and programs: workspaces, users, memberships with a role, browser
//! sessions, API keys and invitations.
//!
//! The store never sees a token: sessions, keys and invitations are found by
//! the hex SHA-256 of theirs (`token_hash`), computed by the caller. Nor does
//! it judge a password: it keeps the caller's argon2id PHC string.
//!
//! Scoping: everything a workspace owns is read and changed through its
//! `workspace_id`; there is no lookup of a key, member or invitation by id
//! alone. [`Accounts::authenticate`] is the one lookup by token, and answers
//! the principal the token stands for, with its role clamped to its
//! creator's role today.

use crate::Result;
use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

/// The default workspace: the config file's targets and everything recorded
/// before accounts existed belong to it.
pub const DEFAULT_WORKSPACE: i64 = 1;

/// What a member may do, lowest first: each role may do all the lower ones
/// may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything in the workspace.
    Viewer,
    /// Heal, quarantine, release, pause, resume, acknowledge.
    Operator,
    /// Everything in the workspace, members and keys included.
    Admin,
    /// An admin who can also hand out `owner` and remove the workspace.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn from_db(s: &str) -> Result<Role> {
        Role::parse(s).ok_or_else(|| crate::StoreError::Corrupt(format!("unknown role {s:?}")))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected one of viewer, operator, admin, owner, found {s:?}"
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

/// A user as stored. Its `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub epoch: i64,
    pub failed_logins: i64,
    pub last_failed_at: Option<i64>,
    pub created_at: i64,
    /// The sealed TOTP secret (pending until `totp_enabled`).
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    /// The last TOTP time step accepted.
    pub totp_last_step: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("epoch", &self.epoch)
            .field("failed_logins", &self.failed_logins)
            .field("totp_enabled", &self.totp_enabled)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub at: i64,
}

/// A member of a workspace, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: i64,
    pub workspace_id: i64,
    /// The user's epoch now: the session ends when it moves on.
    pub epoch: i64,
    pub at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub workspace_id: i64,
    /// `None` for a local key (the CLI's token file).
    pub user_id: Option<i64>,
    pub name: String,
    pub hint: String,
    pub token_hash: String,
    pub role: Role,
    pub at: i64,
    pub expires_at: Option<i64>,
}

/// An API key as the API shows it: never the key, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub workspace_id: i64,
    /// Who made it; null for a local key.
    pub user_id: Option<i64>,
    pub name: String,
    /// The key's prefix and last characters, to recognise it.
    pub hint: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewInvite {
    pub workspace_id: i64,
    pub token_hash: String,
    pub role: Role,
    pub created_by: Option<i64>,
    pub at: i64,
    pub expires_at: i64,
}

/// An invitation once taken: where the new member goes, as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenInvite {
    pub workspace_id: i64,
    pub role: Role,
}

/// What a token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
    Key,
}

/// Who a valid token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub kind: CredentialKind,
    /// The session's or the key's id.
    pub credential_id: i64,
    pub workspace_id: i64,
    pub user_id: Option<i64>,
    /// The user's name, or the key's name for a local key.
    pub name: String,
    /// For a key: the lower of its own role and its creator's role now.
    pub role: Role,
    /// The user's epoch (sessions) at the time of the lookup.
    pub epoch: i64,
    pub last_seen_at: i64,
}

/// Accounts, implemented by both backends with the same SQL
/// ([`accounts_impl`]). Every method is one transaction.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn count_users(&self) -> Result<i64>;
    /// `StoreError::Conflict` when the username or e-mail is taken.
    async fn create_user(&self, user: &NewUser) -> Result<i64>;
    /// [`Accounts::create_user`] and a membership, in one transaction.
    async fn create_member(&self, user: &NewUser, workspace_id: i64, role: Role) -> Result<i64>;
    /// [`Accounts::create_user`], a new workspace named `workspace`, and the
    /// user as its owner, in one transaction. Returns (user, workspace).
    async fn create_user_with_workspace(
        &self,
        user: &NewUser,
        workspace: &str,
    ) -> Result<(i64, i64)>;
    /// By username or e-mail (lower case).
    async fn find_user(&self, login: &str) -> Result<Option<UserRow>>;
    async fn get_user(&self, id: i64) -> Result<Option<UserRow>>;
    /// Every user, by id (for the local CLI).
    async fn list_users(&self) -> Result<Vec<UserRow>>;
    /// Removes a user with their sessions, keys and memberships.
    async fn delete_user(&self, id: i64) -> Result<bool>;
    /// Sets a new hash. With `end_sessions`, bumps the epoch and deletes the
    /// user's sessions (a password change); without (a rehash on login),
    /// nothing else changes.
    async fn set_password(&self, id: i64, hash: &str, end_sessions: bool) -> Result<()>;
    /// Counts a failed login; returns the failures in a row.
    async fn login_failed(&self, id: i64, at: i64) -> Result<i64>;
    async fn login_succeeded(&self, id: i64) -> Result<()>;

    async fn create_workspace(&self, name: &str, at: i64) -> Result<i64>;
    async fn list_workspaces(&self) -> Result<Vec<Workspace>>;
    async fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>>;
    /// The workspaces `user_id` belongs to, with their role, by id.
    async fn memberships(&self, user_id: i64) -> Result<Vec<(Workspace, Role)>>;
    async fn members(&self, workspace_id: i64) -> Result<Vec<Member>>;
    /// Adds or changes a membership.
    async fn set_member(&self, workspace_id: i64, user_id: i64, role: Role) -> Result<()>;
    /// Removes a membership and the keys the user made in the workspace.
    async fn remove_member(&self, workspace_id: i64, user_id: i64) -> Result<bool>;

    async fn create_session(&self, s: &NewSession) -> Result<i64>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Keeps an active session from idling out.
    async fn touch_session(&self, id: i64, at: i64) -> Result<()>;

    async fn create_key(&self, key: &NewKey) -> Result<i64>;
    async fn list_keys(&self, workspace_id: i64) -> Result<Vec<ApiKey>>;
    /// Revokes a key of the workspace; false when there is none.
    async fn revoke_key(&self, workspace_id: i64, id: i64, at: i64) -> Result<bool>;
    /// Revokes the workspace's unrevoked local keys named `name`; returns
    /// how many.
    async fn revoke_local_keys(&self, workspace_id: i64, name: &str, at: i64) -> Result<u64>;
    async fn touch_key(&self, id: i64, at: i64) -> Result<()>;

    async fn create_invite(&self, invite: &NewInvite) -> Result<i64>;
    /// Takes an unused, unexpired invitation (once).
    async fn take_invite(&self, token_hash: &str, at: i64) -> Result<Option<TakenInvite>>;

    /// Sets (or, with `None`, clears) a user's sealed TOTP secret and
    /// whether it is in force; clearing also drops the recovery codes.
    async fn set_totp(&self, user_id: i64, sealed: Option<&str>, enabled: bool) -> Result<()>;
    /// Accepts TOTP time step `step` once: false when it (or a later one)
    /// was accepted already (a replayed code).
    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool>;
    /// Replaces a user's recovery codes (their hashes).
    async fn set_recovery_codes(&self, user_id: i64, hashes: &[String]) -> Result<()>;
    /// Spends one unused recovery code; false when there is none such.
    async fn use_recovery_code(&self, user_id: i64, hash: &str, at: i64) -> Result<bool>;
    /// How many unused recovery codes a user has left.
    async fn recovery_codes_left(&self, user_id: i64) -> Result<i64>;

    /// The workspace an incident belongs to.
    async fn workspace_of_incident(&self, id: i64) -> Result<Option<i64>>;
    /// The workspace a stored target belongs to.
    async fn workspace_of_target(&self, name: &str) -> Result<Option<i64>>;

    /// The principal a session or key token stands for, if it is valid at
    /// `now`: a session not past its absolute or idle timeout and made at
    /// the user's current epoch; a key not revoked, not expired, whose
    /// creator is still a member.
    async fn authenticate(
        &self,
        token_hash: &str,
        now: i64,
        session_idle_ms: i64,
    ) -> Result<Option<Authenticated>>;
}

pub(crate) fn user_row<R: sqlx::Row>(r: &R) -> Result<UserRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserRow {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        epoch: r.try_get("epoch")?,
        failed_logins: r.try_get("failed_logins")?,
        last_failed_at: r.try_get("last_failed_at")?,
        created_at: r.try_get("created_at")?,
        totp_secret: r.try_get("totp_secret")?,
        totp_enabled: r.try_get("totp_enabled")?,
        totp_last_step: r.try_get("totp_last_step")?,
    })
}

pub(crate) fn key_row<R: sqlx::Row>(r: &R) -> Result<ApiKey>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = r.try_get("role")?;
    Ok(ApiKey {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        hint: r.try_get("hint")?,
        role: Role::from_db(&role)?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub(crate) fn role_of(s: &str) -> Result<Role> {
    Role::from_db(s)
}

/// A unique violation becomes [`crate::StoreError::Conflict`] naming `what`.
pub(crate) fn conflict(e: sqlx::Error, what: &str) -> crate::StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            crate::StoreError::Conflict(format!("{what} is taken"))
        }
        _ => e.into(),
    }
}

const USER_COLUMNS: &str = "id, username, email, password_hash, epoch, failed_logins, \
     last_failed_at, created_at, totp_secret, totp_enabled, totp_last_step";
pub(crate) const KEY_COLUMNS: &str = "id, workspace_id, user_id, name, hint, role, created_at, \
     expires_at, last_used_at, revoked_at";

pub(crate) fn user_select(filter: &str) -> String {
    format!("SELECT {USER_COLUMNS} FROM users WHERE {filter}")
}

/// The [`Accounts`] implementation, for a store type with a `pool` field and
/// a `begin_write()` method. The SQL is the same in both dialects.
macro_rules! accounts_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::accounts::Accounts for $store {
            async fn count_users(&self) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn create_user(&self, u: &$crate::accounts::NewUser) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id = $crate::accounts::insert_user!(tx, u);
                tx.commit().await?;
                Ok(id)
            }

            async fn create_member(
                &self,
                u: &$crate::accounts::NewUser,
                workspace_id: i64,
                role: $crate::accounts::Role,
            ) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id = $crate::accounts::insert_user!(tx, u);
                sqlx::query(
                    "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)",
                )
                .bind(workspace_id)
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::common::fk_not_found(e, || format!("workspace {workspace_id}")))?;
                tx.commit().await?;
                Ok(id)
            }

            async fn create_user_with_workspace(
                &self,
                u: &$crate::accounts::NewUser,
                workspace: &str,
            ) -> $crate::Result<(i64, i64)> {
                let mut tx = self.begin_write().await?;
                let id = $crate::accounts::insert_user!(tx, u);
                let ws: i64 = sqlx::query_scalar(
                    "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id",
                )
                .bind(workspace)
                .bind(u.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| $crate::accounts::conflict(e, "the workspace name"))?;
                sqlx::query(
                    "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'owner')",
                )
                .bind(ws)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((id, ws))
            }

            async fn find_user(
                &self,
                login: &str,
            ) -> $crate::Result<Option<$crate::accounts::UserRow>> {
                let sql = $crate::accounts::user_select("username = $1 OR email = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(login)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map($crate::accounts::user_row).transpose()
            }

            async fn get_user(&self, id: i64) -> $crate::Result<Option<$crate::accounts::UserRow>> {
                let sql = $crate::accounts::user_select("id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map($crate::accounts::user_row).transpose()
            }

            async fn list_users(&self) -> $crate::Result<Vec<$crate::accounts::UserRow>> {
                let sql = $crate::accounts::user_select("1 = 1 ORDER BY id");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($crate::accounts::user_row).collect()
            }

            async fn delete_user(&self, id: i64) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                for sql in [
                    "DELETE FROM sessions WHERE user_id = $1",
                    "DELETE FROM api_keys WHERE user_id = $1",
                    "DELETE FROM memberships WHERE user_id = $1",
                ] {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
                let n = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn set_password(
                &self,
                id: i64,
                hash: &str,
                end_sessions: bool,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let bump = if end_sessions { 1_i64 } else { 0 };
                let n = sqlx::query(
                    "UPDATE users SET password_hash = $2, epoch = epoch + $3 WHERE id = $1",
                )
                .bind(id)
                .bind(hash)
                .bind(bump)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound(format!("user {id}")));
                }
                if end_sessions {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn login_failed(&self, id: i64, at: i64) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let n: Option<i64> = sqlx::query_scalar(
                    "UPDATE users SET failed_logins = failed_logins + 1, last_failed_at = $2 \
                     WHERE id = $1 RETURNING failed_logins",
                )
                .bind(id)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(n.unwrap_or(0))
            }

            async fn login_succeeded(&self, id: i64) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE users SET failed_logins = 0, last_failed_at = NULL \
                     WHERE id = $1 AND failed_logins <> 0",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_workspace(&self, name: &str, at: i64) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id",
                )
                .bind(name)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| $crate::accounts::conflict(e, "the workspace name"))?;
                tx.commit().await?;
                Ok(id)
            }

            async fn list_workspaces(&self) -> $crate::Result<Vec<$crate::accounts::Workspace>> {
                let rows: Vec<(i64, String, i64)> =
                    sqlx::query_as("SELECT id, name, created_at FROM workspaces ORDER BY id")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, name, created_at)| $crate::accounts::Workspace {
                        id,
                        name,
                        created_at,
                    })
                    .collect())
            }

            async fn workspace_by_name(
                &self,
                name: &str,
            ) -> $crate::Result<Option<$crate::accounts::Workspace>> {
                let row: Option<(i64, String, i64)> =
                    sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(id, name, created_at)| $crate::accounts::Workspace {
                    id,
                    name,
                    created_at,
                }))
            }

            async fn memberships(
                &self,
                user_id: i64,
            ) -> $crate::Result<Vec<($crate::accounts::Workspace, $crate::accounts::Role)>> {
                let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
                    "SELECT w.id, w.name, w.created_at, m.role FROM memberships m \
                     JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, name, created_at, role)| {
                        Ok((
                            $crate::accounts::Workspace {
                                id,
                                name,
                                created_at,
                            },
                            $crate::accounts::role_of(&role)?,
                        ))
                    })
                    .collect()
            }

            async fn members(&self, workspace_id: i64) -> $crate::Result<Vec<$crate::accounts::Member>> {
                let rows: Vec<(i64, String, Option<String>, String, i64)> = sqlx::query_as(
                    "SELECT u.id, u.username, u.email, m.role, u.created_at FROM memberships m \
                     JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.id",
                )
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(user_id, username, email, role, created_at)| {
                        Ok($crate::accounts::Member {
                            user_id,
                            username,
                            email,
                            role: $crate::accounts::role_of(&role)?,
                            created_at,
                        })
                    })
                    .collect()
            }

            async fn set_member(
                &self,
                workspace_id: i64,
                user_id: i64,
                role: $crate::accounts::Role,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3) \
                     ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(workspace_id)
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    $crate::common::fk_not_found(e, || {
                        format!("workspace {workspace_id} or user {user_id}")
                    })
                })?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(&self, workspace_id: i64, user_id: i64) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM sessions WHERE workspace_id = $1 AND user_id = $2")
                    .bind(workspace_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM api_keys WHERE workspace_id = $1 AND user_id = $2")
                    .bind(workspace_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let n = sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                    .bind(workspace_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn create_session(&self, s: &$crate::accounts::NewSession) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sessions (token_hash, user_id, workspace_id, epoch, created_at, \
                     last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
                )
                .bind(&s.token_hash)
                .bind(s.user_id)
                .bind(s.workspace_id)
                .bind(s.epoch)
                .bind(s.at)
                .bind(s.expires_at)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn delete_session(&self, token_hash: &str) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn touch_session(&self, id: i64, at: i64) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_key(&self, k: &$crate::accounts::NewKey) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_keys (workspace_id, user_id, name, hint, token_hash, role, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(k.workspace_id)
                .bind(k.user_id)
                .bind(&k.name)
                .bind(&k.hint)
                .bind(&k.token_hash)
                .bind(k.role.as_str())
                .bind(k.at)
                .bind(k.expires_at)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn list_keys(&self, workspace_id: i64) -> $crate::Result<Vec<$crate::accounts::ApiKey>> {
                let sql = format!(
                    "SELECT {} FROM api_keys WHERE workspace_id = $1 ORDER BY id",
                    $crate::accounts::KEY_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(workspace_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($crate::accounts::key_row).collect()
            }

            async fn revoke_key(&self, workspace_id: i64, id: i64, at: i64) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let exists: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM api_keys WHERE workspace_id = $1 AND id = $2",
                )
                .bind(workspace_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 \
                     WHERE workspace_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(workspace_id)
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(exists.is_some())
            }

            async fn revoke_local_keys(
                &self,
                workspace_id: i64,
                name: &str,
                at: i64,
            ) -> $crate::Result<u64> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE workspace_id = $1 AND name = $2 \
                     AND user_id IS NULL AND revoked_at IS NULL",
                )
                .bind(workspace_id)
                .bind(name)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn touch_key(&self, id: i64, at: i64) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $2 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_invite(&self, i: &$crate::accounts::NewInvite) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO invites (workspace_id, token_hash, role, created_by, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(i.workspace_id)
                .bind(&i.token_hash)
                .bind(i.role.as_str())
                .bind(i.created_by)
                .bind(i.at)
                .bind(i.expires_at)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn take_invite(
                &self,
                token_hash: &str,
                at: i64,
            ) -> $crate::Result<Option<$crate::accounts::TakenInvite>> {
                let mut tx = self.begin_write().await?;
                let row: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE invites SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                     AND expires_at > $2 RETURNING workspace_id, role",
                )
                .bind(token_hash)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(|(workspace_id, role)| {
                    Ok($crate::accounts::TakenInvite {
                        workspace_id,
                        role: $crate::accounts::role_of(&role)?,
                    })
                })
                .transpose()
            }

            async fn set_totp(
                &self,
                user_id: i64,
                sealed: Option<&str>,
                enabled: bool,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE users SET totp_secret = $2, totp_enabled = $3, totp_last_step = 0 \
                     WHERE id = $1",
                )
                .bind(user_id)
                .bind(sealed)
                .bind(enabled)
                .execute(&mut *tx)
                .await?;
                if sealed.is_none() {
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn use_totp_step(&self, user_id: i64, step: i64) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
                )
                .bind(user_id)
                .bind(step)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn set_recovery_codes(&self, user_id: i64, hashes: &[String]) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                for h in hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                        .bind(user_id)
                        .bind(h)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn use_recovery_code(&self, user_id: i64, hash: &str, at: i64) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user_id)
                .bind(hash)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn recovery_codes_left(&self, user_id: i64) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn workspace_of_incident(&self, id: i64) -> $crate::Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT workspace_id FROM incidents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn workspace_of_target(&self, name: &str) -> $crate::Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT workspace_id FROM targets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn authenticate(
                &self,
                token_hash: &str,
                now: i64,
                session_idle_ms: i64,
            ) -> $crate::Result<Option<$crate::accounts::Authenticated>> {
                use $crate::accounts::{Authenticated, CredentialKind, Role};
                let session: Option<(i64, i64, i64, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT s.id, s.workspace_id, u.id, u.username, m.role, u.epoch, s.last_seen_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     JOIN memberships m ON m.workspace_id = s.workspace_id AND m.user_id = u.id \
                     WHERE s.token_hash = $1 AND s.epoch = u.epoch AND s.expires_at > $2 \
                     AND s.last_seen_at > $3",
                )
                .bind(token_hash)
                .bind(now)
                .bind(now.saturating_sub(session_idle_ms))
                .fetch_optional(&self.pool)
                .await?;
                if let Some((id, ws, user, name, role, epoch, seen)) = session {
                    return Ok(Some(Authenticated {
                        kind: CredentialKind::Session,
                        credential_id: id,
                        workspace_id: ws,
                        user_id: Some(user),
                        name,
                        role: $crate::accounts::role_of(&role)?,
                        epoch,
                        last_seen_at: seen,
                    }));
                }
                // A key: its creator must still be a member (their role
                // caps the key's); a local key has no creator.
                let key: Option<(i64, i64, Option<i64>, String, String, Option<String>, Option<String>, Option<i64>)> =
                    sqlx::query_as(
                        "SELECT k.id, k.workspace_id, k.user_id, k.name, k.role, m.role, u.username, \
                         k.last_used_at FROM api_keys k \
                         LEFT JOIN memberships m ON m.workspace_id = k.workspace_id AND m.user_id = k.user_id \
                         LEFT JOIN users u ON u.id = k.user_id \
                         WHERE k.token_hash = $1 AND k.revoked_at IS NULL \
                         AND (k.expires_at IS NULL OR k.expires_at > $2)",
                    )
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some((id, ws, user, name, role, member_role, username, used)) = key else {
                    return Ok(None);
                };
                let own: Role = $crate::accounts::role_of(&role)?;
                let role = match (user, member_role) {
                    (None, _) => own,
                    (Some(_), Some(m)) => own.min($crate::accounts::role_of(&m)?),
                    (Some(_), None) => return Ok(None),
                };
                Ok(Some(Authenticated {
                    kind: CredentialKind::Key,
                    credential_id: id,
                    workspace_id: ws,
                    user_id: user,
                    name: username.map(|u| format!("{u}/{name}")).unwrap_or(name),
                    role,
                    epoch: 0,
                    last_seen_at: used.unwrap_or(0),
                }))
            }
        }
    };
}
pub(crate) use accounts_impl;

/// Inserts a user in `$tx`, mapping a taken name to a conflict.
macro_rules! insert_user {
    ($tx:ident, $u:expr) => {{
        let u = $u;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, email, password_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&u.username)
        .bind(&u.email)
        .bind(&u.password_hash)
        .bind(u.at)
        .fetch_one(&mut *$tx)
        .await
        .map_err(|e| $crate::accounts::conflict(e, "the username or e-mail"))?;
        id
    }};
}
pub(crate) use insert_user;
