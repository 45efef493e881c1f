//! The result of a comparison: per group its two sides, the change, the interval and the verdict,
//! and the runs compared. Serialised as is by `--format json`, so field names are an interface.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use wow_records::{GroupKey, RunStatus, Stats};

use crate::checks::DeviceSig;
use crate::load::LoadedRun;
use crate::options::Rule;
use crate::samples::Samples;
use crate::stats::Method;

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    LowerIsBetter,
    HigherIsBetter,
    /// Not a performance figure (e.g. `sandboxes`): reported, never judged.
    Unknown,
}

/// The outcome for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Worse beyond the threshold, and significant.
    Regression,
    /// Every current measurement failed while the baseline had successes.
    Failed,
    /// Better beyond the threshold, and significant.
    Improvement,
    /// Within the threshold (or the noise floor).
    Unchanged,
    /// The median moved beyond the threshold, but the interval does not show it (see
    /// [`Rule`]).
    Inconclusive,
    /// One sample on a side: the change is shown, never judged.
    NTooSmall,
    /// A metric with no better direction.
    Informational,
    /// No successful baseline measurement to compare with.
    NoBaseline,
    /// In the baseline only (the current run did not measure it).
    Missing,
    /// In the current run only.
    New,
}

impl Verdict {
    pub fn is_regression(self) -> bool {
        matches!(self, Verdict::Regression | Verdict::Failed)
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Failed => "FAILED",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NTooSmall => "n too small",
            Verdict::Informational => "informational",
            Verdict::NoBaseline => "no baseline",
            Verdict::Missing => "missing",
            Verdict::New => "new",
        }
    }
}

/// One side of a group: what succeeded and what failed, with the summary statistics of
/// `wow_records::Stats` (absent without a success).
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub n: usize,
    pub failed: usize,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// 95% interval of the mean (Student's t), as in `summary.csv`.
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
}

impl Side {
    pub fn of(samples: &Samples) -> Side {
        let s = Stats::of(&samples.values);
        let f = |g: fn(&Stats) -> f64| s.as_ref().map(g);
        Side {
            n: samples.values.len(),
            failed: samples.failed,
            median: f(|s| s.median),
            mean: f(|s| s.mean),
            stddev: f(|s| s.stddev),
            min: f(|s| s.min),
            max: f(|s| s.max),
            ci95_low: f(|s| s.ci95_low),
            ci95_high: f(|s| s.ci95_high),
        }
    }
}

/// One matched (or unmatched) group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupComparison {
    /// A readable, stable name: `experiment backend/variant workload [config] @device cN phase
    /// metric` (config shown unless `default`, device unless `host`).
    pub name: String,
    #[serde(flatten)]
    pub key: GroupKey,
    pub direction: Direction,
    pub baseline: Option<Side>,
    pub current: Option<Side>,
    /// What the change is measured from: the baseline median (of its pooled samples), or with
    /// several baseline runs the geometric mean of their medians.
    pub baseline_value: Option<f64>,
    /// The current median.
    pub current_value: Option<f64>,
    /// Baseline runs that measured the group (successfully).
    pub baseline_runs: usize,
    /// Change of the median, percent; `None` when undefined (a side without samples, or a
    /// baseline median of 0 with a non-zero current one).
    pub change_pct: Option<f64>,
    /// Change of the median in the group's unit.
    pub change_abs: Option<f64>,
    pub method: Method,
    /// 95% interval of the relative change, percent (see `method`).
    pub ci95_pct: Option<[f64; 2]>,
    /// 95% interval of the absolute change, in the group's unit.
    pub ci95_abs: Option<[f64; 2]>,
    /// Whether the interval excludes no change; `None` without an interval.
    pub significant: Option<bool>,
    /// The minimal detectable change: the smallest move in the metric's bad direction, percent
    /// of the baseline, that this comparison would have flagged as a regression had the
    /// interval kept its width (see `verdict::detectable_change`); `None` for a group that is
    /// not judged or has no relative interval.
    pub detectable_pct: Option<f64>,
    pub verdict: Verdict,
    /// Why, when the verdict needs explaining.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl GroupComparison {
    /// Whether both sides measured the group.
    pub fn is_matched(&self) -> bool {
        self.baseline.is_some() && self.current.is_some()
    }
}

