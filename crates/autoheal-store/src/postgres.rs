//! The PostgreSQL store, chosen when the store URL starts with `postgres://`
//! or `postgresql://`: for installations that already run PostgreSQL, and for
//! clustered autoheal.
//!
//! A pool of [`POOL_SIZE`] connections; BIGSERIAL ids, BIGINT Unix-ms times,
//! JSONB for JSON. Every write is a single statement or one transaction, and
//! returns after commit (PostgreSQL's default `synchronous_commit=on`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::common::{
    add_status, attach_attempts, clamp_limit, hour_ceil, hour_of, now_ms, page, status_increment,
    IncidentRow,
};
use crate::*;

/// Connections in the pool.
pub const POOL_SIZE: u32 = 5;
/// How long to wait for a free connection (or for the server) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://` or `postgresql://`) and runs the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl {
            url: redact(url),
            why: e.to_string(),
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        crate::migrations::postgres().run(&pool).await?;
        tracing::info!(backend = "postgres", url = %redact(url), "Store opened.");
        Ok(PgStore { pool })
    }

    /// The underlying pool, for callers that need raw access (tests, the
    /// cluster leases).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn attempts_of(&self, ids: &[i64]) -> Result<Vec<Attempt>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, incident_id, rung, attempt, action, started_at, finished_at, outcome, \
             detail, dry_run FROM attempts WHERE incident_id = ANY($1) ORDER BY id",
        )
        .bind(ids.to_vec())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attempt_row).collect()
    }
}

/// The URL without credentials, path or query: scheme and host only, so it
/// can go into errors and logs.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

fn target_row(row: &PgRow) -> Result<TargetRow> {
    let phase: Option<String> = row.try_get("phase")?;
    Ok(TargetRow {
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        spec: row.try_get("spec")?,
        phase: phase.unwrap_or_else(|| "healthy".to_string()),
        snapshot: row.try_get("snapshot")?,
        state_updated_at: row.try_get("updated_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn check_row(row: &PgRow) -> Result<CheckResultRow> {
    Ok(CheckResultRow {
        target: row.try_get("target")?,
        at: row.try_get("at")?,
        status: row.try_get("status")?,
        latency_ms: row.try_get("latency_ms")?,
        detail: row.try_get("detail")?,
    })
}

fn incident_row(row: &PgRow) -> Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.try_get("id")?,
        target: row.try_get("target")?,
        opened_at: row.try_get("opened_at")?,
        closed_at: row.try_get("closed_at")?,
        reason: row.try_get("reason")?,
        resolution: row.try_get("resolution")?,
        quarantine_reason: row.try_get("quarantine_reason")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
    })
}

fn attempt_row(row: &PgRow) -> Result<Attempt> {
    Ok(Attempt {
        id: row.try_get("id")?,
        incident_id: row.try_get("incident_id")?,
        rung: row.try_get("rung")?,
        attempt: row.try_get("attempt")?,
        action: row.try_get("action")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        dry_run: row.try_get("dry_run")?,
    })
}

fn event_row(row: &PgRow) -> Result<Event> {
    Ok(Event {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        target: row.try_get("target")?,
        incident_id: row.try_get("incident_id")?,
        kind: row.try_get("kind")?,
        message: row.try_get("message")?,
        actor: row.try_get("actor")?,
        data: row.try_get("data")?,
    })
}

const INCIDENT_COLUMNS: &str =
    "SELECT id, target, opened_at, closed_at, reason, resolution, quarantine_reason, acknowledged_by, acknowledged_at FROM incidents";

