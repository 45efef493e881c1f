//! `wowbench run`: runs experiments or suites and writes a run folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use wow_records::Experiment;
use wow_records::RunStatus;
use wowbench::backend::BackendKind;
use wowbench::runner::{self, RunOptions};
use wowbench::suite::{ExperimentSpec, SUITES, Suite};

#[derive(Args)]
pub struct RunArgs {
    /// Experiments (`cold-start`, `memory`, `throughput`, `capacity`, `realistic`, `ladder`),
    /// suites (`quick`, `paper`, `ci`) or suite files (`*.toml`).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "wasm,docker")]
    pub backends: Vec<String>,
    /// Wasm engines, comma-separated, each a pass over the Wasm series (wasmtime, wasmer, wamr,
    /// wasmi; default: the suite's list, else every engine of this build).
    #[arg(long, value_delimiter = ',')]
    pub engines: Option<Vec<wow_records::Engine>>,
    /// Only these series (e.g. `precompiled,create-start`).
    #[arg(long, value_delimiter = ',')]
    pub variants: Option<Vec<String>>,
    /// Workload for experiments that use one (replaces their default).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<String>>,
    /// Device profile (`wowbench list` shows them).
    #[arg(long, default_value = "host")]
    pub device: String,
    /// The Docker engine to drive: `dedicated` starts one of the run's own inside the device's
    /// limits (the default for a profile with limits), `system` uses the machine's (the default
    /// on `host`).
    #[arg(long, value_enum)]
    pub docker_engine: Option<runner::DockerEngine>,
    /// Repetitions for every experiment.
    #[arg(long)]
    pub repetitions: Option<u32>,
    /// Small versions of the named experiments (suites have their own sizes).
    #[arg(long)]
    pub quick: bool,
    /// Folder that receives the run folder (default: `<repo>/results`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of the run folder (default: time stamp and suite name).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Docker engine to drive (default: `DOCKER_HOST`, else the local socket).
    #[arg(long, env = "DOCKER_HOST")]
    pub docker_host: Option<String>,
    /// Use an executor already running at this URL instead of starting one.
    #[arg(long)]
    pub wasm_url: Option<String>,
    /// Prebuilt artifacts folder (e.g. copied to a board); default: build them.
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Do not write the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// A paired run: measure this executor (another build's `wow-runtime` or `wowbench`) block
    /// by block in turn with this build's, into a second run folder `<run-id>-baseline`, for
    /// `wowbench compare <run>-baseline <run>` (see docs/regression-ci.md).
    #[arg(long)]
    pub baseline_executor: Option<PathBuf>,
    /// In a paired run, the baseline build's static action proxy (`wow-proxy`, musl) for the
    /// baseline side's containers (default: both sides run this build's proxy).
    #[arg(long, requires = "baseline_executor")]
    pub baseline_proxy: Option<PathBuf>,
}

/// Turns the targets into one suite.
pub fn resolve(targets: &[String], quick: bool) -> Result<Suite> {
    let mut experiments = Vec::new();
    let mut names = Vec::new();
    // A suite that names its engines keeps them (the first such suite's list wins).
    let mut engines = None;
    let mut precision = None;
    for t in targets {
        if SUITES.contains(&t.as_str()) {
            let s = Suite::builtin(t)?;
            experiments.extend(s.experiments);
            engines = engines.or(s.engines);
            precision = precision.or(s.precision);
            names.push(t.clone());
        } else if t.ends_with(".toml") || Path::new(t).is_file() {
            let s = Suite::from_toml(Path::new(t))?;
            names.push(s.name.clone());
            experiments.extend(s.experiments);
            engines = engines.or(s.engines);
            precision = precision.or(s.precision);
        } else {
            let id: Experiment = t.parse()?;
            experiments.push(if quick {
                ExperimentSpec::quick(id)?
            } else {
                ExperimentSpec::paper(id)?
            });
            names.push(t.clone());
        }
    }
    if experiments.is_empty() {
        bail!("nothing to run");
    }
    Ok(Suite {
        name: names.join("+"),
        experiments,
        engines,
        precision,
    })
}

/// Runs the suite: exit status 1 when an experiment failed, 130 when the run was interrupted.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let mut suite = resolve(&args.targets, args.quick)?;
    if let Some(n) = args.repetitions {
        // Exactly n: no more repetitions for precision either.
        suite.precision = None;
        for e in &mut suite.experiments {
            e.set_repetitions(n);
        }
    }
    let backends = args
        .backends
        .iter()
        .map(|b| BackendKind::parse(b))
        .collect::<Result<Vec<_>>>()?;
    let mut opts = RunOptions::new(suite, backends);
    opts.engines = args.engines.clone();
    if let Some(out) = args.out {
        opts.out = out;
    }
    opts.variants = args.variants;
    opts.workloads = args.workloads;
    opts.device = args.device;
    opts.docker_engine = args.docker_engine;
    opts.run_id = args.run_id;
    opts.docker_host = args.docker_host;
    opts.wasm_url = args.wasm_url;
    opts.artifacts = args.artifacts;
    opts.quiet = args.quiet;
    opts.baseline_executor = args.baseline_executor;
    opts.baseline_proxy = args.baseline_proxy;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(runner::run(opts))?;
    if !args.no_report
        && let Err(e) = super::report::write(&outcome.dir.path)
    {
        eprintln!("warning: the report could not be written: {e:#}");
    }
    super::report::print_headlines(&outcome.dir.path);
    if let Some(b) = &outcome.baseline {
        eprintln!(
            "the baseline executor's side of this paired run: {} (compare it: wowbench compare {} {})",
            b.path.display(),
            b.path.display(),
            outcome.dir.path.display()
        );
    }
    for f in &outcome.failures {
        eprintln!("error: {f}");
    }
    // The last line of stdout is the run folder, for scripts.
    println!("{}", outcome.dir.path.display());
    if outcome.status == RunStatus::Complete {
        return Ok(ExitCode::SUCCESS);
    }
    // Stopped early: leave whatever is still running to the process's end, as an exit would.
    rt.shutdown_background();
    Ok(if outcome.failures.is_empty() {
        ExitCode::from(super::INTERRUPTED_STATUS)
    } else {
        ExitCode::FAILURE
    })
}
