//! `memory`: memory per warm sandbox by two methods, against the number of sandboxes; and the
//! module-size series (`module-<build>`: `hash` built three ways), the paper's table. The rows
//! of both are selected once; the charts and the tables show them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use plotters::style::RGBColor;
use wow_records::vocab::{MODULE_PREFIX, ModuleBuild, is_module_series};
use wow_records::{Backend, Experiment, Metric, Series, SummaryRow, phase};

use super::{About, Section};
use crate::charts::axis::{Axis, TickFmt};
use crate::charts::figure::{
    Figure, GroupedPanel, HLine, LegendEntry, LegendStyle, Line, Marker, Panel, XyPanel,
};
use crate::charts::{
    ChartSpec, PAPER_GREY, device_note, line_levels, line_values, mean_line, paper_color,
    series_style,
};
use crate::data::{Dataset, SeriesKey, Vary, by_series, in_order, measured, variant_rank};
use crate::fmt::{self, MISSING};
use crate::levels;
use crate::paper::{PaperBuild, paper};
use crate::table::{self, Table};

pub const ABOUT: About = About {
    experiment: Experiment::Memory,
    title: "Memory per warm sandbox",
    intro: "N warm sandboxes, each having run once. `paper` method: what the paper measured \
            (a container's cgroup usage minus inactive file cache, as `docker stats`; executor \
            RSS ÷ N). `full` method: every process that exists only because the sandboxes exist \
            (container cgroup + its `containerd-shim` + its `docker-proxy` + the storage \
            driver's helper, such as `fuse-overlayfs`, by PSS; executor RSS with N sandboxes \
            minus with none, ÷ N; a `shared` artifact is made after the empty reading, so its \
            sandboxes carry it once). `system` method, where the run took it: the machine's \
            `MemTotal − MemAvailable` with N sandboxes minus with none, the page cache dropped \
            before each reading, ÷ N — kernel memory (namespaces, veth pairs, page tables, \
            cgroups) that no process view sees, and whatever else the machine did meanwhile, so \
            it needs many sandboxes or repetitions to read. Which to use: the paper's method to \
            compare with the paper; the full method for what a sandbox's processes hold; the \
            system method for what a board's memory must hold.",
    section,
};

/// Bytes to MiB, the unit of the memory charts.
const MIB: f64 = 1.0 / (1024.0 * 1024.0);

/// The methods, each with its chart panel's title.
const METHODS: [(&str, &str); 2] = [
    (
        phase::PAPER,
        "paper method: container cgroup · executor RSS ÷ N",
    ),
    (
        phase::FULL,
        "full method: + shim, proxy, storage helper (PSS) · Δ RSS ÷ N",
    ),
];

/// The readings behind the methods (`memory_total` phases), in the table's column order.
const READINGS: [&str; 13] = [
    "executor_rss_baseline",
    "executor_rss",
    "executor_pss",
    "cgroup",
    "shim_pss",
    "shim_rss",
    "proxy_pss",
    "proxy_rss",
    "storage_pss",
    "storage_rss",
    "system_used_baseline",
    "system_used",
    "",
];

/// One module-size series.
struct Build<'a> {
    variant: String,
    rows: Vec<&'a SummaryRow>,
    /// The `.wasm` module's size, bytes.
    size: Option<f64>,
    /// The paper's values for this build, when it measured it.
    paper: Option<PaperBuild<'static>>,
}

/// A module-size series' build as its name reads after the prefix: `release-lto`.
fn build_of(variant: &str) -> &str {
    variant.trim_start_matches(MODULE_PREFIX)
}

impl Build<'_> {
    /// A display name: `release+LTO`.
    fn name(&self) -> String {
        match ModuleBuild::of_series(&self.variant) {
            Some(ModuleBuild::ReleaseLto) => "release+LTO".into(),
            _ => build_of(&self.variant).to_string(),
        }
    }

    /// The median of one method at the largest number of sandboxes it measured.
    fn at_largest(&self, method: &str) -> Option<f64> {
        let rows = self.rows.iter().copied();
        levels::highest(rows.filter(|r| r.phase == method && r.metric == Metric::MemoryPerSandbox))
            .and_then(|r| r.median)
    }
}

struct Rows<'a> {
    /// `memory_per_sandbox` of the sandbox-count series, both methods.
    per_sandbox: Vec<&'a SummaryRow>,
    /// The readings behind them (`memory_total`).
    readings: Vec<&'a SummaryRow>,
    /// The module-size series, in build order.
    builds: Vec<Build<'a>>,
}

fn section(ds: &Dataset, device: &str) -> Section {
    let rows = select(ds, device);
    let mut tables = String::new();
    write_tables(&mut tables, &rows);
    Section::new(
        ABOUT.experiment,
        [
            memory_chart(ds, device, &rows),
            builds_chart(ds, device, &rows),
        ],
        tables,
    )
}

