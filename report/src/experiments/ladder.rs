//! `ladder`: each rung of the Wasm start-up path timed in-process, beside Docker's cold-start
//! phases. One bar chart (the measured rows) and one table (every row), in the same order.

use std::collections::BTreeSet;

use wow_records::{Backend, Experiment, LadderStep, Metric, Series, SummaryRow, phase};

use super::{About, Section};
use crate::charts::axis::{Axis, TickFmt};
use crate::charts::figure::{Figure, HBar, HBarPanel, LegendEntry, LegendStyle, Panel};
use crate::charts::{ChartSpec, device_note, series_style};
use crate::data::{Dataset, backend_rank, measured};
use crate::fmt;
use crate::table::{self, Table};

pub const ABOUT: About = About {
    experiment: Experiment::Ladder,
    title: "Wasm start-up ladder",
    intro: "Each rung of the Wasm start-up path timed in-process (compile, deserialize the \
            cached artifact from memory or a file, build the `InstancePre`, instantiate on \
            demand or from the pool, a fresh run, a run on a pre-warmed instance), beside \
            Docker's cold-start phases (create, start, ready = first HTTP answer, init, first \
            run). Below them, the same path as a client meets it: a precompiled cold start \
            (`/init` shipping the module, artifact cached) and a warm `/run` over HTTP to an \
            executor process, each broken down by the executor's own step timing \
            (`Server-Timing`); `outside` is what the client waited beyond the executor's \
            handler (its encoding, the request head and the answer on the wire, HTTP parsing, \
            scheduling).",
    section,
};

/// Docker's cold-start phases in the order they happen.
const DOCKER_PHASES: [&str; 5] = [
    phase::CREATE,
    phase::START,
    phase::READY,
    phase::INIT,
    phase::FIRST_RUN,
];

fn section(ds: &Dataset, device: &str) -> Section {
    let all = select(ds, device);
    let (steps, rows): (Vec<&SummaryRow>, Vec<&SummaryRow>) =
        all.into_iter().partition(|r| breakdown_step(r).is_some());
    let mut tables = String::new();
    write_table(&mut tables, &rows);
    write_breakdown(&mut tables, &rows, &steps);
    Section::new(ABOUT.experiment, [chart(ds, device, &rows)], tables)
}

/// For a row of the HTTP breakdown (`init_<step>`, `run_<step>`): the request's total phase
/// and the step.
fn breakdown_step(r: &SummaryRow) -> Option<(&'static str, &str)> {
    if r.backend != Backend::Wasm || r.variant == Series::InProcess {
        return None;
    }
    if let Some(step) = r.phase.strip_prefix("init_") {
        return Some((phase::COLD_START, step));
    }
    r.phase
        .strip_prefix("run_")
        .map(|step| (phase::WARM_RUN, step))
}

/// The executor's steps (`wow_runtime::timing`) in the order an `/init` or a `/run` takes them.
const STEP_ORDER: [&str; 19] = [
    "read",
    "parse",
    "slot",
    "decode",
    "check",
    "digest",
    "cache",
    "prepare",
    "action",
    "admit",
    "io",
    "instance_pool",
    "instantiate",
    "prewarm",
    "wasi",
    "guest",
    "teardown",
    "output",
    "respond",
];

/// The HTTP breakdown: for each request kind, its client-side median, then each step's median
/// and share of it, in the order the executor takes them.
fn write_breakdown(out: &mut String, rows: &[&SummaryRow], steps: &[&SummaryRow]) {
    if steps.is_empty() {
        return;
    }
    out.push_str(
        "\nWhere the time of a request goes, as the executor times it (medians of each step \
         over the samples, so they need not add up to the total):\n\n",
    );
    let mut t = Table::new(&["request", "workload", "step", ">n", ">median", ">share"]);
    for total in [phase::COLD_START, phase::WARM_RUN] {
        let Some(whole) = rows
            .iter()
            .find(|r| r.variant == Series::Precompiled && r.phase == total)
        else {
            continue;
        };
        let label = if total == phase::COLD_START {
            "precompiled cold start"
        } else {
            "warm /run"
        };
        let share = |m: Option<f64>| match (m, whole.median) {
            (Some(m), Some(w)) if w > 0.0 => format!("{:.0}%", 100.0 * m / w),
            _ => String::new(),
        };
        t.row(vec![
            label.into(),
            whole.workload.clone(),
            "client (whole request)".into(),
            table::count(whole.n),
            table::median(Some(whole), fmt::duration_us),
            share(whole.median),
        ]);
        let mut mine: Vec<&&SummaryRow> = steps
            .iter()
            .filter(|r| breakdown_step(r).is_some_and(|(t, _)| t == total))
            .collect();
        // In the order the executor takes them; the handler's total and what lies outside it
        // last.
        mine.sort_by_key(|r| {
            let step = breakdown_step(r).map(|(_, s)| s).unwrap_or_default();
            match step {
                "total" => STEP_ORDER.len() + 1,
                "outside" => STEP_ORDER.len() + 2,
                s => STEP_ORDER
                    .iter()
                    .position(|o| *o == s)
                    .unwrap_or(STEP_ORDER.len()),
            }
        });
        for r in mine {
            let step = breakdown_step(r).map(|(_, s)| s).unwrap_or_default();
            t.row(vec![
                label.into(),
                r.workload.clone(),
                match step {
                    "total" => "executor handler (total)".into(),
                    "outside" => "outside the handler".into(),
                    s => s.replace('_', " "),
                },
                table::count(r.n),
                table::median(Some(r), fmt::duration_us),
                share(r.median),
            ]);
        }
    }
    if let Some(h) = rows
        .iter()
        .find(|r| r.variant == Series::Precompiled && r.phase == phase::HEALTH)
    {
        t.row(vec![
            "GET /health (no sandbox work)".into(),
            String::new(),
            "client (whole request)".into(),
            table::count(h.n),
            table::median(Some(h), fmt::duration_us),
            String::new(),
        ]);
    }
    t.write_to(out);
}

