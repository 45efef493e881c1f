//! How sure we are that a group changed: the 95% interval of the change of its median.
//!
//! - Both sides with at least [`BOOTSTRAP_MIN_N`] samples: a seeded percentile bootstrap of the
//!   ratio of medians (current ÷ baseline). Each resample draws both sides with replacement and
//!   takes their medians (type-7 interpolation, as `summary.csv`); the 2.5% and 97.5% quantiles of
//!   the resampled ratios bound the 95% interval. The same resamples give an interval of the
//!   difference of medians, used when the baseline median is 0 (no ratio exists).
//! - Fewer (at least 2 a side): Welch's t interval of the difference of means, relative to the
//!   baseline mean (Sightglass's effect size, at 95%).
//! - One sample on a side: no interval at all.
//!
//! When the baseline is several runs (at least [`BETWEEN_RUNS_MIN`] that measured the group), the
//! samples of one run share that run's conditions (background load, frequency, thermal state),
//! so run-to-run variation dwarfs what any within-run interval shows. Then the interval is a 95%
//! prediction interval for a new run's median from the baseline runs' medians, on a log scale:
//! `ln(current median) − mean(ln m_i) ± t(k−1) · s · √(1 + 1/k)` over the k run medians `m_i`
//! (`s` their standard deviation). The baseline's location is then the geometric mean of its run
//! medians. With a run median of 0 the same is done on the plain scale.
//!
//! The two sides of a paired run (`wowbench run --baseline-executor`) were measured block by
//! block in turn on one machine, so each block's two medians share that block's conditions.
//! With at least [`PAIRED_MIN_BLOCKS`] blocks measured on both sides the interval is over the
//! blocks, on a log scale, with `r_b = ln(current median_b ÷ baseline median_b)`: from
//! [`SIGNED_RANK_MIN_BLOCKS`] blocks the Wilcoxon signed-rank interval around the Hodges–Lehmann
//! estimate ([`signed_rank`]), below it the paired t interval `mean(r) ± t(k−1) · s(r) / √k`;
//! turned back into percent. What the machine did during a block cancels in its ratio; what is
//! left is the noise the interval must cover, measured, not assumed. With a block median of 0
//! the same is done on the differences.

use serde::Serialize;
use wow_records::stats::{
    SplitMix64, mean_variance, median_in_place, percentile_sorted, resampled_median, t_975,
};

/// Smallest sample count on each side for the bootstrap.
pub const BOOTSTRAP_MIN_N: usize = 5;
/// Smallest number of baseline runs for the between-runs interval.
pub const BETWEEN_RUNS_MIN: usize = 3;
/// Smallest number of blocks measured on both sides for the paired interval.
pub const PAIRED_MIN_BLOCKS: usize = 3;
/// Smallest number of blocks for the signed-rank interval: with fewer, even the most extreme
/// outcome has a two-sided probability above 5% (2 / 2⁵).
pub const SIGNED_RANK_MIN_BLOCKS: usize = 6;
/// Bootstrap work per group is capped at about this many drawn values (resamples × samples):
/// groups of thousands of requests get fewer resamples, never fewer than [`MIN_RESAMPLES`].
pub const MAX_DRAWS: usize = 40_000_000;
pub const MIN_RESAMPLES: usize = 2_000;

/// How the interval was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Percentile bootstrap of the ratio of medians.
    BootstrapMedianRatio,
    /// Welch's t interval of the difference of means.
    WelchMeans,
    /// Prediction interval from the medians of several baseline runs.
    BetweenRuns,
    /// Paired t interval over the blocks of a paired run (fewer than six blocks).
    PairedBlocks,
    /// Hodges–Lehmann estimate and Wilcoxon signed-rank interval over the blocks of a paired run.
    PairedRanks,
    /// Too few samples for any interval.
    None,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::BootstrapMedianRatio => "bootstrap",
            Method::WelchMeans => "welch",
            Method::BetweenRuns => "runs",
            Method::PairedBlocks => "paired",
            Method::PairedRanks => "ranks",
            Method::None => "-",
        }
    }
}

