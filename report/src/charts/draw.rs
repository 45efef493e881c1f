//! Chart primitives on plotters: axes with explicit ticks (log axes are drawn in log10 space
//! with labels in data units), XY panels with CI bands, horizontal and grouped bar panels, a
//! legend strip that never overlaps the data, and rendering to PNG and SVG.
//!
//! Text uses DejaVu Sans, embedded in the binary and registered with plotters as `sans-serif`,
//! so no system font library is involved.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::fmt;

/// DejaVu Sans 2.37 from Debian's `fonts-dejavu-core` (licence: `assets/LICENSE-DejaVu.txt`).
pub static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
/// What SVG viewers should use for the text plotters writes as `sans-serif`.
const SVG_FAMILY: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

/// Registers the embedded font with plotters (once per process).
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            // The font is part of the crate; a test renders a chart, so this cannot go unnoticed.
            eprintln!("wow-report: the embedded font could not be loaded");
        }
    });
}

pub const TITLE_SIZE: u32 = 30;
pub const SUBTITLE_SIZE: u32 = 18;
pub const PANEL_TITLE_SIZE: u32 = 22;
pub const AXIS_DESC_SIZE: u32 = 20;
pub const TICK_SIZE: u32 = 18;
pub const LEGEND_SIZE: u32 = 18;
pub const NOTE_SIZE: u32 = 16;

pub const GRID_BOLD: RGBColor = RGBColor(205, 205, 205);
pub const GRID_LIGHT: RGBColor = RGBColor(238, 238, 238);
pub const TEXT: RGBColor = RGBColor(30, 30, 30);
pub const TEXT_DIM: RGBColor = RGBColor(90, 90, 90);
pub const PAPER_GREY: RGBColor = RGBColor(120, 120, 120);

/// A linear coordinate with explicit bold and light key points (plotters' own key-point
/// combinator has no default formatting, which its mesh requires).
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.0 + limit.1) / 2;
        }
        let r = (v - self.lo) / (self.hi - self.lo);
        let len = (limit.1 - limit.0) as f64;
        limit.0 + (len * r + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

fn anchor(h: HPos, v: VPos) -> Pos {
    Pos::new(h, v)
}

type DResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT)
}

fn font_dim(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT_DIM)
}

/// How tick labels read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TickFmt {
    /// `0.5`, `2`, `150`.
    Plain,
    /// Microseconds in, `10 µs` / `1 ms` / `1 s` out.
    DurationUs,
    /// A fraction in, `50%` out.
    Percent,
}

impl TickFmt {
    fn label(self, v: f64) -> String {
        match self {
            TickFmt::Plain => fmt::tick(v),
            TickFmt::DurationUs => fmt::duration_tick_us(v),
            TickFmt::Percent => format!("{}%", fmt::tick(v * 100.0)),
        }
    }
}

/// One axis: its range and ticks in data units; log axes are drawn in log10 space.
#[derive(Debug, Clone)]
pub struct Axis {
    pub log: bool,
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub light: Vec<f64>,
    pub fmt: TickFmt,
    pub desc: String,
}

