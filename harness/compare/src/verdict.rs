//! The verdict of one group, as small pure functions: which way is better for its metric, the
//! relative change of its median, and what the change and its interval amount to under the
//! threshold, the rule and the noise floor. [`compare_group`] puts them together.

use wow_records::GroupKey;
use wow_records::vocab::{Backend, Config, Metric, Unit};

use crate::model::{Direction, GroupComparison, Side, Verdict};
use crate::options::{Options, Rule};
use crate::render::text::number;
use crate::samples::Samples;
use crate::stats::{self, Interval, Method};

/// The backend of the load generator's self-measurement (its ceiling on loopback).
pub const LOAD_GENERATOR: Backend = Backend::Client;

/// The device column of a run on the host itself, without a device profile: left out of names.
pub const HOST_DEVICE: &str = "host";

/// Which way is better for a metric: every metric of the vocabulary says, so that a new one
/// must be placed here.
pub fn metric_direction(metric: Metric) -> Direction {
    match metric {
        Metric::Latency
        | Metric::LatencyP50
        | Metric::LatencyP90
        | Metric::LatencyP99
        | Metric::LatencyMax
        | Metric::MemoryPerSandbox
        | Metric::MemoryTotal
        | Metric::ModuleSize
        | Metric::Errors
        | Metric::ColdStarts
        | Metric::ColdFraction => Direction::LowerIsBetter,
        Metric::Throughput | Metric::Capacity => Direction::HigherIsBetter,
        // Counts and readings that describe a run rather than rate it.
        Metric::Requests
        | Metric::Containers
        | Metric::Sandboxes
        | Metric::ExecutorRss
        | Metric::ExecutorFds
        | Metric::ExecutorThreads
        | Metric::Elapsed
        | Metric::InFlight
        | Metric::Steady => Direction::Unknown,
    }
}

/// The direction of a metric column's value; a name outside the vocabulary is never judged.
pub fn direction(metric: &str) -> Direction {
    metric
        .parse::<Metric>()
        .map_or(Direction::Unknown, metric_direction)
}

/// The direction a group is judged in: its metric's, except for the load generator's own
/// ceiling, which checks the client, not either backend, and is never judged.
pub fn group_direction(key: &GroupKey) -> Direction {
    if key.backend == LOAD_GENERATOR {
        Direction::Unknown
    } else {
        direction(&key.metric)
    }
}

/// A readable, stable name of a group.
pub fn group_name(k: &GroupKey) -> String {
    let mut s = format!(
        "{} {}/{} {}",
        k.experiment, k.backend, k.variant, k.workload
    );
    if k.config != Config::Default {
        s += &format!(" [{}]", k.config);
    }
    if k.device != HOST_DEVICE {
        s += &format!(" @{}", k.device);
    }
    s += &format!(" c{} {} {}", k.concurrency, k.phase, k.metric);
    s
}

/// The change from `baseline` to `current`, percent; a zero baseline has none (∞, beyond any
/// threshold) unless the current value is 0 too.
pub fn relative_change(baseline: f64, current: f64) -> Option<f64> {
    if baseline != 0.0 {
        Some((current / baseline - 1.0) * 100.0)
    } else if current == 0.0 {
        Some(0.0)
    } else {
        None
    }
}

/// The verdict of a group whose side has no success at all (`None` when both have some).
pub fn failures_verdict(base: &Samples, cur: &Samples) -> Option<(Verdict, String)> {
    if base.values.is_empty() {
        Some((
            Verdict::NoBaseline,
            format!("all {} baseline measurements failed", base.failed),
        ))
    } else if cur.values.is_empty() {
        Some((
            Verdict::Failed,
            format!(
                "all {} current measurements failed (the baseline had {} successes)",
                cur.failed,
                base.values.len()
            ),
        ))
    } else {
        None
    }
}

