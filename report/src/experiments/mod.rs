//! One module per experiment. Each selects its rows from the dataset once and renders its charts
//! and its tables from those rows, so a chart and the table beside it show the same series at
//! the same levels. The report's frame (`crate::markdown`) writes each experiment's title,
//! intro, charts and tables in the order of [`ALL`].

mod capacity;
mod cold_start;
mod ladder;
mod memory;
mod realistic;
mod throughput;

use wow_records::Experiment;

use crate::charts::ChartSpec;
use crate::data::Dataset;

/// What the report says about an experiment whatever a run measured, and how it renders one.
pub struct About {
    pub experiment: Experiment,
    /// The section title.
    pub title: &'static str,
    /// The paragraph above its charts: what it measures and how.
    pub intro: &'static str,
    /// Selects the experiment's rows for a device and renders its charts and tables.
    pub section: fn(&Dataset, &str) -> Section,
}

/// An experiment's part of the report for one device.
#[derive(Debug, Clone)]
pub struct Section {
    pub experiment: Experiment,
    /// The charts with data, in the report's order.
    pub charts: Vec<ChartSpec>,
    /// Its tables in Markdown, written below the charts.
    pub tables: String,
}

impl Section {
    /// The section of `experiment`: its `tables`, and of its `charts` those that had data.
    fn new(
        experiment: Experiment,
        charts: impl IntoIterator<Item = Option<ChartSpec>>,
        tables: String,
    ) -> Section {
        Section {
            experiment,
            charts: charts.into_iter().flatten().collect(),
            tables,
        }
    }
}

/// The experiments in the order a suite runs them, which is the report's order.
pub const ALL: [About; 6] = [
    ladder::ABOUT,
    cold_start::ABOUT,
    memory::ABOUT,
    throughput::ABOUT,
    capacity::ABOUT,
    realistic::ABOUT,
];

/// Every experiment's section for `device`, in the report's order.
pub fn sections(ds: &Dataset, device: &str) -> Vec<Section> {
    ALL.iter().map(|a| (a.section)(ds, device)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_follows_the_suite_order() {
        let ids: Vec<Experiment> = ALL.iter().map(|a| a.experiment).collect();
        assert_eq!(ids, Experiment::SUITE);
    }
}
