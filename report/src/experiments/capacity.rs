//! `capacity`: in-flight I/O-bound invocations stepped up until p99 latency exceeds the bound,
//! an error occurs or memory exceeds the budget. The load steps and the capacity found per
//! series are selected once; the chart circles the capacity on the p99 line the step table lists.

use std::fmt::Write as _;

use wow_records::{Experiment, Metric, SummaryRow, phase};

use super::{About, Section};
use crate::charts::axis::{Axis, TickFmt};
use crate::charts::figure::{
    Figure, HLine, LegendEntry, LegendStyle, Line, Mark, Marker, Panel, XyPanel,
};
use crate::charts::{
    ChartSpec, REFERENCE_GREY, device_note, line_levels, line_values, mean_line, series_style,
};
use crate::data::{Dataset, SeriesKey, Vary, by_series, measured};
use crate::fmt;
use crate::table::{self, Table};

pub const ABOUT: About = About {
    experiment: Experiment::Capacity,
    title: "Capacity",
    intro: "In-flight I/O-bound invocations, doubled from the first step until one breaks \
            (p99 latency over the bound, an error, memory over the budget, or sandboxes that \
            cannot be started) or the ceiling holds, then bisected until the step that broke is \
            within 10% above the one that held; the capacity is the largest step that held. \
            Each repetition searches afresh, and its record says what broke and where.",
    section,
};

/// Bytes to MiB, the unit of the memory panel.
const MIB: f64 = 1.0 / (1024.0 * 1024.0);

struct Rows<'a> {
    /// Every row of the experiment; a step's other metrics are looked up here.
    all: Vec<&'a SummaryRow>,
    /// The capacity found, per series.
    found: Vec<&'a SummaryRow>,
    /// The p99 bound (µs) and its description, from the run's configuration.
    bound: Option<(f64, String)>,
    /// The memory budget (bytes) the run applied.
    budget: Option<f64>,
}

impl<'a> Rows<'a> {
    /// The load-step rows of one metric.
    fn steps(&self, metric: Metric) -> Vec<&'a SummaryRow> {
        self.all
            .iter()
            .copied()
            .filter(|r| r.phase == phase::STEP && r.metric == metric)
            .collect()
    }

    /// The median capacity found for a series.
    fn capacity(&self, key: &SeriesKey) -> Option<f64> {
        self.found
            .iter()
            .find(|c| SeriesKey::of(c) == *key && measured(c))
            .and_then(|c| c.median)
    }
}

fn section(ds: &Dataset, device: &str) -> Section {
    let rows = select(ds, device);
    let mut tables = String::new();
    write_tables(&mut tables, ds, device, &rows);
    Section::new(ABOUT.experiment, [chart(ds, device, &rows)], tables)
}

fn select<'a>(ds: &'a Dataset, device: &'a str) -> Rows<'a> {
    let all: Vec<&SummaryRow> = ds.rows(device, Experiment::Capacity).collect();
    let found = all
        .iter()
        .copied()
        .filter(|r| r.phase == phase::MAX && r.metric == Metric::Capacity)
        .collect();
    Rows {
        all,
        found,
        bound: bound(ds, device),
        budget: budget(ds, device),
    }
}

