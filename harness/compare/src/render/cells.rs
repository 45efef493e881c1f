//! The cells and lines the table and Markdown share: a group's values, change and interval, the
//! runs compared, the overall verdict and how it was reached.

use std::fmt::Write as _;

use super::text::{number, pct, signed_value, value};
use crate::model::{Comparison, DETECT_TARGET_PCT, GroupComparison, RunInfo, Side, Verdict};
use crate::options::Rule;
use crate::stats::BETWEEN_RUNS_MIN;

/// `+30.2%`, or the absolute change when the baseline median is 0, or `-` without both sides.
pub fn change(g: &GroupComparison) -> String {
    match (g.change_pct, g.change_abs) {
        (Some(p), _) => pct(p),
        (None, Some(a)) => format!("{} (from 0)", signed_value(a, &g.key.unit)),
        (None, None) => "-".to_string(),
    }
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

/// The minimal detectable change, `≥ 23%`, or `-` for a group that is not judged.
pub fn detectable(g: &GroupComparison) -> String {
    g.detectable_pct.map_or("-".to_string(), |d| {
        if d >= 100.0 {
            format!("≥ {d:.0}%")
        } else {
            format!("≥ {d:.1}%")
        }
    })
}

/// The groups that could not have flagged a change of [`DETECT_TARGET_PCT`], as one line
/// naming up to `max` of them; `None` when every judged group could.
pub fn blind_line(cmp: &Comparison, max: usize) -> Option<String> {
    let blind = cmp.blind_to(DETECT_TARGET_PCT);
    if blind.is_empty() {
        return None;
    }
    let mut names: Vec<String> = blind
        .iter()
        .take(max)
        .map(|g| format!("{} ({})", g.name, detectable(g)))
        .collect();
    if blind.len() > max {
        names.push(format!("and {} more", blind.len() - max));
    }
    Some(format!(
        "{} judged group{} could not have flagged a {}% regression: {}",
        blind.len(),
        if blind.len() == 1 { "" } else { "s" },
        number(DETECT_TARGET_PCT),
        names.join("; ")
    ))
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
pub fn base_value(g: &GroupComparison) -> String {
    side_value(g.baseline_value, &g.baseline, &g.key.unit)
}

/// The current median.
pub fn cur_value(g: &GroupComparison) -> String {
    side_value(g.current_value, &g.current, &g.key.unit)
}

fn side_value(measured_from: Option<f64>, side: &Option<Side>, unit: &str) -> String {
    measured_from
        .or_else(|| side.as_ref().and_then(|s| s.median))
        .map(|m| value(m, unit))
        .unwrap_or_else(|| "-".into())
}

/// Successful samples, baseline/current: `10 (3 runs)/9+1✗`.
pub fn n(g: &GroupComparison) -> String {
    let side = |s: &Option<Side>| {
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

/// `run-id (complete, x86_64, device host, commit 0123456789)`.
pub fn run_line(r: &RunInfo) -> String {
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

/// The baseline run, or `k runs: …` for several.
pub fn baseline_line(cmp: &Comparison) -> String {
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

/// `2 regressions in 12 matched groups (1 improved, 3 inconclusive)`.
pub fn verdict_line(cmp: &Comparison) -> String {
    let matched = cmp.matched();
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

/// How the verdict was reached: the threshold, the rule, the interval methods, the noise floor.
pub fn method_line(cmp: &Comparison) -> String {
    let rule = match cmp.rule {
        Rule::Threshold => "lies entirely beyond the threshold",
        Rule::Zero => "excludes no change",
    };
    let mut runs = if cmp.baseline_runs.len() >= BETWEEN_RUNS_MIN {
        format!(
            "`runs`: prediction interval from the run medians of the {} baseline runs (groups at \
             least {} of them measured); ",
            cmp.baseline_runs.len(),
            BETWEEN_RUNS_MIN
        )
    } else {
        String::new()
    };
    let has = |m: crate::stats::Method| cmp.groups.iter().any(|g| g.method == m);
    if has(crate::stats::Method::PairedRanks) {
        runs.push_str(
            "`ranks`: the two sides of a paired run, the Wilcoxon signed-rank interval of the \
             blocks' log ratios of medians, whose Hodges–Lehmann estimate is the change (≥ 6 \
             blocks); ",
        );
    }
    if has(crate::stats::Method::PairedBlocks) {
        runs.push_str(
            "`paired`: the two sides of a paired run, a paired t interval of the blocks' ratios \
             of medians, whose geometric mean is the change (3–5 blocks); ",
        );
    }
    format!(
        "A regression is a change of the median beyond {}% in the metric's bad direction whose 95% \
         interval {rule}. Intervals: {runs}`bootstrap`: of the ratio of medians, {} resamples \
         (≥ 5 samples a side); `welch`: Welch's t on the means (2–4 samples); none with 1 sample. \
         Latency changes under {} µs are ignored. n: successful samples, baseline/current \
         (+k✗: failed attempts). detectable: the smallest regression this comparison would have \
         flagged, had the interval kept its width.",
        number(cmp.threshold_pct),
        cmp.bootstrap_resamples,
        number(cmp.noise_floor_us),
    )
}