fn select<'a>(ds: &'a Dataset, device: &'a str) -> Rows<'a> {
    let all: Vec<&SummaryRow> = ds.rows(device, Experiment::Memory).collect();
    let of_metric = |m: Metric| -> Vec<&'a SummaryRow> {
        all.iter()
            .copied()
            .filter(|r| r.metric == m && !is_module_series(&r.variant))
            .collect()
    };
    let mut by_build: BTreeMap<(usize, String), Vec<&SummaryRow>> = BTreeMap::new();
    for r in all.iter().copied().filter(|r| is_module_series(&r.variant)) {
        by_build
            .entry((variant_rank(&r.variant), r.variant.clone()))
            .or_default()
            .push(r);
    }
    let figure = &paper().figures.module_memory;
    let builds = by_build
        .into_iter()
        .map(|((_, variant), rows)| Build {
            size: levels::highest(
                rows.iter()
                    .copied()
                    .filter(|r| r.phase == phase::WASM && r.metric == Metric::ModuleSize),
            )
            .and_then(|r| r.median),
            paper: figure.build(build_of(&variant)),
            variant,
            rows,
        })
        .collect();
    Rows {
        per_sandbox: of_metric(Metric::MemoryPerSandbox),
        readings: of_metric(Metric::MemoryTotal),
        builds,
    }
}

