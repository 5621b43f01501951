//! A narrow Docker client: exactly the endpoints autoheal needs.
//!
//! `_ping`/`version`, list, inspect, events, and restart/start/stop/kill. It
//! cannot create, exec, build, pull or touch plugins, so it runs fine behind
//! a socket proxy that allows only those (docs/docker.md). Every call has a
//! deadline (`api_timeout`; restart and stop get their stop timeout on top)
//! and every failure is a typed [`DockerError`].

use crate::config::{DockerHost, DockerSettings};
use bollard::models::{ContainerInspectResponse, ContainerSummary, EventMessage};
use bollard::query_parameters::{
    EventsOptions, KillContainerOptions, ListContainersOptions, RestartContainerOptions,
    StartContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// What can go wrong talking to the engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("bad Docker host setting: {0}")]
    Config(String),
    #[error("cannot connect to the Docker engine at {host}: {detail}")]
    Connect { host: String, detail: String },
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("the Docker engine answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("the Docker API call {call} timed out after {after:?}")]
    Timeout { call: &'static str, after: Duration },
    #[error("Docker transport error: {0}")]
    Transport(String),
}

impl DockerError {
    fn from_bollard(e: bollard::errors::Error, id: Option<&str>) -> Self {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code: 404,
                message,
            } => DockerError::NotFound(id.map(str::to_string).unwrap_or(message)),
            B::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Api {
                status: status_code,
                message,
            },
            other => DockerError::Transport(error_chain(&other)),
        }
    }

    /// True when the engine itself could not be reached (as opposed to an
    /// answer we did not like).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            DockerError::Connect { .. } | DockerError::Transport(_) | DockerError::Timeout { .. }
        )
    }
}

/// The whole cause chain of an error, joined with ": ".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}

/// A cheap-to-clone handle on one Docker engine.
#[derive(Clone, Debug)]
pub struct DockerClient {
    docker: Docker,
    host: DockerHost,
    api_timeout: Duration,
    negotiated: bool,
}

/// How long bollard itself may wait; our own deadlines are shorter.
const BOLLARD_TIMEOUT_SECS: u64 = 3600;

impl DockerClient {
    /// Builds the client and negotiates the API version with the engine
    /// (works from Docker 20.10 / API 1.41 to Docker 29, which refuses
    /// clients below 1.44).
    pub async fn connect(settings: &DockerSettings) -> Result<Self, DockerError> {
        let host = settings.docker_host().map_err(DockerError::Config)?;
        Self::connect_to(host, &settings.cert_dir, settings.api_timeout).await
    }

    /// As [`connect`](Self::connect), with explicit parts.
    pub async fn connect_to(
        host: DockerHost,
        cert_dir: &std::path::Path,
        api_timeout: Duration,
    ) -> Result<Self, DockerError> {
        let client = Self::new_unnegotiated(host, cert_dir, api_timeout)?;
        client.negotiate().await
    }

