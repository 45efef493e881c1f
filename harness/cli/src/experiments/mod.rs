//! The experiments, one module each; every one writes its rows
//! through the run's recorder as it measures.

pub mod capacity;
pub mod cold_start;
pub mod ladder;
pub mod ladder_child;
pub mod memory;
pub mod realistic;
pub mod soak;
pub mod throughput;

use anyhow::Result;

use crate::ctx::Ctx;
use crate::suite::ExperimentSpec;

/// Whether the experiment measures a paired run's sides together, alternating: `cold-start`,
/// whose sandboxes live for milliseconds each, and `throughput`, whose windows take turns while
/// both sides' sandboxes stay up (an idle sandbox costs no CPU). The others hold many sandboxes
/// or memory readings at once and take one side at a time, the other side's backends stopped.
pub fn alternates(spec: &ExperimentSpec) -> bool {
    matches!(
        spec,
        ExperimentSpec::ColdStart(_) | ExperimentSpec::Throughput(_)
    )
}

/// The sides' indexes in the order of measurement `i`: as listed when `i` is even, reversed
/// when odd (so two measurements in a row run A B B A, which cancels a steady drift).
pub fn order(n: usize, i: u32) -> impl Iterator<Item = usize> {
    (0..n).map(move |j| if i % 2 == 1 { n - 1 - j } else { j })
}

/// Runs an experiment on one side; or on the sides of a paired run together, alternating
/// measurement by measurement, when [`alternates`] says the experiment can.
pub async fn run(sides: &[&Ctx], spec: &ExperimentSpec) -> Result<()> {
    let one = || match sides {
        [ctx] => Ok(*ctx),
        _ => Err(anyhow::anyhow!("{} measures one side at a time", spec.id())),
    };
    match spec {
        ExperimentSpec::ColdStart(s) => cold_start::run(sides, s).await,
        ExperimentSpec::Memory(s) => memory::run(one()?, s).await,
        ExperimentSpec::Throughput(s) => throughput::run(sides, s).await,
        ExperimentSpec::Capacity(s) => capacity::run(one()?, s).await,
        ExperimentSpec::Realistic(s) => realistic::run(one()?, s).await,
        ExperimentSpec::Ladder(s) => ladder::run(one()?, s).await,
        ExperimentSpec::Soak(s) => soak::run(one()?, s).await.map(|_| ()),
    }
}
