//! The report's charts: which exist for a device (only those with measured data), what they
//! show, and their files (`<id>-<device>.png` and `.svg`).

pub mod axis;
pub mod draw;
pub mod figure;

use std::collections::{BTreeMap, BTreeSet};

use plotters::style::RGBColor;
use wow_records::SummaryRow;

use crate::data::{Dataset, SeriesKey, Vary, by_series, measured, meta_device_name};
use crate::fmt;
use crate::paper::paper;
use axis::{Axis, TickFmt};
use figure::{
    Figure, GroupedPanel, HBar, HBarPanel, HLine, LegendEntry, LegendStyle, Line, Mark, Marker,
    Panel, XyPanel,
};

/// A chart to draw: its id (file stem without the device), the experiment it belongs to, and
/// the figure.
#[derive(Debug, Clone)]
pub struct ChartSpec {
    pub id: &'static str,
    pub experiment: &'static str,
    pub title: String,
    pub figure: Figure,
}

impl ChartSpec {
    /// The file stem: `cold-start-host`.
    pub fn stem(&self, device: &str) -> String {
        format!("{}-{}", self.id, device)
    }
}

/// Colour and marker of a series, stable across charts: Wasm in blues and greens, Docker in
/// reds, oranges and purples.
pub fn series_style(backend: &str, variant: &str) -> (RGBColor, Marker) {
    match (backend, variant) {
        ("wasm", "precompiled") | ("wasm", "in-process") | ("wasm", "distinct") => {
            (RGBColor(31, 119, 180), Marker::Circle)
        }
        ("wasm", "compile") => (RGBColor(23, 162, 184), Marker::Square),
        ("wasm", "shared") => (RGBColor(44, 160, 44), Marker::Square),
        ("wasm", _) => (RGBColor(60, 90, 160), Marker::Circle),
        ("docker", "create-start") => (RGBColor(214, 39, 40), Marker::Triangle),
        ("docker", "prestarted") => (RGBColor(255, 127, 14), Marker::Square),
        ("docker", "host-net") => (RGBColor(148, 103, 189), Marker::Circle),
        ("docker", "actionloop") => (RGBColor(140, 86, 75), Marker::Cross),
        ("docker", _) => (RGBColor(190, 60, 120), Marker::Triangle),
        _ => (RGBColor(100, 100, 100), Marker::Cross),
    }
}

const PAPER_DOCKER: RGBColor = RGBColor(200, 110, 110);
const PAPER_WASM: RGBColor = RGBColor(100, 130, 185);
const PAPER_GREY: RGBColor = draw::PAPER_GREY;

/// The standard line of a series: mean per level, 95% CI band where n > 1.
fn mean_line(key: &SeriesKey, label: String, rows: &[&SummaryRow], scale: f64) -> Line {
    let (color, marker) = series_style(&key.backend, &key.variant);
    let rows: Vec<&&SummaryRow> = rows.iter().filter(|r| measured(r)).collect();
    Line {
        label,
        color,
        marker,
        dashed: false,
        width: 3,
        points: rows
            .iter()
            .filter_map(|r| r.mean.map(|m| (r.concurrency as f64, m * scale)))
            .collect(),
        band: rows
            .iter()
            .filter(|r| r.n > 1)
            .filter_map(|r| match (r.ci95_low, r.ci95_high) {
                (Some(a), Some(b)) => Some((r.concurrency as f64, a * scale, b * scale)),
                _ => None,
            })
            .collect(),
    }
}

fn line_values(lines: &[Line]) -> Vec<f64> {
    lines
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .map(|p| p.1)
                .chain(l.band.iter().flat_map(|b| [b.1, b.2]))
        })
        .collect()
}

fn line_levels(lines: &[Line]) -> Vec<u32> {
    lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0.round() as u32))
        .collect()
}

/// Every chart with data for `device`, in the report's order.
pub fn charts_for(ds: &Dataset, device: &str) -> Vec<ChartSpec> {
    let mut v = Vec::new();
    v.extend(ladder(ds, device));
    v.extend(cold_start(ds, device));
    v.extend(cold_start_phases(ds, device));
    v.extend(memory(ds, device));
    v.extend(module_size(ds, device));
    v.extend(throughput(ds, device));
    v.extend(capacity(ds, device));
    v.extend(realistic(ds, device));
    v
}

/// The chart ids each experiment can have.
pub fn chart_ids(experiment: &str) -> &'static [&'static str] {
    match experiment {
        "ladder" => &["ladder"],
        "cold-start" => &["cold-start", "cold-start-phases"],
        "memory" => &["memory", "module-size"],
        "throughput" => &["throughput"],
        "capacity" => &["capacity"],
        "realistic" => &["realistic-ecdf"],
        _ => &[],
    }
}

