//! Horizontal bar panels, possibly stacked, with a value label right of each bar (the ladder,
//! cold-start phases).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{DResult, NOTE_SIZE, anchor, font, panel_builder, style_mesh, y_area_width};
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
    let mut builder = panel_builder(area, &p.title, y_area_width(area, &labels) - 30);
    let xr = x.coord();
    let yr = cats.coord();
    let mut chart = builder.build_cartesian_2d(xr, yr)?;
    let xf = |v: &f64| x.tick_label(*v);
    let yf = |v: &f64| label_of(*v);
    style_mesh(&mut chart.configure_mesh())
        .disable_y_mesh()
        .x_desc(&x.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
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
