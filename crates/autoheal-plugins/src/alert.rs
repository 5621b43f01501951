//! Alerts: what external monitors send to a target's webhook URL, read into
//! [`Alert`]s (down, up, or ignored and why).
//!
//! Pure code: no I/O, no clock, no async. The shell receives the request,
//! checks the token and the signature ([`signature::verify`], over the raw
//! bytes, before parsing), caps the body's size, and hands an
//! [`AlertRequest`] to [`parse`] with the webhook's [`AlertSource`]. One
//! file per sender under `alert/`, each with `parse` and `looks_like`.
//!
//! [`AlertSource::Auto`] recognises the sender by the payload's shape, trying
//! in this order (first match parses):
//!
//! 1. Grafana: an object with an `alerts` array and `orgId`, or with
//!    `title` and `state` (also the legacy, pre-8 shape without `alerts`);
//! 2. Alertmanager: an object with an `alerts` array and `version`;
//! 3. Uptime Kuma: an object with `heartbeat` and `monitor` (or `msg`), as
//!    JSON or in the `data` part of a multipart body;
//! 4. Pingdom: an object with `current_state` and `check_id`;
//! 5. UptimeRobot: a field `alertType` / `alert_type` (JSON, form or query);
//! 6. Gatus: a field whose value is `TRIGGERED` or `RESOLVED`;
//! 7. Healthchecks: a field `status` of `up`/`down` with `name`, `check`,
//!    `code` or `slug`.
//!
//! Field names in form bodies, query strings and the flat JSON bodies users
//! write (UptimeRobot, Gatus, Healthchecks) are matched ignoring case, `_`,
//! `-` and `*`: `alertType`, `alert_type` and `*alertType*` are one name.
//!
//! Nothing here panics on any input; a request carries at most
//! [`MAX_ALERTS`] alerts; `detail` is one line of at most 500 characters.

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;

mod alertmanager;
mod gatus;
mod generic;
mod grafana;
mod healthchecks;
mod input;
mod pingdom;
pub mod signature;
mod uptime_kuma;
mod uptimerobot;

use input::Input;

/// Most alerts one request may carry; more is refused as [`Unrecognised`].
pub const MAX_ALERTS: usize = 1000;

/// What arrived on a webhook URL.
#[derive(Debug, Clone, Copy)]
pub struct AlertRequest<'a> {
    /// "GET", "POST", "PUT".
    pub method: &'a str,
    /// The raw `Content-Type` header value.
    pub content_type: Option<&'a str>,
    /// The raw query string without '?', may be "".
    pub query: &'a str,
    pub body: &'a [u8],
}

/// Which sender a webhook expects; `Auto` recognises it by the payload's
/// shape. In config and the API: `{"type": "auto"}`, `{"type":
/// "uptimerobot"}` (`uptime_robot` is accepted too), `{"type":
/// "uptime_kuma"}`, ..., `{"type": "generic", "pointer": "/status", "down":
/// ["down"], "up": ["up"]}`. The `type` is [`AlertSource::name`]. Unknown
/// keys are refused, and `pointer`/`down`/`up` on any type but `generic`
/// (deserialized through a checked raw form, since serde's internally tagged
/// enums would let them through on unit variants).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "RawSource"
)]
pub enum AlertSource {
    #[default]
    Auto,
    #[serde(rename = "uptimerobot", alias = "uptime_robot")]
    UptimeRobot,
    UptimeKuma,
    Alertmanager,
    Grafana,
    Gatus,
    Healthchecks,
    Pingdom,
    Generic(GenericRule),
}

/// Where a generic sender says down or up.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericRule {
    /// JSON pointer to the state (e.g. "/status"); empty or absent: the call
    /// itself means down.
    #[serde(default)]
    pub pointer: String,
    /// Values (compared as strings, case-insensitively) meaning down / up.
    #[serde(default)]
    pub down: Vec<String>,
    #[serde(default)]
    pub up: Vec<String>,
}

/// The wire form of an [`AlertSource`], before it is checked.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "type")]
    ty: String,
    pointer: Option<String>,
    down: Option<Vec<String>>,
    up: Option<Vec<String>>,
}

