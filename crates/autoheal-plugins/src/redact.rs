//! One redactor for every place a plugin's settings leave the process: the
//! `spec` a target carries to the store and the API, and `Debug` output.
//!
//! What counts as a secret, and becomes [`REDACTED`]:
//! - in a URL: the userinfo (`user:password@`) and every query value (keys
//!   stay, so `?token=[redacted]&format=[redacted]` still says what was sent);
//! - every header value (`headers = { ... }`), whatever the header's name;
//! - every environment value (`env = { ... }`) of exec checks and commands;
//!   a value the config file wrote as a secret reference (`{ env = "NAME" }`,
//!   `{ file = "PATH" }`, as `autoheal export` writes it back) stays: it says
//!   where the secret is, not what it is;
//! - request bodies (`body`), which often carry credentials;
//! - in argument lists (`argv`): the value of a sensitive-looking flag
//!   (`--password=x`, `--token x`), of a `Name: value` header argument, and
//!   URLs as above;
//! - any other string under a sensitive-looking key (see [`is_sensitive_name`]).
//!
//! The redactor works on JSON, so it covers every plugin's serialized config
//! (and Docker-discovered targets) without knowing their types.

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Name fragments that make a key, flag, header or query parameter look
/// like it holds a secret (compared lower-case, as substrings).
const SENSITIVE: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "pass",
    "auth",
    "key",
    "cookie",
    "session",
    "credential",
    "sig",
    "private",
    "bearer",
    "jwt",
];

/// True when a name (`api_key`, `X-Auth-Token`, `--password`) looks like it
/// holds a secret.
pub fn is_sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| n.contains(s))
}

/// A URL without its userinfo and with every query value replaced; the
/// scheme, host, port, path and query keys stay. Works on text, so URLs
/// that do not parse (a `{{container}}` template) are redacted too.
///
/// ```
/// use autoheal_plugins::redact::redact_url_secrets;
/// assert_eq!(
///     redact_url_secrets("https://u:p@example.com/x?token=abc&v=1"),
///     "https://[redacted]@example.com/x?token=[redacted]&v=[redacted]"
/// );
/// ```
pub fn redact_url_secrets(raw: &str) -> String {
    let (before_fragment, fragment) = match raw.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (raw, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = redact_authority(base);
    if let Some(q) = query {
        out.push('?');
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}={REDACTED}"),
                None if pair.is_empty() => String::new(),
                None => REDACTED.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        // A fragment can carry a token too (OAuth implicit flow).
        if !f.is_empty() {
            out.push('#');
            out.push_str(REDACTED);
        }
    }
    out
}

/// `scheme://user:pass@host/path` → `scheme://[redacted]@host/path`; also
/// `user:pass@host:port` without a scheme (a TCP address).
fn redact_authority(base: &str) -> String {
    let (scheme, rest) = match base.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, base),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{REDACTED}@{host}"),
        None => authority.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

/// True when a string looks like a URL (`scheme://...`).
fn looks_like_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// One word of a command line: a URL, `--flag=value`, `Name: value`.
fn redact_word(word: &str) -> String {
    if looks_like_url(word) {
        return redact_url_secrets(word);
    }
    if let Some((name, _)) = word.split_once('=') {
        if is_sensitive_name(name) {
            return format!("{name}={REDACTED}");
        }
    }
    word.to_string()
}

/// An argument list with the secrets it holds replaced: the value of a
/// sensitive flag (`--password=x` or `--password x`), of a header argument
/// (`-H "Authorization: Bearer x"`: every `Name: value`), URLs, and, in a
/// shell command line, the same inside each word.
pub fn redact_argv(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for arg in argv {
        if hide_next {
            hide_next = false;
            out.push(REDACTED.to_string());
            continue;
        }
        if let Some((name, _)) = header_like(arg) {
            out.push(format!("{name}: {REDACTED}"));
            continue;
        }
        if arg.contains(char::is_whitespace) {
            out.push(redact_command_line(arg));
            continue;
        }
        if arg.starts_with('-') && !arg.contains('=') && is_sensitive_name(arg) {
            hide_next = true;
            out.push(arg.clone());
            continue;
        }
        out.push(redact_word(arg));
    }
    out
}

/// `Name: value` with a header-like name.
fn header_like(arg: &str) -> Option<(&str, &str)> {
    let (name, value) = arg.split_once(':')?;
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (is_name && value.starts_with(' ') && !looks_like_url(arg)).then_some((name, value))
}

