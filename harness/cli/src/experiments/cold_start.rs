//! `cold-start`: i concurrent cold starts of i distinct actions with the same code, for
//! i in the levels, repeated; every phase recorded per sandbox (`results/README.md`, "Measurement
//! definitions"): provision, init, first run, and the derived cold start (provision + init) and
//! first response (+ first run). Docker's provision is also split into create / start / ready.
//!
//! After its levels, each series runs the warm-run group: one sandbox of `warm_workload`
//! (`noop`), then `warm_runs` sequential `/run`s, each timed by the harness (phase `warm_run`,
//! level 1): what a client waits for once a sandbox is warm.
//!
//! Series: Wasm `compile` (each action's code is distinct, so every init compiles) and
//! `precompiled` (the artifact is already cached: every init is a cache hit — checked, not
//! assumed); Docker `create-start`, `prestarted` (stem cells started before the clock) and
//! `host-net`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use crate::backend::{ActionCode, AnyBackend, Backend, ProvisionTiming};
use crate::ctx::Ctx;
use crate::experiments::order;
use crate::recorder::SeriesKey;
use crate::suite::ColdStartSpec;
use wow_records::{Config, Experiment, Measure, Series, phase};

/// One cold start's phases, each timed by the harness around its call.
pub struct ColdSample {
    pub provision: Duration,
    pub parts: ProvisionTiming,
    pub init: Duration,
    pub first_run: Duration,
    pub artifact: Option<String>,
}

/// Provision, init and first run of one new sandbox; the sandbox is returned for teardown.
pub async fn cold_start_once<B: Backend>(
    b: &B,
    action: &str,
    code: &ActionCode,
    params: &Value,
) -> (Option<crate::backend::Sandbox>, Result<ColdSample, String>) {
    let t = Instant::now();
    let sb = match b.provision(action).await {
        Ok(sb) => sb,
        Err(e) => return (None, Err(format!("provision: {e:#}"))),
    };
    let provision = t.elapsed();
    let init = match b.init(&sb, code).await {
        Ok(r) if r.ok() => r,
        Ok(r) => return (Some(sb), Err(format!("init: {}", r.error_text()))),
        Err(e) => return (Some(sb), Err(format!("init: {e:#}"))),
    };
    let run = match b.run(&sb, params).await {
        Ok(r) if r.ok() => r,
        Ok(r) => return (Some(sb), Err(format!("first run: {}", r.error_text()))),
        Err(e) => return (Some(sb), Err(format!("first run: {e:#}"))),
    };
    let sample = ColdSample {
        provision,
        parts: sb.provision.clone(),
        init: init.elapsed,
        first_run: run.elapsed,
        artifact: init.artifact(),
    };
    (Some(sb), Ok(sample))
}

/// Records a sample's phases (or its failure) as rows.
pub fn record(
    ctx: &Ctx,
    s: &SeriesKey,
    level: u32,
    i: u32,
    r: &Result<ColdSample, String>,
) -> Result<()> {
    let rec = &ctx.rec;
    match r {
        Ok(c) => {
            rec.latency(s, level, i, phase::PROVISION, c.provision)?;
            rec.latency(s, level, i, phase::INIT, c.init)?;
            rec.latency(s, level, i, phase::FIRST_RUN, c.first_run)?;
            rec.latency(s, level, i, phase::COLD_START, c.provision + c.init)?;
            let first_response = c.provision + c.init + c.first_run;
            rec.latency(s, level, i, phase::FIRST_RESPONSE, first_response)?;
            record_provision_parts(ctx, s, level, i, &c.parts)?;
        }
        Err(e) => rec.fail(s, level, i, Measure::latency(phase::COLD_START), e)?,
    }
    Ok(())
}

/// Records Docker's provision parts (create, start, ready) where the backend has them.
pub fn record_provision_parts(
    ctx: &Ctx,
    s: &SeriesKey,
    level: u32,
    i: u32,
    parts: &ProvisionTiming,
) -> Result<()> {
    for (phase, d) in [
        (phase::CREATE, parts.create),
        (phase::START, parts.start),
        (phase::READY, parts.ready),
    ] {
        if let Some(d) = d {
            ctx.rec.latency(s, level, i, phase, d)?;
        }
    }
    Ok(())
}

