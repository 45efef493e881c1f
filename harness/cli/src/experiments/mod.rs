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

pub async fn run(ctx: &Ctx, spec: &ExperimentSpec) -> Result<()> {
    match spec {
        ExperimentSpec::ColdStart(s) => cold_start::run(ctx, s).await,
        ExperimentSpec::Memory(s) => memory::run(ctx, s).await,
        ExperimentSpec::Throughput(s) => throughput::run(ctx, s).await,
        ExperimentSpec::Capacity(s) => capacity::run(ctx, s).await,
        ExperimentSpec::Realistic(s) => realistic::run(ctx, s).await,
        ExperimentSpec::Ladder(s) => ladder::run(ctx, s).await,
        ExperimentSpec::Soak(s) => soak::run(ctx, s).await.map(|_| ()),
    }
}
