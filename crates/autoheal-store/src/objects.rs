//! What the management API writes besides accounts and secrets: the config
//! objects made through it (sealed like secrets: a check's headers or an
//! action's URL may hold credentials), incidents' acknowledgements, and the
//! answers kept for `Idempotency-Key` retries.
//!
//! Every query names its workspace: there is no lookup by id alone.

use crate::vault::{SealFn, Sealed};
use crate::Result;
use async_trait::async_trait;

/// One stored config object: the table the file would hold, sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigObjectRow {
    pub id: i64,
    pub workspace_id: i64,
    /// `targets`, `actions`, `groups` or `defaults`.
    pub section: String,
    pub name: String,
    /// 1 at creation, one more at each write.
    pub version: i64,
    pub sealed: Sealed,
    pub created_at: i64,
    pub updated_at: i64,
    /// The actor of the last write.
    pub updated_by: String,
}

impl ConfigObjectRow {
    /// The kind its ciphertext is bound to: `config.targets`, ...
    pub fn sealed_kind(section: &str) -> String {
        format!("config.{section}")
    }
}

/// One write of [`Objects::write_config_objects`].
pub struct ConfigWrite<'a> {
    pub section: &'a str,
    pub name: &'a str,
    /// `None`: any; `Some(0)`: must not exist yet; `Some(v)`: must be at
    /// version `v`. A mismatch is [`crate::StoreError::Conflict`].
    pub expect_version: Option<i64>,
    /// Seals the new value for the row with this id; `None` deletes.
    pub seal: Option<SealFn<'a>>,
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created {
        version: i64,
    },
    Updated {
        version: i64,
    },
    Deleted,
    /// A delete of a row that was not there.
    Absent,
}

/// A kept answer to a write sent with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRow {
    pub workspace_id: i64,
    /// Who sent it (`user:3`, `key:7`): keys are per principal.
    pub principal: String,
    pub key: String,
    /// SHA-256 of method, path and body: a key reused for another request
    /// is refused.
    pub request_hash: String,
    pub status: u16,
    /// The answer's body, sealed.
    pub sealed: Sealed,
    pub created_at: i64,
}

/// A Docker container's auto-heal chosen through the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ContainerChoice {
    pub workspace_id: i64,
    /// The container's name (no leading `/`).
    pub container: String,
    /// On whatever its labels, or off even when labelled.
    pub autoheal: bool,
    pub updated_at: i64,
    pub updated_by: String,
}

/// An alert webhook: a token-bearing URL for one target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookRow {
    pub id: i64,
    pub workspace_id: i64,
    pub target: String,
    pub name: String,
    /// The sender expected, as JSON (`{"type":"auto"}`).
    #[serde(skip)]
    pub source: String,
    /// Which states act, as JSON.
    #[serde(skip)]
    pub filter: String,
    /// The signature scheme calls must carry, if any.
    pub signature: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A webhook to make; its token's hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub workspace_id: i64,
    pub target: String,
    pub name: String,
    pub token_hash: String,
    pub source: String,
    pub filter: String,
    pub signature: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
}

