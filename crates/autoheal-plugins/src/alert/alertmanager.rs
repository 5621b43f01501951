//! Prometheus Alertmanager, webhook receiver (payload version 4).
//!
//! ```json
//! {"version":"4","groupKey":"...","truncatedAlerts":0,"status":"firing","receiver":"autoheal",
//!  "groupLabels":{},"commonLabels":{"job":"api"},"commonAnnotations":{},"externalURL":"...",
//!  "alerts":[{"status":"firing","labels":{"alertname":"ApiDown","instance":"api:80"},
//!             "annotations":{"summary":"api is down"},"startsAt":"2024-01-15T10:30:00Z",
//!             "endsAt":"0001-01-01T00:00:00Z","generatorURL":"...","fingerprint":"c5f3..."}]}
//! ```
//!
//! Each element of `alerts` is one [`Alert`]: `status` `firing` → down,
//! `resolved` → up, anything else ignored (`other`); labels are
//! `commonLabels` overlaid with the alert's own `labels`; subject the
//! `alertname` label; fingerprint the alert's `fingerprint`; `at` its
//! `startsAt` when firing, `endsAt` when resolved; detail the `summary`,
//! `description` or `message` annotation, else "<alertname> <status>".
//! Recognised by an `alerts` array together with `version`.

use serde_json::{Map, Value};

use super::input::{self, Input};
use super::{too_many, Alert, AlertState, Ignored, Unrecognised, MAX_ALERTS};

const NAME: &str = "alertmanager";

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input
        .object()
        .is_some_and(|o| o.get("alerts").is_some_and(Value::is_array) && o.contains_key("version"))
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let obj = input
        .object()
        .filter(|o| o.get("alerts").is_some_and(Value::is_array));
    let Some(obj) = obj else {
        return Err(Unrecognised::new(
            "expected an Alertmanager webhook (version 4): a JSON object with an alerts array",
        ));
    };
    parse_group(obj, NAME, |_, _| None)
}

/// The alerts of an Alertmanager-shaped group (shared with Grafana).
/// `extra_detail(group, alert)` gives a detail when the annotations have
/// none.
pub(crate) fn parse_group(
    obj: &Map<String, Value>,
    source: &'static str,
    extra_detail: impl Fn(&Map<String, Value>, &Map<String, Value>) -> Option<String>,
) -> Result<Vec<Alert>, Unrecognised> {
    let alerts = obj
        .get("alerts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if alerts.len() > MAX_ALERTS {
        return Err(too_many(alerts.len()));
    }
    let group_status = obj.get("status").and_then(Value::as_str);
    let mut out = Vec::with_capacity(alerts.len());
    for (i, a) in alerts.iter().enumerate() {
        let Some(a) = a.as_object() else {
            return Err(Unrecognised(format!(
                "expected an {} webhook: alerts[{i}] is not an object",
                if source == NAME {
                    "Alertmanager"
                } else {
                    "Grafana"
                }
            )));
        };
        let status = a
            .get("status")
            .and_then(Value::as_str)
            .or(group_status)
            .unwrap_or("");
        let state = match status.to_ascii_lowercase().as_str() {
            "firing" => Ok(AlertState::Down),
            "resolved" => Ok(AlertState::Up),
            _ => Err(Ignored::Other),
        };
        let mut alert = Alert::new(source, state);
        input::labels_of(obj.get("commonLabels"), &mut alert.labels);
        input::labels_of(a.get("labels"), &mut alert.labels);
        alert.subject = input::subject(alert.labels.get("alertname").map(String::as_str));
        alert.fingerprint = input::text(a, "fingerprint");
        alert.at = match state {
            Ok(AlertState::Up) => input::time_of(a.get("endsAt")),
            _ => input::time_of(a.get("startsAt")),
        };
        let annotation = |k: &str| {
            a.get("annotations")
                .and_then(Value::as_object)
                .and_then(|ann| input::text(ann, k))
        };
        let detail = annotation("summary")
            .or_else(|| annotation("description"))
            .or_else(|| annotation("message"))
            .or_else(|| extra_detail(obj, a))
            .unwrap_or_else(|| {
                format!(
                    "{} {}",
                    alert.subject.as_deref().unwrap_or("alert"),
                    if status.is_empty() {
                        "without status"
                    } else {
                        status
                    }
                )
            });
        alert.detail = input::detail(&detail);
        out.push(alert);
    }
    Ok(out)
}