/// A 95% interval of the change from baseline to current.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub method: Method,
    /// Of the relative change, percent; `None` when the baseline's location is 0.
    pub pct: Option<(f64, f64)>,
    /// Of the absolute change (current − baseline), in the group's unit: of the medians for the
    /// bootstrap, of the means for Welch.
    pub abs: (f64, f64),
    /// The interval's own estimate of current ÷ baseline, where it has one that the pooled
    /// medians would not give: a paired run's geometric mean of its block ratios.
    pub ratio: Option<f64>,
}

impl Interval {
    /// Whether the interval lies entirely above (`Some(true)`) or below (`Some(false)`) no
    /// change; `None` when it contains it.
    pub fn side(&self) -> Option<bool> {
        let (lo, hi) = self.pct.unwrap_or(self.abs);
        if lo > 0.0 {
            Some(true)
        } else if hi < 0.0 {
            Some(false)
        } else {
            None
        }
    }
}

/// The interval for two samples, by the method their sizes allow; `None` with fewer than two
/// values on a side. `seed` makes the bootstrap reproducible.
pub fn interval(base: &[f64], cur: &[f64], resamples: usize, seed: u64) -> Option<Interval> {
    if base.len() >= BOOTSTRAP_MIN_N && cur.len() >= BOOTSTRAP_MIN_N {
        Some(bootstrap_median_ratio(base, cur, resamples, seed))
    } else if base.len() >= 2 && cur.len() >= 2 {
        Some(welch(base, cur))
    } else {
        None
    }
}

/// The resamples to draw for a group of `draws` values in all: `requested`, capped by
/// [`MAX_DRAWS`] but never below [`MIN_RESAMPLES`].
pub fn resample_budget(requested: usize, draws: usize) -> usize {
    requested.min((MAX_DRAWS / draws.max(1)).max(MIN_RESAMPLES))
}

/// Percentile bootstrap (95%) of current ÷ baseline medians, `resamples` rounds, seeded.
pub fn bootstrap_median_ratio(base: &[f64], cur: &[f64], resamples: usize, seed: u64) -> Interval {
    assert!(!base.is_empty() && !cur.is_empty(), "bootstrap of nothing");
    let resamples = resamples.max(100);
    let mut rng = SplitMix64(seed);
    let (mut buf_a, mut buf_b) = (
        Vec::with_capacity(base.len()),
        Vec::with_capacity(cur.len()),
    );
    let mut ratios = Vec::with_capacity(resamples);
    let mut diffs = Vec::with_capacity(resamples);
    let mut ratio_defined = true;
    for _ in 0..resamples {
        let ma = resampled_median(base, &mut buf_a, &mut rng);
        let mb = resampled_median(cur, &mut buf_b, &mut rng);
        diffs.push(mb - ma);
        if ma > 0.0 {
            ratios.push(mb / ma);
        } else {
            ratio_defined = false;
        }
    }
    let bounds = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (percentile_sorted(v, 0.025), percentile_sorted(v, 0.975))
    };
    let abs = bounds(&mut diffs);
    let pct = ratio_defined.then(|| {
        let (lo, hi) = bounds(&mut ratios);
        ((lo - 1.0) * 100.0, (hi - 1.0) * 100.0)
    });
    Interval {
        method: Method::BootstrapMedianRatio,
        pct,
        abs,
        ratio: None,
    }
}

/// Welch's 95% t interval of mean(current) − mean(baseline); relative to the baseline mean.
/// Degrees of freedom by Welch–Satterthwaite, rounded down (conservative).
pub fn welch(base: &[f64], cur: &[f64]) -> Interval {
    assert!(
        base.len() >= 2 && cur.len() >= 2,
        "Welch needs two values a side"
    );
    let (ma, va) = mean_variance(base);
    let (mb, vb) = mean_variance(cur);
    let (na, nb) = (base.len() as f64, cur.len() as f64);
    let d = mb - ma;
    let (qa, qb) = (va / na, vb / nb);
    let se2 = qa + qb;
    let abs = if se2 > 0.0 {
        let df = se2 * se2 / (qa * qa / (na - 1.0) + qb * qb / (nb - 1.0));
        let t = t_975((df.floor() as usize).max(1));
        let half = t * se2.sqrt();
        (d - half, d + half)
    } else {
        (d, d)
    };
    let pct = (ma > 0.0).then(|| (abs.0 / ma * 100.0, abs.1 / ma * 100.0));
    Interval {
        method: Method::WelchMeans,
        pct,
        abs,
        ratio: None,
    }
}

