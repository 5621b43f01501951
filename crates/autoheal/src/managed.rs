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
//! The supervisor runs the default workspace; objects of other workspaces
//! cannot be written yet ([`ManageError::Unsupported`]).

use crate::build::{build_targets_with, Built, Runtime};
use crate::supervisor::Handle;
use crate::vault::{Keyring, Secret};
use autoheal_config::{
    compose, pointer_in, table_to_json, Config, ConfigErrors, FileObjects, Layers, Overlay, Section,
};
use autoheal_store::{ConfigObjectRow, ConfigWrite, SecretRow, Store, Written, DEFAULT_WORKSPACE};
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
    #[error("targets, actions, groups and defaults can only be written in the default workspace for now")]
    Unsupported,
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

struct State {
    layers: Layers,
    overlay: Overlay,
    meta: BTreeMap<(Section, String), Meta>,
}

struct Inner {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    handle: Handle,
    runtime: Runtime,
    /// One change at a time.
    state: tokio::sync::Mutex<State>,
    /// What the file defines, read without waiting on a change.
    file: RwLock<FileObjects>,
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

/// The stored objects of the default workspace, opened, with their history.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub overlay: Overlay,
    pub meta: BTreeMap<(Section, String), Meta>,
}

/// A sealing function that owns what it seals.
type BoxedSeal = Box<dyn Fn(i64) -> Result<autoheal_store::Sealed, String> + Send + Sync>;

/// The default workspace's stored objects, opened.
pub async fn load_overlay(store: &dyn Store, keys: &Keyring) -> anyhow::Result<Loaded> {
    let mut overlay = Overlay::default();
    let mut meta = BTreeMap::new();
    for row in store.list_config_objects(Some(DEFAULT_WORKSPACE)).await? {
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
    Ok(Loaded { overlay, meta })
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
    /// `config` is the file's (or the text's) config as loaded, `overlay`
    /// the stored objects; the composed config is returned to build from.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        handle: Handle,
        runtime: Runtime,
        layers: Layers,
        loaded: Loaded,
        file: FileObjects,
    ) -> Self {
        let Loaded { overlay, meta } = loaded;
        Managed {
            inner: Arc::new(Inner {
                store,
                keys,
                handle,
                runtime,
                state: tokio::sync::Mutex::new(State {
                    layers,
                    overlay,
                    meta,
                }),
                file: RwLock::new(file),
            }),
        }
    }

    /// The heartbeats' pings (the ping routes record into them).
    pub fn pings(&self) -> Arc<autoheal_plugins::check::heartbeat::Pings> {
        self.inner.runtime.pings.clone()
    }

    /// Whether the file defines the object.
    pub fn file_defines(&self, section: Section, name: &str) -> bool {
        self.inner
            .file
            .read()
            .map(|f| f.defines(section, name))
            .unwrap_or(false)
    }

    /// The object made through the API, with its history.
    pub async fn get(&self, section: Section, name: &str) -> Option<(toml::Table, Meta)> {
        let state = self.inner.state.lock().await;
        let table = state.overlay.get(section, name)?.clone();
        let meta = state.meta.get(&(section, name.to_string()))?.clone();
        Some((table, meta))
    }

    /// Every object made through the API in `section`.
    pub async fn list(&self, section: Section) -> Vec<(String, toml::Table, Meta)> {
        let state = self.inner.state.lock().await;
        state
            .overlay
            .iter()
            .filter(|(s, _, _)| *s == section)
            .filter_map(|(s, n, t)| {
                let m = state.meta.get(&(s, n.to_string()))?;
                Some((n.to_string(), t.clone(), m.clone()))
            })
            .collect()
    }

    /// The file and the API's objects, composed now (for export).
    pub async fn composed(&self) -> Result<Config, ManageError> {
        let state = self.inner.state.lock().await;
        compose(&state.layers, &state.overlay)
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
        if workspace_id != DEFAULT_WORKSPACE {
            return Err(ManageError::Unsupported);
        }
        let mut state = self.inner.state.lock().await;
        let file = self
            .inner
            .file
            .read()
            .map(|f| f.clone())
            .unwrap_or_default();
        let mut overlay = state.overlay.clone();
        let mut befores = Vec::with_capacity(changes.len());
        for c in &changes {
            if file.defines(c.section, &c.name) {
                return Err(ManageError::FileOwned {
                    noun: c.section.noun(),
                    name: c.name.clone(),
                    origin: state.layers.origin().to_string(),
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
        let composed = compose(&state.layers, &overlay).map_err(|errors| {
            let fields = field_errors(&errors, &changes, changes.len() > 1);
            let first = fields
                .first()
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "the configuration is invalid".into());
            ManageError::Invalid(first, fields)
        })?;
        let built =
            build_targets_with(&composed.config, &self.inner.runtime).map_err(|errors| {
                let fields: Vec<FieldError> = errors
                    .iter()
                    .map(|e| FieldError {
                        pointer: String::new(),
                        key: e.split(':').next().unwrap_or_default().to_string(),
                        message: e.clone(),
                    })
                    .collect();
                ManageError::Invalid(errors.join("; "), fields)
            })?;
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
        self.swap(built).await?;
        for ((c, w), _) in changes.iter().zip(&written).zip(&befores) {
            let key = (c.section, c.name.clone());
            match w {
                Written::Created { version } | Written::Updated { version } => {
                    let created_at = state.meta.get(&key).map_or(at, |m| m.created_at);
                    state.meta.insert(
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
                    state.meta.remove(&key);
                }
            }
        }
        state.overlay = overlay;
        if let Ok(mut f) = self.inner.file.write() {
            *f = composed.file;
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

    /// SIGHUP: the file as loaded again (`config`), with the API's objects
    /// laid over it. The count of targets, or every problem (nothing
    /// changed then).
    pub async fn reload_file(&self, config: &Config) -> Result<usize, Vec<String>> {
        let mut state = self.inner.state.lock().await;
        let composed = compose(&config.layers, &state.overlay).map_err(|e| vec![e.to_string()])?;
        for (section, name) in &composed.shadowed {
            tracing::warn!(section = section.as_str(), name = %name, "The config file now defines {} {name:?} too: the file's is used, the one made through the API is ignored until the file's is removed.", section.noun());
        }
        let built = build_targets_with(&composed.config, &self.inner.runtime)?;
        let n = built.targets.len();
        self.swap(built).await.map_err(|e| vec![e.to_string()])?;
        state.layers = config.layers.clone();
        if let Ok(mut f) = self.inner.file.write() {
            *f = composed.file;
        }
        Ok(n)
    }

    async fn swap(&self, built: Built) -> Result<(), ManageError> {
        let Built {
            targets,
            actions,
            configured,
        } = built;
        self.inner
            .handle
            .reload(targets, actions)
            .await
            .map_err(|e| ManageError::Internal(e.to_string()))?;
        self.inner.runtime.docker.publish(configured);
        Ok(())
    }
}

/// An object as the API answers it: JSON, secrets redacted.
pub fn redacted(table: &toml::Table) -> serde_json::Value {
    autoheal_plugins::redact::redacted_json(&table_to_json(table))
}
