//! The whole comparison: the sides checked against each other, their records grouped, every
//! group judged, and the regressions and improvements listed with what to warn about.

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use wow_records::GroupKey;

use crate::checks::{self, device_column};
use crate::load::LoadedRun;
use crate::model::{Comparison, GroupComparison, RunInfo, Verdict};
use crate::options::{CONFIDENCE, Options};
use crate::samples::{self, Pooled};
use crate::verdict::compare_group;

/// How many names of unmatched groups a warning lists.
const NAMES_SHOWN: usize = 5;

/// Compares a baseline (one run or several) with a current run. Errors are bad input: runs that
/// may not be compared, or nothing to compare.
pub fn compare(base: &[LoadedRun], cur: &LoadedRun, opts: &Options) -> Result<Comparison> {
    if base.is_empty() {
        bail!("no baseline run");
    }
    let base_devices: BTreeSet<String> = base
        .iter()
        .flat_map(|b| device_column(&b.records))
        .collect();
    let cur_devices = device_column(&cur.records);
    let runs = || {
        base.iter()
            .map(|b| (b, "baseline"))
            .chain([(cur, "current")])
    };

    let mut warnings: Vec<String> = runs()
        .filter_map(|(run, role)| checks::meta_warning(run, role))
        .collect();
    // Same machine architecture and device profile, unless told otherwise.
    let mismatches = checks::mismatches(base, cur, &base_devices, &cur_devices);
    if !mismatches.is_empty() {
        if !opts.allow_mismatch {
            bail!(
                "refusing to compare runs from different machines or device profiles: {} \
                 (pass --allow-mismatch to compare them anyway)",
                mismatches.join("; ")
            );
        }
        for m in &mismatches {
            warnings.push(format!(
                "compared despite a mismatch (--allow-mismatch): {m}"
            ));
        }
    }
    warnings.extend(runs().filter_map(|(run, role)| checks::status_warning(run, role)));

    let pooled = Pooled::of(base, &opts.metrics);
    let mut cur_groups = samples::groups(&cur.records, &opts.metrics);
    // With the mismatch allowed, one device against another one is matched across devices.
    if opts.allow_mismatch
        && base_devices.len() == 1
        && cur_devices.len() == 1
        && base_devices != cur_devices
    {
        let device = base_devices.iter().next().expect("one device");
        cur_groups = samples::on_device(cur_groups, device);
    }
    if pooled.groups.is_empty() || cur_groups.is_empty() {
        let which = if pooled.groups.is_empty() {
            "baseline"
        } else {
            "current"
        };
        if opts.metrics.is_empty() {
            bail!("the {which} run has no records");
        }
        bail!(
            "no {which} group has a metric starting with {}",
            opts.metrics.join(" or ")
        );
    }

    let paired = base.len() == 1 && checks::paired(&base[0], cur);
    if base.len() > 1 && cur.meta.as_ref().is_some_and(|m| m.paired.is_some()) {
        warnings.push(
            "the current run is one side of a paired run, but the baseline is several runs: compared as unpaired runs (give its baseline side alone to pair them)".into(),
        );
    }
    let keys: BTreeSet<&GroupKey> = pooled.groups.keys().chain(cur_groups.keys()).collect();
    let groups: Vec<GroupComparison> = keys
        .into_iter()
        .map(|key| {
            compare_group(
                key,
                pooled.groups.get(key),
                pooled.run_medians(key),
                cur_groups.get(key),
                paired,
                opts,
            )
        })
        .collect();
    if !groups.iter().any(GroupComparison::is_matched) {
        bail!(
            "the runs have no group in common (baseline {} groups, current {}): were they made by different suites?",
            pooled.groups.len(),
            cur_groups.len()
        );
    }
    warnings.extend(unmatched_warnings(&groups));

    let names_with = |pred: fn(Verdict) -> bool| {
        groups
            .iter()
            .filter(|g| pred(g.verdict))
            .map(|g| g.name.clone())
            .collect::<Vec<_>>()
    };
    let regressions = names_with(Verdict::is_regression);
    let improvements = names_with(|v| v == Verdict::Improvement);
    Ok(Comparison {
        baseline: RunInfo::of(&base[0], &device_column(&base[0].records)),
        baseline_runs: base
            .iter()
            .map(|b| RunInfo::of(b, &device_column(&b.records)))
            .collect(),
        current: RunInfo::of(cur, &cur_devices),
        threshold_pct: opts.threshold_pct,
        rule: opts.rule,
        noise_floor_us: opts.noise_floor_us,
        confidence: CONFIDENCE,
        bootstrap_resamples: opts.resamples,
        seed: opts.seed,
        metrics: opts.metrics.clone(),
        warnings,
        regressions,
        improvements,
        groups,
    })
}