#[async_trait]
pub trait Objects: Send + Sync {
    async fn create_webhook(&self, hook: &NewWebhook) -> Result<i64>;
    /// The webhooks of `workspace_id` (of one target, when given), revoked
    /// ones included, newest first.
    async fn list_webhooks(
        &self,
        workspace_id: i64,
        target: Option<&str>,
    ) -> Result<Vec<WebhookRow>>;
    /// The webhook whose token has this hash, if it is in force at `now`
    /// (not revoked, not expired). The token is the credential: this is
    /// how a call on its URL finds its workspace.
    async fn webhook_by_token(&self, token_hash: &str, now: i64) -> Result<Option<WebhookRow>>;
    /// Revokes webhook `id` of `target` in `workspace_id`; whether it was in
    /// force.
    async fn revoke_webhook(
        &self,
        workspace_id: i64,
        target: &str,
        id: i64,
        at: i64,
    ) -> Result<bool>;
    /// Records a use (at most one write a second is useful; the caller
    /// decides).
    async fn touch_webhook(&self, id: i64, at: i64) -> Result<()>;
    /// Sets (`Some`) or clears (`None`: the labels decide again) the
    /// choice for `container`; whether anything changed.
    async fn set_container_choice(
        &self,
        workspace_id: i64,
        container: &str,
        autoheal: Option<bool>,
        at: i64,
        actor: &str,
    ) -> Result<bool>;
    /// The choices of `workspace_id` (all with `None`), by container name.
    async fn list_container_choices(
        &self,
        workspace_id: Option<i64>,
    ) -> Result<Vec<ContainerChoice>>;
    /// The config objects of `workspace_id` (every workspace's with
    /// `None`), by section then name.
    async fn list_config_objects(&self, workspace_id: Option<i64>) -> Result<Vec<ConfigObjectRow>>;
    /// Applies `writes` to `workspace_id` in one transaction: all or none.
    async fn write_config_objects(
        &self,
        workspace_id: i64,
        at: i64,
        actor: &str,
        writes: &[ConfigWrite<'_>],
    ) -> Result<Vec<Written>>;
    /// Marks an open or closed incident of `workspace_id` acknowledged by
    /// `who`. `None` when there is no such incident there; `Some(false)`
    /// when it already was (the first acknowledgement is kept).
    async fn acknowledge_incident(
        &self,
        workspace_id: i64,
        id: i64,
        who: &str,
        at: i64,
    ) -> Result<Option<bool>>;
    async fn get_idempotent(
        &self,
        workspace_id: i64,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotentRow>>;
    /// Keeps an answer; `false` when one is already kept for the key.
    async fn put_idempotent(&self, row: &IdempotentRow) -> Result<bool>;
    /// Forgets answers kept since before `before`; how many.
    async fn prune_idempotent(&self, before: i64) -> Result<u64>;
}

pub(crate) const WEBHOOK_COLUMNS: &str = "id, workspace_id, target, name, source, filter, \
     signature, created_at, created_by, expires_at, revoked_at, last_used_at";

pub(crate) fn webhook_row<R: sqlx::Row>(r: &R) -> Result<WebhookRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(WebhookRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        target: r.try_get("target")?,
        name: r.try_get("name")?,
        source: r.try_get("source")?,
        filter: r.try_get("filter")?,
        signature: r.try_get("signature")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

pub(crate) const CONFIG_COLUMNS: &str = "id, workspace_id, section, name, version, key_id, nonce, \
     ciphertext, created_at, updated_at, updated_by";

pub(crate) fn config_row<R: sqlx::Row>(r: &R) -> Result<ConfigObjectRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ConfigObjectRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        section: r.try_get("section")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        sealed: Sealed {
            key_id: r.try_get("key_id")?,
            nonce: r.try_get("nonce")?,
            ciphertext: r.try_get("ciphertext")?,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

/// The [`Objects`] implementation for a store type with a `pool` field and
/// a `begin_write()` method; the same SQL in both dialects.
macro_rules! objects_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::objects::Objects for $store {
            async fn create_webhook(
                &self,
                hook: &$crate::objects::NewWebhook,
            ) -> $crate::Result<i64> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO webhooks (workspace_id, target, name, token_hash, source, filter, \
                     created_at, created_by, expires_at, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(hook.workspace_id)
                .bind(&hook.target)
                .bind(&hook.name)
                .bind(&hook.token_hash)
                .bind(&hook.source)
                .bind(&hook.filter)
                .bind(hook.created_at)
                .bind(&hook.created_by)
                .bind(hook.expires_at)
                .bind(&hook.signature)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    $crate::common::fk_not_found(e, || format!("workspace {}", hook.workspace_id))
                })?;
                tx.commit().await?;
                Ok(id)
            }

            async fn list_webhooks(
                &self,
                workspace_id: i64,
                target: Option<&str>,
            ) -> $crate::Result<Vec<$crate::objects::WebhookRow>> {
                let sql = format!(
                    "SELECT {} FROM webhooks WHERE workspace_id = $1 AND ($2 IS NULL OR target = $2) ORDER BY id DESC",
                    $crate::objects::WEBHOOK_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(workspace_id)
                    .bind(target)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($crate::objects::webhook_row).collect()
            }

            async fn webhook_by_token(
                &self,
                token_hash: &str,
                now: i64,
            ) -> $crate::Result<Option<$crate::objects::WebhookRow>> {
                let sql = format!(
                    "SELECT {} FROM webhooks WHERE token_hash = $1 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $2)",
                    $crate::objects::WEBHOOK_COLUMNS
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map($crate::objects::webhook_row).transpose()
            }

            async fn revoke_webhook(
                &self,
                workspace_id: i64,
                target: &str,
                id: i64,
                at: i64,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE webhooks SET revoked_at = $4 WHERE id = $1 AND workspace_id = $2 \
                     AND target = $3 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(workspace_id)
                .bind(target)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn touch_webhook(&self, id: i64, at: i64) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE webhooks SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_container_choice(
                &self,
                workspace_id: i64,
                container: &str,
                autoheal: Option<bool>,
                at: i64,
                actor: &str,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let before: Option<bool> = sqlx::query_scalar(
                    "SELECT autoheal FROM container_choices WHERE workspace_id = $1 AND container = $2",
                )
                .bind(workspace_id)
                .bind(container)
                .fetch_optional(&mut *tx)
                .await?;
                if before == autoheal {
                    tx.commit().await?;
                    return Ok(false);
                }
                match autoheal {
                    None => {
                        sqlx::query(
                            "DELETE FROM container_choices WHERE workspace_id = $1 AND container = $2",
                        )
                        .bind(workspace_id)
                        .bind(container)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Some(on) => {
                        sqlx::query(
                            "INSERT INTO container_choices (workspace_id, container, autoheal, updated_at, updated_by) \
                             VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (workspace_id, container) DO UPDATE SET \
                             autoheal = excluded.autoheal, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        )
                        .bind(workspace_id)
                        .bind(container)
                        .bind(on)
                        .bind(at)
                        .bind(actor)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| {
                            $crate::common::fk_not_found(e, || format!("workspace {workspace_id}"))
                        })?;
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn list_container_choices(
                &self,
                workspace_id: Option<i64>,
            ) -> $crate::Result<Vec<$crate::objects::ContainerChoice>> {
                let rows: Vec<(i64, String, bool, i64, String)> = sqlx::query_as(
                    "SELECT workspace_id, container, autoheal, updated_at, updated_by \
                     FROM container_choices WHERE ($1 IS NULL OR workspace_id = $1) \
                     ORDER BY workspace_id, container",
                )
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(workspace_id, container, autoheal, updated_at, updated_by)| {
                        $crate::objects::ContainerChoice {
                            workspace_id,
                            container,
                            autoheal,
                            updated_at,
                            updated_by,
                        }
                    })
                    .collect())
            }

            async fn list_config_objects(
                &self,
                workspace_id: Option<i64>,
            ) -> $crate::Result<Vec<$crate::objects::ConfigObjectRow>> {
                let sql = format!(
                    "SELECT {} FROM config_objects WHERE ($1 IS NULL OR workspace_id = $1) \
                     ORDER BY workspace_id, section, name",
                    $crate::objects::CONFIG_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(workspace_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map($crate::objects::config_row).collect()
            }

            async fn write_config_objects(
                &self,
                workspace_id: i64,
                at: i64,
                actor: &str,
                writes: &[$crate::objects::ConfigWrite<'_>],
            ) -> $crate::Result<Vec<$crate::objects::Written>> {
                use $crate::objects::Written;
                let mut tx = self.begin_write().await?;
                let mut done = Vec::with_capacity(writes.len());
                for w in writes {
                    let existing: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT id, version FROM config_objects \
                         WHERE workspace_id = $1 AND section = $2 AND name = $3",
                    )
                    .bind(workspace_id)
                    .bind(w.section)
                    .bind(w.name)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let have = existing.map_or(0, |(_, v)| v);
                    if let Some(want) = w.expect_version {
                        if want != have {
                            return Err($crate::StoreError::Conflict(format!(
                                "{} {:?} is at version {have}, not {want}",
                                w.section, w.name
                            )));
                        }
                    }
                    let Some(seal) = w.seal else {
                        let n = sqlx::query("DELETE FROM config_objects WHERE workspace_id = $1 AND section = $2 AND name = $3")
                            .bind(workspace_id)
                            .bind(w.section)
                            .bind(w.name)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        done.push(if n > 0 { Written::Deleted } else { Written::Absent });
                        continue;
                    };
                    let (id, version, created) = match existing {
                        Some((id, v)) => (id, v + 1, false),
                        None => {
                            let id: i64 = sqlx::query_scalar(
                                "INSERT INTO config_objects (workspace_id, section, name, version, \
                                 key_id, nonce, ciphertext, created_at, updated_at, updated_by) \
                                 VALUES ($1, $2, $3, 0, '', '', '', $4, $4, $5) RETURNING id",
                            )
                            .bind(workspace_id)
                            .bind(w.section)
                            .bind(w.name)
                            .bind(at)
                            .bind(actor)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| {
                                $crate::common::fk_not_found(e, || {
                                    format!("workspace {workspace_id}")
                                })
                            })?;
                            (id, 1, true)
                        }
                    };
                    let sealed = seal(id).map_err($crate::StoreError::Corrupt)?;
                    sqlx::query(
                        "UPDATE config_objects SET version = $2, key_id = $3, nonce = $4, \
                         ciphertext = $5, updated_at = $6, updated_by = $7 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(version)
                    .bind(&sealed.key_id)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .bind(at)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                    done.push(if created {
                        Written::Created { version }
                    } else {
                        Written::Updated { version }
                    });
                }
                tx.commit().await?;
                Ok(done)
            }

            async fn acknowledge_incident(
                &self,
                workspace_id: i64,
                id: i64,
                who: &str,
                at: i64,
            ) -> $crate::Result<Option<bool>> {
                let mut tx = self.begin_write().await?;
                let found: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT acknowledged_by FROM incidents WHERE id = $1 AND workspace_id = $2",
                )
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
                let answer = match found {
                    None => None,
                    Some(Some(_)) => Some(false),
                    Some(None) => {
                        sqlx::query(
                            "UPDATE incidents SET acknowledged_by = $2, acknowledged_at = $3 \
                             WHERE id = $1",
                        )
                        .bind(id)
                        .bind(who)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                        Some(true)
                    }
                };
                tx.commit().await?;
                Ok(answer)
            }

            async fn get_idempotent(
                &self,
                workspace_id: i64,
                principal: &str,
                key: &str,
            ) -> $crate::Result<Option<$crate::objects::IdempotentRow>> {
                let row: Option<(String, i64, String, String, String, i64)> = sqlx::query_as(
                    "SELECT request_hash, CAST(status AS BIGINT) AS status, key_id, nonce, ciphertext, \
                     created_at FROM idempotency_keys \
                     WHERE workspace_id = $1 AND principal = $2 AND idem_key = $3",
                )
                .bind(workspace_id)
                .bind(principal)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(request_hash, status, key_id, nonce, ciphertext, created_at)| {
                    $crate::objects::IdempotentRow {
                        workspace_id,
                        principal: principal.to_string(),
                        key: key.to_string(),
                        request_hash,
                        status: u16::try_from(status).unwrap_or(500),
                        sealed: $crate::vault::Sealed {
                            key_id,
                            nonce,
                            ciphertext,
                        },
                        created_at,
                    }
                }))
            }

            async fn put_idempotent(
                &self,
                row: &$crate::objects::IdempotentRow,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "INSERT INTO idempotency_keys (workspace_id, principal, idem_key, \
                     request_hash, status, key_id, nonce, ciphertext, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (workspace_id, principal, idem_key) DO NOTHING",
                )
                .bind(row.workspace_id)
                .bind(&row.principal)
                .bind(&row.key)
                .bind(&row.request_hash)
                .bind(i64::from(row.status))
                .bind(&row.sealed.key_id)
                .bind(&row.sealed.nonce)
                .bind(&row.sealed.ciphertext)
                .bind(row.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn prune_idempotent(&self, before: i64) -> $crate::Result<u64> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
        }
    };
}

pub(crate) use objects_impl;
