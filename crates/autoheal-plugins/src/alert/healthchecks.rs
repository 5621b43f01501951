//! Healthchecks.io, webhook integration.
//!
//! Healthchecks sends separate requests for down and up (GET, POST or PUT),
//! with a body the user writes. Use the same for both, e.g. (POST,
//! `Content-Type: application/json`):
//!
//! ```json
//! {"name":"$NAME","status":"$STATUS","code":"$CODE","now":"$NOW","tags":"$TAGS"}
//! ```
//!
//! or the query string `?name=$NAME&status=$STATUS&code=$CODE&now=$NOW` (GET),
//! or form fields with those names, or `$JSON` as the whole body
//! (Healthchecks' check JSON: `name`, `slug`, `tags`, `status`, `last_ping`,
//! `uuid`...). `status` `down` → down, `up` → up, `grace` → pending,
//! `paused` → maintenance, anything else ignored (`other`). Subject `name`
//! (or `check`, `slug`); labels each tag (space separated) as `tag.<name>`
//! = `""`; fingerprint `<code|uuid|unique_key>@<now|last_ping>` when both
//! are there; `at` from `now` (or `last_ping`), ISO 8601; detail
//! `description`/`desc`, else "<name> is <status>".
//!
//! Recognised by `status` `up`/`down` with `name`, `check`, `code` or
//! `slug`.

use super::input::{self, Fields, Input, TAGS_MAX};
use super::{Alert, AlertState, Ignored, Unrecognised};

const NAME: &str = "healthchecks";

const STATUS: &[&str] = &["status"];
const SUBJECT: &[&str] = &["name", "check", "slug"];
const ID: &[&str] = &["code", "uuid", "uniquekey"];
const TIME: &[&str] = &["now", "lastping"];

fn is_updown(f: &Fields) -> bool {
    f.get(STATUS).is_some_and(|s| {
        s.trim().eq_ignore_ascii_case("up") || s.trim().eq_ignore_ascii_case("down")
    })
}

pub(crate) fn looks_like(input: &Input<'_, '_>) -> bool {
    input
        .field_sets()
        .any(|f| is_updown(f) && (f.get(SUBJECT).is_some() || f.get(ID).is_some()))
}

pub(crate) fn parse(input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    let f = input
        .field_sets()
        .find(|f| is_updown(f))
        .or_else(|| input.fields_with(STATUS));
    let Some(f) = f else {
        return Err(Unrecognised::new(
            "expected a Healthchecks.io webhook: JSON, form fields or a query string with \
             status ($STATUS: up or down) and name ($NAME), or the check's $JSON",
        ));
    };
    let status = f.get(STATUS).unwrap_or("").trim().to_ascii_lowercase();
    let state = match status.as_str() {
        "down" => Ok(AlertState::Down),
        "up" => Ok(AlertState::Up),
        "grace" => Err(Ignored::Pending),
        "paused" => Err(Ignored::Maintenance),
        _ => Err(Ignored::Other),
    };
    let mut alert = Alert::new(NAME, state);
    alert.subject = input::subject(f.get_nonempty(SUBJECT));
    for tag in f
        .get_nonempty(&["tags"])
        .unwrap_or("")
        .split_whitespace()
        .take(TAGS_MAX)
    {
        alert.labels.insert(format!("tag.{tag}"), String::new());
    }
    let time = f.get_nonempty(TIME);
    if let (Some(id), Some(t)) = (f.get_nonempty(ID), time) {
        alert.fingerprint = Some(format!("{}@{}", id.trim(), t.trim()));
    }
    alert.at = time.and_then(input::parse_time);
    let detail = f
        .get_nonempty(&["description", "desc"])
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{} is {}",
                alert.subject.as_deref().unwrap_or("check"),
                if status.is_empty() {
                    "unknown"
                } else {
                    &status
                }
            )
        });
    alert.detail = input::detail(&detail);
    Ok(vec![alert])
}
