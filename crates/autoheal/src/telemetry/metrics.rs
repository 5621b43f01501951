//! The Prometheus registry and every metric autoheal exports.

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// Check kind: http, tcp, exec, docker, alert.
    pub kind: String,
    /// up, degraded, down.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// Action kind: command, webhook, docker_restart, ...
    pub kind: String,
    /// succeeded, failed, timed_out, dry_run.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResolutionLabels {
    /// recovered, released.
    pub resolution: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HoldLabels {
    /// cooldown, backoff, dependency, maintenance, deploy_running, paused.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// The channel's name (`[channels.<name>]`).
    pub channel: String,
    /// sent, retry, dead, lost_lease.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// uptimerobot, alertmanager, heartbeat, ..., or unrecognised.
    pub source: String,
    /// What was done: heal_started, held, recovered, incident_opened,
    /// quarantined, recorded, repeat, ignored, refused.
    pub outcome: String,
}

/// The check metrics of one check kind, looked up once: a check result then
/// bumps them without hashing labels or allocating.
#[derive(Clone)]
pub struct CheckHandles {
    up: Counter,
    degraded: Counter,
    down: Counter,
    duration: Histogram,
    failures: Counter,
}

impl CheckHandles {
    pub fn result(&self, status: &str) -> &Counter {
        match status {
            "up" => &self.up,
            "degraded" => &self.degraded,
            _ => &self.down,
        }
    }
    pub fn duration(&self) -> &Histogram {
        &self.duration
    }
    pub fn failures(&self) -> &Counter {
        &self.failures
    }
}

/// Every metric, cheap to clone (each is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    pub checks: Family<CheckLabels, Counter>,
    pub check_duration: Family<KindLabels, Histogram>,
    pub failures: Family<KindLabels, Counter>,
    pub actions: Family<ActionLabels, Counter>,
    pub action_duration: Family<KindLabels, Histogram>,
    pub holds: Family<HoldLabels, Counter>,
    pub incidents_opened: Counter,
    pub incidents_resolved: Family<ResolutionLabels, Counter>,
    pub quarantines: Counter,
    pub recovery_seconds: Histogram,
    pub targets: Family<PhaseLabels, Gauge>,
    pub store_errors: Counter,
    pub check_results_dropped: Counter,
    /// How late due checks start (the scheduler's lateness), seconds.
    pub check_lateness: Histogram,
    /// Alerts from external monitors, by source and what was done.
    pub alerts: Family<AlertLabels, Counter>,
    /// Tries of notification deliveries, by channel and what came of them.
    pub notifications: Family<NotificationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The handles of the check metrics of `kind`.
    pub fn check_handles(&self, kind: &str) -> CheckHandles {
        let result = |status: &str| {
            self.checks
                .get_or_create(&CheckLabels {
                    kind: kind.into(),
                    status: status.into(),
                })
                .clone()
        };
        let kind_labels = KindLabels { kind: kind.into() };
        CheckHandles {
            up: result("up"),
            degraded: result("degraded"),
            down: result("down"),
            duration: self.check_duration.get_or_create(&kind_labels).clone(),
            failures: self.failures.get_or_create(&kind_labels).clone(),
        }
    }

    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("autoheal");
        let checks = Family::<CheckLabels, Counter>::default();
        registry.register("checks", "Checks run, by kind and result", checks.clone());
        let check_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "check_duration_seconds",
            "How long checks took",
            check_duration.clone(),
        );
        let failures = Family::<KindLabels, Counter>::default();
        registry.register(
            "check_failures",
            "Check results that counted as failures",
            failures.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Actions run, by kind and outcome",
            actions.clone(),
        );
        let action_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        registry.register(
            "action_duration_seconds",
            "How long actions took",
            action_duration.clone(),
        );
        let holds = Family::<HoldLabels, Counter>::default();
        registry.register(
            "actions_held",
            "Actions due but held back, by reason",
            holds.clone(),
        );
        let incidents_opened = Counter::default();
        registry.register(
            "incidents_opened",
            "Incidents opened",
            incidents_opened.clone(),
        );
        let incidents_resolved = Family::<ResolutionLabels, Counter>::default();
        registry.register(
            "incidents_resolved",
            "Incidents closed, by resolution",
            incidents_resolved.clone(),
        );
        let quarantines = Counter::default();
        registry.register(
            "quarantines",
            "Targets put in quarantine",
            quarantines.clone(),
        );
        let recovery_seconds = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "incident_duration_seconds",
            "Detection to verified recovery (MTTR samples)",
            recovery_seconds.clone(),
        );
        let targets = Family::<PhaseLabels, Gauge>::default();
        registry.register("targets", "Targets by phase", targets.clone());
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Writes to the store that failed",
            store_errors.clone(),
        );
        let check_results_dropped = Counter::default();
        registry.register(
            "check_results_dropped",
            "Check results given up on while the store refused writes (their rollups too)",
            check_results_dropped.clone(),
        );
        let check_lateness = Histogram::new([
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "check_lateness_seconds",
            "How long after its due time a check started",
            check_lateness.clone(),
        );
        let alerts = Family::<AlertLabels, Counter>::default();
        registry.register(
            "alerts",
            "Alerts received on webhooks, by source and outcome",
            alerts.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Tries of notification deliveries, by channel and outcome",
            notifications.clone(),
        );
        Self {
            registry: std::sync::Arc::new(registry),
            checks,
            check_duration,
            failures,
            actions,
            action_duration,
            holds,
            incidents_opened,
            incidents_resolved,
            quarantines,
            recovery_seconds,
            targets,
            store_errors,
            check_results_dropped,
            check_lateness,
            alerts,
            notifications,
        }
    }

    /// Counts one try of a delivery to `channel`.
    pub fn notification(&self, channel: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel: channel.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts one alert of `source` with the decision taken (its first
    /// word: `held: cooldown ...` counts as `held`).
    pub fn alert(&self, source: &str, decision: &str) {
        let outcome = decision
            .split([':', ' '])
            .next()
            .unwrap_or("recorded")
            .to_string();
        self.alerts
            .get_or_create(&AlertLabels {
                source: source.to_string(),
                outcome,
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
