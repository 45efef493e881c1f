//! This run's values for the paper's headline claims, computed in one place: the report's
//! "paper vs this run" table and `wowbench`'s end-of-run summary both use [`headlines`].
//!
//! Every value is a ratio or a statistic of **medians** from `summary.csv` (one row per group;
//! a group's median is over its successful measurements). The exact definitions:
//!
//! - `cold-start-low` / `cold-start-high`: `median(cold_start, wasm precompiled, L) /
//!   median(cold_start, docker create-start, L) − 1`, experiment `cold-start`, phase
//!   `cold_start` (provision + init), metric `latency`; `L` is the lowest (`-low`) or the highest
//!   (`-high`) concurrency level at which both series have a successful measurement. Negative
//!   means Wasm starts faster (−99% = one hundredth of Docker's time).
//! - `cold-start-compile-low` / `-high`: the same with wasm `compile` (every init compiles).
//! - `cold-start-{low,high}-{prestarted,host-net}`: wasm `precompiled` against Docker's better
//!   modes where the run has them: containers started before the clock, host networking.
//! - `memory-{paper,full}-{distinct,shared}`: `median(memory_per_sandbox, docker create-start,
//!   N) / median(memory_per_sandbox, wasm V, N)`, experiment `memory`, phase = the method
//!   (`paper` or `full`), `N` the largest number of sandboxes both series measured. Above 1 means
//!   a Wasm sandbox costs less.
//!   `memory-system-{distinct,shared}`: the same by the system method (the machine's memory in
//!   use, page cache dropped), where the run took it.
//! - `memory-marginal-{paper,full,system}-{distinct,shared}`: the marginal cost per sandbox, Docker's ÷
//!   Wasm's. The marginal cost is defined once, in [`marginal_slope`]: the least-squares slope of
//!   memory in use (median memory per sandbox × N) against N over the levels both measured with
//!   N ≥ 10 (all common levels when fewer than two reach 10).
//! - `idle-rss-wasm`: `median(memory_total, wasm distinct)` of phase `executor_rss_baseline`
//!   at the lowest level of experiment `memory`: the executor's RSS with no sandbox, read after
//!   one sandbox was made and destroyed (the paper's "idle executor RSS").
//! - `throughput-mixed-{paper,fair}`: the mean, over the client levels `c` both backends
//!   measured within the paper's range (2–10 clients, `method.mixed_throughput_clients` in
//!   `paper.toml`; every level both measured when none falls in it), of `median(throughput, wasm precompiled, c) / median(throughput, docker
//!   create-start, c)`; experiment `throughput`, workload `mixed`, phase `warm`, the named config.
//!   This is the paper's method (mean of per-level ratios over 2–10 clients);
//!   `throughput-mixed-{paper,fair}-all` is the same mean over every level both measured.
//! - `throughput-cpu-{paper,fair}`: the median, over the saturated client levels, of
//!   `median(throughput, wasm precompiled, c) / median(throughput, docker create-start, c)`,
//!   workload `hash`, phase `warm`. A level is saturated when each backend's throughput there is
//!   at least 90% of its own largest over the levels (the paper compared at saturation); with
//!   none, the largest level both measured.
//! - `capacity`: `median(capacity, wasm) / median(capacity, docker)`, experiment `capacity`
//!   (shown as `≥` when wasm held at every load step tried, so its capacity is a lower bound),
//!   phase `max`: in-flight `sleep` invocations sustained with p99 within the bound and memory
//!   within the budget. Absent when either backend held no step.
//! - `realistic-p50-<backend>-<variant>` / `realistic-p99-…`: the median over repetitions of the
//!   p50 / p99 latency of all requests (cold and warm) of the `realistic` workload (phase `all`,
//!   metrics `latency_p50` / `latency_p99`), per backend and variant.
//! - `cold-fraction-<backend>-<variant>`: the median over repetitions of `cold_fraction` (phase
//!   `all`): the share of successful requests that met a cold start.
//!
//! The paper's value for a row is the `[[claim]]` of `paper.toml` whose id is the row's
//! `paper_id` (the id without the variant for the per-series rows).
//!
//! A value that cannot be computed is `None` with the reason in `missing`; never zero.

use std::collections::{BTreeMap, BTreeSet};

use wow_records::{Backend, Config, Engine, Experiment, Metric, Series, SummaryRow, phase};

use crate::data::{SeriesKey, Unsteady, measured};
use crate::fmt;
use crate::levels;
use crate::paper::paper;

/// How a headline value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `wasm / docker − 1`, shown as a signed percentage.
    Change,
    /// A plain ratio, shown as `3.50×`.
    Ratio,
    /// A ratio known only from below (the numerator held at every load step tried), shown as
    /// `≥ 3.50×`.
    RatioAtLeast,
    /// Microseconds, shown in a readable unit.
    LatencyUs,
    /// A share of requests, shown as a percentage.
    Fraction,
    /// Bytes, shown in MiB.
    Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// Stable id; the paper's value for it is the `[[claim]]` with this id in `paper.toml`
    /// (per-backend ids end in the backend: `realistic-p50-docker`).
    pub id: String,
    /// The paper claim this row is compared with.
    pub paper_id: String,
    pub device: String,
    /// The Wasm engine whose series the row's Wasm values come from.
    pub engine: Engine,
    /// The Docker series a Wasm-vs-Docker row compares with.
    pub docker: Option<Series>,
    /// What the row claims, e.g. "Cold start, lowest level (wasm precompiled vs docker
    /// create-start)".
    pub claim: String,
    /// A compact form of `claim` for terminal tables, e.g. "cold start, lowest level
    /// (precompiled)".
    pub short: String,
    /// How the value is computed (which series, statistic and levels).
    pub definition: String,
    pub kind: Kind,
    pub value: Option<f64>,
    /// The fewest successful measurements of any group behind the value.
    pub n: Option<usize>,
    /// The value's 95% interval (see [`crate::interval`]), where every group behind it has
    /// enough measurements.
    pub ci95: Option<(f64, f64)>,
    /// This run's setup behind the value (device, workload, levels, n).
    pub setup: String,
    /// Why the value is absent.
    pub missing: Option<String>,
}

impl Headline {
    /// The half-width of its 95% interval relative to its value, where it has both.
    pub fn relative_half_width(&self) -> Option<f64> {
        let (v, (lo, hi)) = (self.value?, self.ci95?);
        (v != 0.0).then(|| (hi - lo) / 2.0 / v.abs())
    }

