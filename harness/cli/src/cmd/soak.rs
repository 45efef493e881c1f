//! `wowbench soak`: steady mixed load through both backends for a while, then how the
//! executor's memory, descriptors and threads grew, and whether containers were left.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use wow_records::{RunDir, RunStatus};
use wowbench::backend::BackendKind;
use wowbench::runner::{self, RunOptions};
use wowbench::suite::{ExperimentSpec, SoakSpec, Suite};

#[derive(Args)]
pub struct SoakArgs {
    /// How long to keep the load on.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Seconds between readings.
    #[arg(long, default_value_t = 10.0)]
    pub sample_s: f64,
    /// Seconds of warm-up before growth is measured.
    #[arg(long, default_value_t = 60.0)]
    pub warmup_s: f64,
    /// Closed-loop clients per backend.
    #[arg(long, default_value_t = 4)]
    pub clients: u32,
    /// Backends to load.
    #[arg(long, value_delimiter = ',', default_value = "wasm,docker")]
    pub backends: Vec<String>,
    /// Folder that receives the run folder (default: `<repo>/results`).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Docker engine to drive.
    #[arg(long, env = "DOCKER_HOST")]
    pub docker_host: Option<String>,
    /// Fail (exit 1) when the executor's RSS grows more than this after warm-up, in percent.
    #[arg(long)]
    pub max_rss_growth: Option<f64>,
    #[arg(long, short)]
    pub quiet: bool,
}

/// Keeps the load on and reports: exit status 1 when the run or a check failed.
pub fn run(args: SoakArgs) -> Result<ExitCode> {
    let spec = SoakSpec {
        minutes: args.minutes,
        sample_s: args.sample_s,
        warmup_s: args.warmup_s,
        clients: args.clients,
    };
    let suite = Suite {
        name: "soak".into(),
        experiments: vec![ExperimentSpec::Soak(spec.clone())],
        engines: None,
        precision: None,
    };
    let backends = args
        .backends
        .iter()
        .map(|b| BackendKind::parse(b))
        .collect::<Result<_>>()?;
    let mut opts = RunOptions::new(suite, backends);
    if let Some(out) = args.out {
        opts.out = out;
    }
    opts.docker_host = args.docker_host;
    opts.quiet = args.quiet;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(runner::run(opts))?;
    let dir = RunDir::open(&outcome.dir.path)?;
    let s = wowbench::experiments::soak::summarize(&dir.records()?, spec.warmup_s);

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["reading", "after warm-up", "last", "growth", "max"]);
    for (metric, start, last, growth, max) in &s.growth {
        let fmt = |v: f64| {
            if metric.ends_with("rss") {
                format!("{:.1} MiB", v / 1048576.0)
            } else {
                format!("{v:.0}")
            }
        };
        t.add_row([
            metric.clone(),
            fmt(*start),
            fmt(*last),
            format!("{growth:+.1}%"),
            fmt(*max),
        ]);
    }
    eprintln!("{t}");
    eprintln!(
        "{:.1} minutes, {:.0} requests, {:.0} errors; containers left after cleanup: {}",
        s.minutes,
        s.requests,
        s.errors,
        s.containers_left
            .map_or("(no Docker)".to_string(), |c| format!("{c:.0}"))
    );
    println!("{}", outcome.dir.path.display());
    let rss_growth = s.growth.iter().find(|g| g.0 == "executor_rss").map(|g| g.3);
    let too_much = matches!((args.max_rss_growth, rss_growth), (Some(max), Some(g)) if g > max);
    if outcome.status != RunStatus::Complete
        || s.errors > 0.0
        || too_much
        || s.containers_left.is_some_and(|c| c > 0.0)
    {
        // Leave whatever is still running to the process's end, as an exit would.
        rt.shutdown_background();
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
