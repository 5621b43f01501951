//! Units of work: writes that commit together or not at all.
//!
//! The supervisor turns one round of the engine's decisions into one
//! [`Unit`]: the incident it opens, the events that say so, the attempt it
//! starts and the target's new snapshot. [`Store::commit`](crate::Store::commit)
//! writes them in one transaction, so a crash (or a write error) can never
//! leave an incident without its snapshot, a snapshot `healing` without its
//! attempt, or a finished attempt without its `action_finished` event; and
//! the supervisor runs an action only after the unit that records it has
//! committed.
//!
//! Rows made inside the unit are referred to by [`Ref::New`]: the position
//! of the `OpenIncident` (or `StartAttempt`) among the unit's own.

use crate::{NewAttempt, NewEvent, NewNotification};

/// An incident or attempt: one already stored, or one this unit makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    /// A stored row's id.
    Id(i64),
    /// The n-th incident (or attempt) this unit opens (or starts), from 0.
    New(usize),
}

impl From<i64> for Ref {
    fn from(id: i64) -> Self {
        Ref::Id(id)
    }
}

/// One write of a [`Unit`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// [`Store::save_state`](crate::Store::save_state).
    SaveState {
        name: String,
        phase: String,
        snapshot: serde_json::Value,
        at: i64,
    },
    /// [`Store::open_incident`](crate::Store::open_incident).
    OpenIncident {
        target: String,
        opened_at: i64,
        reason: String,
    },
    /// [`Store::close_incident`](crate::Store::close_incident).
    CloseIncident {
        incident: Ref,
        closed_at: i64,
        resolution: String,
    },
    /// [`Store::set_incident_quarantined`](crate::Store::set_incident_quarantined).
    QuarantineIncident { incident: Ref, reason: String },
    /// [`Store::start_attempt`](crate::Store::start_attempt); `attempt.incident_id`
    /// is ignored in favour of `incident`.
    StartAttempt { incident: Ref, attempt: NewAttempt },
    /// [`Store::finish_attempt`](crate::Store::finish_attempt).
    FinishAttempt {
        attempt: Ref,
        finished_at: i64,
        outcome: String,
        detail: String,
    },
    /// [`Store::append_event`](crate::Store::append_event); when `incident`
    /// is set it replaces `event.incident_id`.
    AppendEvent {
        event: NewEvent,
        incident: Option<Ref>,
    },
    /// A notification for the outbox ([`crate::outbox`]), committed with the
    /// state change it tells of; when `incident` is set it replaces
    /// `notification.incident_id` (a [`Ref::New`] names the incident this
    /// unit opens). Its event id is in [`Committed::notifications`].
    Notify {
        notification: NewNotification,
        incident: Option<Ref>,
    },
    /// Rewrites the one row of `store_probe`: proof that the store takes
    /// writes ([`Store::probe_write`](crate::Store::probe_write)).
    Probe { at: i64 },
}

/// Writes that commit together, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unit {
    pub writes: Vec<Write>,
}

/// The ids a committed unit made, each list in the order of its writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    pub incidents: Vec<i64>,
    pub attempts: Vec<i64>,
    pub events: Vec<i64>,
    /// The event ids of the notifications, given or made.
    pub notifications: Vec<String>,
}

impl Unit {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
    pub fn len(&self) -> usize {
        self.writes.len()
    }
    pub fn push(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self
    }
    /// Adds an `OpenIncident` and returns the reference to it.
    pub fn open_incident(&mut self, target: &str, opened_at: i64, reason: &str) -> Ref {
        let n = self.count(|w| matches!(w, Write::OpenIncident { .. }));
        self.writes.push(Write::OpenIncident {
            target: target.to_string(),
            opened_at,
            reason: reason.to_string(),
        });
        Ref::New(n)
    }
    /// Adds a `StartAttempt` and returns the reference to it.
    pub fn start_attempt(&mut self, incident: Ref, attempt: NewAttempt) -> Ref {
        let n = self.count(|w| matches!(w, Write::StartAttempt { .. }));
        self.writes.push(Write::StartAttempt { incident, attempt });
        Ref::New(n)
    }
    /// Adds an event, its incident given by reference (or none).
    pub fn event(&mut self, event: NewEvent, incident: Option<Ref>) -> &mut Self {
        self.push(Write::AppendEvent { event, incident })
    }
    /// Adds a notification, its incident given by reference (or none).
    pub fn notify(&mut self, notification: NewNotification, incident: Option<Ref>) -> &mut Self {
        self.push(Write::Notify {
            notification,
            incident,
        })
    }
    fn count(&self, f: impl Fn(&Write) -> bool) -> usize {
        self.writes.iter().filter(|w| f(w)).count()
    }
}

/// The id `r` names after the writes before it: `made` holds the ids this
/// unit has made so far. A `New` past them is a caller's mistake, reported
/// as not found rather than a panic.
pub(crate) fn resolve(r: Ref, made: &[i64], what: &str) -> crate::Result<i64> {
    match r {
        Ref::Id(id) => Ok(id),
        Ref::New(n) => made.get(n).copied().ok_or_else(|| {
            crate::StoreError::NotFound(format!("{what} #{n} of this unit (not made before it)"))
        }),
    }
}

