//! Grafana alerting, webhook contact point (POST or PUT).
//!
//! Grafana 8+ sends the Alertmanager shape (see `alertmanager.rs`) plus
//! `orgId`, `title`, `state`, `message`; each alert adds `silenceURL`,
//! `dashboardURL`, `panelURL`, `values`, `valueString`:
//!
//! ```json
//! {"receiver":"autoheal","status":"firing","orgId":1,"title":"[FIRING:1] ApiDown","state":"alerting",
//!  "message":"...","version":"1","groupKey":"...","commonLabels":{"alertname":"ApiDown"},
//!  "alerts":[{"status":"firing","labels":{"alertname":"ApiDown","service":"api"},
//!             "annotations":{"summary":"api is down"},"startsAt":"2024-01-15T10:30:00Z",
//!             "endsAt":"0001-01-01T00:00:00Z","fingerprint":"57c6d9296de2ad39",
//!             "valueString":"[ var='A' labels={} value=0 ]"}]}
//! ```
//!
//! Mapped as Alertmanager's; the detail, when no `summary`/`description`/
//! `message` annotation, is the alert's `valueString`, else the group's
//! `message` or `title`. Grafana's "Test" button sends an alert labelled
//! `alertname=TestAlert, instance=Grafana`: ignored as `test`.
//!
//! The legacy (before Grafana 8) shape, with no `alerts` array, is read as
//! one alert: `{"title","ruleId","ruleName","state","message","tags":{}}`,
//! `state` `alerting` → down, `ok` → up, `pending` → pending, `paused` →
//! maintenance, anything else (`no_data`) ignored; subject `ruleName`; labels
//! its `tags`; a rule id 0 (the test notification) is ignored as `test`.
//!
//! Recognised by an `alerts` array or a `state`, together with `orgId`, or
//! by `title` with `state`.

use serde_json::{Map, Value};

use super::input::{self, Input};
use super::{alertmanager, Alert, AlertState, Ignored, Unrecognised};

const NAME: &str = "grafana";

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input.object().is_some_and(|o| {
        let alerts = o.get("alerts").is_some_and(Value::is_array);
        let state = o.contains_key("state");
        (o.contains_key("orgId") && (alerts || state)) || (o.contains_key("title") && state)
    })
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let Some(obj) = input.object() else {
        return Err(expected());
    };
    if obj.get("alerts").is_some_and(Value::is_array) {
        let mut alerts = alertmanager::parse_group(obj, NAME, |group, a| {
            input::text(a, "valueString")
                .or_else(|| input::text(group, "message"))
                .or_else(|| input::text(group, "title"))
        })?;
        for a in &mut alerts {
            if a.labels.get("alertname").map(String::as_str) == Some("TestAlert")
                && a.labels.get("instance").map(String::as_str) == Some("Grafana")
            {
                a.state = Err(Ignored::Test);
            }
        }
        return Ok(alerts);
    }
    if obj.get("state").is_some_and(Value::is_string) {
        return Ok(vec![legacy(obj)]);
    }
    Err(expected())
}

fn expected() -> Unrecognised {
    Unrecognised::new(
        "expected a Grafana webhook: a JSON object with an alerts array (Grafana 8+), \
         or the legacy one with title, ruleName and state",
    )
}

fn legacy(obj: &Map<String, Value>) -> Alert {
    let state = obj.get("state").and_then(Value::as_str).unwrap_or("");
    let mut st = match state.to_ascii_lowercase().as_str() {
        "alerting" => Ok(AlertState::Down),
        "ok" => Ok(AlertState::Up),
        "pending" => Err(Ignored::Pending),
        "paused" => Err(Ignored::Maintenance),
        _ => Err(Ignored::Other),
    };
    let rule_id = input::text(obj, "ruleId");
    if rule_id.as_deref() == Some("0") {
        st = Err(Ignored::Test);
    }
    let mut alert = Alert::new(NAME, st);
    input::labels_of(obj.get("tags"), &mut alert.labels);
    alert.subject = input::subject(
        input::text(obj, "ruleName")
            .or_else(|| input::text(obj, "title"))
            .as_deref(),
    );
    alert.fingerprint = rule_id
        .filter(|id| id != "0")
        .map(|id| format!("rule:{id}"));
    let detail = input::text(obj, "message")
        .or_else(|| input::text(obj, "title"))
        .unwrap_or_else(|| format!("grafana alert {state}"));
    alert.detail = input::detail(&detail);
    alert
}
