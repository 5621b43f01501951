//! Uptime Kuma, webhook notification.
//!
//! ```json
//! {"heartbeat":{"monitorID":3,"status":0,"time":"2024-01-15 10:30:00.123","msg":"timeout",
//!               "important":true,"duration":60,"ping":null},
//!  "monitor":{"id":3,"name":"api","url":"https://api.example.com","type":"http",
//!             "hostname":null,"docker_container":"","tags":[{"name":"env","value":"prod"}]},
//!  "msg":"[api] [🔴 Down] timeout"}
//! ```
//!
//! As JSON ("application/json") or as `multipart/form-data` with that JSON in
//! the field `data` (Kuma's "form-data" body type). `heartbeat: null` is
//! the test notification: ignored as `test`. `heartbeat.status` 0 → down,
//! 1 → up, 2 → pending, 3 → maintenance. Subject `monitor.name`; labels
//! `docker_container`, `docker_host`, `hostname`, `url`, `type` of the
//! monitor when set, and each tag as `tag.<name>` = its value (`""` when
//! none); fingerprint `<monitorID>@<heartbeat.time>`; `at` the heartbeat's
//! `time` (UTC); detail the top-level `msg`, else the heartbeat's `msg`.
//! Kuma's "custom body" is whatever the user writes: use the generic source.
//!
//! Recognised by `heartbeat` together with `monitor` or `msg`.

use serde_json::Value;

use super::input::{self, Input, TAGS_MAX};
use super::{Alert, AlertState, Ignored, Unrecognised};

const NAME: &str = "uptime_kuma";

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input.object().is_some_and(|o| {
        o.contains_key("heartbeat") && (o.contains_key("monitor") || o.contains_key("msg"))
    })
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let Some(obj) = input.object().filter(|o| o.contains_key("heartbeat")) else {
        return Err(Unrecognised::new(if input.multipart_data {
            "expected an Uptime Kuma webhook: the multipart field data is not JSON with heartbeat, monitor and msg"
        } else {
            "expected an Uptime Kuma webhook: JSON (or multipart form-data with the JSON in field data) with heartbeat, monitor and msg"
        }));
    };
    let monitor = obj.get("monitor").and_then(Value::as_object);
    let heartbeat = obj.get("heartbeat").and_then(Value::as_object);
    let state = match heartbeat {
        None => Err(Ignored::Test),
        Some(hb) => match hb.get("status").and_then(input::scalar).as_deref() {
            Some("0") => Ok(AlertState::Down),
            Some("1") => Ok(AlertState::Up),
            Some("2") => Err(Ignored::Pending),
            Some("3") => Err(Ignored::Maintenance),
            _ => Err(Ignored::Other),
        },
    };
    let mut alert = Alert::new(NAME, state);
    if let Some(m) = monitor {
        alert.subject = input::subject(input::text(m, "name").as_deref());
        for key in ["docker_container", "docker_host", "hostname", "url", "type"] {
            if let Some(v) = input::text(m, key) {
                alert.labels.insert(key.to_string(), v);
            }
        }
        let tags = m.get("tags").and_then(Value::as_array);
        for tag in tags.into_iter().flatten().take(TAGS_MAX) {
            let Some(tag) = tag.as_object() else { continue };
            if let Some(name) = input::text(tag, "name") {
                let value = tag.get("value").and_then(input::scalar).unwrap_or_default();
                alert.labels.insert(format!("tag.{name}"), value);
            }
        }
    }
    if let Some(hb) = heartbeat {
        let id =
            input::text(hb, "monitorID").or_else(|| monitor.and_then(|m| input::text(m, "id")));
        let time = input::text(hb, "time");
        if let (Some(id), Some(time)) = (id, &time) {
            alert.fingerprint = Some(format!("{id}@{time}"));
        }
        alert.at = time.as_deref().and_then(input::parse_time);
    }
    let detail = input::text(obj, "msg")
        .or_else(|| heartbeat.and_then(|hb| input::text(hb, "msg")))
        .unwrap_or_else(|| "uptime kuma notification".to_string());
    alert.detail = input::detail(&detail);
    Ok(vec![alert])
}