    /// The value as the tables show it ("—" when absent).
    pub fn display(&self) -> String {
        match self.value {
            None => fmt::MISSING.to_string(),
            Some(v) => match self.kind {
                Kind::Change => fmt::change(v),
                Kind::Ratio => fmt::ratio(v),
                Kind::RatioAtLeast => format!("≥ {}", fmt::ratio(v)),
                Kind::LatencyUs => fmt::duration_us(v),
                Kind::Fraction => fmt::percent(v),
                Kind::Bytes => fmt::mib(v),
            },
        }
    }

    /// The 95% interval as the tables show it: "[lo, hi]" in the value's unit, "n = 2: none"
    /// when a group behind the value has too few measurements, "—" when absent.
    pub fn interval_display(&self) -> String {
        let show = |v: f64| match self.kind {
            Kind::Change => fmt::change(v),
            Kind::Ratio | Kind::RatioAtLeast => fmt::ratio(v),
            Kind::LatencyUs => fmt::duration_us(v),
            Kind::Fraction => fmt::percent(v),
            Kind::Bytes => fmt::mib(v),
        };
        match (self.ci95, self.n) {
            (Some((lo, hi)), _) => format!("[{}, {}]", show(lo), show(hi)),
            (None, Some(n)) if n < crate::interval::MIN_N => format!("n = {n}: none"),
            _ => fmt::MISSING.to_string(),
        }
    }

    /// The value with its interval, when it has one: "−99.8% [−99.9%, −99.7%]".
    pub fn display_with_interval(&self) -> String {
        match self.ci95 {
            Some(_) => format!("{} {}", self.display(), self.interval_display()),
            None => self.display(),
        }
    }

    /// The setup column: the run's setup, or "(not measured: why)".
    pub fn setup_or_reason(&self) -> String {
        match &self.missing {
            Some(why) => format!("(not measured: {why})"),
            None => self.setup.clone(),
        }
    }
}

/// The series a claim compares by default: Wasm with a cached artifact, Docker creating a
/// container per cold start.
const WASM: (Backend, Series) = (Backend::Wasm, Series::Precompiled);
const DOCKER: (Backend, Series) = (Backend::Docker, Series::CreateStart);

/// A headline row before its value: what it claims and how its value is defined.
struct Claim {
    id: String,
    /// The paper's claim it is compared with (usually `id`).
    paper_id: String,
    claim: String,
    short: String,
    definition: String,
    kind: Kind,
}

/// A value this run gives for a claim, with the setup behind it.
struct Measured {
    value: f64,
    /// The fewest successful measurements of any group the value was computed from.
    n: usize,
    setup: String,
}

/// The fewest measurements of the groups behind per-level pairs.
fn fewest<'a>(pairs: impl Iterator<Item = &'a (u32, &'a SummaryRow, &'a SummaryRow)>) -> usize {
    pairs.map(|(_, a, b)| a.n.min(b.n)).min().unwrap_or(0)
}

/// A claim's value, or why it cannot be computed.
type Outcome = Result<Measured, String>;

impl Claim {
    /// The row of `device`: measured, or missing with the reason.
    fn row(self, device: &str, outcome: Outcome) -> Headline {
        let (value, n, setup, missing) = match outcome {
            Ok(m) => (Some(m.value), Some(m.n), m.setup, None),
            Err(why) => (None, None, String::new(), Some(why)),
        };
        Headline {
            id: self.id,
            paper_id: self.paper_id,
            device: device.to_string(),
            engine: Engine::REFERENCE,
            docker: None,
            claim: self.claim,
            short: self.short,
            definition: self.definition,
            kind: self.kind,
            value,
            n,
            ci95: None,
            setup,
            missing,
        }
    }
}

/// Measured summary rows of one device, experiment, phase and metric.
struct Sel<'a> {
    rows: Vec<&'a SummaryRow>,
}

