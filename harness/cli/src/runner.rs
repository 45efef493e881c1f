//! Runs a suite: checks the results folder, builds the artifacts, sets up the device profile and
//! backends, runs each experiment writing records as it goes, and always cleans up — at the end,
//! on error and on Ctrl-C — leaving `meta.json` saying whether the run completed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wow_artifacts::BuildOptions;
use wow_records::meta::{Meta, Paired, RunStatus, now_rfc3339};
use wow_records::run_dir::new_run_id;
use wow_records::{Engine, Experiment, RunDir, Series};

use crate::backend::docker::dedicated::{DedicatedEngine, EnginePaths};
use crate::backend::docker::{DockerBackend, DockerOptions};
use crate::backend::{ActionClient, BackendKind};
use crate::ctx::Ctx;
use crate::device::{self, DeviceCgroup, Part};
use crate::recorder::{Cancel, Interrupted, Recorder};
use crate::suite::{ExperimentSpec, Precision, Suite};
use crate::{experiments, fingerprint, signals};

pub struct RunOptions {
    pub suite: Suite,
    pub backends: Vec<BackendKind>,
    /// The Wasm engines, each a pass over every experiment's Wasm series (Docker's series run
    /// in the first). `None`: the suite's list, else every engine of this build.
    pub engines: Option<Vec<Engine>>,
    pub variants: Option<Vec<String>>,
    pub workloads: Option<Vec<String>>,
    pub device: String,
    /// Which Docker engine the Docker series run on; `None`: a dedicated one inside the
    /// device's limits when the profile has limits, else the system's.
    pub docker_engine: Option<DockerEngine>,
    pub out: PathBuf,
    pub run_id: Option<String>,
    pub docker_host: Option<String>,
    pub wasm_url: Option<String>,
    pub build: BuildOptions,
    /// Prebuilt artifacts to use instead of building.
    pub artifacts: Option<PathBuf>,
    pub quiet: bool,
    /// The command line, for `meta.json`.
    pub command: Vec<String>,
    /// A paired run: this executor program (another build's `wow-runtime` or `wowbench`) is
    /// measured block by block in turn with this build's, into a second run folder
    /// `<run-id>-baseline` beside the run's; `wowbench compare` pairs the two.
    pub baseline_executor: Option<PathBuf>,
    /// In a paired run, the baseline build's static action proxy for its Docker side (`None`:
    /// both sides' containers run this build's proxy).
    pub baseline_proxy: Option<PathBuf>,
}

impl RunOptions {
    /// A run of `suite` on `backends` with everything else at its default: the repository's
    /// artifacts, `results/` in the repository, the `host` device.
    pub fn new(suite: Suite, backends: Vec<BackendKind>) -> RunOptions {
        let build = BuildOptions::for_repo();
        RunOptions {
            suite,
            backends,
            engines: None,
            variants: None,
            workloads: None,
            device: "host".into(),
            docker_engine: None,
            out: build.root.join("results"),
            run_id: None,
            docker_host: None,
            wasm_url: None,
            build,
            artifacts: None,
            quiet: false,
            command: std::env::args().collect(),
            baseline_executor: None,
            baseline_proxy: None,
        }
    }
}

/// The Docker engine a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DockerEngine {
    /// The machine's engine (`--docker-host`, `DOCKER_HOST` or the local socket); its daemons
    /// run outside any device limit.
    System,
    /// An engine of the run's own, started inside the device's cgroup with its containerd,
    /// shims, docker-proxy and storage helpers, and removed at the end.
    Dedicated,
}

/// The most blocks an experiment is split into in a paired run (one per repetition up to it).
pub const PAIRED_BLOCKS_MAX: u32 = 100;

/// The baseline side's run folder of a paired run whose own folder is `run_id`.
pub fn baseline_run_id(run_id: &str) -> String {
    format!("{run_id}-baseline")
}

/// What a run left behind.
pub struct RunOutcome {
    pub dir: RunDir,
    /// The baseline side's folder of a paired run.
    pub baseline: Option<RunDir>,
    pub status: RunStatus,
    pub failures: Vec<String>,
}

