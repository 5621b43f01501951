//! What every source reads from a request, decoded once: the JSON body (or
//! the JSON in a multipart `data` field), the form fields of the body and
//! the query string's fields; plus the small helpers the sources share
//! (timestamps, one-line text). Nothing here panics on any input.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::AlertRequest;

/// Longest `detail` (in characters).
pub(crate) const DETAIL_MAX: usize = 500;
/// Most tags read from one monitor (Kuma tags, Healthchecks tags, ...).
pub(crate) const TAGS_MAX: usize = 64;

/// A request decoded once; the sources look at it, never at raw bytes.
pub(crate) struct Input<'r, 'a> {
    pub req: &'r AlertRequest<'a>,
    /// The body as JSON, or the JSON in the `data` part of a multipart body.
    pub json: Option<Value>,
    /// Whether the body was `multipart/form-data` with a `data` part.
    pub multipart_data: bool,
    /// Top-level scalar fields of `json` when it is an object.
    pub json_fields: Option<Fields>,
    /// `application/x-www-form-urlencoded` fields of a body that is not JSON.
    pub form_fields: Option<Fields>,
    /// The query string's fields.
    pub query_fields: Fields,
}

impl<'r, 'a> Input<'r, 'a> {
    pub(crate) fn new(req: &'r AlertRequest<'a>) -> Self {
        let (media, params) = media_type(req.content_type);
        let mut multipart_data = false;
        let json = if media == "multipart/form-data" {
            let part = params
                .iter()
                .find(|(k, _)| k == "boundary")
                .and_then(|(_, b)| multipart_field(req.body, b, "data"));
            multipart_data = part.is_some();
            part.and_then(json_of)
        } else {
            json_of(req.body)
        };
        let json_fields = json
            .as_ref()
            .and_then(Value::as_object)
            .map(Fields::of_json);
        let form_fields =
            if json.is_none() && !req.body.is_empty() && !media.starts_with("multipart/") {
                let f = Fields::of_pairs(url::form_urlencoded::parse(req.body));
                (!f.is_empty()).then_some(f)
            } else {
                None
            };
        let query_fields = Fields::of_pairs(url::form_urlencoded::parse(req.query.as_bytes()));
        Input {
            req,
            json,
            multipart_data,
            json_fields,
            form_fields,
            query_fields,
        }
    }

    /// The JSON body when it is an object.
    pub(crate) fn object(&self) -> Option<&Map<String, Value>> {
        self.json.as_ref().and_then(Value::as_object)
    }

    /// The field sets in the order they are read: JSON body, form body,
    /// query string.
    pub(crate) fn field_sets(&self) -> impl Iterator<Item = &Fields> {
        self.json_fields
            .iter()
            .chain(self.form_fields.iter())
            .chain(std::iter::once(&self.query_fields))
    }

    /// The first field set that has one of `names` (normalised, see
    /// [`norm`]).
    pub(crate) fn fields_with(&self, names: &[&str]) -> Option<&Fields> {
        self.field_sets().find(|f| f.get(names).is_some())
    }
}

fn json_of(body: &[u8]) -> Option<Value> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    // serde_json limits nesting to 128 levels: no stack overflow here.
    serde_json::from_slice(trimmed).ok()
}

/// The media type, lower-cased, and its parameters (names lower-cased,
/// values unquoted): `multipart/form-data; boundary="x"` →
/// (`multipart/form-data`, [(`boundary`, `x`)]).
pub(crate) fn media_type(ct: Option<&str>) -> (String, Vec<(String, String)>) {
    let Some(ct) = ct else {
        return (String::new(), Vec::new());
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .take(16)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    (media, params)
}

/// The content of the part named `name` in a `multipart/form-data` body
/// (RFC 7578), or None when the body does not hold one. Minimal: the part's
/// headers are only searched for its `name`; a part is what lies between two
/// delimiter lines.
pub(crate) fn multipart_field<'b>(body: &'b [u8], boundary: &str, name: &str) -> Option<&'b [u8]> {
    // RFC 2046: 1 to 70 characters.
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary.as_bytes());
    let mut rest = &body[find(body, &delim)? + delim.len()..];
    for _ in 0..64 {
        if rest.starts_with(b"--") {
            return None; // the closing delimiter
        }
        let end = find(rest, &delim)?;
        let part = &rest[..end];
        rest = &rest[end + delim.len()..];
        let part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))
            .unwrap_or(part);
        let (headers, content) = match find(part, b"\r\n\r\n") {
            Some(i) => (&part[..i], &part[i + 4..]),
            None => match find(part, b"\n\n") {
                Some(i) => (&part[..i], &part[i + 2..]),
                None => continue,
            },
        };
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        if part_name(headers).as_deref() == Some(name) {
            return Some(content);
        }
    }
    None
}