impl<'a> Sel<'a> {
    fn new(
        summary: &'a [SummaryRow],
        device: &str,
        experiment: Experiment,
        phase: &str,
        metric: Metric,
    ) -> Sel<'a> {
        Sel {
            rows: summary
                .iter()
                .filter(|r| {
                    r.device == device
                        && r.experiment == experiment
                        && r.phase == phase
                        && r.metric == metric
                })
                .collect(),
        }
    }

    /// Keeps one workload: `preferred` when present, else the first by name.
    fn workload(mut self, preferred: &str) -> (Sel<'a>, String) {
        let all: BTreeSet<&str> = self.rows.iter().map(|r| r.workload.as_str()).collect();
        let pick = if all.contains(preferred) {
            Some(preferred.to_string())
        } else {
            all.iter().next().map(|s| s.to_string())
        };
        if let Some(w) = &pick {
            self.rows.retain(|r| &r.workload == w);
        }
        (self, pick.unwrap_or_else(|| preferred.to_string()))
    }

    /// Drops the levels whose load window was not steady, and names them by series.
    fn steady_only(mut self, unsteady: &Unsteady) -> (Sel<'a>, Vec<(String, String, u32)>) {
        let dropped = self
            .rows
            .iter()
            .filter(|r| unsteady.contains(r))
            .map(|r| (r.backend.clone(), r.variant.clone(), r.concurrency))
            .collect();
        self.rows.retain(|r| !unsteady.contains(r));
        (self, dropped)
    }

    /// Keeps the rows of one config and workload.
    fn only(mut self, config: Config, workload: &str) -> Sel<'a> {
        self.rows
            .retain(|r| r.config == config && r.workload == workload);
        self
    }

    fn any(&self) -> bool {
        !self.rows.is_empty()
    }

    fn has_series(&self, (backend, variant): (Backend, Series)) -> bool {
        self.rows
            .iter()
            .any(|r| r.backend == backend && r.variant == variant)
    }

    /// Measured rows of one series by level.
    fn levels(&self, (backend, variant): (Backend, Series)) -> BTreeMap<u32, &'a SummaryRow> {
        levels::by_level(
            self.rows
                .iter()
                .copied()
                .filter(|r| r.backend == backend && r.variant == variant),
        )
    }

    /// Series of one backend present (measured or not), in presentation order.
    fn series_of(&self, backend: Backend) -> Vec<SeriesKey> {
        let mut v: Vec<SeriesKey> = self
            .rows
            .iter()
            .filter(|r| r.backend == backend)
            .map(|r| SeriesKey::of(r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        v.sort_by_key(|k| k.order());
        v
    }

    /// The rows of series `a` and `b` at the levels both measured, ascending; or why there are
    /// none (`what` names the experiment in the reason).
    fn compare(
        &self,
        what: &str,
        a: (Backend, Series),
        b: (Backend, Series),
    ) -> Result<Vec<(u32, &'a SummaryRow, &'a SummaryRow)>, String> {
        let both = levels::common(&self.levels(a), &self.levels(b));
        if !both.is_empty() {
            return Ok(both);
        }
        if !self.any() {
            return Err(format!("experiment {what} not in this run"));
        }
        for (backend, variant) in [a, b] {
            if !self.has_series((backend, variant)) {
                return Err(format!("no {backend} {variant} series"));
            }
            if self.levels((backend, variant)).is_empty() {
                return Err(format!("every {backend} {variant} measurement failed"));
            }
        }
        Err("no level measured by both series".to_string())
    }
}

fn med(r: &SummaryRow) -> f64 {
    r.median.unwrap_or(f64::NAN)
}

/// Two rows' medians side by side with their counts, as a comparison's setup shows them:
/// "<a> vs <b><unit> (medians, n = <a's n> / <b's n>)".
fn versus(a: &SummaryRow, b: &SummaryRow, show: fn(f64) -> String, unit: &str) -> String {
    format!(
        "{} vs {}{unit} (medians, n = {} / {})",
        show(med(a)),
        show(med(b)),
        a.n,
        b.n
    )
}

/// This run's headline values for `device`, in the report's order: every claim once per Wasm
/// engine of the run (the reference engine's rows keep their ids; another engine's end in its
/// name, `memory-paper-distinct-wasmer`, and compare with the paper's value for that engine
/// where `paper.toml` has one, else with the reference engine's). Every claim
/// gets a row; a value that cannot be computed is `None` with the reason.
pub fn headlines(summary: &[SummaryRow], device: &str) -> Vec<Headline> {
    let mut engines: Vec<Engine> = summary
        .iter()
        .filter(|r| r.backend == Backend::Wasm)
        .filter_map(|r| r.engine.parse().ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if engines.is_empty() {
        engines.push(Engine::REFERENCE);
    }
    let mut out = Vec::new();
    for engine in engines {
        // Docker's rows and this engine's Wasm rows.
        let rows: Vec<SummaryRow> = summary
            .iter()
            .filter(|r| r.backend != Backend::Wasm || r.engine == engine)
            .cloned()
            .collect();
        let mut of_engine = headlines_of(&rows, device);
        for h in &mut of_engine {
            h.engine = engine;
        }
        if engine != Engine::REFERENCE {
            // Docker's own rows (realistic latency, cold fraction) are the same for every engine.
            of_engine.retain(|h| !h.paper_id.ends_with("-docker"));
            for h in &mut of_engine {
                let own = format!("{}-{engine}", h.paper_id);
                if crate::paper::paper().claim(&own).is_some() {
                    h.paper_id = own;
                }
                h.id = format!("{}-{engine}", h.id);
                h.claim = format!("{} [{engine}]", h.claim);
                h.short = format!("{} [{engine}]", h.short);
            }
        }
        out.extend(of_engine);
    }
    out
}

/// The headline values of one engine's Wasm rows (and Docker's) for `device`.
fn headlines_of(summary: &[SummaryRow], device: &str) -> Vec<Headline> {
    let mut out = Vec::new();
    // Against this project's lean baseline and, where the run has it, the paper's own
    // (`skeleton`; ids end in `-skeleton`, compared with the same paper values, which were
    // measured against it).
    let (_, lean) = DOCKER;
    let mut baselines = vec![lean];
    if summary.iter().any(|r| r.variant == Series::Skeleton) {
        baselines.push(Series::Skeleton);
    }
    for docker in baselines {
        let mut of = Vec::new();
        cold_start(summary, device, docker, &mut of);
        memory(summary, device, docker, &mut of);
        throughput(summary, device, docker, &mut of);
        for h in &mut of {
            h.docker = Some(docker);
            if docker != lean {
                h.id = format!("{}-{docker}", h.id);
                h.short = format!("{} vs {docker}", h.short);
            }
        }
        out.extend(of);
    }
    // The cold start against Docker's better modes too, where the run has them: containers
    // started before the clock (`prestarted`) and host networking (`host-net`). A headline
    // against `create-start` alone would pick Docker's slowest start.
    for docker in [Series::Prestarted, Series::HostNet] {
        if !summary
            .iter()
            .any(|r| r.experiment == Experiment::ColdStart && r.variant == docker)
        {
            continue;
        }
        let mut of = Vec::new();
        cold_start(summary, device, docker, &mut of);
        of.retain(|h| !h.id.contains(Series::Compile.as_str()));
        for h in &mut of {
            h.docker = Some(docker);
            h.id = format!("{}-{docker}", h.id);
            h.paper_id = h.id.clone();
            h.short = format!("{} vs {docker}", h.short);
        }
        out.extend(of);
    }
    idle_rss(summary, device, &mut out);
    capacity(summary, device, &mut out);
    realistic(summary, device, &mut out);
    out
}

fn cold_start(summary: &[SummaryRow], device: &str, docker: Series, out: &mut Vec<Headline>) {
    let docker_side = (Backend::Docker, docker);
    let experiment = Experiment::ColdStart;
    let (sel, workload) = Sel::new(
        summary,
        device,
        experiment,
        phase::COLD_START,
        Metric::Latency,
    )
    .workload("hash");
    for (variant, prefix) in [
        (Series::Precompiled, experiment.to_string()),
        (Series::Compile, format!("{experiment}-{}", Series::Compile)),
    ] {
        let wasm = (Backend::Wasm, variant);
        let both = sel.compare(experiment.as_str(), wasm, docker_side);
        for (suffix, which) in [("low", "lowest"), ("high", "highest")] {
            let id = format!("{prefix}-{suffix}");
            let claim = Claim {
                paper_id: id.clone(),
                id,
                claim: format!("Cold start, {which} level (wasm {variant} vs docker {docker})"),
                short: format!("cold start, {which} level ({variant})"),
                definition: format!(
                    "median cold start (provision + init) of wasm {variant} ÷ that of docker \
                     {docker} − 1, at the {which} concurrency level both measured"
                ),
                kind: Kind::Change,
            };
            let outcome = both.clone().map(|both| {
                let pick = if suffix == "low" {
                    both.first()
                } else {
                    both.last()
                };
                let &(level, w, d) = pick.expect("compare gives at least one level");
                Measured {
                    value: med(w) / med(d) - 1.0,
                    n: w.n.min(d.n),
                    setup: format!(
                        "{device}, {workload}, {level} concurrent: {}",
                        versus(w, d, fmt::duration_us, "")
                    ),
                }
            });
            out.push(claim.row(device, outcome));
        }
    }
}

fn memory(summary: &[SummaryRow], device: &str, docker: Series, out: &mut Vec<Headline>) {
    let docker_side = (Backend::Docker, docker);
    let experiment = Experiment::Memory;
    let mut marginal = Vec::new();
    for method in [phase::PAPER, phase::FULL, phase::SYSTEM] {
        let (sel, workload) = Sel::new(
            summary,
            device,
            experiment,
            method,
            Metric::MemoryPerSandbox,
        )
        .workload("hash");
        for variant in [Series::Distinct, Series::Shared] {
            let id = format!("{experiment}-{method}-{variant}");
            let claim = Claim {
                paper_id: id.clone(),
                id,
                claim: format!(
                    "Memory per warm sandbox, {method} method (docker {docker} ÷ wasm {variant})"
                ),
                short: format!("memory per sandbox, {method} method ({variant})"),
                definition: format!(
                    "median memory per sandbox ({method} method) of docker {docker} ÷ that \
                     of wasm {variant}, at the largest number of sandboxes both measured"
                ),
                kind: Kind::Ratio,
            };
            let outcome = sel
                .compare(experiment.as_str(), (Backend::Wasm, variant), docker_side)
                .and_then(|both| {
                    let &(n, w, d) = readable(method, &both)?
                        .last()
                        .expect("readable gives at least one level");
                    if med(w) <= 0.0 || med(d) <= 0.0 {
                        return Err(format!(
                            "a reading not above zero at {n} sandboxes (docker {}, wasm {}): \
                             too small to read there",
                            fmt::mib(med(d)),
                            fmt::mib(med(w))
                        ));
                    }
                    Ok(Measured {
                        value: med(d) / med(w),
                        n: w.n.min(d.n),
                        setup: format!(
                            "{device}, {workload}, {n} sandboxes: {}",
                            versus(d, w, fmt::mib, "")
                        ),
                    })
                });
            out.push(claim.row(device, outcome));
            marginal.push(marginal_memory(
                &sel, &workload, device, method, variant, docker,
            ));
        }
    }
    out.extend(marginal);
}

/// The levels a marginal cost is fitted over: those with at least this many sandboxes, or all
/// levels when fewer than two reach it.
pub const MARGINAL_MIN_SANDBOXES: u32 = 10;

/// The marginal cost per sandbox, defined once for every use of the word: the least-squares
/// slope of memory in use (median memory per sandbox × N) against N over the measured levels
/// with N ≥ [`MARGINAL_MIN_SANDBOXES`] (all levels when fewer than two reach it). What someone
/// sizing a board needs: the paper's method divides the whole executor by N, so a small N
/// charges the executor to few sandboxes. `None` with fewer than two levels.
pub fn marginal_slope(points: &[(u32, f64)]) -> Option<(f64, Vec<u32>)> {
    let large: Vec<(u32, f64)> = points
        .iter()
        .copied()
        .filter(|(n, _)| *n >= MARGINAL_MIN_SANDBOXES)
        .collect();
    let used = if large.len() >= 2 {
        large
    } else {
        points.to_vec()
    };
    if used.len() < 2 {
        return None;
    }
    let k = used.len() as f64;
    let mx = used.iter().map(|(n, _)| *n as f64).sum::<f64>() / k;
    let my = used.iter().map(|(_, y)| y).sum::<f64>() / k;
    let sxx: f64 = used.iter().map(|(n, _)| (*n as f64 - mx).powi(2)).sum();
    let sxy: f64 = used.iter().map(|(n, y)| (*n as f64 - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| (sxy / sxx, used.iter().map(|(n, _)| *n).collect()))
}

/// The levels a memory method can be read at: every level, except for the system method, whose
/// machine-wide reading is read from [`MARGINAL_MIN_SANDBOXES`] sandboxes on (at fewer, what
/// else the machine did outweighs the sandboxes).
fn readable<'a>(
    method: &str,
    both: &[(u32, &'a SummaryRow, &'a SummaryRow)],
) -> Result<Vec<(u32, &'a SummaryRow, &'a SummaryRow)>, String> {
    if method != phase::SYSTEM {
        return Ok(both.to_vec());
    }
    let large: Vec<_> = both
        .iter()
        .copied()
        .filter(|(n, _, _)| *n >= MARGINAL_MIN_SANDBOXES)
        .collect();
    if large.is_empty() {
        return Err(format!(
            "the system method is read from {MARGINAL_MIN_SANDBOXES} sandboxes on; this run's \
             largest common level is {}",
            both.last().map_or(0, |(n, _, _)| *n)
        ));
    }
    Ok(large)
}

/// `memory-marginal-{method}-{variant}`: Docker's marginal cost per sandbox ÷ Wasm's, over the
/// levels both measured (`sel`: the memory rows of one method).
fn marginal_memory(
    sel: &Sel,
    workload: &str,
    device: &str,
    method: &str,
    variant: Series,
    docker: Series,
) -> Headline {
    let experiment = Experiment::Memory;
    let claim = Claim {
        id: format!("{experiment}-marginal-{method}-{variant}"),
        paper_id: format!("{experiment}-marginal-{method}-{variant}"),
        claim: format!(
            "Marginal memory per sandbox, {method} method (docker {docker} ÷ wasm {variant})"
        ),
        short: format!("marginal memory per sandbox, {method} method ({variant})"),
        definition: format!(
            "least-squares slope of memory in use (median per sandbox × N, {method} method) \
             against N over the levels both measured with N ≥ {MARGINAL_MIN_SANDBOXES} (all \
             common levels when fewer than two), docker {docker} ÷ wasm {variant}: what one \
             more sandbox costs"
        ),
        kind: Kind::Ratio,
    };
    let outcome = sel
        .compare(
            experiment.as_str(),
            (Backend::Wasm, variant),
            (Backend::Docker, docker),
        )
        .and_then(|both| {
            let both = readable(method, &both)?;
            let total = |r: &SummaryRow| med(r) * r.concurrency as f64;
            let w: Vec<(u32, f64)> = both.iter().map(|(n, w, _)| (*n, total(w))).collect();
            let d: Vec<(u32, f64)> = both.iter().map(|(n, _, d)| (*n, total(d))).collect();
            let (Some((ws, levels)), Some((ds, _))) = (marginal_slope(&w), marginal_slope(&d))
            else {
                return Err("fewer than two sandbox counts measured by both".to_string());
            };
            if ws <= 0.0 || ds <= 0.0 {
                return Err(format!(
                    "memory did not grow with N (slopes: docker {}, wasm {})",
                    fmt::mib(ds),
                    fmt::mib(ws)
                ));
            }
            let n = fewest(both.iter().filter(|(n, _, _)| levels.contains(n)));
            let levels: Vec<String> = levels.iter().map(|n| n.to_string()).collect();
            Ok(Measured {
                value: ds / ws,
                n,
                setup: format!(
                    "{device}, {workload}, slope over N = {}: {} vs {} a sandbox",
                    levels.join(", "),
                    fmt::mib(ds),
                    fmt::mib(ws)
                ),
            })
        });
    claim.row(device, outcome)
}

/// The executor's resident set with no sandbox (the paper's "idle executor RSS"): the memory
/// experiment's empty reading, taken after one sandbox was made and destroyed.
fn idle_rss(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    let (sel, workload) = Sel::new(
        summary,
        device,
        Experiment::Memory,
        IDLE_RSS_PHASE,
        Metric::MemoryTotal,
    )
    .workload("hash");
    let claim = Claim {
        id: "idle-rss-wasm".to_string(),
        paper_id: "idle-rss-wasm".to_string(),
        claim: "Idle executor RSS (wasm)".to_string(),
        short: "idle executor RSS".to_string(),
        definition: format!(
            "median of the executor's RSS with no sandbox (memory experiment, phase \
             `{IDLE_RSS_PHASE}`, read after one sandbox of the workload was made and destroyed), \
             wasm distinct series"
        ),
        kind: Kind::Bytes,
    };
    let outcome = match sel
        .levels((Backend::Wasm, Series::Distinct))
        .into_iter()
        .next()
    {
        Some((_, r)) => Ok(Measured {
            value: med(r),
            n: r.n,
            setup: format!("{device}, {workload}: n = {}", r.n),
        }),
        None if !sel.any() => Err("experiment memory not in this run".to_string()),
        None => Err("no wasm distinct reading of the idle executor".to_string()),
    };
    out.push(claim.row(device, outcome));
}

/// The memory experiment's phase holding the executor's RSS before any sandbox of a reading.
const IDLE_RSS_PHASE: &str = "executor_rss_baseline";

/// The share of a series' largest throughput at which a level counts as saturated.
pub const SATURATED_SHARE: f64 = 0.9;

fn throughput(summary: &[SummaryRow], device: &str, docker: Series, out: &mut Vec<Headline>) {
    let docker_side = (Backend::Docker, docker);
    let experiment = Experiment::Throughput;
    let (_, wasm) = WASM;
    let clients = paper().mixed_throughput_clients();
    let unsteady = Unsteady::of(summary);
    // Levels not steady are left out, and the setup names them.
    let warm = |config: Config, workload: &str| {
        Sel::new(summary, device, experiment, phase::WARM, Metric::Throughput)
            .only(config, workload)
            .steady_only(&unsteady)
    };
    // The levels left out of one comparison (wasm's series or `docker`'s), for its setup.
    let left_out = |dropped: &[(String, String, u32)]| {
        let mut l: Vec<u32> = dropped
            .iter()
            .filter(|(b, v, _)| {
                (b == WASM.0.as_str() && v == WASM.1.as_str())
                    || (b == docker_side.0.as_str() && v == docker_side.1.as_str())
            })
            .map(|(_, _, l)| *l)
            .collect();
        l.sort_unstable();
        l.dedup();
        if l.is_empty() {
            String::new()
        } else {
            let l: Vec<String> = l.iter().map(|l| l.to_string()).collect();
            format!(" (not steady, left out: {} clients)", l.join(", "))
        }
    };
    // The paper's range of client levels, and every level: a reader sees both.
    for (config, all) in [Config::Paper, Config::Fair]
        .into_iter()
        .flat_map(|config| [(config, false), (config, true)])
    {
        let paper_id = format!(
            "{experiment}-mixed-{config}{}",
            if all { "-all" } else { "" }
        );
        let range = if all {
            "every client level both backends measured".to_string()
        } else {
            format!(
                "the client levels both backends measured within the paper's range ({}–{} \
                 clients; all levels when none is in it)",
                clients.start(),
                clients.end()
            )
        };
        let claim = Claim {
            id: paper_id.clone(),
            paper_id,
            claim: format!(
                "Throughput, mixed workload, {config} config, {} (wasm {wasm} ÷ docker {docker})",
                if all { "all levels" } else { "paper's levels" }
            ),
            short: format!(
                "throughput, mixed, {config} config{}",
                if all { ", all levels" } else { "" }
            ),
            definition: format!(
                "mean over {range} of the per-level ratio of median throughputs, wasm {wasm} ÷ \
                 docker {docker}, workload mixed, {config} config{}; levels whose window was \
                 not steady are left out",
                if all { "" } else { " (the paper's method)" }
            ),
            kind: Kind::Ratio,
        };
        let (sel, dropped) = warm(config, "mixed");
        let what = format!("{experiment} (mixed, {config})");
        let outcome = sel.compare(&what, WASM, docker_side).map(|both| {
            let both = if all {
                both
            } else {
                levels::prefer_within(both, &clients, |(l, _, _)| *l)
            };
            let ratios: Vec<f64> = both.iter().map(|(_, w, d)| med(w) / med(d)).collect();
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            let levels: Vec<String> = both.iter().map(|(l, _, _)| l.to_string()).collect();
            let per: Vec<String> = ratios.iter().map(|r| fmt::ratio(*r)).collect();
            Measured {
                value: mean,
                n: fewest(both.iter()),
                setup: format!(
                    "{device}, mixed, {config} config, mean over {} client levels ({}): {}{}",
                    both.len(),
                    levels.join(", "),
                    per.join(", "),
                    left_out(&dropped)
                ),
            }
        });
        out.push(claim.row(device, outcome));
    }
    for config in [Config::Paper, Config::Fair] {
        let id = format!("{experiment}-cpu-{config}");
        let claim = Claim {
            paper_id: id.clone(),
            id,
            claim: format!(
                "Throughput, CPU-bound hash, {config} config (wasm {wasm} ÷ docker {docker})"
            ),
            short: format!("throughput, hash, {config} config"),
            definition: format!(
                "median over the saturated client levels of the per-level ratio of median \
                 throughputs, wasm {wasm} ÷ docker {docker}, workload hash, {config} config; \
                 a level is saturated when each backend's throughput there is at least {:.0}% \
                 of its own largest (the largest common level when no level is); levels whose \
                 window was not steady are left out",
                SATURATED_SHARE * 100.0
            ),
            kind: Kind::Ratio,
        };
        let (sel, dropped) = warm(config, "hash");
        let what = format!("{experiment} (hash, {config})");
        let outcome = sel.compare(&what, WASM, docker_side).map(|both| {
            let (used, saturated) = saturated_levels(both);
            let mut ratios: Vec<f64> = used.iter().map(|(_, w, d)| med(w) / med(d)).collect();
            ratios.sort_by(f64::total_cmp);
            let k = ratios.len();
            let median = if k % 2 == 1 {
                ratios[k / 2]
            } else {
                (ratios[k / 2 - 1] + ratios[k / 2]) / 2.0
            };
            let levels: Vec<String> = used.iter().map(|(l, _, _)| l.to_string()).collect();
            let per: Vec<String> = used
                .iter()
                .map(|(_, w, d)| fmt::ratio(med(w) / med(d)))
                .collect();
            Measured {
                value: median,
                n: fewest(used.iter()),
                setup: format!(
                    "{device}, hash, {config} config, median over {} {} ({}): {}{}",
                    used.len(),
                    if !saturated {
                        "client level (none saturated: the largest common one)"
                    } else if used.len() == 1 {
                        "saturated client level"
                    } else {
                        "saturated client levels"
                    },
                    levels.join(", "),
                    per.join(", "),
                    left_out(&dropped)
                ),
            }
        });
        out.push(claim.row(device, outcome));
    }
}

/// The levels at which both series are saturated: each one's median throughput there is at
/// least [`SATURATED_SHARE`] of its own largest over the levels. With none, the largest common
/// level alone (and `false`).
fn saturated_levels<'a>(
    both: Vec<(u32, &'a SummaryRow, &'a SummaryRow)>,
) -> (Vec<(u32, &'a SummaryRow, &'a SummaryRow)>, bool) {
    let top = |pick: fn(&(u32, &SummaryRow, &SummaryRow)) -> f64| {
        both.iter().map(pick).fold(f64::NEG_INFINITY, f64::max)
    };
    let (wmax, dmax) = (top(|(_, w, _)| med(w)), top(|(_, _, d)| med(d)));
    let saturated: Vec<_> = both
        .iter()
        .copied()
        .filter(|(_, w, d)| med(w) >= SATURATED_SHARE * wmax && med(d) >= SATURATED_SHARE * dmax)
        .collect();
    if saturated.is_empty() {
        (both.last().copied().into_iter().collect(), false)
    } else {
        (saturated, true)
    }
}

fn capacity(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    let experiment = Experiment::Capacity;
    let mut claim = Claim {
        id: experiment.to_string(),
        paper_id: experiment.to_string(),
        claim: "Capacity at the latency bound (wasm ÷ docker)".to_string(),
        short: "capacity at the latency bound".to_string(),
        definition: "median capacity found (in-flight sleep invocations sustained with p99 \
                     within the bound and memory within the budget) of wasm ÷ that of docker"
            .to_string(),
        kind: Kind::Ratio,
    };
    let sel = Sel::new(summary, device, experiment, phase::MAX, Metric::Capacity);
    let pick = |backend: Backend| {
        sel.rows
            .iter()
            .filter(|r| r.backend == backend)
            .min_by_key(|r| SeriesKey::of(r).order())
            .copied()
    };
    // A capacity equal to the largest step tried held at every step: only a lower bound.
    let steps = Sel::new(summary, device, experiment, phase::STEP, Metric::Throughput);
    let largest_step = |backend: &str| {
        steps
            .rows
            .iter()
            .filter(|r| r.backend == backend)
            .map(|r| r.concurrency)
            .max()
    };
    let held_everywhere =
        |r: &SummaryRow| largest_step(&r.backend).is_some_and(|top| med(r) >= top as f64);
    let outcome = match (pick(Backend::Wasm), pick(Backend::Docker)) {
        _ if !sel.any() => Err(format!("experiment {experiment} not in this run")),
        (None, _) => Err("no wasm capacity series".into()),
        (_, None) => Err("no docker capacity series".into()),
        (Some(w), _) if !measured(w) => Err("wasm held at no load step".into()),
        (_, Some(d)) if !measured(d) => Err("docker held at no load step".into()),
        (_, Some(d)) if held_everywhere(d) => {
            Err("docker held at every load step tried: raise the steps".into())
        }
        (Some(w), Some(d)) => {
            let at_least = held_everywhere(w);
            if at_least {
                claim.kind = Kind::RatioAtLeast;
            }
            Ok(Measured {
                value: med(w) / med(d),
                n: w.n.min(d.n),
                setup: format!(
                    "{device}, {}: {}{}",
                    w.workload,
                    if at_least { "≥ " } else { "" },
                    versus(w, d, fmt::sig3, " in flight")
                ),
            })
        }
    };
    out.push(claim.row(device, outcome));
}

fn realistic(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    let experiment = Experiment::Realistic;
    let all = |metric| {
        Sel::new(summary, device, experiment, phase::ALL, metric)
            .workload("azure-mix")
            .0
    };
    let (p50, p99, cold) = (
        all(Metric::LatencyP50),
        all(Metric::LatencyP99),
        all(Metric::ColdFraction),
    );
    for (metric, label, sel, kind) in [
        (
            "p50",
            "Realistic workload, p50 latency",
            &p50,
            Kind::LatencyUs,
        ),
        (
            "p99",
            "Realistic workload, p99 latency",
            &p99,
            Kind::LatencyUs,
        ),
        (
            "cold",
            "Realistic workload, cold-start fraction",
            &cold,
            Kind::Fraction,
        ),
    ] {
        for (backend, default_variant) in [WASM, DOCKER] {
            let paper_id = if metric == "cold" {
                format!("cold-fraction-{backend}")
            } else {
                format!("{experiment}-{metric}-{backend}")
            };
            let definition = if metric == "cold" {
                "median over repetitions of the share of successful requests that met a cold start"
                    .to_string()
            } else {
                format!(
                    "median over repetitions of the {metric} latency of all requests (cold and warm)"
                )
            };
            let mut series = sel.series_of(backend);
            if series.is_empty() {
                series.push(SeriesKey {
                    backend: backend.into(),
                    engine: if backend == Backend::Wasm {
                        Engine::REFERENCE.into()
                    } else {
                        String::new()
                    },
                    variant: default_variant.into(),
                    config: Config::Paper.into(),
                    workload: "azure-mix".into(),
                });
            }
            for key in series {
                let variant = &key.variant;
                let claim = Claim {
                    id: format!("{paper_id}-{variant}"),
                    paper_id: paper_id.clone(),
                    claim: format!("{label} ({backend} {variant})"),
                    short: format!(
                        "realistic, {} ({backend} {variant})",
                        label.trim_start_matches("Realistic workload, "),
                    ),
                    definition: definition.clone(),
                    kind,
                };
                let row = sel
                    .rows
                    .iter()
                    .find(|r| SeriesKey::of(r) == key && measured(r));
                let outcome = match row {
                    Some(r) => Ok(Measured {
                        value: med(r),
                        n: r.n,
                        setup: format!(
                            "{device}, {}, {} clients, {} config (n = {} repetition{})",
                            r.workload,
                            r.concurrency,
                            r.config,
                            r.n,
                            if r.n == 1 { "" } else { "s" }
                        ),
                    }),
                    None if !sel.any() => Err(format!("experiment {experiment} not in this run")),
                    None if sel.rows.iter().any(|r| SeriesKey::of(r) == key) => {
                        Err(format!("every {backend} {variant} repetition failed"))
                    }
                    None => Err(format!("no {backend} {variant} series")),
                };
                out.push(claim.row(device, outcome));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        (backend, variant): (Backend, Series),
        conc: u32,
        phase: &str,
        metric: &str,
        v: f64,
    ) -> SummaryRow {
        SummaryRow {
            experiment: Experiment::Capacity.into(),
            backend: backend.into(),
            engine: if backend == Backend::Wasm {
                "wasmtime".into()
            } else {
                String::new()
            },
            variant: variant.into(),
            config: Config::Default.into(),
            workload: "sleep".into(),
            device: "host".into(),
            concurrency: conc,
            phase: phase.into(),
            metric: metric.into(),
            unit: "count".into(),
            n: 1,
            failed: 0,
            mean: Some(v),
            median: Some(v),
            p90: Some(v),
            p99: Some(v),
            min: Some(v),
            max: Some(v),
            stddev: Some(0.0),
            ci95_low: Some(v),
            ci95_high: Some(v),
        }
    }

    /// Capacities found for wasm and docker, with the load steps each was tried at.
    fn capacity_rows(wasm: f64, docker: f64, steps: &[u32]) -> Vec<SummaryRow> {
        let mut rows = vec![
            row(WASM, 0, "max", "capacity", wasm),
            row(DOCKER, 0, "max", "capacity", docker),
        ];
        for &s in steps {
            rows.push(row(WASM, s, "step", "throughput", 1.0));
            rows.push(row(DOCKER, s, "step", "throughput", 1.0));
        }
        rows
    }

    fn capacity_headline(rows: &[SummaryRow]) -> Headline {
        headlines(rows, "host")
            .into_iter()
            .find(|h| h.id == "capacity")
            .unwrap()
    }

    #[test]
    fn capacity_is_a_plain_ratio_when_both_sides_hit_the_bound() {
        let h = capacity_headline(&capacity_rows(400.0, 100.0, &[100, 200, 400, 800]));
        assert_eq!(h.kind, Kind::Ratio);
        assert_eq!(h.value, Some(4.0));
        assert!(!h.display().starts_with('≥'), "{}", h.display());
    }

    #[test]
    fn capacity_is_a_lower_bound_when_wasm_held_at_every_step() {
        let h = capacity_headline(&capacity_rows(800.0, 100.0, &[100, 200, 400, 800]));
        assert_eq!(h.kind, Kind::RatioAtLeast);
        assert_eq!(h.value, Some(8.0));
        assert!(h.display().starts_with("≥ "), "{}", h.display());
        assert!(h.setup.contains("≥ 800"), "{}", h.setup);
    }

    #[test]
    fn capacity_is_missing_when_docker_held_at_every_step() {
        let h = capacity_headline(&capacity_rows(800.0, 800.0, &[100, 200, 400, 800]));
        assert_eq!(h.value, None);
        assert!(
            h.missing.as_deref().unwrap().contains("raise the steps"),
            "{h:?}"
        );
    }

    #[test]
    fn mixed_throughput_averages_over_the_papers_client_range() {
        let mut rows = Vec::new();
        // Ratios 2× at 2 and 8 clients (inside the paper's 2–10), 10× at 1 and 64 (outside).
        for (clients, ratio) in [(1, 10.0), (2, 2.0), (8, 2.0), (64, 10.0)] {
            for (series, v) in [(WASM, ratio), (DOCKER, 1.0)] {
                let mut r = row(series, clients, "warm", "throughput", v);
                r.experiment = Experiment::Throughput.into();
                r.workload = "mixed".into();
                r.config = Config::Paper.into();
                rows.push(r);
            }
        }
        let h = headlines(&rows, "host")
            .into_iter()
            .find(|h| h.id == "throughput-mixed-paper")
            .unwrap();
        assert_eq!(h.value, Some(2.0), "{h:?}");
        assert!(h.setup.contains("2 client levels (2, 8)"), "{}", h.setup);
    }

    /// Rows of one experiment, phase and metric: `(series, level, median)`.
    fn rows_of(
        experiment: Experiment,
        workload: &str,
        config: Config,
        phase: &str,
        metric: &str,
        points: &[((Backend, Series), u32, f64)],
    ) -> Vec<SummaryRow> {
        points
            .iter()
            .map(|&(series, level, v)| {
                let mut r = row(series, level, phase, metric, v);
                r.experiment = experiment.into();
                r.workload = workload.into();
                r.config = config.into();
                r
            })
            .collect()
    }

    fn find(rows: &[SummaryRow], id: &str) -> Headline {
        headlines(rows, "host")
            .into_iter()
            .find(|h| h.id == id)
            .unwrap_or_else(|| panic!("no headline {id}"))
    }

    #[test]
    fn cpu_throughput_is_the_median_ratio_over_the_saturated_levels() {
        // Wasm reaches 18 or more (90% of 20) from 2 clients on, Docker 9 or more (of 10) from 2
        // on: levels 2, 4 and 8 are saturated, with ratios 1.9, 2.1 and 2.0; level 1 (2×) is not.
        let rows = rows_of(
            Experiment::Throughput,
            "hash",
            Config::Fair,
            "warm",
            "throughput",
            &[
                (WASM, 1, 10.0),
                (WASM, 2, 19.0),
                (WASM, 4, 21.0),
                (WASM, 8, 20.0),
                (DOCKER, 1, 5.0),
                (DOCKER, 2, 10.0),
                (DOCKER, 4, 10.0),
                (DOCKER, 8, 10.0),
            ],
        );
        let h = find(&rows, "throughput-cpu-fair");
        assert!((h.value.unwrap() - 2.0).abs() < 1e-9, "{h:?}");
        assert!(
            h.setup.contains("3 saturated client levels (2, 4, 8)"),
            "{}",
            h.setup
        );
    }

    #[test]
    fn mixed_throughput_has_an_all_levels_row_beside_the_papers() {
        let mut points = Vec::new();
        for (clients, ratio) in [(1, 10.0), (2, 2.0), (8, 2.0), (64, 10.0)] {
            points.push((WASM, clients, ratio));
            points.push((DOCKER, clients, 1.0));
        }
        let rows = rows_of(
            Experiment::Throughput,
            "mixed",
            Config::Paper,
            "warm",
            "throughput",
            &points,
        );
        assert_eq!(find(&rows, "throughput-mixed-paper").value, Some(2.0));
        let all = find(&rows, "throughput-mixed-paper-all");
        assert_eq!(all.value, Some(6.0), "{all:?}");
        assert_eq!(all.paper_id, "throughput-mixed-paper-all");
    }

    #[test]
    fn a_level_not_steady_is_left_out_of_the_throughput_headlines() {
        let mut points = Vec::new();
        for (clients, ratio) in [(2, 2.0), (8, 4.0)] {
            points.push((WASM, clients, ratio));
            points.push((DOCKER, clients, 1.0));
        }
        let mut rows = rows_of(
            Experiment::Throughput,
            "mixed",
            Config::Paper,
            "warm",
            "throughput",
            &points,
        );
        // Docker's window at 8 clients hit its ceiling in one of its two repetitions.
        let steady: Vec<_> = [
            (WASM, 2, 1.0),
            (DOCKER, 2, 1.0),
            (WASM, 8, 1.0),
            (DOCKER, 8, 0.0),
        ]
        .into_iter()
        .collect();
        let mut marks = rows_of(
            Experiment::Throughput,
            "mixed",
            Config::Paper,
            "warm",
            "steady",
            &steady,
        );
        for r in &mut marks {
            r.unit = Metric::Steady.unit().as_str().into();
        }
        rows.extend(marks);
        let h = find(&rows, "throughput-mixed-paper-all");
        assert_eq!(h.value, Some(2.0), "{h:?}");
        assert!(
            h.setup.contains("not steady, left out: 8 clients"),
            "{}",
            h.setup
        );
        // Without the marks (a run from before windows adapted) both levels count.
        rows.retain(|r| r.metric != "steady");
        assert_eq!(find(&rows, "throughput-mixed-paper-all").value, Some(3.0));
    }

    #[test]
    fn marginal_cost_is_the_slope_over_ten_sandboxes_and_more() {
        // Memory in use 20 + N from N = 10 on; the point at N = 1 (executor-heavy) is left out.
        let (slope, levels) =
            marginal_slope(&[(1, 50.0), (10, 30.0), (20, 40.0), (50, 70.0)]).unwrap();
        assert!((slope - 1.0).abs() < 1e-12);
        assert_eq!(levels, [10, 20, 50]);
        // Fewer than two levels reach ten: all of them.
        let (slope, levels) = marginal_slope(&[(1, 5.0), (5, 9.0)]).unwrap();
        assert!((slope - 1.0).abs() < 1e-12);
        assert_eq!(levels, [1, 5]);
        assert!(marginal_slope(&[(10, 5.0)]).is_none());
        // As a headline: per sandbox 3 + 20/N MiB for Wasm (slope 3), 12 for Docker (slope 12).
        let mib = 1048576.0;
        let mut points = Vec::new();
        for n in [1u32, 10, 20, 50] {
            points.push((
                (Backend::Wasm, Series::Distinct),
                n,
                (3.0 + 20.0 / n as f64) * mib,
            ));
            points.push((DOCKER, n, 12.0 * mib));
        }
        let rows = rows_of(
            Experiment::Memory,
            "hash",
            Config::Default,
            "paper",
            "memory_per_sandbox",
            &points,
        );
        let h = find(&rows, "memory-marginal-paper-distinct");
        assert!((h.value.unwrap() - 4.0).abs() < 1e-9, "{h:?}");
        assert!(h.setup.contains("N = 10, 20, 50"), "{}", h.setup);
        // The paper's method, at the largest N, gives 12 ÷ 3.4 instead.
        let paper = find(&rows, "memory-paper-distinct");
        assert!(
            (paper.value.unwrap() - 12.0 / 3.4).abs() < 1e-9,
            "{paper:?}"
        );
    }

    #[test]
    fn cold_start_is_also_compared_with_dockers_better_modes() {
        let prestarted = (Backend::Docker, Series::Prestarted);
        let rows = rows_of(
            Experiment::ColdStart,
            "hash",
            Config::Default,
            "cold_start",
            "latency",
            &[
                (WASM, 1, 500.0),
                (DOCKER, 1, 100_000.0),
                (prestarted, 1, 1_000.0),
            ],
        );
        let low = find(&rows, "cold-start-low").value.unwrap();
        assert!((low + 0.995).abs() < 1e-12, "{low}");
        let h = find(&rows, "cold-start-low-prestarted");
        assert!((h.value.unwrap() + 0.5).abs() < 1e-12, "{h:?}");
        assert_eq!(h.paper_id, "cold-start-low-prestarted");
        assert!(
            !headlines(&rows, "host")
                .iter()
                .any(|h| h.id.ends_with("-host-net")),
            "no row for a series the run does not have"
        );
    }

    #[test]
    fn the_system_method_has_its_own_rows() {
        let mib = 1048576.0;
        let rows = rows_of(
            Experiment::Memory,
            "hash",
            Config::Default,
            "system",
            "memory_per_sandbox",
            &[
                ((Backend::Wasm, Series::Distinct), 10, 0.5 * mib),
                ((Backend::Wasm, Series::Distinct), 100, 0.5 * mib),
                (DOCKER, 10, 9.0 * mib),
                (DOCKER, 100, 9.0 * mib),
            ],
        );
        assert_eq!(find(&rows, "memory-system-distinct").value, Some(18.0));
        let marginal = find(&rows, "memory-marginal-system-distinct")
            .value
            .unwrap();
        assert!((marginal - 18.0).abs() < 1e-9, "{marginal}");
        assert_eq!(find(&rows, "memory-paper-distinct").value, None);
    }

    #[test]
    fn the_system_method_is_not_read_at_few_sandboxes_nor_below_zero() {
        let mib = 1048576.0;
        let rows = |n: u32, wasm: f64| {
            rows_of(
                Experiment::Memory,
                "hash",
                Config::Default,
                "system",
                "memory_per_sandbox",
                &[
                    ((Backend::Wasm, Series::Distinct), 1, 0.5 * mib),
                    ((Backend::Wasm, Series::Distinct), n, wasm * mib),
                    (DOCKER, 1, 9.0 * mib),
                    (DOCKER, n, 9.0 * mib),
                ],
            )
        };
        let few = find(&rows(5, 0.5), "memory-system-distinct");
        assert_eq!(few.value, None);
        assert!(
            few.missing
                .as_deref()
                .unwrap()
                .contains("from 10 sandboxes on")
        );
        let below = find(&rows(50, -0.2), "memory-system-distinct");
        assert_eq!(below.value, None);
        assert!(
            below.missing.as_deref().unwrap().contains("not above zero"),
            "{below:?}"
        );
        assert_eq!(
            find(&rows(50, 0.5), "memory-system-distinct").value,
            Some(18.0)
        );
    }
}