fn device_note(ds: &Dataset, device: &str) -> String {
    let name = ds
        .meta_for(device)
        .and_then(meta_device_name)
        .unwrap_or_else(|| device.to_string());
    if name == "host" {
        "device: host (no limits)".to_string()
    } else {
        format!("device: {name} (emulated by cgroup limits)")
    }
}

fn cold_start(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let rows: Vec<&SummaryRow> = ds
        .rows(device, "cold-start")
        .filter(|r| r.phase == "cold_start" && r.metric == "latency")
        .collect();
    if !rows.iter().any(|r| measured(r)) {
        return None;
    }
    let groups = by_series(rows.iter().copied());
    let vary = Vary::of(groups.iter().map(|(k, _)| k));
    let mut lines: Vec<Line> = groups
        .iter()
        .filter(|(_, r)| r.iter().any(|r| measured(r)))
        .map(|(k, r)| mean_line(k, k.label(vary), r, 1.0))
        .collect();
    let levels = line_levels(&lines);
    let (lo, hi) = (
        levels.iter().min().copied().unwrap_or(1),
        levels.iter().max().copied().unwrap_or(1),
    );
    let f = &paper().figures.cold_start;
    let in_range: Vec<usize> = (0..f.concurrent.len())
        .filter(|i| f.concurrent[*i] >= lo && f.concurrent[*i] <= hi)
        .collect();
    if !in_range.is_empty() {
        for (label, color, values) in [
            (
                format!("paper: Docker ({}, fig.)", paper().device_label(&f.device)),
                PAPER_DOCKER,
                &f.docker_ms,
            ),
            (
                format!(
                    "paper: {} ({}, fig.)",
                    paper().setup.wasm_runtime,
                    paper().device_label(&f.device)
                ),
                PAPER_WASM,
                &f.wasmtime_ms,
            ),
        ] {
            lines.push(Line {
                label,
                color,
                marker: Marker::Cross,
                dashed: true,
                width: 2,
                points: in_range
                    .iter()
                    .map(|i| (f.concurrent[*i] as f64, values[*i] * 1000.0))
                    .collect(),
                band: vec![],
            });
        }
    }
    let workloads: BTreeSet<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
    let y = Axis::log(
        line_values(&lines),
        TickFmt::DurationUs,
        "cold start: provision + init (log scale)",
    );
    let x = Axis::levels(&levels, "concurrent cold starts");
    let legend = lines.iter().map(LegendEntry::of_line).collect();
    Some(ChartSpec {
        id: "cold-start",
        experiment: "cold-start",
        title: "Cold start vs concurrent cold starts".into(),
        figure: Figure {
            title: "Cold start vs concurrent cold starts".into(),
            subtitle: format!(
                "workload {} · {} · lines: mean per level, shaded: 95% CI of the mean · dashed: the paper",
                workloads.into_iter().collect::<Vec<_>>().join(", "),
                device_note(ds, device)
            ),
            size: (1400, 860),
            columns: 1,
            panels: vec![Panel::Xy(XyPanel {
                title: String::new(),
                x,
                y,
                lines,
                hlines: vec![],
                marks: vec![],
            })],
            legend,
        },
    })
}

pub const PHASES: [(&str, &str, RGBColor); 3] = [
    ("provision", "provision", RGBColor(148, 103, 189)),
    ("init", "init", RGBColor(255, 127, 14)),
    ("first_run", "first run", RGBColor(44, 160, 44)),
];