/// Identity of a run in the output.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub path: PathBuf,
    pub run_id: String,
    /// `complete`, `incomplete`, `running`, or `unknown` without `meta.json`.
    pub status: String,
    pub arch: Option<String>,
    pub cpu_model: Option<String>,
    pub device: Option<String>,
    pub wasmtime_version: Option<String>,
    pub git_commit: Option<String>,
    pub started_at: Option<String>,
}

impl RunInfo {
    /// `devices` (the records' device column) names the device when `meta.json` does not.
    pub fn of(run: &LoadedRun, devices: &BTreeSet<String>) -> RunInfo {
        let m = run.meta.as_ref();
        RunInfo {
            path: run.path.clone(),
            run_id: run.run_id(),
            status: m
                .map(|m| status_name(m.status).to_string())
                .unwrap_or_else(|| "unknown".into()),
            arch: m.map(|m| m.machine.arch.clone()),
            cpu_model: m.map(|m| m.machine.cpu_model.clone()),
            device: m
                .and_then(|m| DeviceSig::of(m).map(|d| d.name))
                .or_else(|| (devices.len() == 1).then(|| devices.iter().next().unwrap().clone())),
            wasmtime_version: m.map(|m| m.wasmtime_version.clone()),
            git_commit: m.and_then(|m| m.git_commit.clone()),
            started_at: m.map(|m| m.started_at.clone()),
        }
    }
}

fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Complete => "complete",
        RunStatus::Incomplete => "incomplete",
    }
}

/// The whole comparison: what `--format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The (first) baseline run.
    pub baseline: RunInfo,
    /// Every baseline run (one, or several pooled).
    pub baseline_runs: Vec<RunInfo>,
    pub current: RunInfo,
    pub threshold_pct: f64,
    pub rule: Rule,
    pub noise_floor_us: f64,
    pub confidence: f64,
    pub bootstrap_resamples: usize,
    pub seed: u64,
    /// The `--metric` filters (empty: every metric).
    pub metrics: Vec<String>,
    pub warnings: Vec<String>,
    /// Names of the groups that regressed (verdict `regression` or `failed`).
    pub regressions: Vec<String>,
    pub improvements: Vec<String>,
    pub groups: Vec<GroupComparison>,
}

/// The change every judged group should be able to flag, percent: the summary names the groups
/// whose comparison could not have.
pub const DETECT_TARGET_PCT: f64 = 20.0;

impl Comparison {
    /// Judged groups whose detectable change is above `pct` (or unknown for want of an
    /// interval): a regression of `pct` there would have passed.
    pub fn blind_to(&self, pct: f64) -> Vec<&GroupComparison> {
        self.groups
            .iter()
            .filter(|g| g.direction != Direction::Unknown && g.is_matched())
            .filter(|g| g.detectable_pct.is_none_or(|d| d > pct))
            .collect()
    }

    pub fn count(&self, v: Verdict) -> usize {
        self.groups.iter().filter(|g| g.verdict == v).count()
    }

    /// Groups both sides measured.
    pub fn matched(&self) -> usize {
        self.groups.iter().filter(|g| g.is_matched()).count()
    }

    /// The group of this name.
    pub fn group(&self, name: &str) -> Option<&GroupComparison> {
        self.groups.iter().find(|g| g.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_without_successes_has_no_statistics() {
        let s = Side::of(&Samples {
            values: vec![],
            failed: 3,
            ..Samples::default()
        });
        assert_eq!((s.n, s.failed, s.median, s.ci95_low), (0, 3, None, None));
        let s = Side::of(&Samples {
            values: vec![3.0, 1.0, 2.0],
            failed: 0,
            ..Samples::default()
        });
        assert_eq!(
            (s.n, s.median, s.min, s.max),
            (3, Some(2.0), Some(1.0), Some(3.0))
        );
        assert_eq!(s.stddev, Some(1.0));
    }

    #[test]
    fn only_regressions_and_failures_fail_the_gate() {
        assert!(Verdict::Regression.is_regression() && Verdict::Failed.is_regression());
        assert!(!Verdict::Inconclusive.is_regression() && !Verdict::Missing.is_regression());
        assert_eq!(Verdict::NTooSmall.label(), "n too small");
    }
}
