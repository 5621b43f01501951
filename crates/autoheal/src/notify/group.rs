//! Flood control: when many targets fail (or recover) together, people get
//! one message naming all of them, not one each.
//!
//! Pure: the unrouted notifications, the time and which channels each would
//! go to in; the plan out. A notification waits up to `notify.group_window` after the
//! oldest of its kind in its workspace; then the ones of the same kind bound
//! for the same channels become one message (its targets and what each was
//! told, in order). Incident-keyed receivers (PagerDuty, Opsgenie) keep one
//! message per incident, so their alerts open and resolve one by one;
//! docker-autoheal's own messages (one per restart) and tests are never
//! grouped.

use autoheal_plugins::channel::{Message, Severity};
use autoheal_store::outbox::Notification;
use std::collections::BTreeMap;
use std::time::Duration;

/// The most targets one grouped message names.
const MAX_NAMED: usize = 50;

/// Where one notification's deliveries go: channels that take a grouped
/// message, and incident-keyed ones that get it alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub groupable: Vec<String>,
    pub alone: Vec<String>,
}

impl Split {
    /// Every channel, for a notification routed as it is.
    pub fn all(self) -> Vec<String> {
        let mut all = self.groupable;
        all.extend(self.alone);
        all
    }
}

/// A message made of several notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub workspace_id: i64,
    pub members: Vec<String>,
    pub channels: Vec<String>,
    pub message: Message,
}

/// What the router does now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Notifications routed as they are: id and channels.
    pub route: Vec<(String, Vec<String>)>,
    /// Grouped messages to write and route; their members are then routed
    /// to their `alone` channels only.
    pub groups: Vec<Group>,
}

fn groupable_kind(kind: &str) -> bool {
    !matches!(kind, "test" | "docker_autoheal" | "dead_letter")
}

/// The plan for `rows` at `now` (Unix ms): `split` tells each one's
/// channels. Notifications still inside their `window` are left for later.
pub fn plan(
    rows: &[Notification],
    now: i64,
    window: Duration,
    split: impl Fn(&Notification) -> Split,
) -> Plan {
    let mut plan = Plan::default();
    if window.is_zero() {
        // No grouping: each as it is, at once.
        for n in rows {
            plan.route.push((n.id.clone(), split(n).all()));
        }
        return plan;
    }
    let window = window.as_millis() as i64;
    // Oldest of each (workspace, kind): the window runs from it.
    let mut oldest: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for n in rows {
        let e = oldest
            .entry((n.workspace_id, &n.kind))
            .or_insert(n.created_at);
        *e = (*e).min(n.created_at);
    }
    // (workspace, kind, channels) → members, in order.
    let mut bins: BTreeMap<(i64, String, Vec<String>), Vec<&Notification>> = BTreeMap::new();
    for n in rows {
        if !groupable_kind(&n.kind) {
            plan.route.push((n.id.clone(), split(n).all()));
            continue;
        }
        if now - oldest[&(n.workspace_id, n.kind.as_str())] < window {
            continue;
        }
        let mut s = split(n);
        s.groupable.sort();
        bins.entry((n.workspace_id, n.kind.clone(), s.groupable))
            .or_default()
            .push(n);
    }
    for ((ws, _, channels), members) in bins {
        if members.len() == 1 || channels.is_empty() {
            for n in members {
                plan.route.push((n.id.clone(), split(n).all()));
            }
            continue;
        }
        let messages: Vec<Message> = members
            .iter()
            .filter_map(|n| serde_json::from_value(n.payload.clone()).ok())
            .collect();
        let Some(message) = merge(&messages) else {
            continue;
        };
        for n in &members {
            plan.route.push((n.id.clone(), split(n).alone));
        }
        plan.groups.push(Group {
            workspace_id: ws,
            members: members.iter().map(|n| n.id.clone()).collect(),
            channels,
            message,
        });
    }
    plan
}

