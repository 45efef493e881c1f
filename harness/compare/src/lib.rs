//! The regression gate of wowbench as a library: two sides (a baseline of one or more run
//! folders, and a current run folder) in, a verdict per group and the regressions out.
//!
//! [`load`] reads the run folders (only `records.csv` and `meta.json`, through `wow-records`);
//! [`checks`] refuses runs from different machines or device profiles; [`samples`] groups the
//! records (every column but `run_id`, `iteration`, `value`, `ok` and `note`); [`stats`]
//! estimates each group's change of the median with a 95% interval; [`verdict`] judges it;
//! [`gate::compare`] does all of it and [`model`] is what it returns; [`render`] writes it out.
//!
//! A group regresses when its median moved past the threshold in the bad direction for its
//! metric **and** the interval shows it: by default ([`Rule::Threshold`]) the whole interval
//! lies beyond the threshold; with [`Rule::Zero`] it only has to exclude no change. A group
//! whose current samples all failed (while the baseline had successes) counts as a regression
//! too. With three or more baseline runs the interval is the spread of their run medians, which
//! is what makes a gate usable on a machine whose runs drift.

pub mod checks;
pub mod gate;
pub mod load;
pub mod model;
pub mod options;
pub mod render;
pub mod samples;
pub mod stats;
pub mod verdict;

pub use gate::compare;
pub use load::LoadedRun;
pub use model::{Comparison, Direction, GroupComparison, RunInfo, Side, Verdict};
pub use options::{Options, Rule};
pub use render::{Format, write_outputs};
