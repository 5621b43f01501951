//! The audit log's events, typed (issue 9 item 1).
//!
//! Every entry of the audit log is one [`AuditEvent`]: its `kind` (the
//! serde tag, the `kind` column and API field), its structured `data` (the
//! variant's fields, the `data` column and API field) and its sentence
//! ([`AuditEvent::message`]). The same value is what the notification
//! outbox, the live event stream and the dashboard consume, so a new kind
//! of event is one variant here, its sentence, and its row in docs/api.md.
//!
//! Pure: no I/O, no clock. Rungs are counted from 1, as people read them.

use serde::{Deserialize, Serialize};

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent {
    AutohealStarted,
    AutohealStopped,
    ConfigReloaded,
    IncidentOpened {
        reason: String,
    },
    /// An incident ended; `duration_s` from its opening to the recovery.
    IncidentClosed {
        resolution: String,
        duration_s: u64,
    },
    /// Found open at start with no incident in the target's saved state.
    IncidentAbandoned {
        incident: i64,
    },
    ActionStarted {
        action: String,
        rung: usize,
        attempt: u32,
        dry_run: bool,
    },
    ActionFinished {
        action: String,
        outcome: String,
        detail: String,
    },
    /// autoheal stopped while the action ran; found at the next start and
    /// never repeated.
    ActionInterrupted {
        action: String,
        rung: usize,
        attempt: u32,
    },
    /// The action did not run at all: `why` says what stopped it.
    ActionFailed {
        action: String,
        why: String,
    },
    /// The engine held an action back; `reason` is the hold's name
    /// (cooldown, backoff, dependency, ...), `message` the sentence.
    ActionHeld {
        reason: String,
        message: String,
    },
    VerificationFailed {
        action: String,
        rung: usize,
    },
    Quarantined {
        reason: String,
    },
    Released,
    /// Someone else stopped or paused the target (`by`: user, pause).
    Stopped {
        by: String,
        described: String,
    },
    /// A failure back within the flap window: the same incident goes on.
    Flapped {
        flaps: u32,
        reason: String,
    },
    OperatorCommand {
        command: String,
    },
    CommandRefused {
        command: String,
        why: String,
    },
    // --- accounts: `from` is the client's address, when known -----------
    UserCreated {
        username: String,
        role: String,
        from: Option<String>,
    },
    LoggedIn {
        username: String,
        from: Option<String>,
    },
    /// The password changed and every session of the user ended.
    PasswordChanged {
        username: String,
        from: Option<String>,
    },
    KeyCreated {
        key_id: i64,
        name: String,
        role: String,
        from: Option<String>,
    },
    KeyRevoked {
        key_id: i64,
        from: Option<String>,
    },
    /// A member's role was set (`before`: none for a new member).
    MemberChanged {
        username: String,
        before: Option<String>,
        role: String,
        from: Option<String>,
    },
    MemberRemoved {
        username: String,
        from: Option<String>,
    },
    InviteCreated {
        role: String,
        from: Option<String>,
    },
    /// A vault secret was stored (its value never is in the log).
    SecretSet {
        name: String,
        /// The secret's kind (`render_api_key`, ...).
        secret_kind: String,
        created: bool,
        from: Option<String>,
    },
    SecretDeleted {
        name: String,
        from: Option<String>,
    },
    /// A user put a second factor (TOTP) in force.
    SecondFactorEnabled {
        username: String,
        from: Option<String>,
    },
    SecondFactorRemoved {
        username: String,
        from: Option<String>,
    },
    /// Every vault secret was re-encrypted under a new key.
    SecretKeyRotated {
        key_id: String,
        secrets: u64,
    },
    /// A target, action, group or the policy defaults were created,
    /// replaced or deleted through the API. `before` and `after` are the
    /// object as written (secrets redacted); `name` is `defaults` for the
    /// defaults.
    ConfigChanged {
        section: String,
        name: String,
        /// created, updated or deleted.
        change: String,
        /// The stored version after the change (none after a delete).
        version: Option<i64>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        from: Option<String>,
    },
    /// A person took an incident on.
    IncidentAcknowledged {
        incident_id: i64,
        from: Option<String>,
    },
    /// A note was added to an incident.
    IncidentAnnotated {
        incident_id: i64,
        note: String,
        from: Option<String>,
    },
    /// An alert webhook URL was made for a target.
    WebhookCreated {
        webhook_id: i64,
        target: String,
        /// The sender it expects (`auto`, `uptimerobot`, ...).
        source: String,
        from: Option<String>,
    },
    WebhookRevoked {
        webhook_id: i64,
        target: String,
        from: Option<String>,
    },
    /// An external monitor's alert arrived on a webhook; the events after
    /// it (in the same commit) are what was decided.
    AlertReceived {
        webhook_id: i64,
        source: String,
        /// down, up, or why it is ignored (test, ssl_expiry, pending, ...).
        state: String,
        subject: Option<String>,
        fingerprint: Option<String>,
        detail: String,
    },
    /// A call on a webhook whose body its sender does not send: nothing
    /// was healed.
    AlertUnrecognised {
        webhook_id: i64,
        expected: String,
    },
    /// A person or program asked a hosting platform to act on a service
    /// (outside a target's ladder): `call` is deploy or restart.
    PlatformCall {
        platform: String,
        service: String,
        call: String,
        /// The deploy id the platform gave.
        id: Option<String>,
        from: Option<String>,
    },
    /// A test message was sent to a notification channel by hand:
    /// `outcome` is `sent`, `retry`, `gone`, `rejected` or `skipped`.
    ChannelTested {
        channel: String,
        outcome: String,
        detail: String,
        from: Option<String>,
    },
    /// A dead-lettered (or cancelled) delivery was put back to be tried.
    DeliveryRetried {
        delivery: i64,
        channel: String,
        from: Option<String>,
    },
    /// A delivery was given up by hand.
    DeliveryCancelled {
        delivery: i64,
        channel: String,
        from: Option<String>,
    },
}