/// The statements of [`Store::commit`](crate::Store::commit) inside an open
/// transaction `$tx`, the same SQL on both backends. `$json` turns a JSON
/// value into what the backend binds. Evaluates to `Result<Committed>`.
macro_rules! apply_unit {
    ($tx:expr, $unit:expr, $json:expr) => {{
        use $crate::unit::{resolve, Write};
        let mut done = $crate::unit::Committed::default();
        for w in &$unit.writes {
            match w {
                Write::SaveState {
                    name,
                    phase,
                    snapshot,
                    at,
                } => {
                    sqlx::query(
                        "INSERT INTO target_state (name, phase, snapshot, updated_at) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (name) DO UPDATE SET phase = excluded.phase, \
                         snapshot = excluded.snapshot, updated_at = excluded.updated_at",
                    )
                    .bind(name)
                    .bind(phase)
                    .bind($json(snapshot))
                    .bind(*at)
                    .execute(&mut *$tx)
                    .await?;
                }
                Write::OpenIncident {
                    target,
                    opened_at,
                    reason,
                } => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO incidents (target, opened_at, reason, workspace_id) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(target)
                    .bind(*opened_at)
                    .bind(reason)
                    .bind($crate::scope::workspace_of(target))
                    .fetch_one(&mut *$tx)
                    .await?;
                    done.incidents.push(id);
                }
                Write::CloseIncident {
                    incident,
                    closed_at,
                    resolution,
                } => {
                    let id = resolve(*incident, &done.incidents, "incident")?;
                    let changed = sqlx::query(
                        "UPDATE incidents SET closed_at = $2, resolution = $3 \
                         WHERE id = $1 AND closed_at IS NULL",
                    )
                    .bind(id)
                    .bind(*closed_at)
                    .bind(resolution)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        // Already closed is fine (the first close wins);
                        // missing is not.
                        let exists: Option<i64> =
                            sqlx::query_scalar("SELECT id FROM incidents WHERE id = $1")
                                .bind(id)
                                .fetch_optional(&mut *$tx)
                                .await?;
                        if exists.is_none() {
                            return Err($crate::StoreError::NotFound(format!("incident {id}")));
                        }
                    }
                }
                Write::QuarantineIncident { incident, reason } => {
                    let id = resolve(*incident, &done.incidents, "incident")?;
                    let changed =
                        sqlx::query("UPDATE incidents SET quarantine_reason = $2 WHERE id = $1")
                            .bind(id)
                            .bind(reason)
                            .execute(&mut *$tx)
                            .await?
                            .rows_affected();
                    if changed == 0 {
                        return Err($crate::StoreError::NotFound(format!("incident {id}")));
                    }
                }
                Write::StartAttempt { incident, attempt } => {
                    let incident_id = resolve(*incident, &done.incidents, "incident")?;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO attempts \
                         (incident_id, rung, attempt, action, started_at, dry_run) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(incident_id)
                    .bind(attempt.rung)
                    .bind(attempt.attempt)
                    .bind(&attempt.action)
                    .bind(attempt.started_at)
                    .bind(attempt.dry_run)
                    .fetch_one(&mut *$tx)
                    .await
                    .map_err(|e| {
                        $crate::common::fk_not_found(e, || format!("incident {incident_id}"))
                    })?;
                    done.attempts.push(id);
                }
                Write::FinishAttempt {
                    attempt,
                    finished_at,
                    outcome,
                    detail,
                } => {
                    let id = resolve(*attempt, &done.attempts, "attempt")?;
                    let changed = sqlx::query(
                        "UPDATE attempts SET finished_at = $2, outcome = $3, detail = $4 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(*finished_at)
                    .bind(outcome)
                    .bind(detail)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err($crate::StoreError::NotFound(format!("attempt {id}")));
                    }
                }
                Write::AppendEvent { event, incident } => {
                    let incident_id = match incident {
                        Some(r) => Some(resolve(*r, &done.incidents, "incident")?),
                        None => event.incident_id,
                    };
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO events \
                         (at, target, incident_id, kind, message, actor, data, workspace_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(event.at)
                    .bind(&event.target)
                    .bind(incident_id)
                    .bind(&event.kind)
                    .bind(&event.message)
                    .bind(&event.actor)
                    .bind($json(&event.data))
                    .bind(event.workspace_id)
                    .fetch_one(&mut *$tx)
                    .await?;
                    done.events.push(id);
                }
                Write::Notify {
                    notification: n,
                    incident,
                } => {
                    let incident_id = match incident {
                        Some(r) => Some(resolve(*r, &done.incidents, "incident")?),
                        None => n.incident_id,
                    };
                    let id = n.id.clone().unwrap_or_else($crate::outbox::new_event_id);
                    sqlx::query(
                        "INSERT INTO notifications \
                         (id, workspace_id, kind, target, incident_id, severity, payload, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&id)
                    .bind(n.workspace_id)
                    .bind(&n.kind)
                    .bind(&n.target)
                    .bind(incident_id)
                    .bind(&n.severity)
                    .bind(n.payload.to_string())
                    .bind(n.at)
                    .execute(&mut *$tx)
                    .await
                    .map_err(|e| $crate::outbox::insert_error(e, &id, n.workspace_id))?;
                    done.notifications.push(id);
                }
                Write::Probe { at } => {
                    sqlx::query(
                        "INSERT INTO store_probe (id, at) VALUES (1, $1) \
                         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    )
                    .bind(*at)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
        }
        Ok::<_, $crate::StoreError>(done)
    }};
}
pub(crate) use apply_unit;
