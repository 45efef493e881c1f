//! Horizontal bar panels, possibly stacked, with a value label right of each bar (the ladder,
//! cold-start phases).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    AXIS_DESC_SIZE, DResult, GRID_BOLD, GRID_LIGHT, NOTE_SIZE, PANEL_TITLE_SIZE, TEXT_DIM,
    TICK_SIZE, anchor, font, y_area_width,
};
use crate::charts::axis::Axis;
use crate::charts::figure::HBarPanel;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &HBarPanel,
) -> DResult<DB> {
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
