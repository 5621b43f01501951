//! The rows the store reads and writes. Times are Unix milliseconds.

use serde::{Deserialize, Serialize};

/// A target's definition as configured or discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDef {
    pub name: String,
    /// "http", "tcp", "exec", "docker", ... (the check kind or source).
    pub kind: String,
    /// The target's effective settings as JSON (secrets already redacted).
    pub spec: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    pub name: String,
    pub kind: String,
    pub spec: serde_json::Value,
    /// The engine phase, "healthy" until a state is saved.
    pub phase: String,
    /// The engine snapshot, if one was saved.
    pub snapshot: Option<serde_json::Value>,
    pub state_updated_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResultRow {
    pub target: String,
    pub at: i64,
    /// "up", "degraded", "down"
    pub status: String,
    pub latency_ms: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uptime {
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: i64,
    pub target: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    /// Why it opened ("3 failures within 60s: HTTP 503").
    pub reason: String,
    /// "recovered", "released" when closed.
    pub resolution: Option<String>,
    /// Set while quarantined.
    pub quarantine_reason: Option<String>,
    /// closed_at - opened_at, the MTTR sample.
    pub duration_ms: Option<i64>,
    /// Who took it on (`POST /api/v1/incidents/{id}/acknowledge`).
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAttempt {
    pub incident_id: i64,
    pub rung: i32,
    pub attempt: i32,
    /// The action's name.
    pub action: String,
    pub started_at: i64,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub id: i64,
    pub incident_id: i64,
    pub rung: i32,
    pub attempt: i32,
    pub action: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// "succeeded", "failed", "timed_out", "dry_run"; None while running (or
    /// when autoheal died during it).
    pub outcome: Option<String>,
    pub detail: Option<String>,
    pub dry_run: bool,
}

fn default_workspace() -> i64 {
    crate::DEFAULT_WORKSPACE
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The workspace the event belongs to.
    #[serde(default = "default_workspace")]
    pub workspace_id: i64,
    pub at: i64,
    pub target: Option<String>,
    pub incident_id: Option<i64>,
    /// Machine name of what happened: "incident_opened", "action_started", ...
    pub kind: String,
    /// One human sentence.
    pub message: String,
    /// Who: "autoheal", "cli", "api", "config".
    pub actor: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub target: Option<String>,
    pub incident_id: Option<i64>,
    pub kind: String,
    pub message: String,
    pub actor: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Keyset paging: newest first; pass the last id seen as `before` for the next
/// page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Only this workspace's (the API always sets it).
    pub workspace: Option<i64>,
    pub target: Option<String>,
    /// Some(true) = open only, Some(false) = closed only.
    pub open: Option<bool>,
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// Only this workspace's (the API always sets it).
    pub workspace: Option<i64>,
    pub target: Option<String>,
    pub incident_id: Option<i64>,
    pub before: Option<i64>,
    /// Events after this id, oldest first (no `next_before`): how a live
    /// stream catches up. `before` and `after` may be combined.
    pub after: Option<i64>,
    /// Only events of this kind (`config_changed`, ...).
    pub kind: Option<String>,
    /// Only events by this actor (`user:alice`, `autoheal`, ...).
    pub actor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `before` to get the next page; None at the end.
    pub next_before: Option<i64>,
}

/// How long to keep history, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub check_results_ms: i64,
    pub events_ms: i64,
    pub incidents_ms: i64,
    /// Hourly uptime rollups older than this go too (keep them longer than
    /// raw check results: uptime over 30 and 90 days reads them).
    pub rollups_ms: i64,
}
