//! Pingdom, webhook integration (unverified against a live account).
//!
//! ```json
//! {"check_id":12345,"check_name":"api","check_type":"HTTP","current_state":"DOWN",
//!  "previous_state":"UP","state_changed_timestamp":1705314600,
//!  "description":"HTTP Error 503","long_description":"...","tags":["prod"],
//!  "check_params":{"hostname":"api.example.com","url":"/health"}}
//! ```
//!
//! `current_state` `DOWN` (or `FAILING`, transaction checks) → down, `UP`
//! (or `SUCCESS`) → up, anything else ignored (`other`). Subject
//! `check_name`; labels `check_id`, `check_type`, `hostname` (from
//! `check_params`) and each tag as `tag.<name>` = `""`; fingerprint
//! `<check_id>@<state_changed_timestamp>` when given; `at` that timestamp
//! (or `state_changed_utc_time`); detail `description`, else
//! `long_description`.
//!
//! Recognised by `current_state` together with `check_id`.

use serde_json::Value;

use super::input::{self, Input, TAGS_MAX};
use super::{Alert, AlertState, Ignored, Unrecognised};

const NAME: &str = "pingdom";

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input
        .object()
        .is_some_and(|o| o.contains_key("current_state") && o.contains_key("check_id"))
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let Some(obj) = input.object().filter(|o| o.contains_key("current_state")) else {
        return Err(Unrecognised::new(
            "expected a Pingdom webhook: JSON with check_id, check_name and current_state (UP or DOWN)",
        ));
    };
    let current = input::text(obj, "current_state").unwrap_or_default();
    let state = match current.to_ascii_uppercase().as_str() {
        "DOWN" | "FAILING" => Ok(AlertState::Down),
        "UP" | "SUCCESS" => Ok(AlertState::Up),
        _ => Err(Ignored::Other),
    };
    let mut alert = Alert::new(NAME, state);
    alert.subject = input::subject(input::text(obj, "check_name").as_deref());
    let check_id = input::text(obj, "check_id");
    if let Some(id) = &check_id {
        alert.labels.insert("check_id".into(), id.clone());
    }
    if let Some(t) = input::text(obj, "check_type") {
        alert.labels.insert("check_type".into(), t);
    }
    if let Some(h) = obj
        .get("check_params")
        .and_then(Value::as_object)
        .and_then(|p| input::text(p, "hostname"))
    {
        alert.labels.insert("hostname".into(), h);
    }
    let tags = obj.get("tags").and_then(Value::as_array);
    for tag in tags.into_iter().flatten().take(TAGS_MAX) {
        if let Some(t) = tag.as_str().filter(|t| !t.is_empty()) {
            alert.labels.insert(format!("tag.{t}"), String::new());
        }
    }
    let changed = input::text(obj, "state_changed_timestamp");
    if let (Some(id), Some(ts)) = (&check_id, &changed) {
        alert.fingerprint = Some(format!("{id}@{ts}"));
    }
    alert.at = input::time_of(obj.get("state_changed_timestamp"))
        .or_else(|| input::time_of(obj.get("state_changed_utc_time")));
    let detail = input::text(obj, "description")
        .or_else(|| input::text(obj, "long_description"))
        .unwrap_or_else(|| format!("pingdom check {current}"));
    alert.detail = input::detail(&detail);
    Ok(vec![alert])
}