/// A shell command line, word by word (quoting is not understood, which only
/// errs towards hiding more): after a sensitive flag or a `Name:` word, the
/// rest of that argument is hidden up to the next flag.
fn redact_command_line(line: &str) -> String {
    let mut out = Vec::new();
    let mut hide = false;
    for word in line.split(' ') {
        let bare = word.trim_matches(|c| c == '"' || c == '\'');
        if hide && !bare.starts_with('-') {
            out.push(REDACTED.to_string());
            continue;
        }
        hide = false;
        let header_name = bare.ends_with(':') && bare.len() > 1;
        let secret_flag = bare.starts_with('-') && !bare.contains('=') && is_sensitive_name(bare);
        if header_name || secret_flag {
            out.push(word.to_string());
            hide = true;
        } else {
            out.push(redact_word(word));
        }
    }
    out.join(" ")
}

/// Redacts a plugin's (or a whole target's) settings as JSON, in place.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "headers" | "env" => redact_all_values(v),
                    // A URL the config file reads from a reference.
                    "url" | "webhook_url" | "apprise_url" if is_secret_reference(v) => {}
                    "body" => {
                        if !v.is_null() {
                            *v = Value::String(REDACTED.into());
                        }
                    }
                    "argv" | "args" | "command" => match v {
                        Value::Array(items) => {
                            let argv: Vec<String> = items
                                .iter()
                                .map(|i| i.as_str().map(str::to_string).unwrap_or_default())
                                .collect();
                            if items.iter().all(Value::is_string) {
                                *items =
                                    redact_argv(&argv).into_iter().map(Value::String).collect();
                            } else {
                                redact_json(v);
                            }
                        }
                        Value::String(s) => *s = redact_command_line(s),
                        other => redact_json(other),
                    },
                    // A Docker target's `key` names its container, not a secret.
                    k if k != "key" && is_sensitive_name(k) && is_secret_leaf(v) => {
                        *v = Value::String(REDACTED.into());
                    }
                    _ => redact_json(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::String(s) if looks_like_url(s) || s.contains('@') && s.contains(':') => {
            *s = redact_url_secrets(s);
        }
        _ => {}
    }
}

/// A sensitive key's value is hidden when it is text or a number (a
/// sensitive-looking key holding an object, e.g. `"keys": {..}`, is walked).
fn is_secret_leaf(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_))
}

/// A config file's secret reference, `{"env": "NAME"}` or `{"file":
/// "PATH"}`: it names where the secret is, not the secret, and is kept.
pub fn is_secret_reference(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            map.len() == 1
                && map
                    .iter()
                    .all(|(k, v)| (k == "env" || k == "file") && v.is_string())
        }
        _ => false,
    }
}

/// Every value of a map (or of `[name, value]` pairs) becomes [`REDACTED`],
/// except a secret reference (see [`is_secret_reference`]).
fn redact_all_values(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for val in map.values_mut() {
                if !is_secret_reference(val) {
                    *val = Value::String(REDACTED.into());
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Array(pair) if pair.len() == 2 => {
                        pair[1] = Value::String(REDACTED.into());
                    }
                    Value::String(s) => {
                        *s = match s.split_once(['=', ':']) {
                            Some((k, _)) => format!("{k}={REDACTED}"),
                            None => REDACTED.into(),
                        }
                    }
                    other => *other = Value::String(REDACTED.into()),
                }
            }
        }
        Value::Null => {}
        other => *other = Value::String(REDACTED.into()),
    }
}

/// [`redact_json`] on a copy.
pub fn redacted_json(value: &Value) -> Value {
    let mut v = value.clone();
    redact_json(&mut v);
    v
}

/// For `Debug` impls: a map's keys with every value hidden.
pub(crate) struct KeysOnly<'a, V>(pub &'a std::collections::BTreeMap<String, V>);

impl<V> std::fmt::Debug for KeysOnly<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, REDACTED)))
            .finish()
    }
}

/// For `Debug` impls: an argument list through [`redact_argv`].
pub(crate) struct Argv<'a>(pub &'a [String]);

