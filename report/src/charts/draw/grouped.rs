//! Vertical bars grouped by category, with "not measured" where a series has no value, and
//! dashed reference lines on top (module builds).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{DResult, NOTE_SIZE, anchor, font, font_dim, panel_builder, style_mesh, y_area_width};
use crate::charts::axis::Axis;
use crate::charts::figure::GroupedPanel;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &GroupedPanel,
) -> DResult<DB> {
    let y = &p.y;
    let n = p.categories.len();
    let cats = Axis::categories(n);
    let y_labels: Vec<String> = y.bold_plot().iter().map(|v| y.tick_label(*v)).collect();
    let mut builder = panel_builder(area, &p.title, y_area_width(area, &y_labels));
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
    style_mesh(&mut chart.configure_mesh())
        .disable_x_mesh()
        .y_desc(&y.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
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
