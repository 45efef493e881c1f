//! What every experiment gets: the recorder, the artifacts, the device profile, the selected
//! backends and variants, and factories for backends that the run keeps track of, so that
//! everything started is stopped at the end, on error and on Ctrl-C.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wow_artifacts::Artifacts;
use wow_records::{Engine, Series};

use crate::backend::docker::{DockerBackend, DockerOptions};
use crate::backend::wasm::{WasmBackend, WasmOptions};
use crate::backend::{ActionClient, ActionCode, AnyBackend, BackendKind};
use crate::device::{DeviceCgroup, DeviceProfile};
use crate::recorder::Recorder;

pub struct Ctx {
    pub rec: Recorder,
    pub artifacts: Artifacts,
    pub native_target: String,
    pub device: DeviceProfile,
    pub cgroup: Option<Arc<DeviceCgroup>>,
    /// Backends the user asked for.
    pub backends: Vec<BackendKind>,
    /// Only these series, when given.
    pub variants: Option<Vec<String>>,
    /// Replaces an experiment's workload where it has a single one.
    pub workloads: Option<Vec<String>>,
    pub docker_host: Option<String>,
    /// An executor already running at this URL instead of one started per series.
    pub wasm_url: Option<String>,
    pub client: ActionClient,
    /// Measured at the start of the run and recorded in `meta.json`; shared by both sides of a
    /// paired run, so that both run the same work (e.g. `hash`'s calibrated iterations).
    pub calibration: Arc<Mutex<BTreeMap<String, serde_json::Value>>>,
    pub notes: Mutex<Vec<String>>,
    /// The backends this run has started and not yet released (stopped at the end).
    pub live: Mutex<Vec<Arc<AnyBackend>>>,
    pub work_dir: PathBuf,
    /// Set during a later engine's pass: only Wasm series run.
    pub engine_pass: AtomicBool,
    /// Series this run cannot make, with why (noted once at the start, then left out).
    pub unavailable: BTreeMap<Series, String>,
    /// The executor program this side runs instead of the default (`wow-runtime` or
    /// `wowbench`): the baseline side of a paired run.
    pub executor: Option<PathBuf>,
    /// The static action proxy this side's Docker image holds instead of the built one: the
    /// baseline side of a paired run given another build's proxy.
    pub proxy: Option<PathBuf>,
    /// Executors started so far: each gets a work folder (and artifact cache) of its own.
    pub executors_started: std::sync::atomic::AtomicUsize,
    /// Whether this side has measured the load generator's ceiling (once per run is enough).
    pub ceiling_measured: AtomicBool,
}

impl Ctx {
    /// The baseline side of a paired run: this side's settings and calibration, with its own
    /// records (`rec`, in its own run folder) and executor program.
    pub fn baseline_side(&self, rec: Recorder, executor: PathBuf, proxy: Option<PathBuf>) -> Ctx {
        Ctx {
            work_dir: rec.dir.path.join("work"),
            rec,
            artifacts: self.artifacts.clone(),
            native_target: self.native_target.clone(),
            device: self.device.clone(),
            cgroup: self.cgroup.clone(),
            backends: self.backends.clone(),
            variants: self.variants.clone(),
            workloads: self.workloads.clone(),
            docker_host: self.docker_host.clone(),
            wasm_url: self.wasm_url.clone(),
            client: self.client.clone(),
            calibration: self.calibration.clone(),
            notes: Default::default(),
            live: Default::default(),
            engine_pass: Default::default(),
            unavailable: self.unavailable.clone(),
            executor: Some(executor),
            proxy,
            executors_started: Default::default(),
            ceiling_measured: Default::default(),
        }
    }

    /// Whether the current pass runs `kind`'s series: the first pass runs every backend asked
    /// for, each later engine's pass only the Wasm side.
    pub fn wants(&self, kind: BackendKind) -> bool {
        self.backends.contains(&kind)
            && (kind == BackendKind::Wasm || !self.engine_pass.load(Ordering::Relaxed))
    }

    /// The engine the current pass's executors run.
    pub fn engine(&self) -> Engine {
        self.rec.engine()
    }

    /// Starts the pass of `engine`: Wasm rows are recorded under it and executors run it;
    /// `wasm_only` leaves out the Docker series (measured once, in the first pass).
    pub fn begin_engine_pass(&self, engine: Engine, wasm_only: bool) {
        self.rec.set_engine(engine);
        self.engine_pass.store(wasm_only, Ordering::Relaxed);
    }

    /// The series of `kind` to run out of an experiment's list, after `--variants`.
    pub fn variants_of(&self, kind: BackendKind, listed: &[Series]) -> Vec<Series> {
        if !self.wants(kind) {
            return vec![];
        }
        listed
            .iter()
            .filter(|v| {
                self.variants
                    .as_ref()
                    .is_none_or(|f| f.iter().any(|name| name == v.as_str()))
            })
            .filter(|v| !self.unavailable.contains_key(v))
            .copied()
            .collect()
    }