/// One warning for the groups only the baseline measured and one for those only the current
/// run did, each naming a few.
fn unmatched_warnings(groups: &[GroupComparison]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (v, what) in [
        (
            Verdict::Missing,
            "in the baseline only (not measured by the current run)",
        ),
        (Verdict::New, "in the current run only"),
    ] {
        let names: Vec<&str> = groups
            .iter()
            .filter(|g| g.verdict == v)
            .map(|g| g.name.as_str())
            .collect();
        if !names.is_empty() {
            let shown = names
                .iter()
                .take(NAMES_SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
            let more = if names.len() > NAMES_SHOWN {
                format!("; and {} more", names.len() - NAMES_SHOWN)
            } else {
                String::new()
            };
            warnings.push(format!("{} groups {what}: {shown}{more}", names.len()));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use wow_records::Record;
    use wow_records::vocab::{Backend, Config, Experiment, Metric, Series, phase};

    use super::*;
    use crate::options::Rule;
    use crate::verdict::LOAD_GENERATOR;

    fn rec(metric: Metric, value: f64, ok: bool) -> Record {
        Record {
            run_id: "r".into(),
            experiment: Experiment::ColdStart.into(),
            backend: Backend::Wasm.into(),
            engine: "wasmtime".into(),
            variant: Series::Precompiled.into(),
            config: Config::Default.into(),
            workload: "noop".into(),
            device: crate::verdict::HOST_DEVICE.into(),
            concurrency: 1,
            iteration: 0,
            block: 0,
            phase: phase::COLD_START.into(),
            metric: metric.into(),
            value,
            unit: metric.unit().into(),
            ok,
            note: String::new(),
        }
    }

    fn run(values: &[f64], metric: Metric) -> LoadedRun {
        LoadedRun {
            path: PathBuf::from("x"),
            meta: None,
            records: values
                .iter()
                .map(|v| rec(metric, *v, v.is_finite()))
                .collect(),
        }
    }

    fn verdict(a: &[f64], b: &[f64], metric: Metric) -> Verdict {
        let c = compare(&[run(a, metric)], &run(b, metric), &Options::default()).unwrap();
        c.groups[0].verdict
    }

    #[test]
    fn verdicts_are_direction_aware() {
        let base: Vec<f64> = (0..10).map(|i| 1000.0 + 10.0 * i as f64).collect();
        let slow: Vec<f64> = base.iter().map(|v| v * 1.3).collect();
        let fast: Vec<f64> = base.iter().map(|v| v * 0.7).collect();
        assert_eq!(verdict(&base, &slow, Metric::Latency), Verdict::Regression);
        assert_eq!(verdict(&base, &fast, Metric::Latency), Verdict::Improvement);
        assert_eq!(
            verdict(&base, &slow, Metric::Throughput),
            Verdict::Improvement
        );
        assert_eq!(
            verdict(&base, &fast, Metric::Throughput),
            Verdict::Regression
        );
        assert_eq!(
            verdict(&base, &slow, Metric::Sandboxes),
            Verdict::Informational
        );
        // The load generator's ceiling measures the client, so it is shown but never judged.
        let client = |values: &[f64]| {
            let mut r = run(values, Metric::Throughput);
            for rec in &mut r.records {
                rec.backend = LOAD_GENERATOR.into();
                rec.variant = Series::Loopback.into();
            }
            r
        };
        let c = compare(&[client(&base)], &client(&fast), &Options::default()).unwrap();
        assert_eq!(c.groups[0].verdict, Verdict::Informational);
        assert!(c.regressions.is_empty());
        assert_eq!(verdict(&base, &base, Metric::Latency), Verdict::Unchanged);
        assert_eq!(
            verdict(&[1000.0], &[2000.0], Metric::Latency),
            Verdict::NTooSmall
        );
        assert_eq!(
            verdict(&base, &[f64::NAN, f64::NAN], Metric::Latency),
            Verdict::Failed
        );
        // Sub-floor latency changes are never flagged.
        let tiny: Vec<f64> = (0..10).map(|i| 1.0 + 0.01 * i as f64).collect();
        let tiny2: Vec<f64> = tiny.iter().map(|v| v * 2.0).collect();
        assert_eq!(verdict(&tiny, &tiny2, Metric::Latency), Verdict::Unchanged);
    }

    #[test]
    fn the_rule_decides_changes_just_past_the_threshold() {
        let base: Vec<f64> = (0..10).map(|i| 1000.0 + 10.0 * i as f64).collect();
        let cur: Vec<f64> = base.iter().map(|v| v * 1.11).collect();
        let (a, b) = (run(&base, Metric::Latency), run(&cur, Metric::Latency));
        let a = [a];
        let strict = compare(&a, &b, &Options::default()).unwrap();
        let g = &strict.groups[0];
        let [lo, hi] = g.ci95_pct.unwrap();
        assert!(lo > 0.0 && lo < 10.0 && hi > 11.0, "{lo} {hi}");
        assert_eq!(g.verdict, Verdict::Inconclusive);
        assert_eq!(g.significant, Some(true));
        let zero = Options {
            rule: Rule::Zero,
            ..Options::default()
        };
        let loose = compare(&a, &b, &zero).unwrap();
        assert_eq!(loose.groups[0].verdict, Verdict::Regression);
        assert_eq!(loose.regressions.len(), 1);
    }

    #[test]
    fn a_wide_spread_is_not_significant() {
        let base = [100.0, 200.0, 300.0];
        let cur = [150.0, 250.0, 600.0];
        assert_eq!(verdict(&base, &cur, Metric::Latency), Verdict::Inconclusive);
    }

    #[test]
    fn unmatched_groups_are_warned_of_and_nothing_in_common_is_refused() {
        let base: Vec<f64> = (0..10).map(|i| 1000.0 + 10.0 * i as f64).collect();
        let mut both = run(&base, Metric::Latency);
        both.records.extend(run(&base, Metric::Errors).records);
        let c = compare(&[both], &run(&base, Metric::Latency), &Options::default()).unwrap();
        assert_eq!(c.count(Verdict::Missing), 1);
        assert_eq!(c.matched(), 1);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("1 groups in the baseline only")),
            "{:?}",
            c.warnings
        );
        let err = compare(
            &[run(&base, Metric::Latency)],
            &run(&base, Metric::Errors),
            &Options::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no group in common"), "{err}");
        let only_memory = Options {
            metrics: vec![Metric::MemoryPerSandbox.into()],
            ..Options::default()
        };
        let err = compare(
            &[run(&base, Metric::Latency)],
            &run(&base, Metric::Latency),
            &only_memory,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no baseline group has a metric starting with memory_per_sandbox"
        );
    }
}
