//! Config errors: each names the file, the key path and what was expected,
//! and a load collects all of them so `autoheal check` lists them at once.

use std::fmt;

/// The `file` of errors that come from environment variables.
pub const ENVIRONMENT: &str = "environment";

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the key is in ("autoheal.toml"), or [`ENVIRONMENT`].
    pub file: String,
    /// Dotted key path ("targets.api.check.url"); the variable name for
    /// environment errors; empty when the whole file is at fault (syntax,
    /// unreadable).
    pub key: String,
    /// What was expected and what was found.
    pub message: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one load, in file order then validation order.
/// Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Collects errors for one file while a load walks it.
#[derive(Debug)]
pub(crate) struct Errors {
    pub file: String,
    pub list: Vec<ConfigError>,
}

impl Errors {
    pub fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            list: Vec::new(),
        }
    }
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let message = escape_controls(&one_line(&message.into()));
        let key = escape_controls(&key.into());
        self.list
            .push(ConfigError::new(self.file.clone(), key, message));
    }
}

/// Messages from other crates may span lines (the `cron` crate draws a
/// caret under the bad part): one error is one line, so lines are joined and
/// lines of only punctuation dropped.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().any(char::is_alphanumeric))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Control characters (a name or value written with `\u0007`, `\u001b[..`)
/// never reach a terminal raw: they are shown escaped, `\u{7}`.
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// serde's names for what it expected, in TOML's words.
fn toml_words(expected: &str) -> String {
    match expected {
        "a map" => "a table".to_string(),
        "a sequence" => "an array".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        // An enum of names (log.format) given something else.
        "string only" => "a string".to_string(),
        "path string" => "a path (a string)".to_string(),
        "a duration" => crate::raw::DURATION_EXPECTED.to_string(),
        other => other.to_string(),
    }
}

/// serde's names for what it found, in TOML's words; `None` when serde's
/// word is about its own machinery (`unit variant`) rather than the value.
fn toml_found(found: &str) -> Option<String> {
    Some(match found {
        "sequence" => "an array".to_string(),
        "map" => "a table".to_string(),
        "unit variant" | "newtype variant" | "tuple variant" | "struct variant" | "unit" => {
            return None
        }
        f => match f.strip_prefix("floating point ") {
            Some(n) => format!("number {n}"),
            None => f.to_string(),
        },
    })
}

/// The key of `[<section>.<name>]`, with the name quoted when it holds more
/// than letters, digits, `_` and `-` (a dot, a space, a control character):
/// `targets."web.v2"`.
pub(crate) fn name_key(section: &str, name: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(bare) {
        format!("{section}.{name:?}")
    } else {
        format!("{section}.{name}")
    }
}

/// Joins a key path: `join("targets.api", "cooldown")`.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{key}"),
    }
}

/// Turns a serde error found at `path` (relative to `prefix`) into a key and
/// a message in our wording: "expected X, found Y".
pub(crate) fn from_serde(prefix: &str, path: &str, msg: &str) -> (String, String) {
    let mut key = join(prefix, if path == "." { "" } else { path });
    let msg = msg.trim();
    // Custom messages from our own types are already in our wording.
    for p in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(p) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                let expected = toml_words(expected);
                return match toml_found(found) {
                    Some(found) => (key, format!("expected {expected}, found {found}")),
                    None => (key, format!("expected {expected}")),
                };
            }
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        // The path already ends with the unknown key.
        // serde writes "expected `a`", "`a` or `b`", "one of `a`, `b`, `c`".
        let names: Vec<&str> = rest
            .split_once(", expected ")
            .map(|(_, e)| e.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let message = match names.as_slice() {
            [] => "unknown key; this table takes no keys".to_string(),
            [one] => format!("unknown key; the only key here is {one}"),
            many => format!("unknown key; expected one of {}", many.join(", ")),
        };
        return (key, message);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        if let Some((found, expected)) = rest.split_once("`, expected ") {
            return (
                key,
                format!("expected {}, found {found:?}", expected.replace('`', "\"")),
            );
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        key = join(&key, field);
        return (key, "missing; this key is required".to_string());
    }
    // A table given where one name is expected (an enum such as log.format).
    if msg.starts_with("wanted exactly ") && msg.ends_with(" elements") {
        return (key, "expected a string, found a table".to_string());
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return (key, format!("expected {expected}, found length {found}"));
        }
    }
    (key, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_wording_becomes_expected_then_found() {
        assert_eq!(
            from_serde(
                "targets.api",
                "failure_threshold",
                "invalid type: string \"x\", expected u32"
            ),
            (
                "targets.api.failure_threshold".into(),
                "expected a whole number (0 or more), found string \"x\"".into()
            )
        );
        assert_eq!(
            from_serde("targets.api.check", ".", "missing field `url`"),
            (
                "targets.api.check.url".into(),
                "missing; this key is required".into()
            )
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let e = ConfigErrors(vec![
            ConfigError::new("a.toml", "x", "bad"),
            ConfigError::new("a.toml", "", "worse"),
        ]);
        assert_eq!(e.to_string(), "a.toml: x: bad\na.toml: worse");
    }
}
