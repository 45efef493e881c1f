//! `wowbench docker-probe`: a quick look at the Docker side without a full experiment —
//! sequential cold starts of one workload, each broken into create / start / ready / init /
//! first run, and the memory of one warm container by both methods. Every container it makes is
//! removed at the end, on error and on Ctrl-C.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use wow_artifacts::{BuildOptions, WORKLOADS, ensure_built};
use wow_records::Series;
use wow_records::stats::median;
use wowbench::backend::docker::{DockerBackend, DockerOptions, DockerVariant};
use wowbench::backend::{ActionClient, ActionCode, Backend, MemorySample, Sandbox};

#[derive(clap::Args)]
pub struct DockerProbeArgs {
    /// Workload to cold-start (noop, hash, prime, sleep, json, image).
    #[arg(long, default_value = "noop")]
    pub workload: String,
    /// Cold starts to make, one after another.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// create-start, prestarted, host-net, actionloop, skeleton or docker-wasm.
    #[arg(long, default_value = Series::CreateStart.as_str())]
    pub variant: String,
    /// Parameters of each first run, a JSON object.
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Runs in flight at once inside a container (WOW_PROXY_CONCURRENCY).
    #[arg(long, default_value_t = 1)]
    pub proxy_concurrency: u32,
    /// Docker engine address (default: DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, value_name = "HOST")]
    pub docker_host: Option<String>,
    /// No progress display while building the artifacts.
    #[arg(long, short)]
    pub quiet: bool,
    /// Label the containers with this run id instead of a fresh one.
    #[arg(long, hide = true)]
    pub run_id: Option<String>,
}

/// Probes and cleans up: exit status 130 when a signal ended it.
pub fn run(args: DockerProbeArgs) -> Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let interrupted = rt.block_on(probe_and_clean(args))?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(if interrupted {
        ExitCode::from(super::INTERRUPTED_STATUS)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the probe against SIGINT and SIGTERM, then removes every container, whichever came
/// first. Returns whether a signal ended it.
async fn probe_and_clean(args: DockerProbeArgs) -> Result<bool> {
    // Installed before anything is created, so a signal can never skip the cleanup.
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let slot: Arc<Mutex<Option<DockerBackend>>> = Arc::default();

    let outcome = tokio::select! {
        r = probe(&args, slot.clone()) => r.map(|()| None),
        _ = sigint.recv() => Ok(Some("SIGINT")),
        _ = sigterm.recv() => Ok(Some("SIGTERM")),
    };

    if let Ok(Some(sig)) = &outcome {
        eprintln!("{sig}: removing the probe's containers…");
    }
    let backend = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    let cleaned = match &backend {
        Some(b) => b.cleanup().await.map(Some),
        None => Ok(None),
    };
    match (&outcome, &cleaned) {
        (Ok(Some(sig)), Ok(n)) => eprintln!(
            "interrupted by {sig}: removed {} container(s)",
            n.unwrap_or(0)
        ),
        (_, Ok(Some(n))) if *n > 0 => eprintln!("removed {n} container(s) left by the probe"),
        (_, Err(e)) => eprintln!("cleanup failed: {e:#}; run `wowbench clean`"),
        _ => {}
    }
    let interrupted = outcome?.is_some();
    cleaned?;
    Ok(interrupted)
}

/// One measured cold start.
struct Row {
    create: Option<Duration>,
    start: Option<Duration>,
    ready: Option<Duration>,
    polls: u32,
    provision: Duration,
    init: Duration,
    first_run: Duration,
    destroy: Duration,
}

impl Row {
    fn cold_start(&self) -> Duration {
        self.provision + self.init
    }
    fn first_response(&self) -> Duration {
        self.provision + self.init + self.first_run
    }
}

async fn probe(args: &DockerProbeArgs, slot: Arc<Mutex<Option<DockerBackend>>>) -> Result<()> {
    if !WORKLOADS.contains(&args.workload.as_str()) {
        bail!(
            "unknown workload {:?} (expected one of {})",
            args.workload,
            WORKLOADS.join(", ")
        );
    }
    let variant = DockerVariant::parse(&args.variant)?;
    let params: Value = serde_json::from_str(&args.params).context("--params is not JSON")?;
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| wow_records::run_dir::new_run_id("probe"));

    let mut build = BuildOptions::for_repo();
    build.progress = !args.quiet;
    let artifacts = tokio::task::spawn_blocking(move || ensure_built(&build))
        .await
        .context("the artifact build panicked")??;

    let mut opts = DockerOptions::new(&run_id);
    opts.variant = variant.as_str().to_string();
    opts.docker_host = args.docker_host.clone();
    opts.proxy_concurrency = args.proxy_concurrency;
    let client = ActionClient::new(Duration::from_secs(60))?;
    let backend = DockerBackend::connect(opts, client).await?;
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(backend.clone());

    let native_path = artifacts.native(&args.workload, backend.native_target());
    let native = std::fs::read(&native_path)
        .with_context(|| format!("cannot read {}", native_path.display()))?;
    let wasm = std::fs::read(artifacts.wasm(&args.workload)).unwrap_or_default();
    let code = ActionCode::new(&args.workload, &wasm, &native);

    let engine = backend.engine();
    let image = backend.image();
    println!(
        "engine {} (API {}, {}/{}, cgroup v{} {}, {}) at {}",
        engine.version,
        engine.api_version,
        engine.os,
        engine.arch,
        engine.cgroup_version,
        engine.cgroup_driver,
        engine.storage_driver,
        engine.host
    );
    println!(
        "image {} ({}, {:.0} ms)",
        image.tag,
        if image.built {
            "built"
        } else {
            "already present"
        },
        ms(image.elapsed)
    );
    println!(
        "run {run_id}: {} cold starts of {} ({} KiB native), variant {variant}, proxy concurrency {}, params {params}",
        args.count,
        args.workload,
        native.len() / 1024,
        args.proxy_concurrency
    );

    if variant == DockerVariant::Prestarted {
        backend
            .prestart(args.count + 1)
            .await
            .context("filling the pre-started pool")?;
    }

    let mut rows = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let (row, _) = cold_start(&backend, &code, &params, true)
            .await
            .with_context(|| format!("cold start {}", i + 1))?;
        rows.push(row);
    }
    println!("{}", table(&rows));
    if !rows.is_empty() {
        println!(
            "destroy (kill + remove), median: {:.2} ms",
            median_ms(rows.iter().map(|r| r.destroy)).unwrap_or_default()
        );
    }

    let (_, sb) = cold_start(&backend, &code, &params, false)
        .await
        .context("provisioning the container to measure")?;
    let sb = sb.expect("kept");
    let sample = backend.memory(std::slice::from_ref(&sb)).await?;
    print_memory(&args.workload, &sample);
    backend.destroy(&sb).await?;
    Ok(())
}