/// The p99 bound (µs) and its description, from the run's configuration.
fn bound(ds: &Dataset, device: &str) -> Option<(f64, String)> {
    let c = ds.experiment_config(device, Experiment::Capacity)?;
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

/// The memory budget the run applied (bytes): the device profile's memory, else the
/// experiment's own budget.
fn budget(ds: &Dataset, device: &str) -> Option<f64> {
    let meta = ds.meta_for(device)?;
    if let Some(b) = meta
        .device
        .pointer("/profile/memory_bytes")
        .and_then(|v| v.as_f64())
    {
        return Some(b);
    }
    let c = ds.experiment_config(device, Experiment::Capacity)?;
    Some(c.get("memory_budget_mb")?.as_f64()? * 1024.0 * 1024.0)
}

fn chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let p99 = rows.steps(Metric::LatencyP99);
    if !p99.iter().any(|r| measured(r)) {
        return None;
    }
    let groups = by_series(p99);
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
    if let Some((bound, label)) = &rows.bound {
        hlines.push(HLine {
            y: *bound,
            label: label.clone(),
            color: REFERENCE_GREY,
        });
    }
    let mut marks = Vec::new();
    for (k, r) in &groups {
        let Some(cap) = rows.capacity(k) else {
            continue;
        };
        // The circled step: the largest measured step within the capacity.
        let at = r
            .iter()
            .filter(|s| measured(s) && (s.concurrency as f64) <= cap)
            .max_by_key(|s| s.concurrency);
        if let Some(at) = at {
            let (color, _) = series_style(&k.backend, &k.engine, &k.variant);
            marks.push(Mark {
                x: at.concurrency as f64,
                y: at.median.unwrap_or(f64::NAN),
                label: format!("{} capacity: {}", k.backend, fmt::tick(cap)),
                color,
            });
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
    let mem = rows.steps(Metric::MemoryTotal);
    if mem.iter().any(|r| measured(r)) {
        let groups = by_series(mem);
        let mlines: Vec<Line> = groups
            .iter()
            .filter(|(_, r)| r.iter().any(|r| measured(r)))
            .map(|(k, r)| mean_line(k, k.label(Vary::default()), r, MIB))
            .collect();
        let mut hl = Vec::new();
        if let Some(b) = rows.budget {
            hl.push(HLine {
                y: b * MIB,
                label: format!("memory budget {}", fmt::mib(b)),
                color: REFERENCE_GREY,
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
        color: REFERENCE_GREY,
        style: LegendStyle::Line {
            dashed: true,
            marker: Marker::None,
        },
    });
    let columns = panels.len();
    Some(ChartSpec {
        id: "capacity",
        experiment: ABOUT.experiment,
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

/// What ended each repetition's search (the notes of a group's records, in order).
fn search_notes(ds: &Dataset, device: &str, r: &SummaryRow) -> String {
    let notes: Vec<String> = ds
        .records_of(device, Experiment::Capacity)
        .filter(|x| x.key() == r.key() && !x.note.is_empty())
        .map(|x| x.note.clone())
        .collect();
    notes.join(" · ")
}

fn write_tables(out: &mut String, ds: &Dataset, device: &str, rows: &Rows) {
    let mut t = Table::new(&[
        "series",
        ">capacity (median)",
        ">n",
        ">failed",
        "what ended each search",
    ]);
    for (k, rs) in by_series(rows.found.iter().copied()) {
        for r in rs {
            t.row(vec![
                k.label(Vary::default()),
                table::median(Some(r), fmt::tick),
                table::count(r.n),
                table::count(r.failed),
                search_notes(ds, device, r),
            ]);
        }
    }
    if let Some((_, label)) = &rows.bound {
        let _ = writeln!(out, "Latency {label}.\n");
    }
    if !t.is_empty() {
        t.write_to(out);
    }
    let mut s = Table::new(&[
        "series",
        ">in flight",
        ">n",
        ">median req/s",
        ">p50 latency",
        ">p99 latency",
        ">errors",
        ">sandboxes",
        ">memory in use",
    ]);
    for (k, rs) in by_series(rows.steps(Metric::Throughput)) {
        for r in rs {
            let get =
                |m: Metric| table::find(&rows.all, &k, r.concurrency, phase::STEP, m.as_str());
            s.row(vec![
                k.label(Vary::default()),
                r.concurrency.to_string(),
                table::count(r.n),
                table::median(Some(r), fmt::sig3),
                table::median(get(Metric::LatencyP50), fmt::duration_us),
                table::median(get(Metric::LatencyP99), fmt::duration_us),
                table::total(get(Metric::Errors)),
                table::median(get(Metric::Sandboxes), fmt::tick),
                table::median(get(Metric::MemoryTotal), fmt::mib),
            ]);
        }
    }
    if !s.is_empty() {
        out.push_str("Per load step (medians over repetitions):\n\n");
        s.write_to(out);
    }
}