pub async fn run(opts: RunOptions) -> Result<RunOutcome> {
    raise_fd_limit();
    let run_id = opts
        .run_id
        .clone()
        .unwrap_or_else(|| new_run_id(&opts.suite.name));
    check_writable(&opts.out)?;
    if let Some(p) = &opts.baseline_executor {
        check_baseline_executor(p, &opts)?;
    }
    match &opts.baseline_proxy {
        Some(_) if opts.baseline_executor.is_none() => {
            bail!("--baseline-proxy belongs to a paired run: give --baseline-executor too")
        }
        Some(p) if !p.is_file() => bail!("--baseline-proxy {}: no such file", p.display()),
        _ => {}
    }
    let profile = device::profile(&opts.device)?;
    let engines = run_engines_of(&opts)?;
    let workloads_ok = opts
        .workloads
        .iter()
        .flatten()
        .all(|w| wow_artifacts::WORKLOADS.contains(&w.as_str()));
    if !workloads_ok {
        bail!(
            "unknown workload in --workloads; known: {}",
            wow_artifacts::WORKLOADS.join(", ")
        );
    }

    let artifacts = match &opts.artifacts {
        Some(dir) => wow_artifacts::Artifacts::open(dir)?,
        None => {
            let mut build = opts.build.clone();
            build.progress = !opts.quiet;
            tokio::task::spawn_blocking(move || wow_artifacts::ensure_built(&build))
                .await?
                .context("building the workloads failed")?
        }
    };
    let native_target = wow_artifacts::default_native_target();

    let client = ActionClient::new(Duration::from_secs(60))?;
    let docker_info = if opts.backends.contains(&BackendKind::Docker) {
        Some(
            DockerBackend::preflight(opts.docker_host.clone(), client.clone())
                .await
                .context("the Docker backend is not available (run with --backends wasm to measure the Wasm side alone)")?,
        )
    } else {
        None
    };

    let unavailable = unavailable_series(&opts).await;

    let dir = RunDir::create(&opts.out, &run_id)?;
    let cancel = Cancel::default();
    let rec = Recorder::new(
        &run_id,
        &profile.name,
        dir.clone(),
        cancel.clone(),
        opts.quiet,
    )?;
    let engine_kind = match opts.docker_engine {
        _ if !opts.backends.contains(&BackendKind::Docker) => None,
        Some(k) => Some(k),
        None if profile.cpus.is_some() || profile.memory_bytes.is_some() => {
            Some(DockerEngine::Dedicated)
        }
        None => Some(DockerEngine::System),
    };
    if engine_kind == Some(DockerEngine::Dedicated) && opts.docker_host.is_some() {
        bail!(
            "--docker-host names an engine to use; a dedicated engine is started on this machine (use --docker-engine system)"
        );
    }
    let dedicated_wanted = engine_kind == Some(DockerEngine::Dedicated);
    let cgroup =
        DeviceCgroup::create(&profile, &run_id, dedicated_wanted)?.map(std::sync::Arc::new);
    let engine_paths = dedicated_wanted
        .then(|| EnginePaths::for_run(&run_id, dir.path.join("work").join("dockerd.log")));
    // From here a signal cancels the run (checked once the setup is done) and a second one
    // sweeps whatever exists, the engine included.
    let (signals, received) = signals::watch(
        cancel.clone(),
        signals::Sweep {
            run_id: run_id.clone(),
            docker_host: engine_paths
                .as_ref()
                .map(|e| e.host.clone())
                .or_else(|| opts.docker_host.clone()),
            cgroup: cgroup.as_ref().map(|c| c.name.clone()),
            engine: engine_paths.clone(),
            meta_path: dir.meta_path(),
        },
    );
    let mut docker_info = docker_info;
    let mut docker_host = opts.docker_host.clone();
    let dedicated = match (&cgroup, engine_paths) {
        (Some(cg), Some(paths)) => {
            rec.note("starting a dedicated Docker engine inside the device's cgroup…");
            let (engine, info) = start_dedicated(&opts, cg, paths, &client, &unavailable)
                .await
                .context("the dedicated Docker engine could not be set up")?;
            docker_host = Some(engine.paths.host.clone());
            docker_info = Some(info);
            Some(engine)
        }
        _ => None,
    };
    if let Some(cg) = &cgroup {
        cg.limit_cpu()?;
    }
    let device_json = serde_json::json!({
        "profile": profile,
        "cgroup": cgroup,
        "docker_engine": {
            "kind": engine_kind,
            "dedicated": dedicated.as_ref().map(|e| &e.paths),
        },
        "not_covered": match (&cgroup, engine_kind) {
            (Some(cg), Some(DockerEngine::System)) if cg.has_limits() => "dockerd, containerd, the containerd shims, docker-proxy and fuse-overlayfs run outside the device's cgroup: the system engine was used (--docker-engine system)",
            _ => "",
        },
    });
    let mut meta = Meta {
        run_id: run_id.clone(),
        status: RunStatus::Running,
        status_reason: None,
        started_at: now_rfc3339(),
        ended_at: None,
        command: opts.command.clone(),
        wowbench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: fingerprint::git_commit(),
        toolchain: fingerprint::toolchain(),
        wasmtime_version: wow_runtime::engines::wasmtime::setup::wasmtime_version().to_string(),
        engines: wow_runtime::engines::catalogue()
            .into_iter()
            .filter(|e| engines.contains(&e.name))
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
        machine: fingerprint::machine(),
        docker: docker_info,
        device: device_json,
        config: serde_json::json!({
            "suite": opts.suite,
            "backends": opts.backends,
            "engines": engines,
            "variants": opts.variants,
            "workloads": opts.workloads,
            "docker_host": opts.docker_host,
            "wasm_url": opts.wasm_url,
            "artifacts": artifacts.entries.iter().map(|e| serde_json::json!({
                "name": e.name, "target": e.target, "variant": e.variant, "bytes": e.bytes, "sha256": e.sha256,
            })).collect::<Vec<_>>(),
        }),
        calibration: serde_json::Value::Null,
        experiments_done: vec![],
        notes: vec![],
        paired: None,
    };
    meta.write(&dir.meta_path())?;

    // A paired run's executors each run from a private copy of their program (see
    // `private_copy`), the baseline's and this build's alike.
    let work = dir.path.join("work").join("bin");
    // (this build's copy, the baseline's copy, how this build's executor is started)
    let programs = match &opts.baseline_executor {
        None => None,
        Some(program) => {
            let (own, args) = crate::backend::wasm::executor_command()?;
            let own_command = format!("{} {}", own.display(), args.join(" "))
                .trim()
                .to_string();
            Some((
                private_copy(&own, &work.join("candidate"))?,
                private_copy(program, &work.join("baseline"))?,
                own_command,
            ))
        }
    };
    let ctx = Ctx {
        rec,
        artifacts,
        native_target,
        device: profile.clone(),
        cgroup,
        backends: opts.backends.clone(),
        variants: opts.variants.clone(),
        workloads: opts.workloads.clone(),
        docker_host: docker_host.clone(),
        wasm_url: opts.wasm_url.clone(),
        client,
        calibration: Default::default(),
        notes: Default::default(),
        live: Default::default(),
        work_dir: dir.path.join("work"),
        engine_pass: Default::default(),
        unavailable,
        executor: programs.as_ref().map(|(own, ..)| own.clone()),
        proxy: None,
        executors_started: Default::default(),
        ceiling_measured: Default::default(),
    };
    // A paired run's other side: its own folder, records and executor, the same everything else.
    let mut baseline = match (&opts.baseline_executor, programs) {
        (Some(program), Some((_, baseline_copy, own_command))) => {
            let id = baseline_run_id(&run_id);
            let bdir = RunDir::create(&opts.out, &id)?;
            let side = ctx.baseline_side(
                ctx.rec.beside(&id, bdir.clone())?,
                baseline_copy,
                opts.baseline_proxy.clone(),
            );
            let mut bmeta = meta.clone();
            bmeta.run_id = id.clone();
            bmeta.paired = Some(Paired {
                role: "baseline".into(),
                with: run_id.clone(),
                blocks: PAIRED_BLOCKS_MAX,
                executor: program.display().to_string(),
                proxy: opts
                    .baseline_proxy
                    .as_ref()
                    .map(|p| p.display().to_string()),
            });
            meta.paired = Some(Paired {
                role: "candidate".into(),
                with: id,
                blocks: PAIRED_BLOCKS_MAX,
                executor: own_command,
                proxy: None,
            });
            bmeta.write(&bdir.meta_path())?;
            meta.write(&dir.meta_path())?;
            Some((side, bdir, bmeta))
        }
        _ => None,
    };
    for (series, why) in &ctx.unavailable {
        ctx.note(format!("series {series} skipped: {why:#}"));
    }
    if let Some(pc) = &profile.paper_slowdown
        && ctx.cgroup.as_ref().is_some_and(|c| c.has_limits())
        && !cancel.is_cancelled()
    {
        match crate::calibrate::device_cpu(&ctx, &profile).await {
            Ok(v) => {
                ctx.calibration
                    .lock()
                    .unwrap()
                    .insert("device_cpu".into(), v);
            }
            Err(e) => ctx.note(format!(
                "the device CPU's calibration failed: {e:#} (the paper's ratio is {:.0}–{:.0}×)",
                pc.ratio[0], pc.ratio[1]
            )),
        }
    }
    let watch = ctx.cgroup.as_ref().map(|cg| {
        crate::inside_limits::Watch::start(cg.clone(), dedicated.as_ref().map(|e| e.paths.clone()))
    });

    let mut failures = Vec::new();
    let mut interrupted = false;
    for spec in &opts.suite.experiments {
        if cancel.is_cancelled() {
            interrupted = true;
            break;
        }
        let ooms = || {
            watch
                .as_ref()
                .map(|w| w.seen().oom_kills())
                .unwrap_or_default()
        };
        let ooms_before = ooms();
        let r = match &baseline {
            None => match run_engines(&[&ctx], spec, &engines).await {
                Ok(()) => until_precise(&ctx, &dir, spec, opts.suite.precision, &engines).await,
                e => e,
            },
            Some((side, ..)) => run_paired(&ctx, side, spec, &engines).await,
        };
        if watch.is_some() {
            // The sampler's last look may predate the experiment's end by a quarter second.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        for (part, n) in ooms() {
            let new = n.saturating_sub(ooms_before.get(&part).copied().unwrap_or(0));
            if new > 0 {
                ctx.note(format!(
                    "{}: the OOM killer killed {new} process(es) in the device's {part} part (memory limit reached); what failed is in the records",
                    spec.id()
                ));
            }
        }
        match r {
            Ok(()) => {
                meta.experiments_done.push(spec.id().to_string());
                if let Some((_, _, bmeta)) = &mut baseline {
                    bmeta.experiments_done.push(spec.id().to_string());
                }
            }
            Err(e) if e.is::<Interrupted>() || cancel.is_cancelled() => {
                interrupted = true;
                break;
            }
            Err(e) => {
                let msg = format!("{} failed: {e:#}", spec.id());
                ctx.rec.note(&format!("error: {msg}"));
                failures.push(msg);
            }
        }
        meta.calibration = serde_json::to_value(&*ctx.calibration.lock().unwrap())?;
        meta.notes = ctx.notes.lock().unwrap().clone();
        meta.write(&dir.meta_path())?;
        if let Some((side, bdir, bmeta)) = &mut baseline {
            bmeta.calibration = meta.calibration.clone();
            bmeta.notes = side.notes.lock().unwrap().clone();
            bmeta.write(&bdir.meta_path())?;
        }
    }
    ctx.release_all().await;
    if let Some((side, ..)) = &baseline {
        side.release_all().await;
    }
    let seen = watch.map(|w| w.finish());
    if let Some(d) = dedicated {
        tokio::task::spawn_blocking(move || d.stop()).await.ok();
    }
    if let Some(cg) = &ctx.cgroup {
        if let Some(obj) = meta.device.as_object_mut() {
            obj.insert("cgroup".into(), serde_json::to_value(cg)?);
            let mut memory = cg.memory_report();
            if let Some(seen) = &seen {
                // Kills in containers removed meanwhile are only in the samples.
                for (part, n) in seen.oom_kills() {
                    let now = memory[&part]["oom_kills"].as_u64().unwrap_or(0);
                    memory[&part]["oom_kills"] = n.max(now).into();
                }
            }
            obj.insert("memory".into(), memory);
            if let Some(seen) = &seen {
                obj.insert("inside_limits".into(), serde_json::to_value(&seen.inside)?);
                obj.insert(
                    "outside_limits".into(),
                    serde_json::to_value(&seen.outside)?,
                );
                obj.insert("samples".into(), seen.samples.into());
            }
        }
        if let Some(seen) = &seen
            && !seen.outside.is_empty()
        {
            ctx.note(format!(
                "processes of the dedicated engine's stack were seen outside the device's limits: {}",
                seen.outside.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        cg.remove();
    }
    signals.abort();
    ctx.rec.checkpoint()?;
    let _ = ctx.rec.progress.clear();

    meta.status = if interrupted || !failures.is_empty() {
        RunStatus::Incomplete
    } else {
        RunStatus::Complete
    };
    meta.status_reason = if interrupted {
        Some(format!(
            "interrupted ({})",
            received.get().unwrap_or("cancelled")
        ))
    } else if !failures.is_empty() {
        Some(failures.join("; "))
    } else {
        None
    };
    meta.ended_at = Some(now_rfc3339());
    meta.calibration = serde_json::to_value(&*ctx.calibration.lock().unwrap())?;
    meta.notes = ctx.notes.lock().unwrap().clone();
    meta.write(&dir.meta_path())?;
    dir.write_summary()?;
    let baseline_dir = match baseline {
        None => None,
        Some((side, bdir, mut bmeta)) => {
            side.rec.checkpoint()?;
            let paired = bmeta.paired.take();
            bmeta = Meta {
                run_id: bmeta.run_id,
                experiments_done: bmeta.experiments_done,
                notes: side.notes.lock().unwrap().clone(),
                paired,
                ..meta.clone()
            };
            bmeta.write(&bdir.meta_path())?;
            bdir.write_summary()?;
            remove_caches(&bdir);
            Some(bdir)
        }
    };
    remove_caches(&dir);
    Ok(RunOutcome {
        dir,
        baseline: baseline_dir,
        status: meta.status,
        failures,
    })
}

/// Starts the run's own Docker engine inside the device cgroup's `docker` part, copies the
/// images of the suite's Docker series into it from the system engine (built there first if
/// needed), and checks it can run a container. Returns it and what `meta.json` says of it.
async fn start_dedicated(
    opts: &RunOptions,
    cg: &DeviceCgroup,
    paths: EnginePaths,
    client: &ActionClient,
    unavailable: &BTreeMap<Series, String>,
) -> Result<(DedicatedEngine, wow_records::meta::DockerInfo)> {
    if let Some(work) = paths.log.parent() {
        std::fs::create_dir_all(work)?;
    }
    let run_id = paths.run_id.clone();
    let engine = DedicatedEngine::start(
        paths,
        cg.procs_of(Part::Docker),
        Some(&cg.docker_parent),
        Some(cg.name.clone()),
    )
    .await?;
    // The images, built (or found) on the system engine.
    let mut variants: Vec<Series> = vec![Series::CreateStart];
    for spec in &opts.suite.experiments {
        variants.extend(spec.docker_series().iter().copied());
    }
    variants.retain(|v| {
        !unavailable.contains_key(v)
            && (*v == Series::CreateStart
                || opts
                    .variants
                    .as_ref()
                    .is_none_or(|f| f.iter().any(|n| n == v.as_str())))
    });
    variants.sort();
    variants.dedup();
    let mut tags = Vec::new();
    let mut system = None;
    for v in variants {
        let o = DockerOptions {
            variant: v.as_str().to_string(),
            docker_host: opts.docker_host.clone(),
            ..DockerOptions::new(format!("images-{run_id}"))
        };
        let b = DockerBackend::connect(o, client.clone())
            .await
            .with_context(|| format!("the {v} image on the system engine"))?;
        if !tags.contains(&b.image().tag) {
            tags.push(b.image().tag.clone());
        }
        system = Some(b.docker().clone());
    }
    if let Some(system) = &system {
        engine.load_images(system, &tags).await?;
    }
    let info = DockerBackend::preflight(Some(engine.paths.host.clone()), client.clone())
        .await
        .context("the dedicated engine cannot run a container")?;
    Ok((engine, info))
}

/// The executors' artifact caches (and a paired run's copies of the executors) are scratch;
/// their logs stay.
fn remove_caches(dir: &RunDir) {
    let _ = std::fs::remove_dir_all(dir.path.join("work").join("bin"));
    if let Ok(entries) = std::fs::read_dir(dir.path.join("work")) {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir_all(e.path().join("cache"));
        }
    }
}

/// A copy of an executor program in `dir`, for one side of a paired run. An executor started
/// from the harness's own binary file shares that file's cached, mapped code pages with the
/// harness: measured here, it showed a PSS 19% lower and cold starts 18% faster than the same
/// build started from another file, a difference that is no regression. Each side therefore
/// runs a file of its own. A script (`#!`, e.g. a wrapper that sets the environment) is kept
/// as it is.
fn private_copy(program: &std::path::Path, dir: &std::path::Path) -> Result<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 2];
    let n = std::fs::File::open(program)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("cannot read the executor {}", program.display()))?;
    if n == 2 && &head == b"#!" {
        return Ok(program.to_path_buf());
    }
    std::fs::create_dir_all(dir)?;
    let name = program
        .file_name()
        .with_context(|| format!("{} names no file", program.display()))?;
    let copy = dir.join(name);
    std::fs::copy(program, &copy).with_context(|| {
        format!(
            "cannot copy the executor {} to {}",
            program.display(),
            copy.display()
        )
    })?;
    Ok(copy)
}

