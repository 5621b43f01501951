//! `autoheal export`: the targets of a [`Config`] back to TOML that
//! [`crate::parse_str`] accepts again. Every target is written with its
//! merged policy spelled out, so it means the same wherever it is imported:
//! no `[defaults]` is written (the importing file's defaults cannot change
//! an exported target), and the groups are written as they were configured
//! (a target's own keys override them anyway; they are there so that group
//! names resolve and the groups travel with their targets).
//!
//! A secret the file wrote as a reference (`{ env = "NAME" }`,
//! `{ file = "PATH" }`) is exported as that reference, never as the value
//! it was read from; values written in the file are exported as written.

use crate::plugins::to_table;
use crate::raw::{
    BackoffKeys, ContainerKeys, HumanDuration, MaintenanceKeys, RungKeys, TargetKeys,
};
use crate::secrets::write_back;
use crate::{Config, TargetsFile};
use autoheal_core::MaintenanceWindow;

impl Config {
    /// The `[groups]`, `[actions]` and `[targets]` sections of this config.
    /// Note: with `engine.dry_run` on, every target's merged policy is dry
    /// run, and is exported so.
    pub fn to_targets_file(&self) -> Result<TargetsFile, toml::ser::Error> {
        let mut file = TargetsFile {
            groups: self.groups.clone(),
            ..TargetsFile::default()
        };
        for (name, action) in &self.actions {
            let mut table = to_table(action)?;
            write_back(&mut table, self.secret_refs.actions.get(name));
            file.actions.insert(name.clone(), table);
        }
        for (name, channel) in &self.channels {
            let mut table = to_table(channel)?;
            write_back(&mut table, self.secret_refs.channels.get(name));
            file.channels.insert(name.clone(), table);
        }
        file.routes = self.routes.clone();
        for t in &self.targets {
            let p = &t.policy;
            let d = |d: std::time::Duration| Some(HumanDuration(d));
            let keys = TargetKeys {
                group: t.group.clone(),
                check: t
                    .check
                    .as_ref()
                    .map(|c| {
                        let mut table = to_table(c)?;
                        write_back(&mut table, self.secret_refs.checks.get(&t.name));
                        Ok::<_, toml::ser::Error>(table)
                    })
                    .transpose()?,
                depends_on: Some(t.depends_on.clone()),
                enabled: Some(t.enabled),
                tags: (!t.tags.is_empty()).then(|| t.tags.clone()),
                container: t.container.as_ref().map(container_keys),
                failure_threshold: Some(p.failure_threshold),
                failure_window: d(p.failure_window),
                success_threshold: Some(p.success_threshold),
                start_period: d(p.start_period),
                degraded_is_failure: Some(p.degraded_is_failure),
                cooldown: d(p.cooldown),
                max_actions: Some(p.max_actions),
                actions_window: d(p.actions_window),
                auto_release: Some(p.auto_release),
                dry_run: Some(p.dry_run),
                action: None,
                ladder: Some(
                    p.ladder
                        .iter()
                        .map(|r| RungKeys {
                            action: r.action.clone(),
                            verify: d(r.verify),
                            repeat: Some(r.repeat),
                        })
                        .collect(),
                ),
                maintenance: Some(p.maintenance.iter().map(maintenance_keys).collect()),
                backoff: Some(BackoffKeys {
                    initial: d(p.backoff.initial),
                    factor: Some(p.backoff.factor),
                    max: d(p.backoff.max),
                    jitter: Some(p.backoff.jitter),
                    reset_after: d(p.backoff.reset_after),
                }),
            };
            file.targets.insert(t.name.clone(), keys);
        }
        Ok(file)
    }

    /// [`Config::to_targets_file`] as TOML text.
    pub fn to_toml_targets(&self) -> Result<String, toml::ser::Error> {
        self.to_targets_file()?.to_toml_string()
    }
}

fn container_keys(c: &autoheal_docker::ConfiguredTarget) -> ContainerKeys {
    use autoheal_docker::ContainerSelector as S;
    let mut k = ContainerKeys {
        mode: c.mode.map(|m| {
            match m {
                autoheal_docker::DockerMode::Health => "health",
                autoheal_docker::DockerMode::OnFailure => "on_failure",
                autoheal_docker::DockerMode::Both => "both",
            }
            .to_string()
        }),
        ..ContainerKeys::default()
    };
    match &c.selector {
        S::Name(n) => k.name = Some(n.clone()),
        S::Labels(l) => k.labels = Some(l.clone()),
        S::Compose { project, service } => {
            k.compose_project = Some(project.clone());
            k.compose_service = Some(service.clone());
        }
    }
    k
}

fn maintenance_keys(w: &MaintenanceWindow) -> MaintenanceKeys {
    match w {
        MaintenanceWindow::OneOff { start, end } => MaintenanceKeys {
            start: Some(start.to_string()),
            end: Some(end.to_string()),
            ..MaintenanceKeys::default()
        },
        MaintenanceWindow::Recurring {
            cron,
            timezone,
            duration,
        } => MaintenanceKeys {
            cron: Some(cron.clone()),
            timezone: Some(timezone.clone()),
            duration: Some(HumanDuration(*duration)),
            ..MaintenanceKeys::default()
        },
    }
}
