//! The Docker side: one container per sandbox, each running the static action proxy
//! (`wow-proxy`) from a `FROM scratch` image built locally, reached through a port published on
//! 127.0.0.1 (or on the host network).
//!
//! Provisioning is timed in parts — `create_container`, `start_container`, and readiness (from
//! started to the proxy's first HTTP 200 on `/health`; docker-proxy accepts connections before
//! the container listens, so a connect proves nothing) — and recorded in [`ProvisionTiming`].
//!
//! Series (`variant`): `create-start` (create + start per cold start), `prestarted` (OpenWhisk's
//! stem cells: started, ready containers taken from a pool), `host-net` (no bridge, no
//! docker-proxy), `actionloop` (the proxy keeps the action process alive across runs),
//! `skeleton` (the paper's Python action proxy on Debian, see [`skeleton`]) and `docker-wasm`
//! (the Wasm executor in a container, see [`docker_wasm`]).
//!
//! Every container carries the labels `wowbench=1`, `wowbench.run=<run id>`,
//! `wowbench.action=<action>`, `wowbench.variant=<variant>` and `wowbench.instance=<backend
//! instance>`; the backend records each one, and [`DockerBackend::cleanup`] removes them all (see
//! `cleanup`). The instance label lets several backends of one run (one per variant) clean up
//! independently; [`sweep_run`] removes a whole run, [`sweep_all`] everything of wowbench.

pub mod cgroup;
mod cleanup;
pub mod dedicated;
pub mod docker_wasm;
pub mod engine;
pub mod image;
mod memory;
mod ports;
pub mod skeleton;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder};
use futures::StreamExt;
use wow_records::Series;

pub use cleanup::{
    list_labelled, list_with_labels, sweep_all, sweep_label, sweep_labels, sweep_run,
};
pub use engine::{EngineInfo, connect as connect_engine};
pub use image::{IMAGE_REPO, LABEL, ProxyImage, ensure_image, ensure_proxy_image, sweep_images};
pub use memory::stats_working_set;

use self::cleanup::{Tracked, Tracker, short};
use self::engine::API_TIMEOUT;
use super::{ActionClient, Backend, BackendKind, MemorySample, ProvisionTiming, Sandbox};

/// Label naming the run a container belongs to.
pub const LABEL_RUN: &str = "wowbench.run";
/// Label naming the action a container was provisioned for (`stem-cell` for the pool).
pub const LABEL_ACTION: &str = "wowbench.action";
/// Label naming the backend instance that made a container.
pub const LABEL_INSTANCE: &str = "wowbench.instance";
/// Label naming the series (`create-start`, …).
pub const LABEL_VARIANT: &str = "wowbench.variant";
/// Action label of pre-started containers, which belong to no action until taken.
pub const STEM_CELL: &str = "stem-cell";

/// Attempts at a cold start when the chosen host port turns out to be taken.
const PORT_ATTEMPTS: u32 = 3;
/// Processes (and threads) a container may hold: the proxy, its threads and one action process
/// per concurrent run, with room to spare; a fork bomb in an action stops here.
pub const PIDS_LIMIT: i64 = 256;
/// Containers started at once by [`DockerBackend::prestart`].
const PRESTART_PARALLELISM: usize = 4;
/// Limit of one readiness poll.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// From this long into readiness, the container is checked for having exited, once a second.
const EXIT_CHECK_AFTER: Duration = Duration::from_secs(2);

/// Which Docker series a backend produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DockerVariant {
    /// Create and start a container per cold start (bridge network, published port).
    #[default]
    CreateStart,
    /// Take an already started, ready container from a pool filled by `prestart`.
    Prestarted,
    /// Create and start per cold start, on the host network (no docker-proxy).
    HostNet,
    /// Like `create-start`, with the proxy's action-loop exec mode.
    Actionloop,
    /// Like `create-start`, with the paper's Python action proxy image ([`skeleton`]).
    Skeleton,
    /// Like `create-start`, with the Wasm executor's image ([`docker_wasm`]); `/init` ships the
    /// Wasm module.
    DockerWasm,
}