impl Axis {
    fn p(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn plot_range(&self) -> Range<f64> {
        self.p(self.lo)..self.p(self.hi)
    }

    /// Clamps a data value into the axis (for bands and bars that start at the axis).
    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.lo, self.hi)
    }

    fn tick_label(&self, plot_v: f64) -> String {
        let v = if self.log { 10f64.powf(plot_v) } else { plot_v };
        self.fmt.label(v)
    }

    /// A log axis around `values` (positive values only), bounded by 1-2-5 steps with some air,
    /// with 1-2-5 ticks over up to about two decades and one tick per decade beyond.
    pub fn log(values: impl IntoIterator<Item = f64>, fmt: TickFmt, desc: &str) -> Axis {
        let v: Vec<f64> = values
            .into_iter()
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        let (mn, mx) = min_max(&v).unwrap_or((1.0, 10.0));
        let lo = step125_below(mn / 1.15);
        let mut hi = step125_above(mx * 1.15);
        if hi <= lo {
            hi = step125_above(lo * 1.01);
        }
        let decades = (hi / lo).log10();
        let (lo_e, hi_e) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let inside = |x: f64| x >= lo * (1.0 - 1e-9) && x <= hi * (1.0 + 1e-9);
        let mut ticks = Vec::new();
        let mut light = Vec::new();
        let every = if decades > 8.5 { 2 } else { 1 };
        for e in lo_e..=hi_e {
            let base = 10f64.powi(e);
            if decades <= 1.2 {
                ticks.extend((1..=9).map(|m| base * m as f64).filter(|x| inside(*x)));
            } else if decades <= 2.5 {
                ticks.extend(
                    [1.0, 2.0, 5.0]
                        .map(|m| base * m)
                        .into_iter()
                        .filter(|x| inside(*x)),
                );
            } else if e % every == 0 && inside(base) {
                ticks.push(base);
            }
            light.extend((2..=9).map(|m| base * m as f64).filter(|x| inside(*x)));
        }
        Axis {
            log: true,
            lo,
            hi,
            ticks,
            light,
            fmt,
            desc: desc.to_string(),
        }
    }

    /// A linear axis from zero to a round number above `max`.
    pub fn zero_to(max: f64, fmt: TickFmt, desc: &str) -> Axis {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let step = nice_step(max * 1.08 / 6.0);
        let hi = (max * 1.08 / step).ceil() * step;
        let n = (hi / step).round() as usize;
        let ticks: Vec<f64> = (0..=n).map(|i| i as f64 * step).collect();
        let light: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) * step).collect();
        Axis {
            log: false,
            lo: 0.0,
            hi,
            ticks,
            light,
            fmt,
            desc: desc.to_string(),
        }
    }

    /// An axis whose ticks are exactly the measured levels (concurrency, clients, sandboxes):
    /// log-spaced when they span more than a factor of ten.
    pub fn levels(levels: &[u32], desc: &str) -> Axis {
        let mut l: Vec<f64> = levels.iter().map(|x| *x as f64).collect();
        l.sort_by(f64::total_cmp);
        l.dedup();
        let (mn, mx) = min_max(&l).unwrap_or((1.0, 2.0));
        let log = mn > 0.0 && mx / mn > 10.0;
        let ticks = thin(&l, if log { 14 } else { 12 }, log);
        if log {
            Axis {
                log: true,
                lo: mn / 1.35,
                hi: mx * 1.35,
                ticks,
                light: vec![],
                fmt: TickFmt::Plain,
                desc: desc.to_string(),
            }
        } else {
            let pad = ((mx - mn) * 0.06).max(0.5);
            Axis {
                log: false,
                lo: (mn - pad).max(if mn >= 0.0 { mn - pad } else { mn }),
                hi: mx + pad,
                ticks,
                light: vec![],
                fmt: TickFmt::Plain,
                desc: desc.to_string(),
            }
        }
    }

    /// 0 to 1 in tenths (an ECDF's y).
    pub fn unit(desc: &str) -> Axis {
        Axis {
            log: false,
            lo: 0.0,
            hi: 1.0,
            ticks: (0..=10).map(|i| i as f64 / 10.0).collect(),
            light: (0..10).map(|i| i as f64 / 10.0 + 0.05).collect(),
            fmt: TickFmt::Percent,
            desc: desc.to_string(),
        }
    }

    /// Categories 0..n (bars); labels come from the panel.
    fn coord(&self) -> Ticked {
        let r = self.plot_range();
        Ticked {
            lo: r.start,
            hi: r.end,
            bold: self.bold_plot(),
            light: self.light_plot(),
        }
    }

    fn categories(n: usize) -> Axis {
        Axis {
            log: false,
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: (0..n).map(|i| i as f64).collect(),
            light: vec![],
            fmt: TickFmt::Plain,
            desc: String::new(),
        }
    }

    fn bold_plot(&self) -> Vec<f64> {
        self.ticks
            .iter()
            .filter(|t| **t >= self.lo * (1.0 - 1e-9) && **t <= self.hi * (1.0 + 1e-9))
            .map(|t| self.p(*t))
            .collect()
    }

    fn light_plot(&self) -> Vec<f64> {
        self.light
            .iter()
            .filter(|t| **t >= self.lo && **t <= self.hi)
            .map(|t| self.p(*t))
            .collect()
    }
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let mn = v.iter().copied().fold(f64::INFINITY, f64::min);
    let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mn.is_finite() && mx.is_finite()).then_some((mn, mx))
}

/// The largest 1, 2 or 5 × 10^k not above `x`.
fn step125_below(x: f64) -> f64 {
    let base = 10f64.powf(x.log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|m| base * m)
        .find(|v| *v <= x * (1.0 + 1e-9))
        .unwrap_or(base)
}