    /// Builds the client without talking to the engine (no version
    /// negotiation: requests go to unversioned paths until
    /// [`negotiate`](Self::negotiate)).
    pub fn new_unnegotiated(
        host: DockerHost,
        cert_dir: &std::path::Path,
        api_timeout: Duration,
    ) -> Result<Self, DockerError> {
        let v = bollard::API_DEFAULT_VERSION;
        let conn_err = |e: bollard::errors::Error| DockerError::Connect {
            host: host.to_string(),
            detail: error_chain(&e),
        };
        let docker = match &host {
            DockerHost::Unix(p) => {
                Docker::connect_with_unix(&p.to_string_lossy(), BOLLARD_TIMEOUT_SECS, v)
                    .map_err(conn_err)?
            }
            DockerHost::Tcp(a) => {
                Docker::connect_with_http(&format!("http://{a}"), BOLLARD_TIMEOUT_SECS, v)
                    .map_err(conn_err)?
            }
            DockerHost::Tls(a) => {
                for f in ["ca.pem", "client-cert.pem", "client-key.pem"] {
                    if !cert_dir.join(f).is_file() {
                        return Err(DockerError::Config(format!(
                            "tcps:// needs {} (set docker.cert_dir or DOCKER_CERT_PATH)",
                            cert_dir.join(f).display()
                        )));
                    }
                }
                // bollard builds its TLS config with the process-wide rustls
                // provider; with both ring (bollard) and aws-lc-rs (reqwest)
                // compiled in, rustls cannot pick one and panics. Pick ring
                // unless someone already chose.
                if rustls::crypto::CryptoProvider::get_default().is_none() {
                    let _ = rustls::crypto::ring::default_provider().install_default();
                }
                Docker::connect_with_ssl(
                    &format!("https://{a}"),
                    &cert_dir.join("client-key.pem"),
                    &cert_dir.join("client-cert.pem"),
                    &cert_dir.join("ca.pem"),
                    BOLLARD_TIMEOUT_SECS,
                    v,
                )
                .map_err(conn_err)?
            }
        };
        Ok(DockerClient {
            docker,
            host,
            api_timeout,
            negotiated: false,
        })
    }

    /// Asks the engine for its API version and uses the lower of its and ours.
    pub async fn negotiate(self) -> Result<Self, DockerError> {
        let host = self.host.clone();
        let api_timeout = self.api_timeout;
        let docker = self.docker.clone();
        let docker = deadline("version", api_timeout, async move {
            docker
                .negotiate_version()
                .await
                .map_err(|e| DockerError::Connect {
                    host: host.to_string(),
                    detail: error_chain(&e),
                })
        })
        .await?;
        Ok(DockerClient {
            docker,
            negotiated: true,
            ..self
        })
    }

    /// True once the API version was agreed with the engine. Until then
    /// requests use bollard's newest version, which older engines refuse.
    pub fn is_negotiated(&self) -> bool {
        self.negotiated
    }

    pub fn host(&self) -> &DockerHost {
        &self.host
    }

    pub fn api_timeout(&self) -> Duration {
        self.api_timeout
    }

    /// The API version in use ("1.41").
    pub fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    /// `GET /_ping`: the engine answers.
    pub async fn ping(&self) -> Result<(), DockerError> {
        deadline("ping", self.api_timeout, async {
            self.docker
                .ping()
                .await
                .map(|_| ())
                .map_err(|e| DockerError::from_bollard(e, None))
        })
        .await
    }

    /// `GET /version`: (engine version, API version).
    pub async fn version(&self) -> Result<(String, String), DockerError> {
        deadline("version", self.api_timeout, async {
            let v = self
                .docker
                .version()
                .await
                .map_err(|e| DockerError::from_bollard(e, None))?;
            Ok((
                v.version.unwrap_or_default(),
                v.api_version.unwrap_or_default(),
            ))
        })
        .await
    }

    /// `GET /containers/json` with `all` and `filters`.
    pub async fn list(
        &self,
        all: bool,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let opts = ListContainersOptions {
            all,
            filters: if filters.is_empty() {
                None
            } else {
                Some(filters)
            },
            ..Default::default()
        };
        deadline("list", self.api_timeout, async {
            self.docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| DockerError::from_bollard(e, None))
        })
        .await
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, DockerError> {
        deadline("inspect", self.api_timeout, async {
            self.docker
                .inspect_container(id, None)
                .await
                .map_err(|e| DockerError::from_bollard(e, Some(id)))
        })
        .await
    }

