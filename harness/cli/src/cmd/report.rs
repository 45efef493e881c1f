//! `wowbench report <run-dir>`: charts (PNG and SVG), `report.md` and `index.html` in
//! `<run-dir>/report/`, from the run folder's records, summary, metadata and histograms.

use std::path::{Path, PathBuf};

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run folder (e.g. results/<run-id>) holding records.csv, summary.csv and meta.json
    pub run_dir: PathBuf,
}

/// Writes `<run-dir>/report/` and prints the path of its `report.md`.
pub fn run(args: ReportArgs) -> Result<()> {
    let summary = wow_report::generate(&args.run_dir)?;
    print_headlines(&args.run_dir);
    println!("{}", summary.report_md.display());
    Ok(())
}

/// Writes `<run-dir>/report/` (called at the end of `wowbench run`).
pub fn write(run_dir: &Path) -> Result<()> {
    wow_report::generate(run_dir).map(|_| ())
}

/// A short table on stderr: this run's headline values beside the paper's. Prints nothing when
/// the run folder cannot be read or has no headline value; never panics.
pub fn print_headlines(run_dir: &Path) {
    let Ok(headlines) = wow_report::run_headlines(run_dir) else {
        return;
    };
    let measured: Vec<&wow_report::Headline> =
        headlines.iter().filter(|h| h.value.is_some()).collect();
    if measured.is_empty() {
        return;
    }
    let devices: std::collections::BTreeSet<&str> =
        measured.iter().map(|h| h.device.as_str()).collect();
    let paper = wow_report::paper::paper();
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110);
    let mut header = vec!["claim", "this run", "paper"];
    if devices.len() > 1 {
        header.insert(0, "device");
    }
    table.set_header(header);
    for h in measured {
        let theirs = paper
            .claim(&h.paper_id)
            .map_or_else(|| "—".to_string(), |c| c.value.clone());
        let mut row = vec![h.short.clone(), h.display_with_interval(), theirs];
        if devices.len() > 1 {
            row.insert(0, h.device.clone());
        }
        table.add_row(row);
    }
    eprintln!(
        "Headlines (medians, [95% bootstrap interval] where every group has n ≥ 3; definitions \
         and setups in report/report.md):\n{table}"
    );
}
