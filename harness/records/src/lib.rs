//! The one record type of wowbench and the run folder that holds it.
//!
//! Experiments write [`Record`]s to `records.csv`; [`summary`] derives `summary.csv`; the report
//! and the regression gate read only these files, `meta.json` and the histograms. Keeping all of
//! it in one small crate is what lets every stage agree on the columns.

pub mod histogram;
pub mod meta;
pub mod record;
pub mod run_dir;
pub mod stats;
pub mod summary;
pub mod vocab;
pub mod writer;

pub use meta::{Meta, RunStatus};
pub use record::{GroupKey, Record};
pub use run_dir::RunDir;
pub use stats::Stats;
pub use summary::SummaryRow;
pub use vocab::{
    Backend, Config, Engine, Experiment, LadderStep, Measure, Metric, ModuleBuild, Series, Unit,
    phase,
};
pub use writer::RecordWriter;
