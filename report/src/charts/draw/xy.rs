//! XY panels: lines with markers over shaded 95% CI bands, dashed reference lines and circled
//! marks (cold start, memory, throughput, capacity, the ECDF).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{DResult, NOTE_SIZE, anchor, font, panel_builder, style_mesh, y_area_width};
use crate::charts::figure::{Marker, XyPanel};

pub(super) fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &XyPanel) -> DResult<DB> {
    let x = &p.x;
    let y = &p.y;
    let y_labels: Vec<String> = y.bold_plot().iter().map(|v| y.tick_label(*v)).collect();
    let mut builder = panel_builder(area, &p.title, y_area_width(area, &y_labels));
    let xr = x.coord();
    let yr = y.coord();
    let mut chart = builder.build_cartesian_2d(xr, yr)?;
    let xf = |v: &f64| x.tick_label(*v);
    let yf = |v: &f64| y.tick_label(*v);
    style_mesh(&mut chart.configure_mesh())
        .x_desc(&x.desc)
        .y_desc(&y.desc)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
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
    // Points the axes can place (finite, and positive on a log axis), in plot coordinates.
    let placed = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|(px, py)| px.is_finite() && py.is_finite() && (!y.log || *py > 0.0))
            .map(|(px, py)| (x.p(*px), y.p(*py)))
            .collect()
    };
    for l in &p.lines {
        let pts = placed(&l.points);
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
        // Not steady: a hollow ring, off the line, whatever the series' marker.
        chart.draw_series(placed(&l.unsteady).iter().map(|p| {
            EmptyElement::at(*p)
                + Circle::new((0, 0), 8, WHITE.filled())
                + Circle::new((0, 0), 8, c.stroke_width(3))
        }))?;
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
