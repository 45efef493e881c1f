//! `throughput`: closed-loop clients (and open-loop rates) per config and workload. The panels
//! (config × workload) are chosen once from the closed-loop rows; the chart draws one panel per
//! pair and the tables list the same pairs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use wow_records::{Backend, Config, Experiment, Metric, SummaryRow, phase};

use super::{About, Section};
use crate::charts::axis::{Axis, TickFmt};
use crate::charts::figure::{Figure, LegendEntry, Line, Panel, XyPanel};
use crate::charts::{ChartSpec, device_note, line_levels, line_values, mark_unsteady, mean_line};
use crate::data::{Dataset, Unsteady, Vary, by_series, in_order, measured};
use crate::fmt;
use crate::table::{self, Table};

pub const ABOUT: About = About {
    experiment: Experiment::Throughput,
    title: "Throughput",
    intro: "Closed-loop clients through the same invoker for both backends. After a warm-up \
            (at least its set length, and until every client has had an answer), the window \
            lasts until the level is steady: on average a set number of completions per \
            client, and no drift of the throughput across the window (a least-squares line \
            through the rates of ten batches of answers) beyond a set share that stands out \
            of the noise; at least the least window and at most the ceiling. \
            A level not steady at the ceiling is drawn as a hollow ring and left out of the \
            headlines; the suite's settings are in the configuration table. `paper` config: \
            at most 4 sandboxes, per-sandbox concurrency 10 (mixed) or 3, Docker's proxy runs \
            one action at a time per container as \
            `dockerskeleton` did; `fair`: Docker's proxy gets the same concurrency as a Wasm \
            sandbox.",
    section,
};

/// The workloads in display order, with their panel titles.
const WORKLOADS: [(&str, &str); 3] = [
    ("hash", "CPU-bound (hash)"),
    ("sleep", "I/O-bound (sleep)"),
    ("mixed", "mixed (hash or sleep, p = 0.5)"),
];

struct Rows<'a> {
    /// Every row of the experiment.
    all: Vec<&'a SummaryRow>,
    /// The configs and workloads of the closed-loop rows, in display order.
    configs: Vec<String>,
    workloads: Vec<String>,
}

impl<'a> Rows<'a> {
    /// The throughput rows of one phase, config and workload (not the load generator's own).
    fn panel(&self, phase: &str, config: &str, workload: &str) -> Vec<&'a SummaryRow> {
        self.all
            .iter()
            .copied()
            .filter(|r| {
                r.phase == phase
                    && r.metric == Metric::Throughput
                    && r.backend != Backend::Client
                    && r.config == config
                    && r.workload == workload
            })
            .collect()
    }
}

fn section(ds: &Dataset, device: &str) -> Section {
    let rows = select(ds, device);
    let mut tables = String::new();
    write_tables(&mut tables, &rows);
    Section::new(ABOUT.experiment, [chart(ds, device, &rows)], tables)
}

fn select<'a>(ds: &'a Dataset, device: &'a str) -> Rows<'a> {
    let all: Vec<&SummaryRow> = ds.rows(device, Experiment::Throughput).collect();
    let closed: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| {
            r.phase == phase::WARM && r.metric == Metric::Throughput && r.backend != Backend::Client
        })
        .collect();
    let configs = in_order(
        closed.iter().map(|r| r.config.clone()),
        Config::ALL,
        |x, c| c == x,
    );
    let workloads = in_order(
        closed.iter().map(|r| r.workload.clone()),
        &WORKLOADS,
        |x, w| x.0 == w,
    );
    Rows {
        all,
        configs,
        workloads,
    }
}

/// A workload's panel title.
fn workload_desc(w: &str) -> String {
    WORKLOADS
        .iter()
        .find(|x| x.0 == w)
        .map_or_else(|| w.to_string(), |x| x.1.to_string())
}

