//! `wowbench compare BASELINE CURRENT`: the regression gate.
//!
//! Reads two run folders (only `records.csv` and `meta.json`, through `wow-records`), matches
//! their groups (every column but `run_id`, `iteration`, `value`, `ok` and `note`) and, for each,
//! estimates the change of the median with a 95% interval (see [`stats`]). A group regresses when
//! its median moved past `--threshold` in the bad direction for its metric **and** the interval
//! shows it: by default (`--rule threshold`) the whole interval lies beyond the threshold; with
//! `--rule zero` it only has to exclude no change. A group whose current samples all failed (while
//! the baseline had successes) counts as a regression too.
//!
//! The baseline may be several runs (a folder of run folders): their samples are pooled for the
//! statistics shown, and with three or more runs the interval is the spread of their run medians
//! (see [`stats`]), which is what makes a gate usable on a machine whose runs drift.
//!
//! Exit status: 0 no regression, 1 at least one (each named on stderr), 2 bad input (not a run
//! folder, unreadable files, runs from different architectures or device profiles without
//! `--allow-mismatch`, nothing in common).

mod render;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use wow_records::{GroupKey, Meta, Record, RunDir, RunStatus, Stats};

use self::stats::{Interval, Method};

/// Default bootstrap resamples per group.
const RESAMPLES: usize = 10_000;
/// Bootstrap work per group is capped at about this many drawn values (resamples × samples):
/// groups of thousands of requests get fewer resamples, never fewer than [`MIN_RESAMPLES`].
const MAX_DRAWS: usize = 40_000_000;
const MIN_RESAMPLES: usize = 2_000;

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
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
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
    #[arg(long, default_value_t = 5.0, value_name = "US")]
    pub noise_floor_us: f64,
    /// Bootstrap resamples per group.
    #[arg(long, default_value_t = RESAMPLES, value_name = "N")]
    pub resamples: usize,
    /// Seed of the bootstrap; a comparison is deterministic for a given seed.
    #[arg(long, default_value_t = 0x5EED, value_name = "N")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The whole interval lies beyond the threshold, on the side the median moved.
    Threshold,
    /// The interval excludes no change, on the side the median moved.
    Zero,
}

