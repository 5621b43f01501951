//! Shared preparation for the batch writes (`record_checks_counted`,
//! `upsert_targets`): chunk sizes that stay under both backends' bind-
//! parameter limits, and the per-(target, hour) sums of a batch, so a
//! rollup row is upserted once per batch (PostgreSQL refuses to touch the
//! same row twice in one `INSERT ... ON CONFLICT`).

use crate::common::{hour_of, status_increment};
use crate::{CheckResultRow, TargetDef};
use std::collections::BTreeMap;

/// Rows per multi-row `INSERT`: 5 binds a row stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters.
pub(crate) const CHUNK: usize = 1000;

/// A rollup key: (target, hour start in ms).
pub(crate) type RollupKey<'a> = (&'a str, i64);
/// The (up, degraded, down) counts of one rollup row.
pub(crate) type Counts = (i64, i64, i64);

/// The (up, degraded, down) sums of `rows` per (target, hour), in key order
/// (a stable lock order for concurrent writers).
pub(crate) fn rollup_sums<'a>(
    rows: impl IntoIterator<Item = &'a CheckResultRow>,
) -> Vec<(RollupKey<'a>, Counts)> {
    let mut sums: BTreeMap<RollupKey<'a>, Counts> = BTreeMap::new();
    for r in rows {
        let (u, g, d) = status_increment(&r.status);
        let e = sums
            .entry((r.target.as_str(), hour_of(r.at)))
            .or_insert((0, 0, 0));
        e.0 += u;
        e.1 += g;
        e.2 += d;
    }
    sums.into_iter().collect()
}

/// The definitions of a batch with one per name, the last one given winning
/// (as if they had been upserted one by one), in name order.
pub(crate) fn last_per_name(targets: &[TargetDef]) -> Vec<&TargetDef> {
    let mut by_name: BTreeMap<&str, &TargetDef> = BTreeMap::new();
    for t in targets {
        by_name.insert(t.name.as_str(), t);
    }
    by_name.into_values().collect()
}

/// The statements of `upsert_targets` inside an open transaction `$tx`, the
/// same SQL on both backends: multi-row inserts of `CHUNK` definitions.
/// `$db` is the sqlx database type; `$spec` turns a spec into what that
/// backend binds (JSON text on SQLite, JSONB on PostgreSQL).
macro_rules! insert_targets {
    ($db:ty, $tx:expr, $targets:expr, $now:expr, $spec:expr) => {
        for chunk in $targets.chunks($crate::batch::CHUNK) {
            let mut qb: sqlx::QueryBuilder<$db> = sqlx::QueryBuilder::new(
                "INSERT INTO targets (name, kind, spec, created_at, workspace_id) ",
            );
            qb.push_values(chunk, |mut b, t| {
                b.push_bind(t.name.clone())
                    .push_bind(t.kind.clone())
                    .push_bind($spec(&t.spec))
                    .push_bind($now)
                    .push_bind($crate::scope::workspace_of(&t.name));
            });
            qb.push(" ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec");
            qb.build().execute(&mut *$tx).await?;
        }
    };
}
pub(crate) use insert_targets;

/// The statements of `record_checks_counted` inside an open transaction
/// `$tx`, the same SQL on both backends: the raw rows of `$results`, then one
/// rollup upsert per (target, hour) of `$sums` (from [`rollup_sums`]).
macro_rules! insert_checks {
    ($db:ty, $tx:expr, $results:expr, $sums:expr) => {
        for chunk in $results.chunks($crate::batch::CHUNK) {
            let mut qb: sqlx::QueryBuilder<$db> = sqlx::QueryBuilder::new(
                "INSERT INTO check_results (target, at, status, latency_ms, detail) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.target.clone())
                    .push_bind(r.at)
                    .push_bind(r.status.clone())
                    .push_bind(r.latency_ms)
                    .push_bind(r.detail.clone());
            });
            qb.build().execute(&mut *$tx).await?;
        }
        for chunk in $sums.chunks($crate::batch::CHUNK) {
            let mut qb: sqlx::QueryBuilder<$db> = sqlx::QueryBuilder::new(
                "INSERT INTO check_rollups (target, hour, up, degraded, down) ",
            );
            qb.push_values(chunk, |mut b, ((target, hour), (up, degraded, down))| {
                b.push_bind(target.to_string())
                    .push_bind(*hour)
                    .push_bind(*up)
                    .push_bind(*degraded)
                    .push_bind(*down);
            });
            qb.push(
                " ON CONFLICT (target, hour) DO UPDATE SET up = check_rollups.up + excluded.up, \
                 degraded = check_rollups.degraded + excluded.degraded, \
                 down = check_rollups.down + excluded.down",
            );
            qb.build().execute(&mut *$tx).await?;
        }
    };
}
pub(crate) use insert_checks;