/// Where several baseline runs put a group: the geometric mean of their medians, or the
/// arithmetic mean when one is not positive.
pub fn run_location(run_medians: &[f64]) -> f64 {
    assert!(!run_medians.is_empty(), "location of no runs");
    let k = run_medians.len() as f64;
    if run_medians.iter().all(|m| *m > 0.0) {
        (run_medians.iter().map(|m| m.ln()).sum::<f64>() / k).exp()
    } else {
        run_medians.iter().sum::<f64>() / k
    }
}

/// The 95% prediction interval of a new run's median from `run_medians` (k ≥ 2), as an interval
/// of the change from [`run_location`] to `current`.
pub fn between_runs(run_medians: &[f64], current: f64) -> Interval {
    let k = run_medians.len();
    assert!(k >= 2, "between-runs needs two runs");
    let t = t_975(k - 1) * (1.0 + 1.0 / k as f64).sqrt();
    if current > 0.0 && run_medians.iter().all(|m| *m > 0.0) {
        let logs: Vec<f64> = run_medians.iter().map(|m| m.ln()).collect();
        let (mean, var) = mean_variance(&logs);
        let half = t * var.sqrt();
        let d = current.ln() - mean;
        let g = mean.exp();
        let (lo, hi) = ((d - half).exp() - 1.0, (d + half).exp() - 1.0);
        Interval {
            method: Method::BetweenRuns,
            pct: Some((lo * 100.0, hi * 100.0)),
            abs: (g * lo, g * hi),
            ratio: None,
        }
    } else {
        let (mean, var) = mean_variance(run_medians);
        let half = t * var.sqrt();
        let d = current - mean;
        let abs = (d - half, d + half);
        Interval {
            method: Method::BetweenRuns,
            pct: (mean > 0.0).then(|| (abs.0 / mean * 100.0, abs.1 / mean * 100.0)),
            abs,
            ratio: None,
        }
    }
}

/// Each block's median of a group's values (`blocks[i]` is the block of `values[i]`).
pub fn block_medians(values: &[f64], blocks: &[u32]) -> std::collections::BTreeMap<u32, f64> {
    let mut by_block: std::collections::BTreeMap<u32, Vec<f64>> = Default::default();
    for (v, b) in values.iter().zip(blocks) {
        by_block.entry(*b).or_default().push(*v);
    }
    by_block
        .into_iter()
        .map(|(b, mut v)| (b, median_in_place(&mut v)))
        .collect()
}

