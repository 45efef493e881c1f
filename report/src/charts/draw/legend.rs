//! The legend strip below a figure's panels: entries laid out in centred rows that never overlap
//! the data.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{DResult, GRID_BOLD, LEGEND_SIZE, anchor, draw_marker, font, text_width};
use crate::charts::figure::{LegendEntry, LegendStyle};

pub(super) struct LegendItem<'a> {
    entry: &'a LegendEntry,
    width: u32,
}

const SWATCH: u32 = 46;

/// Entries in rows no wider than `max_w`.
pub(super) fn rows<'a, DB: DrawingBackend>(
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

/// Draws the rows [`rows`] laid out, in a frame.
pub(super) fn draw<DB: DrawingBackend>(
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