/// Puts `code`'s artifact in the executor's cache before the clock starts: one untimed cold
/// start, its sandbox destroyed.
pub async fn warm_artifact_cache<B: Backend>(
    b: &B,
    code: &ActionCode,
    params: &Value,
) -> Result<()> {
    let (sb, r) = cold_start_once(b, "warm-cache", code, params).await;
    if let Some(sb) = sb {
        let _ = b.destroy(&sb).await;
    }
    r.map(|_| ())
        .map_err(|e| anyhow::anyhow!("warming the artifact cache failed: {e}"))
}

/// What the init must have reported for the series to be what its name says.
pub(crate) fn expected_artifact(series: Series) -> Option<&'static [&'static str]> {
    match series {
        Series::Compile => Some(&["compiled"]),
        Series::Precompiled | Series::DockerWasm => Some(&["memory", "disk"]),
        _ => None,
    }
}

/// Runs the experiment on one side, or on the sides of a paired run together: each side's
/// backend is up at once, and every cold start and every warm run of one side is followed by
/// the same on the other, the order turning each time (the caller turns the sides' order). A
/// slow spell of this machine — a compile beside it, lasting milliseconds — then falls on both
/// sides alike, where measuring one side's share of a block after the other's let it fall on
/// whichever ran during it.
pub async fn run(sides: &[&Ctx], spec: &ColdStartSpec) -> Result<()> {
    let ctx = sides[0];
    let workload = ctx.workload(&spec.workload).to_string();
    let base = ctx.code(&workload)?;
    let wasm = ctx.wasm_bytes(&workload)?;
    let series = ctx.series(&spec.wasm_variants, &spec.docker_variants);
    let per_series: u64 =
        spec.levels.iter().map(|l| *l as u64).sum::<u64>() * spec.repetitions as u64;
    let bar = ctx.rec.bar(
        per_series * series.len() as u64 * sides.len() as u64,
        Experiment::ColdStart.as_str(),
    );
    for (kind, variant) in series {
        let mut backends = Vec::with_capacity(sides.len());
        for c in sides {
            backends.push(c.backend(kind, variant, 1).await?);
        }
        let s = SeriesKey::new(
            Experiment::ColdStart,
            kind.backend(),
            variant.as_str(),
            Config::Default,
            &workload,
        );
        let inputs = Inputs {
            spec,
            base: &base,
            wasm: &wasm,
            bar: &bar,
        };
        let mut result = run_series(sides, &backends, &s, &inputs).await;
        if result.is_ok() && spec.warm_runs > 0 {
            let warm = SeriesKey::new(
                Experiment::ColdStart,
                kind.backend(),
                variant.as_str(),
                Config::Default,
                &spec.warm_workload,
            );
            let code = ctx.code(&spec.warm_workload)?;
            bar.set_message(format!("{} {variant} warm /run", kind.as_str()));
            result = warm_runs(sides, spec.warm_runs, &backends, &warm, &code).await;
        }
        for (c, b) in sides.iter().zip(&backends) {
            c.release(b).await;
        }
        result?;
    }
    bar.finish_with_message("done");
    Ok(())
}

/// What every side's cold starts of a series share.
struct Inputs<'a> {
    spec: &'a ColdStartSpec,
    base: &'a ActionCode,
    wasm: &'a [u8],
    bar: &'a crate::progress::Progress,
}

async fn run_series(
    sides: &[&Ctx],
    backends: &[Arc<AnyBackend>],
    s: &SeriesKey,
    inputs: &Inputs<'_>,
) -> Result<()> {
    let variant: Series = s.variant.parse()?;
    if variant == Series::Precompiled {
        for b in backends {
            warm_artifact_cache(b.as_ref(), inputs.base, &inputs.spec.params).await?;
        }
    }
    for &level in &inputs.spec.levels {
        let what = format!("{} {} c{level}", s.backend.as_str(), s.variant);
        inputs.bar.set_message(what);
        for rep in 0..inputs.spec.repetitions {
            for j in order(sides.len(), rep) {
                one_level(sides[j], &backends[j], s, variant, level, rep, inputs).await?;
            }
        }
    }
    Ok(())
}

