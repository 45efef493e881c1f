//! Descriptive statistics of a group: the numbers `summary.csv` and the report quote.
//!
//! Percentiles interpolate linearly between closest ranks (numpy's default, R's type 7); the 95%
//! confidence interval is that of the mean, from Student's t.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (n − 1); 0 for a single value.
    pub stddev: f64,
    /// 95% confidence interval of the mean; equal to the mean when n = 1 (no spread known).
    pub ci95_low: f64,
    pub ci95_high: f64,
}

impl Stats {
    /// Statistics of `values`; `None` for an empty slice (absent, never zero). NaNs are ignored.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let n = v.len();
        let (mean, variance) = mean_variance(&v);
        let stddev = if n > 1 { variance.sqrt() } else { 0.0 };
        let half = if n > 1 {
            t_975(n - 1) * stddev / (n as f64).sqrt()
        } else {
            0.0
        };
        Some(Stats {
            n,
            mean,
            median: percentile_sorted(&v, 0.5),
            p90: percentile_sorted(&v, 0.9),
            p99: percentile_sorted(&v, 0.99),
            min: v[0],
            max: v[n - 1],
            stddev,
            ci95_low: mean - half,
            ci95_high: mean + half,
        })
    }
}

/// The `p`-quantile (0..=1) of sorted values, linear interpolation between closest ranks.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of nothing");
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median of unsorted values (`None` when empty).
pub fn median(values: &[f64]) -> Option<f64> {
    Stats::of(values).map(|s| s.median)
}

/// Mean and sample variance (divided by n − 1) of `values`; the variance needs two values (it
/// is NaN for one).
pub fn mean_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

/// The median (type 7: the mean of the two middle values for an even count) without sorting or
/// allocating: a selection that reorders `v`. For hot loops such as a bootstrap; panics on an
/// empty slice.
pub fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    assert!(n > 0, "median of nothing");
    let (left, upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// SplitMix64: small, fast and the same on every platform.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift on the high 32 bits; n < 2³²).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// Median of a resample (with replacement) of `src`, drawn into `buf`: one step of a bootstrap
/// of the median.
pub fn resampled_median(src: &[f64], buf: &mut Vec<f64>, rng: &mut SplitMix64) -> f64 {
    buf.clear();
    buf.extend((0..src.len()).map(|_| src[rng.below(src.len())]));
    median_in_place(buf)
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95% interval).
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            // Cornish-Fisher expansion around the normal quantile; < 0.001 off for df > 30.
            let z: f64 = 1.959_964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn hand_computed_values() {
        // values 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7.
        let s = Stats::of(&[9.0, 4.0, 2.0, 4.0, 5.0, 4.0, 7.0, 5.0]).unwrap();
        assert_eq!(s.n, 8);
        assert!(close(s.mean, 5.0));
        assert!(close(s.median, 4.5));
        assert!(close(s.min, 2.0) && close(s.max, 9.0));
        assert!(close(s.stddev, (32.0f64 / 7.0).sqrt()));
        // p90: h = 7 × 0.9 = 6.3 → 7 + 0.3 × (9 − 7) = 7.6
        assert!(close(s.p90, 7.6), "{}", s.p90);
        // p99: h = 6.93 → 7 + 0.93 × 2 = 8.86
        assert!(close(s.p99, 8.86), "{}", s.p99);
        // CI half-width: t(7) = 2.365 × sqrt(32/7) / sqrt(8)
        let half = 2.365 * (32.0f64 / 7.0).sqrt() / 8f64.sqrt();
        assert!(close(s.ci95_low, 5.0 - half) && close(s.ci95_high, 5.0 + half));
    }

    #[test]
    fn single_and_empty() {
        assert_eq!(Stats::of(&[]), None);
        assert_eq!(Stats::of(&[f64::NAN]), None);
        let s = Stats::of(&[3.0]).unwrap();
        assert_eq!(
            (s.median, s.p99, s.ci95_low, s.ci95_high),
            (3.0, 3.0, 3.0, 3.0)
        );
    }

    #[test]
    fn mean_variance_and_median_in_place() {
        let (mean, variance) = mean_variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!(close(mean, 5.0) && close(variance, 32.0 / 7.0));
        assert!(mean_variance(&[3.0]).1.is_nan());
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut [7.0]), 7.0);
        let v = [9.0, 4.0, 2.0, 4.0, 5.0, 4.0, 7.0, 5.0];
        assert_eq!(median_in_place(&mut v.clone()), median(&v).unwrap());
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(30), 2.042);
        assert!((t_975(60) - 2.000).abs() < 0.002);
        assert!((t_975(1000) - 1.962).abs() < 0.002);
    }
}