fn memory_chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let mut panels = Vec::new();
    let mut legend: Vec<LegendEntry> = Vec::new();
    let mut seen = BTreeSet::new();
    for (method, title) in METHODS {
        let method_rows: Vec<&SummaryRow> = rows
            .per_sandbox
            .iter()
            .copied()
            .filter(|r| r.phase == method)
            .collect();
        if !method_rows.iter().any(|r| measured(r)) {
            continue;
        }
        let groups = by_series(method_rows);
        let vary = Vary::of(groups.iter().map(|(k, _)| k));
        let lines: Vec<Line> = groups
            .iter()
            .filter(|(_, r)| r.iter().any(|r| measured(r)))
            .map(|(k, r)| mean_line(k, k.label(vary), r, MIB))
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
        experiment: ABOUT.experiment,
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

/// Memory per sandbox by module build, at the largest number of sandboxes measured, beside the
/// paper's values and Docker's.
fn builds_chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let (paper_method, full_method) = (phase::PAPER, phase::FULL);
    if !rows
        .builds
        .iter()
        .any(|b| b.at_largest(paper_method).is_some() || b.at_largest(full_method).is_some())
    {
        return None;
    }
    let p = paper();
    let f = &p.figures.module_memory;
    let mut categories = Vec::new();
    let (mut paper_m, mut full_m, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut sandboxes = BTreeSet::new();
    for b in &rows.builds {
        categories.push(match b.size {
            Some(s) => format!("{} · {}", b.name(), fmt::size(s)),
            None => b.name(),
        });
        paper_m.push(b.at_largest(paper_method).map(|v| v * MIB));
        full_m.push(b.at_largest(full_method).map(|v| v * MIB));
        theirs.push(b.paper.map(|p| p.wasmtime_mib));
        sandboxes.extend(levels::measured_levels(
            b.rows
                .iter()
                .copied()
                .filter(|r| r.metric == Metric::MemoryPerSandbox),
        ));
    }
    let n_label = sandboxes
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut hlines = Vec::new();
    // Docker at the same number of sandboxes (or the nearest below), this run's paper method.
    let docker = levels::highest(rows.per_sandbox.iter().copied().filter(|r| {
        r.phase == paper_method
            && r.backend == Backend::Docker
            && r.variant == Series::CreateStart
            && sandboxes.last().is_none_or(|n| r.concurrency <= *n)
    }));
    if let Some(d) = docker {
        hlines.push(HLine {
            y: d.median.unwrap_or(0.0) * MIB,
            label: format!(
                "this run: {} {}, paper method, N = {}: {}",
                Backend::Docker,
                Series::CreateStart,
                d.concurrency,
                fmt::mib(d.median.unwrap_or(f64::NAN))
            ),
            color: series_style(&d.backend, &d.engine, &d.variant).0,
        });
    }
    if let Some(pd) = f.docker_mib() {
        let what = format!("{} {pd} MiB", p.sandbox_name(Backend::Docker));
        hlines.push(HLine {
            y: pd,
            label: p.figure_label(&what, &f.device),
            color: paper_color(Backend::Docker),
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
            p.figure_label(p.sandbox_name(Backend::Wasm), &f.device),
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
        experiment: ABOUT.experiment,
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

fn write_tables(out: &mut String, rows: &Rows) {
    per_sandbox_table(out, rows);
    readings_table(out, rows);
    builds_table(out, rows);
}

/// Series and sandbox counts of some rows, in presentation order.
fn series_levels(rows: &[&SummaryRow]) -> Vec<(SeriesKey, u32)> {
    let keys: BTreeSet<(SeriesKey, u32)> = rows
        .iter()
        .map(|r| (SeriesKey::of(r), r.concurrency))
        .collect();
    let mut ordered: Vec<(SeriesKey, u32)> = keys.into_iter().collect();
    ordered.sort_by_key(|(k, n)| (k.order(), *n));
    ordered
}

fn per_sandbox_table(out: &mut String, rows: &Rows) {
    let per = &rows.per_sandbox;
    let ordered = series_levels(per);
    if ordered.is_empty() {
        return;
    }
    let vary = Vary::of(ordered.iter().map(|(k, _)| k));
    // The system method's columns where the run took it.
    let system = per.iter().any(|r| r.phase == phase::SYSTEM);
    let mut header = vec![
        "series",
        ">sandboxes",
        ">n",
        ">failed",
        ">paper method",
        ">paper: 95% CI",
        ">full method",
        ">full: 95% CI",
    ];
    if system {
        header.extend([">system method", ">system: 95% CI"]);
    }
    let mut t = Table::new(&header);
    let metric = Metric::MemoryPerSandbox.as_str();
    for (k, n) in &ordered {
        let p = table::find(per, k, *n, phase::PAPER, metric);
        let f = table::find(per, k, *n, phase::FULL, metric);
        let sys = table::find(per, k, *n, phase::SYSTEM, metric);
        let count = |g: fn(&SummaryRow) -> usize| match (p.map(g), f.map(g)) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (a, b) => format!(
                "{} / {}",
                a.map_or(MISSING.to_string(), |x| x.to_string()),
                b.map_or(MISSING.to_string(), |x| x.to_string())
            ),
        };
        let mut row = vec![
            k.label(vary),
            n.to_string(),
            count(|r| r.n),
            count(|r| r.failed),
            table::median(p, fmt::mib),
            table::ci(p, fmt::mib),
            table::median(f, fmt::mib),
            table::ci(f, fmt::mib),
        ];
        if system {
            row.extend([table::median(sys, fmt::mib), table::ci(sys, fmt::mib)]);
        }
        t.row(row);
    }
    out.push_str(
        "Memory per warm sandbox (medians; n and failed: paper / full when they differ):\n\n",
    );
    t.write_to(out);
}

fn readings_table(out: &mut String, rows: &Rows) {
    let parts = &rows.readings;
    if parts.is_empty() {
        return;
    }
    let names = in_order(parts.iter().map(|r| r.phase.clone()), &READINGS, |o, n| {
        *o == n
    });
    let mut header: Vec<String> = vec!["series".into(), ">sandboxes".into()];
    header.extend(names.iter().map(|n| format!(">{n}")));
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = Table::new(&header_refs);
    let ordered = series_levels(parts);
    let vary = Vary::of(series_levels(&rows.per_sandbox).iter().map(|(k, _)| k));
    let metric = Metric::MemoryTotal.as_str();
    for (k, n) in &ordered {
        let mut cells = vec![k.label(vary), n.to_string()];
        for name in &names {
            cells.push(table::median(
                table::find(parts, k, *n, name, metric),
                fmt::mib,
            ));
        }
        t.row(cells);
    }
    out.push_str("The readings behind them (`memory_total`, medians, totals not per sandbox):\n\n");
    t.write_to(out);
}

fn builds_table(out: &mut String, rows: &Rows) {
    if rows.builds.is_empty() {
        return;
    }
    let f = &paper().figures.module_memory;
    let mut t = Table::new(&[
        "build",
        ">wasm size",
        ">sandboxes",
        ">n",
        ">failed",
        ">paper method",
        ">full method",
        ">paper: wasmtime",
        ">paper: Docker",
        ">paper: wasm size",
    ]);
    let metric = Metric::MemoryPerSandbox;
    for b in &rows.builds {
        let sandboxes: BTreeSet<u32> = b
            .rows
            .iter()
            .filter(|r| r.metric == metric)
            .map(|r| r.concurrency)
            .collect();
        for n in sandboxes {
            let at = |method: &str| {
                b.rows
                    .iter()
                    .find(|r| r.concurrency == n && r.phase == method && r.metric == metric)
                    .copied()
            };
            let (p, fu) = (at(phase::PAPER), at(phase::FULL));
            let theirs = |v: fn(PaperBuild) -> String| b.paper.map_or(MISSING.to_string(), v);
            t.row(vec![
                b.name(),
                fmt::opt(b.size, fmt::size),
                n.to_string(),
                p.map_or(MISSING.to_string(), |r| r.n.to_string()),
                p.map_or(MISSING.to_string(), |r| r.failed.to_string()),
                table::median(p, fmt::mib),
                table::median(fu, fmt::mib),
                theirs(|p| format!("{} MiB", p.wasmtime_mib)),
                theirs(|p| format!("{} MiB", p.docker_mib)),
                theirs(|p| p.wasm_size.to_string()),
            ]);
        }
    }
    let _ = writeln!(
        out,
        "Module builds (the paper's table; its values: {}):\n",
        f.source
    );
    t.write_to(out);
}