/// The `name` parameter of a part's Content-Disposition header.
fn part_name(headers: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("name") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Some(v.to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A key the way users may spell it, reduced: lower case, without `_`, `-`,
/// spaces and `*` (UptimeRobot's variables are written `*alertType*`), so
/// `alertType`, `alert_type` and `Alert-Type` are one key.
pub(crate) fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '*'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Flat fields (form, query string or a JSON object's top-level scalars),
/// keys normalised with [`norm`], in their order.
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// At most this many fields are kept.
    const MAX: usize = 256;

    fn of_pairs<'p>(
        pairs: impl Iterator<Item = (std::borrow::Cow<'p, str>, std::borrow::Cow<'p, str>)>,
    ) -> Self {
        Fields(
            pairs
                .take(Self::MAX)
                .map(|(k, v)| (norm(&k), v.into_owned()))
                .collect(),
        )
    }

    fn of_json(obj: &Map<String, Value>) -> Self {
        Fields(
            obj.iter()
                .filter_map(|(k, v)| Some((norm(k), scalar(v)?)))
                .take(Self::MAX)
                .collect(),
        )
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the first of `names` (already normalised) present.
    pub(crate) fn get(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.0.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()))
    }

    /// Like [`Fields::get`], but an empty value counts as absent.
    pub(crate) fn get_nonempty(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.0
                .iter()
                .find(|(k, v)| k == n && !v.trim().is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A JSON scalar as text (strings as they are, numbers and booleans
/// printed, null as ""); objects and arrays have none.
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A non-empty scalar at `key` of `obj`, as text.
pub(crate) fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(scalar)
        .filter(|s| !s.trim().is_empty())
}

/// String-valued (or scalar) entries of a JSON object, as labels.
pub(crate) fn labels_of(v: Option<&Value>, into: &mut BTreeMap<String, String>) {
    if let Some(obj) = v.and_then(Value::as_object) {
        for (k, v) in obj.iter().take(Fields::MAX) {
            if let Some(s) = scalar(v) {
                into.insert(k.clone(), s);
            }
        }
    }
}

/// When something happened, Unix ms, from the ways senders write it:
/// RFC 3339 (`2024-01-15T10:30:00.5Z`, `...+02:00`); `YYYY-MM-DD HH:MM:SS`
/// with optional fraction and `T` or space, taken as UTC; or digits, Unix
/// seconds (or milliseconds when above 10^11, i.e. after 1973 in ms).
/// Times before 1970 (Go's zero time `0001-01-01T00:00:00Z` means "unset")
/// and anything else give None.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let ms = if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        if n > 100_000_000_000 {
            n
        } else {
            n.checked_mul(1000)?
        }
    } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        t.timestamp_millis()
    } else {
        let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())?;
        naive.and_utc().timestamp_millis()
    };
    (ms >= 0).then_some(ms)
}

/// [`parse_time`] of a JSON value (a string, or a number of Unix seconds).
pub(crate) fn time_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => {
            let n = n.as_i64()?;
            parse_time(&n.to_string())
        }
        Value::String(s) => parse_time(s),
        _ => None,
    }
}

/// Text for one line: control characters (and Unicode line separators and
/// bidirectional overrides) become spaces, runs of white space one space,
/// trimmed, at most `max` characters (cut with "…").
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut count = 0usize;
    let mut pending_space = false;
    for c in s.chars() {
        let blank = c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if blank {
            pending_space = count > 0;
            continue;
        }
        let need = if pending_space { 2 } else { 1 };
        if count + need > max {
            // Make room for the ellipsis.
            while count + 1 > max && out.pop().is_some() {
                count -= 1;
            }
            if max > 0 {
                out.push('…');
            }
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// A detail line ([`one_line`] to [`DETAIL_MAX`]).
pub(crate) fn detail(s: &str) -> String {
    one_line(s, DETAIL_MAX)
}

/// A subject: one line of at most 500 characters; empty is none.
pub(crate) fn subject(s: Option<&str>) -> Option<String> {
    s.map(|s| one_line(s, DETAIL_MAX)).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_strips_and_caps() {
        assert_eq!(one_line("  a\r\n\tb\u{1b}[31m c  ", 500), "a b [31m c");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("ab cdef", 3), "ab…");
        assert_eq!(one_line("abc", 3), "abc");
        let long = "é".repeat(2000);
        let d = detail(&long);
        assert_eq!(d.chars().count(), 500);
        assert!(d.ends_with('…'));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("2024-01-15 10:30:00"), Some(1_705_314_600_000));
        assert_eq!(parse_time("2024-01-15T10:30:00Z"), Some(1_705_314_600_000));
        assert_eq!(
            parse_time("2024-01-15T12:30:00.250+02:00"),
            Some(1_705_314_600_250)
        );
        assert_eq!(parse_time("1705314600"), Some(1_705_314_600_000));
        assert_eq!(parse_time("1705314600123"), Some(1_705_314_600_123));
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("99999999999999999999999"), None);
    }

    #[test]
    fn multipart() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_field(body, "XyZ", "data"),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(multipart_field(body, "XyZ", "nope"), None);
        assert_eq!(multipart_field(body, "", "data"), None);
        assert_eq!(multipart_field(b"--XyZ", "XyZ", "data"), None);
        assert_eq!(multipart_field(b"garbage", "XyZ", "data"), None);
    }

    #[test]
    fn media_types() {
        let (m, p) = media_type(Some("Multipart/Form-Data; boundary=\"a b\"; x"));
        assert_eq!(m, "multipart/form-data");
        assert_eq!(p, vec![("boundary".to_string(), "a b".to_string())]);
        assert_eq!(norm("*alert_Type*"), "alerttype");
    }
}