/// Runs the comparison and exits 1 on a regression, 2 on bad input.
pub fn run(args: CompareArgs) -> Result<()> {
    match execute(&args) {
        Ok(cmp) => {
            let bad = cmp.regressions.len();
            if bad > 0 {
                exit(1);
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("wowbench compare: {e:#}");
            exit(2);
        }
    }
}

fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

fn execute(args: &CompareArgs) -> Result<Comparison> {
    let opts = Options::from_args(args)?;
    if args.format == Format::GithubBenchmark && args.output.is_none() {
        bail!("--format github-benchmark writes two files: give the folder with --output DIR");
    }
    let base = LoadedRun::load_all(&args.baseline, "baseline")?;
    let cur = LoadedRun::load(&args.current, "current")?;
    let cmp = compare(&base, &cur, &opts)?;

    for w in &cmp.warnings {
        eprintln!("warning: {w}");
    }
    let stdout = match args.format {
        Format::Table | Format::GithubBenchmark => render::table(&cmp),
        Format::Markdown => render::markdown(&cmp),
        Format::Json => render::json(&cmp)?,
    };
    print!("{stdout}");
    if let Some(dir) = &args.output {
        for path in write_outputs(&cmp, dir)? {
            eprintln!("wrote {}", path.display());
        }
    }
    for name in &cmp.regressions {
        let g = cmp.groups.iter().find(|g| &g.name == name);
        match g {
            Some(g) => eprintln!("regression: {name}: {}", render::change_summary(g)),
            None => eprintln!("regression: {name}"),
        }
    }
    Ok(cmp)
}

/// Writes every output format into `dir`; returns the paths written.
pub fn write_outputs(cmp: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (smaller, bigger) = render::github_benchmark(cmp);
    let files = [
        ("comparison.txt", render::table(cmp)),
        ("comparison.md", render::markdown(cmp)),
        ("comparison.json", render::json(cmp)?),
        (
            "smaller-is-better.json",
            serde_json::to_string_pretty(&smaller)? + "\n",
        ),
        (
            "bigger-is-better.json",
            serde_json::to_string_pretty(&bigger)? + "\n",
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// What a comparison needs besides the two runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub threshold_pct: f64,
    pub rule: Rule,
    pub metrics: Vec<String>,
    pub allow_mismatch: bool,
    pub noise_floor_us: f64,
    pub resamples: usize,
    pub seed: u64,
}

impl Options {
    pub fn from_args(args: &CompareArgs) -> Result<Options> {
        if !(args.threshold.is_finite() && args.threshold >= 0.0) {
            bail!(
                "--threshold must be a percentage ≥ 0, not {}",
                args.threshold
            );
        }
        if !(args.noise_floor_us.is_finite() && args.noise_floor_us >= 0.0) {
            bail!("--noise-floor-us must be ≥ 0, not {}", args.noise_floor_us);
        }
        if args.resamples < 100 {
            bail!("--resamples must be at least 100");
        }
        Ok(Options {
            threshold_pct: args.threshold,
            rule: args.rule,
            metrics: args
                .metrics
                .iter()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
            allow_mismatch: args.allow_mismatch,
            noise_floor_us: args.noise_floor_us,
            resamples: args.resamples,
            seed: args.seed,
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threshold_pct: 10.0,
            rule: Rule::Threshold,
            metrics: Vec::new(),
            allow_mismatch: false,
            noise_floor_us: 5.0,
            resamples: RESAMPLES,
            seed: 0x5EED,
        }
    }
}

/// A run folder as the comparison reads it.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub path: PathBuf,
    /// `None` when the folder has no `meta.json`.
    pub meta: Option<Meta>,
    pub records: Vec<Record>,
}

impl LoadedRun {
    /// Opens a run folder (or a folder holding exactly one run folder) and reads its records
    /// and metadata. `role` names it in errors.
    pub fn load(path: &Path, role: &str) -> Result<LoadedRun> {
        let path = resolve_run_folder(path).with_context(|| format!("{role} run"))?;
        let dir = RunDir::open(&path).with_context(|| format!("{role} run"))?;
        let records = dir
            .records()
            .with_context(|| format!("{role} run: cannot read its records"))?;
        let meta = if dir.meta_path().is_file() {
            Some(
                dir.meta()
                    .with_context(|| format!("{role} run: cannot read its metadata"))?,
            )
        } else {
            None
        };
        Ok(LoadedRun {
            path: dir.path,
            meta,
            records,
        })
    }

    /// Every run in `path`: the run folder itself, or each run folder directly inside it.
    pub fn load_all(path: &Path, role: &str) -> Result<Vec<LoadedRun>> {
        run_folders(path)
            .with_context(|| format!("{role} run"))?
            .iter()
            .map(|p| LoadedRun::load(p, role))
            .collect()
    }

    fn run_id(&self) -> String {
        self.meta
            .as_ref()
            .map(|m| m.run_id.clone())
            .or_else(|| self.records.first().map(|r| r.run_id.clone()))
            .unwrap_or_else(|| {
                self.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
    }
}

/// `path` itself when it has `records.csv`; else the sub-folders that have one (at least one).
fn run_folders(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if !path.is_dir() {
        bail!("{} is not a folder (give the run folder)", path.display());
    }
    if path.join("records.csv").is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("records.csv").is_file())
        .collect();
    runs.sort();
    if runs.is_empty() {
        bail!(
            "{} is not a run folder: it has no records.csv",
            path.display()
        );
    }
    Ok(runs)
}

/// `path` itself when it has `records.csv`; else its only sub-folder that has one.
fn resolve_run_folder(path: &Path) -> Result<PathBuf> {
    let mut runs = run_folders(path)?;
    match runs.len() {
        1 => Ok(runs.remove(0)),
        _ => bail!(
            "{} holds {} run folders; name one: {}",
            path.display(),
            runs.len(),
            runs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    LowerIsBetter,
    HigherIsBetter,
    /// Not a performance figure (e.g. `sandboxes`): reported, never judged.
    Unknown,
}

/// The direction of a metric of the records vocabulary.
pub fn direction(metric: &str) -> Direction {
    if metric.starts_with("latency")
        || metric.starts_with("memory_")
        || matches!(
            metric,
            "module_size" | "errors" | "cold_starts" | "cold_fraction"
        )
    {
        Direction::LowerIsBetter
    } else if matches!(metric, "throughput" | "capacity") {
        Direction::HigherIsBetter
    } else {
        Direction::Unknown
    }
}

/// The backend name of the load generator's self-measurement (its ceiling on loopback).
const LOAD_GENERATOR: &str = "client";

/// The outcome for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Worse beyond the threshold, and significant.
    Regression,
    /// Every current measurement failed while the baseline had successes.
    Failed,
    /// Better beyond the threshold, and significant.
    Improvement,
    /// Within the threshold (or the noise floor).
    Unchanged,
    /// The median moved beyond the threshold, but the interval does not show it (see
    /// [`Rule`]).
    Inconclusive,
    /// One sample on a side: the change is shown, never judged.
    NTooSmall,
    /// A metric with no better direction.
    Informational,
    /// No successful baseline measurement to compare with.
    NoBaseline,
    /// In the baseline only (the current run did not measure it).
    Missing,
    /// In the current run only.
    New,
}

impl Verdict {
    pub fn is_regression(self) -> bool {
        matches!(self, Verdict::Regression | Verdict::Failed)
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Failed => "FAILED",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NTooSmall => "n too small",
            Verdict::Informational => "informational",
            Verdict::NoBaseline => "no baseline",
            Verdict::Missing => "missing",
            Verdict::New => "new",
        }
    }
}

/// One side of a group: what succeeded and what failed.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub n: usize,
    pub failed: usize,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// 95% interval of the mean (Student's t), as in `summary.csv`.
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
}

impl Side {
    fn of(samples: &Samples) -> Side {
        let s = Stats::of(&samples.values);
        let f = |g: fn(&Stats) -> f64| s.as_ref().map(g);
        Side {
            n: samples.values.len(),
            failed: samples.failed,
            median: f(|s| s.median),
            mean: f(|s| s.mean),
            stddev: f(|s| s.stddev),
            min: f(|s| s.min),
            max: f(|s| s.max),
            ci95_low: f(|s| s.ci95_low),
            ci95_high: f(|s| s.ci95_high),
        }
    }
}

/// One matched (or unmatched) group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupComparison {
    /// A readable, stable name: `experiment backend/variant workload [config] @device cN phase
    /// metric` (config shown unless `default`, device unless `host`).
    pub name: String,
    #[serde(flatten)]
    pub key: GroupKey,
    pub direction: Direction,
    pub baseline: Option<Side>,
    pub current: Option<Side>,
    /// What the change is measured from: the baseline median (of its pooled samples), or with
    /// several baseline runs the geometric mean of their medians.
    pub baseline_value: Option<f64>,
    /// The current median.
    pub current_value: Option<f64>,
    /// Baseline runs that measured the group (successfully).
    pub baseline_runs: usize,
    /// Change of the median, percent; `None` when undefined (a side without samples, or a
    /// baseline median of 0 with a non-zero current one).
    pub change_pct: Option<f64>,
    /// Change of the median in the group's unit.
    pub change_abs: Option<f64>,
    pub method: Method,
    /// 95% interval of the relative change, percent (see `method`).
    pub ci95_pct: Option<[f64; 2]>,
    /// 95% interval of the absolute change, in the group's unit.
    pub ci95_abs: Option<[f64; 2]>,
    /// Whether the interval excludes no change; `None` without an interval.
    pub significant: Option<bool>,
    pub verdict: Verdict,
    /// Why, when the verdict needs explaining.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Identity of a run in the output.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub path: PathBuf,
    pub run_id: String,
    /// `complete`, `incomplete`, `running`, or `unknown` without `meta.json`.
    pub status: String,
    pub arch: Option<String>,
    pub cpu_model: Option<String>,
    pub device: Option<String>,
    pub wasmtime_version: Option<String>,
    pub git_commit: Option<String>,
    pub started_at: Option<String>,
}

impl RunInfo {
    fn of(run: &LoadedRun, devices: &BTreeSet<String>) -> RunInfo {
        let m = run.meta.as_ref();
        RunInfo {
            path: run.path.clone(),
            run_id: run.run_id(),
            status: m
                .map(|m| status_name(m.status).to_string())
                .unwrap_or_else(|| "unknown".into()),
            arch: m.map(|m| m.machine.arch.clone()),
            cpu_model: m.map(|m| m.machine.cpu_model.clone()),
            device: m
                .and_then(|m| DeviceSig::of(m).map(|d| d.name))
                .or_else(|| (devices.len() == 1).then(|| devices.iter().next().unwrap().clone())),
            wasmtime_version: m.map(|m| m.wasmtime_version.clone()),
            git_commit: m.and_then(|m| m.git_commit.clone()),
            started_at: m.map(|m| m.started_at.clone()),
        }
    }
}

fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Complete => "complete",
        RunStatus::Incomplete => "incomplete",
    }
}

