//! `cold-start`: i concurrent cold starts of i distinct actions. Each series' cold starts
//! (provision + init) are selected once, with the lowest and highest level it measured; the
//! line chart and the per-level table show every level, the phase chart and the phase table
//! those two levels.

use std::collections::BTreeSet;

use plotters::style::RGBColor;
use wow_records::{Backend, Experiment, Metric, SummaryRow, phase};

use super::{About, Section};
use crate::charts::axis::{Axis, TickFmt};
use crate::charts::figure::{
    Figure, HBar, HBarPanel, LegendEntry, LegendStyle, Line, Panel, XyPanel,
};
use crate::charts::{ChartSpec, device_note, line_levels, line_values, mean_line, reference_line};
use crate::data::{Dataset, SeriesKey, Vary, by_series, measured};
use crate::fmt;
use crate::levels;
use crate::paper::paper;
use crate::table::{self, Table};

pub const ABOUT: About = About {
    experiment: Experiment::ColdStart,
    title: "Cold start",
    intro: "i concurrent cold starts of i distinct actions. Cold start = provision + init (the \
            paper's waitTime + initTime); first response adds the first run. Wasm has nothing \
            to provision (recorded as the time of the call). `precompiled`: the artifact is \
            cached, every init loads it; `compile`: every init compiles.",
    section,
};

/// The phases a cold start's time is split into, with their names and chart colours.
const PHASES: [(&str, &str, RGBColor); 3] = [
    (phase::PROVISION, "provision", RGBColor(148, 103, 189)),
    (phase::INIT, "init", RGBColor(255, 127, 14)),
    (phase::FIRST_RUN, "first run", RGBColor(44, 160, 44)),
];

/// One series' cold starts.
struct ColdSeries<'a> {
    key: SeriesKey,
    /// Its cold-start rows (provision + init), by level.
    rows: Vec<&'a SummaryRow>,
    /// The lowest and the highest level it measured: where its phases are shown.
    ends: BTreeSet<u32>,
}

struct Rows<'a> {
    /// Every row of the experiment; the phases are looked up here.
    all: Vec<&'a SummaryRow>,
    /// The series, in presentation order.
    series: Vec<ColdSeries<'a>>,
    /// What their labels need to tell them apart.
    vary: Vary,
}

impl<'a> Rows<'a> {
    /// The latency row of one phase of a series at a level.
    fn phase(&self, key: &SeriesKey, level: u32, phase: &str) -> Option<&'a SummaryRow> {
        table::find(&self.all, key, level, phase, Metric::Latency.as_str())
    }
}

fn section(ds: &Dataset, device: &str) -> Section {
    let rows = select(ds, device);
    let mut tables = String::new();
    write_tables(&mut tables, &rows);
    Section::new(
        ABOUT.experiment,
        [
            cold_start_chart(ds, device, &rows),
            phases_chart(ds, device, &rows),
        ],
        tables,
    )
}

fn select<'a>(ds: &'a Dataset, device: &'a str) -> Rows<'a> {
    let all: Vec<&SummaryRow> = ds.rows(device, Experiment::ColdStart).collect();
    let groups = by_series(
        all.iter()
            .copied()
            .filter(|r| r.phase == phase::COLD_START && r.metric == Metric::Latency),
    );
    let vary = Vary::of(groups.iter().map(|(k, _)| k));
    let series = groups
        .into_iter()
        .map(|(key, rows)| {
            let ends = levels::ends(&levels::measured_levels(rows.iter().copied()));
            ColdSeries { key, rows, ends }
        })
        .collect();
    Rows { all, series, vary }
}

