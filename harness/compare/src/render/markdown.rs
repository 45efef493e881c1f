//! Markdown for a CI job summary: the verdict, the regressions and improvements, then every
//! group folded. Also saved as `comparison.md`.

use std::fmt::Write as _;

use anyhow::Result;

use super::Exporter;
use super::cells::{
    base_value, baseline_line, blind_line, change, cur_value, detectable, interval, method_line, n,
    run_line, verdict_line,
};
use crate::model::{Comparison, GroupComparison, Verdict};

/// Writes `comparison.md`.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn export(&self, cmp: &Comparison) -> Result<Vec<(&'static str, String)>> {
        Ok(vec![("comparison.md", render(cmp))])
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_table(groups: &[&GroupComparison], with_verdict: bool) -> String {
    let mut s = String::new();
    if with_verdict {
        s += "| group | n | baseline | current | change | 95% CI | detectable | method | verdict |\n";
        s += "|---|--:|--:|--:|--:|--:|--:|---|---|\n";
    } else {
        s += "| group | n | baseline | current | change | 95% CI | note |\n";
        s += "|---|--:|--:|--:|--:|--:|---|\n";
    }
    for g in groups {
        let _ = write!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            md_escape(&g.name),
            n(g),
            base_value(g),
            cur_value(g),
            change(g),
            interval(g),
        );
        if with_verdict {
            let _ = writeln!(
                s,
                " {} | {} | {} |",
                detectable(g),
                g.method.label(),
                g.verdict.label()
            );
        } else {
            let _ = writeln!(s, " {} |", md_escape(&g.note));
        }
    }
    s
}

/// Markdown for a CI job summary: the verdict, the regressions and improvements, then every
/// group folded.
pub fn render(cmp: &Comparison) -> String {
    let mut s = String::new();
    let mark = if cmp.regressions.is_empty() {
        "✅"
    } else {
        "❌"
    };
    let _ = writeln!(s, "## {mark} wowbench compare: {}\n", verdict_line(cmp));
    let _ = writeln!(s, "- baseline: `{}`", baseline_line(cmp));
    let _ = writeln!(s, "- current: `{}`", run_line(&cmp.current));
    if !cmp.metrics.is_empty() {
        let _ = writeln!(s, "- metrics: {}", cmp.metrics.join(", "));
    }
    let _ = writeln!(s, "\n{}\n", method_line(cmp));
    if let Some(line) = blind_line(cmp, usize::MAX) {
        let _ = writeln!(s, "> {}\n", md_escape(&line));
    }
    for w in &cmp.warnings {
        let _ = writeln!(s, "> ⚠️ {}\n", md_escape(w));
    }
    let regressions: Vec<&GroupComparison> = cmp
        .groups
        .iter()
        .filter(|g| g.verdict.is_regression())
        .collect();
    if !regressions.is_empty() {
        let _ = writeln!(s, "### Regressions\n\n{}", md_table(&regressions, false));
    }
    let improvements: Vec<&GroupComparison> = cmp
        .groups
        .iter()
        .filter(|g| g.verdict == Verdict::Improvement)
        .collect();
    if !improvements.is_empty() {
        let _ = writeln!(s, "### Improvements\n\n{}", md_table(&improvements, false));
    }
    let all: Vec<&GroupComparison> = cmp.groups.iter().collect();
    let _ = writeln!(
        s,
        "<details><summary>All {} groups</summary>\n\n{}\n</details>",
        all.len(),
        md_table(&all, true)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_are_escaped() {
        assert_eq!(md_escape("a|b"), "a\\|b");
    }
}
