//! `realistic`: the paper's Azure-trace-shaped workload. 62 actions: two hot ones (one
//! CPU-bound, one I/O-bound) get `hot_fraction` of the requests, the other 60 (half CPU, half
//! I/O) share the rest uniformly. A fixed request sequence (seeded, the same for both backends)
//! is served by `clients` closed-loop clients through the shared invoker: a cap of
//! budget ÷ per-action memory live sandboxes (1024 / 256 = 4, as in the paper), keep-alive and
//! LRU eviction. Per request: its latency and whether it met a cold start.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::backend::{ActionCode, Backend};
use crate::ctx::Ctx;
use crate::invoker::{Invoker, Policy};
use crate::recorder::SeriesKey;
use crate::rng::Rng;
use crate::suite::RealisticSpec;
use wow_records::{Config, Experiment, Measure, Metric, Series, phase};

/// Action `i`: 0 is the hot CPU action, 1 the hot I/O action, then CPU and I/O alternate.
pub fn action_name(i: u32) -> String {
    format!("a{i:02}")
}

pub fn is_cpu_action(i: u32) -> bool {
    i.is_multiple_of(2)
}

/// The request sequence: action indices.
pub fn sequence(spec: &RealisticSpec) -> Vec<u32> {
    let mut rng = Rng::new(spec.seed);
    let cold = spec.actions.saturating_sub(2).max(1) as usize;
    (0..spec.requests)
        .map(|_| {
            if rng.unit() < spec.hot_fraction {
                rng.below(2) as u32
            } else {
                2 + rng.below(cold) as u32
            }
        })
        .collect()
}

pub async fn run(ctx: &Ctx, spec: &RealisticSpec) -> Result<()> {
    let iterations = ctx.hash_iterations(spec.hash_target_ms)?;
    let cpu = json!({ "iterations": iterations });
    let io = json!({ "ms": spec.sleep_ms });
    let hash = ctx.code("hash")?;
    let sleep = ctx.code("sleep")?;
    let hash_wasm = ctx.wasm_bytes("hash")?;
    let sleep_wasm = ctx.wasm_bytes("sleep")?;
    let seq = Arc::new(sequence(spec));
    let cap = (spec.memory_budget_mb / spec.action_memory_mb.max(1)).max(1) as usize;

    let series = ctx.series(&spec.wasm_variants, &spec.docker_variants);
    let bar = ctx.rec.bar(
        series.len() as u64 * spec.requests as u64 * spec.repetitions as u64,
        Experiment::Realistic.as_str(),
    );
    let requests = Requests {
        seq: seq.clone(),
        cpu: Arc::new(cpu),
        io: Arc::new(io),
    };
    for (kind, variant) in series {
        // `compile`: every action's code is distinct, so its first init compiles.
        let codes: HashMap<String, ActionCode> = (0..spec.actions)
            .map(|i| {
                let (base, wasm) = if is_cpu_action(i) {
                    (&hash, &hash_wasm)
                } else {
                    (&sleep, &sleep_wasm)
                };
                let code = if variant == Series::Compile {
                    base.with_wasm(&wow_artifacts::with_custom_section(
                        wasm,
                        "wowbench-action",
                        action_name(i).as_bytes(),
                    ))
                } else {
                    base.clone()
                };
                (action_name(i), code)
            })
            .collect();
        for rep in 0..spec.repetitions {
            bar.set_message(format!("{} {variant}", kind.as_str()));
            let b = ctx
                .backend(kind, variant, spec.per_sandbox_concurrency)
                .await?;
            let inv = Arc::new(Invoker::new(
                b.clone(),
                Policy {
                    max_sandboxes: cap,
                    per_sandbox: spec.per_sandbox_concurrency as usize,
                    keep_alive: Some(Duration::from_secs_f64(spec.keep_alive_s)),
                },
                codes.clone(),
            ));
            let s = SeriesKey::new(
                Experiment::Realistic,
                kind.backend(),
                variant.as_str(),
                Config::Paper,
                "azure-mix",
            );
            let r = serve(ctx, spec, &inv, &s, rep, &requests, &bar).await;
            inv.shutdown().await;
            ctx.release(&b).await;
            r?;
        }
    }
    bar.finish_with_message("done");
    Ok(())
}

/// The request sequence (action indices) and the parameters of CPU and I/O actions.
struct Requests {
    seq: Arc<Vec<u32>>,
    cpu: Arc<Value>,
    io: Arc<Value>,
}

async fn serve(
    ctx: &Ctx,
    spec: &RealisticSpec,
    inv: &Arc<Invoker<crate::backend::AnyBackend>>,
    s: &SeriesKey,
    rep: u32,
    requests: &Requests,
    bar: &crate::progress::Progress,
) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..spec.clients {
        let (inv, seq, next, cancel) = (
            inv.clone(),
            requests.seq.clone(),
            next.clone(),
            ctx.rec.cancel.clone(),
        );
        let (cpu, io) = (requests.cpu.clone(), requests.io.clone());
        clients.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= seq.len() || cancel.is_cancelled() {
                    return out;
                }
                let a = seq[i];
                let params = if is_cpu_action(a) { &cpu } else { &io };
                let o = inv.invoke(&action_name(a), params).await;
                out.push((i, o));
            }
        }));
    }
    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.extend(c.await?);
    }
    ctx.rec.cancel.check()?;
    inv.backend().healthy()?;
    outcomes.sort_by_key(|(i, _)| *i);
    let mut hist = wow_records::histogram::new_latency_histogram();
    let (mut cold, mut errors) = (0u64, 0u64);
    for (i, o) in &outcomes {
        let phase = if o.cold { phase::COLD } else { phase::WARM };
        if o.ok() {
            ctx.rec
                .latency(s, spec.clients, *i as u32, phase, o.latency)?;
            let _ = hist.record((o.latency.as_micros() as u64).max(1));
            cold += o.cold as u64;
        } else {
            errors += 1;
            let why = o.error_text().unwrap_or_default();
            ctx.rec
                .fail(s, spec.clients, *i as u32, Measure::latency(phase), &why)?;
        }
        bar.inc(1);
    }
    let ok = outcomes.len() as u64 - errors;
    let rec = &ctx.rec;
    let x = spec.clients;
    let all = |metric| Measure::new(phase::ALL, metric);
    let cold_fraction = if ok > 0 {
        cold as f64 / ok as f64
    } else {
        f64::NAN
    };
    rec.put(s, x, rep, all(Metric::ColdFraction), cold_fraction)?;
    rec.put(s, x, rep, all(Metric::Errors), errors as f64)?;
    if !hist.is_empty() {
        for (metric, q) in super::throughput::LATENCY_QUANTILES {
            rec.put(s, x, rep, all(metric), hist.value_at_quantile(q) as f64)?;
        }
        rec.histogram(&rec.key(s, x, Measure::latency(phase::ALL)), &hist)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_is_deterministic_and_hot_shaped() {
        let spec = RealisticSpec {
            requests: 10_000,
            ..RealisticSpec::default()
        };
        let a = sequence(&spec);
        assert_eq!(a, sequence(&spec));
        let hot = a.iter().filter(|i| **i < 2).count() as f64 / a.len() as f64;
        assert!((hot - 0.9).abs() < 0.02, "{hot}");
        assert!(a.iter().all(|i| *i < 62));
        assert!(a.contains(&61));
    }
}
