//! `ladder`: the Wasm start-up ladder of the pass's engine (compile, deserialize, InstancePre,
//! on-demand and — wasmtime — pooled instantiation, a fresh run, a pre-warmed run), beside
//! Docker's cold-start phases (create, start, ready, init, first run), for the "why is it
//! faster" chart.
//!
//! Each engine's ladder runs in a child process (`wowbench executor-ladder`): one engine per
//! process, and inside the device's cgroup like an executor.
//!
//! Then the same steps as a client meets them: precompiled cold starts (`/init` of
//! `http_workload`, artifact cached) and warm `/run`s of `workload`, over HTTP to an executor
//! process, each broken down by the executor's `Server-Timing` answer (series `precompiled`):
//! phase `init_<step>` / `run_<step>` for each step, `init_total` / `run_total` for the
//! handler, and `init_outside` / `run_outside` for what the client waited beyond it (its own
//! encoding, the request head and the answer on the wire, the server's HTTP parsing and
//! scheduling). Beside them, `GET /health` round trips (phase `health`): the least any request
//! to the executor costs this client.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use wow_runtime::ladder::STEPS;

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
            + spec.http_cold_starts as u64
            + spec.http_warm_runs as u64
    } else {
        0
    } + if docker {
        spec.docker_samples as u64
    } else {
        0
    };
    let bar = ctx.rec.bar(total, Experiment::Ladder.as_str());
    if wasm {
        let s = SeriesKey::new(
            Experiment::Ladder,
            Side::Wasm,
            Series::InProcess.as_str(),
            Config::Default,
            &workload,
        );
        match ctx.ladder_program()? {
            Some(program) => {
                run_child(ctx, &program, &s, &workload, spec.repetitions, &bar).await?
            }
            None => ctx.note(
                "ladder: this side's executor is not a wowbench binary, which alone runs the in-process ladder: its Wasm steps are not measured",
            ),
        }
        if spec.http_cold_starts + spec.http_warm_runs > 0 {
            http_breakdown(ctx, spec, &bar).await?;
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

/// Precompiled cold starts and warm runs over HTTP, each with the executor's steps.
async fn http_breakdown(
    ctx: &Ctx,
    spec: &LadderSpec,
    bar: &crate::progress::Progress,
) -> Result<()> {
    let b = ctx
        .backend(BackendKind::Wasm, Series::Precompiled, 1)
        .await?;
    let result = async {
        let client = b.client().traced();
        let key = |workload: &str| {
            SeriesKey::new(
                Experiment::Ladder,
                Side::Wasm,
                Series::Precompiled.as_str(),
                Config::Default,
                workload,
            )
        };
        let workload = ctx.workload(&spec.http_workload).to_string();
        let code = ctx.code(&workload)?;
        let body = code.init_body(BackendKind::Wasm).clone();
        super::cold_start::warm_artifact_cache(b.as_ref(), &code, &json!({})).await?;
        let s = key(&workload);
        for i in 0..spec.http_cold_starts {
            ctx.rec.cancel.check()?;
            let t = std::time::Instant::now();
            let sb = b.provision("breakdown").await?;
            let r = client.init(&sb.init_url(), body.clone()).await;
            let elapsed = t.elapsed();
            b.destroy(&sb).await?;
            let r = r?;
            if !r.ok() {
                bail!("a precompiled init failed: {}", r.error_text());
            }
            let cached = super::cold_start::expected_artifact(Series::Precompiled)
                .is_some_and(|allowed| r.artifact().is_some_and(|a| allowed.contains(&&*a)));
            if !cached {
                bail!("a precompiled init compiled: {:?}", r.artifact());
            }
            ctx.rec.latency(&s, 1, i, phase::COLD_START, elapsed)?;
            record_steps(ctx, &s, i, "init", elapsed, r.server_timing.as_deref())?;
            bar.inc(1);
        }
        if spec.http_warm_runs > 0 {
            let workload = ctx.workload(&spec.workload).to_string();
            let s = key(&workload);
            health_round_trips(ctx, &b, &s, spec).await?;
            let code = ctx.code(&workload)?;
            let (sb, r) =
                super::cold_start::cold_start_once(b.as_ref(), "warm-run", &code, &json!({})).await;
            let result = async {
                r.map_err(|e| anyhow!("the warm-run sandbox did not start: {e}"))?;
                let sb = sb.as_ref().expect("started");
                for i in 0..spec.http_warm_runs {
                    ctx.rec.cancel.check()?;
                    let body =
                        crate::backend::client::run_body(&json!({}), &sb.id, client.run_timeout);
                    let r = client.run(&sb.run_url(), body).await?;
                    if !r.ok() {
                        bail!("a warm run failed: {}", r.error_text());
                    }
                    ctx.rec.latency(&s, 1, i, phase::WARM_RUN, r.elapsed)?;
                    record_steps(ctx, &s, i, "run", r.elapsed, r.server_timing.as_deref())?;
                    bar.inc(1);
                }
                Ok(())
            }
            .await;
            if let Some(sb) = &sb {
                b.destroy(sb).await?;
            }
            result?;
        }
        b.healthy()
    }
    .await;
    ctx.release(&b).await;
    result
}

/// `GET /health` as many times as the warm runs (phase `health`): the same client, server and
/// connection with no sandbox work — what any request to the executor pays at least.
async fn health_round_trips(
    ctx: &Ctx,
    b: &crate::backend::AnyBackend,
    s: &SeriesKey,
    spec: &LadderSpec,
) -> Result<()> {
    let crate::backend::AnyBackend::Wasm(w) = b else {
        return Ok(());
    };
    let url = format!("{}/health", w.url());
    let http = b.client().http();
    for i in 0..spec.http_warm_runs {
        ctx.rec.cancel.check()?;
        let t = std::time::Instant::now();
        let r = http
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        let status = r.status();
        r.bytes().await?;
        let elapsed = t.elapsed();
        if !status.is_success() {
            bail!("GET /health answered {status}");
        }
        ctx.rec.latency(s, 1, i, phase::HEALTH, elapsed)?;
    }
    Ok(())
}

/// Records a request's steps as `<prefix>_<step>`, its handler as `<prefix>_total` and the rest
/// of what the client waited as `<prefix>_outside`. An executor that does not answer the steps
/// (an older build) leaves them absent.
fn record_steps(
    ctx: &Ctx,
    s: &SeriesKey,
    i: u32,
    prefix: &str,
    client: Duration,
    server_timing: Option<&str>,
) -> Result<()> {
    let Some(header) = server_timing else {
        return Ok(());
    };
    for (step, d) in wow_runtime::timing::parse(header) {
        ctx.rec.latency(s, 1, i, &format!("{prefix}_{step}"), d)?;
        if step == wow_runtime::timing::TOTAL {
            let outside = client.saturating_sub(d);
            ctx.rec
                .latency(s, 1, i, &format!("{prefix}_outside"), outside)?;
        }
    }
    Ok(())
}

/// Runs the pass engine's ladder in a child process and records each step it prints.
async fn run_child(
    ctx: &Ctx,
    program: &std::path::Path,
    s: &SeriesKey,
    workload: &str,
    repetitions: u32,
    bar: &crate::progress::Progress,
) -> Result<()> {
    let mut command = tokio::process::Command::new(program);
    command
        .arg("executor-ladder")
        .args(["--engine", ctx.engine().as_str()])
        .arg("--wasm")
        .arg(ctx.wasm_path(workload))
        .args(["--repetitions", &repetitions.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    crate::backend::wasm::die_with_parent(&mut command);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    if let (Some(cg), Some(pid)) = (&ctx.cgroup, child.id()) {
        for procs in &cg.executor_procs {
            std::fs::write(procs, pid.to_string())
                .with_context(|| format!("cannot move the ladder into {}", procs.display()))?;
        }
    }
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut seen = 0;
    while let Some(line) = lines.next_line().await? {
        ctx.rec.cancel.check()?;
        let t: super::ladder_child::StepTime =
            serde_json::from_str(&line).with_context(|| format!("the ladder printed {line:?}"))?;
        ctx.rec
            .latency(s, 1, t.rep, t.step.as_str(), Duration::from_nanos(t.ns))?;
        bar.inc(1);
        seen += 1;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() || seen == 0 {
        bail!(
            "the {} ladder failed ({}): {}",
            ctx.engine(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The `wowbench` binary that runs `executor-ladder`: this one, else one beside the running
/// test binary.
pub(crate) fn ladder_program() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the running binary")?;
    if exe.file_name().is_some_and(|n| n == "wowbench") {
        return Ok(exe);
    }
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join("wowbench"))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("cannot find the wowbench binary to run the ladder"))
}
