//! UptimeRobot, webhook alert contact.
//!
//! The user writes the body in the alert contact, with UptimeRobot's
//! variables; JSON, form fields (`application/x-www-form-urlencoded`) and
//! the query string (GET, "send as query string") all work. Recommended:
//!
//! ```json
//! {"monitorID":"*monitorID*","monitorURL":"*monitorURL*","monitorFriendlyName":"*monitorFriendlyName*",
//!  "alertType":"*alertType*","alertTypeFriendlyName":"*alertTypeFriendlyName*",
//!  "alertDetails":"*alertDetails*","alertDuration":"*alertDuration*","alertDateTime":"*alertDateTime*"}
//! ```
//!
//! Names are matched ignoring case and `_`/`-`, so `alert_type`,
//! `monitor_name`, `monitor_url`, `alert_datetime` (the seed's README body
//! `{"monitor_name":"...","monitor_url":"...","alert_type":"down","alert_datetime":"2024-01-15 10:30:00"}`)
//! work too. `alertType` 1 or `down` → down, 2 or `up` → up, 3 (SSL expiry)
//! → ignored as `ssl_expiry`; when it is missing or not one of those,
//! `alertTypeFriendlyName` (`Down`, `Up`, anything with "SSL"); another
//! number → ignored (`other`); text that is neither → [`Unrecognised`].
//! Subject `monitorFriendlyName` (or `monitor_name`, `friendly_name`);
//! labels `monitor_id` and `url` when given; fingerprint
//! `<monitorID>@<alertDateTime>` when both are given; `at` from
//! `alertDateTime`: Unix seconds (UptimeRobot's own), or
//! `YYYY-MM-DD HH:MM:SS` taken as UTC, or RFC 3339; detail `alertDetails`
//! (plus the friendly duration on up).
//!
//! Recognised by a field `alertType` / `alert_type`.

use super::input::{self, Fields, Input};
use super::{Alert, AlertState, Ignored, Unrecognised};

const NAME: &str = "uptimerobot";

const TYPE: &[&str] = &["alerttype"];
const TYPE_NAME: &[&str] = &["alerttypefriendlyname"];
const MONITOR: &[&str] = &["monitorfriendlyname", "monitorname", "friendlyname"];
const ID: &[&str] = &["monitorid"];
const URL: &[&str] = &["monitorurl"];
const DETAILS: &[&str] = &["alertdetails"];
const DATETIME: &[&str] = &["alertdatetime"];
const DURATION: &[&str] = &["alertfriendlyduration"];

const EXPECTED: &str = "expected an UptimeRobot alert: JSON, form fields or a query string \
    with alertType (1 down, 2 up, 3 SSL expiry) or alert_type (down/up)";

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input.fields_with(TYPE).is_some()
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let Some(f) = input
        .fields_with(TYPE)
        .or_else(|| input.fields_with(TYPE_NAME))
    else {
        return Err(Unrecognised::new(EXPECTED));
    };
    let state = state(f)?;
    let mut alert = Alert::new(NAME, state);
    alert.subject = input::subject(f.get_nonempty(MONITOR));
    let id = f.get_nonempty(ID);
    if let Some(id) = id {
        alert.labels.insert("monitor_id".into(), id.to_string());
    }
    if let Some(url) = f.get_nonempty(URL) {
        alert.labels.insert("url".into(), url.to_string());
    }
    let datetime = f.get_nonempty(DATETIME);
    if let (Some(id), Some(dt)) = (id, datetime) {
        alert.fingerprint = Some(format!("{}@{}", id.trim(), dt.trim()));
    }
    alert.at = datetime.and_then(input::parse_time);
    let mut detail = f
        .get_nonempty(DETAILS)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let what = match state {
                Ok(AlertState::Down) => "down",
                Ok(AlertState::Up) => "up",
                Err(Ignored::SslExpiry) => "SSL certificate expiring",
                Err(_) => "alert",
            };
            format!("{} {what}", alert.subject.as_deref().unwrap_or("monitor"))
        });
    if let (Ok(AlertState::Up), Some(d)) = (state, f.get_nonempty(DURATION)) {
        detail.push_str(&format!(" (was down for {d})"));
    }
    alert.detail = input::detail(&detail);
    Ok(vec![alert])
}

fn state(f: &Fields) -> Result<Result<AlertState, Ignored>, Unrecognised> {
    let from_text = |v: &str| -> Option<Result<AlertState, Ignored>> {
        let v = v.trim().to_ascii_lowercase();
        match v.as_str() {
            "1" | "down" => Some(Ok(AlertState::Down)),
            "2" | "up" => Some(Ok(AlertState::Up)),
            "3" => Some(Err(Ignored::SslExpiry)),
            _ if v.contains("ssl") => Some(Err(Ignored::SslExpiry)),
            _ => None,
        }
    };
    let ty = f.get(TYPE);
    if let Some(s) = ty.and_then(from_text) {
        return Ok(s);
    }
    if let Some(s) = f.get(TYPE_NAME).and_then(from_text) {
        return Ok(s);
    }
    match ty {
        Some(t) if !t.trim().is_empty() && t.trim().bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Err(Ignored::Other))
        }
        Some(t) => Err(Unrecognised(format!(
            "{EXPECTED}; alertType is {:?}",
            input::one_line(t, 64)
        ))),
        None => Err(Unrecognised::new(EXPECTED)),
    }
}
