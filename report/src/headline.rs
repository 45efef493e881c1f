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
//! - `memory-{paper,full}-{distinct,shared}`: `median(memory_per_sandbox, docker create-start,
//!   N) / median(memory_per_sandbox, wasm V, N)`, experiment `memory`, phase = the method
//!   (`paper` or `full`), `N` the largest number of sandboxes both series measured. Above 1 means
//!   a Wasm sandbox costs less.
//! - `throughput-mixed-{paper,fair}`: the mean, over the client levels `c` both backends
//!   measured within the paper's range (2–10 clients; every level both measured when none falls
//!   in it), of `median(throughput, wasm precompiled, c) / median(throughput, docker
//!   create-start, c)`; experiment `throughput`, workload `mixed`, phase `warm`, the named config.
//!   This is the paper's method (mean of per-level ratios over 2–10 clients); the levels beyond
//!   it are in the throughput section and chart.
//! - `throughput-cpu-{paper,fair}`: `median(throughput, wasm precompiled, C) / median(throughput,
//!   docker create-start, C)`, workload `hash`, phase `warm`, at the largest client level `C`
//!   both measured (the paper compared at saturation).
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

use wow_records::SummaryRow;

use crate::data::{SeriesKey, measured};
use crate::fmt;

const WASM: &str = "wasm";
const DOCKER: &str = "docker";
const WASM_DEFAULT: &str = "precompiled";
const DOCKER_DEFAULT: &str = "create-start";
/// The client levels the paper averaged its mixed-throughput ratio over.
const PAPER_MIXED_LEVELS: std::ops::RangeInclusive<u32> = 2..=10;

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// Stable id; the paper's value for it is the `[[claim]]` with this id in `paper.toml`
    /// (per-backend ids end in the backend: `realistic-p50-docker`).
    pub id: String,
    /// The paper claim this row is compared with.
    pub paper_id: String,
    pub device: String,
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
    /// This run's setup behind the value (device, workload, levels, n).
    pub setup: String,
    /// Why the value is absent.
    pub missing: Option<String>,
}

impl Headline {
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
            },
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

/// Measured summary rows of one device, experiment, phase and metric.
struct Sel<'a> {
    rows: Vec<&'a SummaryRow>,
}

impl<'a> Sel<'a> {
    fn new(
        summary: &'a [SummaryRow],
        device: &str,
        experiment: &str,
        phase: &str,
        metric: &str,
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
    fn workload(mut self, preferred: &str) -> (Sel<'a>, Option<String>) {
        let all: BTreeSet<&str> = self.rows.iter().map(|r| r.workload.as_str()).collect();
        let pick = if all.contains(preferred) {
            Some(preferred.to_string())
        } else {
            all.iter().next().map(|s| s.to_string())
        };
        if let Some(w) = &pick {
            self.rows.retain(|r| &r.workload == w);
        }
        (self, pick)
    }

    fn config(mut self, config: &str) -> Sel<'a> {
        self.rows.retain(|r| r.config == config);
        self
    }

    fn any(&self) -> bool {
        !self.rows.is_empty()
    }

    fn has_series(&self, backend: &str, variant: &str) -> bool {
        self.rows
            .iter()
            .any(|r| r.backend == backend && r.variant == variant)
    }

    /// Measured rows of one series by level.
    fn levels(&self, backend: &str, variant: &str) -> BTreeMap<u32, &'a SummaryRow> {
        self.rows
            .iter()
            .filter(|r| r.backend == backend && r.variant == variant && measured(r))
            .map(|r| (r.concurrency, *r))
            .collect()
    }

    /// Series of one backend present (measured or not), in presentation order.
    fn series_of(&self, backend: &str) -> Vec<SeriesKey> {
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
}

/// Levels both series measured, ascending.
fn common<'a>(
    a: &BTreeMap<u32, &'a SummaryRow>,
    b: &BTreeMap<u32, &'a SummaryRow>,
) -> Vec<(u32, &'a SummaryRow, &'a SummaryRow)> {
    a.iter()
        .filter_map(|(l, ra)| b.get(l).map(|rb| (*l, *ra, *rb)))
        .collect()
}

