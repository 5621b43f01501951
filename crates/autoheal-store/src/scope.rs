//! Which workspace a target belongs to, read off its key.
//!
//! The supervisor, the store and the engine know a target by one string,
//! its *key*. Targets of the default workspace (the config file's, Docker's
//! and the ones made through the API there) are keyed by their name, as they
//! always were. A target of another workspace is keyed `w<id>:<name>`:
//! names (`a-z 0-9 . _ -`, and `/` for compose services) never hold a `:`,
//! so the key is unambiguous, two workspaces can both have a `web`, and
//! every row written for a target (its definition, incidents, events) can
//! be given its workspace without another lookup. The API shows and takes
//! the name alone, within the caller's workspace ([`qualify`], [`split`]).

use crate::DEFAULT_WORKSPACE;

/// The key of target `name` in workspace `workspace_id`.
pub fn qualify(workspace_id: i64, name: &str) -> String {
    if workspace_id == DEFAULT_WORKSPACE {
        name.to_string()
    } else {
        format!("w{workspace_id}:{name}")
    }
}

/// The workspace and the name of a target key.
pub fn split(key: &str) -> (i64, &str) {
    if let Some((prefix, name)) = key.split_once(':') {
        let digits = prefix.strip_prefix('w').unwrap_or_default();
        if !digits.is_empty()
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            if let Ok(id) = digits.parse::<i64>() {
                return (id, name);
            }
        }
    }
    (DEFAULT_WORKSPACE, key)
}

/// The workspace of a target key.
pub fn workspace_of(key: &str) -> i64 {
    split(key).0
}

/// The name of a target key as the workspace knows it.
pub fn name_of(key: &str) -> &str {
    split(key).1
}

/// `key` if it is in `workspace_id`: its name there.
pub fn name_in(workspace_id: i64, key: &str) -> Option<&str> {
    let (ws, name) = split(key);
    (ws == workspace_id).then_some(name)
}

/// An event as its workspace sees it: its target by name.
pub fn shown_event(mut e: crate::Event) -> crate::Event {
    if let Some(t) = &mut e.target {
        *t = name_of(t).to_string();
    }
    e
}

/// An incident as its workspace sees it: its target by name.
pub fn shown_incident(mut i: crate::Incident) -> crate::Incident {
    i.target = name_of(&i.target).to_string();
    i
}

/// A page of events or incidents, each as its workspace sees it.
pub fn shown_page<T>(page: crate::Page<T>, f: fn(T) -> T) -> crate::Page<T> {
    crate::Page {
        items: page.items.into_iter().map(f).collect(),
        next_before: page.next_before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_are_names_and_others_round_trip() {
        assert_eq!(qualify(DEFAULT_WORKSPACE, "web"), "web");
        assert_eq!(split("web"), (DEFAULT_WORKSPACE, "web"));
        assert_eq!(split("shop/api"), (DEFAULT_WORKSPACE, "shop/api"));
        assert_eq!(qualify(7, "web"), "w7:web");
        assert_eq!(split("w7:web"), (7, "web"));
        assert_eq!(name_in(7, "w7:web"), Some("web"));
        assert_eq!(name_in(DEFAULT_WORKSPACE, "w7:web"), None);
        assert_eq!(name_in(7, "web"), None);
    }

    #[test]
    fn odd_prefixes_are_not_workspaces() {
        for key in [
            "w:web", "w-1:web", "w+2:web", "w0:web", "w01:web", "x2:web", "wx:web",
        ] {
            assert_eq!(split(key), (DEFAULT_WORKSPACE, key), "{key}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_name_round_trips(ws in 1i64..1_000_000, name in "[a-z0-9][a-z0-9._/-]{0,40}") {
            let key = qualify(ws, &name);
            proptest::prop_assert_eq!(split(&key), (ws, name.as_str()));
        }
    }
}
