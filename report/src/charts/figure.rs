//! The figure model: what a chart shows (panels of lines, bars or grouped bars, reference lines,
//! marks and a legend), in data units and free of plotters' drawing calls. The experiments build
//! [`Figure`]s; [`super::draw`] turns them into PNG and SVG.

use plotters::style::RGBColor;

use super::axis::Axis;

/// Point marker shapes, so series stay apart without colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    None,
    Circle,
    Triangle,
    Square,
    Cross,
}

/// One line of an XY panel. Points are in data units.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub color: RGBColor,
    pub marker: Marker,
    pub dashed: bool,
    pub width: u32,
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)`: a shaded band (the 95% CI).
    pub band: Vec<(f64, f64, f64)>,
    /// Points whose measurement did not reach a steady state: drawn hollow, off the line.
    pub unsteady: Vec<(f64, f64)>,
}

/// A horizontal reference line with a label at its right end.
#[derive(Debug, Clone)]
pub struct HLine {
    pub y: f64,
    pub label: String,
    pub color: RGBColor,
}

/// A labelled point (e.g. "capacity 400").
#[derive(Debug, Clone)]
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub color: RGBColor,
}

#[derive(Debug, Clone)]
pub struct XyPanel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub lines: Vec<Line>,
    pub hlines: Vec<HLine>,
    pub marks: Vec<Mark>,
}

/// A horizontal bar, possibly stacked from segments.
#[derive(Debug, Clone)]
pub struct HBar {
    pub label: String,
    /// `(value, colour)` stacked left to right, in data units.
    pub segments: Vec<(f64, RGBColor)>,
    /// Written right of the bar.
    pub value_label: String,
}

#[derive(Debug, Clone)]
pub struct HBarPanel {
    pub title: String,
    pub x: Axis,
    /// Top to bottom.
    pub bars: Vec<HBar>,
}

/// Vertical bars grouped by category.
#[derive(Debug, Clone)]
pub struct GroupedPanel {
    pub title: String,
    pub y: Axis,
    pub categories: Vec<String>,
    /// Per series: label, colour, one optional value per category (absent = no bar, and the
    /// category shows "not measured" for it).
    pub series: Vec<(String, RGBColor, Vec<Option<f64>>)>,
    pub hlines: Vec<HLine>,
    pub value_fmt: fn(f64) -> String,
}

#[derive(Debug, Clone)]
pub enum Panel {
    Xy(XyPanel),
    HBars(HBarPanel),
    Grouped(GroupedPanel),
}

#[derive(Debug, Clone)]
pub enum LegendStyle {
    Line { dashed: bool, marker: Marker },
    Box,
    Band,
}

#[derive(Debug, Clone)]
pub struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub style: LegendStyle,
}

impl LegendEntry {
    pub fn of_line(l: &Line) -> LegendEntry {
        LegendEntry {
            label: l.label.clone(),
            color: l.color,
            style: LegendStyle::Line {
                dashed: l.dashed,
                marker: l.marker,
            },
        }
    }
}

/// A whole chart: title, panels in a grid, a legend strip below.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub subtitle: String,
    pub size: (u32, u32),
    /// Panels per row.
    pub columns: usize,
    pub panels: Vec<Panel>,
    pub legend: Vec<LegendEntry>,
}
