//! `summary.csv`: per group of records, how many succeeded and failed and their statistics.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::record::{GroupKey, Record};
use crate::stats::Stats;

/// One row of `summary.csv`. Statistics are empty (not zero) when no measurement succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub experiment: String,
    pub backend: String,
    #[serde(default)]
    pub engine: String,
    pub variant: String,
    pub config: String,
    pub workload: String,
    pub device: String,
    pub concurrency: u32,
    pub phase: String,
    pub metric: String,
    pub unit: String,
    /// Successful measurements.
    pub n: usize,
    /// Failed measurements (rows with `ok = false`).
    pub failed: usize,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub stddev: Option<f64>,
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
}

impl SummaryRow {
    pub fn key(&self) -> GroupKey {
        GroupKey {
            experiment: self.experiment.clone(),
            backend: self.backend.clone(),
            engine: self.engine.clone(),
            variant: self.variant.clone(),
            config: self.config.clone(),
            workload: self.workload.clone(),
            device: self.device.clone(),
            concurrency: self.concurrency,
            phase: self.phase.clone(),
            metric: self.metric.clone(),
            unit: self.unit.clone(),
        }
    }

    fn new(key: GroupKey, stats: Option<Stats>, failed: usize) -> Self {
        let f = |g: fn(&Stats) -> f64| stats.as_ref().map(g);
        SummaryRow {
            experiment: key.experiment,
            backend: key.backend,
            engine: key.engine,
            variant: key.variant,
            config: key.config,
            workload: key.workload,
            device: key.device,
            concurrency: key.concurrency,
            phase: key.phase,
            metric: key.metric,
            unit: key.unit,
            n: stats.as_ref().map_or(0, |s| s.n),
            failed,
            mean: f(|s| s.mean),
            median: f(|s| s.median),
            p90: f(|s| s.p90),
            p99: f(|s| s.p99),
            min: f(|s| s.min),
            max: f(|s| s.max),
            stddev: f(|s| s.stddev),
            ci95_low: f(|s| s.ci95_low),
            ci95_high: f(|s| s.ci95_high),
        }
    }
}

/// Groups records by [`GroupKey`] (sorted) and summarises each group's successful values.
pub fn summarise(records: &[Record]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<GroupKey, (Vec<f64>, usize)> = BTreeMap::new();
    for r in records {
        let g = groups.entry(r.key()).or_default();
        if r.ok {
            g.0.push(r.value);
        } else {
            g.1 += 1;
        }
    }
    groups
        .into_iter()
        .map(|(key, (values, failed))| SummaryRow::new(key, Stats::of(&values), failed))
        .collect()
}

/// Writes `summary.csv` (write-then-rename, so a reader never sees half a file).
pub fn write_summary(path: &Path, rows: &[SummaryRow]) -> Result<()> {
    let tmp = path.with_extension("csv.tmp");
    {
        let mut w = csv::Writer::from_path(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        for r in rows {
            w.serialize(r)?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

pub fn read_summary(path: &Path) -> Result<Vec<SummaryRow>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(i, r)| {
            let mut row: SummaryRow =
                r.with_context(|| format!("{}: bad row {}", path.display(), i + 2))?;
            if row.engine.is_empty() && row.backend == crate::Backend::Wasm {
                row.engine = crate::Engine::REFERENCE.as_str().to_string();
            }
            Ok(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(variant: &str, value: f64, ok: bool) -> Record {
        Record {
            run_id: "r".into(),
            experiment: "cold-start".into(),
            backend: "docker".into(),
            engine: String::new(),
            variant: variant.into(),
            config: "default".into(),
            workload: "noop".into(),
            device: "host".into(),
            concurrency: 1,
            iteration: 0,
            block: 0,
            phase: "cold_start".into(),
            metric: "latency".into(),
            value,
            unit: "us".into(),
            ok,
            note: String::new(),
        }
    }

    #[test]
    fn groups_and_counts_failures_and_keeps_absent_absent() {
        let rows = summarise(&[
            rec("create-start", 10.0, true),
            rec("create-start", 30.0, true),
            rec("create-start", 0.0, false),
            rec("prestarted", 0.0, false),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].n, rows[0].failed), (2, 1));
        assert_eq!(rows[0].median, Some(20.0));
        assert_eq!(rows[1].variant, "prestarted");
        assert_eq!((rows[1].n, rows[1].failed, rows[1].median), (0, 1, None));

        let dir = std::env::temp_dir().join(format!("wowsum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("summary.csv");
        write_summary(&path, &rows).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // The absent statistics are empty fields, not zeros.
        assert!(
            text.lines().nth(2).unwrap().ends_with(",0,1,,,,,,,,,"),
            "{text}"
        );
        assert_eq!(read_summary(&path).unwrap(), rows);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
