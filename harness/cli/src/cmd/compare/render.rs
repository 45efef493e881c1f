//! Output formats of `wowbench compare`: a terminal table, Markdown for a CI job summary, JSON,
//! and the two files github-action-benchmark reads.

use std::fmt::Write as _;

use anyhow::Result;
use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::{Comparison, Direction, GroupComparison, RunInfo, Verdict};

/// A number with at most three significant decimals, no trailing zeros.
pub fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A value in its unit, scaled for reading (µs → ms → s, bytes → KiB → MiB → GiB).
pub fn value(v: f64, unit: &str) -> String {
    match unit {
        "us" => {
            let a = v.abs();
            if a >= 1e6 {
                format!("{:.3} s", v / 1e6)
            } else if a >= 1e3 {
                format!("{:.2} ms", v / 1e3)
            } else {
                format!("{v:.1} µs")
            }
        }
        "bytes" => {
            let a = v.abs();
            if a >= (1u64 << 30) as f64 {
                format!("{:.2} GiB", v / (1u64 << 30) as f64)
            } else if a >= (1 << 20) as f64 {
                format!("{:.2} MiB", v / (1 << 20) as f64)
            } else if a >= 1024.0 {
                format!("{:.1} KiB", v / 1024.0)
            } else {
                format!("{v:.0} B")
            }
        }
        "rps" => format!("{v:.1} rps"),
        "count" => number(v),
        "ratio" => format!("{v:.3}"),
        other => format!("{} {other}", number(v)),
    }
}

fn pct(v: f64) -> String {
    if v.abs() < 0.05 {
        "0.0%".to_string()
    } else {
        format!("{v:+.1}%")
    }
}

/// `+30.2%`, or the absolute change when the baseline median is 0, or `-` without both sides.
pub fn change(g: &GroupComparison) -> String {
    match (g.change_pct, g.change_abs) {
        (Some(p), _) => pct(p),
        (None, Some(a)) => format!("{} (from 0)", signed_value(a, &g.key.unit)),
        (None, None) => "-".to_string(),
    }
}

fn signed_value(v: f64, unit: &str) -> String {
    let s = value(v, unit);
    if v > 0.0 { format!("+{s}") } else { s }
}

/// The 95% interval as `[+25.1%, +35.0%]` (absolute when no relative interval exists).
pub fn interval(g: &GroupComparison) -> String {
    match (g.ci95_pct, g.ci95_abs) {
        (Some([lo, hi]), _) => format!("[{}, {}]", pct(lo), pct(hi)),
        (None, Some([lo, hi])) => format!(
            "[{}, {}]",
            signed_value(lo, &g.key.unit),
            signed_value(hi, &g.key.unit)
        ),
        _ => "-".to_string(),
    }
}

/// One line about a group's change, for stderr.
pub fn change_summary(g: &GroupComparison) -> String {
    let mut s = format!(
        "median {} → {} ({}, 95% CI {}, {})",
        base_value(g),
        cur_value(g),
        change(g),
        interval(g),
        g.method.label()
    );
    if !g.note.is_empty() {
        let _ = write!(s, "; {}", g.note);
    }
    s
}

/// The baseline value the change is measured from (see [`GroupComparison::baseline_value`]).
fn base_value(g: &GroupComparison) -> String {
    g.baseline_value
        .or_else(|| g.baseline.as_ref().and_then(|s| s.median))
        .map(|m| value(m, &g.key.unit))
        .unwrap_or_else(|| "-".into())
}

fn cur_value(g: &GroupComparison) -> String {
    g.current_value
        .or_else(|| g.current.as_ref().and_then(|s| s.median))
        .map(|m| value(m, &g.key.unit))
        .unwrap_or_else(|| "-".into())
}

fn n(g: &GroupComparison) -> String {
    let side = |s: &Option<super::Side>| {
        s.as_ref().map_or("-".to_string(), |s| {
            if s.failed > 0 {
                format!("{}+{}✗", s.n, s.failed)
            } else {
                s.n.to_string()
            }
        })
    };
    let runs = if g.baseline_runs > 1 {
        format!(" ({} runs)", g.baseline_runs)
    } else {
        String::new()
    };
    format!("{}{runs}/{}", side(&g.baseline), side(&g.current))
}

fn run_line(r: &RunInfo) -> String {
    let mut parts = vec![r.status.clone()];
    if let Some(a) = &r.arch {
        parts.push(a.clone());
    }
    if let Some(d) = &r.device {
        parts.push(format!("device {d}"));
    }
    if let Some(c) = &r.git_commit {
        parts.push(format!("commit {}", &c[..c.len().min(10)]));
    }
    format!("{} ({})", r.run_id, parts.join(", "))
}

