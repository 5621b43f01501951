//! The SQLite store: the embedded default, one file in the data directory.
//!
//! Connections run in WAL mode with `synchronous=FULL` (WAL with `NORMAL` can
//! roll back a committed transaction on power loss, and the supervisor relies
//! on a recorded attempt never being forgotten), `busy_timeout` 5 s and
//! foreign keys on. `PRAGMA quick_check` runs at boot and refuses a damaged
//! file with [`StoreError::Corrupt`]. `sqlite::memory:` is served by a single
//! connection that is never recycled, so every query sees the same database.
//!
//! JSON columns are TEXT; booleans are 0/1.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::common::{
    add_status, attach_attempts, clamp_limit, hour_ceil, hour_of, now_ms, page, parse_json,
    status_increment, IncidentRow,
};
use crate::sqlite_write::WriteTx;
use crate::*;

/// Connections for a file database; readers run concurrently under WAL,
/// writers serialise on SQLite's lock (waiting up to `busy_timeout`).
const FILE_POOL_SIZE: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite's "file is not a database" result code.
const SQLITE_NOTADB: &str = "26";

/// A [`Store`] on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Small for files, exactly one connection for `:memory:`.
    pool: SqlitePool,
    /// The database lives in its one connection (never closed on error).
    in_memory: bool,
}

impl SqliteStore {
    /// Opens (creating the file and its parent directory if missing) the
    /// database at `url` (`sqlite://PATH` or `sqlite::memory:`), checks it
    /// with `quick_check` and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl {
                url: url.to_string(),
                why: e.to_string(),
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");

        let pool_options = if in_memory {
            // The database lives as long as its one connection: never let the
            // pool close it.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            let path = options.get_filename();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| StoreError::BadUrl {
                        url: url.to_string(),
                        why: format!("cannot create directory {}: {e}", dir.display()),
                    })?;
            }
            SqlitePoolOptions::new().max_connections(FILE_POOL_SIZE)
        };

        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(not_a_database)?;
        let store = SqliteStore { pool, in_memory };
        store.quick_check().await?;
        crate::migrations::sqlite().run(&store.pool).await?;
        tracing::info!(backend = "sqlite", in_memory, "Store opened.");
        Ok(store)
    }

    /// Runs `PRAGMA quick_check`; anything but a single "ok" is corruption.
    async fn quick_check(&self) -> Result<()> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&self.pool)
            .await
            .map_err(not_a_database)?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "quick_check: {}",
                rows.join("; ")
            )))
        }
    }

    /// A write transaction (`BEGIN IMMEDIATE`) that discards its connection
    /// unless it commits: see [`crate::sqlite_write`].
    async fn begin_write(&self) -> Result<WriteTx> {
        WriteTx::begin(&self.pool, self.in_memory).await
    }

    /// The underlying pool, for callers that need raw access (tests, tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn attempts_of(&self, ids: &[i64]) -> Result<Vec<Attempt>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, incident_id, rung, attempt, action, started_at, finished_at, outcome, \
             detail, dry_run FROM attempts WHERE incident_id IN (",
        );
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY id");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(attempt_row).collect()
    }
}

