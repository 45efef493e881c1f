//! The Markdown table writer every section uses, and the cells they share: a median, a 95% CI, a
//! count's total, each reading "—" when there is nothing measured to show.

use std::fmt::Write as _;

use wow_records::SummaryRow;

use crate::data::{SeriesKey, measured};
use crate::fmt::{self, MISSING};

/// A Markdown table with right-aligned numeric columns.
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named in `header`; a leading `>` right-aligns a column.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header
                .iter()
                .map(|h| h.trim_start_matches('>').to_string())
                .collect(),
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        out.push('|');
        for h in &self.header {
            let _ = write!(out, " {} |", esc(h));
        }
        out.push_str("\n|");
        for r in &self.right {
            out.push_str(if *r { "---:|" } else { "---|" });
        }
        out.push('\n');
        for row in &self.rows {
            out.push('|');
            for c in row {
                let _ = write!(out, " {} |", esc(c));
            }
            out.push('\n');
        }
        out
    }

    /// The table followed by a blank line, as every section writes it.
    pub fn write_to(&self, out: &mut String) {
        out.push_str(&self.render());
        out.push('\n');
    }
}

/// A count cell.
pub fn count(n: usize) -> String {
    n.to_string()
}

/// The median of a row through `f`, or "—".
pub fn median(r: Option<&SummaryRow>, f: impl Fn(f64) -> String) -> String {
    fmt::opt(r.filter(|r| measured(r)).and_then(|r| r.median), f)
}

/// The 95% CI of the mean, or "—" when fewer than two measurements succeeded.
pub fn ci(r: Option<&SummaryRow>, f: impl Fn(f64) -> String) -> String {
    match r {
        Some(r) if r.n >= 2 => fmt::interval(r.ci95_low, r.ci95_high, f),
        _ => MISSING.to_string(),
    }
}

/// A count's total over repetitions (mean × n), or "—".
pub fn total(r: Option<&SummaryRow>) -> String {
    match r {
        Some(r) if measured(r) => match r.mean {
            Some(m) => format!("{}", (m * r.n as f64).round() as i64),
            None => MISSING.to_string(),
        },
        _ => MISSING.to_string(),
    }
}

/// The row of one series at one level, phase and metric.
pub fn find<'a>(
    rows: &[&'a SummaryRow],
    key: &SeriesKey,
    level: u32,
    phase: &str,
    metric: &str,
) -> Option<&'a SummaryRow> {
    rows.iter()
        .find(|r| {
            SeriesKey::of(r) == *key
                && r.concurrency == level
                && r.phase == phase
                && r.metric == metric
        })
        .copied()
}