    /// `GET /events` for containers, from `since` (unix seconds) if given.
    /// The stream has no deadline: it lives until the engine or the
    /// connection ends it.
    pub fn container_events(
        &self,
        since: Option<i64>,
    ) -> impl Stream<Item = Result<EventMessage, DockerError>> + Send + 'static {
        let mut filters = HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let opts = EventsOptions {
            since: since.map(|s| s.to_string()),
            until: None,
            filters: Some(filters),
        };
        self.docker
            .events(Some(opts))
            .map(|r| r.map_err(|e| DockerError::from_bollard(e, None)))
    }

    /// `POST /containers/{id}/restart?t=`.
    pub async fn restart(&self, id: &str, stop_timeout: Duration) -> Result<(), DockerError> {
        let t = secs_i32(stop_timeout);
        deadline(
            "restart",
            self.api_timeout.saturating_add(stop_timeout),
            async {
                self.docker
                    .restart_container(
                        id,
                        Some(RestartContainerOptions {
                            t: Some(t),
                            signal: None,
                        }),
                    )
                    .await
                    .map_err(|e| DockerError::from_bollard(e, Some(id)))
            },
        )
        .await
    }

    /// `POST /containers/{id}/start` (304 already started counts as done).
    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        deadline("start", self.api_timeout, async {
            self.docker
                .start_container(id, None::<StartContainerOptions>)
                .await
                .map_err(|e| DockerError::from_bollard(e, Some(id)))
        })
        .await
    }

    /// `POST /containers/{id}/stop?t=` (304 already stopped counts as done).
    pub async fn stop(&self, id: &str, stop_timeout: Duration) -> Result<(), DockerError> {
        let t = secs_i32(stop_timeout);
        deadline(
            "stop",
            self.api_timeout.saturating_add(stop_timeout),
            async {
                self.docker
                    .stop_container(
                        id,
                        Some(StopContainerOptions {
                            t: Some(t),
                            signal: None,
                        }),
                    )
                    .await
                    .map_err(|e| DockerError::from_bollard(e, Some(id)))
            },
        )
        .await
    }

    /// Runs `argv` inside the container and waits for it, within `timeout`:
    /// `POST /containers/{id}/exec`, `POST /exec/{exec}/start` (attached),
    /// `GET /exec/{exec}/json`. Returns the exit code and the first 4 KiB of
    /// output (stdout and stderr). Docker has no call to kill an exec: one
    /// that outlives `timeout` keeps running in the container.
    pub async fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<(i64, String), DockerError> {
        use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
        deadline("exec", timeout, async {
            let created = self
                .docker
                .create_exec(
                    id,
                    CreateExecOptions {
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        cmd: Some(argv.to_vec()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| DockerError::from_bollard(e, Some(id)))?;
            let started = self
                .docker
                .start_exec(
                    &created.id,
                    Some(StartExecOptions {
                        detach: false,
                        tty: false,
                        output_capacity: None,
                    }),
                )
                .await
                .map_err(|e| DockerError::from_bollard(e, Some(id)))?;
            let mut text = String::new();
            if let StartExecResults::Attached { mut output, .. } = started {
                while let Some(chunk) = output.next().await {
                    let chunk = chunk.map_err(|e| DockerError::from_bollard(e, Some(id)))?;
                    if text.len() < 4096 {
                        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                    }
                }
            }
            // The engine may record the exit a moment after the output ends;
            // the whole call stays within `timeout`.
            loop {
                let inspected = self
                    .docker
                    .inspect_exec(&created.id)
                    .await
                    .map_err(|e| DockerError::from_bollard(e, Some(id)))?;
                match (inspected.running, inspected.exit_code) {
                    (Some(false) | None, Some(code)) => return Ok((code, text)),
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
        .await
    }

    /// `POST /containers/{id}/kill?signal=`.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), DockerError> {
        deadline("kill", self.api_timeout, async {
            self.docker
                .kill_container(
                    id,
                    Some(KillContainerOptions {
                        signal: signal.to_string(),
                    }),
                )
                .await
                .map_err(|e| DockerError::from_bollard(e, Some(id)))
        })
        .await
    }
}

fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

async fn deadline<T>(
    call: &'static str,
    after: Duration,
    f: impl Future<Output = Result<T, DockerError>>,
) -> Result<T, DockerError> {
    match tokio::time::timeout(after, f).await {
        Ok(r) => r,
        Err(_) => Err(DockerError::Timeout { call, after }),
    }
}