impl TryFrom<RawSource> for AlertSource {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<Self, String> {
        let source = match raw.ty.as_str() {
            "auto" => AlertSource::Auto,
            "uptimerobot" | "uptime_robot" => AlertSource::UptimeRobot,
            "uptime_kuma" => AlertSource::UptimeKuma,
            "alertmanager" => AlertSource::Alertmanager,
            "grafana" => AlertSource::Grafana,
            "gatus" => AlertSource::Gatus,
            "healthchecks" => AlertSource::Healthchecks,
            "pingdom" => AlertSource::Pingdom,
            "generic" => {
                return Ok(AlertSource::Generic(GenericRule {
                    pointer: raw.pointer.unwrap_or_default(),
                    down: raw.down.unwrap_or_default(),
                    up: raw.up.unwrap_or_default(),
                }))
            }
            other => {
                return Err(format!(
                    "unknown alert source type {other:?}; expected one of auto, uptimerobot, \
                     uptime_kuma, alertmanager, grafana, gatus, healthchecks, pingdom, generic"
                ))
            }
        };
        if raw.pointer.is_some() || raw.down.is_some() || raw.up.is_some() {
            return Err(format!(
                "pointer, down and up are only for type generic, not {:?}",
                raw.ty
            ));
        }
        Ok(source)
    }
}

/// Most values in each of a generic rule's `down` and `up`.
pub const GENERIC_MAX_VALUES: usize = 64;

impl AlertSource {
    /// Every sender [`AlertSource::Auto`] recognises, in the order it tries
    /// them.
    pub const RECOGNISED: [AlertSource; 7] = [
        AlertSource::Grafana,
        AlertSource::Alertmanager,
        AlertSource::UptimeKuma,
        AlertSource::Pingdom,
        AlertSource::UptimeRobot,
        AlertSource::Gatus,
        AlertSource::Healthchecks,
    ];

    /// The source's `type` and the `source` of the alerts it reads.
    pub fn name(&self) -> &'static str {
        match self {
            AlertSource::Auto => "auto",
            AlertSource::UptimeRobot => "uptimerobot",
            AlertSource::UptimeKuma => "uptime_kuma",
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Grafana => "grafana",
            AlertSource::Gatus => "gatus",
            AlertSource::Healthchecks => "healthchecks",
            AlertSource::Pingdom => "pingdom",
            AlertSource::Generic(_) => "generic",
        }
    }

    /// Refuses a generic rule whose pointer is neither empty nor starts with
    /// '/', with more than [`GENERIC_MAX_VALUES`] values in `down` or `up`,
    /// an empty value, a value in both lists, or a pointer but no values.
    pub fn validate(&self) -> Result<(), String> {
        let AlertSource::Generic(rule) = self else {
            return Ok(());
        };
        if !rule.pointer.is_empty() && !rule.pointer.starts_with('/') {
            return Err(format!(
                "pointer {:?} is not a JSON pointer: it must be empty or start with '/' (e.g. \"/status\")",
                rule.pointer
            ));
        }
        for (key, values) in [("down", &rule.down), ("up", &rule.up)] {
            if values.len() > GENERIC_MAX_VALUES {
                return Err(format!(
                    "{key} has {} values; at most {GENERIC_MAX_VALUES}",
                    values.len()
                ));
            }
            if values.iter().any(|v| v.is_empty()) {
                return Err(format!("{key} has an empty value"));
            }
        }
        if let Some(v) = rule
            .down
            .iter()
            .find(|d| rule.up.iter().any(|u| u.eq_ignore_ascii_case(d)))
        {
            return Err(format!("{v:?} is in both down and up"));
        }
        if !rule.pointer.is_empty() && rule.down.is_empty() && rule.up.is_empty() {
            return Err(format!(
                "pointer {:?} is set but neither down nor up has a value",
                rule.pointer
            ));
        }
        Ok(())
    }
}

/// Down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Down,
    Up,
}

/// Why an alert that was understood does not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ignored {
    /// A test notification (Kuma's `heartbeat: null`, Grafana's TestAlert).
    Test,
    /// UptimeRobot's SSL expiry alert (alertType 3).
    SslExpiry,
    /// Not yet down (Kuma pending, Healthchecks grace, Grafana pending).
    Pending,
    /// Maintenance or paused.
    Maintenance,
    /// A state this parser does not map to down or up.
    Other,
}

/// One alert read from a request.
///
/// Serialized (by hand) as an object with `source`, then `state` (`"down"`
/// / `"up"`) or `ignored` (`"test"`, `"ssl_expiry"`, ...), then `subject`,
/// `labels`, `fingerprint`, `at`, `detail`:
/// `{"source":"alertmanager","state":"down","subject":"HighLatency",...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// [`AlertSource::name`] of the recogniser that read it.
    pub source: &'static str,
    /// Down/Up, or why it is ignored.
    pub state: Result<AlertState, Ignored>,
    /// The monitor's / alert's name as the sender calls it (monitor name,
    /// alertname label, check name...).
    pub subject: Option<String>,
    /// Labels for routing (Alertmanager/Grafana labels; Kuma monitor
    /// tags/docker_container/hostname; others what they have).
    pub labels: BTreeMap<String, String>,
    /// For dedupe: Alertmanager's fingerprint, else a stable id when the
    /// sender gives one (Kuma `<monitorID>@<time>`, UptimeRobot
    /// `<monitorID>@<alertDateTime>`, ...), else None.
    pub fingerprint: Option<String>,
    /// When the sender says it happened, Unix ms, if it says and it parses.
    pub at: Option<i64>,
    /// One line for people, at most 500 chars, control chars stripped.
    pub detail: String,
}