/// The smallest 1, 2 or 5 × 10^k not below `x`.
fn step125_above(x: f64) -> f64 {
    let base = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| base * m)
        .find(|v| *v >= x * (1.0 - 1e-9))
        .unwrap_or(base * 10.0)
}

/// 1, 2, 2.5 or 5 × 10^k, the smallest not below `raw`.
fn nice_step(raw: f64) -> f64 {
    let e = raw.log10().floor();
    let base = 10f64.powf(e);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if base * m >= raw * (1.0 - 1e-9) {
            return base * m;
        }
    }
    base * 10.0
}

/// At most `max` of `levels`, always keeping the first and the last.
fn thin(levels: &[f64], max: usize, _log: bool) -> Vec<f64> {
    if levels.len() <= max {
        return levels.to_vec();
    }
    let step = levels.len().div_ceil(max);
    let mut v: Vec<f64> = levels.iter().step_by(step).copied().collect();
    let last = *levels.last().expect("non-empty");
    if v.last() != Some(&last) {
        v.push(last);
    }
    v
}

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

/// Draws `fig` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`.
pub fn render(fig: &Figure, dir: &Path, stem: &str) -> Result<()> {
    register_font();
    let png = dir.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png, fig.size).into_drawing_area();
        draw_figure(&root, fig).map_err(|e| anyhow!("drawing {stem}.png: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size).into_drawing_area();
        draw_figure(&root, fig).map_err(|e| anyhow!("drawing {stem}.svg: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("drawing {stem}.svg: {e}"))?;
    }
    let svg = svg.replace(
        &format!("font-family=\"{FAMILY}\""),
        &format!("font-family=\"{SVG_FAMILY}\""),
    );
    let path = dir.join(format!("{stem}.svg"));
    std::fs::write(&path, svg).map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

fn text_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &str, size: u32) -> u32 {
    area.estimate_text_size(s, &font(size))
        .map(|(w, _)| w)
        .unwrap_or((s.chars().count() as u32) * size * 6 / 10)
}

fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DResult<DB> {
    root.fill(&WHITE)?;
    let (w, _h) = root.dim_in_pixel();
    // Title and subtitle.
    let title_h = if fig.subtitle.is_empty() { 52 } else { 84 };
    let (top, rest) = root.split_vertically(title_h);
    top.draw(&Text::new(
        fig.title.clone(),
        (w as i32 / 2, 14),
        font(TITLE_SIZE).pos(anchor(HPos::Center, VPos::Top)),
    ))?;
    if !fig.subtitle.is_empty() {
        top.draw(&Text::new(
            fig.subtitle.clone(),
            (w as i32 / 2, 54),
            font_dim(SUBTITLE_SIZE).pos(anchor(HPos::Center, VPos::Top)),
        ))?;
    }
    // Legend strip: lay entries out in rows first, to know its height.
    let rows = legend_rows(root, &fig.legend, w.saturating_sub(60));
    let legend_h = if rows.is_empty() {
        0
    } else {
        rows.len() as u32 * 32 + 24
    };
    let (_, rest_h) = rest.dim_in_pixel();
    let (body, legend_area) = rest.split_vertically(rest_h.saturating_sub(legend_h));
    draw_legend(&legend_area, &rows)?;
    let n = fig.panels.len().max(1);
    let cols = fig.columns.clamp(1, n);
    let grid_rows = n.div_ceil(cols);
    let areas = body.split_evenly((grid_rows, cols));
    for (p, a) in fig.panels.iter().zip(areas.iter()) {
        match p {
            Panel::Xy(x) => draw_xy(a, x)?,
            Panel::HBars(b) => draw_hbars(a, b)?,
            Panel::Grouped(g) => draw_grouped(a, g)?,
        }
    }
    Ok(())
}

struct LegendItem<'a> {
    entry: &'a LegendEntry,
    width: u32,
}

const SWATCH: u32 = 46;

fn legend_rows<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &'a [LegendEntry],
    max_w: u32,
) -> Vec<Vec<LegendItem<'a>>> {
    let mut rows: Vec<Vec<LegendItem>> = Vec::new();
    let mut cur: Vec<LegendItem> = Vec::new();
    let mut cur_w = 0;
    for e in entries {
        let width = SWATCH + 10 + text_width(area, &e.label, LEGEND_SIZE) + 34;
        if !cur.is_empty() && cur_w + width > max_w {
            rows.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        cur_w += width;
        cur.push(LegendItem { entry: e, width });
    }
    if !cur.is_empty() {
        rows.push(cur);
    }
    rows
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[Vec<LegendItem>],
) -> DResult<DB> {
    if rows.is_empty() {
        return Ok(());
    }
    let (w, h) = area.dim_in_pixel();
    area.draw(&Rectangle::new(
        [(20, 6), (w as i32 - 20, h as i32 - 6)],
        ShapeStyle::from(&GRID_BOLD).stroke_width(1),
    ))?;
    for (i, row) in rows.iter().enumerate() {
        let total: u32 = row.iter().map(|r| r.width).sum();
        let mut x = (w.saturating_sub(total) / 2) as i32;
        let y = 12 + 32 * i as i32 + 16;
        for item in row {
            let e = item.entry;
            let (x0, x1) = (x, x + SWATCH as i32);
            match &e.style {
                LegendStyle::Line { dashed, marker } => {
                    let style = ShapeStyle::from(&e.color).stroke_width(3);
                    if *dashed {
                        for k in 0..3 {
                            let a = x0 + k * 17;
                            area.draw(&PathElement::new(vec![(a, y), (a + 10, y)], style))?;
                        }
                    } else {
                        area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?;
                    }
                    draw_marker(area, (x0 + SWATCH as i32 / 2, y), *marker, e.color)?;
                }
                LegendStyle::Box => {
                    area.draw(&Rectangle::new(
                        [(x0 + 8, y - 9), (x1 - 8, y + 9)],
                        e.color.filled(),
                    ))?;
                }
                LegendStyle::Band => {
                    area.draw(&Rectangle::new(
                        [(x0, y - 9), (x1, y + 9)],
                        e.color.mix(0.18).filled(),
                    ))?;
                }
            }
            area.draw(&Text::new(
                e.label.clone(),
                (x1 + 10, y),
                font(LEGEND_SIZE).pos(anchor(HPos::Left, VPos::Center)),
            ))?;
            x += item.width as i32;
        }
    }
    Ok(())
}

fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    marker: Marker,
    color: RGBColor,
) -> DResult<DB> {
    match marker {
        Marker::None => {}
        Marker::Circle => area.draw(&Circle::new((x, y), 6, color.filled()))?,
        Marker::Triangle => area.draw(&TriangleMarker::new((x, y), 8, color.filled()))?,
        Marker::Square => area.draw(&Rectangle::new(
            [(x - 5, y - 5), (x + 5, y + 5)],
            color.filled(),
        ))?,
        Marker::Cross => area.draw(&Cross::new((x, y), 6, color.stroke_width(3)))?,
    }
    Ok(())
}

/// Width of the y label area: the widest tick label plus room for the axis title.
fn y_area_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, labels: &[String]) -> u32 {
    let widest = labels
        .iter()
        .map(|l| text_width(area, l, TICK_SIZE))
        .max()
        .unwrap_or(20);
    widest + 64
}

fn draw_xy<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &XyPanel) -> DResult<DB> {
    let x = &p.x;
    let y = &p.y;
    let y_labels: Vec<String> = y.bold_plot().iter().map(|v| y.tick_label(*v)).collect();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(8)
        .margin_bottom(8)
        .margin_left(12)
        .margin_right(30)
        .x_label_area_size(68)
        .y_label_area_size(y_area_width(area, &y_labels));
    if !p.title.is_empty() {
        builder.caption(&p.title, font(PANEL_TITLE_SIZE));
    }
    let xr = x.coord();
    let yr = y.coord();
    let mut chart = builder.build_cartesian_2d(xr, yr)?;
    let xf = |v: &f64| x.tick_label(*v);
    let yf = |v: &f64| y.tick_label(*v);
    chart
        .configure_mesh()
        .x_desc(&x.desc)
        .y_desc(&y.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .axis_style(TEXT_DIM)
        .draw()?;

    // Bands first, so lines sit on top of every band.
    for l in &p.lines {
        if l.band.len() >= 2 {
            let mut poly: Vec<(f64, f64)> = l
                .band
                .iter()
                .map(|(bx, lo, _)| (x.p(*bx), y.p(y.clamp(*lo))))
                .collect();
            poly.extend(
                l.band
                    .iter()
                    .rev()
                    .map(|(bx, _, hi)| (x.p(*bx), y.p(y.clamp(*hi)))),
            );
            chart.draw_series(std::iter::once(Polygon::new(
                poly,
                l.color.mix(0.16).filled(),
            )))?;
        } else if l.band.len() == 1 {
            let (bx, lo, hi) = l.band[0];
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x.p(bx), y.p(y.clamp(lo))), (x.p(bx), y.p(y.clamp(hi)))],
                l.color.mix(0.5).stroke_width(6),
            )))?;
        }
    }
    for h in &p.hlines {
        let yy = y.p(h.y);
        let pts = vec![(x.p(x.lo), yy), (x.p(x.hi), yy)];
        chart.draw_series(DashedLineSeries::new(pts, 12, 7, h.color.stroke_width(2)))?;
        chart.draw_series(std::iter::once(Text::new(
            h.label.clone(),
            (x.p(x.hi), yy),
            font(NOTE_SIZE)
                .color(&h.color)
                .pos(anchor(HPos::Right, VPos::Bottom)),
        )))?;
    }
    for l in &p.lines {
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .filter(|(px, py)| px.is_finite() && py.is_finite() && (!y.log || *py > 0.0))
            .map(|(px, py)| (x.p(*px), y.p(*py)))
            .collect();
        let style = l.color.stroke_width(l.width);
        if l.dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 12, 7, style))?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))?;
        }
        let c = l.color;
        match l.marker {
            Marker::None => {}
            Marker::Circle => {
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 6, c.filled())))?;
            }
            Marker::Triangle => {
                chart.draw_series(pts.iter().map(|p| TriangleMarker::new(*p, 8, c.filled())))?;
            }
            Marker::Square => {
                chart.draw_series(pts.iter().map(|p| {
                    EmptyElement::at(*p) + Rectangle::new([(-5, -5), (5, 5)], c.filled())
                }))?;
            }
            Marker::Cross => {
                chart.draw_series(pts.iter().map(|p| Cross::new(*p, 6, c.stroke_width(3))))?;
            }
        }
    }
    let x_span = x.p(x.hi) - x.p(x.lo);
    for (i, m) in p.marks.iter().enumerate() {
        let pt = (x.p(m.x), y.p(m.y));
        // Successive labels alternate above and below their point, so neighbours do not collide.
        let (dy, v) = if i % 2 == 0 {
            (-14, VPos::Bottom)
        } else {
            (14, VPos::Top)
        };
        // Labels in the right third of the panel extend to the left, so they stay inside.
        let right = (pt.0 - x.p(x.lo)) > 0.66 * x_span;
        let (dx, h) = if right {
            (-14, HPos::Right)
        } else {
            (14, HPos::Left)
        };
        chart.draw_series(std::iter::once(
            EmptyElement::at(pt)
                + Circle::new((0, 0), 11, m.color.stroke_width(3))
                + Text::new(
                    m.label.clone(),
                    (dx, dy),
                    font(NOTE_SIZE).color(&m.color).pos(anchor(h, v)),
                ),
        ))?;
    }
    Ok(())
}

