//! Objects made through the management API, laid over the file.
//!
//! The file stays the source of truth for what it defines. Targets,
//! actions, groups and the policy defaults made through the API are kept
//! by the binary (in the store) as tables written exactly as they would be
//! in the file; [`compose`] reads the file again, lays the [`Overlay`] over
//! it and resolves the whole, so an object made through the API is checked
//! by the very code that checks the file and its errors name the same keys.
//! [`pointer_in`] turns such a key into a JSON pointer into the request
//! body that carried the object.
//!
//! An overlay object whose name the file also defines is not laid over it
//! (the file wins) and is reported in [`Composed::shadowed`]; the API
//! refuses to write one in the first place ([`FileObjects::defines`]).

use crate::error::{name_key, ConfigError, ConfigErrors};
use crate::resolve::{parse_root, resolve_table};
pub use crate::source::{FileObjects, Layers, Section};
use crate::{config_dir, Config, DEFAULT_CONFIG};
use std::collections::BTreeMap;

/// The API's objects, each as its table in the file would be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    pub defaults: Option<toml::Table>,
    pub groups: BTreeMap<String, toml::Table>,
    pub actions: BTreeMap<String, toml::Table>,
    pub targets: BTreeMap<String, toml::Table>,
    pub channels: BTreeMap<String, toml::Table>,
    pub routes: BTreeMap<String, toml::Table>,
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.defaults.is_none()
            && self.groups.is_empty()
            && self.actions.is_empty()
            && self.targets.is_empty()
            && self.channels.is_empty()
            && self.routes.is_empty()
    }

    /// The object `name` of `section` (`defaults` ignores the name).
    pub fn get(&self, section: Section, name: &str) -> Option<&toml::Table> {
        match section {
            Section::Defaults => self.defaults.as_ref(),
            Section::Groups => self.groups.get(name),
            Section::Actions => self.actions.get(name),
            Section::Targets => self.targets.get(name),
            Section::Channels => self.channels.get(name),
            Section::Routes => self.routes.get(name),
        }
    }

    /// Sets (`Some`) or removes (`None`) one object; returns the old one.
    pub fn set(
        &mut self,
        section: Section,
        name: &str,
        table: Option<toml::Table>,
    ) -> Option<toml::Table> {
        let map = match section {
            Section::Defaults => return std::mem::replace(&mut self.defaults, table),
            Section::Groups => &mut self.groups,
            Section::Actions => &mut self.actions,
            Section::Targets => &mut self.targets,
            Section::Channels => &mut self.channels,
            Section::Routes => &mut self.routes,
        };
        match table {
            Some(t) => map.insert(name.to_string(), t),
            None => map.remove(name),
        }
    }

    /// Every object: (section, name, table); `defaults` is named `defaults`.
    pub fn iter(&self) -> impl Iterator<Item = (Section, &str, &toml::Table)> {
        self.defaults
            .iter()
            .map(|t| (Section::Defaults, "defaults", t))
            .chain(
                self.groups
                    .iter()
                    .map(|(n, t)| (Section::Groups, n.as_str(), t)),
            )
            .chain(
                self.actions
                    .iter()
                    .map(|(n, t)| (Section::Actions, n.as_str(), t)),
            )
            .chain(
                self.targets
                    .iter()
                    .map(|(n, t)| (Section::Targets, n.as_str(), t)),
            )
            .chain(
                self.channels
                    .iter()
                    .map(|(n, t)| (Section::Channels, n.as_str(), t)),
            )
            .chain(
                self.routes
                    .iter()
                    .map(|(n, t)| (Section::Routes, n.as_str(), t)),
            )
    }
}

/// The result of [`compose`].
#[derive(Debug, Clone)]
pub struct Composed {
    pub config: Config,
    /// What the file defines.
    pub file: FileObjects,
    /// Overlay objects left out because the file defines the same name.
    pub shadowed: Vec<(Section, String)>,
}

