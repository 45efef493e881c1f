//! `wowbench compare BASELINE CURRENT`: the regression gate on the command line. The engine
//! (loading, checks, statistics, verdict, output formats) is the `wow-compare` crate; this module
//! holds the arguments and maps the outcome to the exit status.
//!
//! Exit status: 0 no regression, 1 at least one (each named on stderr), 2 bad input (not a run
//! folder, unreadable files, runs from different architectures or device profiles without
//! `--allow-mismatch`, nothing in common).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use wow_compare::render::cells::change_summary;
use wow_compare::{Comparison, LoadedRun, Options, options, render};

/// Exit status when at least one group regressed.
const REGRESSION: u8 = 1;
/// Exit status on bad input.
const BAD_INPUT: u8 = 2;

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// The baseline: a run folder, or a folder of run folders made the same way (e.g.
    /// `results/reference/ci-pi4`); with three or more, run-to-run variation is measured and
    /// used.
    pub baseline: PathBuf,
    /// The run folder to check against it.
    pub current: PathBuf,
    /// Smallest change of a group's median, in percent, that counts as a regression (or an
    /// improvement), when its 95% interval also shows it (see `--rule`).
    #[arg(long, default_value_t = options::THRESHOLD_PCT, value_name = "PCT")]
    pub threshold: f64,
    /// Only these metrics (prefix match; repeat or separate by commas), e.g. `latency`,
    /// `memory_`, `throughput`.
    #[arg(long = "metric", value_name = "METRIC", value_delimiter = ',')]
    pub metrics: Vec<String>,
    /// What the 95% interval must show for a change beyond the threshold to count: `threshold`,
    /// the whole interval lies beyond the threshold (few false alarms on noisy boards); `zero`,
    /// it excludes no change (catches changes just past the threshold, alarms more often).
    #[arg(long, value_enum, default_value_t = Rule::Threshold)]
    pub rule: Rule,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Compare runs from different architectures or device profiles anyway (groups of a single,
    /// differing device are then matched across devices).
    #[arg(long)]
    pub allow_mismatch: bool,
    /// Also write every format into this folder: comparison.txt, comparison.md,
    /// comparison.json, and github-action-benchmark's smaller-is-better.json and
    /// bigger-is-better.json (required with `--format github-benchmark`).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Latency changes smaller than this many microseconds (of the median) are never flagged,
    /// however significant: timer-level noise on near-zero phases. 0 disables.
    #[arg(long, default_value_t = options::NOISE_FLOOR_US, value_name = "US")]
    pub noise_floor_us: f64,
    /// Bootstrap resamples per group.
    #[arg(long, default_value_t = options::RESAMPLES, value_name = "N")]
    pub resamples: usize,
    /// Seed of the bootstrap; a comparison is deterministic for a given seed.
    #[arg(long, default_value_t = options::SEED, value_name = "N")]
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for a terminal.
    Table,
    /// Markdown, e.g. for a CI job summary.
    Markdown,
    /// Every group with its change, interval, sample counts and verdict.
    Json,
    /// The files github-action-benchmark reads (customSmallerIsBetter, customBiggerIsBetter),
    /// written into --output; a table on stdout.
    GithubBenchmark,
}

/// What the interval must show for a change beyond the threshold to be a regression (or an
/// improvement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rule {
    /// The whole interval lies beyond the threshold, on the side the median moved.
    Threshold,
    /// The interval excludes no change, on the side the median moved.
    Zero,
}

/// Runs the comparison: exit status 1 on a regression, 2 on bad input.
pub fn run(args: CompareArgs) -> ExitCode {
    match execute(&args) {
        Ok(cmp) if cmp.regressions.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(REGRESSION),
        Err(e) => {
            eprintln!("wowbench compare: {e:#}");
            ExitCode::from(BAD_INPUT)
        }
    }
}

fn execute(args: &CompareArgs) -> Result<Comparison> {
    let opts = options_of(args)?;
    let format = match args.format {
        Format::Table => render::Format::Table,
        Format::Markdown => render::Format::Markdown,
        Format::Json => render::Format::Json,
        Format::GithubBenchmark => render::Format::GithubBenchmark,
    };
    if format.needs_output_folder() && args.output.is_none() {
        bail!("--format github-benchmark writes two files: give the folder with --output DIR");
    }
    let base = LoadedRun::load_all(&args.baseline, "baseline")?;
    let cur = LoadedRun::load(&args.current, "current")?;
    let cmp = wow_compare::compare(&base, &cur, &opts)?;

    for w in &cmp.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", format.stdout(&cmp)?);
    if let Some(dir) = &args.output {
        for path in wow_compare::write_outputs(&cmp, dir)? {
            eprintln!("wrote {}", path.display());
        }
    }
    for name in &cmp.regressions {
        match cmp.group(name) {
            Some(g) => eprintln!("regression: {name}: {}", change_summary(g)),
            None => eprintln!("regression: {name}"),
        }
    }
    Ok(cmp)
}

/// The comparison's options from the arguments, checked.
fn options_of(args: &CompareArgs) -> Result<Options> {
    Options {
        threshold_pct: args.threshold,
        rule: match args.rule {
            Rule::Threshold => wow_compare::Rule::Threshold,
            Rule::Zero => wow_compare::Rule::Zero,
        },
        metrics: args.metrics.clone(),
        allow_mismatch: args.allow_mismatch,
        noise_floor_us: args.noise_floor_us,
        resamples: args.resamples,
        seed: args.seed,
    }
    .validated()
}
