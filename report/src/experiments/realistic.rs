//! `realistic`: the paper's Azure-shaped workload through a capped invoker. Every successful
//! request's latency (from the records) and the run's percentiles (from the summary) are
//! selected once; the ECDF chart and the tables show the same series beside the paper's curves.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use plotters::style::RGBColor;
use wow_records::{Backend, Experiment, Metric, SummaryRow, phase};

use super::{About, Section};
use crate::charts::axis::{Axis, TickFmt};
use crate::charts::figure::{Figure, HLine, LegendEntry, Line, Marker, Panel, XyPanel};
use crate::charts::{ChartSpec, device_note, reference_line, series_style};
use crate::data::{Dataset, SeriesKey, Vary, measured};
use crate::fmt;
use crate::paper::paper;
use crate::table::{self, Table};

pub const ABOUT: About = About {
    experiment: Experiment::Realistic,
    title: "Realistic workload",
    intro: "The paper's Azure-shaped workload (by default 62 actions, 90% of requests to two \
            hot ones, 10% spread over the other 60), served by an invoker with a sandbox cap, keep-alive and LRU \
            eviction, identical for both backends. Every request's latency is recorded with \
            whether it met a cold start.",
    section,
};

/// The run-wide percentiles the table shows, with their column names.
const PERCENTILES: [(Metric, &str); 4] = [
    (Metric::LatencyP50, ">p50"),
    (Metric::LatencyP90, ">p90"),
    (Metric::LatencyP99, ">p99"),
    (Metric::LatencyMax, ">max"),
];

struct Rows<'a> {
    /// Every summary row of the experiment.
    all: Vec<&'a SummaryRow>,
    /// Per series: its successful request latencies (µs), sorted.
    latencies: Vec<(SeriesKey, Vec<f64>)>,
}

impl<'a> Rows<'a> {
    /// A series' row of one phase and metric.
    fn get(&self, key: &SeriesKey, phase: &str, metric: Metric) -> Option<&'a SummaryRow> {
        self.all
            .iter()
            .find(|r| SeriesKey::of(r) == *key && r.phase == phase && r.metric == metric)
            .copied()
    }

    /// The median share of a series' requests that met a cold start.
    fn cold_fraction(&self, key: &SeriesKey) -> Option<f64> {
        self.all
            .iter()
            .find(|r| {
                r.phase == phase::ALL
                    && r.metric == Metric::ColdFraction
                    && SeriesKey::of(r) == *key
                    && measured(r)
            })
            .and_then(|r| r.median)
    }
}

fn section(ds: &Dataset, device: &str) -> Section {
    let rows = select(ds, device);
    let mut tables = String::new();
    write_tables(&mut tables, &rows);
    Section::new(ABOUT.experiment, [chart(ds, device, &rows)], tables)
}

fn select<'a>(ds: &'a Dataset, device: &'a str) -> Rows<'a> {
    let mut m: BTreeMap<SeriesKey, Vec<f64>> = BTreeMap::new();
    for r in ds.records_of(device, Experiment::Realistic).filter(|r| {
        r.metric == Metric::Latency && (r.phase == phase::COLD || r.phase == phase::WARM) && r.ok
    }) {
        if r.value.is_finite() {
            m.entry(SeriesKey::of_record(r)).or_default().push(r.value);
        }
    }
    let mut latencies: Vec<(SeriesKey, Vec<f64>)> = m.into_iter().collect();
    for (_, xs) in &mut latencies {
        xs.sort_by(f64::total_cmp);
    }
    latencies.sort_by_key(|(k, _)| k.order());
    Rows {
        all: ds.rows(device, Experiment::Realistic).collect(),
        latencies,
    }
}

/// The points of an ECDF over sorted values: a step function for few requests; beyond that the
/// steps are finer than a pixel and the ECDF is drawn through (x_i, (i + 1) / n) at up to 200
/// evenly spaced ranks.
fn ecdf(xs: &[f64]) -> Vec<(f64, f64)> {
    let n = xs.len();
    if n <= 200 {
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
    }
}