/// The paired interval of a paired run's group from each side's block medians, over the blocks
/// both sides measured; `None` with fewer than [`PAIRED_MIN_BLOCKS`] of them. `baseline` is the
/// value the absolute interval is scaled by (the pooled baseline median). With at least
/// [`SIGNED_RANK_MIN_BLOCKS`] blocks: the Hodges–Lehmann estimate and the Wilcoxon signed-rank
/// interval of the block log-ratios (see [`signed_rank`]); with fewer, the paired t interval.
pub fn paired_blocks(
    base: &std::collections::BTreeMap<u32, f64>,
    cur: &std::collections::BTreeMap<u32, f64>,
    baseline: f64,
) -> Option<Interval> {
    let pairs: Vec<(f64, f64)> = base
        .iter()
        .filter_map(|(b, mb)| cur.get(b).map(|mc| (*mb, *mc)))
        .collect();
    let k = pairs.len();
    if k < PAIRED_MIN_BLOCKS {
        return None;
    }
    // (method, centre, low, high) of the values' location.
    let locate = |v: &[f64]| match signed_rank(v) {
        Some((c, lo, hi)) => (Method::PairedRanks, c, lo, hi),
        None => {
            let (mean, var) = mean_variance(v);
            let half = t_975(k - 1) / (k as f64).sqrt() * var.sqrt();
            (Method::PairedBlocks, mean, mean - half, mean + half)
        }
    };
    if pairs.iter().all(|(a, b)| *a > 0.0 && *b > 0.0) {
        let logs: Vec<f64> = pairs.iter().map(|(a, b)| (b / a).ln()).collect();
        let (method, centre, lo, hi) = locate(&logs);
        let (lo, hi) = (lo.exp() - 1.0, hi.exp() - 1.0);
        Some(Interval {
            method,
            pct: Some((lo * 100.0, hi * 100.0)),
            abs: (baseline * lo, baseline * hi),
            ratio: Some(centre.exp()),
        })
    } else {
        let diffs: Vec<f64> = pairs.iter().map(|(a, b)| b - a).collect();
        let (method, _, lo, hi) = locate(&diffs);
        let (base_mean, _) = mean_variance(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
        Some(Interval {
            method,
            pct: (base_mean > 0.0).then(|| (lo / base_mean * 100.0, hi / base_mean * 100.0)),
            abs: (lo, hi),
            ratio: None,
        })
    }
}

/// The Hodges–Lehmann estimate of the centre of `v` (the median of its Walsh averages, the
/// pairwise means `(vᵢ + vⱼ) / 2` for i ≤ j) and the 95% interval that the Wilcoxon signed-rank
/// test inverts to: from the `c`-th smallest to the `c`-th largest Walsh average, `c − 1` the
/// largest t with P(T ≤ t) ≤ 2.5% under the exact null distribution of the signed-rank
/// statistic T for `n = v.len()` (n = 10: t = 8, the 9th to the 47th of 55). `None` below
/// [`SIGNED_RANK_MIN_BLOCKS`] values, where no interval reaches 95%.
///
/// Why not the t interval: the block ratios of a cold start are heavy-tailed (a block that met
/// a compile on one side); one such block widens a t interval by its square, while the ranks
/// give it no more weight than any other block. The assumption is symmetry about the centre,
/// which the sides' alternating order gives identical builds.
pub fn signed_rank(v: &[f64]) -> Option<(f64, f64, f64)> {
    let n = v.len();
    if n < SIGNED_RANK_MIN_BLOCKS {
        return None;
    }
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push((v[i] + v[j]) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let centre = percentile_sorted(&walsh, 0.5);
    // counts[s]: how many of the 2ⁿ sign patterns give T = s (as f64: exact to n = 53, and to
    // a relative 1e-15 beyond, which a 2.5% tail does not notice).
    let max = n * (n + 1) / 2;
    let mut counts = vec![0.0f64; max + 1];
    counts[0] = 1.0;
    for rank in 1..=n {
        for s in (rank..=max).rev() {
            counts[s] += counts[s - rank];
        }
    }
    let total = 2f64.powi(n as i32);
    let (mut c, mut tail) = (0, 0.0);
    while (tail + counts[c]) / total <= 0.025 {
        tail += counts[c];
        c += 1;
    }
    Some((centre, walsh[c - 1], walsh[walsh.len() - c]))
}

/// A stable 64-bit hash (FNV-1a) to derive a group's bootstrap seed from its name, so that every
/// group gets its own stream and the result does not depend on which other groups exist.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(center: f64, n: usize, rel: f64) -> Vec<f64> {
        // Deterministic values spread evenly over center × (1 ± rel).
        (0..n)
            .map(|i| center * (1.0 - rel + 2.0 * rel * i as f64 / (n - 1) as f64))
            .collect()
    }

    #[test]
    fn bootstrap_is_deterministic_and_finds_a_shift() {
        let a = spread(100.0, 10, 0.05);
        let b: Vec<f64> = a.iter().map(|x| x * 1.3).collect();
        let i1 = bootstrap_median_ratio(&a, &b, 2000, 7);
        let i2 = bootstrap_median_ratio(&a, &b, 2000, 7);
        assert_eq!(i1, i2, "same seed, same interval");
        let (lo, hi) = i1.pct.unwrap();
        assert!(
            lo > 15.0 && hi < 45.0 && lo < 30.0 && hi > 30.0,
            "{lo} {hi}"
        );
        assert_eq!(i1.side(), Some(true));
        let same = bootstrap_median_ratio(&a, &a, 2000, 7);
        assert_eq!(same.side(), None, "{same:?}");
    }

    #[test]
    fn bootstrap_without_a_ratio_uses_the_difference() {
        let a = vec![0.0; 6];
        let b = vec![2.0, 3.0, 2.0, 3.0, 2.0, 3.0];
        let i = bootstrap_median_ratio(&a, &b, 500, 1);
        assert_eq!(i.pct, None);
        assert!(i.abs.0 >= 2.0 && i.abs.1 <= 3.0, "{:?}", i.abs);
        assert_eq!(i.side(), Some(true));
    }

    #[test]
    fn welch_by_hand() {
        // a: mean 10, var 1 (n 3); b: mean 12, var 4 (n 3). se² = 1/3 + 4/3 = 5/3;
        // df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = 2.777… → 2, t = 4.303.
        let a = [9.0, 10.0, 11.0];
        let b = [10.0, 12.0, 14.0];
        let i = welch(&a, &b);
        let half = 4.303 * (5.0f64 / 3.0).sqrt();
        assert!((i.abs.0 - (2.0 - half)).abs() < 1e-9 && (i.abs.1 - (2.0 + half)).abs() < 1e-9);
        let (lo, hi) = i.pct.unwrap();
        assert!((lo - (2.0 - half) * 10.0).abs() < 1e-9 && (hi - (2.0 + half) * 10.0).abs() < 1e-9);
        assert_eq!(i.side(), None, "n = 3 with that spread is not significant");
        // No spread at all: the interval is the difference itself.
        let i = welch(&[5.0, 5.0], &[6.0, 6.0]);
        assert_eq!((i.abs, i.side()), ((1.0, 1.0), Some(true)));
    }

    #[test]
    fn between_runs_by_hand() {
        // ln medians: ln 100, ln 110, ln 90.9: mean ≈ ln 100; s of the logs = sd(0, ln 1.1,
        // ln(1/1.1)) = ln 1.1 ≈ 0.09531; t(2) = 4.303, √(1 + 1/3).
        let runs = [100.0, 110.0, 100.0 / 1.1];
        assert!((run_location(&runs) - 100.0).abs() < 1e-9);
        let half = 4.303 * (4.0f64 / 3.0).sqrt() * 1.1f64.ln();
        let i = between_runs(&runs, 150.0);
        let (lo, hi) = i.pct.unwrap();
        let d = 1.5f64.ln();
        assert!((lo - ((d - half).exp() - 1.0) * 100.0).abs() < 1e-9, "{lo}");
        assert!((hi - ((d + half).exp() - 1.0) * 100.0).abs() < 1e-9, "{hi}");
        assert_eq!(i.side(), None, "+50% is within what three such runs allow");
        let tight = [100.0, 101.0, 99.0, 100.5, 99.5];
        assert_eq!(between_runs(&tight, 130.0).side(), Some(true));
        // A zero median: the plain scale.
        let i = between_runs(&[0.0, 0.0, 0.0], 2.0);
        assert_eq!((i.pct, i.abs, i.side()), (None, (2.0, 2.0), Some(true)));
    }

    #[test]
    fn paired_blocks_by_hand() {
        use std::collections::BTreeMap;
        // Blocks whose level swings by 2× while the current side stays 10% above the baseline:
        // the swing cancels in each block's ratio.
        let base: BTreeMap<u32, f64> = [(0, 100.0), (1, 200.0), (2, 100.0), (3, 150.0)].into();
        let cur: BTreeMap<u32, f64> = [(0, 110.0), (1, 220.0), (2, 112.0), (3, 163.5)].into();
        let i = paired_blocks(&base, &cur, 125.0).unwrap();
        assert_eq!(i.method, Method::PairedBlocks);
        // r = ln 1.1, ln 1.1, ln 1.12, ln 1.09; mean ± t(3)·s/2.
        let r = [1.1f64.ln(), 1.1f64.ln(), 1.12f64.ln(), 1.09f64.ln()];
        let (m, v) = mean_variance(&r);
        let half = 3.182 * v.sqrt() / 2.0;
        let (lo, hi) = i.pct.unwrap();
        assert!((lo - ((m - half).exp() - 1.0) * 100.0).abs() < 1e-9);
        assert!((hi - ((m + half).exp() - 1.0) * 100.0).abs() < 1e-9);
        assert!(lo > 5.0 && hi < 15.0, "[{lo}, {hi}]");
        assert!(
            (i.ratio.unwrap() - m.exp()).abs() < 1e-12,
            "the geometric mean ratio"
        );
        assert_eq!(i.side(), Some(true));
        // Unpaired, the same values show nothing: the swing swamps the 10%.
        let flat = |m: &BTreeMap<u32, f64>| m.values().copied().collect::<Vec<_>>();
        assert_eq!(welch(&flat(&base), &flat(&cur)).side(), None);
        // Blocks only one side measured do not count; fewer than three in common: none.
        let two: BTreeMap<u32, f64> = [(0, 110.0), (1, 220.0), (9, 1.0)].into();
        assert!(paired_blocks(&base, &two, 125.0).is_none());
        // Zero medians (an error count): differences instead of ratios.
        let zeros: BTreeMap<u32, f64> = [(0, 0.0), (1, 0.0), (2, 0.0)].into();
        let i = paired_blocks(&zeros, &zeros, 0.0).unwrap();
        assert_eq!((i.abs, i.pct, i.side()), ((0.0, 0.0), None, None));
        assert_eq!(
            block_medians(&[1.0, 5.0, 3.0, 7.0], &[0, 0, 0, 1]),
            [(0, 3.0), (1, 7.0)].into()
        );
    }

    #[test]
    fn signed_rank_by_hand() {
        // n = 10: the exact null distribution gives P(T ≤ 8) = 0.0244 ≤ 2.5% < P(T ≤ 9), so the
        // interval runs from the 9th to the 47th of the 55 Walsh averages (computed by hand).
        let v = [0.12, -0.05, 0.30, 0.08, 0.02, 0.15, -0.10, 0.07, 0.11, 0.04];
        let (centre, lo, hi) = signed_rank(&v).unwrap();
        assert!((centre - 0.075).abs() < 1e-12, "{centre}");
        assert!((lo - -0.005).abs() < 1e-12, "{lo}");
        assert!((hi - 0.15).abs() < 1e-12, "{hi}");
        // n = 6 is the least with an interval (the whole range, 96.9%); n = 5 has none.
        assert_eq!(
            signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            Some((3.5, 1.0, 6.0))
        );
        assert_eq!(signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
    }

    #[test]
    fn one_wild_block_does_not_blind_the_paired_interval() {
        use std::collections::BTreeMap;
        // Twenty blocks with the current side 20% slower, ±3%; one block met a compile on the
        // baseline side only (its ratio 0.4). The t interval over the blocks widens to take in
        // no change; the ranks still show the 20%.
        let base: BTreeMap<u32, f64> = (0..20).map(|b| (b, 100.0)).collect();
        let cur: BTreeMap<u32, f64> = (0..20)
            .map(|b| {
                (
                    b,
                    if b == 7 {
                        40.0
                    } else {
                        120.0 + [-3.0, 0.0, 3.0][b as usize % 3]
                    },
                )
            })
            .collect();
        let i = paired_blocks(&base, &cur, 100.0).unwrap();
        assert_eq!(i.method, Method::PairedRanks);
        let (lo, hi) = i.pct.unwrap();
        assert!(lo > 15.0 && hi < 22.0, "[{lo}, {hi}]");
        assert!((i.ratio.unwrap() - 1.2).abs() < 0.02, "{:?}", i.ratio);
        let logs: Vec<f64> = (0..20).map(|b| (cur[&b] / base[&b]).ln()).collect();
        let (m, v) = mean_variance(&logs);
        let half = t_975(19) * (v / 20.0).sqrt();
        assert!(
            (m - half).exp() < 1.1,
            "the t interval would reach below +10%"
        );
    }

    #[test]
    fn method_by_sample_size() {
        let five = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            interval(&five, &five, 200, 0).unwrap().method,
            Method::BootstrapMedianRatio
        );
        assert_eq!(
            interval(&five, &five[..4], 200, 0).unwrap().method,
            Method::WelchMeans
        );
        assert_eq!(interval(&five, &five[..1], 200, 0), None);
        assert_ne!(fnv1a("a"), fnv1a("b"));
    }

    #[test]
    fn big_groups_get_fewer_resamples() {
        assert_eq!(resample_budget(10_000, 20), 10_000);
        assert_eq!(resample_budget(10_000, 8_000), 5_000);
        assert_eq!(resample_budget(10_000, 1_000_000), MIN_RESAMPLES);
        assert_eq!(resample_budget(500, 1_000_000), 500);
    }
}