/// Rows deleted per statement (and per transaction) when pruning, so a
/// prune of millions of rows never holds the write lock for long.
pub(crate) const PRUNE_CHUNK: i64 = 5_000;

/// [`Store::prune`](crate::Store::prune) on both backends: each kind of row in
/// chunks of [`PRUNE_CHUNK`], each chunk its own short write transaction
/// (`$self.$begin()`), yielding between chunks so other writers get the lock.
macro_rules! prune_chunked {
    ($self:ident, $begin:ident, $retention:expr, $now:expr) => {{
        let r = $retention;
        let now: i64 = $now;
        let incidents_before = now.saturating_sub(r.incidents_ms);
        let deliveries_before = now.saturating_sub(r.events_ms);
        let steps: [(&'static str, i64); 10] = [
            (
                "DELETE FROM check_results WHERE id IN \
                 (SELECT id FROM check_results WHERE at < $1 LIMIT $2)",
                now.saturating_sub(r.check_results_ms),
            ),
            (
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 LIMIT $2)",
                now.saturating_sub(r.events_ms),
            ),
            (
                "DELETE FROM attempts WHERE id IN (SELECT a.id FROM attempts a \
                 JOIN incidents i ON i.id = a.incident_id \
                 WHERE i.closed_at IS NOT NULL AND i.closed_at < $1 LIMIT $2)",
                incidents_before,
            ),
            (
                "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents i \
                 WHERE i.closed_at IS NOT NULL AND i.closed_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.incident_id = i.id) LIMIT $2)",
                incidents_before,
            ),
            (
                "DELETE FROM check_rollups WHERE (target, hour) IN \
                 (SELECT target, hour FROM check_rollups WHERE hour < $1 LIMIT $2)",
                now.saturating_sub(r.rollups_ms),
            ),
            // The outbox: tries, then deliveries, then notifications left
            // without any. Sent and cancelled deliveries go with the audit
            // log's retention, dead letters with the incidents' (longer).
            (
                "DELETE FROM delivery_tries WHERE (delivery_id, try_no) IN \
                 (SELECT t.delivery_id, t.try_no FROM delivery_tries t \
                 JOIN deliveries d ON d.id = t.delivery_id \
                 WHERE d.state IN ('sent', 'cancelled') AND d.ended_at < $1 LIMIT $2)",
                deliveries_before,
            ),
            (
                "DELETE FROM delivery_tries WHERE (delivery_id, try_no) IN \
                 (SELECT t.delivery_id, t.try_no FROM delivery_tries t \
                 JOIN deliveries d ON d.id = t.delivery_id \
                 WHERE d.state = 'dead' AND d.ended_at < $1 LIMIT $2)",
                incidents_before,
            ),
            (
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries d \
                 WHERE d.state IN ('sent', 'cancelled') AND d.ended_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM delivery_tries t WHERE t.delivery_id = d.id) \
                 LIMIT $2)",
                deliveries_before,
            ),
            (
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries d \
                 WHERE d.state = 'dead' AND d.ended_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM delivery_tries t WHERE t.delivery_id = d.id) \
                 LIMIT $2)",
                incidents_before,
            ),
            (
                "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications n \
                 WHERE n.routed_at IS NOT NULL AND n.created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id) \
                 LIMIT $2)",
                deliveries_before,
            ),
        ];
        let mut gone = 0u64;
        for (sql, before) in steps {
            loop {
                let mut tx = $self.$begin().await?;
                let n = sqlx::query(sql)
                    .bind(before)
                    .bind($crate::batch::PRUNE_CHUNK)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                gone += n;
                if n < $crate::batch::PRUNE_CHUNK as u64 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(gone)
    }};
}
pub(crate) use prune_chunked;
