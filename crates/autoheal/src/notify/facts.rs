//! Which audit events people are told of, and what they are told.
//!
//! Pure: an [`AuditEvent`] of a target in, a [`Message`] out (or nothing:
//! most events are for the audit log only). The outbox stores the message
//! with the state change that caused it ([`new_notification`]); each
//! channel formats it its own way.

use autoheal_core::AuditEvent;
use autoheal_plugins::channel::{Message, MessageKind, Severity};
use autoheal_store::outbox::NewNotification;

fn severity(kind: MessageKind) -> Severity {
    match kind {
        MessageKind::IncidentOpened | MessageKind::HealStarted => Severity::Warning,
        MessageKind::HealFailed | MessageKind::DeadLetter => Severity::Error,
        MessageKind::Quarantined | MessageKind::AutohealDegraded => Severity::Critical,
        MessageKind::Recovered | MessageKind::Released | MessageKind::Test => Severity::Info,
    }
}

fn message(
    kind: MessageKind,
    title: String,
    text: &str,
    targets: Vec<String>,
    fields: Vec<(&str, String)>,
) -> Message {
    Message {
        event_id: String::new(),
        kind,
        severity: severity(kind),
        title,
        text: text.to_string(),
        incident_id: None,
        targets,
        fields: fields
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        occurred_at: chrono::Utc::now(),
        link: None,
    }
}

/// The message of `event` about `target` (by its name in its workspace),
/// or `None` when people are not told of it. `text` is the event's
/// sentence as the audit log has it.
pub fn of(event: &AuditEvent, target: &str, text: &str) -> Option<Message> {
    let (kind, title, fields): (MessageKind, String, Vec<(&str, String)>) = match event {
        AuditEvent::IncidentOpened { reason } => (
            MessageKind::IncidentOpened,
            format!("{target} is failing"),
            vec![("why", reason.clone())],
        ),
        AuditEvent::ActionStarted {
            action,
            rung,
            attempt,
            dry_run,
        } => (
            MessageKind::HealStarted,
            if *dry_run {
                format!("{target}: dry run of {action}")
            } else {
                format!("{target}: healing with {action}")
            },
            vec![
                ("action", action.clone()),
                ("rung", rung.to_string()),
                ("attempt", attempt.to_string()),
            ],
        ),
        AuditEvent::ActionFinished {
            action,
            outcome,
            detail,
        } if outcome != "succeeded" => (
            MessageKind::HealFailed,
            format!("{target}: {action} {outcome}"),
            vec![
                ("action", action.clone()),
                ("outcome", outcome.clone()),
                ("detail", detail.clone()),
            ],
        ),
        AuditEvent::ActionFailed { action, why } => (
            MessageKind::HealFailed,
            format!("{target}: {action} did not run"),
            vec![("action", action.clone()), ("why", why.clone())],
        ),
        AuditEvent::VerificationFailed { action, rung } => (
            MessageKind::HealFailed,
            format!("{target} is still failing after {action}"),
            vec![("action", action.clone()), ("rung", rung.to_string())],
        ),
        AuditEvent::IncidentClosed {
            resolution,
            duration_s,
        } if resolution == "recovered" => (
            MessageKind::Recovered,
            format!("{target} recovered"),
            vec![("after", format!("{duration_s} s"))],
        ),
        AuditEvent::Quarantined { reason } => (
            MessageKind::Quarantined,
            format!("{target} is quarantined: a human is needed"),
            vec![("why", reason.clone())],
        ),
        AuditEvent::Released => (
            MessageKind::Released,
            format!("{target} was released from quarantine"),
            Vec::new(),
        ),
        _ => return None,
    };
    Some(message(kind, title, text, vec![target.to_string()], fields))
}

/// A target still quarantined, `every` after it was last told of.
pub fn reminder(target: &str, every: std::time::Duration) -> Message {
    let every = humantime::format_duration(every).to_string();
    message(
        MessageKind::Quarantined,
        format!("{target} is still quarantined: a human is needed"),
        &format!("{target} has been quarantined for at least {every} more; autoheal does nothing to it until it is released (POST /api/v1/targets/{target}/release, autoheal release {target})."),
        vec![target.to_string()],
        vec![("reminder", format!("every {every}"))],
    )
}

/// The store refused autoheal's writes from `since` to `until` (Unix ms),
/// `units` units of work; it takes them again.
pub fn store_refused(since: i64, until: i64, units: usize) -> Message {
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    let took = humantime::format_duration(std::time::Duration::from_secs(
        ((until - since).max(0) / 1000) as u64,
    ))
    .to_string();
    message(
        MessageKind::AutohealDegraded,
        "autoheal could not write to its store".into(),
        &format!("From {} to {} ({took}) the store refused autoheal's writes ({units} times): what it decided was kept in memory and is written now; no action ran without its record, and heals that could not be recorded were held.", at(since), at(until)),
        Vec::new(),
        vec![
            ("since", at(since)),
            ("until", at(until)),
            ("refused", units.to_string()),
        ],
    )
}

