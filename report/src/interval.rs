//! 95% intervals of the headline values: a percentile bootstrap over each group's measurements.
//!
//! Every group a headline can read (a summary row of the device's cold-start, memory,
//! throughput, capacity and realistic experiments) is resampled with replacement from its own
//! successful measurements in `records.csv`, its median recomputed, and every headline computed
//! again from the resampled medians, exactly as [`crate::headline`] computes it from the real
//! ones. The interval is the 2.5th to the 97.5th percentile of [`RESAMPLES`] such values. The
//! resampling is seeded, so a report regenerates to the same bytes.
//!
//! The groups are resampled independently: the two sides of a ratio were measured apart (one
//! series after the other), so their noise is not paired. A group's measurements are taken as
//! exchangeable: each cold start, each memory reading, each throughput window is one.
//!
//! A value gets an interval only when every group behind it has at least [`MIN_N`]
//! measurements: a group measured once (a throughput level run once) has no spread to resample,
//! and its headline shows `n = 1` and no interval. A lower bound (`≥`, capacity that held at
//! every step) gets none either.

use std::collections::{BTreeMap, HashMap};

use wow_records::stats::{SplitMix64, percentile_sorted, resampled_median};
use wow_records::{Experiment, GroupKey, Record, SummaryRow};

use crate::headline::{Headline, Kind, headlines};

/// Bootstrap resamples per report.
pub const RESAMPLES: usize = 1000;
/// The fewest measurements every group behind a value needs for it to get an interval.
pub const MIN_N: usize = 3;

/// `hs` (the headlines of `device`) with their 95% intervals where they can have one.
pub fn with_intervals(
    mut hs: Vec<Headline>,
    summary: &[SummaryRow],
    records: &[Record],
    device: &str,
) -> Vec<Headline> {
    let wanted = |h: &Headline| {
        h.value.is_some() && h.n.is_some_and(|n| n >= MIN_N) && h.kind != Kind::RatioAtLeast
    };
    if !hs.iter().any(wanted) {
        return hs;
    }
    let base: Vec<SummaryRow> = summary
        .iter()
        .filter(|r| r.device == device && read_by_headlines(r))
        .cloned()
        .collect();
    let mut values: HashMap<GroupKey, Vec<f64>> = HashMap::new();
    for r in records.iter().filter(|r| r.ok && r.device == device) {
        values.entry(r.key()).or_default().push(r.value);
    }
    let groups: Vec<Option<&Vec<f64>>> = base.iter().map(|r| values.get(&r.key())).collect();
    let mut rng = SplitMix64(0x005e_ed0f_b007);
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut resampled = base.clone();
    let mut scratch = Vec::new();
    for _ in 0..RESAMPLES {
        for (row, group) in resampled.iter_mut().zip(&groups) {
            let Some(v) = group.filter(|v| !v.is_empty()) else {
                continue;
            };
            row.median = Some(resampled_median(v, &mut scratch, &mut rng));
        }
        for h in headlines(&resampled, device) {
            if let Some(v) = h.value.filter(|v| v.is_finite()) {
                samples.entry(h.id).or_default().push(v);
            }
        }
    }
    for h in hs.iter_mut().filter(|h| wanted(h)) {
        let Some(v) = samples.get_mut(&h.id) else {
            continue;
        };
        // A resample that could not give the value (every level dropped) leaves it out; with
        // most resamples missing there is no interval.
        if v.len() < RESAMPLES * 9 / 10 {
            continue;
        }
        v.sort_by(f64::total_cmp);
        h.ci95 = Some((percentile_sorted(v, 0.025), percentile_sorted(v, 0.975)));
    }
    hs
}

/// Whether a summary row is one a headline may read (the rest are left out of the resampling,
/// which they would only slow down).
fn read_by_headlines(r: &SummaryRow) -> bool {
    matches!(
        r.experiment.parse::<Experiment>(),
        Ok(Experiment::ColdStart
            | Experiment::Memory
            | Experiment::Throughput
            | Experiment::Capacity
            | Experiment::Realistic)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wow_records::{Backend, Config, Series};

    fn record(backend: Backend, variant: Series, level: u32, i: u32, v: f64) -> Record {
        Record {
            run_id: "t".into(),
            experiment: Experiment::ColdStart.into(),
            backend: backend.into(),
            engine: if backend == Backend::Wasm {
                "wasmtime".into()
            } else {
                String::new()
            },
            variant: variant.into(),
            config: Config::Default.into(),
            workload: "hash".into(),
            device: "host".into(),
            concurrency: level,
            iteration: i,
            block: 0,
            phase: "cold_start".into(),
            metric: "latency".into(),
            value: v,
            unit: "us".into(),
            ok: true,
            note: String::new(),
        }
    }

    /// Wasm 1, 2, …, `n` µs; Docker always 100 µs: the cold-start change is median(wasm)/100 − 1.
    fn run(n: u32) -> (Vec<SummaryRow>, Vec<Record>) {
        let mut records = Vec::new();
        for i in 0..n {
            records.push(record(
                Backend::Wasm,
                Series::Precompiled,
                1,
                i,
                (i + 1) as f64,
            ));
            records.push(record(Backend::Docker, Series::CreateStart, 1, i, 100.0));
        }
        (wow_records::summary::summarise(&records), records)
    }

    fn low(summary: &[SummaryRow], records: &[Record]) -> Headline {
        with_intervals(headlines(summary, "host"), summary, records, "host")
            .into_iter()
            .find(|h| h.id == "cold-start-low")
            .unwrap()
    }

    #[test]
    fn the_interval_is_the_bootstrap_of_the_median_and_holds_the_value() {
        let (summary, records) = run(101);
        let h = low(&summary, &records);
        // Median 51 µs: −49%. The median of 101 values 1..=101 resampled moves by about
        // ±1.96 × 1.2533 × σ/√n ≈ ±7.2 µs.
        assert!((h.value.unwrap() + 0.49).abs() < 1e-12);
        assert_eq!(h.n, Some(101));
        let (lo, hi) = h.ci95.expect("an interval");
        assert!(lo < -0.49 && -0.49 < hi, "[{lo}, {hi}]");
        assert!(
            (0.04..0.11).contains(&(-0.49 - lo)) && (0.04..0.11).contains(&(hi + 0.49)),
            "half-widths about 0.07: [{lo}, {hi}]"
        );
        // Seeded: the same interval every time.
        assert_eq!(low(&summary, &records).ci95, h.ci95);
    }

    #[test]
    fn a_value_from_too_few_measurements_gets_no_interval() {
        let (summary, records) = run(2);
        let h = low(&summary, &records);
        assert_eq!(h.n, Some(2));
        assert!(h.value.is_some());
        assert_eq!(h.ci95, None);
    }
}