fn med(r: &SummaryRow) -> f64 {
    r.median.unwrap_or(f64::NAN)
}

/// Why a comparison of two series cannot be made.
fn why_missing(sel: &Sel, experiment: &str, a: (&str, &str), b: (&str, &str)) -> String {
    if !sel.any() {
        return format!("experiment {experiment} not in this run");
    }
    for (backend, variant) in [a, b] {
        if !sel.has_series(backend, variant) {
            return format!("no {backend} {variant} series");
        }
        if sel.levels(backend, variant).is_empty() {
            return format!("every {backend} {variant} measurement failed");
        }
    }
    "no level measured by both series".to_string()
}

#[allow(clippy::too_many_arguments)]
fn missing(
    id: &str,
    paper_id: &str,
    device: &str,
    claim: String,
    short: String,
    definition: &str,
    kind: Kind,
    why: String,
) -> Headline {
    Headline {
        id: id.to_string(),
        paper_id: paper_id.to_string(),
        device: device.to_string(),
        claim,
        short,
        definition: definition.to_string(),
        kind,
        value: None,
        setup: String::new(),
        missing: Some(why),
    }
}

/// This run's headline values for `device`, in the report's order. Every claim gets a row; a
/// value that cannot be computed is `None` with the reason.
pub fn headlines(summary: &[SummaryRow], device: &str) -> Vec<Headline> {
    let mut out = Vec::new();
    cold_start(summary, device, &mut out);
    memory(summary, device, &mut out);
    throughput(summary, device, &mut out);
    capacity(summary, device, &mut out);
    realistic(summary, device, &mut out);
    out
}

fn cold_start(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    let (sel, workload) =
        Sel::new(summary, device, "cold-start", "cold_start", "latency").workload("hash");
    let workload = workload.unwrap_or_else(|| "hash".into());
    let docker = sel.levels(DOCKER, DOCKER_DEFAULT);
    for (variant, prefix) in [
        (WASM_DEFAULT, "cold-start"),
        ("compile", "cold-start-compile"),
    ] {
        let wasm = sel.levels(WASM, variant);
        let both = common(&wasm, &docker);
        for (suffix, which) in [("low", "lowest"), ("high", "highest")] {
            let id = format!("{prefix}-{suffix}");
            let claim =
                format!("Cold start, {which} level (wasm {variant} vs docker {DOCKER_DEFAULT})");
            let short = format!("cold start, {which} level ({variant})");
            let definition = format!(
                "median cold start (provision + init) of wasm {variant} ÷ that of docker \
                 {DOCKER_DEFAULT} − 1, at the {which} concurrency level both measured"
            );
            let pick = if suffix == "low" {
                both.first()
            } else {
                both.last()
            };
            match pick {
                Some((level, w, d)) => out.push(Headline {
                    id: id.clone(),
                    paper_id: id,
                    device: device.to_string(),
                    claim,
                    short: short.clone(),
                    definition,
                    kind: Kind::Change,
                    value: Some(med(w) / med(d) - 1.0),
                    setup: format!(
                        "{device}, {workload}, {level} concurrent: {} vs {} (medians, n = {} / {})",
                        fmt::duration_us(med(w)),
                        fmt::duration_us(med(d)),
                        w.n,
                        d.n
                    ),
                    missing: None,
                }),
                None => out.push(missing(
                    &id,
                    &id,
                    device,
                    claim,
                    short.clone(),
                    &definition,
                    Kind::Change,
                    why_missing(
                        &sel,
                        "cold-start",
                        (WASM, variant),
                        (DOCKER, DOCKER_DEFAULT),
                    ),
                )),
            }
        }
    }
}