/// A paired run needs an executor program to start (not one at a URL) and a Wasm side.
fn check_baseline_executor(program: &std::path::Path, opts: &RunOptions) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(program).with_context(|| {
        format!(
            "--baseline-executor {}: no such file (give another build's wow-runtime or wowbench)",
            program.display()
        )
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!(
            "--baseline-executor {}: not an executable file",
            program.display()
        );
    }
    if opts.wasm_url.is_some() {
        bail!(
            "--baseline-executor starts both sides' executors; it cannot be used with --wasm-url"
        );
    }
    if !opts.backends.contains(&BackendKind::Wasm) {
        bail!("--baseline-executor compares executors: the Wasm backend must be measured");
    }
    Ok(())
}

/// Runs one experiment of a paired run: split into blocks ([`ExperimentSpec::paired_blocks`]),
/// each block measured on both sides — the baseline first in even
/// blocks, this build first in odd ones — so that a slow spell of the machine falls on both
/// sides alike instead of on whichever ran during it. An experiment that [`alternates`]
/// (`cold-start`, `throughput`) has both sides' backends up in a block and takes turns
/// measurement by measurement; the others measure one side's share of the block after the
/// other's. Every row carries its block.
///
/// [`alternates`]: experiments::alternates
async fn run_paired(
    this: &Ctx,
    baseline: &Ctx,
    spec: &ExperimentSpec,
    engines: &[Engine],
) -> Result<()> {
    let k = spec.paired_blocks();
    for b in 0..k {
        let block = spec.block(b, k);
        let sides = if b % 2 == 0 {
            [baseline, this]
        } else {
            [this, baseline]
        };
        for side in sides {
            side.rec.set_block(b);
        }
        if experiments::alternates(&block) {
            run_engines(&sides, &block, engines).await?;
        } else {
            for side in sides {
                run_engines(&[side], &block, engines).await?;
            }
        }
    }
    Ok(())
}