/// The whole comparison: what `--format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The (first) baseline run.
    pub baseline: RunInfo,
    /// Every baseline run (one, or several pooled).
    pub baseline_runs: Vec<RunInfo>,
    pub current: RunInfo,
    pub threshold_pct: f64,
    pub rule: Rule,
    pub noise_floor_us: f64,
    pub confidence: f64,
    pub bootstrap_resamples: usize,
    pub seed: u64,
    /// The `--metric` filters (empty: every metric).
    pub metrics: Vec<String>,
    pub warnings: Vec<String>,
    /// Names of the groups that regressed (verdict `regression` or `failed`).
    pub regressions: Vec<String>,
    pub improvements: Vec<String>,
    pub groups: Vec<GroupComparison>,
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.groups.iter().filter(|g| g.verdict == v).count()
    }
}

/// A group's successful values and its failure count.
#[derive(Debug, Clone, Default)]
struct Samples {
    values: Vec<f64>,
    failed: usize,
}

fn groups(records: &[Record], metrics: &[String]) -> BTreeMap<GroupKey, Samples> {
    let mut out: BTreeMap<GroupKey, Samples> = BTreeMap::new();
    for r in records {
        if !metrics.is_empty() && !metrics.iter().any(|m| r.metric.starts_with(m.as_str())) {
            continue;
        }
        let g = out.entry(r.key()).or_default();
        if r.ok && r.value.is_finite() {
            g.values.push(r.value);
        } else {
            g.failed += 1;
        }
    }
    out
}