fn memory(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    for method in ["paper", "full"] {
        let (sel, workload) =
            Sel::new(summary, device, "memory", method, "memory_per_sandbox").workload("hash");
        let workload = workload.unwrap_or_else(|| "hash".into());
        let docker = sel.levels(DOCKER, DOCKER_DEFAULT);
        for variant in ["distinct", "shared"] {
            let id = format!("memory-{method}-{variant}");
            let claim = format!(
                "Memory per warm sandbox, {method} method (docker {DOCKER_DEFAULT} ÷ wasm {variant})"
            );
            let short = format!("memory per sandbox, {method} method ({variant})");
            let definition = format!(
                "median memory per sandbox ({method} method) of docker {DOCKER_DEFAULT} ÷ that \
                 of wasm {variant}, at the largest number of sandboxes both measured"
            );
            let wasm = sel.levels(WASM, variant);
            match common(&wasm, &docker).last() {
                Some((n, w, d)) => out.push(Headline {
                    id: id.clone(),
                    paper_id: id,
                    device: device.to_string(),
                    claim,
                    short: short.clone(),
                    definition,
                    kind: Kind::Ratio,
                    value: Some(med(d) / med(w)),
                    setup: format!(
                        "{device}, {workload}, {n} sandboxes: {} vs {} (medians, n = {} / {})",
                        fmt::mib(med(d)),
                        fmt::mib(med(w)),
                        d.n,
                        w.n
                    ),
                    missing: None,
                }),
                None => out.push(missing(
                    &id,
                    &id,
                    device,
                    claim,
                    short.clone(),
                    &definition,
                    Kind::Ratio,
                    why_missing(&sel, "memory", (WASM, variant), (DOCKER, DOCKER_DEFAULT)),
                )),
            }
        }
    }
}

fn throughput(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    for config in ["paper", "fair"] {
        let id = format!("throughput-mixed-{config}");
        let claim = format!(
            "Throughput, mixed workload, {config} config (wasm {WASM_DEFAULT} ÷ docker {DOCKER_DEFAULT})"
        );
        let short = format!("throughput, mixed, {config} config");
        let definition = format!(
            "mean over the client levels both backends measured within the paper's range \
             ({}–{} clients; all levels when none is in it) of the per-level ratio of median \
             throughputs, wasm {WASM_DEFAULT} ÷ docker {DOCKER_DEFAULT}, workload mixed, \
             {config} config (the paper's method)",
            PAPER_MIXED_LEVELS.start(),
            PAPER_MIXED_LEVELS.end()
        );
        let all = Sel::new(summary, device, "throughput", "warm", "throughput").config(config);
        let sel = Sel {
            rows: all
                .rows
                .into_iter()
                .filter(|r| r.workload == "mixed")
                .collect(),
        };
        let w = sel.levels(WASM, WASM_DEFAULT);
        let d = sel.levels(DOCKER, DOCKER_DEFAULT);
        let mut both = common(&w, &d);
        if both.iter().any(|(l, _, _)| PAPER_MIXED_LEVELS.contains(l)) {
            both.retain(|(l, _, _)| PAPER_MIXED_LEVELS.contains(l));
        }
        if both.is_empty() {
            out.push(missing(
                &id,
                &id,
                device,
                claim,
                short.clone(),
                &definition,
                Kind::Ratio,
                why_missing(
                    &sel,
                    &format!("throughput (mixed, {config})"),
                    (WASM, WASM_DEFAULT),
                    (DOCKER, DOCKER_DEFAULT),
                ),
            ));
        } else {
            let ratios: Vec<f64> = both.iter().map(|(_, w, d)| med(w) / med(d)).collect();
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            let levels: Vec<String> = both.iter().map(|(l, _, _)| l.to_string()).collect();
            let per: Vec<String> = ratios.iter().map(|r| fmt::ratio(*r)).collect();
            out.push(Headline {
                id: id.clone(),
                paper_id: id,
                device: device.to_string(),
                claim,
                short: short.clone(),
                definition,
                kind: Kind::Ratio,
                value: Some(mean),
                setup: format!(
                    "{device}, mixed, {config} config, mean over {} client levels ({}): {}",
                    both.len(),
                    levels.join(", "),
                    per.join(", ")
                ),
                missing: None,
            });
        }
    }
    for config in ["paper", "fair"] {
        let id = format!("throughput-cpu-{config}");
        let claim = format!(
            "Throughput, CPU-bound hash, {config} config (wasm {WASM_DEFAULT} ÷ docker {DOCKER_DEFAULT})"
        );
        let short = format!("throughput, hash, {config} config");
        let definition = format!(
            "median throughput of wasm {WASM_DEFAULT} ÷ that of docker {DOCKER_DEFAULT}, \
             workload hash, {config} config, at the largest client level both measured"
        );
        let all = Sel::new(summary, device, "throughput", "warm", "throughput").config(config);
        let sel = Sel {
            rows: all
                .rows
                .into_iter()
                .filter(|r| r.workload == "hash")
                .collect(),
        };
        let w = sel.levels(WASM, WASM_DEFAULT);
        let d = sel.levels(DOCKER, DOCKER_DEFAULT);
        match common(&w, &d).last() {
            Some((c, w, d)) => out.push(Headline {
                id: id.clone(),
                paper_id: id,
                device: device.to_string(),
                claim,
                short: short.clone(),
                definition,
                kind: Kind::Ratio,
                value: Some(med(w) / med(d)),
                setup: format!(
                    "{device}, hash, {config} config, {c} clients: {} vs {} req/s (medians, n = {} / {})",
                    fmt::sig3(med(w)),
                    fmt::sig3(med(d)),
                    w.n,
                    d.n
                ),
                missing: None,
            }),
            None => out.push(missing(
                &id,
                &id,
                device,
                claim,
                short.clone(),
                &definition,
                Kind::Ratio,
                why_missing(
                    &sel,
                    &format!("throughput (hash, {config})"),
                    (WASM, WASM_DEFAULT),
                    (DOCKER, DOCKER_DEFAULT),
                ),
            )),
        }
    }
}