impl DockerVariant {
    pub const ALL: [DockerVariant; 6] = [
        DockerVariant::CreateStart,
        DockerVariant::Prestarted,
        DockerVariant::HostNet,
        DockerVariant::Actionloop,
        DockerVariant::Skeleton,
        DockerVariant::DockerWasm,
    ];

    /// The series name the records use for this variant.
    pub fn series(self) -> Series {
        match self {
            DockerVariant::CreateStart => Series::CreateStart,
            DockerVariant::Prestarted => Series::Prestarted,
            DockerVariant::HostNet => Series::HostNet,
            DockerVariant::Actionloop => Series::Actionloop,
            DockerVariant::Skeleton => Series::Skeleton,
            DockerVariant::DockerWasm => Series::DockerWasm,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.series().as_str()
    }

    pub fn parse(s: &str) -> Result<DockerVariant> {
        DockerVariant::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = DockerVariant::ALL.iter().map(|v| v.as_str()).collect();
                anyhow!(
                    "unknown Docker variant {s:?} (expected {})",
                    known.join(", ")
                )
            })
    }

    /// The proxy's exec mode (`WOW_PROXY_EXEC_MODE`).
    pub fn exec_mode(self) -> &'static str {
        match self {
            DockerVariant::Actionloop => "actionloop",
            _ => "spawn",
        }
    }

    pub fn host_network(self) -> bool {
        self == DockerVariant::HostNet
    }
}

impl std::fmt::Display for DockerVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the Docker backend makes its containers.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// `create-start` (default), `prestarted`, `host-net` or `actionloop` (see [`DockerVariant`]).
    pub variant: String,
    /// Engine address (`unix:///…`, `tcp://…`); `None`: `DOCKER_HOST`, else the local socket.
    pub docker_host: Option<String>,
    /// Labels every container (`wowbench.run`) and is part of its name.
    pub run_id: String,
    /// Runs in flight at once inside one container (`WOW_PROXY_CONCURRENCY`); 1 is OpenWhisk's.
    pub proxy_concurrency: u32,
    /// Memory limit of each container.
    pub memory_limit_bytes: Option<u64>,
    /// Memory plus swap limit of each container (`-1`: unlimited); `None`: Docker's default.
    pub memory_swap_bytes: Option<i64>,
    /// CPU limit of each container in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// Parent cgroup of every container (device profiles put them all under the device's limits).
    pub cgroup_parent: Option<String>,
    /// Address ports are published on (and, with host networking, the proxy listens on).
    pub publish_ip: IpAddr,
    /// The static proxy to put in the image; `None`: the built artifact for the engine's
    /// architecture (built first if needed).
    pub proxy_binary: Option<PathBuf>,
    /// More `NAME=value` environment for the proxy (`WOW_PROXY_MAX_QUEUE=…`, …).
    pub extra_env: Vec<String>,
    /// How long a started container may take to answer `/health`.
    pub ready_timeout: Duration,
}