impl AuditEvent {
    /// The `kind` of the event, as stored and answered.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::AutohealStarted => "autoheal_started",
            AuditEvent::AutohealStopped => "autoheal_stopped",
            AuditEvent::ConfigReloaded => "config_reloaded",
            AuditEvent::IncidentOpened { .. } => "incident_opened",
            AuditEvent::IncidentClosed { .. } => "incident_closed",
            AuditEvent::IncidentAbandoned { .. } => "incident_abandoned",
            AuditEvent::ActionStarted { .. } => "action_started",
            AuditEvent::ActionFinished { .. } => "action_finished",
            AuditEvent::ActionInterrupted { .. } => "action_interrupted",
            AuditEvent::ActionFailed { .. } => "action_failed",
            AuditEvent::ActionHeld { .. } => "action_held",
            AuditEvent::VerificationFailed { .. } => "verification_failed",
            AuditEvent::Quarantined { .. } => "quarantined",
            AuditEvent::Released => "released",
            AuditEvent::Stopped { .. } => "stopped",
            AuditEvent::Flapped { .. } => "flapped",
            AuditEvent::OperatorCommand { .. } => "operator_command",
            AuditEvent::CommandRefused { .. } => "command_refused",
            AuditEvent::UserCreated { .. } => "user_created",
            AuditEvent::LoggedIn { .. } => "logged_in",
            AuditEvent::PasswordChanged { .. } => "password_changed",
            AuditEvent::KeyCreated { .. } => "key_created",
            AuditEvent::KeyRevoked { .. } => "key_revoked",
            AuditEvent::MemberChanged { .. } => "member_changed",
            AuditEvent::MemberRemoved { .. } => "member_removed",
            AuditEvent::InviteCreated { .. } => "invite_created",
            AuditEvent::SecretSet { .. } => "secret_set",
            AuditEvent::SecondFactorEnabled { .. } => "second_factor_enabled",
            AuditEvent::SecondFactorRemoved { .. } => "second_factor_removed",
            AuditEvent::SecretDeleted { .. } => "secret_deleted",
            AuditEvent::SecretKeyRotated { .. } => "secret_key_rotated",
            AuditEvent::ConfigChanged { .. } => "config_changed",
            AuditEvent::IncidentAcknowledged { .. } => "incident_acknowledged",
            AuditEvent::IncidentAnnotated { .. } => "incident_annotated",
            AuditEvent::WebhookCreated { .. } => "webhook_created",
            AuditEvent::WebhookRevoked { .. } => "webhook_revoked",
            AuditEvent::AlertReceived { .. } => "alert_received",
            AuditEvent::AlertUnrecognised { .. } => "alert_unrecognised",
            AuditEvent::PlatformCall { .. } => "platform_call",
            AuditEvent::ChannelTested { .. } => "channel_tested",
            AuditEvent::DeliveryRetried { .. } => "delivery_retried",
            AuditEvent::DeliveryCancelled { .. } => "delivery_cancelled",
        }
    }

    /// The sentence of the audit log, about `target` (the name; empty for
    /// autoheal's own events), by `actor`.
    pub fn message(&self, target: &str, actor: &str) -> String {
        match self {
            AuditEvent::AutohealStarted => "autoheal started.".into(),
            AuditEvent::AutohealStopped => "autoheal stopped.".into(),
            AuditEvent::ConfigReloaded => "Configuration reloaded.".into(),
            AuditEvent::IncidentOpened { reason } => {
                format!("Incident opened on {target}: {reason}.")
            }
            AuditEvent::IncidentClosed {
                resolution,
                duration_s,
            } => format!(
                "Incident on {target} closed ({resolution}) after {}.",
                seconds(*duration_s)
            ),
            AuditEvent::IncidentAbandoned { incident } => format!(
                "Incident {incident} on {target} closed as abandoned: autoheal's saved state of {target} has no incident open."
            ),
            AuditEvent::ActionStarted {
                action,
                rung,
                attempt,
                dry_run,
            } => {
                let verb = if *dry_run {
                    "Dry run: would run"
                } else {
                    "Running"
                };
                format!("{verb} {action} on {target} (rung {rung}, attempt {attempt}).")
            }
            AuditEvent::ActionFinished {
                action,
                outcome,
                detail,
            } => {
                if detail.is_empty() {
                    format!("Action {action} on {target} ended: {outcome}.")
                } else {
                    format!("Action {action} on {target} ended: {outcome} ({detail}).")
                }
            }
            AuditEvent::ActionInterrupted {
                action,
                rung,
                attempt,
            } => format!(
                "Action {action} on {target} (rung {rung}, attempt {attempt}) was interrupted: autoheal stopped while it ran; it is not repeated."
            ),
            AuditEvent::ActionFailed { action, why } => {
                if action.is_empty() {
                    format!("Action on {target} could not run: {why}.")
                } else {
                    format!("Action {action} on {target} did not run: {why}.")
                }
            }
            AuditEvent::ActionHeld { message, .. } => message.clone(),
            AuditEvent::VerificationFailed { action, rung } => {
                format!("{target} did not recover after {action} (rung {rung}).")
            }
            AuditEvent::Quarantined { reason } => format!(
                "{target} is quarantined: {reason}. No more actions until it is released."
            ),
            AuditEvent::Released => {
                format!("{target} was released from quarantine by {actor}.")
            }
            AuditEvent::Stopped { described, .. } => {
                format!("{target} was {described}; autoheal leaves it alone until it runs again.")
            }
            AuditEvent::Flapped { flaps, reason } => format!(
                "{target} is failing again within the flap window ({reason}): flap {flaps} of the same incident."
            ),
            AuditEvent::OperatorCommand { command } => {
                format!("{actor} asked to {} {target}.", command.replace('_', " "))
            }
            AuditEvent::CommandRefused { command, why } => {
                format!("{command} on {target} refused: {why}.")
            }
            AuditEvent::UserCreated { username, role, .. } => {
                format!("{actor} made user {username} ({role}).")
            }
            AuditEvent::LoggedIn { username, from } => match from {
                Some(ip) => format!("{username} signed in from {ip}."),
                None => format!("{username} signed in."),
            },
            AuditEvent::PasswordChanged { username, .. } => {
                format!("{actor} changed the password of {username}; their sessions ended.")
            }
            AuditEvent::KeyCreated { key_id, name, role, .. } => {
                format!("{actor} made API key {key_id} ({name:?}, {role}).")
            }
            AuditEvent::KeyRevoked { key_id, .. } => {
                format!("{actor} revoked API key {key_id}.")
            }
            AuditEvent::MemberChanged {
                username,
                before,
                role,
                ..
            } => match before {
                Some(b) => format!("{actor} changed the role of {username} from {b} to {role}."),
                None => format!("{actor} added {username} as {role}."),
            },
            AuditEvent::MemberRemoved { username, .. } => {
                format!("{actor} removed {username} from the workspace.")
            }
            AuditEvent::InviteCreated { role, .. } => {
                format!("{actor} made an invitation to join as {role}.")
            }
            AuditEvent::SecretSet {
                name,
                secret_kind,
                created,
                ..
            } => {
                let verb = if *created { "stored" } else { "replaced" };
                format!("{actor} {verb} secret {name} ({secret_kind}).")
            }
            AuditEvent::SecretDeleted { name, .. } => format!("{actor} deleted secret {name}."),
            AuditEvent::SecondFactorEnabled { username, .. } => {
                format!("{username} put a second factor (TOTP) in force.")
            }
            AuditEvent::SecondFactorRemoved { username, .. } => {
                format!("{username} removed their second factor.")
            }
            AuditEvent::SecretKeyRotated { key_id, secrets } => format!(
                "{actor} rotated the secrets key: {secrets} secrets re-encrypted under key {key_id}."
            ),
            AuditEvent::ConfigChanged {
                section,
                name,
                change,
                ..
            } => {
                let what = match section.as_str() {
                    "defaults" => "the policy defaults".to_string(),
                    "targets" => format!("target {name}"),
                    "actions" => format!("action {name}"),
                    "groups" => format!("group {name}"),
                    "containers" => format!("the auto-heal choice of container {name}"),
                    other => format!("{other} {name}"),
                };
                format!("{actor} {change} {what}.")
            }
            AuditEvent::IncidentAcknowledged { incident_id, .. } => {
                format!("{actor} acknowledged incident {incident_id}.")
            }
            AuditEvent::IncidentAnnotated { incident_id, .. } => {
                format!("{actor} added a note to incident {incident_id}.")
            }
            AuditEvent::WebhookCreated {
                webhook_id, source, ..
            } => format!("{actor} made alert webhook {webhook_id} ({source}) for {target}."),
            AuditEvent::WebhookRevoked { webhook_id, .. } => {
                format!("{actor} revoked alert webhook {webhook_id} of {target}.")
            }
            AuditEvent::AlertReceived {
                source,
                state,
                subject,
                ..
            } => match subject {
                Some(sub) => format!("A {source} alert for {sub} says {state}."),
                None => format!("A {source} alert says {state}."),
            },
            AuditEvent::PlatformCall {
                platform,
                service,
                call,
                id,
                ..
            } => match id {
                Some(id) => format!("{actor} asked {platform} to {call} {service} ({id})."),
                None => format!("{actor} asked {platform} to {call} {service}."),
            },
            AuditEvent::ChannelTested {
                channel,
                outcome,
                detail,
                ..
            } => {
                if detail.is_empty() {
                    format!("{actor} sent a test notification to {channel}: {outcome}.")
                } else {
                    format!("{actor} sent a test notification to {channel}: {outcome} ({detail}).")
                }
            }
            AuditEvent::DeliveryRetried {
                delivery, channel, ..
            } => format!("{actor} put delivery {delivery} to {channel} back to be tried."),
            AuditEvent::DeliveryCancelled {
                delivery, channel, ..
            } => format!("{actor} cancelled delivery {delivery} to {channel}."),
            AuditEvent::AlertUnrecognised { webhook_id, expected } => {
                format!("Webhook {webhook_id} got a body it does not expect; nothing was done: {expected}")
            }
        }
    }
}