/// What explains a change: no relative change from a zero baseline, more failures than before.
pub fn change_note(relative: Option<f64>, base: &Samples, cur: &Samples) -> String {
    let mut note = String::new();
    if relative.is_none() {
        note = "baseline median is 0: no relative change".into();
    }
    if base.failed < cur.failed {
        let more = format!(
            "failures {} → {} (of {} → {} attempts)",
            base.failed,
            cur.failed,
            base.failed + base.values.len(),
            cur.failed + cur.values.len()
        );
        note = if note.is_empty() {
            more
        } else {
            format!("{note}; {more}")
        };
    }
    note
}

/// The location of a group's change: from the baseline value to the current median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub baseline: f64,
    pub current: f64,
    /// [`relative_change`] of the two.
    pub pct: Option<f64>,
}

impl Change {
    pub fn new(baseline: f64, current: f64) -> Change {
        Change {
            baseline,
            current,
            pct: relative_change(baseline, current),
        }
    }
}

/// The verdict of a change of a group (in `unit`, judged in `direction`) with its 95%
/// `interval`, and the note that then explains it, if any.
///
/// Unjudged without a better direction; unchanged below the noise floor (latency only), within
/// the threshold or without any move; else a regression or an improvement when the interval
/// shows the move (see [`Rule`]) and inconclusive when it does not.
pub fn judge(
    direction: Direction,
    unit: &str,
    change: Change,
    interval: &Interval,
    opts: &Options,
) -> (Verdict, Option<String>) {
    let Change {
        baseline: mb,
        current: mc,
        pct: rel,
    } = change;
    let worse_is_up = match direction {
        Direction::LowerIsBetter => true,
        Direction::HigherIsBetter => false,
        Direction::Unknown => return (Verdict::Informational, None),
    };
    if unit == Unit::Micros && (mc - mb).abs() < opts.noise_floor_us {
        let note = rel.is_some_and(|r| r.abs() > opts.threshold_pct).then(|| {
            format!(
                "below the noise floor of {} µs",
                number(opts.noise_floor_us)
            )
        });
        return (Verdict::Unchanged, note);
    }
    let up = mc > mb;
    let beyond = match rel {
        Some(r) => r.abs() > opts.threshold_pct,
        None => true,
    };
    if !beyond || mc == mb {
        return (Verdict::Unchanged, None);
    }
    let worse = up == worse_is_up;
    // The interval must show the move: beyond zero, or (the default) beyond the threshold, on
    // the side the median moved. Without a relative interval (a zero baseline) any move is past
    // every threshold, so excluding zero suffices.
    let shown = match (opts.rule, interval.pct) {
        (Rule::Threshold, Some((lo, hi))) => {
            if up {
                lo > opts.threshold_pct
            } else {
                hi < -opts.threshold_pct
            }
        }
        _ => interval.side() == Some(up),
    };
    let verdict = match (shown, worse) {
        (true, true) => Verdict::Regression,
        (true, false) => Verdict::Improvement,
        (false, _) => Verdict::Inconclusive,
    };
    (verdict, None)
}

/// The minimal detectable change of a group, percent of the baseline: the smallest move in the
/// bad direction that [`judge`] would call a regression if the interval moved with the median
/// and kept its width (its half on the bad side, measured from the observed change). Under
/// [`Rule::Threshold`] the interval's near end must pass the threshold: threshold + that half;
/// under [`Rule::Zero`] it must pass zero and the median the threshold. A latency move must
/// also exceed the noise floor. `None` without a direction or a relative interval.
pub fn detectable_change(
    direction: Direction,
    unit: &str,
    change: Change,
    interval: &Interval,
    opts: &Options,
) -> Option<f64> {
    let (lo, hi) = interval.pct?;
    let observed = change.pct?;
    let half = match direction {
        Direction::LowerIsBetter => observed - lo,
        Direction::HigherIsBetter => hi - observed,
        Direction::Unknown => return None,
    }
    .max(0.0);
    let mut d = match opts.rule {
        Rule::Threshold => opts.threshold_pct + half,
        Rule::Zero => opts.threshold_pct.max(half),
    };
    if unit == Unit::Micros && change.baseline > 0.0 {
        d = d.max(opts.noise_floor_us / change.baseline * 100.0);
    }
    Some(d)
}