impl serde::Serialize for Alert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Alert", 7)?;
        st.serialize_field("source", self.source)?;
        match &self.state {
            Ok(state) => st.serialize_field("state", state)?,
            Err(why) => st.serialize_field("ignored", why)?,
        }
        st.serialize_field("subject", &self.subject)?;
        st.serialize_field("labels", &self.labels)?;
        st.serialize_field("fingerprint", &self.fingerprint)?;
        st.serialize_field("at", &self.at)?;
        st.serialize_field("detail", &self.detail)?;
        st.end()
    }
}

impl Alert {
    /// An alert from `source` with everything else empty.
    pub(crate) fn new(source: &'static str, state: Result<AlertState, Ignored>) -> Self {
        Alert {
            source,
            state,
            subject: None,
            labels: BTreeMap::new(),
            fingerprint: None,
            at: None,
            detail: String::new(),
        }
    }
}

/// The body was not one the webhook expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unrecognised(pub String);

impl Unrecognised {
    pub(crate) fn new(s: impl Into<String>) -> Self {
        Unrecognised(s.into())
    }
}

/// Every alert in the request (Alertmanager and Grafana may carry many; the
/// others one).
pub fn parse(source: &AlertSource, req: &AlertRequest<'_>) -> Result<Vec<Alert>, Unrecognised> {
    let input = Input::new(req);
    let alerts = match source {
        AlertSource::Auto => parse_auto(&input)?,
        AlertSource::UptimeRobot => uptimerobot::parse(&input)?,
        AlertSource::UptimeKuma => uptime_kuma::parse(&input)?,
        AlertSource::Alertmanager => alertmanager::parse(&input)?,
        AlertSource::Grafana => grafana::parse(&input)?,
        AlertSource::Gatus => gatus::parse(&input)?,
        AlertSource::Healthchecks => healthchecks::parse(&input)?,
        AlertSource::Pingdom => pingdom::parse(&input)?,
        AlertSource::Generic(rule) => generic::parse(rule, &input)?,
    };
    if alerts.len() > MAX_ALERTS {
        return Err(too_many(alerts.len()));
    }
    Ok(alerts)
}

/// Which sender [`AlertSource::Auto`] takes this request for, if any.
pub fn recognise(req: &AlertRequest<'_>) -> Option<AlertSource> {
    recognise_input(&Input::new(req))
}

fn recognise_input(input: &Input<'_, '_>) -> Option<AlertSource> {
    AlertSource::RECOGNISED.into_iter().find(|s| match s {
        AlertSource::Grafana => grafana::looks_like(input),
        AlertSource::Alertmanager => alertmanager::looks_like(input),
        AlertSource::UptimeKuma => uptime_kuma::looks_like(input),
        AlertSource::Pingdom => pingdom::looks_like(input),
        AlertSource::UptimeRobot => uptimerobot::looks_like(input),
        AlertSource::Gatus => gatus::looks_like(input),
        AlertSource::Healthchecks => healthchecks::looks_like(input),
        AlertSource::Auto | AlertSource::Generic(_) => false,
    })
}

fn parse_auto(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    match recognise_input(input) {
        Some(AlertSource::Grafana) => grafana::parse(input),
        Some(AlertSource::Alertmanager) => alertmanager::parse(input),
        Some(AlertSource::UptimeKuma) => uptime_kuma::parse(input),
        Some(AlertSource::Pingdom) => pingdom::parse(input),
        Some(AlertSource::UptimeRobot) => uptimerobot::parse(input),
        Some(AlertSource::Gatus) => gatus::parse(input),
        Some(AlertSource::Healthchecks) => healthchecks::parse(input),
        _ => Err(Unrecognised::new(
            "not an alert from a sender autoheal recognises: expected one from \
             Grafana, Alertmanager, Uptime Kuma, Pingdom, UptimeRobot, Gatus or \
             Healthchecks (see docs/alerts.md), or set the webhook's source to \
             generic with a rule",
        )),
    }
}

pub(crate) fn too_many(n: usize) -> Unrecognised {
    Unrecognised(format!(
        "the request carries {n} alerts; at most {MAX_ALERTS} are accepted"
    ))
}