    /// The (backend, variant) series an experiment with these lists runs, Wasm first.
    pub fn series(&self, wasm: &[Series], docker: &[Series]) -> Vec<(BackendKind, Series)> {
        let mut out: Vec<(BackendKind, Series)> = self
            .variants_of(BackendKind::Wasm, wasm)
            .into_iter()
            .map(|v| (BackendKind::Wasm, v))
            .collect();
        out.extend(
            self.variants_of(BackendKind::Docker, docker)
                .into_iter()
                .map(|v| (BackendKind::Docker, v)),
        );
        out
    }

    /// The workload an experiment uses: `--workloads`' first entry, else its own.
    pub fn workload<'a>(&'a self, default: &'a str) -> &'a str {
        self.workloads
            .as_ref()
            .and_then(|w| w.first())
            .map(String::as_str)
            .unwrap_or(default)
    }

    /// The module the pass's engine runs: the workload's SIMD build, or for an engine without
    /// SIMD the same source built without it.
    pub fn wasm_path(&self, workload: &str) -> PathBuf {
        if self.engine().runs_simd() {
            self.artifacts.wasm(workload)
        } else {
            self.artifacts.wasm_scalar(workload)
        }
    }

    pub fn wasm_bytes(&self, workload: &str) -> Result<Vec<u8>> {
        let p = self.wasm_path(workload);
        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
    }

    pub fn native_bytes(&self, workload: &str) -> Result<Vec<u8>> {
        let p = self.artifacts.native(workload, &self.native_target);
        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
    }

    /// Both builds of a workload, ready to ship.
    pub fn code(&self, workload: &str) -> Result<ActionCode> {
        Ok(ActionCode::new(
            workload,
            &self.wasm_bytes(workload)?,
            &self.native_bytes(workload)?,
        ))
    }

    /// Starts a Wasm backend (its own executor process, in the device's cgroup) for a series.
    pub async fn wasm(&self, variant: &str, executor_args: &[&str]) -> Result<Arc<AnyBackend>> {
        let n = self.executors_started.fetch_add(1, Ordering::Relaxed);
        let dir = self.work_dir.join(format!("executor-{n}"));
        let opts = WasmOptions {
            variant: variant.to_string(),
            url: self.wasm_url.clone(),
            program: self.executor.clone(),
            executor_args: executor_args_for(self.engine(), executor_args),
            work_dir: dir,
            cgroup_procs: self
                .cgroup
                .as_ref()
                .map(|c| c.executor_procs.clone())
                .unwrap_or_default(),
        };
        let b = Arc::new(AnyBackend::Wasm(Box::new(
            WasmBackend::start(&opts, self.client.clone()).await?,
        )));
        self.live.lock().unwrap().push(b.clone());
        Ok(b)
    }

    /// Connects a Docker backend for a series.
    pub async fn docker(&self, variant: &str, proxy_concurrency: u32) -> Result<Arc<AnyBackend>> {
        self.docker_with_env(variant, proxy_concurrency, &[]).await
    }

    /// [`Ctx::docker`] with more `NAME=value` environment for every container.
    pub async fn docker_with_env(
        &self,
        variant: &str,
        proxy_concurrency: u32,
        env: &[&str],
    ) -> Result<Arc<AnyBackend>> {
        let opts = DockerOptions {
            extra_env: env.iter().map(|e| e.to_string()).collect(),
            variant: variant.to_string(),
            docker_host: self.docker_host.clone(),
            run_id: self.rec.run_id.clone(),
            proxy_concurrency,
            cgroup_parent: self.cgroup.as_ref().map(|c| c.docker_parent.clone()),
            proxy_binary: self.proxy.clone(),
            ready_timeout: if self.device.cpus.is_some() {
                DEVICE_READY_TIMEOUT
            } else {
                DockerOptions::default().ready_timeout
            },
            ..DockerOptions::default()
        };
        let b = Arc::new(AnyBackend::Docker(
            DockerBackend::connect(opts, self.client.clone()).await?,
        ));
        self.live.lock().unwrap().push(b.clone());
        Ok(b)
    }

    /// A backend of `kind` for `variant` with the given per-sandbox concurrency.
    pub async fn backend(
        &self,
        kind: BackendKind,
        variant: Series,
        concurrency: u32,
    ) -> Result<Arc<AnyBackend>> {
        match kind {
            BackendKind::Wasm => self.wasm(variant.as_str(), &[]).await,
            BackendKind::Docker => self.docker(variant.as_str(), concurrency).await,
        }
    }

    /// Stops one backend: removes its containers or stops its executor.
    pub async fn release(&self, b: &Arc<AnyBackend>) {
        self.live.lock().unwrap().retain(|x| !Arc::ptr_eq(x, b));
        stop(b).await;
    }

