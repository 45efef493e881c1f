//! The report's view of one or more run folders: `summary.csv`, `records.csv`, `meta.json` and
//! the histogram files, read through `wow-records`. Everything is keyed by `device`, so that run
//! folders of different devices (e.g. `host` and `pi3`) can be merged into one report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use wow_records::vocab::ModuleBuild;
use wow_records::{
    Backend, Engine, Experiment, GroupKey, Meta, Metric, Record, RunDir, Series, SummaryRow,
};

/// One run folder that contributed to a [`Dataset`].
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// The devices its records name.
    pub devices: BTreeSet<String>,
    pub meta: Option<Meta>,
    /// Why `meta` is absent.
    pub meta_error: Option<String>,
    /// `histograms/*.hlog`, sorted by file name.
    pub histograms: Vec<PathBuf>,
    /// Whether `summary.csv` was present (otherwise it was derived from `records.csv`).
    pub summary_file: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub sources: Vec<Source>,
    /// Sorted by group key.
    pub summary: Vec<SummaryRow>,
    pub records: Vec<Record>,
}

impl Dataset {
    /// The headline values of `device`, each with its 95% interval where it can have one.
    pub fn headlines(&self, device: &str) -> Vec<crate::Headline> {
        crate::interval::with_intervals(
            crate::headlines(&self.summary, device),
            &self.summary,
            &self.records,
            device,
        )
    }

    /// Reads one run folder.
    pub fn load(run_dir: &Path) -> Result<Dataset> {
        let dir = RunDir::open(run_dir)?;
        let records = dir.records()?;
        let summary_file = dir.summary_path().is_file();
        let mut summary = dir.summary()?;
        summary.sort_by_key(|r| r.key());
        let (meta, meta_error) = match dir.meta() {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        let mut histograms: Vec<PathBuf> = std::fs::read_dir(dir.histograms_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "hlog"))
                    .collect()
            })
            .unwrap_or_default();
        histograms.sort();
        let mut devices: BTreeSet<String> = records.iter().map(|r| r.device.clone()).collect();
        devices.extend(summary.iter().map(|r| r.device.clone()));
        if devices.is_empty()
            && let Some(name) = meta.as_ref().and_then(meta_device_name)
        {
            devices.insert(name);
        }
        Ok(Dataset {
            sources: vec![Source {
                path: run_dir.to_path_buf(),
                devices,
                meta,
                meta_error,
                histograms,
                summary_file,
            }],
            summary,
            records,
        })
    }

    /// Adds another run folder's data: another device's run (e.g. `pi3` beside `host`). Two
    /// folders measuring the same device are refused, since their groups would collide.
    pub fn merge(&mut self, other: Dataset) -> Result<()> {
        let mine: BTreeSet<&String> = self.sources.iter().flat_map(|s| &s.devices).collect();
        if let Some(d) = other
            .sources
            .iter()
            .flat_map(|s| &s.devices)
            .find(|d| mine.contains(d))
        {
            anyhow::bail!("both run folders measured device {d}; merge runs of different devices");
        }
        self.sources.extend(other.sources);
        self.summary.extend(other.summary);
        self.summary.sort_by_key(|r| r.key());
        self.records.extend(other.records);
        Ok(())
    }

    /// The devices present, `host` first, then by name.
    pub fn devices(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = BTreeSet::new();
        for s in &self.sources {
            all.extend(s.devices.iter().cloned());
        }
        let mut v: Vec<String> = all.into_iter().collect();
        v.sort_by_key(|d| (d != "host", d.clone()));
        v
    }

    /// The run folder that measured `device` (the first, when several did).
    pub fn source_for(&self, device: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.devices.contains(device))
    }

    pub fn meta_for(&self, device: &str) -> Option<&Meta> {
        self.source_for(device).and_then(|s| s.meta.as_ref())
    }

    /// Summary rows of one device and experiment.
    pub fn rows<'a>(
        &'a self,
        device: &'a str,
        experiment: Experiment,
    ) -> impl Iterator<Item = &'a SummaryRow> + 'a {
        self.summary
            .iter()
            .filter(move |r| r.device == device && r.experiment == experiment)
    }

    /// Records of one device and experiment.
    pub fn records_of<'a>(
        &'a self,
        device: &'a str,
        experiment: Experiment,
    ) -> impl Iterator<Item = &'a Record> + 'a {
        self.records
            .iter()
            .filter(move |r| r.device == device && r.experiment == experiment)
    }

    /// This experiment's configuration from the run's suite (`meta.config.suite.experiment[]`).
    pub fn experiment_config(
        &self,
        device: &str,
        experiment: Experiment,
    ) -> Option<&serde_json::Value> {
        let meta = self.meta_for(device)?;
        meta.config
            .get("suite")?
            .get("experiment")?
            .as_array()?
            .iter()
            .find(|e| e.get("kind").and_then(|k| k.as_str()) == Some(experiment.as_str()))
    }
}