/// Repeats `spec` one pass at a time while a headline it carries is less precise than asked
/// (`throughput`, `capacity` and `realistic`, whose repetitions are whole passes). Each pass's
/// rows carry a block number of their own; the notes say what each pass was for. Only the
/// first engine's pass repeats, the one the headlines read.
async fn until_precise(
    ctx: &Ctx,
    dir: &RunDir,
    spec: &ExperimentSpec,
    precision: Option<Precision>,
    engines: &[Engine],
) -> Result<()> {
    let Some(p) = precision else {
        return Ok(());
    };
    let id = spec.id();
    if !matches!(
        id,
        Experiment::Throughput | Experiment::Capacity | Experiment::Realistic
    ) {
        return Ok(());
    }
    let mut done = spec.repetitions();
    let mut one = spec.clone();
    one.set_repetitions(1);
    let outcome = loop {
        ctx.rec.checkpoint()?;
        let records = dir.records()?;
        let wide: Vec<String> = wow_report::headlines_of_records(&records, &ctx.rec.device)
            .into_iter()
            .filter(|h| h.id.starts_with(id.as_str()))
            .filter_map(|h| {
                let w = h.relative_half_width()?;
                (w > p.half_width).then(|| format!("{} ± {:.0}%", h.id, w * 100.0))
            })
            .collect();
        if wide.is_empty() {
            break Ok(());
        }
        if done >= p.max_repetitions {
            ctx.note(format!(
                "{id}: {done} repetitions (the most asked), still wider than ± {:.0}%: {}",
                p.half_width * 100.0,
                wide.join(", ")
            ));
            break Ok(());
        }
        ctx.note(format!(
            "{id}: repetition {} for precision: {}",
            done + 1,
            wide.join(", ")
        ));
        ctx.rec.set_block(done);
        // The headlines read the first engine's pass (with Docker beside it): only it repeats.
        let r = run_engines(&[ctx], &one, &engines[..1]).await;
        done += 1;
        if r.is_err() {
            break r;
        }
    };
    ctx.rec.set_block(0);
    outcome
}

