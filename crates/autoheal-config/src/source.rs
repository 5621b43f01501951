//! Where a config came from ([`Layers`]) and what the file itself defines
//! ([`FileObjects`]): kept beside a [`crate::Config`] so the API's objects
//! can be composed with the file again ([`crate::compose`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// The sections the API can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// `[defaults]`: one object, named `defaults`.
    Defaults,
    Groups,
    Actions,
    Targets,
    /// `[channels.<name>]`: where notifications go.
    Channels,
    /// `[routes.<name>]`: which notifications go to which channels.
    Routes,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Section::Defaults,
        Section::Groups,
        Section::Actions,
        Section::Targets,
        Section::Channels,
        Section::Routes,
    ];

    /// The section's name in the file (and in the store).
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Defaults => "defaults",
            Section::Groups => "groups",
            Section::Actions => "actions",
            Section::Targets => "targets",
            Section::Channels => "channels",
            Section::Routes => "routes",
        }
    }

    pub fn parse(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// One object of this section, for messages: "target", "action", ...
    pub fn noun(self) -> &'static str {
        match self {
            Section::Defaults => "policy defaults",
            Section::Groups => "group",
            Section::Actions => "action",
            Section::Targets => "target",
            Section::Channels => "channel",
            Section::Routes => "route",
        }
    }
}

/// Where a config came from, kept (without its parsed contents) so it can
/// be composed again with a changed [`Overlay`].
#[derive(Clone, Default)]
pub struct Layers {
    /// Read again at each compose.
    pub(crate) path: Option<PathBuf>,
    /// Text given directly ([`crate::parse_str`]); `None` with a path, and
    /// for the embedded defaults.
    pub(crate) text: Option<Arc<str>>,
    pub(crate) origin: String,
    pub(crate) env: Arc<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Layers {
    // The environment may hold secrets: only the origin is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layers")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Layers are where a config came from, not what it says: two configs that
/// say the same are equal wherever they came from.
impl PartialEq for Layers {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Layers {
    pub(crate) fn new(
        path: Option<PathBuf>,
        text: Option<&str>,
        origin: &str,
        env: &BTreeMap<String, String>,
    ) -> Self {
        Layers {
            path,
            text: text.map(Arc::from),
            origin: origin.to_string(),
            env: Arc::new(env.clone()),
        }
    }

    /// Layers with no file and no environment: the embedded defaults alone,
    /// named `origin` in errors (a workspace other than the default, whose
    /// objects are all made through the API).
    pub fn detached(origin: &str) -> Self {
        Layers {
            origin: origin.to_string(),
            ..Layers::default()
        }
    }

    /// The file's name (or `<embedded defaults>`), as errors name it.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// What the file itself defines: its objects' names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileObjects {
    /// The file has a non-empty `[defaults]`.
    pub defaults: bool,
    pub groups: BTreeSet<String>,
    pub actions: BTreeSet<String>,
    pub targets: BTreeSet<String>,
    pub channels: BTreeSet<String>,
    pub routes: BTreeSet<String>,
}

impl FileObjects {
    pub(crate) fn of(root: &toml::Table) -> Self {
        let names = |section: &str| -> BTreeSet<String> {
            root.get(section)
                .and_then(toml::Value::as_table)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default()
        };
        FileObjects {
            defaults: root
                .get("defaults")
                .and_then(toml::Value::as_table)
                .is_some_and(|t| !t.is_empty()),
            groups: names("groups"),
            actions: names("actions"),
            targets: names("targets"),
            channels: names("channels"),
            routes: names("routes"),
        }
    }

    /// Whether the file defines `name` of `section` (the file is its
    /// source of truth then: the API answers 409 to writes).
    pub fn defines(&self, section: Section, name: &str) -> bool {
        match section {
            Section::Defaults => self.defaults,
            Section::Groups => self.groups.contains(name),
            Section::Actions => self.actions.contains(name),
            Section::Targets => self.targets.contains(name),
            Section::Channels => self.channels.contains(name),
            Section::Routes => self.routes.contains(name),
        }
    }
}