/// The device profile's name recorded in `meta.json`.
pub fn meta_device_name(meta: &Meta) -> Option<String> {
    meta.device
        .pointer("/profile/name")
        .or_else(|| meta.device.get("name"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// A measured series: what a line, a bar group or a table block shows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub backend: String,
    /// The Wasm engine of a Wasm series; empty for the others.
    pub engine: String,
    pub variant: String,
    pub config: String,
    pub workload: String,
}

impl SeriesKey {
    pub fn of(r: &SummaryRow) -> SeriesKey {
        SeriesKey {
            backend: r.backend.clone(),
            engine: r.engine.clone(),
            variant: r.variant.clone(),
            config: r.config.clone(),
            workload: r.workload.clone(),
        }
    }

    pub fn of_record(r: &Record) -> SeriesKey {
        SeriesKey {
            backend: r.backend.clone(),
            engine: r.engine.clone(),
            variant: r.variant.clone(),
            config: r.config.clone(),
            workload: r.workload.clone(),
        }
    }

    /// `wasm precompiled` (`wasmer precompiled` when engines differ among the series shown
    /// together), plus config and workload when `vary` says they differ.
    pub fn label(&self, vary: Vary) -> String {
        let side = if vary.engine && !self.engine.is_empty() {
            &self.engine
        } else {
            &self.backend
        };
        let mut s = format!("{side} {}", self.variant);
        if vary.workload {
            s.push_str(&format!(", {}", self.workload));
        }
        if vary.config {
            s.push_str(&format!(", {} config", self.config));
        }
        s
    }

    /// Presentation order: Wasm before Docker, each in the vocabulary's order.
    pub fn order(&self) -> (usize, usize, usize, String, String, String) {
        (
            backend_rank(&self.backend),
            variant_rank(&self.variant),
            engine_rank(&self.engine),
            self.variant.clone(),
            self.workload.clone(),
            self.config.clone(),
        )
    }
}

/// Which identifying columns differ among a set of series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vary {
    pub config: bool,
    pub workload: bool,
    pub engine: bool,
}

impl Vary {
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a SeriesKey>) -> Vary {
        let keys: Vec<&SeriesKey> = keys.into_iter().collect();
        let distinct = |f: fn(&SeriesKey) -> &str| {
            keys.iter().map(|k| f(k)).collect::<BTreeSet<_>>().len() > 1
        };
        Vary {
            config: distinct(|k| &k.config),
            workload: distinct(|k| &k.workload),
            // Only Wasm series have an engine: Docker's empty one does not count.
            engine: keys
                .iter()
                .filter(|k| !k.engine.is_empty())
                .map(|k| k.engine.as_str())
                .collect::<BTreeSet<_>>()
                .len()
                > 1,
        }
    }
}

/// Presentation order of engines: the vocabulary's (the reference first), then none.
pub fn engine_rank(e: &str) -> usize {
    Engine::ALL
        .iter()
        .position(|o| e == o)
        .unwrap_or(Engine::ALL.len())
}