/// The device profile a run's metadata names, with the limits in force.
#[derive(Debug, Clone, PartialEq)]
struct DeviceSig {
    name: String,
    cpus: Option<f64>,
    memory_bytes: Option<u64>,
}

impl DeviceSig {
    fn of(meta: &Meta) -> Option<DeviceSig> {
        let d = &meta.device;
        let p = d.get("profile").unwrap_or(d);
        if let Some(name) = p.as_str() {
            return Some(DeviceSig {
                name: name.to_string(),
                cpus: None,
                memory_bytes: None,
            });
        }
        Some(DeviceSig {
            name: p.get("name")?.as_str()?.to_string(),
            cpus: p.get("cpus").and_then(|v| v.as_f64()),
            memory_bytes: p.get("memory_bytes").and_then(|v| v.as_u64()),
        })
    }

    fn describe(&self) -> String {
        let mut s = self.name.clone();
        let mut limits = Vec::new();
        if let Some(c) = self.cpus {
            limits.push(format!("{c} CPU"));
        }
        if let Some(m) = self.memory_bytes {
            limits.push(format!("{} MiB", m >> 20));
        }
        if !limits.is_empty() {
            s += &format!(" ({})", limits.join(", "));
        }
        s
    }
}

fn device_column(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.device.clone()).collect()
}