fn chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let series = &rows.latencies;
    if series.is_empty() {
        return None;
    }
    let vary = Vary::of(series.iter().map(|(k, _)| k));
    let mut lines = Vec::new();
    for (k, xs) in series {
        let (color, _) = series_style(&k.backend, &k.engine, &k.variant);
        let cold = rows
            .cold_fraction(k)
            .map(fmt::percent)
            .unwrap_or_else(|| fmt::MISSING.to_string());
        lines.push(Line {
            label: format!(
                "{}: {} requests, cold starts {cold}",
                k.label(vary),
                xs.len()
            ),
            color,
            marker: Marker::None,
            dashed: false,
            width: 2,
            points: ecdf(xs),
            band: vec![],
            unsteady: vec![],
        });
    }
    let f = &paper().figures.realistic;
    lines.extend(f.curves().iter().map(|c| reference_line(c, &f.device)));
    let xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    let legend = lines.iter().map(LegendEntry::of_line).collect();
    let workloads: BTreeSet<&str> = series.iter().map(|(k, _)| k.workload.as_str()).collect();
    let percentile = |y: f64, label: &str| HLine {
        y,
        label: label.into(),
        color: RGBColor(110, 110, 110),
    };
    Some(ChartSpec {
        id: "realistic-ecdf",
        experiment: ABOUT.experiment,
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
                hlines: vec![percentile(0.5, "p50"), percentile(0.99, "p99")],
                marks: vec![],
            })],
            legend,
        },
    })
}

fn write_tables(out: &mut String, rows: &Rows) {
    let mut keys: BTreeSet<SeriesKey> = rows.all.iter().map(|r| SeriesKey::of(r)).collect();
    keys.extend(rows.latencies.iter().map(|(k, _)| k.clone()));
    let mut keys: Vec<SeriesKey> = keys.into_iter().collect();
    keys.sort_by_key(|k| k.order());
    let vary = Vary::of(keys.iter());
    let mut header = vec![
        "series",
        ">clients",
        ">requests ok",
        ">failed",
        ">cold-start fraction",
    ];
    header.extend(PERCENTILES.iter().map(|p| p.1));
    header.extend([">median cold", ">median warm"]);
    let mut t = Table::new(&header);
    for k in &keys {
        let clients = rows
            .all
            .iter()
            .filter(|r| SeriesKey::of(r) == *k)
            .map(|r| r.concurrency)
            .max()
            .unwrap_or(0);
        let cold = rows.get(k, phase::COLD, Metric::Latency);
        let warm = rows.get(k, phase::WARM, Metric::Latency);
        let ok = cold.map_or(0, |r| r.n) + warm.map_or(0, |r| r.n);
        let failed = cold.map_or(0, |r| r.failed) + warm.map_or(0, |r| r.failed);
        let mut cells = vec![
            k.label(vary),
            clients.to_string(),
            ok.to_string(),
            failed.to_string(),
            table::median(rows.get(k, phase::ALL, Metric::ColdFraction), fmt::percent),
        ];
        for (metric, _) in PERCENTILES {
            cells.push(table::median(
                rows.get(k, phase::ALL, metric),
                fmt::duration_us,
            ));
        }
        cells.push(table::median(cold, fmt::duration_us));
        cells.push(table::median(warm, fmt::duration_us));
        t.row(cells);
    }
    out.push_str(
        "Percentiles: the run's own (over all requests of a repetition; median over \
         repetitions). Cold and warm: medians of the per-request latencies.\n\n",
    );
    t.write_to(out);
    paper_table(out);
}

/// The paper's ECDF at the quantiles it gives.
fn paper_table(out: &mut String) {
    let f = &paper().figures.realistic;
    let quantile_name = |q: f64| {
        if q <= 0.0 {
            "min".to_string()
        } else if q >= 1.0 {
            "max".to_string()
        } else {
            format!("p{}", fmt::tick(q * 100.0))
        }
    };
    let mut header = vec!["the paper".to_string()];
    header.extend(
        f.quantiles
            .iter()
            .map(|q| format!(">{}", quantile_name(*q))),
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut p = Table::new(&header);
    for curve in f.curves() {
        let name = match curve.backend {
            Backend::Docker => "Docker",
            _ => "wasmtime",
        };
        let mut cells = vec![name.to_string()];
        cells.extend(curve.points.iter().map(|(us, _)| fmt::duration_us(*us)));
        p.row(cells);
    }
    let _ = writeln!(out, "The paper's ECDF ({}):\n", f.source);
    p.write_to(out);
}