/// "file is not a database" at open means a damaged or foreign file.
fn not_a_database(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(SQLITE_NOTADB) => {
            StoreError::Corrupt(db.message().to_string())
        }
        _ => StoreError::Database(err),
    }
}

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn target_row(row: &SqliteRow) -> Result<TargetRow> {
    let snapshot: Option<String> = row.try_get("snapshot")?;
    let phase: Option<String> = row.try_get("phase")?;
    Ok(TargetRow {
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        spec: parse_json("targets.spec", &row.try_get::<String, _>("spec")?)?,
        phase: phase.unwrap_or_else(|| "healthy".to_string()),
        snapshot: snapshot
            .map(|s| parse_json("target_state.snapshot", &s))
            .transpose()?,
        state_updated_at: row.try_get("updated_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn check_row(row: &SqliteRow) -> Result<CheckResultRow> {
    Ok(CheckResultRow {
        target: row.try_get("target")?,
        at: row.try_get("at")?,
        status: row.try_get("status")?,
        latency_ms: row.try_get("latency_ms")?,
        detail: row.try_get("detail")?,
    })
}

fn incident_row(row: &SqliteRow) -> Result<IncidentRow> {
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

fn attempt_row(row: &SqliteRow) -> Result<Attempt> {
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

fn event_row(row: &SqliteRow) -> Result<Event> {
    Ok(Event {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        target: row.try_get("target")?,
        incident_id: row.try_get("incident_id")?,
        kind: row.try_get("kind")?,
        message: row.try_get("message")?,
        actor: row.try_get("actor")?,
        data: parse_json("events.data", &row.try_get::<String, _>("data")?)?,
    })
}

const INCIDENT_COLUMNS: &str =
    "SELECT id, target, opened_at, closed_at, reason, resolution, quarantine_reason, acknowledged_by, acknowledged_at FROM incidents";

crate::accounts::accounts_impl!(SqliteStore);
crate::vault::vault_impl!(SqliteStore);
crate::objects::objects_impl!(SqliteStore);
crate::outbox::outbox_impl!(SqliteStore);

/// The due deliveries a claim takes, oldest due first: `$1` now, `$2` the
/// limit.
const DUE_DELIVERIES: &str = "SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= $1 \
     AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_at, id LIMIT $2";

impl SqliteStore {
    /// [`Outbox::claim_deliveries`] in one `BEGIN IMMEDIATE` transaction
    /// (the single writer, so the due set cannot change under it): the
    /// expired tries of the leases taken over, the leases, then the claimed
    /// rows with their notifications.
    async fn claim_due(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO delivery_tries (delivery_id, try_no, at, worker, outcome, status, \
             detail, duration_ms) SELECT id, tries + 1, lease_until, leased_by, 'expired', NULL, \
             $3, NULL FROM deliveries WHERE lease_until IS NOT NULL AND id IN ({DUE_DELIVERIES})"
        )))
        .bind(now)
        .bind(limit)
        .bind(crate::outbox::EXPIRED_DETAIL)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "UPDATE deliveries SET \
             tries = tries + CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END, \
             last_error = CASE WHEN lease_until IS NULL THEN last_error ELSE $5 END, \
             lease_until = $3, leased_by = $4 WHERE id IN ({DUE_DELIVERIES}) RETURNING id"
        )))
        .bind(now)
        .bind(limit)
        .bind(lease_until)
        .bind(worker)
        .bind(crate::outbox::EXPIRED_DETAIL)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {}, {} FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
             WHERE d.id IN (",
            crate::outbox::DELIVERY_COLUMNS,
            crate::outbox::NOTIFICATION_COLUMNS
        ));
        let mut list = qb.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY d.next_at, d.id");
        let rows = qb.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| crate::outbox::claimed_row(r, worker))
            .collect()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn upsert_target(&self, target: &TargetDef) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO targets (name, kind, spec, created_at, workspace_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec",
        )
        .bind(&target.name)
        .bind(&target.kind)
        .bind(json_text(&target.spec))
        .bind(now_ms())
        .bind(crate::scope::workspace_of(&target.name))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    async fn delete_target(&self, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
        crate::batch::insert_targets!(Sqlite, tx, targets, now, json_text);
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
        let mut tx = self.begin_write().await?;
        crate::batch::insert_checks!(Sqlite, tx, results, sums);
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
            "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(degraded), 0), COALESCE(SUM(down), 0) \
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(INCIDENT_COLUMNS);
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
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
        let mut tx = self.begin_write().await?;
        let done = crate::unit::apply_unit!(tx, unit, json_text)?;
        tx.commit().await?;
        Ok(done)
    }

    async fn prune(&self, retention: &Retention, now: i64) -> Result<u64> {
        crate::batch::prune_chunked!(self, begin_write, retention, now)
    }
}