/// The ladder's latency rows in display order: Wasm's rungs, then Docker's phases; unknown
/// phases last.
fn select<'a>(ds: &'a Dataset, device: &'a str) -> Vec<&'a SummaryRow> {
    let mut rows: Vec<&SummaryRow> = ds
        .rows(device, Experiment::Ladder)
        .filter(|r| r.metric == Metric::Latency)
        .collect();
    let step = |r: &SummaryRow| {
        if r.backend == Backend::Wasm {
            LadderStep::ALL
                .iter()
                .position(|s| r.phase == *s)
                .unwrap_or(LadderStep::ALL.len())
        } else {
            DOCKER_PHASES
                .iter()
                .position(|p| r.phase == *p)
                .unwrap_or(DOCKER_PHASES.len())
        }
    };
    rows.sort_by_key(|r| {
        (
            backend_rank(&r.backend),
            r.variant.clone(),
            step(r),
            r.phase.clone(),
        )
    });
    rows
}

/// A readable name for a ladder rung or Docker phase.
fn step_name(name: &str) -> String {
    match name.parse::<LadderStep>() {
        Ok(LadderStep::Deserialize) => "deserialize (bytes)".into(),
        Ok(LadderStep::DeserializeFile) => "deserialize (file, mmap)".into(),
        Ok(LadderStep::InstancePre) => "InstancePre".into(),
        Ok(LadderStep::InstantiateOndemand) => "instantiate (on demand)".into(),
        Ok(LadderStep::InstantiatePooled) => "instantiate (pooled)".into(),
        Ok(LadderStep::RunFresh) => "run (fresh instance)".into(),
        Ok(LadderStep::RunPrewarmed) => "run (pre-warmed)".into(),
        _ if name == phase::READY => "ready (first HTTP answer)".into(),
        _ if name == phase::FIRST_RUN => "first run".into(),
        _ => name.replace('_', " "),
    }
}

fn chart(ds: &Dataset, device: &str, rows: &[&SummaryRow]) -> Option<ChartSpec> {
    let rows: Vec<&SummaryRow> = rows.iter().copied().filter(|r| measured(r)).collect();
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
            let (color, _) = series_style(&r.backend, &r.engine, &r.variant);
            let name = if r.variant == Series::InProcess {
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
                label: format!("{} {}", r.backend, step_name(&r.phase)),
                segments: vec![(r.median.unwrap_or(0.0), color)],
                value_label: format!(" {}", fmt::duration_us(r.median.unwrap_or(f64::NAN))),
            }
        })
        .collect();
    let workloads: BTreeSet<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
    let n = bars.len() as u32;
    Some(ChartSpec {
        id: "ladder",
        experiment: ABOUT.experiment,
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

fn write_table(out: &mut String, rows: &[&SummaryRow]) {
    let mut t = Table::new(&[
        "backend", "variant", "workload", "step", ">n", ">failed", ">median", ">p90", ">min",
    ]);
    for r in rows {
        t.row(vec![
            r.backend.clone(),
            r.variant.clone(),
            r.workload.clone(),
            r.phase.clone(),
            table::count(r.n),
            table::count(r.failed),
            table::median(Some(r), fmt::duration_us),
            fmt::opt(r.p90, fmt::duration_us),
            fmt::opt(r.min, fmt::duration_us),
        ]);
    }
    t.write_to(out);
}