impl PgStore {
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

crate::accounts::accounts_impl!(PgStore);
crate::vault::vault_impl!(PgStore);
crate::objects::objects_impl!(PgStore);
crate::outbox::outbox_impl!(PgStore);

impl PgStore {
    /// [`Outbox::claim_deliveries`] as one statement: the due rows are
    /// locked with `FOR UPDATE SKIP LOCKED` (a row another claim is taking
    /// is passed over, not waited for; one whose lease another claim has
    /// just set no longer matches once locked), leased, an `expired` try
    /// written for each lease taken over, and returned with their
    /// notifications.
    async fn claim_due(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let sql = format!(
            "WITH picked AS ( \
                 SELECT id, leased_by AS old_worker, lease_until AS old_lease FROM deliveries \
                 WHERE state = 'pending' AND next_at <= $1 \
                 AND (lease_until IS NULL OR lease_until <= $1) \
                 ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED \
             ), d AS ( \
                 UPDATE deliveries u SET \
                 tries = u.tries + CASE WHEN p.old_lease IS NULL THEN 0 ELSE 1 END, \
                 last_error = CASE WHEN p.old_lease IS NULL THEN u.last_error ELSE $5 END, \
                 lease_until = $3, leased_by = $4 \
                 FROM picked p WHERE u.id = p.id \
                 RETURNING u.*, p.old_worker, p.old_lease \
             ), expired AS ( \
                 INSERT INTO delivery_tries (delivery_id, try_no, at, worker, outcome, status, \
                 detail, duration_ms) \
                 SELECT id, tries, old_lease, old_worker, 'expired', NULL, $5, NULL \
                 FROM d WHERE old_lease IS NOT NULL \
             ) \
             SELECT {}, {} FROM d JOIN notifications n ON n.id = d.notification_id \
             ORDER BY d.next_at, d.id",
            crate::outbox::DELIVERY_COLUMNS,
            crate::outbox::NOTIFICATION_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .bind(lease_until)
            .bind(worker)
            .bind(crate::outbox::EXPIRED_DETAIL)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| crate::outbox::claimed_row(r, worker))
            .collect()
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn upsert_target(&self, target: &TargetDef) -> Result<()> {
        sqlx::query(
            "INSERT INTO targets (name, kind, spec, created_at, workspace_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec",
        )
        .bind(&target.name)
        .bind(&target.kind)
        .bind(&target.spec)
        .bind(now_ms())
        .bind(crate::scope::workspace_of(&target.name))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_target(&self, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM target_state WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM targets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_targets(&self) -> Result<Vec<TargetRow>> {
        let rows = sqlx::query(
            "SELECT t.name, t.kind, t.spec, t.created_at, s.phase, s.snapshot, s.updated_at \
             FROM targets t LEFT JOIN target_state s ON s.name = t.name ORDER BY t.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(target_row).collect()
    }

    async fn get_target(&self, name: &str) -> Result<Option<TargetRow>> {
        let row = sqlx::query(
            "SELECT t.name, t.kind, t.spec, t.created_at, s.phase, s.snapshot, s.updated_at \
             FROM targets t LEFT JOIN target_state s ON s.name = t.name WHERE t.name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(target_row).transpose()
    }

    async fn record_check(&self, result: &CheckResultRow) -> Result<()> {
        let (up, degraded, down) = status_increment(&result.status);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO check_results (target, at, status, latency_ms, detail) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&result.target)
        .bind(result.at)
        .bind(&result.status)
        .bind(result.latency_ms)
        .bind(&result.detail)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO check_rollups (target, hour, up, degraded, down) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (target, hour) DO UPDATE SET up = check_rollups.up + excluded.up, \
             degraded = check_rollups.degraded + excluded.degraded, \
             down = check_rollups.down + excluded.down",
        )
        .bind(&result.target)
        .bind(hour_of(result.at))
        .bind(up)
        .bind(degraded)
        .bind(down)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_targets(&self, targets: &[TargetDef]) -> Result<()> {
        let targets = crate::batch::last_per_name(targets);
        if targets.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        crate::batch::insert_targets!(Postgres, tx, targets, now, |v: &serde_json::Value| v
            .clone());
        tx.commit().await?;
        Ok(())
    }

    async fn record_checks_counted(
        &self,
        results: &[CheckResultRow],
        counted_only: &[CheckResultRow],
    ) -> Result<()> {
        let sums = crate::batch::rollup_sums(results.iter().chain(counted_only));
        if sums.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        crate::batch::insert_checks!(Postgres, tx, results, sums);
        tx.commit().await?;
        Ok(())
    }

    async fn recent_checks(&self, target: &str, limit: u32) -> Result<Vec<CheckResultRow>> {
        let rows = sqlx::query(
            "SELECT target, at, status, latency_ms, detail FROM check_results \
             WHERE target = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(target)
        .bind(i64::from(clamp_limit(limit)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(check_row).collect()
    }

    async fn uptime(&self, target: &str, since: i64) -> Result<Uptime> {
        let boundary = hour_ceil(since);
        let (up, degraded, down): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(up), 0)::BIGINT, COALESCE(SUM(degraded), 0)::BIGINT, \
             COALESCE(SUM(down), 0)::BIGINT \
             FROM check_rollups WHERE target = $1 AND hour >= $2",
        )
        .bind(target)
        .bind(boundary)
        .fetch_one(&self.pool)
        .await?;
        let mut uptime = Uptime {
            up: up.max(0) as u64,
            degraded: degraded.max(0) as u64,
            down: down.max(0) as u64,
        };
        // The partial hour before the first whole one comes from raw rows.
        let partial: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM check_results \
             WHERE target = $1 AND at >= $2 AND at < $3 GROUP BY status",
        )
        .bind(target)
        .bind(since)
        .bind(boundary)
        .fetch_all(&self.pool)
        .await?;
        for (status, n) in partial {
            add_status(&mut uptime, &status, n.max(0) as u64);
        }
        Ok(uptime)
    }

    async fn open_incident_for(&self, target: &str) -> Result<Option<Incident>> {
        let row = sqlx::query(
            "SELECT id, target, opened_at, closed_at, reason, resolution, quarantine_reason, \
             acknowledged_by, acknowledged_at \
             FROM incidents WHERE target = $1 AND closed_at IS NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(target)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let inc = incident_row(&row)?;
                let attempts = self.attempts_of(&[inc.id]).await?;
                Ok(Some(inc.into_incident(attempts)))
            }
        }
    }

    async fn get_incident(&self, id: i64) -> Result<Option<Incident>> {
        let row = sqlx::query(
            "SELECT id, target, opened_at, closed_at, reason, resolution, quarantine_reason, \
             acknowledged_by, acknowledged_at \
             FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let inc = incident_row(&row)?;
                let attempts = self.attempts_of(&[inc.id]).await?;
                Ok(Some(inc.into_incident(attempts)))
            }
        }
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Page<Incident>> {
        let limit = clamp_limit(filter.limit);
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(INCIDENT_COLUMNS);
        qb.push(" WHERE 1 = 1");
        if let Some(ws) = filter.workspace {
            qb.push(" AND workspace_id = ").push_bind(ws);
        }
        if let Some(target) = &filter.target {
            qb.push(" AND target = ").push_bind(target.clone());
        }
        match filter.open {
            Some(true) => {
                qb.push(" AND closed_at IS NULL");
            }
            Some(false) => {
                qb.push(" AND closed_at IS NOT NULL");
            }
            None => {}
        }
        if let Some(before) = filter.before {
            qb.push(" AND id < ").push_bind(before);
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        let rows: Vec<IncidentRow> = rows.iter().map(incident_row).collect::<Result<_>>()?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let attempts = self.attempts_of(&ids).await?;
        Ok(page(attach_attempts(rows, attempts), limit, |i| i.id))
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Page<Event>> {
        let limit = clamp_limit(filter.limit);
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT id, at, target, incident_id, kind, message, actor, data FROM events WHERE 1 = 1",
        );
        if let Some(ws) = filter.workspace {
            qb.push(" AND workspace_id = ").push_bind(ws);
        }
        if let Some(target) = &filter.target {
            qb.push(" AND target = ").push_bind(target.clone());
        }
        if let Some(incident_id) = filter.incident_id {
            qb.push(" AND incident_id = ").push_bind(incident_id);
        }
        if let Some(kind) = &filter.kind {
            qb.push(" AND kind = ").push_bind(kind.clone());
        }
        if let Some(actor) = &filter.actor {
            qb.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(before) = filter.before {
            qb.push(" AND id < ").push_bind(before);
        }
        if let Some(after) = filter.after {
            // Oldest first from `after`: the live stream's catch-up.
            qb.push(" AND id > ").push_bind(after);
            qb.push(" ORDER BY id ASC LIMIT ")
                .push_bind(i64::from(limit));
            let rows = qb.build().fetch_all(&self.pool).await?;
            let items: Vec<Event> = rows.iter().map(event_row).collect::<Result<_>>()?;
            return Ok(Page {
                items,
                next_before: None,
            });
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        let items: Vec<Event> = rows.iter().map(event_row).collect::<Result<_>>()?;
        Ok(page(items, limit, |e| e.id))
    }

    async fn commit(&self, unit: &Unit) -> Result<Committed> {
        if unit.is_empty() {
            return Ok(Committed::default());
        }
        let mut tx = self.pool.begin().await?;
        let done = crate::unit::apply_unit!(tx, unit, |v: &serde_json::Value| v.clone())?;
        tx.commit().await?;
        Ok(done)
    }

    async fn prune(&self, retention: &Retention, now: i64) -> Result<u64> {
        crate::batch::prune_chunked!(self, begin_write, retention, now)
    }
}