/// Repetition `rep` of `level` on one side: `level` concurrent cold starts, recorded, then
/// every sandbox destroyed (the next one starts only when all are gone).
async fn one_level(
    ctx: &Ctx,
    b: &AnyBackend,
    s: &SeriesKey,
    variant: Series,
    level: u32,
    rep: u32,
    inputs: &Inputs<'_>,
) -> Result<()> {
    ctx.rec.cancel.check()?;
    if let AnyBackend::Docker(d) = b
        && variant == Series::Prestarted
    {
        d.prestart(level as usize).await?;
    }
    // Codes are prepared (and base64-encoded) before the clock starts.
    let codes: Vec<ActionCode> = (0..level)
        .map(|k| {
            if variant == Series::Compile {
                let tag = format!("{}-{level}-{rep}-{k}", ctx.rec.run_id);
                inputs.base.with_wasm(&wow_artifacts::with_custom_section(
                    inputs.wasm,
                    "wowbench-action",
                    tag.as_bytes(),
                ))
            } else {
                inputs.base.clone()
            }
        })
        .collect();
    let params = &inputs.spec.params;
    let starts = codes.iter().enumerate().map(|(k, code)| {
        let action = format!("cs{level}r{rep}k{k}");
        async move { cold_start_once(b, &action, code, params).await }
    });
    let results = futures::future::join_all(starts).await;
    let mut sandboxes = Vec::new();
    for (k, (sb, r)) in results.into_iter().enumerate() {
        let r = r.and_then(|c| match (expected_artifact(variant), &c.artifact) {
            (Some(allowed), Some(got)) if !allowed.contains(&got.as_str()) => Err(format!(
                "the init reported artifact {got:?}, which is not what series {variant} measures"
            )),
            _ => Ok(c),
        });
        record(ctx, s, level, rep * level + k as u32, &r)?;
        sandboxes.extend(sb);
        inputs.bar.inc(1);
    }
    b.healthy()?;
    let destroys = sandboxes.iter().map(|sb| b.destroy(sb));
    for r in futures::future::join_all(destroys).await {
        if let Err(e) = r {
            ctx.note(format!("destroying a cold-start sandbox failed: {e:#}"));
        }
    }
    Ok(())
}

/// The warm-run group: one sandbox per side, `n` sequential `/run`s of `{}` on each (the sides
/// taking turns), each recorded (phase `warm_run`); a failed run is recorded as a failure and
/// the group goes on, and a sandbox that does not start is one failure for its side.
async fn warm_runs(
    sides: &[&Ctx],
    n: u32,
    backends: &[Arc<AnyBackend>],
    s: &SeriesKey,
    code: &ActionCode,
) -> Result<()> {
    let params = serde_json::json!({});
    let m = Measure::latency(phase::WARM_RUN);
    let mut sandboxes = Vec::with_capacity(sides.len());
    for (ctx, b) in sides.iter().zip(backends) {
        let (sb, first) = cold_start_once(b.as_ref(), "warm-run", code, &params).await;
        if let Err(e) = &first {
            ctx.rec
                .fail(s, 1, 0, m, &format!("the sandbox did not start: {e}"))?;
        }
        sandboxes.push((sb, first.is_ok()));
    }
    let result = async {
        for i in 0..n {
            for j in order(sides.len(), i) {
                let (ctx, b) = (sides[j], &backends[j]);
                let (Some(sb), true) = &sandboxes[j] else {
                    continue;
                };
                ctx.rec.cancel.check()?;
                match b.run(sb, &params).await {
                    Ok(r) if r.ok() => ctx.rec.latency(s, 1, i, phase::WARM_RUN, r.elapsed)?,
                    Ok(r) => ctx.rec.fail(s, 1, i, m, &r.error_text())?,
                    Err(e) => ctx.rec.fail(s, 1, i, m, &format!("{e:#}"))?,
                }
            }
        }
        backends
            .iter()
            .zip(&sandboxes)
            .filter(|(_, (_, started))| *started)
            .try_for_each(|(b, _)| b.healthy())
    }
    .await;
    for ((ctx, b), (sb, _)) in sides.iter().zip(backends).zip(&sandboxes) {
        if let Some(sb) = sb
            && let Err(e) = b.destroy(sb).await
        {
            ctx.note(format!("destroying the warm-run sandbox failed: {e:#}"));
        }
    }
    result
}
