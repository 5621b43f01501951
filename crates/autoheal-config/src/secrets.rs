//! Secret references: a key that holds a credential may be written as
//! `{ env = "NAME" }` (the variable of the environment map the loader was
//! given) or `{ file = "PATH" }` (the file's text, one trailing newline
//! trimmed; relative to the config file's directory) instead of the value.
//!
//! References are resolved here, while the file is loaded (so SIGHUP and
//! every compose with the API's objects read them again), into the plain
//! strings the plugins take: past this crate nothing knows a value came from
//! a reference. What is kept is where each reference was ([`SecretRefs`]),
//! so that an export writes the reference back and never the value.
//!
//! The keys ([`HTTP`], [`ENV`], [`RENDER`], [`COOLIFY`], [`DOCKER`], [`STORE`]):
//! - an `http` check's and a `webhook` action's `url` and every `headers`
//!   value;
//! - every `env` value of an `exec` check and a `command` action;
//! - the `api_key` of `render_deploy` and `render_restart` actions;
//! - the `token` of `coolify_restart`, `coolify_deploy` and `coolify_start`
//!   actions;
//! - `docker.webhook_url`, `docker.apprise_url`;
//! - `store.url`.
//!
//! Only the file's own objects may use them: an object made through the
//! management API that holds one is refused, or anyone allowed to make a
//! target could have autoheal send any file or variable of its host to a
//! server of their choosing.
//!
//! A value read never appears in an error: messages name the key, the
//! variable or the path, and any error about the key a value went into is
//! scrubbed of it ([`scrub`]).

use crate::error::{join, name_key, ConfigError, Errors};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest secret file read (a token, a key, a URL: not a database).
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

const FORMS: &str = r#"{ env = "NAME" } or { file = "PATH" }"#;

/// `{ env = "NAME" }` or `{ file = "PATH" }`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable's name.
    Env(String),
    /// A path as written (relative ones are relative to the config file's
    /// directory).
    File(PathBuf),
}

impl SecretRef {
    /// The reference as the file writes it.
    pub fn to_table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        match self {
            SecretRef::Env(n) => t.insert("env".into(), toml::Value::String(n.clone())),
            SecretRef::File(p) => t.insert(
                "file".into(),
                toml::Value::String(p.to_string_lossy().into_owned()),
            ),
        };
        t
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "{{ env = {n:?} }}"),
            SecretRef::File(p) => write!(f, "{{ file = {:?} }}", p.display().to_string()),
        }
    }
}

/// A path within a table (`["headers", "Authorization"]`) and the
/// reference written there.
pub type Located = Vec<(Vec<String>, SecretRef)>;

/// Where the file wrote references (no values): for export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRefs {
    /// `[actions.<name>]`: paths within the action's table.
    pub actions: BTreeMap<String, Located>,
    /// `targets.<name>.check`: paths within the check's table.
    pub checks: BTreeMap<String, Located>,
    /// `[channels.<name>]`: paths within the channel's table.
    pub channels: BTreeMap<String, Located>,
}

/// Puts each reference back at its path in `table` (a plugin's config
/// written out again), in place of the value read.
pub(crate) fn write_back(table: &mut toml::Table, refs: Option<&Located>) {
    fn put(t: &mut toml::Table, path: &[String], r: &SecretRef) {
        match path {
            [] => {}
            [last] => {
                if let Some(v) = t.get_mut(last) {
                    *v = toml::Value::Table(r.to_table());
                }
            }
            [first, rest @ ..] => {
                if let Some(next) = t.get_mut(first).and_then(toml::Value::as_table_mut) {
                    put(next, rest, r);
                }
            }
        }
    }
    for (path, r) in refs.into_iter().flatten() {
        put(table, path, r);
    }
}

