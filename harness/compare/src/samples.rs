//! The records of each side gathered into groups: a group's successful values and its failure
//! count, pooled over several baseline runs together with each run's median.

use std::collections::BTreeMap;

use wow_records::{GroupKey, Record, Stats};

use crate::load::LoadedRun;

/// A group's successful values and its failure count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub values: Vec<f64>,
    /// The block of each value (0 outside paired runs).
    pub blocks: Vec<u32>,
    pub failed: usize,
}

/// The records' groups, keeping only metrics that start with one of `metrics` (all when empty).
/// A record counts as a success when it is `ok` with a finite value.
pub fn groups(records: &[Record], metrics: &[String]) -> BTreeMap<GroupKey, Samples> {
    let mut out: BTreeMap<GroupKey, Samples> = BTreeMap::new();
    for r in records {
        if !metrics.is_empty() && !metrics.iter().any(|m| r.metric.starts_with(m.as_str())) {
            continue;
        }
        let g = out.entry(r.key()).or_default();
        if r.ok && r.value.is_finite() {
            g.values.push(r.value);
            g.blocks.push(r.block);
        } else {
            g.failed += 1;
        }
    }
    out
}

/// The baseline's groups, pooled over its runs.
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    /// Every run's samples of a group, together.
    pub groups: BTreeMap<GroupKey, Samples>,
    /// The median of each run that measured a group successfully.
    pub run_medians: BTreeMap<GroupKey, Vec<f64>>,
}

impl Pooled {
    pub fn of(runs: &[LoadedRun], metrics: &[String]) -> Pooled {
        let mut pooled = Pooled::default();
        for run in runs {
            for (key, g) in groups(&run.records, metrics) {
                if let Some(m) = Stats::of(&g.values).map(|s| s.median) {
                    pooled.run_medians.entry(key.clone()).or_default().push(m);
                }
                let samples = pooled.groups.entry(key).or_default();
                samples.values.extend(g.values);
                samples.blocks.extend(g.blocks);
                samples.failed += g.failed;
            }
        }
        pooled
    }

    /// The run medians of a group (none when no run measured it).
    pub fn run_medians(&self, key: &GroupKey) -> &[f64] {
        self.run_medians.get(key).map_or(&[][..], |v| v.as_slice())
    }
}

/// `groups` moved onto `device`: with a mismatch allowed, one device is matched against another.
pub fn on_device(groups: BTreeMap<GroupKey, Samples>, device: &str) -> BTreeMap<GroupKey, Samples> {
    groups
        .into_iter()
        .map(|(mut k, v)| {
            k.device = device.to_string();
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::tests::fixture;
    use wow_records::vocab::Metric;

    #[test]
    fn groups_split_successes_from_failures_and_filter_metrics() {
        let run = LoadedRun::load(&fixture(), "baseline").unwrap();
        let all = groups(&run.records, &[]);
        let total: usize = all.values().map(|s| s.values.len() + s.failed).sum();
        assert_eq!(total, run.records.len());
        assert_eq!(all.values().map(|s| s.failed).sum::<usize>(), 1);
        let memory = Metric::MemoryPerSandbox.as_str();
        let only = groups(&run.records, &[memory.to_string()]);
        assert!(!only.is_empty() && only.len() < all.len());
        assert!(only.keys().all(|k| k.metric == memory));
    }

    #[test]
    fn pooling_keeps_each_runs_median() {
        let run = LoadedRun::load(&fixture(), "baseline").unwrap();
        let pooled = Pooled::of(&[run.clone(), run.clone()], &[]);
        let single = groups(&run.records, &[]);
        for (key, s) in &single {
            let p = &pooled.groups[key];
            assert_eq!(
                (p.values.len(), p.failed),
                (2 * s.values.len(), 2 * s.failed)
            );
            let medians = pooled.run_medians(key);
            if s.values.is_empty() {
                assert!(medians.is_empty());
            } else {
                assert_eq!(medians.len(), 2);
                assert_eq!(medians[0], medians[1]);
            }
        }
        let moved = on_device(single, "pi3");
        assert!(moved.keys().all(|k| k.device == "pi3"));
    }
}
