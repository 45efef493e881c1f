//! `ladder`: the Wasm start-up ladder of the pass's engine (compile, deserialize, InstancePre,
//! on-demand and — wasmtime — pooled instantiation, a fresh run, a pre-warmed run), beside
//! Docker's cold-start phases (create, start, ready, init, first run), for the "why is it
//! faster" chart.
//!
//! Each engine's ladder runs in a child process (`wowbench executor-ladder`): one engine per
//! process, and inside the device's cgroup like an executor.

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

/// Runs the pass engine's ladder in a child process and records each step it prints.
async fn run_child(
    ctx: &Ctx,
    program: &std::path::Path,
    s: &SeriesKey,
    workload: &str,
    repetitions: u32,
    bar: &indicatif::ProgressBar,
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