/// A key that may hold a reference.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    /// The value of this key.
    Value(&'static str),
    /// Every value of the table at this key (`headers`, `env`).
    EachValueOf(&'static str),
}

/// `http` checks and `webhook` actions.
pub(crate) const HTTP: &[Slot] = &[Slot::Value("url"), Slot::EachValueOf("headers")];
/// `exec` checks and `command` actions.
pub(crate) const ENV: &[Slot] = &[Slot::EachValueOf("env")];
/// `render_deploy` and `render_restart` actions.
pub(crate) const RENDER: &[Slot] = &[Slot::Value("api_key")];
/// `coolify_restart`, `coolify_deploy` and `coolify_start` actions.
pub(crate) const COOLIFY: &[Slot] = &[Slot::Value("token")];
/// `[channels.*]`: every key a channel keeps a secret in.
pub(crate) const CHANNEL: &[Slot] = &[
    Slot::Value("url"),
    Slot::Value("token"),
    Slot::Value("bot_token"),
    Slot::Value("password"),
    Slot::Value("api_key"),
    Slot::Value("routing_key"),
    Slot::Value("user_key"),
    Slot::Value("auth_token"),
    Slot::Value("key"),
    Slot::EachValueOf("headers"),
];
/// `[docker]`.
pub(crate) const DOCKER: &[Slot] = &[Slot::Value("webhook_url"), Slot::Value("apprise_url")];
/// `[store]`.
pub(crate) const STORE: &[Slot] = &[Slot::Value("url")];

/// What references are read from: the loader's environment map and the
/// config file's directory.
pub(crate) struct Sources<'a> {
    pub env: &'a BTreeMap<String, String>,
    /// `None`: relative paths are relative to the working directory.
    pub dir: Option<&'a Path>,
    /// Every value read, with the key prefix it went under, for [`scrub`].
    read: Vec<(String, String)>,
}

impl<'a> Sources<'a> {
    pub fn new(env: &'a BTreeMap<String, String>, dir: Option<&'a Path>) -> Self {
        Sources {
            env,
            dir,
            read: Vec::new(),
        }
    }

    /// Replaces each reference found at `slots` of `table` (found at key
    /// `prefix`) with the value it names. With `allowed` false (an object
    /// of the API) a reference is an error. Returns where the references
    /// were, or `None` when one of them was wrong (reported in `errs`).
    pub fn resolve(
        &mut self,
        table: &mut toml::Table,
        slots: &[Slot],
        prefix: &str,
        allowed: bool,
        errs: &mut Errors,
    ) -> Option<Located> {
        let mut found = Located::new();
        let mut ok = true;
        for slot in slots {
            match *slot {
                // A wrong reference is taken out, so that it is not
                // reported a second time as "expected a string".
                Slot::Value(k) => {
                    if let Some(v) = table.get_mut(k) {
                        let key = join(prefix, k);
                        match self.one(prefix, v, &key, allowed, errs) {
                            Some(Some(r)) => found.push((vec![k.to_string()], r)),
                            Some(None) => {}
                            None => {
                                table.remove(k);
                                ok = false;
                            }
                        }
                    }
                }
                Slot::EachValueOf(k) => {
                    let Some(toml::Value::Table(map)) = table.get_mut(k) else {
                        continue;
                    };
                    let at = join(prefix, k);
                    let mut wrong = Vec::new();
                    for (name, v) in map.iter_mut() {
                        let key = name_key(&at, name);
                        match self.one(prefix, v, &key, allowed, errs) {
                            Some(Some(r)) => found.push((vec![k.to_string(), name.clone()], r)),
                            Some(None) => {}
                            None => wrong.push(name.clone()),
                        }
                    }
                    ok &= wrong.is_empty();
                    for name in wrong {
                        map.remove(&name);
                    }
                }
            }
        }
        ok.then_some(found)
    }

    /// One value: a table is a reference, replaced by what it names
    /// (`Some(Some(ref))`); anything else is left alone (`Some(None)`);
    /// `None` when the reference is wrong.
    fn one(
        &mut self,
        scope: &str,
        v: &mut toml::Value,
        key: &str,
        allowed: bool,
        errs: &mut Errors,
    ) -> Option<Option<SecretRef>> {
        let toml::Value::Table(t) = v else {
            return Some(None);
        };
        if !allowed {
            errs.push(
                key,
                format!("a secret reference ({FORMS}) is read only from the config file; an object made through the API holds the value itself"),
            );
            return None;
        }
        let r = parse_ref(t, key, errs)?;
        let value = self.read(&r, key, errs)?;
        *v = toml::Value::String(value.clone());
        self.read.push((scope.to_string(), value));
        Some(Some(r))
    }