/// provision → init → first run (→ destroy unless `keep`), each timed.
async fn cold_start(
    backend: &DockerBackend,
    code: &ActionCode,
    params: &Value,
    destroy: bool,
) -> Result<(Row, Option<Sandbox>)> {
    let sb = backend.provision(&code.name).await?;
    let init = backend.init(&sb, code).await?;
    if !init.ok() {
        bail!("/init failed: {}", init.error_text());
    }
    let run = backend.run(&sb, params).await?;
    if !run.ok() {
        bail!("/run failed: {}", run.error_text());
    }
    let mut row = Row {
        create: sb.provision.create,
        start: sb.provision.start,
        ready: sb.provision.ready,
        polls: sb.provision.ready_polls,
        provision: sb.provision.total,
        init: init.elapsed,
        first_run: run.elapsed,
        destroy: Duration::ZERO,
    };
    if !destroy {
        return Ok((row, Some(sb)));
    }
    let t = std::time::Instant::now();
    backend.destroy(&sb).await?;
    row.destroy = t.elapsed();
    Ok((row, None))
}

fn table(rows: &[Row]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(
        [
            "#",
            "create ms",
            "start ms",
            "ready ms",
            "polls",
            "provision ms",
            "init ms",
            "first run ms",
            "cold start ms",
            "first response ms",
        ]
        .to_vec(),
    );
    let opt = |d: Option<Duration>| d.map_or("–".to_string(), |d| format!("{:.2}", ms(d)));
    for (i, r) in rows.iter().enumerate() {
        t.add_row([
            (i + 1).to_string(),
            opt(r.create),
            opt(r.start),
            opt(r.ready),
            r.polls.to_string(),
            opt(Some(r.provision)),
            opt(Some(r.init)),
            opt(Some(r.first_run)),
            opt(Some(r.cold_start())),
            opt(Some(r.first_response())),
        ]);
    }
    let med = |f: &dyn Fn(&Row) -> Option<Duration>| {
        median_ms(rows.iter().filter_map(f)).map_or("–".to_string(), |m| format!("{m:.2}"))
    };
    let polls: Vec<f64> = rows.iter().map(|r| f64::from(r.polls)).collect();
    let polls_median = median(&polls).map_or("–".to_string(), |m| format!("{m:.1}"));
    t.add_row([
        "median".to_string(),
        med(&|r| r.create),
        med(&|r| r.start),
        med(&|r| r.ready),
        polls_median,
        med(&|r| Some(r.provision)),
        med(&|r| Some(r.init)),
        med(&|r| Some(r.first_run)),
        med(&|r| Some(r.cold_start())),
        med(&|r| Some(r.first_response())),
    ]);
    for col in 1..10 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

fn print_memory(workload: &str, s: &MemorySample) {
    let mib = |b: f64| format!("{:.2} MiB", b / (1024.0 * 1024.0));
    println!("memory of one warm container ({workload}, after /init and one /run):");
    println!(
        "  paper: cgroup usage - inactive file (what docker stats shows): {}",
        s.paper_per_sandbox.map_or("not measured".to_string(), mib)
    );
    println!(
        "  full:  cgroup + containerd-shim PSS + docker-proxy PSS:         {}",
        s.full_per_sandbox.map_or("not measured".to_string(), mib)
    );
    let parts: Vec<String> = s
        .parts
        .iter()
        .map(|(name, bytes)| format!("{name} {}", mib(*bytes)))
        .collect();
    println!("  parts: {}", parts.join(", "));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median in milliseconds (`None` when empty).
fn median_ms(values: impl Iterator<Item = Duration>) -> Option<f64> {
    median(&values.map(ms).collect::<Vec<_>>())
}
