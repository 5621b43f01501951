//! Gatus, custom alert provider.
//!
//! The user writes the request; write this body (method POST, header
//! `Content-Type: application/json`):
//!
//! ```json
//! {"endpoint_name":"[ENDPOINT_NAME]","group":"[ENDPOINT_GROUP]","url":"[ENDPOINT_URL]",
//!  "status":"[ALERT_TRIGGERED_OR_RESOLVED]","description":"[ALERT_DESCRIPTION]",
//!  "errors":"[RESULT_ERRORS]"}
//! ```
//!
//! or, with Gatus' default method GET and no body, put the same fields in
//! the URL's query string: `...?endpoint_name=[ENDPOINT_NAME]&status=[ALERT_TRIGGERED_OR_RESOLVED]`.
//! Form fields work too. Any field whose value is `TRIGGERED` → down,
//! `RESOLVED` → up (case-insensitive; `status`, `state`, `alert` or
//! `event` first when several). Subject `endpoint_name` (or `endpointName`,
//! `name`, `endpoint`); labels `group` and `url` when given; no fingerprint
//! and no time (Gatus has no placeholder for them); detail `description`
//! (plus `errors`).
//!
//! Recognised by a field valued `TRIGGERED` or `RESOLVED`.

use super::input::{self, Fields, Input};
use super::{Alert, AlertState, Unrecognised};

const NAME: &str = "gatus";

const STATE_KEYS: &[&str] = &["status", "state", "alert", "event"];
const SUBJECT: &[&str] = &["endpointname", "name", "endpoint"];

fn state_of(v: &str) -> Option<AlertState> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("TRIGGERED") {
        Some(AlertState::Down)
    } else if v.eq_ignore_ascii_case("RESOLVED") {
        Some(AlertState::Up)
    } else {
        None
    }
}

/// The state in `f`: a preferred key first, then any field.
fn find_state(f: &Fields) -> Option<AlertState> {
    STATE_KEYS
        .iter()
        .find_map(|k| f.get(&[k]).and_then(state_of))
        .or_else(|| f.iter().find_map(|(_, v)| state_of(v)))
}

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input.field_sets().any(|f| find_state(f).is_some())
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let Some((f, state)) = input
        .field_sets()
        .find_map(|f| find_state(f).map(|s| (f, s)))
    else {
        return Err(Unrecognised::new(
            "expected a Gatus custom alert: JSON, form fields or a query string with a field \
             (e.g. status) set to [ALERT_TRIGGERED_OR_RESOLVED], i.e. TRIGGERED or RESOLVED",
        ));
    };
    let mut alert = Alert::new(NAME, Ok(state));
    alert.subject = input::subject(f.get_nonempty(SUBJECT));
    for (key, names) in [
        ("group", &["group", "endpointgroup"][..]),
        ("url", &["url", "endpointurl"][..]),
    ] {
        if let Some(v) = f.get_nonempty(names) {
            alert.labels.insert(key.to_string(), v.to_string());
        }
    }
    let mut detail = f
        .get_nonempty(&["description", "alertdescription"])
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{} {}",
                alert.subject.as_deref().unwrap_or("endpoint"),
                if state == AlertState::Down {
                    "triggered"
                } else {
                    "resolved"
                }
            )
        });
    if let Some(e) = f.get_nonempty(&["errors", "resulterrors"]) {
        detail.push_str(": ");
        detail.push_str(e);
    }
    alert.detail = input::detail(&detail);
    Ok(vec![alert])
}
