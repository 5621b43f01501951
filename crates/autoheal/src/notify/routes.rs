//! Which channels a notification goes to: the workspace's channels, built,
//! and its routes (by event kind, target and group). Without routes a
//! workspace's every channel gets every notification.

use autoheal_config::{Config, RouteConfig};
use autoheal_plugins::channel::{Channel, MessageKind};
use autoheal_plugins::http_client::HttpClients;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One route, resolved.
#[derive(Debug, Clone)]
struct Route {
    channels: Vec<String>,
    /// Empty: every kind.
    events: HashSet<MessageKind>,
    /// Empty (with `groups` empty): every target.
    targets: BTreeSet<String>,
    groups: BTreeSet<String>,
    tags: BTreeSet<String>,
    /// Quiet hours: its channels are sent nothing inside these.
    quiet: Vec<autoheal_core::MaintenanceWindow>,
}

impl Route {
    fn takes(
        &self,
        kind: Option<MessageKind>,
        target: Option<&str>,
        group: Option<&str>,
        tags: &[String],
    ) -> bool {
        let kind_ok = self.events.is_empty() || kind.is_some_and(|k| self.events.contains(&k));
        let everyone = self.targets.is_empty() && self.groups.is_empty() && self.tags.is_empty();
        let target_ok = everyone
            || target.is_some_and(|t| self.targets.contains(t))
            || group.is_some_and(|g| self.groups.contains(g))
            || tags.iter().any(|t| self.tags.contains(t));
        kind_ok && target_ok
    }
}