impl Default for DockerOptions {
    /// `create-start`, one run at a time per container, no limits, 127.0.0.1, and no run id
    /// (set one: [`DockerBackend::connect`] refuses an empty one).
    fn default() -> DockerOptions {
        DockerOptions {
            variant: DockerVariant::CreateStart.as_str().to_string(),
            docker_host: None,
            run_id: String::new(),
            proxy_concurrency: 1,
            memory_limit_bytes: None,
            memory_swap_bytes: None,
            nano_cpus: None,
            cgroup_parent: None,
            publish_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            proxy_binary: None,
            extra_env: Vec::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }
}

impl DockerOptions {
    /// The defaults for run `run_id`.
    pub fn new(run_id: impl Into<String>) -> DockerOptions {
        DockerOptions {
            run_id: run_id.into(),
            ..DockerOptions::default()
        }
    }
}

/// The Docker backend. Cheap to clone (clones share everything); the last clone dropped removes
/// any container [`DockerBackend::cleanup`] was not called for.
#[derive(Clone)]
pub struct DockerBackend {
    inner: Arc<Inner>,
}

struct Inner {
    variant: DockerVariant,
    docker: Docker,
    engine: EngineInfo,
    opts: DockerOptions,
    client: ActionClient,
    image: ProxyImage,
    native_target: String,
    /// Unique per backend instance; labels its containers.
    instance: String,
    tracker: Arc<Tracker>,
    pool: Mutex<VecDeque<Sandbox>>,
    cleanup_lock: tokio::sync::Mutex<()>,
}

/// Why a started container never became ready.
enum NotReady {
    /// It exited (with host networking most likely: the port was taken).
    Exited(String),
    Other(anyhow::Error),
}

impl DockerBackend {
    /// Connects to the engine, makes sure the proxy image exists (builds it if not) and returns a
    /// backend that has made no container yet.
    pub async fn connect(opts: DockerOptions, client: ActionClient) -> Result<DockerBackend> {
        let variant = DockerVariant::parse(&opts.variant)?;
        let run_id = sanitize(&opts.run_id);
        if run_id.is_empty() {
            bail!("the Docker backend needs a run id");
        }
        if opts.proxy_concurrency == 0 {
            bail!("proxy_concurrency must be at least 1");
        }
        let (docker, engine) = engine::connect(opts.docker_host.as_deref()).await?;
        let native_target = native_target_for(&engine.arch);
        let proxy = match &opts.proxy_binary {
            Some(p) => p.clone(),
            None => {
                let artifacts = tokio::task::spawn_blocking(wow_artifacts::ensure_built_default)
                    .await
                    .context("the artifact build panicked")??;
                let p = artifacts.proxy(&native_target);
                if !p.is_file() {
                    bail!(
                        "the engine runs {} but there is no proxy built for {native_target}; run `wowbench build --native-target {native_target}`",
                        engine.arch
                    );
                }
                p
            }
        };
        let image = match variant {
            DockerVariant::Skeleton => skeleton::ensure_skeleton_image(&docker).await?,
            DockerVariant::DockerWasm => {
                let artifacts = tokio::task::spawn_blocking(wow_artifacts::ensure_built_default)
                    .await
                    .context("the artifact build panicked")??;
                let mut modules = Vec::new();
                for w in wow_artifacts::WORKLOADS {
                    for path in [artifacts.wasm(w), artifacts.wasm_scalar(w)] {
                        if let Ok(bytes) = std::fs::read(&path) {
                            modules.push((w.to_string(), bytes));
                        }
                    }
                }
                docker_wasm::ensure_docker_wasm_image(&docker, &modules).await?
            }
            _ => image::ensure_proxy_image(&docker, &proxy).await?,
        };
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let instance = format!(
            "{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );
        let opts = DockerOptions {
            run_id,
            variant: variant.as_str().to_string(),
            ..opts
        };
        Ok(DockerBackend {
            inner: Arc::new(Inner {
                variant,
                docker,
                engine,
                opts,
                client,
                image,
                native_target,
                instance,
                tracker: Arc::new(Tracker::default()),
                pool: Mutex::new(VecDeque::new()),
                cleanup_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Checks before a run that the engine can run the proxy: connects, finds or builds the
    /// image, starts one container, waits for its `/health`, removes it. Returns what a run's
    /// `meta.json` records about the engine. The error says how to run without Docker.
    pub async fn preflight(
        docker_host: Option<String>,
        client: ActionClient,
    ) -> Result<wow_records::meta::DockerInfo> {
        let run_id = format!("preflight-{}", std::process::id());
        let opts = DockerOptions {
            docker_host,
            ..DockerOptions::new(run_id)
        };
        let backend = DockerBackend::connect(opts, client).await?;
        let started = backend.provision("preflight").await;
        let cleaned = backend.cleanup().await;
        started.context("starting a test container")?;
        cleaned?;
        let e = backend.engine();
        Ok(wow_records::meta::DockerInfo {
            server_version: e.version.clone(),
            api_version: e.api_version.clone(),
            cgroup_version: e.cgroup_version.clone(),
            cgroup_driver: e.cgroup_driver.clone(),
            storage_driver: e.storage_driver.clone(),
            endpoint: e.host.clone(),
        })
    }

    /// The series, parsed.
    pub fn variant_kind(&self) -> DockerVariant {
        self.inner.variant
    }

    pub fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    pub fn engine(&self) -> &EngineInfo {
        &self.inner.engine
    }

    pub fn image(&self) -> &ProxyImage {
        &self.inner.image
    }

    pub fn options(&self) -> &DockerOptions {
        &self.inner.opts
    }

    pub fn run_id(&self) -> &str {
        &self.inner.opts.run_id
    }

    /// The musl target of the engine's architecture: init containers with workloads built for it.
    pub fn native_target(&self) -> &str {
        &self.inner.native_target
    }

    /// Containers this backend made and has not removed (pool included).
    pub fn live_containers(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Started, ready containers waiting in the pool.
    pub fn prestarted(&self) -> usize {
        self.inner.pool_lock().len()
    }

    /// Fills the pool with `n` more started, ready containers (OpenWhisk's stem cells). Untimed:
    /// call it before the clock starts. Containers that did start stay in the pool even if
    /// others failed.
    pub async fn prestart(&self, n: usize) -> Result<()> {
        let inner = &self.inner;
        if inner.variant != DockerVariant::Prestarted {
            bail!(
                "prestart is for the prestarted variant; this backend is {}",
                inner.variant
            );
        }
        let results: Vec<Result<Sandbox>> = futures::stream::iter(0..n)
            .map(|_| inner.cold_provision(STEM_CELL))
            .buffer_unordered(PRESTART_PARALLELISM)
            .collect()
            .await;
        let mut first_err = None;
        let closing = inner.tracker.is_closing();
        let mut pool = inner.pool_lock();
        for r in results {
            match r {
                // Cleanup ran meanwhile and removed it.
                Ok(_) if closing => {}
                Ok(sb) => pool.push_back(sb),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e.context("pre-starting containers")),
            None => Ok(()),
        }
    }

    /// Removes every container this backend made: closes it to new ones, waits for `create`
    /// calls in flight to settle, removes what it recorded, then sweeps the engine for anything
    /// labelled with this run and backend instance. Idempotent, and safe to call at any moment
    /// (on Ctrl-C, on error, at the end, concurrently with provisions, which then fail). Returns
    /// how many containers it removed. The backend makes no containers afterwards.
    pub async fn cleanup(&self) -> Result<usize> {
        let inner = &self.inner;
        let _one_at_a_time = inner.cleanup_lock.lock().await;
        inner.tracker.close();
        if !inner
            .tracker
            .settle(API_TIMEOUT + Duration::from_secs(5))
            .await
        {
            tracing::warn!(
                "container creations still in flight after the API timeout; sweeping anyway"
            );
        }
        inner.pool_lock().clear();
        let ids = inner.tracker.drain();
        let (mut removed, failed) = cleanup::remove_all(&inner.docker, ids).await;
        let [run, instance] = inner.own_labels();
        let swept = cleanup::sweep_labels(&inner.docker, &[&run, &instance]).await;
        match swept {
            Ok(n) => removed += n,
            Err(e) => {
                let e = if failed.is_empty() {
                    e
                } else {
                    e.context(format!("removing: {}", failed.join("; ")))
                };
                return Err(e.context(format!("cleaning up run {}", inner.opts.run_id)));
            }
        }
        if !failed.is_empty() {
            // The sweep found nothing left, so these raced with another removal.
            tracing::debug!(
                "removals that failed but left nothing behind: {}",
                failed.join("; ")
            );
        }
        Ok(removed)
    }
}

impl Inner {
    fn pool_lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sandbox>> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The labels that pick out exactly this backend's containers.
    fn own_labels(&self) -> [String; 2] {
        [
            format!("{LABEL_RUN}={}", self.opts.run_id),
            format!("{LABEL_INSTANCE}={}", self.instance),
        ]
    }

    /// Create + start + ready, timed, with new ports on a port clash.
    async fn cold_provision(&self, action: &str) -> Result<Sandbox> {
        let t0 = Instant::now();
        // One sequence for every backend of the process: several backends (one per variant) of
        // one run are alive at once, and container names must be unique on the engine.
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let ip = self.opts.publish_ip;
        for attempt in 0..PORT_ATTEMPTS {
            let last = attempt + 1 == PORT_ATTEMPTS;
            let port = ports::pick(ip)?;
            let name = match attempt {
                0 => format!("wowbench-{}-{seq}", self.opts.run_id),
                n => format!("wowbench-{}-{seq}-r{n}", self.opts.run_id),
            };
            let body = self.container_body(action, port);

            let t = Instant::now();
            let id = self.create(&name, body).await?;
            let create = t.elapsed();

            let t = Instant::now();
            let started = engine::call(
                format!("start container {name}"),
                API_TIMEOUT,
                self.docker.start_container(&id, None),
            )
            .await;
            let start = t.elapsed();
            if let Err(e) = started {
                self.discard(&id).await;
                if is_port_clash(&e) && !last {
                    tracing::warn!("host port {port} was taken; retrying {name} with another");
                    continue;
                }
                return Err(e);
            }

            let t = Instant::now();
            let base_url = format!("http://{}", SocketAddr::new(base_ip(ip), port));
            match self.wait_ready(&id, &name, &base_url).await {
                Ok(polls) => {
                    let ready = t.elapsed();
                    let total = t0.elapsed();
                    if attempt > 0 {
                        tracing::warn!(
                            "{name}: cold start took {} attempts (port clashes); total includes them",
                            attempt + 1
                        );
                    }
                    return Ok(Sandbox {
                        id: format!("{action}-{seq}"),
                        kind: BackendKind::Docker,
                        base_url,
                        container_id: Some(id),
                        host_port: Some(port),
                        provision: ProvisionTiming {
                            total,
                            create: Some(create),
                            start: Some(start),
                            ready: Some(ready),
                            ready_polls: polls,
                        },
                    });
                }
                Err(NotReady::Exited(why)) if self.variant.host_network() && !last => {
                    self.discard(&id).await;
                    tracing::warn!(
                        "{name} exited before it was ready ({why}); retrying on another port"
                    );
                }
                Err(NotReady::Exited(why)) => {
                    self.discard(&id).await;
                    bail!("container {name} exited before it was ready: {why}");
                }
                Err(NotReady::Other(e)) => {
                    self.discard(&id).await;
                    return Err(e);
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// `create_container` in a task of its own that records the container the moment the
    /// engine has made it: a caller cancelled mid-call (Ctrl-C) leaves nothing unrecorded, and
    /// cleanup waits for such tasks before sweeping.
    async fn create(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        let tracker = self.tracker.clone();
        let docker = self.docker.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let _in_flight = tracker.begin()?;
            let opts = CreateContainerOptionsBuilder::default().name(&name).build();
            let id = engine::call(
                format!("create container {name}"),
                API_TIMEOUT,
                docker.create_container(Some(opts), body),
            )
            .await?
            .id;
            tracker.register(&id, Tracked::default());
            Ok(id)
        })
        .await
        .context("the container creation task failed")?
    }

    fn container_body(&self, action: &str, port: u16) -> ContainerCreateBody {
        let o = &self.opts;
        let mut env = match self.variant {
            // Its image sets where the executor listens and caches.
            DockerVariant::DockerWasm => vec![],
            // The Python proxy takes no settings: one activation at a time, port 8080.
            DockerVariant::Skeleton => vec![],
            _ => vec![
                format!("WOW_PROXY_CONCURRENCY={}", o.proxy_concurrency),
                format!("WOW_PROXY_EXEC_MODE={}", self.variant.exec_mode()),
            ],
        };
        // The proxy listens on loopback unless told otherwise. On the host network that is where
        // it must stay (the publish address, loopback by default); on a bridge network Docker's
        // port forwarding reaches the container's own interface, so it listens on all of the
        // container's addresses, and the published port alone decides who can connect.
        let listen = if self.variant.host_network() {
            SocketAddr::new(base_ip(o.publish_ip), port)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), wow_protocol::PROXY_PORT)
        };
        if !matches!(
            self.variant,
            DockerVariant::DockerWasm | DockerVariant::Skeleton
        ) {
            env.push(format!("WOW_PROXY_LISTEN={listen}"));
        }
        env.extend(o.extra_env.iter().cloned());
        let labels = HashMap::from([
            (LABEL.to_string(), "1".to_string()),
            (LABEL_RUN.to_string(), o.run_id.clone()),
            (LABEL_ACTION.to_string(), action.to_string()),
            (LABEL_INSTANCE.to_string(), self.instance.clone()),
            (LABEL_VARIANT.to_string(), self.variant.as_str().to_string()),
        ]);
        let container_port = format!("{}/tcp", wow_protocol::PROXY_PORT);
        let mut host = HostConfig {
            memory: o.memory_limit_bytes.map(|b| b as i64),
            memory_swap: o.memory_swap_bytes,
            nano_cpus: o.nano_cpus,
            cgroup_parent: o.cgroup_parent.clone(),
            // The proxy listens on an unprivileged port and runs the action it was given: it
            // needs no capability, never gains privileges, and a fork bomb stops at the limit.
            cap_drop: Some(vec!["ALL".to_string()]),
            security_opt: Some(vec!["no-new-privileges".to_string()]),
            pids_limit: Some(PIDS_LIMIT),
            ..Default::default()
        };
        let mut exposed = None;
        if self.variant.host_network() {
            host.network_mode = Some("host".to_string());
        } else {
            host.port_bindings = Some(HashMap::from([(
                container_port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(o.publish_ip.to_string()),
                    host_port: Some(port.to_string()),
                }]),
            )]));
            exposed = Some(vec![container_port]);
        }
        ContainerCreateBody {
            image: Some(self.image.tag.clone()),
            env: Some(env),
            labels: Some(labels),
            exposed_ports: exposed,
            host_config: Some(host),
            ..Default::default()
        }
    }

    /// Polls `GET /health` until a 200: first retry after 1 ms, doubling to 10 ms. Returns the
    /// polls made.
    async fn wait_ready(&self, id: &str, name: &str, base_url: &str) -> Result<u32, NotReady> {
        let url = format!("{base_url}/health");
        let t = Instant::now();
        let mut delay = Duration::from_millis(1);
        let mut polls = 0u32;
        let mut next_check = EXIT_CHECK_AFTER;
        loop {
            polls += 1;
            if self.client.probe(&url, PROBE_TIMEOUT).await {
                return Ok(polls);
            }
            if self.tracker.is_closing() {
                return Err(NotReady::Other(anyhow!(
                    "the Docker backend is shutting down"
                )));
            }
            let waited = t.elapsed();
            if waited > self.opts.ready_timeout {
                let logs = self.logs_tail(id).await;
                return Err(NotReady::Other(anyhow!(
                    "container {name} did not answer {url} within {} s ({polls} polls){logs}",
                    self.opts.ready_timeout.as_secs()
                )));
            }
            if waited > next_check {
                next_check = waited + Duration::from_secs(1);
                if let Some(why) = self.exited(id).await {
                    let logs = self.logs_tail(id).await;
                    return Err(NotReady::Exited(format!("{why}{logs}")));
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    /// `Some(reason)` if the container is no longer running.
    async fn exited(&self, id: &str) -> Option<String> {
        let info = engine::call(
            format!("inspect container {}", short(id)),
            API_TIMEOUT,
            self.docker.inspect_container(id, None),
        )
        .await
        .ok()?;
        let state = info.state?;
        if state.running == Some(true) {
            return None;
        }
        Some(format!(
            "exit code {}{}",
            state.exit_code.unwrap_or(-1),
            state
                .error
                .filter(|e| !e.is_empty())
                .map(|e| format!(", {e}"))
                .unwrap_or_default()
        ))
    }

    /// The container's last log lines, for error messages.
    async fn logs_tail(&self, id: &str) -> String {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail("20")
            .build();
        let collect = self
            .docker
            .logs(id, Some(opts))
            .filter_map(|r| async move { r.ok().map(|l| l.to_string()) })
            .collect::<Vec<String>>();
        match tokio::time::timeout(Duration::from_secs(5), collect).await {
            Ok(lines) if !lines.is_empty() => {
                format!("; its log ends:\n{}", lines.concat().trim_end())
            }
            _ => String::new(),
        }
    }

    /// Removes a container that failed to become a sandbox (best effort; cleanup sweeps later).
    async fn discard(&self, id: &str) {
        if let Err(e) = cleanup::remove_container(&self.docker, id).await {
            tracing::warn!("cannot remove container {}: {e:#}", short(id));
            return;
        }
        self.tracker.forget(id);
    }
}

impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }

    fn code_kind(&self) -> BackendKind {
        if self.inner.variant == DockerVariant::DockerWasm {
            BackendKind::Wasm
        } else {
            BackendKind::Docker
        }
    }

    fn variant(&self) -> &str {
        self.inner.variant.as_str()
    }

    async fn provision(&self, action: &str) -> Result<Sandbox> {
        let inner = &self.inner;
        if inner.tracker.is_closing() {
            bail!("the Docker backend is shut down: no new containers");
        }
        if inner.variant == DockerVariant::Prestarted {
            let t = Instant::now();
            let popped = inner.pool_lock().pop_front();
            let total = t.elapsed();
            if let Some(mut sb) = popped {
                let seq = sb.id.rsplit('-').next().unwrap_or("0").to_string();
                sb.id = format!("{action}-{seq}");
                sb.provision = ProvisionTiming {
                    total,
                    ..Default::default()
                };
                return Ok(sb);
            }
            tracing::warn!(
                "the pre-started pool is empty: creating and starting a container for {action} (a full cold start, recorded as such)"
            );
        }
        inner.cold_provision(action).await
    }

    async fn destroy(&self, sandbox: &Sandbox) -> Result<()> {
        let id = sandbox
            .container_id
            .as_deref()
            .with_context(|| format!("sandbox {} is not a container", sandbox.id))?;
        cleanup::remove_container(&self.inner.docker, id).await?;
        self.inner.tracker.forget(id);
        Ok(())
    }

    async fn memory(&self, sandboxes: &[Sandbox]) -> Result<MemorySample> {
        let inner = &self.inner;
        memory::sample(
            &inner.docker,
            &inner.tracker,
            sandboxes,
            !inner.variant.host_network(),
        )
        .await
    }

    fn client(&self) -> &ActionClient {
        &self.inner.client
    }
}

impl Drop for Inner {
    /// Last resort when [`DockerBackend::cleanup`] was not called: removes what is recorded and
    /// sweeps this instance's label, on a thread with a runtime of its own (no async in `drop`).
    fn drop(&mut self) {
        let ids = self.tracker.ids();
        if ids.is_empty() {
            return;
        }
        tracing::warn!(
            "the Docker backend was dropped with {} container(s) left; removing them",
            ids.len()
        );
        let host = self.engine.host.clone();
        let [run, instance] = self.own_labels();
        let worker = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let (docker, _) = engine::connect(Some(&host)).await?;
                let _ = cleanup::remove_all(&docker, ids).await;
                cleanup::sweep_labels(&docker, &[&run, &instance]).await?;
                Ok(())
            })
        });
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("containers may be left behind: {e:#}; run `wowbench clean`")
            }
            Err(_) => tracing::error!("containers may be left behind; run `wowbench clean`"),
        }
    }
}

/// Address to reach a port published on `ip` (a wildcard is reached on loopback).
fn base_ip(ip: IpAddr) -> IpAddr {
    if ip.is_unspecified() {
        match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        ip
    }
}

/// Docker names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn sanitize(run_id: &str) -> String {
    run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_start_matches(['_', '.', '-'])
        .to_string()
}

/// The musl target for an engine architecture as Docker names it (`amd64`, `arm64`).
fn native_target_for(engine_arch: &str) -> String {
    let arch = match engine_arch {
        "amd64" | "x86_64" => "x86_64",
        "arm64" | "aarch64" => "aarch64",
        "" => std::env::consts::ARCH,
        other => other,
    };
    format!("{arch}-unknown-linux-musl")
}

fn is_port_clash(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("address already in use") || text.contains("port is already allocated")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_round_trip() {
        for v in DockerVariant::ALL {
            assert_eq!(DockerVariant::parse(v.as_str()).unwrap(), v);
        }
        assert!(DockerVariant::parse("nope").is_err());
    }

    #[test]
    fn names_are_docker_safe() {
        assert_eq!(sanitize("20261126-160054-probe"), "20261126-160054-probe");
        assert_eq!(sanitize("-a b/c"), "a-b-c");
        assert_eq!(native_target_for("amd64"), "x86_64-unknown-linux-musl");
        assert_eq!(native_target_for("arm64"), "aarch64-unknown-linux-musl");
    }
}