/// "1m 30s": whole seconds as humantime writes them.
fn seconds(s: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_serde_tags() {
        let all = [
            AuditEvent::AutohealStarted,
            AuditEvent::IncidentOpened { reason: "r".into() },
            AuditEvent::ActionStarted {
                action: "a".into(),
                rung: 1,
                attempt: 1,
                dry_run: false,
            },
            AuditEvent::Released,
            AuditEvent::CommandRefused {
                command: "heal_now".into(),
                why: "w".into(),
            },
            AuditEvent::ConfigChanged {
                section: "targets".into(),
                name: "web".into(),
                change: "updated".into(),
                version: Some(2),
                before: Some(serde_json::json!({"cooldown": "1m"})),
                after: Some(serde_json::json!({"cooldown": "2m"})),
                from: None,
            },
            AuditEvent::IncidentAnnotated {
                incident_id: 3,
                note: "n".into(),
                from: None,
            },
        ];
        for e in all {
            let json = format!("{:?}", e.kind());
            let tagged = serde_json::to_string(&e).unwrap();
            assert!(tagged.contains(&format!("\"kind\":{json}")), "{tagged}");
            let back: AuditEvent = serde_json::from_str(&tagged).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn durations_read_as_humantime_writes_them() {
        assert_eq!(seconds(0), "0s");
        assert_eq!(seconds(30), "30s");
        assert_eq!(seconds(90), "1m 30s");
        assert_eq!(seconds(3_600), "1h");
        assert_eq!(seconds(86_400 + 61), "1day 1m 1s");
        assert_eq!(seconds(2 * 86_400), "2days");
    }
}