fn cold_start_phases(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let rows: Vec<&SummaryRow> = ds
        .rows(device, "cold-start")
        .filter(|r| r.metric == "latency" && PHASES.iter().any(|p| p.0 == r.phase))
        .collect();
    if !rows.iter().any(|r| measured(r)) {
        return None;
    }
    let groups = by_series(rows.iter().copied());
    let vary = Vary::of(groups.iter().map(|(k, _)| k));
    let mut panels = Vec::new();
    let mut max_rows = 0;
    for backend in ["wasm", "docker"] {
        let mut bars = Vec::new();
        for (k, rs) in groups.iter().filter(|(k, _)| k.backend == backend) {
            let levels: BTreeSet<u32> = rs
                .iter()
                .filter(|r| measured(r))
                .map(|r| r.concurrency)
                .collect();
            let picks: BTreeSet<u32> = [levels.first(), levels.last()]
                .into_iter()
                .flatten()
                .copied()
                .collect();
            for level in picks {
                let mut segments = Vec::new();
                let mut missing = Vec::new();
                for (phase, name, color) in PHASES {
                    match rs
                        .iter()
                        .find(|r| r.concurrency == level && r.phase == phase && measured(r))
                    {
                        Some(r) => segments.push((r.median.unwrap_or(0.0), color)),
                        None => missing.push(name),
                    }
                }
                let total: f64 = segments.iter().map(|s| s.0).sum();
                let mut value_label = format!(" {}", fmt::duration_us(total));
                if !missing.is_empty() {
                    value_label.push_str(&format!(" (no {})", missing.join(", ")));
                }
                bars.push(HBar {
                    label: format!(
                        "{} ×{level}",
                        k.label(vary).trim_start_matches(&format!("{backend} "))
                    ),
                    segments,
                    value_label,
                });
            }
        }
        if bars.is_empty() {
            continue;
        }
        let max_total = bars
            .iter()
            .map(|b| b.segments.iter().map(|s| s.0).sum::<f64>())
            .fold(0.0, f64::max);
        max_rows = max_rows.max(bars.len());
        panels.push(Panel::HBars(HBarPanel {
            title: backend.to_string(),
            x: Axis::zero_to(
                max_total * 1.22,
                TickFmt::DurationUs,
                "median time per phase",
            ),
            bars,
        }));
    }
    let legend = PHASES
        .iter()
        .map(|(_, name, c)| LegendEntry {
            label: name.to_string(),
            color: *c,
            style: LegendStyle::Box,
        })
        .collect();
    let columns = panels.len();
    Some(ChartSpec {
        id: "cold-start-phases",
        experiment: "cold-start",
        title: "Cold-start phases".into(),
        figure: Figure {
            title: "Where a cold start's time goes".into(),
            subtitle: format!(
                "medians per phase at the lowest and highest level (×N = N concurrent) · each panel has its own scale · {}",
                device_note(ds, device)
            ),
            size: (1700, (260 + 62 * max_rows as u32).max(560)),
            columns,
            panels,
            legend,
        },
    })
}

const LADDER_DOCKER: [&str; 5] = ["create", "start", "ready", "init", "first_run"];
const LADDER_WASM: [&str; 8] = [
    "compile",
    "deserialize",
    "deserialize_file",
    "instance_pre",
    "instantiate_ondemand",
    "instantiate_pooled",
    "run_fresh",
    "run_prewarmed",
];

/// A readable name for a ladder rung or Docker phase.
pub fn phase_name(phase: &str) -> String {
    match phase {
        "deserialize" => "deserialize (bytes)".into(),
        "deserialize_file" => "deserialize (file, mmap)".into(),
        "instance_pre" => "InstancePre".into(),
        "instantiate_ondemand" => "instantiate (on demand)".into(),
        "instantiate_pooled" => "instantiate (pooled)".into(),
        "run_fresh" => "run (fresh instance)".into(),
        "run_prewarmed" => "run (pre-warmed)".into(),
        "ready" => "ready (first HTTP answer)".into(),
        "first_run" => "first run".into(),
        other => other.replace('_', " "),
    }
}

/// Ladder rows in display order: Wasm rungs, then Docker's phases; unknown phases last.
pub fn ladder_rows<'a>(ds: &'a Dataset, device: &'a str) -> Vec<&'a SummaryRow> {
    let mut rows: Vec<&SummaryRow> = ds
        .rows(device, "ladder")
        .filter(|r| r.metric == "latency")
        .collect();
    let rank = |r: &SummaryRow| {
        let order: &[&str] = if r.backend == "wasm" {
            &LADDER_WASM
        } else {
            &LADDER_DOCKER
        };
        (
            crate::data::backend_rank(&r.backend),
            r.variant.clone(),
            order
                .iter()
                .position(|p| *p == r.phase)
                .unwrap_or(order.len()),
            r.phase.clone(),
        )
    };
    rows.sort_by_key(|r| rank(r));
    rows
}