fn draw_hbars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &HBarPanel) -> DResult<DB> {
    let x = &p.x;
    let n = p.bars.len();
    let cats = Axis::categories(n);
    // Row i (top to bottom) sits at y = n − 1 − i.
    let label_of = |v: f64| -> String {
        let i = n as f64 - 1.0 - v.round();
        if (v - v.round()).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
            p.bars[i as usize].label.clone()
        } else {
            String::new()
        }
    };
    let labels: Vec<String> = p.bars.iter().map(|b| b.label.clone()).collect();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(8)
        .margin_bottom(8)
        .margin_left(12)
        .margin_right(30)
        .x_label_area_size(68)
        .y_label_area_size(y_area_width(area, &labels) - 30);
    if !p.title.is_empty() {
        builder.caption(&p.title, font(PANEL_TITLE_SIZE));
    }
    let xr = x.coord();
    let yr = cats.coord();
    let mut chart = builder.build_cartesian_2d(xr, yr)?;
    let xf = |v: &f64| x.tick_label(*v);
    let yf = |v: &f64| label_of(*v);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(&x.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .axis_style(TEXT_DIM)
        .draw()?;
    for (i, b) in p.bars.iter().enumerate() {
        let yc = (n - 1 - i) as f64;
        let mut start = if x.log { x.lo } else { 0.0 };
        for (v, c) in &b.segments {
            let end = start + v;
            if *v > 0.0 {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (x.p(x.clamp(start)), yc - 0.34),
                        (x.p(x.clamp(end)), yc + 0.34),
                    ],
                    c.filled(),
                )))?;
            }
            start = end;
        }
        // Offset in pixels: SVG viewers collapse leading spaces.
        chart.draw_series(std::iter::once(
            EmptyElement::at((x.p(x.clamp(start)), yc))
                + Text::new(
                    b.value_label.trim().to_string(),
                    (7, 0),
                    font(NOTE_SIZE).pos(anchor(HPos::Left, VPos::Center)),
                ),
        ))?;
    }
    Ok(())
}