/// Compares a baseline (one run or several) with a current run. Errors are bad input (exit 2).
pub fn compare(base: &[LoadedRun], cur: &LoadedRun, opts: &Options) -> Result<Comparison> {
    if base.is_empty() {
        bail!("no baseline run");
    }
    let mut warnings = Vec::new();
    let base_devices: BTreeSet<String> = base
        .iter()
        .flat_map(|b| device_column(&b.records))
        .collect();
    let cur_devices = device_column(&cur.records);
    let runs = || {
        base.iter()
            .map(|b| (b, "baseline"))
            .chain([(cur, "current")])
    };

    // Same machine architecture and device profile, unless told otherwise.
    let mut mismatches = Vec::new();
    for b in base {
        if let (Some(b), Some(c)) = (&b.meta, &cur.meta) {
            if b.machine.arch != c.machine.arch {
                mismatches.push(format!(
                    "machine.arch differs: baseline {}, current {}",
                    b.machine.arch, c.machine.arch
                ));
            }
            if let (Some(db), Some(dc)) = (DeviceSig::of(b), DeviceSig::of(c))
                && db != dc
            {
                mismatches.push(format!(
                    "device profile differs: baseline {}, current {}",
                    db.describe(),
                    dc.describe()
                ));
            }
        }
    }
    for (run, role) in runs() {
        if run.meta.is_none() {
            warnings.push(format!(
                "the {role} run {} has no meta.json: its machine architecture cannot be checked",
                run.path.display()
            ));
        }
    }
    if !base_devices.is_empty() && !cur_devices.is_empty() && base_devices != cur_devices {
        mismatches.push(format!(
            "device column differs: baseline {}, current {}",
            join(&base_devices),
            join(&cur_devices)
        ));
    }
    mismatches.sort();
    mismatches.dedup();
    if !mismatches.is_empty() {
        if !opts.allow_mismatch {
            bail!(
                "refusing to compare runs from different machines or device profiles: {} \
                 (pass --allow-mismatch to compare them anyway)",
                mismatches.join("; ")
            );
        }
        for m in &mismatches {
            warnings.push(format!(
                "compared despite a mismatch (--allow-mismatch): {m}"
            ));
        }
    }

    for (run, role) in runs() {
        if let Some(m) = &run.meta {
            match m.status {
                RunStatus::Complete => {}
                RunStatus::Incomplete => warnings.push(format!(
                    "the {role} run {} is incomplete{}: groups it did not reach are missing",
                    m.run_id,
                    m.status_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )),
                RunStatus::Running => warnings.push(format!(
                    "the {role} run {} never finished (still running, or killed): groups it did not reach are missing",
                    m.run_id
                )),
            }
        }
    }

    // Pooled samples per group, and each run's median of it.
    let mut base_groups: BTreeMap<GroupKey, Samples> = BTreeMap::new();
    let mut run_medians: BTreeMap<GroupKey, Vec<f64>> = BTreeMap::new();
    for b in base {
        for (key, g) in groups(&b.records, &opts.metrics) {
            if let Some(m) = Stats::of(&g.values).map(|s| s.median) {
                run_medians.entry(key.clone()).or_default().push(m);
            }
            let pooled = base_groups.entry(key).or_default();
            pooled.values.extend(g.values);
            pooled.failed += g.failed;
        }
    }
    let mut cur_groups = groups(&cur.records, &opts.metrics);
    // With the mismatch allowed, one device against another one is matched across devices.
    if opts.allow_mismatch
        && base_devices.len() == 1
        && cur_devices.len() == 1
        && base_devices != cur_devices
    {
        let dev = base_devices.iter().next().unwrap().clone();
        cur_groups = cur_groups
            .into_iter()
            .map(|(mut k, v)| {
                k.device = dev.clone();
                (k, v)
            })
            .collect();
    }
    if base_groups.is_empty() || cur_groups.is_empty() {
        let which = if base_groups.is_empty() {
            "baseline"
        } else {
            "current"
        };
        if opts.metrics.is_empty() {
            bail!("the {which} run has no records");
        }
        bail!(
            "no {which} group has a metric starting with {}",
            opts.metrics.join(" or ")
        );
    }

    let keys: BTreeSet<&GroupKey> = base_groups.keys().chain(cur_groups.keys()).collect();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(compare_group(
            key,
            base_groups.get(key),
            run_medians.get(key).map_or(&[][..], |v| v.as_slice()),
            cur_groups.get(key),
            opts,
        ));
    }
    let matched = out
        .iter()
        .filter(|g| g.baseline.is_some() && g.current.is_some())
        .count();
    if matched == 0 {
        bail!(
            "the runs have no group in common (baseline {} groups, current {}): were they made by different suites?",
            base_groups.len(),
            cur_groups.len()
        );
    }
    for (v, what) in [
        (
            Verdict::Missing,
            "in the baseline only (not measured by the current run)",
        ),
        (Verdict::New, "in the current run only"),
    ] {
        let names: Vec<&str> = out
            .iter()
            .filter(|g| g.verdict == v)
            .map(|g| g.name.as_str())
            .collect();
        if !names.is_empty() {
            let shown = names.iter().take(5).copied().collect::<Vec<_>>().join("; ");
            let more = if names.len() > 5 {
                format!("; and {} more", names.len() - 5)
            } else {
                String::new()
            };
            warnings.push(format!("{} groups {what}: {shown}{more}", names.len()));
        }
    }

    let names_with = |pred: fn(Verdict) -> bool| {
        out.iter()
            .filter(|g| pred(g.verdict))
            .map(|g| g.name.clone())
            .collect::<Vec<_>>()
    };
    let regressions = names_with(Verdict::is_regression);
    let improvements = names_with(|v| v == Verdict::Improvement);
    Ok(Comparison {
        baseline: RunInfo::of(&base[0], &device_column(&base[0].records)),
        baseline_runs: base
            .iter()
            .map(|b| RunInfo::of(b, &device_column(&b.records)))
            .collect(),
        current: RunInfo::of(cur, &cur_devices),
        threshold_pct: opts.threshold_pct,
        rule: opts.rule,
        noise_floor_us: opts.noise_floor_us,
        confidence: 0.95,
        bootstrap_resamples: opts.resamples,
        seed: opts.seed,
        metrics: opts.metrics.clone(),
        warnings,
        regressions,
        improvements,
        groups: out,
    })
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// A readable, stable name of a group.
pub fn group_name(k: &GroupKey) -> String {
    let mut s = format!(
        "{} {}/{} {}",
        k.experiment, k.backend, k.variant, k.workload
    );
    if k.config != "default" {
        s += &format!(" [{}]", k.config);
    }
    if k.device != "host" {
        s += &format!(" @{}", k.device);
    }
    s += &format!(" c{} {} {}", k.concurrency, k.phase, k.metric);
    s
}