    fn read(&self, r: &SecretRef, key: &str, errs: &mut Errors) -> Option<String> {
        match r {
            SecretRef::Env(name) => match self.env.get(name) {
                Some(v) => Some(v.clone()),
                None => {
                    errs.push(
                        key,
                        format!("the environment variable {name:?} (from {r}) is not set"),
                    );
                    None
                }
            },
            SecretRef::File(p) => {
                let path = match self.dir {
                    Some(d) if p.is_relative() => d.join(p),
                    _ => p.clone(),
                };
                match read_secret_file(&path) {
                    Ok(v) => Some(v),
                    Err(why) => {
                        errs.push(
                            key,
                            format!(
                                "cannot read the secret file {:?} (from {r}): {why}",
                                path.display().to_string()
                            ),
                        );
                        None
                    }
                }
            }
        }
    }

    /// Every value read, with the key of the table it went into.
    pub fn into_read(self) -> Vec<(String, String)> {
        self.read
    }
}

/// `{ env = "NAME" }` or `{ file = "PATH" }`, checked.
fn parse_ref(t: &toml::Table, key: &str, errs: &mut Errors) -> Option<SecretRef> {
    let mut bad = false;
    for k in t.keys() {
        if k != "env" && k != "file" {
            errs.push(
                name_key(key, k),
                format!("unknown key in a secret reference; expected {FORMS}"),
            );
            bad = true;
        }
    }
    if bad {
        return None;
    }
    let text = |k: &str, what: &str, errs: &mut Errors| -> Option<String> {
        match t.get(k)? {
            toml::Value::String(s) if !s.is_empty() && !s.contains('\0') => Some(s.clone()),
            toml::Value::String(_) => {
                errs.push(
                    join(key, k),
                    format!("expected {what}, found an empty string or a NUL byte"),
                );
                None
            }
            other => {
                errs.push(
                    join(key, k),
                    format!("expected {what} (a string), found {}", other.type_str()),
                );
                None
            }
        }
    };
    match (t.contains_key("env"), t.contains_key("file")) {
        (true, true) => {
            errs.push(key, format!("expected either {FORMS}, not both"));
            None
        }
        (false, false) => {
            errs.push(
                key,
                format!("expected a string, or a secret reference {FORMS}, found an empty table"),
            );
            None
        }
        (true, false) => {
            text("env", "the name of an environment variable", errs).map(SecretRef::Env)
        }
        (false, true) => {
            text("file", "a file path", errs).map(|p| SecretRef::File(PathBuf::from(p)))
        }
    }
}

/// A secret file's text with one trailing newline (`\n` or `\r\n`) trimmed.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err("it is a directory".into());
    }
    let mut bytes = Vec::new();
    f.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "it is larger than {} KiB; expected one secret",
            MAX_SECRET_FILE / 1024
        ));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Removes every value read from the messages of the errors about the
/// table it went into (a plugin's, `docker`, `store`): no message says what
/// a reference held, even one from a plugin that quotes what it refused.
pub(crate) fn scrub(list: &mut [ConfigError], read: &[(String, String)]) {
    for (within, value) in read {
        if value.is_empty() {
            continue;
        }
        let forms = [
            value.clone(),
            crate::error::escape_controls(value),
            format!("{value:?}").trim_matches('"').to_string(),
        ];
        for e in list
            .iter_mut()
            .filter(|e| e.key.starts_with(within.as_str()))
        {
            for f in &forms {
                if !f.is_empty() && e.message.contains(f.as_str()) {
                    e.message = e
                        .message
                        .replace(f.as_str(), autoheal_plugins::redact::REDACTED);
                }
            }
        }
    }
}
