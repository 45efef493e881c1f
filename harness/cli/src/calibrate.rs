//! The device's CPU held against the paper's: single-threaded reference steps timed on the free
//! host and inside the device's limits, side by side at the start of a run, and their ratios
//! recorded in `meta.json` beside the paper's Pi-versus-server ratio of the executor's init.
//!
//! The steps: the native `hash` binary (the run's calibrated iterations, whole process), and
//! two rungs of the wasmtime start-up ladder of `hash.wasm` in a process of their own —
//! `compile` (what the paper's `initTime` mostly was) and `deserialize_file` (loading a
//! precompiled module, well under a millisecond). Medians of [`REPEATS`] each.
//!
//! With the kernel's smallest quota (1 ms) the CFS period sets the slowdown, but how much a
//! step is slowed also depends on the kernel's tick and bandwidth slices: the period is tuned
//! here, in a few tries, until the `hash` step runs as much slower as the paper's midpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use wow_records::LadderStep;

use crate::ctx::Ctx;
use crate::device::{DeviceProfile, Part};

/// Timings per step and side.
const REPEATS: u32 = 5;
/// Ladder runs per side: a compile inside the device takes seconds.
const LADDER_REPEATS: u32 = 3;
/// Periods tried at most while tuning.
const TUNING_TRIES: usize = 5;
/// How close to the paper's midpoint the tuned slowdown must come.
const TOLERANCE: f64 = 0.1;
/// The `hash` step's length on the free host, ms.
const HASH_TARGET_MS: f64 = 20.0;

/// One reference step on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceStep {
    pub step: String,
    pub host_ms: f64,
    pub device_ms: f64,
    /// `device_ms / host_ms`.
    pub slowdown: f64,
}

/// Times the reference steps on the host and in the device's `wasm` part (the same limits as
/// the `docker` part) and returns what `meta.json` records under `calibration.device_cpu`.
pub async fn device_cpu(ctx: &Ctx, profile: &DeviceProfile) -> Result<serde_json::Value> {
    let Some(cgroup) = &ctx.cgroup else {
        bail!("the device has no cgroup to calibrate");
    };
    let procs = cgroup.procs_of(Part::Wasm).to_vec();
    let iterations = ctx.hash_iterations(HASH_TARGET_MS)?;
    let hash = ctx.artifacts.native("hash", &ctx.native_target);
    let wasm = ctx.artifacts.wasm("hash");
    let ladder = crate::experiments::ladder::ladder_program()?;
    let target = profile
        .paper_slowdown
        .as_ref()
        .map(|p| (p.ratio[0] + p.ratio[1]) / 2.0);
    let params = format!("{{\"iterations\": {iterations}}}");
    let hash_step = format!("native hash, {iterations} iterations (whole process)");
    // The period, tuned: the slowdown of the hash step grows with it, about in proportion.
    let mut tries = Vec::new();
    let host_hash = blocking({
        let (hash, params) = (hash.clone(), params.clone());
        move || time_process(&hash, &params, &[])
    })
    .await?;
    let mut device_hash = f64::NAN;
    for _ in 0..TUNING_TRIES {
        let period = cgroup.cpu_limit().map_or(0, |(_, p)| p);
        device_hash = blocking({
            let (hash, params, procs) = (hash.clone(), params.clone(), procs.clone());
            move || time_process(&hash, &params, &procs)
        })
        .await?;
        let ratio = device_hash / host_hash;
        tries.push(serde_json::json!({"period_us": period, "slowdown": ratio}));
        let Some(target) = target else { break };
        if (ratio / target - 1.0).abs() <= TOLERANCE || period == 0 {
            break;
        }
        let next = ((period as f64 * target / ratio).round() as u64).clamp(2_000, 1_000_000);
        cgroup.set_cpu_period(next)?;
    }
    let mut steps = vec![step(hash_step, host_hash, device_hash)];
    let (host, device) = blocking(move || {
        Ok((
            ladder_medians(&ladder, &wasm, &[])?,
            ladder_medians(&ladder, &wasm, &procs)?,
        ))
    })
    .await?;
    for (name, label) in [
        (LadderStep::Compile, "wasmtime: compile hash.wasm"),
        (
            LadderStep::DeserializeFile,
            "wasmtime: load precompiled hash (deserialize_file)",
        ),
    ] {
        if let (Some(h), Some(d)) = (host.get(&name), device.get(&name)) {
            steps.push(step(label.to_string(), *h, *d));
        }
    }
    for s in &steps {
        ctx.rec.note(&format!(
            "device CPU: {}: {:.3} ms on the host, {:.3} ms on {} ({:.1}×)",
            s.step, s.host_ms, s.device_ms, profile.name, s.slowdown
        ));
    }
    Ok(serde_json::json!({
        "method": format!(
            "median of {REPEATS} (ladder steps: {LADDER_REPEATS}) on the free host and inside the \
             device's limits, one after the other at the start of the run; the CFS period tuned \
             until the hash step's slowdown is within {:.0}% of the paper's midpoint",
            TOLERANCE * 100.0
        ),
        "cpu_limit": cgroup.cpu_limit().map(|(q, p)| serde_json::json!({"quota_us": q, "period_us": p})),
        "target_slowdown": target,
        "tuning": tries,
        "steps": steps,
        "paper_slowdown": profile.paper_slowdown,
    }))
}

/// Runs blocking work (processes timed one after another) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("the calibration panicked")?
}

fn step(name: String, host_ms: f64, device_ms: f64) -> ReferenceStep {
    ReferenceStep {
        step: name,
        host_ms,
        device_ms,
        slowdown: device_ms / host_ms.max(1e-6),
    }
}

/// Median wall time of running `binary` with `params` on stdin, in the cgroups of `procs`
/// (none: on the free host).
fn time_process(binary: &Path, params: &str, procs: &[PathBuf]) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..REPEATS {
        let mut cmd = Command::new(binary);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        crate::device::enter_before_exec(&mut cmd, procs, libc::SIGKILL)?;
        let t = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped");
            stdin.write_all(params.as_bytes())?;
        }
        let status = child.wait()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if !status.success() {
            bail!("the reference step {} failed: {status}", binary.display());
        }
    }
    Ok(median(times))
}

/// Medians per ladder step of `wowbench executor-ladder` on `wasm`, in the cgroups of `procs`.
fn ladder_medians(
    program: &Path,
    wasm: &Path,
    procs: &[PathBuf],
) -> Result<std::collections::BTreeMap<LadderStep, f64>> {
    let mut cmd = Command::new(program);
    cmd.args(["executor-ladder", "--engine", "wasmtime", "--wasm"])
        .arg(wasm)
        .args(["--repetitions", &LADDER_REPEATS.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::device::enter_before_exec(&mut cmd, procs, libc::SIGKILL)?;
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "the reference ladder failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut by_step: std::collections::BTreeMap<LadderStep, Vec<f64>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let t: crate::experiments::ladder_child::StepTime =
            serde_json::from_str(line).with_context(|| format!("the ladder printed {line:?}"))?;
        by_step.entry(t.step).or_default().push(t.ns as f64 / 1e6);
    }
    Ok(by_step.into_iter().map(|(k, v)| (k, median(v))).collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