fn draw_grouped<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &GroupedPanel,
) -> DResult<DB> {
    let y = &p.y;
    let n = p.categories.len();
    let cats = Axis::categories(n);
    let y_labels: Vec<String> = y.bold_plot().iter().map(|v| y.tick_label(*v)).collect();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(8)
        .margin_bottom(8)
        .margin_left(12)
        .margin_right(30)
        .x_label_area_size(68)
        .y_label_area_size(y_area_width(area, &y_labels));
    if !p.title.is_empty() {
        builder.caption(&p.title, font(PANEL_TITLE_SIZE));
    }
    let xr = cats.coord();
    let yr = y.coord();
    let mut chart = builder.build_cartesian_2d(xr, yr)?;
    let xf = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
            p.categories[i as usize].clone()
        } else {
            String::new()
        }
    };
    let yf = |v: &f64| y.tick_label(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(&y.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .axis_style(TEXT_DIM)
        .draw()?;
    let k = p.series.len().max(1) as f64;
    let group_w = 0.8;
    let bar_w = group_w / k;
    for (si, (_, color, values)) in p.series.iter().enumerate() {
        for (ci, v) in values.iter().enumerate() {
            let x0 = ci as f64 - group_w / 2.0 + si as f64 * bar_w;
            let x1 = x0 + bar_w * 0.9;
            let xm = (x0 + x1) / 2.0;
            let base = if y.log { y.lo } else { 0.0 };
            match v {
                Some(v) => {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0, y.p(base)), (x1, y.p(y.clamp(*v)))],
                        color.filled(),
                    )))?;
                    chart.draw_series(std::iter::once(Text::new(
                        (p.value_fmt)(*v),
                        (xm, y.p(y.clamp(*v))),
                        font(NOTE_SIZE).pos(anchor(HPos::Center, VPos::Bottom)),
                    )))?;
                }
                None => {
                    chart.draw_series(std::iter::once(Text::new(
                        "not measured".to_string(),
                        (xm, y.p(base)),
                        font_dim(NOTE_SIZE)
                            .transform(FontTransform::Rotate270)
                            .pos(anchor(HPos::Left, VPos::Center)),
                    )))?;
                }
            }
        }
    }
    // Reference lines on top of the bars; their labels are in the legend.
    for h in &p.hlines {
        let yy = y.p(h.y);
        chart.draw_series(DashedLineSeries::new(
            vec![(-0.5, yy), (n as f64 - 0.5, yy)],
            12,
            7,
            h.color.stroke_width(3),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_ticks() {
        let a = Axis::log([2106.0, 450_000.0], TickFmt::DurationUs, "");
        assert_eq!(a.lo, 1000.0);
        assert_eq!(a.hi, 1_000_000.0);
        assert_eq!(a.ticks, vec![1e3, 1e4, 1e5, 1e6]);
        let b = Axis::log([3.0, 40.0], TickFmt::Plain, "");
        assert_eq!((b.lo, b.hi), (2.0, 50.0));
        assert_eq!(b.ticks, vec![2.0, 5.0, 10.0, 20.0, 50.0]);
        let c = Axis::log([100.0], TickFmt::Plain, "");
        assert_eq!((c.lo, c.hi), (50.0, 200.0));
    }

    #[test]
    fn linear_axis_ticks() {
        let a = Axis::zero_to(27.0, TickFmt::Plain, "");
        assert_eq!(a.ticks.first(), Some(&0.0));
        assert!(a.hi >= 27.0 && a.ticks.len() <= 8, "{:?}", a.ticks);
    }
}
