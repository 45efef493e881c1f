//! The terminal table: the runs, every group, the regressions, then the verdict. Also saved as
//! `comparison.txt`.

use std::fmt::Write as _;

use anyhow::Result;
use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};

use super::Exporter;
use super::cells::{
    base_value, baseline_line, blind_line, change, cur_value, detectable, interval, n, run_line,
    verdict_line,
};
use crate::model::Comparison;

/// Writes `comparison.txt`.
pub struct TableExporter;

impl Exporter for TableExporter {
    fn export(&self, cmp: &Comparison) -> Result<Vec<(&'static str, String)>> {
        Ok(vec![("comparison.txt", render(cmp))])
    }
}

/// The terminal table: every group, then the verdict.
pub fn render(cmp: &Comparison) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "group",
        "n",
        "baseline",
        "current",
        "change",
        "95% CI",
        "detectable",
        "method",
        "verdict",
    ]);
    for g in &cmp.groups {
        t.add_row([
            g.name.clone(),
            n(g),
            base_value(g),
            cur_value(g),
            change(g),
            interval(g),
            detectable(g),
            g.method.label().to_string(),
            g.verdict.label().to_string(),
        ]);
    }
    for col in 1..=6 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "baseline: {}", baseline_line(cmp));
    let _ = writeln!(s, "current:  {}", run_line(&cmp.current));
    let _ = writeln!(s, "{t}");
    for name in &cmp.regressions {
        let _ = writeln!(s, "regression: {name}");
    }
    if let Some(line) = blind_line(cmp, 10) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "{}", verdict_line(cmp));
    s
}