fn ladder(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let rows: Vec<&SummaryRow> = ladder_rows(ds, device)
        .into_iter()
        .filter(|r| measured(r))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let values: Vec<f64> = rows.iter().filter_map(|r| r.median).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let x = Axis::log(
        values.iter().copied().chain([max * 3.0]),
        TickFmt::DurationUs,
        "median time (log scale)",
    );
    let mut legend_seen = BTreeSet::new();
    let mut legend = Vec::new();
    let bars: Vec<HBar> = rows
        .iter()
        .map(|r| {
            let (color, _) = series_style(&r.backend, &r.variant);
            let name = if r.variant == "in-process" {
                format!("{}: start-up rungs, timed in-process", r.backend)
            } else {
                format!("{} {}: cold-start phases", r.backend, r.variant)
            };
            if legend_seen.insert(name.clone()) {
                legend.push(LegendEntry {
                    label: name,
                    color,
                    style: LegendStyle::Box,
                });
            }
            HBar {
                label: format!("{} {}", r.backend, phase_name(&r.phase)),
                segments: vec![(r.median.unwrap_or(0.0), color)],
                value_label: format!(" {}", fmt::duration_us(r.median.unwrap_or(f64::NAN))),
            }
        })
        .collect();
    let workloads: BTreeSet<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
    let n = bars.len() as u32;
    Some(ChartSpec {
        id: "ladder",
        experiment: "ladder",
        title: "Wasm start-up ladder beside Docker's phases".into(),
        figure: Figure {
            title: "Wasm start-up ladder beside Docker's cold-start phases".into(),
            subtitle: format!(
                "workload {} · medians · the Wasm ladder runs in the harness process · {}",
                workloads.into_iter().collect::<Vec<_>>().join(", "),
                device_note(ds, device)
            ),
            size: (1500, (240 + 52 * n).max(560)),
            columns: 1,
            panels: vec![Panel::HBars(HBarPanel {
                title: String::new(),
                x,
                bars,
            })],
            legend,
        },
    })
}

/// Memory rows of the sandbox-count series (not the module-size variants).
fn memory_rows<'a>(ds: &'a Dataset, device: &'a str, method: &'a str) -> Vec<&'a SummaryRow> {
    ds.rows(device, "memory")
        .filter(|r| {
            r.metric == "memory_per_sandbox"
                && r.phase == method
                && !r.variant.starts_with("module-")
        })
        .collect()
}

fn memory(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let mut panels = Vec::new();
    let mut legend: Vec<LegendEntry> = Vec::new();
    let mut seen = BTreeSet::new();
    for (method, title) in [
        ("paper", "paper method: container cgroup · executor RSS ÷ N"),
        ("full", "full method: + shim, proxy (PSS) · Δ RSS ÷ N"),
    ] {
        let rows = memory_rows(ds, device, method);
        if !rows.iter().any(|r| measured(r)) {
            continue;
        }
        let groups = by_series(rows.iter().copied());
        let vary = Vary::of(groups.iter().map(|(k, _)| k));
        let lines: Vec<Line> = groups
            .iter()
            .filter(|(_, r)| r.iter().any(|r| measured(r)))
            .map(|(k, r)| mean_line(k, k.label(vary), r, 1.0 / (1024.0 * 1024.0)))
            .collect();
        for l in &lines {
            if seen.insert(l.label.clone()) {
                legend.push(LegendEntry::of_line(l));
            }
        }
        panels.push(Panel::Xy(XyPanel {
            title: title.to_string(),
            x: Axis::levels(&line_levels(&lines), "warm sandboxes N"),
            y: Axis::log(
                line_values(&lines),
                TickFmt::Plain,
                "memory per sandbox, MiB (log scale)",
            ),
            lines,
            hlines: vec![],
            marks: vec![],
        }));
    }
    if panels.is_empty() {
        return None;
    }
    let columns = panels.len();
    Some(ChartSpec {
        id: "memory",
        experiment: "memory",
        title: "Memory per warm sandbox".into(),
        figure: Figure {
            title: "Memory per warm sandbox vs number of sandboxes".into(),
            subtitle: format!(
                "lines: mean per level, shaded: 95% CI of the mean (when repeated) · {}",
                device_note(ds, device)
            ),
            size: (if columns > 1 { 1800 } else { 1200 }, 820),
            columns,
            panels,
            legend,
        },
    })
}

/// Module-size variants present, in build order, with their rows.
pub fn module_variants<'a>(ds: &'a Dataset, device: &'a str) -> Vec<(String, Vec<&'a SummaryRow>)> {
    let mut m: BTreeMap<(usize, String), Vec<&SummaryRow>> = BTreeMap::new();
    for r in ds
        .rows(device, "memory")
        .filter(|r| r.variant.starts_with("module-"))
    {
        m.entry((crate::data::variant_rank(&r.variant), r.variant.clone()))
            .or_default()
            .push(r);
    }
    m.into_iter().map(|((_, v), rows)| (v, rows)).collect()
}

/// A build's display name: `release+LTO`.
pub fn build_name(variant: &str) -> String {
    match variant.trim_start_matches("module-") {
        "release-lto" => "release+LTO".into(),
        other => other.to_string(),
    }
}

