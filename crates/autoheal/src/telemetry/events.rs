//! Typed internal events: one `emit()` per significant happening writes the
//! log line and bumps the metric with the same labels.

use super::metrics::{
    ActionLabels, CheckHandles, HoldLabels, KindLabels, Metrics, PhaseLabels, ResolutionLabels,
};
use std::time::Duration;

/// A check ran.
pub struct CheckCompleted<'a> {
    pub target: &'a str,
    pub kind: &'a str,
    pub status: &'a str,
    pub duration: Duration,
    pub detail: &'a str,
    /// The policy counts this result as a failure.
    pub counted_failure: bool,
}

impl CheckCompleted<'_> {
    /// `h`: the check metrics of this check's kind ([`Metrics::check_handles`]).
    pub fn emit(&self, h: &CheckHandles) {
        h.result(self.status).inc();
        h.duration().observe(self.duration.as_secs_f64());
        if self.counted_failure {
            h.failures().inc();
        }
        if self.status != "up" {
            tracing::debug!(
                target_name = self.target,
                kind = self.kind,
                status = self.status,
                detail = self.detail,
                "Check of {} says {}: {}.",
                self.target,
                self.status,
                self.detail
            );
        }
    }
}

/// An action ended (or was skipped by dry-run).
pub struct ActionFinished<'a> {
    pub target: &'a str,
    pub incident_id: Option<i64>,
    pub action: &'a str,
    pub kind: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
    pub duration: Duration,
}

impl ActionFinished<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.actions
            .get_or_create(&ActionLabels {
                kind: self.kind.into(),
                outcome: self.outcome.into(),
            })
            .inc();
        m.action_duration
            .get_or_create(&KindLabels {
                kind: self.kind.into(),
            })
            .observe(self.duration.as_secs_f64());
        tracing::info!(
            target_name = self.target,
            incident_id = self.incident_id,
            action = self.action,
            outcome = self.outcome,
            detail = self.detail,
            duration_ms = self.duration.as_millis() as u64,
            "Action {} on {} ended: {}.",
            self.action,
            self.target,
            self.outcome
        );
    }
}

pub struct IncidentOpened<'a> {
    pub target: &'a str,
    pub incident_id: i64,
    pub reason: &'a str,
}

impl IncidentOpened<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.incidents_opened.inc();
        tracing::warn!(
            target_name = self.target,
            incident_id = self.incident_id,
            reason = self.reason,
            "Incident {} opened on {}: {}.",
            self.incident_id,
            self.target,
            self.reason
        );
    }
}

pub struct IncidentClosed<'a> {
    pub target: &'a str,
    pub incident_id: i64,
    pub resolution: &'a str,
    pub duration: Duration,
}

impl IncidentClosed<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.incidents_resolved
            .get_or_create(&ResolutionLabels {
                resolution: self.resolution.into(),
            })
            .inc();
        if self.resolution == "recovered" {
            m.recovery_seconds.observe(self.duration.as_secs_f64());
        }
        tracing::info!(
            target_name = self.target,
            incident_id = self.incident_id,
            resolution = self.resolution,
            duration_ms = self.duration.as_millis() as u64,
            "Incident {} on {} closed ({}) after {}.",
            self.incident_id,
            self.target,
            self.resolution,
            humantime::format_duration(Duration::from_secs(self.duration.as_secs()))
        );
    }
}

pub struct ActionHeld<'a> {
    pub target: &'a str,
    pub incident_id: Option<i64>,
    pub reason: &'a str,
    pub message: &'a str,
}

impl ActionHeld<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.holds
            .get_or_create(&HoldLabels {
                reason: self.reason.into(),
            })
            .inc();
        tracing::info!(
            target_name = self.target,
            incident_id = self.incident_id,
            reason = self.reason,
            "{}",
            self.message
        );
    }
}

pub struct Quarantined<'a> {
    pub target: &'a str,
    pub incident_id: Option<i64>,
    pub reason: &'a str,
}

impl Quarantined<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.quarantines.inc();
        tracing::error!(
            target_name = self.target,
            incident_id = self.incident_id,
            reason = self.reason,
            "{} is quarantined: {}. No more actions until it is released.",
            self.target,
            self.reason
        );
    }
}

pub struct PhaseChanged<'a> {
    pub target: &'a str,
    pub from: Option<&'a str>,
    pub to: &'a str,
}

impl PhaseChanged<'_> {
    pub fn emit(&self, m: &Metrics) {
        if let Some(from) = self.from {
            m.targets
                .get_or_create(&PhaseLabels { phase: from.into() })
                .dec();
        }
        m.targets
            .get_or_create(&PhaseLabels {
                phase: self.to.into(),
            })
            .inc();
        tracing::debug!(
            target_name = self.target,
            from = self.from,
            to = self.to,
            "{} is now {}.",
            self.target,
            self.to
        );
    }
}

pub struct StoreWriteFailed<'a> {
    pub what: &'a str,
    pub error: &'a dyn std::error::Error,
}

impl StoreWriteFailed<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.store_errors.inc();
        tracing::error!(what = self.what, error = %crate::error_chain(self.error), "Writing {} to the store failed.", self.what);
    }
}

/// The audit-log row of `event` in `workspace_id`, about `target`, by
/// `actor`: its kind, sentence and structured data (the variant's fields).
/// The one place an [`autoheal_core::AuditEvent`] becomes a row.
pub fn audit_row(
    workspace_id: i64,
    target: Option<&str>,
    event: &autoheal_core::AuditEvent,
    actor: &str,
) -> autoheal_store::NewEvent {
    let mut data = serde_json::to_value(event).unwrap_or_default();
    if let Some(map) = data.as_object_mut() {
        map.remove("kind");
    }
    autoheal_store::NewEvent {
        workspace_id,
        at: crate::supervisor::now_ms(),
        target: target.map(str::to_string),
        incident_id: None,
        kind: event.kind().to_string(),
        message: event.message(
            target
                .map(autoheal_store::scope::name_of)
                .unwrap_or_default(),
            actor,
        ),
        actor: actor.to_string(),
        data,
    }
}