/// Compares one group: `base` pooled over the baseline runs (with each run's median in
/// `run_medians`) against `cur`; either side may be missing. `paired`: the two sides of a paired
/// run, whose blocks are compared pairwise.
pub fn compare_group(
    key: &GroupKey,
    base: Option<&Samples>,
    run_medians: &[f64],
    cur: Option<&Samples>,
    paired: bool,
    opts: &Options,
) -> GroupComparison {
    let mut g = GroupComparison {
        name: group_name(key),
        key: key.clone(),
        direction: group_direction(key),
        baseline: base.map(Side::of),
        current: cur.map(Side::of),
        baseline_value: None,
        current_value: None,
        baseline_runs: run_medians.len(),
        change_pct: None,
        change_abs: None,
        method: Method::None,
        ci95_pct: None,
        ci95_abs: None,
        significant: None,
        detectable_pct: None,
        verdict: Verdict::Unchanged,
        note: String::new(),
    };
    let (base, cur) = match (base, cur) {
        (None, _) => {
            g.verdict = Verdict::New;
            return g;
        }
        (_, None) => {
            g.verdict = Verdict::Missing;
            return g;
        }
        (Some(b), Some(c)) => (b, c),
    };
    if let Some((verdict, note)) = failures_verdict(base, cur) {
        g.verdict = verdict;
        g.note = note;
        return g;
    }

    let between_runs = run_medians.len() >= stats::BETWEEN_RUNS_MIN;
    let mb = if between_runs {
        stats::run_location(run_medians)
    } else {
        g.baseline.as_ref().and_then(|s| s.median).expect("n > 0")
    };
    let paired = paired
        .then(|| {
            stats::paired_blocks(
                &stats::block_medians(&base.values, &base.blocks),
                &stats::block_medians(&cur.values, &cur.blocks),
                mb,
            )
        })
        .flatten();
    // A paired run's change is its own estimate, the geometric mean of the block ratios (the
    // one its interval is about); otherwise the pooled medians'.
    let mc = match paired.as_ref().and_then(|i| i.ratio) {
        Some(r) if !between_runs => mb * r,
        _ => g.current.as_ref().and_then(|s| s.median).expect("n > 0"),
    };
    let change = Change::new(mb, mc);
    g.baseline_value = Some(mb);
    g.current_value = Some(mc);
    g.change_abs = Some(mc - mb);
    g.change_pct = change.pct;
    g.note = change_note(change.pct, base, cur);

    let interval = if between_runs {
        Some(stats::between_runs(run_medians, mc))
    } else if paired.is_some() {
        paired
    } else {
        let seed = opts.seed ^ stats::fnv1a(&g.name);
        let draws = base.values.len() + cur.values.len();
        let resamples = stats::resample_budget(opts.resamples, draws);
        stats::interval(&base.values, &cur.values, resamples, seed)
    };
    let Some(interval) = interval else {
        g.verdict = Verdict::NTooSmall;
        return g;
    };
    g.method = interval.method;
    g.ci95_pct = interval.pct.map(|(a, b)| [a, b]);
    g.ci95_abs = Some([interval.abs.0, interval.abs.1]);
    g.significant = Some(interval.side().is_some());

    g.detectable_pct = detectable_change(g.direction, &key.unit, change, &interval, opts);
    let (verdict, note) = judge(g.direction, &key.unit, change, &interval, opts);
    g.verdict = verdict;
    if let Some(note) = note {
        g.note = note;
    }
    if verdict == Verdict::Informational && key.backend == LOAD_GENERATOR {
        g.note = "the load generator's own ceiling: a check of the client, not judged".into();
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = Unit::Micros.as_str();
    const RPS: &str = Unit::Rps.as_str();
    const BYTES: &str = Unit::Bytes.as_str();
    const COUNT: &str = Unit::Count.as_str();

    /// A bootstrap-like interval of the relative change, percent.
    fn interval(lo: f64, hi: f64) -> Interval {
        Interval {
            method: Method::BootstrapMedianRatio,
            pct: Some((lo, hi)),
            abs: (lo, hi),
            ratio: None,
        }
    }

    #[test]
    fn the_detectable_change_adds_the_bad_half_of_the_interval_to_the_threshold() {
        let opts = Options::default();
        let t = opts.threshold_pct;
        // Lower is better: the half below the observed change counts (+2% in [-8%, +20%]).
        let d = detectable_change(
            Direction::LowerIsBetter,
            COUNT,
            Change::new(100.0, 102.0),
            &interval(-8.0, 20.0),
            &opts,
        );
        assert_eq!(d, Some(t + 10.0));
        // Higher is better: the half above it (-2% in [-8%, +20%]).
        let d = detectable_change(
            Direction::HigherIsBetter,
            RPS,
            Change::new(100.0, 98.0),
            &interval(-8.0, 20.0),
            &opts,
        );
        assert_eq!(d, Some(t + 22.0));
        // Excluding zero suffices under the zero rule: the larger of the half and the threshold.
        let zero = Options {
            rule: Rule::Zero,
            ..Options::default()
        };
        let d = detectable_change(
            Direction::LowerIsBetter,
            COUNT,
            Change::new(100.0, 100.0),
            &interval(-40.0, 40.0),
            &zero,
        );
        assert_eq!(d, Some(40.0));
        // A latency under the noise floor cannot be flagged, whatever the interval.
        let d = detectable_change(
            Direction::LowerIsBetter,
            US,
            Change::new(opts.noise_floor_us / 2.0, opts.noise_floor_us / 2.0),
            &interval(-1.0, 1.0),
            &opts,
        )
        .unwrap();
        assert!(d >= 200.0, "{d}");
        // Unjudged groups have none.
        assert_eq!(
            detectable_change(
                Direction::Unknown,
                COUNT,
                Change::new(1.0, 1.0),
                &interval(-1.0, 1.0),
                &opts
            ),
            None
        );
    }

    #[test]
    fn a_change_of_the_detectable_size_is_flagged_and_a_smaller_one_is_not() {
        let opts = Options::default();
        let ci = |c: f64| interval(c - 7.0, c + 9.0);
        let d = detectable_change(
            Direction::LowerIsBetter,
            COUNT,
            Change::new(100.0, 100.0),
            &ci(0.0),
            &opts,
        )
        .unwrap();
        let at = |c: f64| judged(Direction::LowerIsBetter, COUNT, 100.0, 100.0 + c, ci(c));
        assert_eq!(at(d + 0.5), Verdict::Regression);
        assert_ne!(at(d - 0.5), Verdict::Regression);
    }

    fn judged(direction: Direction, unit: &str, from: f64, to: f64, ci: Interval) -> Verdict {
        judge(
            direction,
            unit,
            Change::new(from, to),
            &ci,
            &Options::default(),
        )
        .0
    }

    #[test]
    fn a_known_regression_and_improvement() {
        let lower = Direction::LowerIsBetter;
        let higher = Direction::HigherIsBetter;
        // 30% slower, interval [+25%, +35%]: wholly beyond the 10% threshold.
        let slower = interval(25.0, 35.0);
        assert_eq!(
            judged(lower, US, 1000.0, 1300.0, slower.clone()),
            Verdict::Regression
        );
        assert_eq!(
            judged(higher, RPS, 1000.0, 1300.0, slower),
            Verdict::Improvement
        );
        let faster = interval(-35.0, -25.0);
        assert_eq!(
            judged(lower, US, 1000.0, 700.0, faster.clone()),
            Verdict::Improvement
        );
        assert_eq!(
            judged(higher, RPS, 1000.0, 700.0, faster),
            Verdict::Regression
        );
    }

    #[test]
    fn a_known_inconclusive_change_and_the_rule() {
        // 11% slower, interval [+5%, +17%]: it excludes no change but not the threshold.
        let ci = interval(5.0, 17.0);
        let (lower, c) = (Direction::LowerIsBetter, Change::new(1000.0, 1110.0));
        assert_eq!(
            judge(lower, US, c, &ci, &Options::default()).0,
            Verdict::Inconclusive
        );
        let zero = Options {
            rule: Rule::Zero,
            ..Options::default()
        };
        assert_eq!(judge(lower, US, c, &ci, &zero).0, Verdict::Regression);
        // An interval that holds no change shows nothing under either rule.
        let wide = interval(-20.0, 60.0);
        assert_eq!(judge(lower, US, c, &wide, &zero).0, Verdict::Inconclusive);
    }

    #[test]
    fn a_known_noise_case_is_unchanged() {
        let lower = Direction::LowerIsBetter;
        // 2 µs → 4 µs is +100%, but below the 5 µs noise floor: unchanged, and said why.
        let (v, note) = judge(
            lower,
            US,
            Change::new(2.0, 4.0),
            &interval(90.0, 110.0),
            &Options::default(),
        );
        assert_eq!(v, Verdict::Unchanged);
        assert_eq!(note.as_deref(), Some("below the noise floor of 5 µs"));
        // The floor is of latency only.
        assert_eq!(
            judged(lower, BYTES, 2.0, 4.0, interval(90.0, 110.0)),
            Verdict::Regression
        );
        // Within the threshold, however sure.
        assert_eq!(
            judged(lower, US, 1000.0, 1050.0, interval(4.0, 6.0)),
            Verdict::Unchanged
        );
        // No better direction: never judged.
        assert_eq!(
            judged(Direction::Unknown, COUNT, 1.0, 9.0, interval(700.0, 900.0)),
            Verdict::Informational
        );
    }

    #[test]
    fn from_a_zero_baseline_excluding_zero_suffices() {
        assert_eq!(relative_change(0.0, 0.0), Some(0.0));
        assert_eq!(relative_change(0.0, 2.0), None);
        assert!((relative_change(200.0, 260.0).unwrap() - 30.0).abs() < 1e-9);
        let ci = Interval {
            method: Method::BootstrapMedianRatio,
            pct: None,
            abs: (1.0, 3.0),
            ratio: None,
        };
        assert_eq!(
            judged(Direction::LowerIsBetter, COUNT, 0.0, 2.0, ci),
            Verdict::Regression
        );
    }

    #[test]
    fn notes_and_failures() {
        let s = |n: usize, failed: usize| Samples {
            values: vec![1.0; n],
            failed,
            ..Samples::default()
        };
        assert_eq!(failures_verdict(&s(3, 0), &s(2, 1)), None);
        assert_eq!(
            failures_verdict(&s(0, 4), &s(2, 0)).unwrap().0,
            Verdict::NoBaseline
        );
        let (v, note) = failures_verdict(&s(3, 0), &s(0, 2)).unwrap();
        assert_eq!(v, Verdict::Failed);
        assert_eq!(
            note,
            "all 2 current measurements failed (the baseline had 3 successes)"
        );
        assert_eq!(
            change_note(None, &s(3, 0), &s(2, 1)),
            "baseline median is 0: no relative change; failures 0 → 1 (of 3 → 3 attempts)"
        );
        assert_eq!(change_note(Some(1.0), &s(3, 1), &s(3, 1)), "");
    }

    #[test]
    fn direction_vocabulary() {
        use Metric::*;
        for m in [
            Latency,
            LatencyP99,
            MemoryPerSandbox,
            MemoryTotal,
            ModuleSize,
            Errors,
            ColdStarts,
            ColdFraction,
        ] {
            assert_eq!(direction(m.as_str()), Direction::LowerIsBetter, "{m}");
        }
        assert_eq!(direction(Throughput.as_str()), Direction::HigherIsBetter);
        assert_eq!(direction(Capacity.as_str()), Direction::HigherIsBetter);
        assert_eq!(direction(Sandboxes.as_str()), Direction::Unknown);
        assert_eq!(direction("no_such_metric"), Direction::Unknown);
    }
}