/// Reads the layers' file again (or their text), lays `overlay` over it and
/// resolves the whole. Errors are the file's own, naming the same keys.
pub fn compose(layers: &Layers, overlay: &Overlay) -> Result<Composed, ConfigErrors> {
    let file_text;
    let text: &str = match (&layers.path, &layers.text) {
        (Some(path), _) => {
            file_text = std::fs::read_to_string(path).map_err(|e| {
                ConfigErrors(vec![ConfigError::new(
                    layers.origin.clone(),
                    "",
                    format!("cannot read the config file: {e}"),
                )])
            })?;
            &file_text
        }
        (None, Some(t)) => t,
        (None, None) => DEFAULT_CONFIG,
    };
    let mut root = parse_root(text, &layers.origin, &layers.env)?;
    let file = FileObjects::of(&root);
    let mut shadowed = Vec::new();
    for (section, name, table) in overlay.iter() {
        if file.defines(section, name) {
            shadowed.push((section, name.to_string()));
            continue;
        }
        let value = toml::Value::Table(table.clone());
        match section {
            Section::Defaults => {
                root.insert("defaults".into(), value);
            }
            _ => {
                let entry = root
                    .entry(section.as_str())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(t) = entry.as_table_mut() {
                    t.insert(name.to_string(), value);
                }
            }
        }
    }
    let dir = layers.path.as_deref().map(config_dir);
    let mut config = resolve_table(&root, &layers.origin, &layers.env, dir, file.clone())?;
    config.source = layers.path.clone();
    config.layers = layers.clone();
    config.file_objects = file.clone();
    Ok(Composed {
        config,
        file,
        shadowed,
    })
}

/// The key path of object `name` of `section` in errors: `targets.web`,
/// `targets."a.b"`, `defaults`.
pub fn key_of(section: Section, name: &str) -> String {
    match section {
        Section::Defaults => "defaults".into(),
        _ => name_key(section.as_str(), name),
    }
}

/// The JSON pointer, within the object `name` of `section`, of an error's
/// key (`targets.web.ladder[0].action` → `/ladder/0/action`); `None` when
/// the key is outside that object.
pub fn pointer_in(key: &str, section: Section, name: &str) -> Option<String> {
    let prefix = key_of(section, name);
    let rest = key.strip_prefix(prefix.as_str())?;
    if !(rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')) {
        return None;
    }
    let mut pointer = String::new();
    for seg in segments(rest)? {
        pointer.push('/');
        pointer.push_str(&seg.replace('~', "~0").replace('/', "~1"));
    }
    Some(pointer)
}

/// `.a."b.c"[2]` → `["a", "b.c", "2"]`; `None` when malformed.
fn segments(mut s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        if let Some(rest) = s.strip_prefix('[') {
            let end = rest.find(']')?;
            out.push(rest[..end].to_string());
            s = &rest[end + 1..];
        } else if let Some(rest) = s.strip_prefix('.') {
            if let Some(quoted) = rest.strip_prefix('"') {
                // Written with `{:?}`: backslash escapes.
                let mut seg = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                seg.push(n);
                            }
                        }
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        c => seg.push(c),
                    }
                }
                let end = end?;
                out.push(seg);
                s = &quoted[end + 1..];
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                out.push(rest[..end].to_string());
                s = &rest[end..];
            }
        } else {
            return None;
        }
    }
    Some(out)
}

/// A JSON object (an API body) as the TOML table the file would hold;
/// the JSON pointer and what is wrong when it cannot be one (`null`, mixed
/// arrays are fine in TOML 1.0 as written by the `toml` crate).
pub fn table_from_json(value: &serde_json::Value) -> Result<toml::Table, (String, String)> {
    fn conv(v: &serde_json::Value, at: &str) -> Result<toml::Value, (String, String)> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => {
                return Err((
                    at.to_string(),
                    "null is not a value here; leave the key out instead".into(),
                ))
            }
            J::Bool(b) => toml::Value::Boolean(*b),
            J::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => toml::Value::Integer(i),
                (None, Some(f)) if n.is_f64() => toml::Value::Float(f),
                _ => {
                    return Err((
                        at.to_string(),
                        format!("expected a number that fits in 64 bits, found {n}"),
                    ))
                }
            },
            J::String(s) => toml::Value::String(s.clone()),
            J::Array(items) => toml::Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| conv(x, &format!("{at}/{i}")))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => {
                let mut t = toml::Table::new();
                for (k, x) in map {
                    let esc = k.replace('~', "~0").replace('/', "~1");
                    t.insert(k.clone(), conv(x, &format!("{at}/{esc}"))?);
                }
                toml::Value::Table(t)
            }
        })
    }
    match conv(value, "")? {
        toml::Value::Table(t) => Ok(t),
        _ => Err((String::new(), "expected a JSON object".into())),
    }
}

