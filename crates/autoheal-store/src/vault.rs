//! The secrets vault's rows: third-party credentials (platform API keys,
//! SMTP passwords, webhook URLs, HMAC secrets), each one a ciphertext the
//! store cannot read.
//!
//! The caller seals: [`Vault::put_secret`] hands the row's id to a sealing
//! function inside the write transaction, so the ciphertext can be bound to
//! its own row (the associated data names workspace, kind, row and key id)
//! and a row is never visible without its ciphertext.

use crate::Result;
use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

/// A sealed value: which key, the nonce and the ciphertext (with its tag).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// Hex.
    pub nonce: String,
    /// Hex.
    pub ciphertext: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A stored secret with its ciphertext (for the vault only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub id: i64,
    pub workspace_id: i64,
    pub kind: String,
    pub name: String,
    pub sealed: Sealed,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the API shows of a secret: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SecretInfo {
    pub name: String,
    pub kind: String,
    /// Always true: a listed secret has a value (write-only).
    pub set: bool,
    pub key_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Seals a value for the row with this id.
pub type SealFn<'a> = &'a (dyn Fn(i64) -> std::result::Result<Sealed, String> + Send + Sync);
/// Re-seals a stored row (key rotation).
pub type ResealFn<'a> =
    &'a (dyn Fn(&SecretRow) -> std::result::Result<Sealed, String> + Send + Sync);

#[async_trait]
pub trait Vault: Send + Sync {
    /// Creates or replaces `name` in `workspace_id`, sealed by `seal` with
    /// the row's id, in one transaction. Returns (id, created).
    async fn put_secret(
        &self,
        workspace_id: i64,
        kind: &str,
        name: &str,
        at: i64,
        seal: SealFn<'_>,
    ) -> Result<(i64, bool)>;
    async fn get_secret(&self, workspace_id: i64, name: &str) -> Result<Option<SecretRow>>;
    async fn list_secrets(&self, workspace_id: i64) -> Result<Vec<SecretInfo>>;
    async fn delete_secret(&self, workspace_id: i64, name: &str) -> Result<bool>;
    /// Re-seals every secret of every workspace, and every config object
    /// made through the API, in one transaction: all or none. Returns how
    /// many.
    async fn reseal_all(&self, reseal: ResealFn<'_>) -> Result<u64>;
}

pub(crate) fn secret_row<R: sqlx::Row>(r: &R) -> Result<SecretRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SecretRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        sealed: Sealed {
            key_id: r.try_get("key_id")?,
            nonce: r.try_get("nonce")?,
            ciphertext: r.try_get("ciphertext")?,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) const SECRET_COLUMNS: &str =
    "id, workspace_id, kind, name, key_id, nonce, ciphertext, created_at, updated_at";

/// The [`Vault`] implementation for a store type with a `pool` field and a
/// `begin_write()` method; the same SQL in both dialects.
macro_rules! vault_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::vault::Vault for $store {
            async fn put_secret(
                &self,
                workspace_id: i64,
                kind: &str,
                name: &str,
                at: i64,
                seal: $crate::vault::SealFn<'_>,
            ) -> $crate::Result<(i64, bool)> {
                let mut tx = self.begin_write().await?;
                let existing: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM secrets WHERE workspace_id = $1 AND name = $2",
                )
                .bind(workspace_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
                let (id, created) = match existing {
                    Some(id) => (id, false),
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO secrets (workspace_id, kind, name, key_id, nonce, \
                             ciphertext, created_at, updated_at) \
                             VALUES ($1, $2, $3, '', '', '', $4, $4) RETURNING id",
                        )
                        .bind(workspace_id)
                        .bind(kind)
                        .bind(name)
                        .bind(at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| {
                            $crate::common::fk_not_found(e, || format!("workspace {workspace_id}"))
                        })?;
                        (id, true)
                    }
                };
                let sealed = seal(id).map_err($crate::StoreError::Corrupt)?;
                sqlx::query(
                    "UPDATE secrets SET kind = $2, key_id = $3, nonce = $4, ciphertext = $5, \
                     updated_at = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(kind)
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((id, created))
            }

            async fn get_secret(
                &self,
                workspace_id: i64,
                name: &str,
            ) -> $crate::Result<Option<$crate::vault::SecretRow>> {
                let sql = format!(
                    "SELECT {} FROM secrets WHERE workspace_id = $1 AND name = $2",
                    $crate::vault::SECRET_COLUMNS
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(workspace_id)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map($crate::vault::secret_row).transpose()
            }

            async fn list_secrets(
                &self,
                workspace_id: i64,
            ) -> $crate::Result<Vec<$crate::vault::SecretInfo>> {
                let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT name, kind, key_id, created_at, updated_at FROM secrets \
                     WHERE workspace_id = $1 ORDER BY name",
                )
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(name, kind, key_id, created_at, updated_at)| $crate::vault::SecretInfo {
                            name,
                            kind,
                            set: true,
                            key_id,
                            created_at,
                            updated_at,
                        },
                    )
                    .collect())
            }

            async fn delete_secret(&self, workspace_id: i64, name: &str) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM secrets WHERE workspace_id = $1 AND name = $2")
                    .bind(workspace_id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn reseal_all(&self, reseal: $crate::vault::ResealFn<'_>) -> $crate::Result<u64> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "SELECT {} FROM secrets ORDER BY id",
                    $crate::vault::SECRET_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *tx)
                    .await?;
                let rows: Vec<$crate::vault::SecretRow> = rows
                    .iter()
                    .map($crate::vault::secret_row)
                    .collect::<$crate::Result<_>>()?;
                for row in &rows {
                    let sealed = reseal(row).map_err($crate::StoreError::Corrupt)?;
                    sqlx::query(
                        "UPDATE secrets SET key_id = $2, nonce = $3, ciphertext = $4 WHERE id = $1",
                    )
                    .bind(row.id)
                    .bind(&sealed.key_id)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .execute(&mut *tx)
                    .await?;
                }
                // The config objects made through the API are sealed the
                // same way: re-sealed in the same transaction.
                let sql = format!(
                    "SELECT {} FROM config_objects ORDER BY id",
                    $crate::objects::CONFIG_COLUMNS
                );
                let objects = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *tx)
                    .await?;
                let objects: Vec<$crate::objects::ConfigObjectRow> = objects
                    .iter()
                    .map($crate::objects::config_row)
                    .collect::<$crate::Result<_>>()?;
                for o in &objects {
                    let as_secret = $crate::vault::SecretRow {
                        id: o.id,
                        workspace_id: o.workspace_id,
                        kind: $crate::objects::ConfigObjectRow::sealed_kind(&o.section),
                        name: o.name.clone(),
                        sealed: o.sealed.clone(),
                        created_at: o.created_at,
                        updated_at: o.updated_at,
                    };
                    let sealed = reseal(&as_secret).map_err($crate::StoreError::Corrupt)?;
                    sqlx::query(
                        "UPDATE config_objects SET key_id = $2, nonce = $3, ciphertext = $4 WHERE id = $1",
                    )
                    .bind(o.id)
                    .bind(&sealed.key_id)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok((rows.len() + objects.len()) as u64)
            }
        }
    };
}
pub(crate) use vault_impl;
