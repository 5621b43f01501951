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
