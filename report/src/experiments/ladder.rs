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
            run).",
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
    let rows = select(ds, device);
    let mut tables = String::new();
    write_table(&mut tables, &rows);
    Section::new(ABOUT.experiment, [chart(ds, device, &rows)], tables)
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
