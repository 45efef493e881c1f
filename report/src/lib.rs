//! wowbench's report: charts (PNG and SVG, drawn with plotters and an embedded font), a
//! Markdown report and an HTML page, from a run folder's `records.csv`, `summary.csv`,
//! `meta.json` and `histograms/`.
//!
//! ```no_run
//! let summary = wow_report::generate(std::path::Path::new("results/20261126-160054-paper"))?;
//! println!("{}", summary.report_md.display());
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Missing data is shown as missing: a chart whose data is absent is not drawn and its section
//! says the experiment was not run; a value that was not measured reads "—", never zero.
//!
//! Where things are:
//!
//! - [`data`] reads the run folders; [`levels`] chooses the levels a chart, table or headline
//!   shows; [`fmt`] formats numbers.
//! - [`experiments`]: one module per experiment, selecting its rows once and rendering its
//!   charts and tables from them. A new chart or table of an experiment goes there.
//! - [`charts`]: what charts share; [`charts::figure`] is the model the experiments build,
//!   [`charts::axis`] its axes, [`charts::draw`] the plotters code (one module per panel kind).
//! - [`headline`]: this run's values for the paper's claims, [`interval`] their 95% intervals;
//!   [`paper`]: the paper's values from
//!   `paper.toml`; [`paper_table`] puts them side by side.
//! - [`markdown`] writes the report's frame around the [`fingerprint`], the paper table and the
//!   experiments, with [`table`]; [`html`] turns it into `index.html`.

pub mod charts;
pub mod data;
pub mod device;
pub mod experiments;
pub mod fingerprint;
pub mod fmt;
pub mod headline;
pub mod html;
pub mod interval;
pub mod levels;
pub mod markdown;
pub mod paper;
pub mod paper_table;
pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub use data::Dataset;
pub use headline::{Headline, headlines};

/// One chart written, in both formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    pub id: String,
    pub experiment: String,
    pub device: String,
    pub png: PathBuf,
    pub svg: PathBuf,
}

/// Whether an experiment has data for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentStatus {
    pub experiment: String,
    pub device: String,
    /// At least one successful measurement.
    pub measured: bool,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    /// `<run-dir>/report/`.
    pub dir: PathBuf,
    pub report_md: PathBuf,
    pub index_html: PathBuf,
    pub charts: Vec<ChartFile>,
    pub experiments: Vec<ExperimentStatus>,
    /// Per device, in the report's order.
    pub headlines: Vec<Headline>,
}

/// Writes `<run_dir>/report/`: `report.md`, `index.html` and `charts/*.{png,svg}`.
pub fn generate(run_dir: &Path) -> Result<ReportSummary> {
    let ds = Dataset::load(run_dir)?;
    write_report(&ds, &run_dir.join("report"))
}

/// Writes one report over several run folders of different devices (e.g. a `host` run and a
/// `pi3` run) into `out`.
pub fn generate_merged(run_dirs: &[&Path], out: &Path) -> Result<ReportSummary> {
    let mut iter = run_dirs.iter();
    let first = iter
        .next()
        .ok_or_else(|| anyhow::anyhow!("no run folder given"))?;
    let mut ds = Dataset::load(first)?;
    for d in iter {
        ds.merge(Dataset::load(d)?)?;
    }
    write_report(&ds, out)
}

/// Writes the report of `ds` (one run folder, or several merged) into `out`.
pub fn write_report(ds: &Dataset, out: &Path) -> Result<ReportSummary> {
    let charts_dir = out.join("charts");
    if charts_dir.is_dir() {
        // Charts of an earlier report may describe data that is no longer there.
        std::fs::remove_dir_all(&charts_dir)
            .with_context(|| format!("cannot clear {}", charts_dir.display()))?;
    }
    std::fs::create_dir_all(&charts_dir)
        .with_context(|| format!("cannot create {}", charts_dir.display()))?;

    let devices = ds.devices();
    let mut sections: BTreeMap<String, Vec<experiments::Section>> = BTreeMap::new();
    let mut files = Vec::new();
    for d in &devices {
        let list = experiments::sections(ds, d);
        for c in list.iter().flat_map(|s| &s.charts) {
            let stem = c.stem(d);
            charts::draw::render(&c.figure, &charts_dir, &stem)?;
            files.push(ChartFile {
                id: c.id.to_string(),
                experiment: c.experiment.to_string(),
                device: d.clone(),
                png: charts_dir.join(format!("{stem}.png")),
                svg: charts_dir.join(format!("{stem}.svg")),
            });
        }
        sections.insert(d.clone(), list);
    }

    let headline_rows: BTreeMap<String, Vec<Headline>> = devices
        .iter()
        .map(|d| (d.clone(), ds.headlines(d)))
        .collect();
    let md = markdown::render(&markdown::Context {
        ds,
        sections: &sections,
        headlines: &headline_rows,
        images: markdown::ImageFormat::Png,
    });
    let report_md = out.join("report.md");
    std::fs::write(&report_md, &md)
        .with_context(|| format!("cannot write {}", report_md.display()))?;

    let md_svg = markdown::render(&markdown::Context {
        ds,
        sections: &sections,
        headlines: &headline_rows,
        images: markdown::ImageFormat::Svg,
    });
    let title = md
        .lines()
        .next()
        .unwrap_or("wowbench report")
        .trim_start_matches("# ");
    let index_html = out.join("index.html");
    std::fs::write(&index_html, html::page(title, &md_svg))
        .with_context(|| format!("cannot write {}", index_html.display()))?;

    let mut statuses = Vec::new();
    let mut all_headlines = Vec::new();
    for d in &devices {
        for about in &experiments::ALL {
            statuses.push(ExperimentStatus {
                experiment: about.experiment.to_string(),
                device: d.clone(),
                measured: ds.rows(d, about.experiment).any(data::measured),
            });
        }
    }
    all_headlines.extend(headline_rows.into_values().flatten());
    Ok(ReportSummary {
        dir: out.to_path_buf(),
        report_md,
        index_html,
        charts: files,
        experiments: statuses,
        headlines: all_headlines,
    })
}

/// The headline values of a run folder, per device (for a terminal summary).
pub fn run_headlines(run_dir: &Path) -> Result<Vec<Headline>> {
    let ds = Dataset::load(run_dir)?;
    Ok(ds.devices().iter().flat_map(|d| ds.headlines(d)).collect())
}

/// The headlines of `device` computed from records alone, with their intervals (for a run in
/// progress, which has no `summary.csv` yet).
pub fn headlines_of_records(records: &[wow_records::Record], device: &str) -> Vec<Headline> {
    let mut summary = wow_records::summary::summarise(records);
    summary.sort_by_key(|r| r.key());
    interval::with_intervals(headlines(&summary, device), &summary, records, device)
}
