//! The config objects made through the management API, and the one place
//! where they meet the config file.
//!
//! Every change (an API write, an import, a SIGHUP) goes the same way:
//! lay the objects over the file ([`autoheal_config::compose`], so the
//! file's own validation checks them and names the same keys), build the
//! supervisor's targets and actions from the whole (build and drop: a
//! check that cannot be built is refused before anything is stored), store
//! the change (sealed, one transaction, with its version), then swap the
//! built targets in. A change that fails at any step changes nothing.
//!
//! Objects the file defines are the file's: writes to them are refused
//! ([`ManageError::FileOwned`], answered 409).
//!
//! Each workspace has its own objects. The default workspace's are laid
//! over the config file; another workspace has no file (its objects are
//! composed over the embedded defaults alone), its targets are keyed for it
//! ([`autoheal_store::scope`]) so two workspaces can both have a `web`, and
//! it may not hold what reaches autoheal's own host: `exec` checks,
//! `command` actions and container targets belong to the default workspace
//! (an admin of a workspace is not an admin of the machine).

use crate::build::{build_targets_with, Built, Runtime};
use crate::supervisor::Handle;
use crate::vault::{Keyring, Secret};
use autoheal_config::{
    compose, key_of, pointer_in, table_to_json, Config, ConfigErrors, FileObjects, Layers, Overlay,
    Section,
};
use autoheal_store::{
    scope, ConfigObjectRow, ConfigWrite, SecretRow, Store, Written, DEFAULT_WORKSPACE,
};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// What the API shows of a stored object's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Meta {
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// One field (or the whole object) that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer into the body sent (`/check/url`); empty for the whole
    /// body.
    pub pointer: String,
    /// The key as the config file would name it (`targets.web.check.url`).
    pub key: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0}")]
    Invalid(String, Vec<FieldError>),
    #[error("{noun} {name:?} is defined in the config file {origin}; change it there")]
    FileOwned {
        noun: &'static str,
        name: String,
        origin: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("no {noun} named {name:?} was made through the API")]
    NotFound { noun: &'static str, name: String },
    #[error("the store: {0}")]
    Store(#[from] autoheal_store::StoreError),
    #[error("{0}")]
    Internal(String),
}

/// One change: set (`Some`) or delete (`None`) an object.
#[derive(Debug, Clone)]
pub struct Change {
    pub section: Section,
    pub name: String,
    pub table: Option<toml::Table>,
    /// `If-Match`: the version the writer last saw (`0`: must not exist).
    pub expect_version: Option<i64>,
}

/// What a change did, per object.
#[derive(Debug, Clone)]
pub struct Applied {
    pub section: Section,
    pub name: String,
    pub written: Written,
    pub before: Option<toml::Table>,
    pub after: Option<toml::Table>,
}

/// One workspace's objects made through the API, with their history.
#[derive(Default)]
struct Space {
    overlay: Overlay,
    meta: BTreeMap<(Section, String), Meta>,
}

struct State {
    /// The config file's (the default workspace's base).
    layers: Layers,
    spaces: BTreeMap<i64, Space>,
}

impl State {
    /// What workspace `ws`'s objects are laid over.
    fn layers_of(&self, ws: i64) -> Layers {
        if ws == DEFAULT_WORKSPACE {
            self.layers.clone()
        } else {
            workspace_layers(ws)
        }
    }
}

/// The base of a workspace other than the default: no file.
fn workspace_layers(ws: i64) -> Layers {
    Layers::detached(&format!("<workspace {ws}>"))
}

struct Inner {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    handle: Handle,
    runtime: Runtime,
    /// The notification channels and routes in force.
    notifier: crate::notify::Notifier,
    /// One change at a time.
    state: tokio::sync::Mutex<State>,
    /// What the file defines, read without waiting on a change.
    file: RwLock<FileObjects>,
}

/// What a change is applied to: the supervisor, what built targets share,
/// the notification channels in force.
pub struct Running {
    pub handle: Handle,
    pub runtime: Runtime,
    pub notifier: crate::notify::Notifier,
}

/// The API's config objects and the file, composed. Cheap to clone.
#[derive(Clone)]
pub struct Managed {
    inner: Arc<Inner>,
}

/// The sealed kind of a section's objects.
fn kind(section: Section) -> String {
    ConfigObjectRow::sealed_kind(section.as_str())
}

/// The stored objects of one workspace, opened, with their history.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub overlay: Overlay,
    pub meta: BTreeMap<(Section, String), Meta>,
}

