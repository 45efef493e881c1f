//! What a comparison needs besides the two sides: the threshold, the rule, the metric filter, the
//! noise floor and the bootstrap's budget and seed, with the defaults the command line shows.

use anyhow::{Result, bail};
use serde::Serialize;

/// Default smallest change of a median that counts, percent.
pub const THRESHOLD_PCT: f64 = 10.0;
/// Default noise floor of latency changes, microseconds.
pub const NOISE_FLOOR_US: f64 = 5.0;
/// Default bootstrap resamples per group.
pub const RESAMPLES: usize = 10_000;
/// Fewest bootstrap resamples a comparison accepts.
pub const MIN_REQUESTED_RESAMPLES: usize = 100;
/// Default seed of the bootstrap.
pub const SEED: u64 = 0x5EED;
/// The confidence of every interval.
pub const CONFIDENCE: f64 = 0.95;

/// What the interval must show for a change beyond the threshold to be a regression (or an
/// improvement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The whole interval lies beyond the threshold, on the side the median moved.
    Threshold,
    /// The interval excludes no change, on the side the median moved.
    Zero,
}

/// What a comparison needs besides the two runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub threshold_pct: f64,
    pub rule: Rule,
    /// Metric prefixes to compare (empty: every metric).
    pub metrics: Vec<String>,
    pub allow_mismatch: bool,
    pub noise_floor_us: f64,
    pub resamples: usize,
    pub seed: u64,
}

impl Options {
    /// Checks the numbers and tidies the metric filter (trimmed, empty ones dropped). Errors
    /// name the command line's options.
    pub fn validated(mut self) -> Result<Options> {
        if !(self.threshold_pct.is_finite() && self.threshold_pct >= 0.0) {
            bail!(
                "--threshold must be a percentage ≥ 0, not {}",
                self.threshold_pct
            );
        }
        if !(self.noise_floor_us.is_finite() && self.noise_floor_us >= 0.0) {
            bail!("--noise-floor-us must be ≥ 0, not {}", self.noise_floor_us);
        }
        if self.resamples < MIN_REQUESTED_RESAMPLES {
            bail!("--resamples must be at least {MIN_REQUESTED_RESAMPLES}");
        }
        self.metrics = self
            .metrics
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        Ok(self)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threshold_pct: THRESHOLD_PCT,
            rule: Rule::Threshold,
            metrics: Vec::new(),
            allow_mismatch: false,
            noise_floor_us: NOISE_FLOOR_US,
            resamples: RESAMPLES,
            seed: SEED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_refuses_bad_numbers_and_tidies_metrics() {
        let ok = Options {
            metrics: vec![" latency".into(), "".into(), "memory_ ".into()],
            ..Options::default()
        }
        .validated()
        .unwrap();
        assert_eq!(ok.metrics, ["latency", "memory_"]);
        for bad in [
            Options {
                threshold_pct: -1.0,
                ..Options::default()
            },
            Options {
                noise_floor_us: f64::NAN,
                ..Options::default()
            },
            Options {
                resamples: 99,
                ..Options::default()
            },
        ] {
            assert!(bad.validated().is_err());
        }
    }
}