fn capacity(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    let id = "capacity";
    let claim = "Capacity at the latency bound (wasm ÷ docker)".to_string();
    let short = "capacity at the latency bound".to_string();
    let definition = "median capacity found (in-flight sleep invocations sustained with p99 \
                      within the bound and memory within the budget) of wasm ÷ that of docker";
    let sel = Sel::new(summary, device, "capacity", "max", "capacity");
    let pick = |backend: &str| {
        sel.rows
            .iter()
            .filter(|r| r.backend == backend)
            .min_by_key(|r| SeriesKey::of(r).order())
            .copied()
    };
    let (w, d) = (pick(WASM), pick(DOCKER));
    // A capacity equal to the largest step tried held at every step: only a lower bound.
    let largest_step = |backend: &str| {
        summary
            .iter()
            .filter(|r| {
                r.device == device
                    && r.experiment == "capacity"
                    && r.phase == "step"
                    && r.metric == "throughput"
                    && r.backend == backend
            })
            .map(|r| r.concurrency)
            .max()
    };
    let held_everywhere =
        |r: &SummaryRow| largest_step(&r.backend).is_some_and(|top| med(r) >= top as f64);
    let value = match (w, d) {
        (Some(w), Some(d)) if measured(w) && measured(d) && !held_everywhere(d) => Some((w, d)),
        _ => None,
    };
    match value {
        Some((w, d)) => out.push(Headline {
            id: id.into(),
            paper_id: id.into(),
            device: device.to_string(),
            claim,
            short: short.clone(),
            definition: definition.into(),
            kind: if held_everywhere(w) {
                Kind::RatioAtLeast
            } else {
                Kind::Ratio
            },
            value: Some(med(w) / med(d)),
            setup: format!(
                "{device}, {}: {}{} vs {} in flight (medians, n = {} / {})",
                w.workload,
                if held_everywhere(w) { "≥ " } else { "" },
                fmt::sig3(med(w)),
                fmt::sig3(med(d)),
                w.n,
                d.n
            ),
            missing: None,
        }),
        None => {
            let why = if !sel.any() {
                "experiment capacity not in this run".to_string()
            } else {
                match (w, d) {
                    (None, _) => "no wasm capacity series".into(),
                    (_, None) => "no docker capacity series".into(),
                    (Some(w), _) if !measured(w) => "wasm held at no load step".into(),
                    (_, Some(d)) if !measured(d) => "docker held at no load step".into(),
                    _ => "docker held at every load step tried: raise the steps".into(),
                }
            };
            out.push(missing(
                id,
                id,
                device,
                claim,
                short,
                definition,
                Kind::Ratio,
                why,
            ))
        }
    }
}