impl std::fmt::Debug for Argv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(redact_argv(self.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_lose_userinfo_and_query_values() {
        assert_eq!(
            redact_url_secrets("http://127.0.0.1:8080/health?token=s3cr3t&x"),
            "http://127.0.0.1:8080/health?token=[redacted]&[redacted]"
        );
        assert_eq!(
            redact_url_secrets("https://admin:hunter2@db.example:443/a#access_token=t"),
            "https://[redacted]@db.example:443/a#[redacted]"
        );
        assert_eq!(
            redact_url_secrets("http://{{container}}:80/x?key=k"),
            "http://{{container}}:80/x?key=[redacted]"
        );
        // Nothing secret: unchanged.
        assert_eq!(
            redact_url_secrets("http://example.com/health"),
            "http://example.com/health"
        );
        // A path's '@' is not userinfo.
        assert_eq!(
            redact_url_secrets("http://example.com/users/@me"),
            "http://example.com/users/@me"
        );
        assert_eq!(redact_url_secrets("u:p@host:5432"), "[redacted]@host:5432");
    }

    #[test]
    fn sensitive_names() {
        for n in [
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "x-auth-token",
            "PGPASSWORD",
            "client_secret",
            "sig",
        ] {
            assert!(is_sensitive_name(n), "{n}");
        }
        for n in ["Accept", "User-Agent", "format", "verbose"] {
            assert!(!is_sensitive_name(n), "{n}");
        }
    }

    #[test]
    fn argv_hides_flag_values_headers_and_url_secrets() {
        let argv: Vec<String> = [
            "curl",
            "-H",
            "Authorization: Bearer abc",
            "--token",
            "t0k",
            "--password=pw",
            "-v",
            "https://u:p@h/x?sig=1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            redact_argv(&argv),
            [
                "curl",
                "-H",
                "Authorization: [redacted]",
                "--token",
                "[redacted]",
                "--password=[redacted]",
                "-v",
                "https://[redacted]@h/x?sig=[redacted]",
            ]
        );
        let shell = vec!["curl -fsS -H 'X-Api-Key: k3y' http://h/?token=t && echo ok".to_string()];
        let out = redact_argv(&shell).join(" ");
        assert!(!out.contains("k3y") && !out.contains("token=t "), "{out}");
        assert!(
            out.starts_with("curl -fsS -H 'X-Api-Key: [redacted]"),
            "{out}"
        );
    }

    #[test]
    fn json_specs_hold_no_secret() {
        let mut spec = json!({
            "group": "web",
            "check": {
                "type": "http",
                "url": "https://user:pw@api.example/health?token=T1",
                "headers": {"Authorization": "Bearer T2", "Accept": "text/plain"},
                "body": "{\"password\":\"T3\"}",
                "interval": "10s",
            },
            "exec": {"type": "exec", "argv": ["check", "--secret", "T4"], "env": {"PGPASSWORD": "T5"}},
            "webhook": {"type": "webhook", "url": "https://hooks.example/x?sig=T6", "headers": [["X-Api-Key", "T7"]]},
            "labels": {"api_key": "T8", "depends_on": ["db"], "nested": {"client_secret": "T9"}},
            "tcp": {"address": "admin:T10@db:5432"},
        });
        redact_json(&mut spec);
        let text = spec.to_string();
        for t in 1..=10 {
            // T1 .. T10, not followed by a digit (T1 vs T10).
            let canary = format!("T{t}\"");
            let canary2 = format!("T{t}@");
            assert!(
                !text.contains(&canary) && !text.contains(&canary2),
                "T{t} in {text}"
            );
        }
        assert_eq!(spec["check"]["interval"], "10s");
        assert_eq!(spec["group"], "web");
        assert_eq!(spec["check"]["headers"]["Accept"], REDACTED);
        assert_eq!(spec["labels"]["depends_on"][0], "db");
        assert_eq!(
            spec["check"]["url"],
            "https://[redacted]@api.example/health?token=[redacted]"
        );
    }

    #[test]
    fn secret_references_stay_and_lookalikes_do_not() {
        let mut spec = json!({
            "headers": {
                "Authorization": {"file": "/run/secrets/token"},
                "X-Key": {"env": "API_KEY"},
                "X-Both": {"env": "A", "file": "/b"},
                "X-Odd": {"env": 5},
                "X-Plain": "T1",
            },
            "env": {"PGPASSWORD": {"env": "PGPASSWORD"}, "OTHER": "T2"},
            "url": {"env": "HOOK_URL"},
            // An env map with one variable named like a reference's key.
            "exec": {"env": {"file": "T3"}},
            "cmd": {"env": {"env": "T4"}},
            "labels": {"x": {"file": "https://u:T5@h/"}},
        });
        redact_json(&mut spec);
        assert_eq!(
            spec["headers"]["Authorization"]["file"],
            "/run/secrets/token"
        );
        assert_eq!(spec["headers"]["X-Key"]["env"], "API_KEY");
        assert_eq!(spec["env"]["PGPASSWORD"]["env"], "PGPASSWORD");
        assert_eq!(spec["url"]["env"], "HOOK_URL");
        for k in ["X-Both", "X-Odd", "X-Plain"] {
            assert_eq!(spec["headers"][k], REDACTED, "{k}");
        }
        assert_eq!(spec["env"]["OTHER"], REDACTED);
        let text = spec.to_string();
        for t in ["T1", "T2", "T3", "T4", "T5"] {
            assert!(!text.contains(t), "{t} in {text}");
        }
    }
}