fn compare_group(
    key: &GroupKey,
    base: Option<&Samples>,
    run_medians: &[f64],
    cur: Option<&Samples>,
    opts: &Options,
) -> GroupComparison {
    let mut g = GroupComparison {
        name: group_name(key),
        key: key.clone(),
        // The load generator's own ceiling checks the client, not either backend: never judged.
        direction: if key.backend == LOAD_GENERATOR {
            Direction::Unknown
        } else {
            direction(&key.metric)
        },
        baseline: base.map(Side::of),
        current: cur.map(Side::of),
        baseline_value: None,
        current_value: None,
        baseline_runs: run_medians.len(),
        change_pct: None,
        change_abs: None,
        method: Method::None,
        ci95_pct: None,
        ci95_abs: None,
        significant: None,
        verdict: Verdict::Unchanged,
        note: String::new(),
    };
    let (base, cur) = match (base, cur) {
        (None, _) => {
            g.verdict = Verdict::New;
            return g;
        }
        (_, None) => {
            g.verdict = Verdict::Missing;
            return g;
        }
        (Some(b), Some(c)) => (b, c),
    };
    if base.values.is_empty() {
        g.verdict = Verdict::NoBaseline;
        g.note = format!("all {} baseline measurements failed", base.failed);
        return g;
    }
    if cur.values.is_empty() {
        g.verdict = Verdict::Failed;
        g.note = format!(
            "all {} current measurements failed (the baseline had {} successes)",
            cur.failed,
            base.values.len()
        );
        return g;
    }

    let between_runs = run_medians.len() >= stats::BETWEEN_RUNS_MIN;
    let mb = if between_runs {
        stats::run_location(run_medians)
    } else {
        g.baseline.as_ref().and_then(|s| s.median).expect("n > 0")
    };
    let mc = g.current.as_ref().and_then(|s| s.median).expect("n > 0");
    g.baseline_value = Some(mb);
    g.current_value = Some(mc);
    g.change_abs = Some(mc - mb);
    // Relative change; a zero baseline has none (∞), which is beyond any threshold.
    let rel = if mb != 0.0 {
        Some((mc / mb - 1.0) * 100.0)
    } else if mc == 0.0 {
        Some(0.0)
    } else {
        None
    };
    g.change_pct = rel;
    if rel.is_none() {
        g.note = "baseline median is 0: no relative change".into();
    }
    if base.failed < cur.failed {
        let more = format!(
            "failures {} → {} (of {} → {} attempts)",
            base.failed,
            cur.failed,
            base.failed + base.values.len(),
            cur.failed + cur.values.len()
        );
        g.note = if g.note.is_empty() {
            more
        } else {
            format!("{}; {more}", g.note)
        };
    }

    let seed = opts.seed ^ stats::fnv1a(&g.name);
    let draws = base.values.len() + cur.values.len();
    let resamples = opts
        .resamples
        .min((MAX_DRAWS / draws.max(1)).max(MIN_RESAMPLES));
    let interval = if between_runs {
        Some(stats::between_runs(run_medians, mc))
    } else {
        stats::interval(&base.values, &cur.values, resamples, seed)
    };
    let Some(interval) = interval else {
        g.verdict = Verdict::NTooSmall;
        return g;
    };
    let Interval { method, pct, abs } = interval.clone();
    g.method = method;
    g.ci95_pct = pct.map(|(a, b)| [a, b]);
    g.ci95_abs = Some([abs.0, abs.1]);
    let side = interval.side();
    g.significant = Some(side.is_some());

    let worse_is_up = match g.direction {
        Direction::LowerIsBetter => true,
        Direction::HigherIsBetter => false,
        Direction::Unknown => {
            g.verdict = Verdict::Informational;
            if key.backend == LOAD_GENERATOR {
                g.note =
                    "the load generator's own ceiling: a check of the client, not judged".into();
            }
            return g;
        }
    };
    if key.unit == "us" && (mc - mb).abs() < opts.noise_floor_us {
        g.verdict = Verdict::Unchanged;
        if rel.is_some_and(|r| r.abs() > opts.threshold_pct) {
            g.note = format!(
                "below the noise floor of {} µs",
                render::number(opts.noise_floor_us)
            );
        }
        return g;
    }
    // How far the median moved, positive = worse.
    let up = mc > mb;
    let beyond = match rel {
        Some(r) => r.abs() > opts.threshold_pct,
        None => true,
    };
    if !beyond || mc == mb {
        g.verdict = Verdict::Unchanged;
        return g;
    }
    let worse = up == worse_is_up;
    // The interval must show the move: beyond zero, or (the default) beyond the threshold, on
    // the side the median moved. Without a relative interval (a zero baseline) any move is past
    // every threshold, so excluding zero suffices.
    let shown = match (opts.rule, pct) {
        (Rule::Threshold, Some((lo, hi))) => {
            if up {
                lo > opts.threshold_pct
            } else {
                hi < -opts.threshold_pct
            }
        }
        _ => side == Some(up),
    };
    g.verdict = match (shown, worse) {
        (true, true) => Verdict::Regression,
        (true, false) => Verdict::Improvement,
        (false, _) => Verdict::Inconclusive,
    };
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(metric: &str, unit: &str, value: f64, ok: bool) -> Record {
        Record {
            run_id: "r".into(),
            experiment: "cold-start".into(),
            backend: "wasm".into(),
            variant: "precompiled".into(),
            config: "default".into(),
            workload: "noop".into(),
            device: "host".into(),
            concurrency: 1,
            iteration: 0,
            phase: "cold_start".into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            ok,
            note: String::new(),
        }
    }

    fn run(values: &[f64], metric: &str, unit: &str) -> LoadedRun {
        LoadedRun {
            path: PathBuf::from("x"),
            meta: None,
            records: values
                .iter()
                .map(|v| rec(metric, unit, *v, v.is_finite()))
                .collect(),
        }
    }

    fn verdict(a: &[f64], b: &[f64], metric: &str) -> Verdict {
        let unit = if metric == "throughput" { "rps" } else { "us" };
        let c = compare(
            &[run(a, metric, unit)],
            &run(b, metric, unit),
            &Options::default(),
        )
        .unwrap();
        c.groups[0].verdict
    }

    #[test]
    fn verdicts_are_direction_aware() {
        let base: Vec<f64> = (0..10).map(|i| 1000.0 + 10.0 * i as f64).collect();
        let slow: Vec<f64> = base.iter().map(|v| v * 1.3).collect();
        let fast: Vec<f64> = base.iter().map(|v| v * 0.7).collect();
        assert_eq!(verdict(&base, &slow, "latency"), Verdict::Regression);
        assert_eq!(verdict(&base, &fast, "latency"), Verdict::Improvement);
        assert_eq!(verdict(&base, &slow, "throughput"), Verdict::Improvement);
        assert_eq!(verdict(&base, &fast, "throughput"), Verdict::Regression);
        assert_eq!(verdict(&base, &slow, "sandboxes"), Verdict::Informational);
        // The load generator's ceiling measures the client, so it is shown but never judged.
        let client = |values: &[f64]| {
            let mut r = run(values, "throughput", "rps");
            for rec in &mut r.records {
                rec.backend = LOAD_GENERATOR.into();
            }
            r
        };
        let c = compare(&[client(&base)], &client(&fast), &Options::default()).unwrap();
        assert_eq!(c.groups[0].verdict, Verdict::Informational);
        assert!(c.regressions.is_empty());
        assert_eq!(verdict(&base, &base, "latency"), Verdict::Unchanged);
        assert_eq!(verdict(&[1000.0], &[2000.0], "latency"), Verdict::NTooSmall);
        assert_eq!(
            verdict(&base, &[f64::NAN, f64::NAN], "latency"),
            Verdict::Failed
        );
        // Sub-floor latency changes are never flagged.
        let tiny: Vec<f64> = (0..10).map(|i| 1.0 + 0.01 * i as f64).collect();
        let tiny2: Vec<f64> = tiny.iter().map(|v| v * 2.0).collect();
        assert_eq!(verdict(&tiny, &tiny2, "latency"), Verdict::Unchanged);
    }

    #[test]
    fn the_rule_decides_changes_just_past_the_threshold() {
        let base: Vec<f64> = (0..10).map(|i| 1000.0 + 10.0 * i as f64).collect();
        let cur: Vec<f64> = base.iter().map(|v| v * 1.11).collect();
        let (a, b) = (run(&base, "latency", "us"), run(&cur, "latency", "us"));
        let a = [a];
        let strict = compare(&a, &b, &Options::default()).unwrap();
        let g = &strict.groups[0];
        let [lo, hi] = g.ci95_pct.unwrap();
        assert!(lo > 0.0 && lo < 10.0 && hi > 11.0, "{lo} {hi}");
        assert_eq!(g.verdict, Verdict::Inconclusive);
        assert_eq!(g.significant, Some(true));
        let zero = Options {
            rule: Rule::Zero,
            ..Options::default()
        };
        let loose = compare(&a, &b, &zero).unwrap();
        assert_eq!(loose.groups[0].verdict, Verdict::Regression);
        assert_eq!(loose.regressions.len(), 1);
    }

    #[test]
    fn a_wide_spread_is_not_significant() {
        let base = [100.0, 200.0, 300.0];
        let cur = [150.0, 250.0, 600.0];
        assert_eq!(verdict(&base, &cur, "latency"), Verdict::Inconclusive);
    }

    #[test]
    fn direction_vocabulary() {
        for m in [
            "latency",
            "latency_p99",
            "memory_per_sandbox",
            "memory_total",
            "module_size",
            "errors",
            "cold_starts",
            "cold_fraction",
        ] {
            assert_eq!(direction(m), Direction::LowerIsBetter, "{m}");
        }
        assert_eq!(direction("throughput"), Direction::HigherIsBetter);
        assert_eq!(direction("capacity"), Direction::HigherIsBetter);
        assert_eq!(direction("sandboxes"), Direction::Unknown);
    }
}