/// One message telling what `messages` (of one kind) told, each in a line.
pub fn merge(messages: &[Message]) -> Option<Message> {
    let first = messages.first()?;
    let mut targets: Vec<String> = Vec::new();
    for m in messages {
        for t in &m.targets {
            if !targets.contains(t) {
                targets.push(t.clone());
            }
        }
    }
    let n = messages.len();
    let named = |ts: &[String]| {
        let mut s = ts
            .iter()
            .take(MAX_NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if ts.len() > MAX_NAMED {
            s.push_str(&format!(" and {} more", ts.len() - MAX_NAMED));
        }
        s
    };
    let what = match first.kind.as_str() {
        "incident_opened" => "are failing",
        "heal_started" => "are being healed",
        "heal_failed" => "were not healed",
        "recovered" => "recovered",
        "quarantined" => "are quarantined: a human is needed",
        "released" => "were released from quarantine",
        _ => "have news",
    };
    let same_kind = messages.iter().all(|m| m.kind == first.kind);
    let title = if !same_kind {
        if targets.is_empty() {
            format!("{n} notifications")
        } else {
            format!("{n} notifications about {}", named(&targets))
        }
    } else if targets.len() > 1 {
        format!("{} targets {what}: {}", targets.len(), named(&targets))
    } else {
        format!("{n} notifications: {}", first.title)
    };
    let text = messages
        .iter()
        .take(MAX_NAMED)
        .map(|m| m.text.clone())
        .collect::<Vec<_>>()
        .join("\n");
    let severity = messages
        .iter()
        .map(|m| m.severity)
        .max()
        .unwrap_or(Severity::Info);
    // Mixed kinds (a digest): the gravest one's kind.
    let kind = messages
        .iter()
        .max_by_key(|m| m.severity)
        .map_or(first.kind, |m| m.kind);
    Some(Message {
        event_id: String::new(),
        kind,
        severity,
        title,
        text,
        incident_id: None,
        targets,
        fields: vec![("notifications".into(), n.to_string())],
        occurred_at: messages
            .iter()
            .map(|m| m.occurred_at)
            .min()
            .unwrap_or(first.occurred_at),
        link: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use autoheal_core::AuditEvent;

    /// The default `notify.group_window`.
    fn window() -> Duration {
        autoheal_config::NotifySettings::default().group_window
    }

    fn row(id: &str, kind: &str, target: &str, at: i64) -> Notification {
        let ev = match kind {
            "incident_opened" => AuditEvent::IncidentOpened {
                reason: "down".into(),
            },
            _ => AuditEvent::Released,
        };
        let msg = crate::notify::facts::of(&ev, target, &format!("{target} news")).unwrap();
        let n = crate::notify::facts::new_notification(1, Some(target), None, msg, at);
        Notification {
            id: id.into(),
            workspace_id: 1,
            kind: n.kind,
            target: n.target,
            incident_id: None,
            severity: n.severity,
            payload: n.payload,
            created_at: at,
            routed_at: None,
        }
    }

    fn to(chans: &[&str]) -> Split {
        Split {
            groupable: chans.iter().map(|s| s.to_string()).collect(),
            alone: Vec::new(),
        }
    }

    #[test]
    fn forty_failing_together_are_one_message_after_the_window() {
        let rows: Vec<Notification> = (0..40)
            .map(|i| {
                row(
                    &format!("n{i}"),
                    "incident_opened",
                    &format!("c{i}"),
                    1_000 + i,
                )
            })
            .collect();
        // Inside the window: nothing yet.
        assert_eq!(
            plan(&rows, 2_000, window(), |_| to(&["ops"])),
            Plan::default()
        );
        let p = plan(&rows, 1_000 + window().as_millis() as i64, window(), |_| {
            to(&["ops"])
        });
        assert_eq!(p.groups.len(), 1);
        let g = &p.groups[0];
        assert_eq!(g.members.len(), 40);
        assert_eq!(g.channels, ["ops"]);
        assert_eq!(g.message.targets.len(), 40);
        assert!(
            g.message
                .title
                .starts_with("40 targets are failing: c0, c1"),
            "{}",
            g.message.title
        );
        // The members are routed nowhere else.
        assert!(p.route.iter().all(|(_, ch)| ch.is_empty()));
        assert_eq!(p.route.len(), 40);
    }

    #[test]
    fn kinds_channels_and_keyed_receivers_are_kept_apart() {
        let rows = vec![
            row("a", "incident_opened", "web", 0),
            row("b", "incident_opened", "db", 1),
            row("c", "released", "api", 2),
        ];
        let now = 10_000;
        let p = plan(&rows, now, window(), |n| Split {
            groupable: vec!["ops".into()],
            alone: if n.id == "a" || n.id == "b" {
                vec!["pager".into()]
            } else {
                Vec::new()
            },
        });
        assert_eq!(p.groups.len(), 1, "{p:?}");
        assert_eq!(p.groups[0].members, ["a", "b"]);
        let routed: BTreeMap<_, _> = p.route.iter().cloned().collect();
        assert_eq!(routed["a"], ["pager"], "PagerDuty still gets each incident");
        assert_eq!(routed["b"], ["pager"]);
        assert_eq!(routed["c"], ["ops"], "alone of its kind: as it is");
        // Bound for different channels: not grouped.
        let p = plan(&rows[..2], now, window(), |n| {
            to(&[if n.id == "a" { "x" } else { "y" }])
        });
        assert!(p.groups.is_empty());
        assert_eq!(p.route.len(), 2);
    }

    #[test]
    fn a_zero_window_groups_nothing() {
        let rows: Vec<Notification> = (0..3)
            .map(|i| row(&format!("n{i}"), "incident_opened", &format!("c{i}"), 0))
            .collect();
        let p = plan(&rows, 0, Duration::ZERO, |_| to(&["ops"]));
        assert!(p.groups.is_empty());
        assert_eq!(p.route.len(), 3);
        assert!(p.route.iter().all(|(_, c)| c == &["ops"]));
    }

    #[test]
    fn docker_autoheals_own_and_tests_go_at_once_one_each() {
        let mut r = row("d", "incident_opened", "web", 0);
        r.kind = "docker_autoheal".into();
        let p = plan(&[r.clone(), r], 1, window(), |_| to(&["docker.webhook"]));
        assert!(p.groups.is_empty());
        assert_eq!(p.route.len(), 2);
    }
}