/// docker-autoheal's own message after a restart (`WEBHOOK_URL`,
/// `APPRISE_URL`): titled `Autoheal`, its text alone (no fields, no
/// targets), so the channels' bodies are docker-autoheal's.
pub fn docker_autoheal(text: &str, restarted: bool) -> Message {
    let kind = if restarted {
        MessageKind::HealStarted
    } else {
        MessageKind::HealFailed
    };
    message(kind, "Autoheal".into(), text, Vec::new(), Vec::new())
}

/// A delivery that was given up on, told to the workspace's channels.
pub fn dead_letter(channel: &str, kind: &str, why: &str) -> Message {
    message(
        MessageKind::DeadLetter,
        format!("A {kind} notification could not be delivered to {channel}"),
        &format!("autoheal gave up delivering a {kind} notification to the channel {channel}: {why}. It is kept as a dead letter: GET /api/v1/deliveries?state=dead, retried with POST /api/v1/deliveries/{{id}}/retry."),
        Vec::new(),
        vec![("channel", channel.to_string()), ("why", why.to_string())],
    )
}

/// The outbox row of `msg`, with a fresh stable event id.
pub fn new_notification(
    workspace_id: i64,
    target: Option<&str>,
    incident_id: Option<i64>,
    mut msg: Message,
    at: i64,
) -> NewNotification {
    let id = autoheal_store::outbox::new_event_id();
    msg.event_id = id.clone();
    msg.incident_id = incident_id.or(msg.incident_id);
    if let Some(t) = chrono::DateTime::from_timestamp_millis(at) {
        msg.occurred_at = t;
    }
    NewNotification {
        workspace_id,
        id: Some(id),
        kind: msg.kind.as_str().to_string(),
        target: target.map(str::to_string),
        incident_id,
        severity: msg.severity.as_str().to_string(),
        payload: serde_json::to_value(&msg).unwrap_or_default(),
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heals_and_their_ends_are_told_the_rest_is_not() {
        let opened = AuditEvent::IncidentOpened {
            reason: "3 failures within 60s: HTTP 503".into(),
        };
        let m = of(&opened, "web", "Incident opened on web.").unwrap();
        assert_eq!(m.kind, MessageKind::IncidentOpened);
        assert_eq!(m.severity, Severity::Warning);
        assert_eq!(m.title, "web is failing");
        assert_eq!(m.targets, ["web"]);
        assert_eq!(
            m.fields,
            [(
                "why".to_string(),
                "3 failures within 60s: HTTP 503".to_string()
            )]
        );
        let ok = AuditEvent::ActionFinished {
            action: "restart".into(),
            outcome: "succeeded".into(),
            detail: String::new(),
        };
        assert!(
            of(&ok, "web", "").is_none(),
            "a success waits for the verification"
        );
        let failed = AuditEvent::ActionFinished {
            action: "restart".into(),
            outcome: "failed".into(),
            detail: "exit 1".into(),
        };
        assert_eq!(
            of(&failed, "web", "").unwrap().kind,
            MessageKind::HealFailed
        );
        let closed = |resolution: &str| AuditEvent::IncidentClosed {
            resolution: resolution.into(),
            duration_s: 42,
        };
        assert_eq!(
            of(&closed("recovered"), "web", "").unwrap().kind,
            MessageKind::Recovered
        );
        assert!(
            of(&closed("released"), "web", "").is_none(),
            "Released tells that"
        );
        assert!(of(&AuditEvent::ConfigReloaded, "", "").is_none());
        let q = AuditEvent::Quarantined {
            reason: "5 actions within 10m".into(),
        };
        assert_eq!(of(&q, "web", "").unwrap().severity, Severity::Critical);
    }

    #[test]
    fn the_stored_payload_reads_back_as_the_message_with_its_event_id() {
        let m = of(&AuditEvent::Released, "web", "Released.").unwrap();
        let n = new_notification(3, Some("web"), Some(9), m, 1_700_000_000_000);
        let back: Message = serde_json::from_value(n.payload.clone()).unwrap();
        assert_eq!(Some(back.event_id.clone()), n.id);
        assert_eq!(back.incident_id, Some(9));
        assert_eq!(back.occurred_at.timestamp_millis(), 1_700_000_000_000);
        assert_eq!(n.kind, "released");
        assert_eq!(n.workspace_id, 3);
    }
}
