//! Chart axes: ranges and ticks in data units, chosen from the values a panel shows (1-2-5
//! log decades, round linear steps, or exactly the measured levels). Log axes are drawn in log10
//! space with labels in data units; `Axis::coord` is the plotters coordinate of an axis.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::Ranged;

use crate::fmt;

/// A linear coordinate with explicit bold and light key points (plotters' own key-point
/// combinator has no default formatting, which its mesh requires).
#[derive(Debug, Clone)]
pub(crate) struct Ticked {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.0 + limit.1) / 2;
        }
        let r = (v - self.lo) / (self.hi - self.lo);
        let len = (limit.1 - limit.0) as f64;
        limit.0 + (len * r + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// How tick labels read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TickFmt {
    /// `0.5`, `2`, `150`.
    Plain,
    /// Microseconds in, `10 µs` / `1 ms` / `1 s` out.
    DurationUs,
    /// A fraction in, `50%` out.
    Percent,
}

impl TickFmt {
    fn label(self, v: f64) -> String {
        match self {
            TickFmt::Plain => fmt::tick(v),
            TickFmt::DurationUs => fmt::duration_tick_us(v),
            TickFmt::Percent => format!("{}%", fmt::tick(v * 100.0)),
        }
    }
}

/// One axis: its range and ticks in data units; log axes are drawn in log10 space.
#[derive(Debug, Clone)]
pub struct Axis {
    pub log: bool,
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub light: Vec<f64>,
    pub fmt: TickFmt,
    pub desc: String,
}

impl Axis {
    /// A data value in plot space (log10 on a log axis).
    pub(crate) fn p(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn plot_range(&self) -> Range<f64> {
        self.p(self.lo)..self.p(self.hi)
    }

    /// Clamps a data value into the axis (for bands and bars that start at the axis).
    pub(crate) fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.lo, self.hi)
    }

    pub(crate) fn tick_label(&self, plot_v: f64) -> String {
        let v = if self.log { 10f64.powf(plot_v) } else { plot_v };
        self.fmt.label(v)
    }

    /// A log axis around `values` (positive values only), bounded by 1-2-5 steps with some air,
    /// with 1-2-5 ticks over up to about two decades and one tick per decade beyond.
    pub fn log(values: impl IntoIterator<Item = f64>, fmt: TickFmt, desc: &str) -> Axis {
        let v: Vec<f64> = values
            .into_iter()
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        let (mn, mx) = min_max(&v).unwrap_or((1.0, 10.0));
        let lo = step125_below(mn / 1.15);
        let mut hi = step125_above(mx * 1.15);
        if hi <= lo {
            hi = step125_above(lo * 1.01);
        }
        let decades = (hi / lo).log10();
        let (lo_e, hi_e) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let inside = |x: f64| x >= lo * (1.0 - 1e-9) && x <= hi * (1.0 + 1e-9);
        let mut ticks = Vec::new();
        let mut light = Vec::new();
        let every = if decades > 8.5 { 2 } else { 1 };
        for e in lo_e..=hi_e {
            let base = 10f64.powi(e);
            if decades <= 1.2 {
                ticks.extend((1..=9).map(|m| base * m as f64).filter(|x| inside(*x)));
            } else if decades <= 2.5 {
                ticks.extend(
                    [1.0, 2.0, 5.0]
                        .map(|m| base * m)
                        .into_iter()
                        .filter(|x| inside(*x)),
                );
            } else if e % every == 0 && inside(base) {
                ticks.push(base);
            }
            light.extend((2..=9).map(|m| base * m as f64).filter(|x| inside(*x)));
        }
        Axis {
            log: true,
            lo,
            hi,
            ticks,
            light,
            fmt,
            desc: desc.to_string(),
        }
    }

    /// A linear axis from zero to a round number above `max`.
    pub fn zero_to(max: f64, fmt: TickFmt, desc: &str) -> Axis {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let step = nice_step(max * 1.08 / 6.0);
        let hi = (max * 1.08 / step).ceil() * step;
        let n = (hi / step).round() as usize;
        let ticks: Vec<f64> = (0..=n).map(|i| i as f64 * step).collect();
        let light: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) * step).collect();
        Axis {
            log: false,
            lo: 0.0,
            hi,
            ticks,
            light,
            fmt,
            desc: desc.to_string(),
        }
    }

    /// An axis whose ticks are exactly the measured levels (concurrency, clients, sandboxes):
    /// log-spaced when they span more than a factor of ten.
    pub fn levels(levels: &[u32], desc: &str) -> Axis {
        let mut l: Vec<f64> = levels.iter().map(|x| *x as f64).collect();
        l.sort_by(f64::total_cmp);
        l.dedup();
        let (mn, mx) = min_max(&l).unwrap_or((1.0, 2.0));
        let log = mn > 0.0 && mx / mn > 10.0;
        let ticks = thin(&l, if log { 14 } else { 12 }, log);
        if log {
            Axis {
                log: true,
                lo: mn / 1.35,
                hi: mx * 1.35,
                ticks,
                light: vec![],
                fmt: TickFmt::Plain,
                desc: desc.to_string(),
            }
        } else {
            let pad = ((mx - mn) * 0.06).max(0.5);
            Axis {
                log: false,
                lo: (mn - pad).max(if mn >= 0.0 { mn - pad } else { mn }),
                hi: mx + pad,
                ticks,
                light: vec![],
                fmt: TickFmt::Plain,
                desc: desc.to_string(),
            }
        }
    }

    /// 0 to 1 in tenths (an ECDF's y).
    pub fn unit(desc: &str) -> Axis {
        Axis {
            log: false,
            lo: 0.0,
            hi: 1.0,
            ticks: (0..=10).map(|i| i as f64 / 10.0).collect(),
            light: (0..10).map(|i| i as f64 / 10.0 + 0.05).collect(),
            fmt: TickFmt::Percent,
            desc: desc.to_string(),
        }
    }

    /// The plotters coordinate of this axis, in plot space, with its ticks.
    pub(crate) fn coord(&self) -> Ticked {
        let r = self.plot_range();
        Ticked {
            lo: r.start,
            hi: r.end,
            bold: self.bold_plot(),
            light: self.light_plot(),
        }
    }

    /// Categories 0..n (bars); labels come from the panel.
    pub(crate) fn categories(n: usize) -> Axis {
        Axis {
            log: false,
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: (0..n).map(|i| i as f64).collect(),
            light: vec![],
            fmt: TickFmt::Plain,
            desc: String::new(),
        }
    }

    pub(crate) fn bold_plot(&self) -> Vec<f64> {
        self.ticks
            .iter()
            .filter(|t| **t >= self.lo * (1.0 - 1e-9) && **t <= self.hi * (1.0 + 1e-9))
            .map(|t| self.p(*t))
            .collect()
    }

    fn light_plot(&self) -> Vec<f64> {
        self.light
            .iter()
            .filter(|t| **t >= self.lo && **t <= self.hi)
            .map(|t| self.p(*t))
            .collect()
    }
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let mn = v.iter().copied().fold(f64::INFINITY, f64::min);
    let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mn.is_finite() && mx.is_finite()).then_some((mn, mx))
}

