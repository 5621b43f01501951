//! Deserializing one piece of the file at a time, so that one bad key does
//! not hide the others: the top level is read as a `toml::Table`, then each
//! section, target, group and action on its own, and for our own all-optional
//! key structs each key on its own. Every error keeps its full key path
//! (`serde_path_to_error`).

use crate::error::{from_serde, name_key, Errors};
use serde::de::DeserializeOwned;

/// Deserializes `table` (found at `prefix`) as a whole; on failure records the
/// first error and returns `None`. For plugin configs, which have required
/// keys.
pub(crate) fn deserialize_table<T: DeserializeOwned>(
    table: toml::Table,
    prefix: &str,
    errs: &mut Errors,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(table) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let (key, message) = from_serde(prefix, &path, e.inner().message());
            errs.push(key, message);
            None
        }
    }
}

/// Deserializes an all-optional key struct key by key: every bad key is
/// recorded and left out (it falls back to the next layer's value), the
/// good ones are kept.
pub(crate) fn deserialize_keywise<T: DeserializeOwned + Default>(
    table: &toml::Table,
    prefix: &str,
    errs: &mut Errors,
) -> T {
    let mut good = toml::Table::new();
    for (k, v) in table {
        let mut single = toml::Table::new();
        single.insert(k.clone(), v.clone());
        if deserialize_table::<T>(single, prefix, errs).is_some() {
            good.insert(k.clone(), v.clone());
        }
    }
    deserialize_table(good, prefix, errs).unwrap_or_default()
}

/// The value at `key` of `table` as a table, or an error naming it.
pub(crate) fn expect_table<'a>(
    value: &'a toml::Value,
    key: &str,
    what: &str,
    errs: &mut Errors,
) -> Option<&'a toml::Table> {
    match value {
        toml::Value::Table(t) => Some(t),
        other => {
            errs.push(key, format!("expected {what}, found {}", other.type_str()));
            None
        }
    }
}

/// Each `[<section>.<name>]` table of a section such as `targets`.
pub(crate) fn named_tables<'a>(
    root: &'a toml::Table,
    section: &str,
    what: &str,
    errs: &mut Errors,
) -> Vec<(&'a str, &'a toml::Table)> {
    let Some(value) = root.get(section) else {
        return Vec::new();
    };
    let Some(table) = expect_table(value, section, "a table", errs) else {
        return Vec::new();
    };
    table
        .iter()
        .filter_map(|(name, v)| {
            expect_table(v, &name_key(section, name), what, errs).map(|t| (name.as_str(), t))
        })
        .collect()
}
