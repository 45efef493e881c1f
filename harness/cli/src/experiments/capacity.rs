//! `capacity`: how many concurrent in-flight I/O-bound invocations (`sleep`) each backend
//! sustains inside the memory budget while p99 latency stays within `p99_factor` × the sleep.
//! Docker scales by containers (each runs `per_sandbox_concurrency` processes at once), Wasm by
//! instances; both go through the same invoker with the same per-sandbox limit and no cap on
//! sandboxes but the budget. The load steps up until the budget, the latency bound or an error
//! breaks; the capacity is the last step that held.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::backend::{AnyBackend, Backend, BackendKind};
use crate::ctx::Ctx;
use crate::invoker::{Invoker, Policy};
use crate::loadgen;
use crate::recorder::SeriesKey;
use crate::suite::CapacitySpec;
use wow_records::{Config, Experiment, Measure, Metric, phase};

pub async fn run(ctx: &Ctx, spec: &CapacitySpec) -> Result<()> {
    let budget = ctx
        .device
        .memory_bytes
        .unwrap_or(spec.memory_budget_mb << 20);
    let bound_us = spec.sleep_ms as f64 * 1000.0 * spec.p99_factor;
    let mut codes = HashMap::new();
    codes.insert("sleep".to_string(), ctx.code("sleep")?);
    let kinds: Vec<BackendKind> = [BackendKind::Wasm, BackendKind::Docker]
        .into_iter()
        .filter(|k| ctx.wants(*k))
        .collect();
    let bar = ctx.rec.bar(
        (kinds.len() * spec.steps.len()) as u64 * spec.repetitions as u64,
        Experiment::Capacity.as_str(),
    );
    let limits = Limits { budget, bound_us };
    for &kind in &kinds {
        let variant = super::throughput::default_variant(kind);
        for rep in 0..spec.repetitions {
            bar.set_message(kind.as_str().to_string());
            let b = ctx
                .backend(kind, variant, spec.per_sandbox_concurrency)
                .await?;
            let inv = Arc::new(Invoker::new(
                b.clone(),
                Policy {
                    max_sandboxes: usize::MAX,
                    per_sandbox: spec.per_sandbox_concurrency as usize,
                    keep_alive: None,
                },
                codes.clone(),
            ));
            let s = SeriesKey::new(
                Experiment::Capacity,
                kind.backend(),
                variant.as_str(),
                Config::Default,
                "sleep",
            );
            let r = steps(ctx, spec, &inv, &s, rep, limits, &bar).await;
            inv.shutdown().await;
            ctx.release(&b).await;
            r?;
        }
    }
    bar.finish_with_message("done");
    Ok(())
}

/// What a step must stay within to count as held.
#[derive(Clone, Copy)]
struct Limits {
    /// Memory of everything the backend runs, bytes.
    budget: u64,
    /// p99 latency bound, µs.
    bound_us: f64,
}

async fn steps(
    ctx: &Ctx,
    spec: &CapacitySpec,
    inv: &Arc<Invoker<AnyBackend>>,
    s: &SeriesKey,
    rep: u32,
    limits: Limits,
    bar: &crate::progress::Progress,
) -> Result<()> {
    let Limits { budget, bound_us } = limits;
    let b = inv.backend();
    let params = json!({ "ms": spec.sleep_ms });
    let mut capacity: Option<u32> = None;
    let mut reason = format!(
        "held at every step up to {}",
        spec.steps.last().unwrap_or(&0)
    );
    for (i, &inflight) in spec.steps.iter().enumerate() {
        ctx.rec.cancel.check()?;
        // Sandboxes for this step are started before the clock.
        let needed = (inflight as usize).div_ceil(spec.per_sandbox_concurrency as usize);
        if let Err(e) = inv.prepare("sleep", needed).await {
            reason = format!("could not start {needed} sandboxes for {inflight} in flight: {e:#}");
            bar.inc((spec.steps.len() - i) as u64);
            break;
        }
        let (inv2, p) = (inv.clone(), params.clone());
        let r = loadgen::closed_loop(
            inflight as usize,
            Duration::from_secs_f64(spec.sleep_ms as f64 / 1000.0 * 2.0),
            Duration::from_secs_f64(spec.window_s),
            &ctx.rec.cancel,
            move |_, _| {
                let (inv, p) = (inv2.clone(), p.clone());
                async move { inv.invoke("sleep", &p).await.sample() }
            },
        )
        .await;
        ctx.rec.cancel.check()?;
        b.healthy()?;
        super::throughput::record_load(ctx, s, inflight, rep, phase::STEP, &r)?;
        let mem = b.memory(&inv.sandboxes()).await?;
        let total = mem.total_bytes;
        let memory = Measure::new(phase::STEP, Metric::MemoryTotal);
        match total {
            Some(t) => ctx.rec.put(s, inflight, rep, memory, t)?,
            None => ctx.rec.fail(s, inflight, rep, memory, "not measurable")?,
        }
        let sandboxes = Measure::new(phase::STEP, Metric::Sandboxes);
        let count = inv.sandboxes().len() as f64;
        ctx.rec.put(s, inflight, rep, sandboxes, count)?;
        bar.inc(1);
        let p99 = r.quantile_us(0.99).unwrap_or(f64::INFINITY);
        let broke = if r.errors > 0 {
            Some(format!("{} errors at {inflight} in flight", r.errors))
        } else if p99 > bound_us {
            Some(format!(
                "p99 {:.0} ms > {:.0} ms at {inflight} in flight",
                p99 / 1e3,
                bound_us / 1e3
            ))
        } else if total.is_some_and(|t| t > budget as f64) {
            Some(format!(
                "{:.0} MiB > budget {} MiB at {inflight} in flight",
                total.unwrap_or(0.0) / 1048576.0,
                budget >> 20
            ))
        } else {
            None
        };
        match broke {
            Some(why) => {
                reason = why;
                bar.inc((spec.steps.len() - i - 1) as u64);
                break;
            }
            None => capacity = Some(inflight),
        }
    }
    let max = Measure::new(phase::MAX, Metric::Capacity);
    match capacity {
        Some(c) => ctx.rec.put(s, 0, rep, max, c as f64)?,
        None => ctx.rec.fail(s, 0, rep, max, &reason)?,
    }
    ctx.note(format!(
        "capacity {}: {}; stopped because {reason}",
        s.backend,
        capacity.map_or("none".into(), |c| c.to_string())
    ));
    Ok(())
}
