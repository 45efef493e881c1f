//! `memory`: N warm sandboxes, each having run once, measured by three methods
//! (`results/README.md`): `paper` (what the paper measured: `docker stats` per container,
//! executor RSS ÷ N), `full` (every process that exists only because the sandboxes exist, ÷ N)
//! and `system` (the machine's memory in use with N sandboxes minus with none, page cache
//! dropped, ÷ N: kernel memory too, and whatever else the machine did meanwhile).
//!
//! Wasm series: `distinct` (every sandbox has its own code and so its own compiled artifact, as
//! every container held its own module in the paper) and `shared` (one artifact for all). The
//! executor runs without its pre-warm pool here, so only sandboxes are measured. The paper's
//! module-size table is reproduced with `hash` built release+LTO, release and debug.

use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::backend::{ActionCode, AnyBackend, Backend, BackendKind, Sandbox};
use crate::ctx::{Ctx, settle};
use crate::recorder::SeriesKey;
use crate::suite::MemorySpec;
use wow_records::vocab::{ModuleBuild, is_module_series};
use wow_records::{Config, Experiment, Measure, Metric, Series, phase};

/// Sandboxes made at once while filling a level.
const BATCH: usize = 8;

struct Plan {
    kind: BackendKind,
    variant: String,
    levels: Vec<u32>,
    /// Wasm bytes to start from (a module-size variant, or the workload's own).
    wasm: Vec<u8>,
    distinct: bool,
}

/// A plan ready to run: its series and the code its sandboxes start from.
struct Prepared<'a> {
    plan: &'a Plan,
    s: SeriesKey,
    code: ActionCode,
}