/// A sealing function that owns what it seals.
type BoxedSeal = Box<dyn Fn(i64) -> Result<autoheal_store::Sealed, String> + Send + Sync>;

/// Every workspace's stored objects, opened.
pub async fn load_overlays(
    store: &dyn Store,
    keys: &Keyring,
) -> anyhow::Result<BTreeMap<i64, Loaded>> {
    let mut spaces: BTreeMap<i64, Loaded> = BTreeMap::new();
    for row in store.list_config_objects(None).await? {
        let Loaded { overlay, meta } = spaces.entry(row.workspace_id).or_default();
        let Some(section) = Section::parse(&row.section) else {
            tracing::warn!(section = %row.section, name = %row.name, "A stored config object of an unknown section is ignored.");
            continue;
        };
        let as_secret = SecretRow {
            id: row.id,
            workspace_id: row.workspace_id,
            kind: kind(section),
            name: row.name.clone(),
            sealed: row.sealed.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        let text = keys.open(&as_secret)?;
        let table: toml::Table = serde_json::from_str(text.expose()).map_err(|e| {
            anyhow::anyhow!("stored {} {:?} is not a table: {e}", row.section, row.name)
        })?;
        overlay.set(section, &row.name, Some(table));
        meta.insert(
            (section, row.name.clone()),
            Meta {
                version: row.version,
                created_at: row.created_at,
                updated_at: row.updated_at,
                updated_by: row.updated_by,
            },
        );
    }
    Ok(spaces)
}

/// The file's errors as fields of the objects changed: a pointer into the
/// body of one object, or (`nested`, an import) into `/section/name/...`.
/// Errors elsewhere (another object that refers to a changed one) keep only
/// their key.
pub fn field_errors(errors: &ConfigErrors, changes: &[Change], nested: bool) -> Vec<FieldError> {
    errors
        .iter()
        .map(|e| {
            let found = changes.iter().find_map(|c| {
                pointer_in(&e.key, c.section, &c.name).map(|p| {
                    if !nested {
                        p
                    } else if c.section == Section::Defaults {
                        format!("/defaults{p}")
                    } else {
                        let esc = c.name.replace('~', "~0").replace('/', "~1");
                        format!("/{}/{esc}{p}", c.section.as_str())
                    }
                })
            });
            FieldError {
                message: match (&found, e.key.is_empty()) {
                    (None, false) => format!("{}: {}", e.key, e.message),
                    _ => e.message.clone(),
                },
                pointer: found.unwrap_or_default(),
                key: e.key.clone(),
            }
        })
        .collect()
}

impl Managed {
    /// `layers` and `file` are the config file's as loaded, `loaded` every
    /// workspace's stored objects.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        running: Running,
        layers: Layers,
        loaded: BTreeMap<i64, Loaded>,
        file: FileObjects,
    ) -> Self {
        let Running {
            handle,
            runtime,
            notifier,
        } = running;
        let spaces = loaded
            .into_iter()
            .map(|(ws, Loaded { overlay, meta })| (ws, Space { overlay, meta }))
            .collect();
        Managed {
            inner: Arc::new(Inner {
                store,
                keys,
                handle,
                runtime,
                notifier,
                state: tokio::sync::Mutex::new(State { layers, spaces }),
                file: RwLock::new(file),
            }),
        }
    }

    /// The heartbeats' pings (the ping routes record into them).
    pub fn pings(&self) -> Arc<autoheal_plugins::check::heartbeat::Pings> {
        self.inner.runtime.pings.clone()
    }

    /// Whether the file defines the object for workspace `ws` (only the
    /// default workspace has a file).
    pub fn file_defines(&self, ws: i64, section: Section, name: &str) -> bool {
        ws == DEFAULT_WORKSPACE
            && self
                .inner
                .file
                .read()
                .map(|f| f.defines(section, name))
                .unwrap_or(false)
    }

    /// The object made through the API, with its history.
    pub async fn get(&self, ws: i64, section: Section, name: &str) -> Option<(toml::Table, Meta)> {
        let state = self.inner.state.lock().await;
        let space = state.spaces.get(&ws)?;
        let table = space.overlay.get(section, name)?.clone();
        let meta = space.meta.get(&(section, name.to_string()))?.clone();
        Some((table, meta))
    }

    /// Every object made through the API in `section` of workspace `ws`.
    pub async fn list(&self, ws: i64, section: Section) -> Vec<(String, toml::Table, Meta)> {
        let state = self.inner.state.lock().await;
        let Some(space) = state.spaces.get(&ws) else {
            return Vec::new();
        };
        space
            .overlay
            .iter()
            .filter(|(s, _, _)| *s == section)
            .filter_map(|(s, n, t)| {
                let m = space.meta.get(&(s, n.to_string()))?;
                Some((n.to_string(), t.clone(), m.clone()))
            })
            .collect()
    }

    /// Workspace `ws`'s objects (over the file in the default workspace),
    /// composed now (for export).
    pub async fn composed(&self, ws: i64) -> Result<Config, ManageError> {
        let state = self.inner.state.lock().await;
        let empty = Overlay::default();
        let overlay = state.spaces.get(&ws).map_or(&empty, |s| &s.overlay);
        compose(&state.layers_of(ws), overlay)
            .map(|c| c.config)
            .map_err(|e| ManageError::Invalid(e.to_string(), Vec::new()))
    }

    /// Applies `changes` to `workspace_id` as one: composed, built,
    /// stored, swapped in. `actor` is recorded as the writer.
    pub async fn apply(
        &self,
        workspace_id: i64,
        changes: Vec<Change>,
        actor: &str,
        at: i64,
    ) -> Result<Vec<Applied>, ManageError> {
        let mut state = self.inner.state.lock().await;
        let file = if workspace_id == DEFAULT_WORKSPACE {
            self.inner
                .file
                .read()
                .map(|f| f.clone())
                .unwrap_or_default()
        } else {
            FileObjects::default()
        };
        let layers = state.layers_of(workspace_id);
        let mut overlay = state
            .spaces
            .get(&workspace_id)
            .map(|s| s.overlay.clone())
            .unwrap_or_default();
        let mut befores = Vec::with_capacity(changes.len());
        for c in &changes {
            if file.defines(c.section, &c.name) {
                return Err(ManageError::FileOwned {
                    noun: c.section.noun(),
                    name: c.name.clone(),
                    origin: layers.origin().to_string(),
                });
            }
            let before = overlay.set(c.section, &c.name, c.table.clone());
            if c.table.is_none() && before.is_none() {
                return Err(ManageError::NotFound {
                    noun: c.section.noun(),
                    name: c.name.clone(),
                });
            }
            befores.push(before);
        }
        let invalid = |errors: &ConfigErrors| {
            let fields = field_errors(errors, &changes, changes.len() > 1);
            let first = fields
                .first()
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "the configuration is invalid".into());
            ManageError::Invalid(first, fields)
        };
        let composed = compose(&layers, &overlay).map_err(|e| invalid(&e))?;
        if workspace_id != DEFAULT_WORKSPACE {
            host_reaching(&composed.config, layers.origin()).map_err(|e| invalid(&e))?;
        }
        let built = build_workspace(workspace_id, &composed.config, &self.inner.runtime).map_err(
            |errors| {
                let fields: Vec<FieldError> = errors
                    .iter()
                    .map(|e| FieldError {
                        pointer: String::new(),
                        key: e.split(':').next().unwrap_or_default().to_string(),
                        message: e.clone(),
                    })
                    .collect();
                ManageError::Invalid(errors.join("; "), fields)
            },
        )?;
        // Store: sealed for the row it lands in, all in one transaction.
        let texts: Vec<Option<Secret>> = changes
            .iter()
            .map(|c| {
                c.table
                    .as_ref()
                    .map(|t| Secret::new(serde_json::to_string(t).unwrap_or_default()))
            })
            .collect();
        let seals: Vec<BoxedSeal> = changes
            .iter()
            .zip(&texts)
            .map(|(c, text)| {
                let keys = self.inner.keys.clone();
                let kind = kind(c.section);
                let text = text.clone().unwrap_or_else(|| Secret::new(""));
                Box::new(move |row: i64| Ok(keys.seal(workspace_id, &kind, row, &text)))
                    as BoxedSeal
            })
            .collect();
        let names: Vec<String> = changes.iter().map(|c| c.name.clone()).collect();
        let writes: Vec<ConfigWrite<'_>> = changes
            .iter()
            .zip(&seals)
            .zip(&names)
            .map(|((c, seal), name)| ConfigWrite {
                section: c.section.as_str(),
                name,
                expect_version: c.expect_version,
                seal: c
                    .table
                    .as_ref()
                    .map(|_| seal.as_ref() as autoheal_store::SealFn<'_>),
            })
            .collect();
        let written = match self
            .inner
            .store
            .write_config_objects(workspace_id, at, actor, &writes)
            .await
        {
            Ok(w) => w,
            Err(autoheal_store::StoreError::Conflict(m)) => {
                return Err(ManageError::Conflict(format!(
                    "{m}: someone changed it since; read it again (If-Match)"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        self.swap(workspace_id, built).await?;
        self.channels_of(workspace_id, &composed.config);
        let space = state.spaces.entry(workspace_id).or_default();
        for ((c, w), _) in changes.iter().zip(&written).zip(&befores) {
            let key = (c.section, c.name.clone());
            match w {
                Written::Created { version } | Written::Updated { version } => {
                    let created_at = space.meta.get(&key).map_or(at, |m| m.created_at);
                    space.meta.insert(
                        key,
                        Meta {
                            version: *version,
                            created_at,
                            updated_at: at,
                            updated_by: actor.to_string(),
                        },
                    );
                }
                Written::Deleted | Written::Absent => {
                    space.meta.remove(&key);
                }
            }
        }
        space.overlay = overlay;
        if workspace_id == DEFAULT_WORKSPACE {
            if let Ok(mut f) = self.inner.file.write() {
                *f = composed.file;
            }
        }
        Ok(changes
            .into_iter()
            .zip(written)
            .zip(befores)
            .map(|((c, written), before)| Applied {
                section: c.section,
                name: c.name,
                written,
                before,
                after: c.table,
            })
            .collect())
    }

    /// SIGHUP: the file as loaded again (`config`), with the default
    /// workspace's objects laid over it. The count of targets, or every
    /// problem (nothing changed then). Other workspaces have no file.
    pub async fn reload_file(&self, config: &Config) -> Result<usize, Vec<String>> {
        let mut state = self.inner.state.lock().await;
        let empty = Overlay::default();
        let overlay = state
            .spaces
            .get(&DEFAULT_WORKSPACE)
            .map_or(&empty, |s| &s.overlay);
        let composed = compose(&config.layers, overlay).map_err(|e| vec![e.to_string()])?;
        for (section, name) in &composed.shadowed {
            tracing::warn!(section = section.as_str(), name = %name, "The config file now defines {} {name:?} too: the file's is used, the one made through the API is ignored until the file's is removed.", section.noun());
        }
        let built = build_targets_with(&composed.config, &self.inner.runtime)?;
        let n = built.targets.len();
        // What the file defines is known before its targets run, so no
        // answer calls a file's object the API's.
        let before = self
            .inner
            .file
            .write()
            .map(|mut f| std::mem::replace(&mut *f, composed.file))
            .ok();
        if let Err(e) = self.swap(DEFAULT_WORKSPACE, built).await {
            if let (Some(old), Ok(mut f)) = (before, self.inner.file.write()) {
                *f = old;
            }
            return Err(vec![e.to_string()]);
        }
        state.layers = config.layers.clone();
        self.channels_of(DEFAULT_WORKSPACE, &composed.config);
        Ok(n)
    }

    /// Workspace `ws`'s notification channels and routes as `config` has
    /// them (they built when it was composed).
    fn channels_of(&self, ws: i64, config: &Config) {
        if let Err(e) = self.inner.notifier.set_workspace(ws, config) {
            tracing::error!(workspace = ws, errors = %e.join("; "), "The notification channels could not be rebuilt; the old ones stay.");
        }
    }

    async fn swap(&self, ws: i64, built: Built) -> Result<(), ManageError> {
        let Built {
            targets,
            actions,
            configured,
        } = built;
        self.inner
            .handle
            .reload(ws, targets, actions)
            .await
            .map_err(|e| ManageError::Internal(e.to_string()))?;
        if ws == DEFAULT_WORKSPACE {
            self.inner.runtime.docker.publish(configured);
        }
        Ok(())
    }
}

/// Workspace `ws`'s objects, composed over no file and built for the
/// supervisor (targets keyed for the workspace), at start. The default
/// workspace is built with the file instead ([`crate::app`]).
pub fn build_stored_workspace(
    ws: i64,
    loaded: &Loaded,
    rt: &Runtime,
) -> Result<(Built, Config), String> {
    let layers = workspace_layers(ws);
    let composed = compose(&layers, &loaded.overlay).map_err(|e| e.to_string())?;
    host_reaching(&composed.config, layers.origin()).map_err(|e| e.to_string())?;
    let built = build_workspace(ws, &composed.config, rt).map_err(|e| e.join("; "))?;
    Ok((built, composed.config))
}

/// What a workspace other than the default may not hold: what runs on (or
/// reaches into) autoheal's own host.
fn host_reaching(config: &Config, origin: &str) -> Result<(), ConfigErrors> {
    let why = "only the default workspace may run what reaches autoheal's own host";
    let mut errors = Vec::new();
    for t in &config.targets {
        if let Some(c) = &t.check {
            let kind = c.type_name();
            if matches!(kind, "exec" | "docker_exec") {
                errors.push(autoheal_config::ConfigError::new(
                    origin,
                    format!("{}.check.type", key_of(Section::Targets, &t.name)),
                    format!("a check of type {kind:?} runs on autoheal's host: {why}"),
                ));
            }
        }
        if t.container.is_some() {
            errors.push(autoheal_config::ConfigError::new(
                origin,
                format!("{}.container", key_of(Section::Targets, &t.name)),
                format!("container targets restart containers of autoheal's host: {why}"),
            ));
        }
    }
    for (name, a) in &config.actions {
        if matches!(a, autoheal_config::ActionConfig::Command(_)) {
            errors.push(autoheal_config::ConfigError::new(
                origin,
                format!("{}.type", key_of(Section::Actions, name)),
                format!("an action of type \"command\" runs on autoheal's host: {why}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Builds workspace `ws`'s targets, keyed for it: names and dependencies
/// become keys ([`scope::qualify`]); errors name the objects by their
/// names. The actions keep their names (the supervisor keys them).
fn build_workspace(ws: i64, config: &Config, rt: &Runtime) -> Result<Built, Vec<String>> {
    if ws == DEFAULT_WORKSPACE {
        return build_targets_with(config, rt);
    }
    let mut keyed = config.clone();
    for t in &mut keyed.targets {
        t.name = scope::qualify(ws, &t.name);
        for d in &mut t.depends_on {
            *d = scope::qualify(ws, d);
        }
    }
    let unkey = |e: String| -> String {
        let prefix = format!("w{ws}:");
        e.replace(&prefix, "")
    };
    let mut built = build_targets_with(&keyed, rt)
        .map_err(|es| es.into_iter().map(unkey).collect::<Vec<_>>())?;
    for t in &mut built.targets {
        if let Some(deps) = t.spec.get_mut("depends_on").and_then(|d| d.as_array_mut()) {
            for d in deps {
                if let Some(k) = d.as_str() {
                    *d = serde_json::Value::String(scope::name_of(k).to_string());
                }
            }
        }
    }
    Ok(built)
}

/// An object as the API answers it: JSON, secrets redacted.
pub fn redacted(section: Section, table: &toml::Table) -> serde_json::Value {
    shown(section, &table_to_json(table))
}

/// An object of `section` as it may be shown: secrets redacted; a
/// channel's by the channel itself (its URL's path is the secret of a Slack
/// or Discord webhook), every URL as scheme and host when it does not read.
pub fn shown(section: Section, value: &serde_json::Value) -> serde_json::Value {
    if section != Section::Channels {
        return autoheal_plugins::redact::redacted_json(value);
    }
    match serde_json::from_value::<autoheal_plugins::channel::ChannelConfig>(value.clone()) {
        Ok(c) => c.redacted(),
        Err(_) => {
            let mut v = autoheal_plugins::redact::redacted_json(value);
            urls_to_hosts(&mut v);
            v
        }
    }
}

fn urls_to_hosts(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains("://") => {
            *s = autoheal_plugins::redact_url(s);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(urls_to_hosts),
        serde_json::Value::Object(map) => map.values_mut().for_each(urls_to_hosts),
        _ => {}
    }
}
