//! The report's charts: what every chart shares (its file name, the colour and marker of a
//! series, the standard mean-with-CI line, the paper's dashed reference lines, the device note).
//! Each experiment builds its own charts from its rows (`crate::experiments`); [`figure`] is
//! the model they build, [`axis`] its axes and [`draw`] renders it to PNG and SVG.

pub mod axis;
pub mod draw;
pub mod figure;

use plotters::style::RGBColor;
use wow_records::{Backend, Experiment, Series, SummaryRow};

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

/// Colour and marker of a series, stable across charts: Wasm in blues and greens, Docker in
/// reds, oranges and purples.
pub fn series_style(backend: &str, variant: &str) -> (RGBColor, Marker) {
    let series = variant.parse::<Series>().ok();
    match (backend.parse::<Backend>().ok(), series) {
        (Some(Backend::Wasm), Some(Series::Precompiled | Series::InProcess | Series::Distinct)) => {
            (RGBColor(31, 119, 180), Marker::Circle)
        }
        (Some(Backend::Wasm), Some(Series::Compile)) => (RGBColor(23, 162, 184), Marker::Square),
        (Some(Backend::Wasm), Some(Series::Shared)) => (RGBColor(44, 160, 44), Marker::Square),
        (Some(Backend::Wasm), _) => (RGBColor(60, 90, 160), Marker::Circle),
        (Some(Backend::Docker), Some(Series::CreateStart)) => {
            (RGBColor(214, 39, 40), Marker::Triangle)
        }
        (Some(Backend::Docker), Some(Series::Prestarted)) => {
            (RGBColor(255, 127, 14), Marker::Square)
        }
        (Some(Backend::Docker), Some(Series::HostNet)) => (RGBColor(148, 103, 189), Marker::Circle),
        (Some(Backend::Docker), Some(Series::Actionloop)) => (RGBColor(140, 86, 75), Marker::Cross),
        (Some(Backend::Docker), _) => (RGBColor(190, 60, 120), Marker::Triangle),
        _ => (RGBColor(100, 100, 100), Marker::Cross),
    }
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
    }
}

/// The standard line of a series: mean per level, 95% CI band where n > 1.
pub fn mean_line(key: &SeriesKey, label: String, rows: &[&SummaryRow], scale: f64) -> Line {
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

/// Every y a set of lines shows (points and band ends), for an axis around them.
pub fn line_values(lines: &[Line]) -> Vec<f64> {
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

/// Every level (x) a set of lines shows.
pub fn line_levels(lines: &[Line]) -> Vec<u32> {
    lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0.round() as u32))
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