/// Every workspace's channels and routes.
#[derive(Default)]
pub struct Routing {
    channels: HashMap<(i64, String), Arc<Channel>>,
    routes: HashMap<i64, Vec<Route>>,
    /// Target name → group, per workspace.
    groups: HashMap<(i64, String), String>,
    /// Target name → tags, per workspace.
    tags: HashMap<(i64, String), Vec<String>>,
    /// Each channel's kind and redacted settings, for the API.
    shown: HashMap<(i64, String), (String, serde_json::Value)>,
    /// `[notify]` and `server.public_url`, the default workspace's file's.
    pub settings: autoheal_config::NotifySettings,
    pub public_url: Option<String>,
    /// Channels that answered 410: sent nothing more until rebuilt.
    gone: Mutex<BTreeSet<(i64, String)>>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Routing {
    /// Builds workspace `ws`'s channels and routes from `config` (already
    /// validated: a channel that cannot be built is an error of the load).
    pub fn build(ws: i64, config: &Config, clients: &HttpClients) -> Result<Routing, Vec<String>> {
        let mut r = Routing::default();
        r.add(ws, config, clients)?;
        Ok(r)
    }

    /// Adds workspace `ws`'s channels and routes.
    pub fn add(
        &mut self,
        ws: i64,
        config: &Config,
        clients: &HttpClients,
    ) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if ws == autoheal_store::DEFAULT_WORKSPACE {
            self.settings = config.notify;
            self.public_url = config.server.public_url.clone();
            for (name, cfg) in compat_channels(&config.docker) {
                let cfg = match cfg {
                    Ok(c) => c,
                    Err(e) => {
                        errors.push(format!("docker.{name}: {e}"));
                        continue;
                    }
                };
                match cfg.build(clients) {
                    Ok(c) => {
                        self.shown.insert(
                            (ws, name.to_string()),
                            (cfg.kind().to_string(), cfg.redacted()),
                        );
                        self.channels.insert((ws, name.to_string()), Arc::new(c));
                    }
                    Err(e) => errors.push(format!("docker.{name}: {e}")),
                }
            }
        }
        for (name, cfg) in &config.channels {
            self.shown
                .insert((ws, name.clone()), (cfg.kind().to_string(), cfg.redacted()));
            match cfg.build(clients) {
                Ok(c) => {
                    self.channels.insert((ws, name.clone()), Arc::new(c));
                }
                Err(e) => errors.push(format!("channels.{name}.{e}")),
            }
        }
        self.routes
            .insert(ws, config.routes.values().map(route).collect());
        for t in &config.targets {
            if let Some(g) = &t.group {
                self.groups.insert((ws, t.name.clone()), g.clone());
            }
            if !t.tags.is_empty() {
                self.tags.insert((ws, t.name.clone()), t.tags.clone());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// These channels and routes with workspace `ws`'s rebuilt from
    /// `config` (the others' kept as they are, gone ones still gone).
    pub fn replaced(
        &self,
        ws: i64,
        config: &Config,
        clients: &HttpClients,
    ) -> Result<Routing, Vec<String>> {
        let keep = |k: &(i64, String)| k.0 != ws;
        let mut next = Routing {
            channels: others(&self.channels, ws),
            routes: self
                .routes
                .iter()
                .filter(|(w, _)| **w != ws)
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            groups: others(&self.groups, ws),
            tags: others(&self.tags, ws),
            shown: others(&self.shown, ws),
            settings: self.settings,
            public_url: self.public_url.clone(),
            gone: Mutex::new(
                self.gone
                    .lock()
                    .map(|g| g.iter().filter(|k| keep(k)).cloned().collect())
                    .unwrap_or_default(),
            ),
        };
        next.add(ws, config, clients)?;
        Ok(next)
    }

    /// The channel `name` of workspace `ws`, unless it is gone.
    pub fn channel(&self, ws: i64, name: &str) -> Option<Arc<Channel>> {
        let key = (ws, name.to_string());
        if self.gone.lock().map(|g| g.contains(&key)).unwrap_or(false) {
            return None;
        }
        self.channels.get(&key).cloned()
    }

    /// Workspace `ws`'s channel names.
    pub fn names(&self, ws: i64) -> Vec<String> {
        let mut v: Vec<String> = self
            .channels
            .keys()
            .filter(|(w, _)| *w == ws)
            .map(|(_, n)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// Workspace `ws`'s channels: name, kind and settings as they may be
    /// shown (secrets redacted), by name.
    pub fn configs(&self, ws: i64) -> Vec<(String, String, serde_json::Value)> {
        let mut v: Vec<_> = self
            .shown
            .iter()
            .filter(|((w, _), _)| *w == ws)
            .map(|((_, n), (kind, cfg))| (n.clone(), kind.clone(), cfg.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// If channel `name` of workspace `ws` is in its quiet hours at `now`
    /// (every route of the workspace that names it is inside one of its
    /// quiet windows), when they end (Unix ms).
    pub fn quiet_until(&self, ws: i64, name: &str, now: i64) -> Option<i64> {
        let routes: Vec<&Route> = self
            .routes
            .get(&ws)?
            .iter()
            .filter(|r| r.channels.iter().any(|c| c == name))
            .collect();
        if routes.is_empty() {
            return None;
        }
        let at = autoheal_core::Timestamp(now);
        let mut until = i64::MIN;
        for r in routes {
            let end = r
                .quiet
                .iter()
                .filter_map(|w| w.active_until(at))
                .map(|t| t.0)
                .max()?;
            until = until.max(end);
        }
        Some(until)
    }

    /// The longest one try of any channel in force may take (its
    /// timeout); at least a second.
    pub fn longest_try(&self) -> std::time::Duration {
        self.channels
            .values()
            .map(|c| c.timeout())
            .max()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1))
    }

    /// Marks a channel gone (it answered 410).
    pub fn disable(&self, ws: i64, name: &str) {
        if let Ok(mut g) = self.gone.lock() {
            g.insert((ws, name.to_string()));
        }
    }

    /// The channels a notification of `kind` about `target` goes to.
    pub fn channels_for(&self, ws: i64, kind: &str, target: Option<&str>) -> Vec<String> {
        // docker-autoheal's own messages go to its WEBHOOK_URL and
        // APPRISE_URL, and only there.
        if kind == COMPAT_KIND {
            return self
                .names(ws)
                .into_iter()
                .filter(|n| n.starts_with(COMPAT_PREFIX) && self.channel(ws, n).is_some())
                .collect();
        }
        let kind = MessageKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == kind);
        let usable = |name: &String| self.channel(ws, name).is_some();
        let routes = self.routes.get(&ws).map(Vec::as_slice).unwrap_or_default();
        let chosen: BTreeSet<String> = if routes.is_empty() {
            self.names(ws)
                .into_iter()
                .filter(|n| !n.starts_with(COMPAT_PREFIX))
                .collect()
        } else {
            let group = target.and_then(|t| self.groups.get(&(ws, t.to_string())));
            let no_tags = Vec::new();
            let tags = target
                .and_then(|t| self.tags.get(&(ws, t.to_string())))
                .unwrap_or(&no_tags);
            routes
                .iter()
                .filter(|r| r.takes(kind, target, group.map(String::as_str), tags))
                .flat_map(|r| r.channels.iter().cloned())
                .collect()
        };
        chosen.into_iter().filter(usable).collect()
    }
}

/// The entries of `map` that are not workspace `ws`'s.
fn others<V: Clone>(map: &HashMap<(i64, String), V>, ws: i64) -> HashMap<(i64, String), V> {
    map.iter()
        .filter(|(k, _)| k.0 != ws)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The kind of docker-autoheal's own notifications (one per restart, its
/// words), routed to the channels made from `WEBHOOK_URL` and `APPRISE_URL`.
pub const COMPAT_KIND: &str = "docker_autoheal";
/// Those channels' names begin so (a name no `[channels]` entry may take).
pub const COMPAT_PREFIX: &str = "docker.";

/// docker-autoheal's `WEBHOOK_URL` (`{"<WEBHOOK_JSON_KEY>": text}`) and
/// `APPRISE_URL` (`{"title": "Autoheal", "body": text}`) as channels.
type ChannelResult = Result<autoheal_plugins::channel::ChannelConfig, serde_json::Error>;

fn compat_channels(docker: &autoheal_docker::DockerSettings) -> Vec<(&'static str, ChannelResult)> {
    let timeout = humantime::format_duration(docker.api_timeout.clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(30),
    ))
    .to_string();
    let mut out = Vec::new();
    if let Some(url) = &docker.webhook_url {
        let c = serde_json::from_value(serde_json::json!({
            "type": "webhook", "url": url.expose(), "preset": "docker_autoheal",
            "key": docker.webhook_json_key, "timeout": timeout,
        }));
        out.push(("docker.webhook", c));
    }
    if let Some(url) = &docker.apprise_url {
        let c = serde_json::from_value(serde_json::json!({
            "type": "apprise", "url": url.expose(), "timeout": timeout,
        }));
        out.push(("docker.apprise", c));
    }
    out
}

fn route(r: &RouteConfig) -> Route {
    Route {
        channels: r.channels.clone(),
        events: r
            .events
            .iter()
            .filter_map(|e| MessageKind::ALL.iter().copied().find(|k| k.as_str() == e))
            .collect(),
        targets: r.targets.iter().cloned().collect(),
        groups: r.groups.iter().cloned().collect(),
        tags: r.tags.iter().cloned().collect(),
        quiet: r.quiet_windows.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autoheal_docker::actions::{apprise_payload, webhook_payload};
    use autoheal_plugins::channel::{Message, Rendered};

    #[test]
    fn docker_autoheals_urls_get_its_own_messages_in_its_shapes_and_nothing_else() {
        let docker = autoheal_docker::DockerSettings {
            webhook_url: Some(autoheal_docker::SecretUrl::new("http://127.0.0.1:9/hook")),
            apprise_url: Some(autoheal_docker::SecretUrl::new(
                "http://127.0.0.1:9/notify/k",
            )),
            webhook_json_key: "content".into(),
            ..Default::default()
        };
        let chans = compat_channels(&docker);
        let clients = HttpClients::new().unwrap();
        let mut r = Routing::default();
        let mut msg = Message::test("e1");
        msg.title = "Autoheal".into();
        msg.text = "Container web (abc) found to be unhealthy. Restarted.".into();
        for (name, cfg) in chans {
            let c = cfg.unwrap().build(&clients).unwrap();
            let Rendered::Json(body) = c.render(&msg) else {
                panic!("{name} renders JSON");
            };
            let want = if name == "docker.webhook" {
                webhook_payload("content", &msg.text)
            } else {
                apprise_payload(&msg.text)
            };
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(&body[k], v, "{name}: {body}");
            }
            r.channels.insert((1, name.to_string()), Arc::new(c));
        }
        let ws = autoheal_store::DEFAULT_WORKSPACE;
        assert_eq!(
            r.channels_for(ws, COMPAT_KIND, Some("web")),
            ["docker.apprise", "docker.webhook"]
        );
        assert!(
            r.channels_for(ws, "heal_started", Some("web")).is_empty(),
            "autoheal's own notifications are not sent to docker-autoheal's URLs"
        );
    }

    #[test]
    fn routes_choose_by_kind_target_group_and_tag() {
        let cfg = autoheal_config::parse_str(
            r#"
[groups.front]
[channels.all]
type = "slack"
url = "https://hooks.slack.com/services/T/B/1"
[channels.pager]
type = "slack"
url = "https://hooks.slack.com/services/T/B/2"
[channels.team]
type = "slack"
url = "https://hooks.slack.com/services/T/B/3"
[routes.everything]
channels = ["all"]
[routes.page]
channels = ["pager"]
events = ["quarantined"]
tags = ["prod"]
[routes.team]
channels = ["team"]
groups = ["front"]
[targets.web]
group = "front"
tags = ["prod"]
[targets.db]
tags = ["staging"]
"#,
            "t.toml",
            &Default::default(),
        )
        .unwrap();
        let r = Routing::build(1, &cfg, &HttpClients::new().unwrap()).unwrap();
        assert_eq!(
            r.channels_for(1, "quarantined", Some("web")),
            ["all", "pager", "team"]
        );
        assert_eq!(
            r.channels_for(1, "heal_started", Some("web")),
            ["all", "team"]
        );
        assert_eq!(r.channels_for(1, "quarantined", Some("db")), ["all"]);
        assert_eq!(r.channels_for(1, "quarantined", None), ["all"]);
    }
}
