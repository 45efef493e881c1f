//! `ladder`: the Wasm start-up ladder measured in-process (compile, deserialize, InstancePre,
//! on-demand and pooled instantiation, a fresh run, a pre-warmed run), beside Docker's
//! cold-start phases (create, start, ready, init, first run), for the "why is it faster" chart.
//!
//! The ladder runs inside the harness process, so an edge device's cgroup limits do not apply
//! to it; the run's notes say so when a device profile is active.

use anyhow::{Result, anyhow};
use serde_json::json;
use wow_runtime::ladder::{Ladder, STEPS};

use crate::backend::{Backend, BackendKind};
use crate::ctx::Ctx;
use crate::recorder::SeriesKey;
use crate::suite::LadderSpec;
use wow_records::{Backend as Side, Config, Experiment, Series, phase};

pub async fn run(ctx: &Ctx, spec: &LadderSpec) -> Result<()> {
    let workload = ctx.workload(&spec.workload).to_string();
    let docker = ctx.wants(BackendKind::Docker) && spec.docker_samples > 0;
    let wasm = ctx.wants(BackendKind::Wasm);
    let total = if wasm {
        spec.repetitions as u64 * STEPS.len() as u64
    } else {
        0
    } + if docker {
        spec.docker_samples as u64
    } else {
        0
    };
    let bar = ctx.rec.bar(total, Experiment::Ladder.as_str());
    if wasm {
        if ctx.cgroup.is_some() {
            ctx.note("ladder: the in-process Wasm ladder runs in the harness process, outside the device's cgroup limits");
        }
        let bytes = ctx.wasm_bytes(&workload)?;
        let ladder = Ladder::new(&bytes, "{}").await?;
        let s = SeriesKey::new(
            Experiment::Ladder,
            Side::Wasm,
            Series::InProcess.as_str(),
            Config::Default,
            &workload,
        );
        for rep in 0..spec.repetitions {
            for &step in STEPS {
                ctx.rec.cancel.check()?;
                let d = ladder.time(step).await?;
                ctx.rec.latency(&s, 1, rep, step.as_str(), d)?;
                bar.inc(1);
            }
        }
    }
    if docker {
        let b = ctx.docker(Series::CreateStart.as_str(), 1).await?;
        let s = SeriesKey::new(
            Experiment::Ladder,
            Side::Docker,
            Series::CreateStart.as_str(),
            Config::Default,
            &workload,
        );
        let code = ctx.code(&workload)?;
        let result = async {
            for i in 0..spec.docker_samples {
                ctx.rec.cancel.check()?;
                let (sb, r) =
                    super::cold_start::cold_start_once(b.as_ref(), "ladder", &code, &json!({}))
                        .await;
                if let Some(sb) = &sb {
                    b.destroy(sb).await?;
                }
                let c = r.map_err(|e| anyhow!("Docker cold start failed: {e}"))?;
                super::cold_start::record_provision_parts(ctx, &s, 1, i, &c.parts)?;
                ctx.rec.latency(&s, 1, i, phase::INIT, c.init)?;
                ctx.rec.latency(&s, 1, i, phase::FIRST_RUN, c.first_run)?;
                bar.inc(1);
            }
            Ok::<(), anyhow::Error>(())
        }
        .await;
        ctx.release(&b).await;
        result?;
    }
    bar.finish_with_message("done");
    Ok(())
}