fn baseline_line(cmp: &Comparison) -> String {
    match cmp.baseline_runs.len() {
        0 | 1 => run_line(&cmp.baseline),
        k => format!(
            "{k} runs: {}",
            cmp.baseline_runs
                .iter()
                .map(run_line)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

fn verdict_line(cmp: &Comparison) -> String {
    let matched = cmp
        .groups
        .iter()
        .filter(|g| g.baseline.is_some() && g.current.is_some())
        .count();
    let mut s = if cmp.regressions.is_empty() {
        format!("no regression in {matched} matched groups")
    } else {
        format!(
            "{} regression{} in {matched} matched groups",
            cmp.regressions.len(),
            if cmp.regressions.len() == 1 { "" } else { "s" }
        )
    };
    let mut extra = Vec::new();
    for (v, what) in [
        (Verdict::Improvement, "improved"),
        (Verdict::Inconclusive, "inconclusive"),
        (Verdict::NTooSmall, "with n too small to judge"),
    ] {
        let c = cmp.count(v);
        if c > 0 {
            extra.push(format!("{c} {what}"));
        }
    }
    if !extra.is_empty() {
        let _ = write!(s, " ({})", extra.join(", "));
    }
    s
}

fn method_line(cmp: &Comparison) -> String {
    let rule = match cmp.rule {
        super::Rule::Threshold => "lies entirely beyond the threshold",
        super::Rule::Zero => "excludes no change",
    };
    let runs = if cmp.baseline_runs.len() >= super::stats::BETWEEN_RUNS_MIN {
        format!(
            "`runs`: prediction interval from the run medians of the {} baseline runs (groups at \
             least {} of them measured); ",
            cmp.baseline_runs.len(),
            super::stats::BETWEEN_RUNS_MIN
        )
    } else {
        String::new()
    };
    format!(
        "A regression is a change of the median beyond {}% in the metric's bad direction whose 95% \
         interval {rule}. Intervals: {runs}`bootstrap`: of the ratio of medians, {} resamples \
         (≥ 5 samples a side); `welch`: Welch's t on the means (2–4 samples); none with 1 sample. \
         Latency changes under {} µs are ignored. n: successful samples, baseline/current \
         (+k✗: failed attempts).",
        number(cmp.threshold_pct),
        cmp.bootstrap_resamples,
        number(cmp.noise_floor_us),
    )
}

/// The terminal table: every group, then the verdict.
pub fn table(cmp: &Comparison) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "group", "n", "baseline", "current", "change", "95% CI", "method", "verdict",
    ]);
    for g in &cmp.groups {
        t.add_row([
            g.name.clone(),
            n(g),
            base_value(g),
            cur_value(g),
            change(g),
            interval(g),
            g.method.label().to_string(),
            g.verdict.label().to_string(),
        ]);
    }
    for col in 1..=5 {
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
    let _ = writeln!(s, "{}", verdict_line(cmp));
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_table(groups: &[&GroupComparison], with_verdict: bool) -> String {
    let mut s = String::new();
    if with_verdict {
        s += "| group | n | baseline | current | change | 95% CI | method | verdict |\n";
        s += "|---|--:|--:|--:|--:|--:|---|---|\n";
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
            let _ = writeln!(s, " {} | {} |", g.method.label(), g.verdict.label());
        } else {
            let _ = writeln!(s, " {} |", md_escape(&g.note));
        }
    }
    s
}

/// Markdown for a CI job summary: the verdict, the regressions and improvements, then every
/// group folded.
pub fn markdown(cmp: &Comparison) -> String {
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

pub fn json(cmp: &Comparison) -> Result<String> {
    Ok(serde_json::to_string_pretty(cmp)? + "\n")
}

/// One entry of github-action-benchmark's `customSmallerIsBetter` / `customBiggerIsBetter`
/// input.
#[derive(Debug, Clone, Serialize)]
pub struct BenchEntry {
    pub name: String,
    pub unit: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

/// The current run's medians split by direction: (smaller is better, bigger is better). Groups
/// with no successful current measurement or no better direction are left out.
pub fn github_benchmark(cmp: &Comparison) -> (Vec<BenchEntry>, Vec<BenchEntry>) {
    let (mut smaller, mut bigger) = (Vec::new(), Vec::new());
    for g in &cmp.groups {
        let Some(cur) = &g.current else { continue };
        let Some(median) = cur.median else { continue };
        let range = match (cur.n, cur.ci95_low, cur.ci95_high) {
            (2.., Some(lo), Some(hi)) => Some(format!("± {}", number((hi - lo) / 2.0))),
            _ => None,
        };
        let mut extra = format!("n={}", cur.n);
        if cur.failed > 0 {
            let _ = write!(extra, ", failed={}", cur.failed);
        }
        if g.baseline.is_some() {
            let _ = write!(
                extra,
                "; baseline median {}; change {} {}; {}",
                g.baseline_value
                    .map(number)
                    .unwrap_or_else(|| median_of(&g.baseline)),
                change(g),
                interval(g),
                g.verdict.label()
            );
        }
        let entry = BenchEntry {
            name: g.name.clone(),
            unit: g.key.unit.clone(),
            value: median,
            range,
            extra: Some(extra),
        };
        match g.direction {
            Direction::LowerIsBetter => smaller.push(entry),
            Direction::HigherIsBetter => bigger.push(entry),
            Direction::Unknown => {}
        }
    }
    (smaller, bigger)
}

fn median_of(s: &Option<super::Side>) -> String {
    s.as_ref()
        .and_then(|s| s.median)
        .map(number)
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(value(1_500.0, "us"), "1.50 ms");
        assert_eq!(value(2_500_000.0, "us"), "2.500 s");
        assert_eq!(value(12.34, "us"), "12.3 µs");
        assert_eq!(value(3.0 * 1048576.0, "bytes"), "3.00 MiB");
        assert_eq!(value(7.0, "count"), "7");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(pct(30.04), "+30.0%");
        assert_eq!(pct(-0.01), "0.0%");
    }
}
