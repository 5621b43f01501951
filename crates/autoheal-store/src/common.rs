//! Rules both backends share: limit clamping, keyset page assembly, hourly
//! buckets for the uptime rollups, status counting, and attaching attempts to
//! their incidents. Keeping them here means SQLite and PostgreSQL cannot drift
//! on anything but SQL dialect.

use crate::{Attempt, Incident, Page, StoreError, Uptime};

/// `limit` 0 means this many.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// The largest page a caller can ask for.
pub(crate) const MAX_LIMIT: u32 = 500;
/// Rollup bucket width.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Clamps a caller's limit to `1..=MAX_LIMIT`, with 0 meaning the default.
pub(crate) fn clamp_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// The start of the hour holding `at`.
pub(crate) fn hour_of(at: i64) -> i64 {
    at.div_euclid(HOUR_MS) * HOUR_MS
}

/// The first hour boundary at or after `since`: rollups cover whole hours from
/// here on, raw rows cover `[since, boundary)`.
pub(crate) fn hour_ceil(since: i64) -> i64 {
    let h = hour_of(since);
    if h == since {
        h
    } else {
        h.saturating_add(HOUR_MS)
    }
}

/// The (up, degraded, down) increment of one observation. Anything that is
/// neither "up" nor "degraded" counts as down, so an unexpected status never
/// inflates uptime.
pub(crate) fn status_increment(status: &str) -> (i64, i64, i64) {
    match status {
        "up" => (1, 0, 0),
        "degraded" => (0, 1, 0),
        _ => (0, 0, 1),
    }
}

/// Adds `n` observations of `status` to `uptime`, by the same rule as
/// [`status_increment`].
pub(crate) fn add_status(uptime: &mut Uptime, status: &str, n: u64) {
    match status {
        "up" => uptime.up += n,
        "degraded" => uptime.degraded += n,
        _ => uptime.down += n,
    }
}

/// Builds a page: `next_before` is the last item's id when the page is full.
pub(crate) fn page<T>(items: Vec<T>, limit: u32, id_of: impl Fn(&T) -> i64) -> Page<T> {
    let next_before = if items.len() >= limit as usize {
        items.last().map(id_of)
    } else {
        None
    };
    Page { items, next_before }
}

/// An incident row before its attempts are attached.
pub(crate) struct IncidentRow {
    pub id: i64,
    pub target: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub reason: String,
    pub resolution: Option<String>,
    pub quarantine_reason: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

impl IncidentRow {
    pub(crate) fn into_incident(self, attempts: Vec<Attempt>) -> Incident {
        Incident {
            id: self.id,
            duration_ms: self.closed_at.map(|c| c - self.opened_at),
            target: self.target,
            opened_at: self.opened_at,
            closed_at: self.closed_at,
            reason: self.reason,
            resolution: self.resolution,
            quarantine_reason: self.quarantine_reason,
            acknowledged_by: self.acknowledged_by,
            acknowledged_at: self.acknowledged_at,
            attempts,
        }
    }
}

/// Attaches attempts (in id order) to their incidents, keeping the incidents'
/// order.
pub(crate) fn attach_attempts(rows: Vec<IncidentRow>, attempts: Vec<Attempt>) -> Vec<Incident> {
    let mut by_incident: std::collections::HashMap<i64, Vec<Attempt>> = Default::default();
    for a in attempts {
        by_incident.entry(a.incident_id).or_default().push(a);
    }
    rows.into_iter()
        .map(|r| {
            let attempts = by_incident.remove(&r.id).unwrap_or_default();
            r.into_incident(attempts)
        })
        .collect()
}

/// Parses a JSON column stored as text; a parse failure means the row was not
/// written by us (or the file is damaged).
pub(crate) fn parse_json(column: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{column} is not JSON: {e}")))
}

/// Maps a foreign-key violation to `NotFound(what)`, anything else to a
/// database error.
pub(crate) fn fk_not_found(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what()),
        _ => StoreError::Database(err),
    }
}

/// The wall clock, for `created_at` only (the trait passes every other time
/// in).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped_and_zero_means_default() {
        assert_eq!(clamp_limit(0), 50);
        assert_eq!(clamp_limit(1), 1);
        assert_eq!(clamp_limit(500), 500);
        assert_eq!(clamp_limit(501), 500);
        assert_eq!(clamp_limit(u32::MAX), 500);
    }

    #[test]
    fn hours_are_floored_and_ceiled_including_before_the_epoch() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MS - 1), 0);
        assert_eq!(hour_of(HOUR_MS), HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
        assert_eq!(hour_ceil(HOUR_MS), HOUR_MS);
        assert_eq!(hour_ceil(HOUR_MS + 1), 2 * HOUR_MS);
        assert_eq!(hour_ceil(-1), 0);
    }

    #[test]
    fn a_page_has_a_cursor_only_when_full() {
        let p = page(vec![5, 4, 3], 3, |x| *x);
        assert_eq!(p.next_before, Some(3));
        let p = page(vec![5, 4], 3, |x| *x);
        assert_eq!(p.next_before, None);
    }
}
