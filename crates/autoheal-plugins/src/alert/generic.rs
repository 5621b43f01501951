//! Generic: any sender, with a [`GenericRule`] saying where the state is.
//!
//! With an empty `pointer`, every call means down, whatever its body. With
//! a pointer (RFC 6901, e.g. `/status` or `/data/state`), the value there
//! in the JSON body (or, when the body is not JSON, in an object made of the
//! form fields or else the query string's fields, names as sent) is read as
//! text (strings as they are, numbers and booleans printed) and compared
//! case-insensitively with `down` and `up`; a value in neither, or nothing
//! there, is [`Unrecognised`] saying what was found and what was expected.
//! No subject, labels, fingerprint or time; detail `<pointer> = <value>`.

use serde_json::{Map, Value};

use super::input::{self, Input};
use super::{Alert, AlertState, GenericRule, Unrecognised};

const NAME: &str = "generic";

pub(crate) fn parse(rule: &GenericRule, input: &Input<'_, '_>) -> Result<Vec<Alert>, Unrecognised> {
    if rule.pointer.is_empty() {
        let mut alert = Alert::new(NAME, Ok(AlertState::Down));
        alert.detail = "webhook called".to_string();
        return Ok(vec![alert]);
    }
    let flat;
    let doc = match &input.json {
        Some(v) => v,
        None => {
            let raw = if input.req.body.is_empty() || input.multipart_data {
                input.req.query.as_bytes()
            } else {
                input.req.body
            };
            let mut m = Map::new();
            for (k, v) in url::form_urlencoded::parse(raw).take(256) {
                m.entry(k.into_owned())
                    .or_insert(Value::String(v.into_owned()));
            }
            flat = Value::Object(m);
            &flat
        }
    };
    let expected = || format!("expected down {:?} or up {:?}", rule.down, rule.up);
    let found = match doc.pointer(&rule.pointer) {
        None => {
            return Err(Unrecognised(format!(
                "nothing at {} in the body; {}",
                rule.pointer,
                expected()
            )))
        }
        Some(v) => match v {
            Value::Array(_) | Value::Object(_) => {
                return Err(Unrecognised(format!(
                    "{} is {} in the body, not a value; {}",
                    rule.pointer,
                    if v.is_array() {
                        "an array"
                    } else {
                        "an object"
                    },
                    expected()
                )))
            }
            v => input::scalar(v).unwrap_or_default(),
        },
    };
    let matches = |list: &[String]| {
        list.iter()
            .any(|x| x.to_lowercase() == found.to_lowercase())
    };
    let state = if matches(&rule.down) {
        AlertState::Down
    } else if matches(&rule.up) {
        AlertState::Up
    } else {
        return Err(Unrecognised(format!(
            "{} is {:?}; {}",
            rule.pointer,
            input::one_line(&found, 100),
            expected()
        )));
    };
    let mut alert = Alert::new(NAME, Ok(state));
    alert.detail = input::detail(&format!("{} = {found}", rule.pointer));
    Ok(vec![alert])
}
