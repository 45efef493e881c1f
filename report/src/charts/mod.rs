//! The report's charts: what every chart shares (its file name, the colour and marker of a
//! series, the standard mean-with-CI line, the paper's dashed reference lines, the device note).
//! Each experiment builds its own charts from its rows (`crate::experiments`); [`figure`] is
//! the model they build, [`axis`] its axes and [`draw`] renders it to PNG and SVG.

pub mod axis;
pub mod draw;
pub mod figure;

use plotters::style::RGBColor;
use wow_records::{Backend, Engine, Experiment, Series, SummaryRow};

use crate::data::{Dataset, SeriesKey, measured, meta_device_name};
use crate::paper::{Curve, paper};
use figure::{Figure, Line, Marker};

/// A chart to draw: its id (file stem without the device), the experiment it belongs to, and
/// the figure.
#[derive(Debug, Clone)]
pub struct ChartSpec {
    pub id: &'static str,
    pub experiment: Experiment,
    pub title: String,
    pub figure: Figure,
}

impl ChartSpec {
    /// The file stem: `cold-start-host`.
    pub fn stem(&self, device: &str) -> String {
        format!("{}-{}", self.id, device)
    }
}

/// Colour and marker of a series, stable across charts: Wasm in one colour per engine (a
/// lighter shade for `compile`, a darker one for `shared`), Docker in reds, oranges and purples.
pub fn series_style(backend: &str, engine: &str, variant: &str) -> (RGBColor, Marker) {
    let series = variant.parse::<Series>().ok();
    match backend.parse::<Backend>().ok() {
        Some(Backend::Wasm) => {
            let base = engine_color(engine);
            match series {
                Some(Series::Compile) => (shade(base, 0.45), Marker::Square),
                Some(Series::Shared) => (shade(base, -0.35), Marker::Square),
                _ => (base, Marker::Circle),
            }
        }
        Some(Backend::Docker) => match series {
            Some(Series::CreateStart) => (RGBColor(214, 39, 40), Marker::Triangle),
            Some(Series::Prestarted) => (RGBColor(255, 127, 14), Marker::Square),
            Some(Series::HostNet) => (RGBColor(148, 103, 189), Marker::Circle),
            Some(Series::Actionloop) => (RGBColor(140, 86, 75), Marker::Cross),
            Some(Series::Skeleton) => (RGBColor(120, 20, 20), Marker::Square),
            Some(Series::DockerWasm) => (RGBColor(227, 119, 194), Marker::Circle),
            _ => (RGBColor(190, 60, 120), Marker::Triangle),
        },
        _ => (RGBColor(100, 100, 100), Marker::Cross),
    }
}

/// One colour per Wasm engine, the same in every chart (rows without an engine are
/// wasmtime's).
pub fn engine_color(engine: &str) -> RGBColor {
    match engine.parse::<Engine>().unwrap_or(Engine::REFERENCE) {
        Engine::Wasmtime => RGBColor(31, 119, 180),
        Engine::Wasmer => RGBColor(44, 160, 44),
        Engine::Wamr => RGBColor(188, 150, 20),
        Engine::Wasmi => RGBColor(23, 170, 190),
    }
}

/// `c` mixed towards white (`amount` > 0) or black (< 0).
fn shade(c: RGBColor, amount: f64) -> RGBColor {
    let to = if amount > 0.0 { 255.0 } else { 0.0 };
    let a = amount.abs();
    let mix = |v: u8| (v as f64 + (to - v as f64) * a).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// The colour of the paper's values beside this run's (Docker's, then the Wasm runtime's).
pub fn paper_color(backend: Backend) -> RGBColor {
    match backend {
        Backend::Docker => RGBColor(200, 110, 110),
        _ => RGBColor(100, 130, 185),
    }
}

/// The colour of the paper's values where one colour stands for the paper.
pub const PAPER_GREY: RGBColor = draw::PAPER_GREY;

/// The colour of a bound, a budget or a percentile line.
pub const REFERENCE_GREY: RGBColor = RGBColor(90, 90, 90);

/// The dashed line of one of the paper's curves, labelled with what and where it measured.
pub fn reference_line(curve: &Curve, device: &str) -> Line {
    let p = paper();
    Line {
        label: p.figure_label(p.sandbox_name(curve.backend), device),
        color: paper_color(curve.backend),
        marker: Marker::Cross,
        dashed: true,
        width: 2,
        points: curve.points.clone(),
        band: vec![],
        unsteady: vec![],
    }
}

/// The standard line of a series: mean per level, 95% CI band where n > 1.
pub fn mean_line(key: &SeriesKey, label: String, rows: &[&SummaryRow], scale: f64) -> Line {
    let (color, marker) = series_style(&key.backend, &key.engine, &key.variant);
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
        unsteady: vec![],
    }
}

/// `line` with the points at `levels` taken off it and drawn hollow (their band dropped):
/// measurements that did not reach a steady state.
pub fn mark_unsteady(mut line: Line, levels: &[u32]) -> Line {
    let off = |x: f64| levels.iter().any(|l| *l as f64 == x);
    let (out, kept): (Vec<_>, Vec<_>) = line.points.into_iter().partition(|p| off(p.0));
    line.points = kept;
    line.unsteady = out;
    line.band.retain(|b| !off(b.0));
    line
}

/// Every y a set of lines shows (points and band ends), for an axis around them.
pub fn line_values(lines: &[Line]) -> Vec<f64> {
    lines
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .chain(&l.unsteady)
                .map(|p| p.1)
                .chain(l.band.iter().flat_map(|b| [b.1, b.2]))
        })
        .collect()
}

/// Every level (x) a set of lines shows.
pub fn line_levels(lines: &[Line]) -> Vec<u32> {
    lines
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .chain(&l.unsteady)
                .map(|p| p.0.round() as u32)
        })
        .collect()
}

/// The subtitle's note on the device: the host, or a profile emulated by cgroup limits.
pub fn device_note(ds: &Dataset, device: &str) -> String {
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