fn module_size(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let variants = module_variants(ds, device);
    let get = |rows: &[&SummaryRow], phase: &str, metric: &str| {
        rows.iter()
            .filter(|r| r.phase == phase && r.metric == metric && measured(r))
            .max_by_key(|r| r.concurrency)
            .and_then(|r| r.median)
    };
    if !variants.iter().any(|(_, rows)| {
        get(rows, "paper", "memory_per_sandbox").is_some()
            || get(rows, "full", "memory_per_sandbox").is_some()
    }) {
        return None;
    }
    let f = &paper().figures.module_memory;
    let mib = 1.0 / (1024.0 * 1024.0);
    let mut categories = Vec::new();
    let (mut paper_m, mut full_m, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut sandboxes = BTreeSet::new();
    for (variant, rows) in &variants {
        let size = get(rows, "wasm", "module_size");
        categories.push(match size {
            Some(s) => format!("{} · {}", build_name(variant), fmt::size(s)),
            None => build_name(variant),
        });
        paper_m.push(get(rows, "paper", "memory_per_sandbox").map(|v| v * mib));
        full_m.push(get(rows, "full", "memory_per_sandbox").map(|v| v * mib));
        let build = variant.trim_start_matches("module-");
        theirs.push(
            f.builds
                .iter()
                .position(|b| b == build)
                .map(|i| f.wasmtime_mib[i]),
        );
        sandboxes.extend(
            rows.iter()
                .filter(|r| r.metric == "memory_per_sandbox" && measured(r))
                .map(|r| r.concurrency),
        );
    }
    let n_label = sandboxes
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut hlines = Vec::new();
    // Docker at the same number of sandboxes (or the nearest below), this run's paper method.
    let docker = memory_rows(ds, device, "paper")
        .into_iter()
        .filter(|r| r.backend == "docker" && r.variant == "create-start" && measured(r))
        .filter(|r| sandboxes.last().is_none_or(|n| r.concurrency <= *n))
        .max_by_key(|r| r.concurrency);
    if let Some(d) = docker {
        hlines.push(HLine {
            y: d.median.unwrap_or(0.0) * mib,
            label: format!(
                "this run: docker create-start, paper method, N = {}: {}",
                d.concurrency,
                fmt::mib(d.median.unwrap_or(f64::NAN))
            ),
            color: RGBColor(214, 39, 40),
        });
    }
    let paper_docker = f.docker_mib.first().copied();
    if let Some(pd) = paper_docker {
        hlines.push(HLine {
            y: pd,
            label: format!(
                "paper: Docker {pd} MiB ({}, fig.)",
                paper().device_label(&f.device)
            ),
            color: PAPER_DOCKER,
        });
    }
    let all: Vec<f64> = paper_m
        .iter()
        .chain(&full_m)
        .chain(&theirs)
        .flatten()
        .copied()
        .chain(hlines.iter().map(|h| h.y))
        .collect();
    let max = all.iter().copied().fold(0.0, f64::max);
    let series = vec![
        (
            "this run: paper method (RSS ÷ N)".to_string(),
            RGBColor(31, 119, 180),
            paper_m,
        ),
        (
            "this run: full method (Δ RSS ÷ N)".to_string(),
            RGBColor(44, 160, 44),
            full_m,
        ),
        (
            format!(
                "paper: {} ({}, fig.)",
                paper().setup.wasm_runtime,
                paper().device_label(&f.device)
            ),
            PAPER_GREY,
            theirs,
        ),
    ];
    let mut legend: Vec<LegendEntry> = series
        .iter()
        .map(|(l, c, _)| LegendEntry {
            label: l.clone(),
            color: *c,
            style: LegendStyle::Box,
        })
        .collect();
    for h in &hlines {
        legend.push(LegendEntry {
            label: h.label.clone(),
            color: h.color,
            style: LegendStyle::Line {
                dashed: true,
                marker: Marker::None,
            },
        });
    }
    Some(ChartSpec {
        id: "module-size",
        experiment: "memory",
        title: "Memory per sandbox by module build".into(),
        figure: Figure {
            title: "Memory per Wasm sandbox by module build (the paper's table)".into(),
            subtitle: format!(
                "hash built three ways; medians at N = {n_label} sandboxes, each with its own module · labels: wasm module size · {}",
                device_note(ds, device)
            ),
            size: (1500, 860),
            columns: 1,
            panels: vec![Panel::Grouped(GroupedPanel {
                title: String::new(),
                y: Axis::zero_to(max * 1.12, TickFmt::Plain, "memory per sandbox, MiB"),
                categories,
                series,
                hlines,
                value_fmt: |v| fmt::sig3(v),
            })],
            legend,
        },
    })
}

/// Configs and workloads of the closed-loop throughput rows, in display order.
pub fn throughput_panels(ds: &Dataset, device: &str) -> (Vec<String>, Vec<String>) {
    let rows: Vec<&SummaryRow> = ds
        .rows(device, "throughput")
        .filter(|r| r.phase == "warm" && r.metric == "throughput" && r.backend != "client")
        .collect();
    let mut configs: Vec<String> = rows
        .iter()
        .map(|r| r.config.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    configs.sort_by_key(|c| {
        (
            ["paper", "fair", "default"]
                .iter()
                .position(|x| x == c)
                .unwrap_or(3),
            c.clone(),
        )
    });
    let mut workloads: Vec<String> = rows
        .iter()
        .map(|r| r.workload.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    workloads.sort_by_key(|w| {
        (
            ["hash", "sleep", "mixed"]
                .iter()
                .position(|x| x == w)
                .unwrap_or(3),
            w.clone(),
        )
    });
    (configs, workloads)
}

pub fn workload_desc(w: &str) -> String {
    match w {
        "hash" => "CPU-bound (hash)".into(),
        "sleep" => "I/O-bound (sleep)".into(),
        "mixed" => "mixed (hash or sleep, p = 0.5)".into(),
        other => other.to_string(),
    }
}

fn throughput(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let (configs, workloads) = throughput_panels(ds, device);
    let mut panels = Vec::new();
    let mut legend = Vec::new();
    let mut seen = BTreeSet::new();
    let mut grid_cols = 0;
    for config in &configs {
        let mut in_row = 0;
        for w in &workloads {
            let rows: Vec<&SummaryRow> = ds
                .rows(device, "throughput")
                .filter(|r| {
                    r.phase == "warm"
                        && r.metric == "throughput"
                        && r.backend != "client"
                        && &r.config == config
                        && &r.workload == w
                })
                .collect();
            if !rows.iter().any(|r| measured(r)) {
                continue;
            }
            in_row += 1;
            let groups = by_series(rows.iter().copied());
            let lines: Vec<Line> = groups
                .iter()
                .filter(|(_, r)| r.iter().any(|r| measured(r)))
                .map(|(k, r)| mean_line(k, k.label(Vary::default()), r, 1.0))
                .collect();
            for l in &lines {
                if seen.insert(l.label.clone()) {
                    legend.push(LegendEntry::of_line(l));
                }
            }
            let max = line_values(&lines).into_iter().fold(0.0, f64::max);
            panels.push(Panel::Xy(XyPanel {
                title: format!("{} · {config} config", workload_desc(w)),
                x: Axis::levels(&line_levels(&lines), "closed-loop clients"),
                y: Axis::zero_to(max, TickFmt::Plain, "throughput, requests/s"),
                lines,
                hlines: vec![],
                marks: vec![],
            }));
        }
        grid_cols = grid_cols.max(in_row);
    }
    if panels.is_empty() {
        return None;
    }
    // Rows of unequal length would misalign in a grid: use the widest row for every row.
    let columns = if panels.len() % grid_cols.max(1) == 0 {
        grid_cols
    } else {
        panels.len().min(3)
    };
    let rows = panels.len().div_ceil(columns);
    Some(ChartSpec {
        id: "throughput",
        experiment: "throughput",
        title: "Throughput vs clients".into(),
        figure: Figure {
            title: "Throughput vs closed-loop clients".into(),
            subtitle: format!(
                "paper config: ≤ 4 sandboxes, Docker's proxy one run at a time · fair: same concurrency for both · lines: mean, shaded: 95% CI · {}",
                device_note(ds, device)
            ),
            size: ((620 * columns as u32).max(1200), 230 + 560 * rows as u32),
            columns,
            panels,
            legend,
        },
    })
}

/// The capacity experiment's p99 bound (µs) and its description, from the run's configuration.
pub fn capacity_bound(ds: &Dataset, device: &str) -> Option<(f64, String)> {
    let c = ds.experiment_config(device, "capacity")?;
    let sleep = c.get("sleep_ms")?.as_f64()?;
    let factor = c.get("p99_factor")?.as_f64()?;
    Some((
        sleep * factor * 1000.0,
        format!(
            "bound: p99 ≤ {} × {} ms sleep",
            fmt::tick(factor),
            fmt::tick(sleep)
        ),
    ))
}

/// The memory budget the capacity experiment applied (bytes), from the run's configuration.
pub fn capacity_budget(ds: &Dataset, device: &str) -> Option<f64> {
    let meta = ds.meta_for(device)?;
    if let Some(b) = meta
        .device
        .pointer("/profile/memory_bytes")
        .and_then(|v| v.as_f64())
    {
        return Some(b);
    }
    let c = ds.experiment_config(device, "capacity")?;
    Some(c.get("memory_budget_mb")?.as_f64()? * 1024.0 * 1024.0)
}

fn capacity(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let rows: Vec<&SummaryRow> = ds
        .rows(device, "capacity")
        .filter(|r| r.phase == "step" && r.metric == "latency_p99")
        .collect();
    if !rows.iter().any(|r| measured(r)) {
        return None;
    }
    let groups = by_series(rows.iter().copied());
    let lines: Vec<Line> = groups
        .iter()
        .filter(|(_, r)| r.iter().any(|r| measured(r)))
        .map(|(k, r)| {
            let mut l = mean_line(k, k.label(Vary::default()), r, 1.0);
            // p99 per step: the median over repetitions (a p99 is not averaged).
            l.points = r
                .iter()
                .filter(|r| measured(r))
                .map(|r| (r.concurrency as f64, r.median.unwrap_or(f64::NAN)))
                .collect();
            l.band.clear();
            l
        })
        .collect();
    let mut hlines = Vec::new();
    if let Some((bound, label)) = capacity_bound(ds, device) {
        hlines.push(HLine {
            y: bound,
            label,
            color: RGBColor(90, 90, 90),
        });
    }
    let mut marks = Vec::new();
    for (k, r) in &groups {
        let cap = ds
            .rows(device, "capacity")
            .find(|c| {
                c.phase == "max" && c.metric == "capacity" && SeriesKey::of(c) == *k && measured(c)
            })
            .and_then(|c| c.median);
        if let Some(cap) = cap {
            let at = r
                .iter()
                .filter(|s| measured(s) && (s.concurrency as f64) <= cap)
                .max_by_key(|s| s.concurrency);
            if let Some(at) = at {
                let (color, _) = series_style(&k.backend, &k.variant);
                marks.push(Mark {
                    x: at.concurrency as f64,
                    y: at.median.unwrap_or(f64::NAN),
                    label: format!("{} capacity: {}", k.backend, fmt::tick(cap)),
                    color,
                });
            }
        }
    }
    let mut values = line_values(&lines);
    values.extend(hlines.iter().map(|h| h.y));
    let x = Axis::levels(&line_levels(&lines), "in-flight sleep invocations");
    let mut legend: Vec<LegendEntry> = lines.iter().map(LegendEntry::of_line).collect();
    let mut panels = vec![Panel::Xy(XyPanel {
        title: "p99 latency per load step".into(),
        x: x.clone(),
        y: Axis::log(values, TickFmt::DurationUs, "p99 latency (log scale)"),
        lines,
        hlines,
        marks,
    })];
    // Memory in use per step, with the budget.
    let mem: Vec<&SummaryRow> = ds
        .rows(device, "capacity")
        .filter(|r| r.phase == "step" && r.metric == "memory_total")
        .collect();
    if mem.iter().any(|r| measured(r)) {
        let mib = 1.0 / (1024.0 * 1024.0);
        let groups = by_series(mem.iter().copied());
        let mlines: Vec<Line> = groups
            .iter()
            .filter(|(_, r)| r.iter().any(|r| measured(r)))
            .map(|(k, r)| mean_line(k, k.label(Vary::default()), r, mib))
            .collect();
        let mut hl = Vec::new();
        if let Some(b) = capacity_budget(ds, device) {
            hl.push(HLine {
                y: b * mib,
                label: format!("memory budget {}", fmt::mib(b)),
                color: RGBColor(90, 90, 90),
            });
        }
        let mut values = line_values(&mlines);
        values.extend(hl.iter().map(|h| h.y));
        panels.push(Panel::Xy(XyPanel {
            title: "memory in use per load step".into(),
            x,
            y: Axis::log(values, TickFmt::Plain, "memory, MiB (log scale)"),
            lines: mlines,
            hlines: hl,
            marks: vec![],
        }));
    }
    legend.push(LegendEntry {
        label: "bound / budget".into(),
        color: RGBColor(90, 90, 90),
        style: LegendStyle::Line {
            dashed: true,
            marker: Marker::None,
        },
    });
    let columns = panels.len();
    Some(ChartSpec {
        id: "capacity",
        experiment: "capacity",
        title: "Capacity at the latency bound".into(),
        figure: Figure {
            title: "Capacity: in-flight I/O-bound invocations at the latency bound".into(),
            subtitle: format!(
                "p99: median over repetitions per step · circled: the capacity found · {}",
                device_note(ds, device)
            ),
            size: (if columns > 1 { 1800 } else { 1300 }, 840),
            columns,
            panels,
            legend,
        },
    })
}

/// Per series of the realistic workload: its successful request latencies (µs), sorted.
pub fn realistic_latencies(ds: &Dataset, device: &str) -> Vec<(SeriesKey, Vec<f64>)> {
    let mut m: BTreeMap<SeriesKey, Vec<f64>> = BTreeMap::new();
    for r in ds
        .records_of(device, "realistic")
        .filter(|r| r.metric == "latency" && (r.phase == "cold" || r.phase == "warm") && r.ok)
    {
        if r.value.is_finite() {
            m.entry(SeriesKey::of_record(r)).or_default().push(r.value);
        }
    }
    let mut v: Vec<(SeriesKey, Vec<f64>)> = m.into_iter().collect();
    for (_, xs) in &mut v {
        xs.sort_by(f64::total_cmp);
    }
    v.sort_by_key(|(k, _)| k.order());
    v
}

/// The median `cold_fraction` of a realistic series.
pub fn cold_fraction(ds: &Dataset, device: &str, key: &SeriesKey) -> Option<f64> {
    ds.rows(device, "realistic")
        .find(|r| {
            r.phase == "all"
                && r.metric == "cold_fraction"
                && SeriesKey::of(r) == *key
                && measured(r)
        })
        .and_then(|r| r.median)
}

fn realistic(ds: &Dataset, device: &str) -> Option<ChartSpec> {
    let series = realistic_latencies(ds, device);
    if series.is_empty() {
        return None;
    }
    let vary = Vary::of(series.iter().map(|(k, _)| k));
    let mut lines = Vec::new();
    for (k, xs) in &series {
        let (color, _) = series_style(&k.backend, &k.variant);
        let n = xs.len();
        let cold = cold_fraction(ds, device, k)
            .map(fmt::percent)
            .unwrap_or_else(|| fmt::MISSING.to_string());
        // A step function for few requests; beyond that the steps are finer than a pixel and
        // the ECDF is drawn through (x_i, (i + 1) / n) at up to 200 evenly spaced ranks.
        let pts: Vec<(f64, f64)> = if n <= 200 {
            (0..n)
                .flat_map(|i| {
                    [
                        (xs[i], i as f64 / n as f64),
                        (xs[i], (i + 1) as f64 / n as f64),
                    ]
                })
                .collect()
        } else {
            let k = n.min(200);
            let mut v = vec![(xs[0], 0.0)];
            v.extend((0..k).map(|j| {
                let i = j * (n - 1) / (k - 1);
                (xs[i], (i + 1) as f64 / n as f64)
            }));
            v
        };
        lines.push(Line {
            label: format!("{}: {n} requests, cold starts {cold}", k.label(vary)),
            color,
            marker: Marker::None,
            dashed: false,
            width: 2,
            points: pts,
            band: vec![],
        });
    }
    let f = &paper().figures.realistic;
    for (label, color, values) in [
        (
            format!("paper: Docker ({}, fig.)", paper().device_label(&f.device)),
            PAPER_DOCKER,
            &f.docker_ms,
        ),
        (
            format!(
                "paper: {} ({}, fig.)",
                paper().setup.wasm_runtime,
                paper().device_label(&f.device)
            ),
            PAPER_WASM,
            &f.wasmtime_ms,
        ),
    ] {
        lines.push(Line {
            label,
            color,
            marker: Marker::Cross,
            dashed: true,
            width: 2,
            points: values
                .iter()
                .zip(&f.quantiles)
                .map(|(v, q)| (v * 1000.0, *q))
                .collect(),
            band: vec![],
        });
    }
    let xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    let legend = lines.iter().map(LegendEntry::of_line).collect();
    let workloads: BTreeSet<&str> = series.iter().map(|(k, _)| k.workload.as_str()).collect();
    Some(ChartSpec {
        id: "realistic-ecdf",
        experiment: "realistic",
        title: "Realistic workload: latency ECDF".into(),
        figure: Figure {
            title: "Realistic workload: latency distribution (ECDF)".into(),
            subtitle: format!(
                "workload {} · every successful request, cold and warm · dashed: the paper · {}",
                workloads.into_iter().collect::<Vec<_>>().join(", "),
                device_note(ds, device)
            ),
            size: (1400, 860),
            columns: 1,
            panels: vec![Panel::Xy(XyPanel {
                title: String::new(),
                x: Axis::log(xs, TickFmt::DurationUs, "request latency (log scale)"),
                y: Axis::unit("requests with latency ≤ x"),
                lines,
                hlines: vec![
                    HLine {
                        y: 0.5,
                        label: "p50".into(),
                        color: RGBColor(110, 110, 110),
                    },
                    HLine {
                        y: 0.99,
                        label: "p99".into(),
                        color: RGBColor(110, 110, 110),
                    },
                ],
                marks: vec![],
            })],
            legend,
        },
    })
}