pub async fn run(ctx: &Ctx, spec: &MemorySpec) -> Result<()> {
    let workload = ctx.workload(&spec.workload).to_string();
    let base = ctx.code(&workload)?;
    let wasm = ctx.wasm_bytes(&workload)?;
    let mut plans: Vec<Plan> = ctx
        .series(&spec.wasm_variants, &spec.docker_variants)
        .into_iter()
        .map(|(kind, variant)| Plan {
            kind,
            distinct: variant == Series::Distinct,
            variant: variant.into(),
            levels: spec.sandboxes.clone(),
            wasm: if kind == BackendKind::Wasm {
                wasm.clone()
            } else {
                vec![]
            },
        })
        .collect();
    if spec.module_sizes && ctx.wants(BackendKind::Wasm) && !ctx.engine().runs_simd() {
        ctx.note(format!(
            "memory: no module-size series on {}: the size variants are SIMD builds it cannot run",
            ctx.engine()
        ));
    }
    if spec.module_sizes && ctx.wants(BackendKind::Wasm) && ctx.engine().runs_simd() {
        for &build in ModuleBuild::ALL {
            let variant = build.series();
            if ctx.variants.as_ref().is_some_and(|f| !f.contains(&variant)) {
                continue;
            }
            let path = ctx
                .artifacts
                .wasm_variant(wow_artifacts::SIZE_VARIANT_WORKLOAD, build.as_str());
            let wasm =
                std::fs::read(&path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
            plans.push(Plan {
                kind: BackendKind::Wasm,
                variant,
                levels: vec![spec.module_size_sandboxes],
                wasm,
                distinct: true,
            });
        }
    }
    let steps: u64 =
        plans.iter().map(|p| p.levels.len() as u64).sum::<u64>() * spec.repetitions as u64;
    let bar = ctx.rec.bar(steps, Experiment::Memory.as_str());
    let budget = ctx
        .device
        .memory_bytes
        .unwrap_or(u64::MAX)
        .min(spec.docker_budget_mb << 20);
    for plan in &plans {
        let module_workload = if is_module_series(&plan.variant) {
            wow_artifacts::SIZE_VARIANT_WORKLOAD
        } else {
            workload.as_str()
        };
        let code = if plan.kind == BackendKind::Wasm {
            base.with_wasm(&plan.wasm)
        } else {
            base.clone()
        };
        for rep in 0..spec.repetitions {
            let b = match plan.kind {
                BackendKind::Wasm => ctx.wasm(&plan.variant, &["--prewarm", "false"]).await?,
                // The executor in a container keeps no pre-warmed instances, as on the host.
                BackendKind::Docker => {
                    let env: &[&str] = if plan.variant == Series::DockerWasm.as_str() {
                        &["WOW_RUNTIME_PREWARM=false"]
                    } else {
                        &[]
                    };
                    ctx.docker_with_env(&plan.variant, 1, env).await?
                }
            };
            let p = Prepared {
                plan,
                s: SeriesKey::new(
                    Experiment::Memory,
                    plan.kind.backend(),
                    &plan.variant,
                    Config::Default,
                    module_workload,
                ),
                code: code.clone(),
            };
            let r = run_plan(ctx, spec, &b, &p, rep, budget, &bar).await;
            ctx.release(&b).await;
            r?;
        }
    }
    bar.finish_with_message("done");
    Ok(())
}

async fn run_plan(
    ctx: &Ctx,
    spec: &MemorySpec,
    b: &AnyBackend,
    p: &Prepared<'_>,
    rep: u32,
    budget: u64,
    bar: &crate::progress::Progress,
) -> Result<()> {
    let (plan, s, code) = (p.plan, &p.s, &p.code);
    let settle_for = Duration::from_millis(spec.settle_ms);
    // Page in the code paths with one throwaway sandbox, then take the empty reading. On Wasm
    // its module carries a section of its own, so that its artifact is not the one the
    // sandboxes use: the `shared` series' one artifact is then made after the empty reading
    // and charged, once, to its sandboxes.
    let warmup = if plan.kind == BackendKind::Wasm {
        code.with_wasm(&wow_artifacts::with_custom_section(
            &plan.wasm,
            "wowbench-warmup",
            ctx.rec.run_id.as_bytes(),
        ))
    } else {
        code.clone()
    };
    let (sb, r) = super::cold_start::cold_start_once(b, "mem-warmup", &warmup, &spec.params).await;
    if let Some(sb) = sb {
        b.destroy(&sb).await?;
    }
    r.map_err(|e| anyhow!("memory warm-up failed: {e}"))?;
    settle(ctx, settle_for).await?;
    b.memory_baseline().await?;
    let system_before = system_reading(ctx, spec);

    let mut live: Vec<Sandbox> = Vec::new();
    let mut per_sandbox_full: Option<f64> = None;
    let result = async {
        for &n in &plan.levels {
            ctx.rec.cancel.check()?;
            bar.set_message(format!("{} {}, {n} sandboxes", plan.kind.as_str(), plan.variant));
            if plan.kind == BackendKind::Docker
                && let Some(per) = per_sandbox_full
                    && per * n as f64 > budget as f64 {
                        ctx.note(format!(
                            "memory: skipped Docker at {n} containers: about {:.0} MiB measured per container would exceed the {} MiB budget",
                            per / 1048576.0,
                            budget >> 20
                        ));
                        bar.inc(1);
                        continue;
                    }
            while live.len() < n as usize {
                let todo = (n as usize - live.len()).min(BATCH);
                let starts = (0..todo).map(|k| {
                    let idx = live.len() + k;
                    let code = if plan.distinct {
                        code.with_wasm(&wow_artifacts::with_custom_section(
                            &plan.wasm,
                            "wowbench-sandbox",
                            format!("{}-{}-{rep}-{idx}", ctx.rec.run_id, s.variant).as_bytes(),
                        ))
                    } else {
                        code.clone()
                    };
                    let action = format!("mem{idx}");
                    async move {
                        super::cold_start::cold_start_once(b, &action, &code, &spec.params).await
                    }
                });
                for (sb, r) in futures::future::join_all(starts).await {
                    if let Some(sb) = sb {
                        live.push(sb);
                    }
                    r.map_err(|e| anyhow!("starting a sandbox for the memory reading failed: {e}"))?;
                }
            }
            settle(ctx, settle_for).await?;
            b.healthy()?;
            let m = b.memory(&live).await?;
            record(ctx, s, n, rep, m.paper_per_sandbox, m.full_per_sandbox, &m.parts)?;
            // The system method needs the sandboxes on this machine: where the full method
            // cannot see them (a remote engine or executor), neither can it.
            if let (Some(before), Some(_)) = (system_before, m.full_per_sandbox)
                && let Some(after) = system_reading(ctx, spec)
            {
                let per = (after as f64 - before as f64) / n as f64;
                ctx.rec
                    .put(s, n, rep, Measure::new(phase::SYSTEM, Metric::MemoryPerSandbox), per)?;
                for (name, v) in [("system_used_baseline", before), ("system_used", after)] {
                    ctx.rec
                        .put(s, n, rep, Measure::new(name, Metric::MemoryTotal), v as f64)?;
                }
            }
            if is_module_series(&plan.variant) {
                let size = Measure::new(phase::WASM, Metric::ModuleSize);
                ctx.rec.put(s, n, rep, size, plan.wasm.len() as f64)?;
            }
            per_sandbox_full = m.full_per_sandbox.or(m.paper_per_sandbox);
            bar.inc(1);
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    let destroys = live.iter().map(|sb| b.destroy(sb));
    futures::future::join_all(destroys).await;
    result
}

/// The machine's memory in use for the system method (page cache dropped first); `None` when
/// the suite leaves the method out or the cache cannot be dropped, which the run's notes say.
fn system_reading(ctx: &Ctx, spec: &MemorySpec) -> Option<u64> {
    if !spec.system_method {
        return None;
    }
    match crate::procfs::system_used_bytes_after_drop() {
        Ok(v) => {
            ctx.note(
                "memory: system method: the page cache was dropped (sync, then 1 into \
                 /proc/sys/vm/drop_caches) before each reading"
                    .to_string(),
            );
            Some(v)
        }
        Err(e) => {
            ctx.note(format!("memory: system method skipped: {e:#}"));
            None
        }
    }
}

fn record(
    ctx: &Ctx,
    s: &SeriesKey,
    n: u32,
    rep: u32,
    paper: Option<f64>,
    full: Option<f64>,
    parts: &[(String, f64)],
) -> Result<()> {
    for (method, v) in [(phase::PAPER, paper), (phase::FULL, full)] {
        let m = Measure::new(method, Metric::MemoryPerSandbox);
        match v {
            Some(v) => ctx.rec.put(s, n, rep, m, v)?,
            None => ctx.rec.fail(
                s,
                n,
                rep,
                m,
                "not measurable from here (remote engine or executor)",
            )?,
        }
    }
    for (name, v) in parts {
        let m = Measure::new(name, Metric::MemoryTotal);
        ctx.rec.put(s, n, rep, m, *v)?;
    }
    Ok(())
}