/// A stored table back to JSON (for the API's answers and exports).
pub fn table_to_json(table: &toml::Table) -> serde_json::Value {
    serde_json::to_value(table).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_pointers_within_their_object() {
        let t = Section::Targets;
        assert_eq!(pointer_in("targets.web", t, "web").as_deref(), Some(""));
        assert_eq!(
            pointer_in("targets.web.check.url", t, "web").as_deref(),
            Some("/check/url")
        );
        assert_eq!(
            pointer_in("targets.web.ladder[1].action", t, "web").as_deref(),
            Some("/ladder/1/action")
        );
        assert_eq!(
            pointer_in("targets.\"a.b\".cooldown", t, "a.b").as_deref(),
            Some("/cooldown")
        );
        assert_eq!(
            pointer_in("targets.web.check.headers.\"X/Y\"", t, "web").as_deref(),
            Some("/check/headers/X~1Y")
        );
        assert_eq!(pointer_in("targets.webx.cooldown", t, "web"), None);
        assert_eq!(pointer_in("targets.other", t, "web"), None);
        assert_eq!(
            pointer_in("defaults.cooldown", Section::Defaults, "defaults").as_deref(),
            Some("/cooldown")
        );
    }

    #[test]
    fn json_bodies_become_tables_and_null_is_named() {
        let ok = serde_json::json!({"check": {"type": "http", "url": "http://x/", "expect": [200, 204]}, "cooldown": "30s", "factor": 1.5});
        let t = table_from_json(&ok).unwrap();
        assert_eq!(t["cooldown"].as_str(), Some("30s"));
        assert_eq!(table_to_json(&t), ok);
        let bad = serde_json::json!({"check": {"headers": {"a/b": null}}});
        assert_eq!(
            table_from_json(&bad).unwrap_err().0,
            "/check/headers/a~1b".to_string()
        );
        assert!(table_from_json(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn an_overlay_is_checked_like_the_file_and_the_file_wins() {
        let env = BTreeMap::new();
        let file = "[targets.a]\ncheck = { type = \"tcp\", address = \"127.0.0.1:1\" }\n";
        let layers = Layers::new(None, Some(file), "autoheal.toml", &env);
        let mut overlay = Overlay::default();
        let t = |s: &str| s.parse::<toml::Table>().unwrap();
        overlay.set(
            Section::Targets,
            "b",
            Some(t(
                "check = { type = \"tcp\", address = \"127.0.0.1:2\" }\ndepends_on = [\"a\"]",
            )),
        );
        overlay.set(Section::Targets, "a", Some(t("enabled = false")));
        let c = compose(&layers, &overlay).unwrap();
        assert_eq!(c.config.targets.len(), 2);
        assert!(c.config.target("a").unwrap().enabled, "the file's a wins");
        assert_eq!(c.shadowed, vec![(Section::Targets, "a".to_string())]);
        assert!(c.file.defines(Section::Targets, "a"));
        assert!(!c.file.defines(Section::Targets, "b"));

        overlay.set(Section::Targets, "b", Some(t("cooldown = \"soon\"")));
        let errs = compose(&layers, &overlay).unwrap_err();
        let e = errs.iter().find(|e| e.key.contains("cooldown")).unwrap();
        assert_eq!(
            pointer_in(&e.key, Section::Targets, "b").as_deref(),
            Some("/cooldown")
        );
    }
}