fn chart(ds: &Dataset, device: &str, rows: &Rows) -> Option<ChartSpec> {
    let mut panels = Vec::new();
    let mut legend = Vec::new();
    let mut seen = BTreeSet::new();
    let mut grid_cols = 0;
    let unsteady = Unsteady::of(&ds.summary);
    for config in &rows.configs {
        let mut in_row = 0;
        for w in &rows.workloads {
            let panel = rows.panel(phase::WARM, config, w);
            if !panel.iter().any(|r| measured(r)) {
                continue;
            }
            in_row += 1;
            let groups = by_series(panel);
            let lines: Vec<Line> = groups
                .iter()
                .filter(|(_, r)| r.iter().any(|r| measured(r)))
                .map(|(k, r)| {
                    let line = mean_line(k, k.label(Vary::default()), r, 1.0);
                    let off: Vec<u32> = r
                        .iter()
                        .filter(|r| unsteady.contains(r))
                        .map(|r| r.concurrency)
                        .collect();
                    mark_unsteady(line, &off)
                })
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
    let grid_rows = panels.len().div_ceil(columns);
    Some(ChartSpec {
        id: "throughput",
        experiment: ABOUT.experiment,
        title: "Throughput vs clients".into(),
        figure: Figure {
            title: "Throughput vs closed-loop clients".into(),
            subtitle: format!(
                "paper config: ≤ 4 sandboxes, Docker's proxy one run at a time · fair: same concurrency for both · lines: mean, shaded: 95% CI · hollow ring: level not steady within the window's ceiling · {}",
                device_note(ds, device)
            ),
            size: (
                (620 * columns as u32).max(1200),
                230 + 560 * grid_rows as u32,
            ),
            columns,
            panels,
            legend,
        },
    })
}

/// "yes", "no", or "k of n" repetitions steady; "—" where not judged.
fn steady_cell(r: Option<&SummaryRow>) -> String {
    match r.filter(|r| measured(r)) {
        Some(r) => {
            let k = (r.mean.unwrap_or(0.0) * r.n as f64).round() as usize;
            match k {
                _ if k == r.n => "yes".into(),
                0 => "no".into(),
                _ => format!("{k} of {}", r.n),
            }
        }
        None => fmt::MISSING.to_string(),
    }
}

fn write_tables(out: &mut String, rows: &Rows) {
    for phase in [phase::WARM, phase::OPEN_LOOP] {
        let closed = phase == phase::WARM;
        let mut t = Table::new(&[
            "config",
            "workload",
            "series",
            if closed { ">clients" } else { ">offered req/s" },
            ">n",
            ">median req/s",
            ">mean, 95% CI",
            ">p50 latency",
            ">p99 latency",
            ">errors",
            ">cold starts",
            ">window",
            ">in flight at end",
            "steady",
        ]);
        for c in &rows.configs {
            for w in &rows.workloads {
                for (k, rs) in by_series(rows.panel(phase, c, w)) {
                    for r in rs {
                        let get = |m: Metric| {
                            table::find(&rows.all, &k, r.concurrency, phase, m.as_str())
                        };
                        t.row(vec![
                            c.clone(),
                            w.clone(),
                            k.label(Vary::default()),
                            r.concurrency.to_string(),
                            table::count(r.n),
                            table::median(Some(r), fmt::sig3),
                            table::ci(Some(r), fmt::sig3),
                            table::median(get(Metric::LatencyP50), fmt::duration_us),
                            table::median(get(Metric::LatencyP99), fmt::duration_us),
                            table::total(get(Metric::Errors)),
                            table::total(get(Metric::ColdStarts)),
                            table::median(get(Metric::Elapsed), |s| format!("{s:.1} s")),
                            table::total(get(Metric::InFlight)),
                            steady_cell(get(Metric::Steady)),
                        ]);
                    }
                }
            }
        }
        if !t.is_empty() {
            if closed {
                out.push_str(
                    "Closed loop (latencies: medians over repetitions of each window's \
                     percentile, over the requests answered in the window and those still in \
                     flight at its end; errors, cold starts and requests in flight at the end: \
                     totals over repetitions; window: median length; steady: how many \
                     repetitions' windows reached a steady state before their ceiling):\n\n",
                );
            } else {
                out.push_str("Open loop (Poisson arrivals at the offered rate):\n\n");
            }
            t.write_to(out);
        }
    }
    let ceiling = rows
        .all
        .iter()
        .filter(|r| r.phase == phase::CEILING && r.metric == Metric::Throughput);
    for r in ceiling {
        let _ = writeln!(
            out,
            "Load generator ceiling (the most the harness itself drives, against a trivial \
             in-process endpoint): {} req/s with {} clients.\n",
            table::median(Some(r), fmt::sig3),
            r.concurrency,
        );
    }
}