/// Presentation order of backends: Wasm, Docker, the load generator, anything else.
pub fn backend_rank(b: &str) -> usize {
    const ORDER: [Backend; 3] = [Backend::Wasm, Backend::Docker, Backend::Client];
    ORDER.iter().position(|o| b == o).unwrap_or(ORDER.len())
}

/// Presentation order of series: Wasm's (the module builds after the others), then Docker's.
pub fn variant_rank(v: &str) -> usize {
    const WASM: [Series; 5] = [
        Series::Precompiled,
        Series::Compile,
        Series::Distinct,
        Series::Shared,
        Series::InProcess,
    ];
    const DOCKER: [Series; 6] = [
        Series::CreateStart,
        Series::Prestarted,
        Series::HostNet,
        Series::Actionloop,
        Series::Skeleton,
        Series::DockerWasm,
    ];
    let builds = ModuleBuild::ALL.len();
    if let Some(i) = WASM.iter().position(|s| v == s) {
        i
    } else if let Some(b) = ModuleBuild::of_series(v) {
        WASM.len()
            + ModuleBuild::ALL
                .iter()
                .position(|x| *x == b)
                .unwrap_or(builds)
    } else if let Some(i) = DOCKER.iter().position(|s| v == s) {
        WASM.len() + builds + i
    } else {
        WASM.len() + builds + DOCKER.len()
    }
}

/// The distinct `values` in the order of `order` (`is` says whether an entry stands for a
/// value); values it does not list come last, by name.
pub fn in_order<T>(
    values: impl IntoIterator<Item = String>,
    order: &[T],
    is: impl Fn(&T, &str) -> bool,
) -> Vec<String> {
    let mut v: Vec<String> = values
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    v.sort_by_key(|s| {
        (
            order.iter().position(|o| is(o, s)).unwrap_or(order.len()),
            s.clone(),
        )
    });
    v
}

/// Summary rows grouped by series, in presentation order; within a series, by concurrency.
pub fn by_series<'a>(
    rows: impl IntoIterator<Item = &'a SummaryRow>,
) -> Vec<(SeriesKey, Vec<&'a SummaryRow>)> {
    let mut m: BTreeMap<SeriesKey, Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        m.entry(SeriesKey::of(r)).or_default().push(r);
    }
    let mut v: Vec<(SeriesKey, Vec<&SummaryRow>)> = m.into_iter().collect();
    for (_, rows) in &mut v {
        rows.sort_by_key(|r| (r.concurrency, r.phase.clone(), r.metric.clone()));
    }
    v.sort_by_key(|(k, _)| k.order());
    v
}

/// Whether a summary row holds at least one successful measurement.
pub fn measured(r: &SummaryRow) -> bool {
    r.n > 0 && r.median.is_some()
}

/// The load levels (summary groups) whose window hit its ceiling before it was steady, in any
/// repetition: read from their `steady` rows (1 = steady). A run that did not judge a level
/// (open loop, or from before windows adapted) has no such row, and the level is not in it.
pub struct Unsteady(BTreeSet<GroupKey>);

impl Unsteady {
    pub fn of(all: &[SummaryRow]) -> Unsteady {
        Unsteady(
            all.iter()
                .filter(|s| s.metric == Metric::Steady)
                .filter(|s| !(s.n > 0 && s.failed == 0 && s.min.is_some_and(|m| m >= 1.0)))
                .map(|s| s.key())
                .collect(),
        )
    }

    /// Whether `r`'s level (any metric of it) is one of them.
    pub fn contains(&self, r: &SummaryRow) -> bool {
        !self.0.is_empty()
            && self.0.contains(&GroupKey {
                metric: Metric::Steady.as_str().to_string(),
                unit: Metric::Steady.unit().as_str().to_string(),
                ..r.key()
            })
    }
}