fn cold_start_chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let shown: Vec<&ColdSeries> = rows
        .series
        .iter()
        .filter(|s| s.rows.iter().any(|r| measured(r)))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let mut lines: Vec<Line> = shown
        .iter()
        .map(|s| mean_line(&s.key, s.key.label(rows.vary), &s.rows, 1.0))
        .collect();
    let levels = line_levels(&lines);
    let (lo, hi) = (
        levels.iter().min().copied().unwrap_or(1) as f64,
        levels.iter().max().copied().unwrap_or(1) as f64,
    );
    // The paper's curves, within the levels this run measured.
    let f = &paper().figures.cold_start;
    for mut curve in f.curves() {
        curve.points.retain(|(x, _)| *x >= lo && *x <= hi);
        if !curve.points.is_empty() {
            lines.push(reference_line(&curve, &f.device));
        }
    }
    let workloads: BTreeSet<&str> = rows
        .series
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.workload.as_str())
        .collect();
    let y = Axis::log(
        line_values(&lines),
        TickFmt::DurationUs,
        "cold start: provision + init (log scale)",
    );
    let x = Axis::levels(&levels, "concurrent cold starts");
    let legend = lines.iter().map(LegendEntry::of_line).collect();
    Some(ChartSpec {
        id: "cold-start",
        experiment: ABOUT.experiment,
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

/// Where a cold start's time goes: stacked phase medians per series at its lowest and highest
/// level, one panel per backend.
fn phases_chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let any_phase = rows.all.iter().any(|r| {
        r.metric == Metric::Latency && PHASES.iter().any(|p| r.phase == p.0) && measured(r)
    });
    if !any_phase {
        return None;
    }
    let mut panels = Vec::new();
    let mut max_rows = 0;
    for backend in [Backend::Wasm, Backend::Docker] {
        let mut bars = Vec::new();
        for s in rows.series.iter().filter(|s| s.key.backend == backend) {
            for &level in &s.ends {
                let mut segments = Vec::new();
                let mut missing = Vec::new();
                for (phase, name, color) in PHASES {
                    match rows.phase(&s.key, level, phase).filter(|r| measured(r)) {
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
                        s.key
                            .label(rows.vary)
                            .trim_start_matches(&format!("{backend} "))
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
        experiment: ABOUT.experiment,
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

fn write_tables(out: &mut String, rows: &Rows) {
    let median_us = |r: Option<&SummaryRow>| table::median(r, fmt::duration_us);
    let mut t = Table::new(&[
        "series",
        ">concurrent",
        ">n",
        ">failed",
        ">median cold start",
        ">mean, 95% CI",
        ">median first response",
    ]);
    for s in &rows.series {
        for r in &s.rows {
            t.row(vec![
                s.key.label(rows.vary),
                r.concurrency.to_string(),
                table::count(r.n),
                table::count(r.failed),
                median_us(Some(r)),
                table::ci(Some(r), fmt::duration_us),
                median_us(rows.phase(&s.key, r.concurrency, phase::FIRST_RESPONSE)),
            ]);
        }
    }
    out.push_str("Cold start (provision + init) per level:\n\n");
    t.write_to(out);

    let mut p = Table::new(&[
        "series",
        ">concurrent",
        ">provision",
        ">init",
        ">first run",
        ">create",
        ">start",
        ">ready",
    ]);
    for s in &rows.series {
        for &l in &s.ends {
            let mut cells = vec![s.key.label(rows.vary), l.to_string()];
            for ph in [
                phase::PROVISION,
                phase::INIT,
                phase::FIRST_RUN,
                phase::CREATE,
                phase::START,
                phase::READY,
            ] {
                cells.push(median_us(rows.phase(&s.key, l, ph)));
            }
            p.row(cells);
        }
    }
    if !p.is_empty() {
        out.push_str(
            "Phase medians at the lowest and highest level (the medians of the phases need not \
             add up to the median cold start):\n\n",
        );
        p.write_to(out);
    }
    write_warm_runs(out, rows);
}

/// The warm-run group: sequential `/run`s on one warm sandbox per series.
fn write_warm_runs(out: &mut String, rows: &Rows) {
    let groups = by_series(
        rows.all
            .iter()
            .copied()
            .filter(|r| r.phase == phase::WARM_RUN && r.metric == Metric::Latency),
    );
    if groups.is_empty() {
        return;
    }
    let vary = Vary::of(groups.iter().map(|(k, _)| k));
    let us = |v: Option<f64>| fmt::opt(v, fmt::duration_us);
    let mut t = Table::new(&[
        "series",
        "workload",
        ">n",
        ">failed",
        ">p50",
        ">p90",
        ">p99",
        ">mean, 95% CI",
    ]);
    for (key, rs) in &groups {
        for r in rs {
            let ok = measured(r);
            t.row(vec![
                key.label(vary),
                r.workload.clone(),
                table::count(r.n),
                table::count(r.failed),
                us(r.median.filter(|_| ok)),
                us(r.p90.filter(|_| ok)),
                us(r.p99.filter(|_| ok)),
                table::ci(Some(r), fmt::duration_us),
            ]);
        }
    }
    out.push_str(
        "Warm runs: one warm sandbox per series, sequential `/run`s with nothing else in flight, \
         each timed by the harness from request to response (phase `warm_run`):\n\n",
    );
    t.write_to(out);
}