/// Fails before anything runs if results cannot be written there.
fn check_writable(out: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the results folder {}", out.display()))?;
    let probe = out.join(format!(".wowbench-probe-{}", std::process::id()));
    std::fs::write(&probe, vec![0u8; 1 << 20]).with_context(|| {
        format!(
            "the results folder {} is not writable (or the disk is full)",
            out.display()
        )
    })?;
    std::fs::remove_file(&probe)?;
    Ok(())
}

/// Many clients and sandboxes need many sockets: raise the open-files limit, hard and soft, to
/// [`FD_LIMIT`] where the process may (root), else the soft one to the hard one. Executors
/// started later inherit it.
fn raise_fd_limit() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: FD_LIMIT.max(lim.rlim_cur),
            rlim_max: FD_LIMIT.max(lim.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(FD_LIMIT);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The open-files limit a run asks for: room for the capacity experiment's ceiling (a socket per
/// invocation in flight, in the harness and in the executor) and more.
const FD_LIMIT: u64 = 1 << 17;

/// The engines of a run, in pass order: the command line's, else the suite's, else every engine
/// of this build; an engine this build lacks is an error naming the ones it has.
fn run_engines_of(opts: &RunOptions) -> Result<Vec<Engine>> {
    let have = wow_runtime::engines::available();
    let wanted = opts
        .engines
        .clone()
        .or_else(|| opts.suite.engines.clone())
        .unwrap_or_else(|| have.clone());
    if let Some(missing) = wanted.iter().find(|e| !have.contains(e)) {
        bail!(
            "this build has no {missing} engine; it has: {}",
            have.iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if wanted.is_empty() {
        bail!("no engine to run");
    }
    Ok(wanted)
}

/// Runs one experiment once per engine on the given sides (one, or a paired run's two
/// measured together): the first pass with every backend asked for, each later pass with the
/// Wasm series only, its executors on that engine.
async fn run_engines(sides: &[&Ctx], spec: &ExperimentSpec, engines: &[Engine]) -> Result<()> {
    let lead = sides[0];
    let mut outcome = Ok(());
    for (i, &engine) in engines.iter().enumerate() {
        if i > 0 && !lead.backends.contains(&BackendKind::Wasm) {
            break;
        }
        for c in sides {
            c.begin_engine_pass(engine, i > 0);
        }
        let r = experiments::run(sides, spec).await;
        for c in sides {
            c.release_all().await;
        }
        for c in sides {
            c.rec.checkpoint()?;
        }
        match r {
            Err(e) if e.is::<Interrupted>() || lead.rec.cancel.is_cancelled() => return Err(e),
            // One engine's failure is recorded and the other engines still run.
            Err(e) if engines.len() > 1 => {
                let e = e.context(format!("engine {engine}"));
                if outcome.is_ok() {
                    outcome = Err(e);
                } else {
                    lead.rec
                        .note(&format!("error: {} failed: {e:#}", spec.id()));
                }
            }
            r => outcome = outcome.and(r),
        }
    }
    for c in sides {
        c.begin_engine_pass(engines.first().copied().unwrap_or(Engine::REFERENCE), false);
    }
    outcome
}

/// Series the suite lists that cannot be made here, with why: `skeleton` when Debian's packages
/// are neither cached nor downloadable (the packages are fetched here, before the clock starts).
async fn unavailable_series(opts: &RunOptions) -> BTreeMap<Series, String> {
    let mut out = BTreeMap::new();
    let wants_skeleton = opts.backends.contains(&BackendKind::Docker)
        && opts
            .suite
            .experiments
            .iter()
            .any(|e| e.docker_series().contains(&Series::Skeleton));
    if wants_skeleton {
        let got = tokio::task::spawn_blocking(crate::backend::docker::skeleton::packages).await;
        match got {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                out.insert(Series::Skeleton, format!("{e:#}"));
            }
            Err(e) => {
                out.insert(
                    Series::Skeleton,
                    format!("the package download panicked: {e}"),
                );
            }
        }
    }
    out
}