fn realistic(summary: &[SummaryRow], device: &str, out: &mut Vec<Headline>) {
    let (p50, _) =
        Sel::new(summary, device, "realistic", "all", "latency_p50").workload("azure-mix");
    let (p99, _) =
        Sel::new(summary, device, "realistic", "all", "latency_p99").workload("azure-mix");
    let (cold, _) =
        Sel::new(summary, device, "realistic", "all", "cold_fraction").workload("azure-mix");
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
        for (backend, default_variant) in [(WASM, WASM_DEFAULT), (DOCKER, DOCKER_DEFAULT)] {
            let paper_id = if metric == "cold" {
                format!("cold-fraction-{backend}")
            } else {
                format!("realistic-{metric}-{backend}")
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
                    variant: default_variant.into(),
                    config: "paper".into(),
                    workload: "azure-mix".into(),
                });
            }
            for key in series {
                let id = format!("{paper_id}-{}", key.variant);
                let claim = format!("{label} ({backend} {})", key.variant);
                let short = format!(
                    "realistic, {} ({backend} {})",
                    label.trim_start_matches("Realistic workload, "),
                    key.variant
                );
                let row = sel
                    .rows
                    .iter()
                    .find(|r| SeriesKey::of(r) == key && measured(r));
                match row {
                    Some(r) => out.push(Headline {
                        id,
                        paper_id: paper_id.clone(),
                        device: device.to_string(),
                        claim,
                        short: short.clone(),
                        definition: definition.clone(),
                        kind,
                        value: r.median,
                        setup: format!(
                            "{device}, {}, {} clients, {} config (n = {} repetition{})",
                            r.workload,
                            r.concurrency,
                            r.config,
                            r.n,
                            if r.n == 1 { "" } else { "s" }
                        ),
                        missing: None,
                    }),
                    None => {
                        let why = if !sel.any() {
                            "experiment realistic not in this run".to_string()
                        } else if sel.has_series(backend, &key.variant) {
                            format!("every {backend} {} repetition failed", key.variant)
                        } else {
                            format!("no {backend} {} series", key.variant)
                        };
                        out.push(missing(
                            &id,
                            &paper_id,
                            device,
                            claim,
                            short,
                            &definition,
                            kind,
                            why,
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        backend: &str,
        variant: &str,
        conc: u32,
        phase: &str,
        metric: &str,
        v: f64,
    ) -> SummaryRow {
        SummaryRow {
            experiment: "capacity".into(),
            backend: backend.into(),
            variant: variant.into(),
            config: "default".into(),
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
            row(WASM, "precompiled", 0, "max", "capacity", wasm),
            row(DOCKER, "create-start", 0, "max", "capacity", docker),
        ];
        for &s in steps {
            rows.push(row(WASM, "precompiled", s, "step", "throughput", 1.0));
            rows.push(row(DOCKER, "create-start", s, "step", "throughput", 1.0));
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
            for (backend, variant, v) in
                [(WASM, "precompiled", ratio), (DOCKER, "create-start", 1.0)]
            {
                let mut r = row(backend, variant, clients, "warm", "throughput", v);
                r.experiment = "throughput".into();
                r.workload = "mixed".into();
                r.config = "paper".into();
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
}
