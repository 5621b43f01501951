//! Helpers shared by the config tests: load a file's text as `autoheal.toml`
//! (no environment) and expect it to load, or to fail with errors.

#![allow(dead_code)]

use autoheal_config::{parse_str, Config, ConfigError, ConfigErrors};
use std::collections::BTreeMap;

pub fn load(text: &str) -> Config {
    parse_str(text, "autoheal.toml", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn errors(text: &str) -> ConfigErrors {
    match parse_str(text, "autoheal.toml", &BTreeMap::new()) {
        Ok(c) => panic!("expected errors, the config loaded: {c:?}"),
        Err(e) => e,
    }
}

/// The error reported at `key`.
pub fn find<'a>(e: &'a ConfigErrors, key: &str) -> &'a ConfigError {
    e.0.iter()
        .find(|x| x.key == key)
        .unwrap_or_else(|| panic!("no error for {key} in:\n{e}"))
}