/// The largest 1, 2 or 5 × 10^k not above `x`.
fn step125_below(x: f64) -> f64 {
    let base = 10f64.powf(x.log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|m| base * m)
        .find(|v| *v <= x * (1.0 + 1e-9))
        .unwrap_or(base)
}

/// The smallest 1, 2 or 5 × 10^k not below `x`.
fn step125_above(x: f64) -> f64 {
    let base = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| base * m)
        .find(|v| *v >= x * (1.0 - 1e-9))
        .unwrap_or(base * 10.0)
}

/// 1, 2, 2.5 or 5 × 10^k, the smallest not below `raw`.
fn nice_step(raw: f64) -> f64 {
    let e = raw.log10().floor();
    let base = 10f64.powf(e);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if base * m >= raw * (1.0 - 1e-9) {
            return base * m;
        }
    }
    base * 10.0
}

/// At most `max` of `levels`, always keeping the first and the last.
fn thin(levels: &[f64], max: usize, _log: bool) -> Vec<f64> {
    if levels.len() <= max {
        return levels.to_vec();
    }
    let step = levels.len().div_ceil(max);
    let mut v: Vec<f64> = levels.iter().step_by(step).copied().collect();
    let last = *levels.last().expect("non-empty");
    if v.last() != Some(&last) {
        v.push(last);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_ticks() {
        let a = Axis::log([2106.0, 450_000.0], TickFmt::DurationUs, "");
        assert_eq!(a.lo, 1000.0);
        assert_eq!(a.hi, 1_000_000.0);
        assert_eq!(a.ticks, vec![1e3, 1e4, 1e5, 1e6]);
        let b = Axis::log([3.0, 40.0], TickFmt::Plain, "");
        assert_eq!((b.lo, b.hi), (2.0, 50.0));
        assert_eq!(b.ticks, vec![2.0, 5.0, 10.0, 20.0, 50.0]);
        let c = Axis::log([100.0], TickFmt::Plain, "");
        assert_eq!((c.lo, c.hi), (50.0, 200.0));
    }

    #[test]
    fn linear_axis_ticks() {
        let a = Axis::zero_to(27.0, TickFmt::Plain, "");
        assert_eq!(a.ticks.first(), Some(&0.0));
        assert!(a.hi >= 27.0 && a.ticks.len() <= 8, "{:?}", a.ticks);
    }
}
