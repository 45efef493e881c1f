//! The two files github-action-benchmark reads (`customSmallerIsBetter`,
//! `customBiggerIsBetter`): the current run's medians split by direction, each with its spread
//! and its change from the baseline.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use super::Exporter;
use super::cells::{change, interval};
use super::json::pretty;
use super::text::number;
use crate::model::{Comparison, Direction, Side};

/// Writes `smaller-is-better.json` and `bigger-is-better.json`.
pub struct GithubBenchmarkExporter;

impl Exporter for GithubBenchmarkExporter {
    fn export(&self, cmp: &Comparison) -> Result<Vec<(&'static str, String)>> {
        let (smaller, bigger) = entries(cmp);
        Ok(vec![
            ("smaller-is-better.json", pretty(&smaller)?),
            ("bigger-is-better.json", pretty(&bigger)?),
        ])
    }
}

/// One entry of github-action-benchmark's `customSmallerIsBetter` / `customBiggerIsBetter`
/// input.
#[derive(Debug, Clone, Serialize)]
pub struct BenchEntry {
    pub name: String,
    pub unit: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

/// The current run's medians split by direction: (smaller is better, bigger is better). Groups
/// with no successful current measurement or no better direction are left out.
pub fn entries(cmp: &Comparison) -> (Vec<BenchEntry>, Vec<BenchEntry>) {
    let (mut smaller, mut bigger) = (Vec::new(), Vec::new());
    for g in &cmp.groups {
        let Some(cur) = &g.current else { continue };
        let Some(median) = cur.median else { continue };
        let range = match (cur.n, cur.ci95_low, cur.ci95_high) {
            (2.., Some(lo), Some(hi)) => Some(format!("± {}", number((hi - lo) / 2.0))),
            _ => None,
        };
        let mut extra = format!("n={}", cur.n);
        if cur.failed > 0 {
            let _ = write!(extra, ", failed={}", cur.failed);
        }
        if g.baseline.is_some() {
            let _ = write!(
                extra,
                "; baseline median {}; change {} {}; {}",
                g.baseline_value
                    .map(number)
                    .unwrap_or_else(|| median_of(&g.baseline)),
                change(g),
                interval(g),
                g.verdict.label()
            );
        }
        let entry = BenchEntry {
            name: g.name.clone(),
            unit: g.key.unit.clone(),
            value: median,
            range,
            extra: Some(extra),
        };
        match g.direction {
            Direction::LowerIsBetter => smaller.push(entry),
            Direction::HigherIsBetter => bigger.push(entry),
            Direction::Unknown => {}
        }
    }
    (smaller, bigger)
}

fn median_of(s: &Option<Side>) -> String {
    s.as_ref()
        .and_then(|s| s.median)
        .map(number)
        .unwrap_or_else(|| "-".into())
}
