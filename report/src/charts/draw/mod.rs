//! Drawing a [`Figure`] with plotters: the page layout (title, panel grid, legend strip), the
//! fonts and colours, and rendering to PNG and SVG. Each panel kind is drawn by its own module.
//!
//! Text uses DejaVu Sans, embedded in the binary and registered with plotters as `sans-serif`,
//! so no system font library is involved.

mod grouped;
mod hbars;
mod legend;
mod xy;

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::{Figure, Marker, Panel};

/// DejaVu Sans 2.37 from Debian's `fonts-dejavu-core` (licence: `assets/LICENSE-DejaVu.txt`).
pub static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
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

pub(crate) fn anchor(h: HPos, v: VPos) -> Pos {
    Pos::new(h, v)
}

pub(crate) type DResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT)
}

pub(crate) fn font_dim(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT_DIM)
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

pub(crate) fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    size: u32,
) -> u32 {
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
    let rows = legend::rows(root, &fig.legend, w.saturating_sub(60));
    let legend_h = if rows.is_empty() {
        0
    } else {
        rows.len() as u32 * 32 + 24
    };
    let (_, rest_h) = rest.dim_in_pixel();
    let (body, legend_area) = rest.split_vertically(rest_h.saturating_sub(legend_h));
    legend::draw(&legend_area, &rows)?;
    let n = fig.panels.len().max(1);
    let cols = fig.columns.clamp(1, n);
    let grid_rows = n.div_ceil(cols);
    let areas = body.split_evenly((grid_rows, cols));
    for (p, a) in fig.panels.iter().zip(areas.iter()) {
        match p {
            Panel::Xy(x) => xy::draw(a, x)?,
            Panel::HBars(b) => hbars::draw(a, b)?,
            Panel::Grouped(g) => grouped::draw(a, g)?,
        }
    }
    Ok(())
}

pub(crate) fn draw_marker<DB: DrawingBackend>(
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
pub(crate) fn y_area_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[String],
) -> u32 {
    let widest = labels
        .iter()
        .map(|l| text_width(area, l, TICK_SIZE))
        .max()
        .unwrap_or(20);
    widest + 64
}

/// A panel's chart builder: the margins and label areas every panel kind shares, `y_area` pixels
/// for the y labels, and the panel title as caption when there is one.
pub(crate) fn panel_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(8)
        .margin_bottom(8)
        .margin_left(12)
        .margin_right(30)
        .x_label_area_size(68)
        .y_label_area_size(y_area);
    if !title.is_empty() {
        builder.caption(title, font(PANEL_TITLE_SIZE));
    }
    builder
}

/// The fonts and grid colours every panel's mesh is drawn with.
pub(crate) fn style_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .axis_style(TEXT_DIM)
}