    /// Stops every backend still running (end of run, error, Ctrl-C).
    pub async fn release_all(&self) {
        let all: Vec<_> = self.live.lock().unwrap().drain(..).collect();
        for b in all {
            stop(&b).await;
        }
    }

    /// The `wowbench` binary that runs this side's in-process ladder: the side's executor when it
    /// is a `wowbench` binary, this one when the side runs the default executor, else none (a
    /// bare `wow-runtime` has no ladder).
    pub fn ladder_program(&self) -> Result<Option<PathBuf>> {
        match &self.executor {
            None => crate::experiments::ladder::ladder_program().map(Some),
            Some(p) if p.file_name().is_some_and(|n| n == "wowbench") => Ok(Some(p.clone())),
            Some(_) => Ok(None),
        }
    }

    /// A line in the run's notes (`meta.json`) and on screen.
    ///
    /// A note already made is not repeated: a paired run goes through an experiment once a
    /// block, and would otherwise say the same thing a hundred times.
    pub fn note(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let mut notes = self.notes.lock().unwrap();
        if notes.contains(&msg) {
            return;
        }
        self.rec.note(&format!("note: {msg}"));
        notes.push(msg);
    }

    /// `hash` iterations that take `target_ms` natively on this machine, measured once per run
    /// and recorded.
    pub fn hash_iterations(&self, target_ms: f64) -> Result<u64> {
        let key = format!("hash_iterations_for_{target_ms}ms");
        if let Some(v) = self.calibration.lock().unwrap().get(&key) {
            return Ok(v["iterations"].as_u64().expect("stored as u64"));
        }
        let binary = self.artifacts.native("hash", &self.native_target);
        let time = |iterations: u64| -> Result<f64> {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                let out = std::process::Command::new(&binary)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .and_then(|mut c| {
                        use std::io::Write;
                        c.stdin
                            .take()
                            .expect("piped")
                            .write_all(format!("{{\"iterations\": {iterations}}}").as_bytes())?;
                        c.wait_with_output()
                    })
                    .with_context(|| format!("cannot run {}", binary.display()))?;
                if !out.status.success() {
                    bail!(
                        "calibration run of hash failed: {}",
                        String::from_utf8_lossy(&out.stdout)
                    );
                }
                best = best.min(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok(best)
        };
        let startup_ms = time(1)?;
        let probe = 200_000;
        let probe_ms = (time(probe)? - startup_ms).max(0.1);
        let iterations = ((probe as f64) * target_ms / probe_ms).round().max(1.0) as u64;
        let check_ms = time(iterations)? - startup_ms;
        self.calibration.lock().unwrap().insert(
            key,
            serde_json::json!({
                "iterations": iterations,
                "target_ms": target_ms,
                "measured_ms": check_ms,
                "process_startup_ms": startup_ms,
                "method": "native static binary, best of 3, process start-up subtracted",
            }),
        );
        self.rec.note(&format!(
            "calibrated hash: {iterations} iterations ≈ {check_ms:.1} ms natively (target {target_ms} ms)"
        ));
        Ok(iterations)
    }
}

async fn stop(b: &Arc<AnyBackend>) {
    match b.as_ref() {
        AnyBackend::Docker(d) => {
            if let Err(e) = d.cleanup().await {
                eprintln!("warning: Docker cleanup failed: {e:#}");
            }
        }
        AnyBackend::Wasm(w) => w.shutdown().await,
    }
}

/// Waits `d` unless the run is cancelled.
pub async fn settle(ctx: &Ctx, d: Duration) -> Result<()> {
    ctx.rec.cancel.sleep(d).await
}

/// How long a container may take to answer `/health` on a device with a CPU limit: the paper's
/// Pi took 90–822 s for a Docker cold start, and a cold start cut off early would drop the
/// slowest ones from Docker's figures (the host's 30 s would cut the `skeleton` proxy's at 4
/// concurrent under `pi3`).
pub const DEVICE_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// The memory budget (`--memory-budget-mb`) of the executors the harness starts. The largest
/// load of any experiment, capacity's 800 in-flight `sleep`s, holds about 1.1 MiB of linear
/// memory each, under 1 GiB in all: 4 GiB keeps the executor's own admission out of every
/// measurement, which the experiments bound themselves (device profile, capacity's budget).
pub const EXECUTOR_MEMORY_BUDGET_MB: u64 = 4096;

/// A started executor's arguments: the harness's memory budget unless the series sets one.
/// The executor's arguments: the pass's engine, the series' own, and the run's memory budget.
fn executor_args_for(engine: Engine, executor_args: &[&str]) -> Vec<String> {
    let mut args = vec!["--engine".to_string(), engine.as_str().to_string()];
    args.extend(executor_args.iter().map(|s| s.to_string()));
    if !args.iter().any(|a| a.starts_with("--memory-budget-mb")) {
        args.extend([
            "--memory-budget-mb".to_string(),
            EXECUTOR_MEMORY_BUDGET_MB.to_string(),
        ]);
    }
    args
}
