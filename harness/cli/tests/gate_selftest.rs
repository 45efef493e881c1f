//! The regression gate's self-test, run as CI runs the gate: `wowbench run ci` as a paired run
//! (`--baseline-executor`) and `wowbench compare` of its two sides.
//!
//! 1. This build's executor against itself: the gate must pass.
//! 2. This build's executor slowed down against itself: the `inject-slowdown` feature
//!    (`runtime/executor/src/inject.rs`, turned on for this crate's tests only) busy-waits on
//!    every init and every run, sized at 20% of the medians step 1 measured — the Wasm
//!    `precompiled` cold start at 1 concurrent and the warm `/run` of `noop`. The gate must fail
//!    and name both groups.
//!
//! The test profile's (debug) binaries run the Wasm side of the `ci` suite (`--backends wasm`:
//! Docker's groups are the same image on both sides of a paired run, so they add time and no
//! check). 6 to 10 minutes on 2 cores, depending on what else runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const COLD_C1: &str = "cold-start wasm/precompiled noop c1 cold_start latency";
const WARM_RUN: &str = "cold-start wasm/precompiled noop c1 warm_run latency";
const INIT_C1: &str = "cold-start wasm/precompiled noop c1 init latency";

fn wowbench() -> &'static str {
    env!("CARGO_BIN_EXE_wowbench")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wowbench-selftest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An executable script in `dir` that serves this build's executor with `env` set.
fn executor_script(dir: &Path, name: &str, env: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\n{env} exec '{}' executor \"$@\"\n", wowbench()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `wowbench run ci` as a paired run: `baseline` against `candidate`, both scripts that serve
/// this build's executor (so that both sides run the same file, as two builds would each run
/// their own). Returns the candidate's run folder.
fn paired_ci_run(out: &Path, run_id: &str, baseline: &Path, candidate: &Path) -> PathBuf {
    let mut cmd = Command::new(wowbench());
    cmd.args(["run", "ci", "--backends", "wasm", "--quiet", "--no-report"])
        .args(["--run-id", run_id, "--out"])
        .arg(out)
        .arg("--baseline-executor")
        .arg(baseline)
        .env("WOWBENCH_EXECUTOR", candidate)
        .env_remove("WOW_INJECT_INIT_US")
        .env_remove("WOW_INJECT_RUN_US");
    let t = std::time::Instant::now();
    let o = cmd.output().expect("run wowbench");
    eprintln!(
        "paired ci run {run_id}: {:.0} s, exit {}",
        t.elapsed().as_secs_f64(),
        o.status
    );
    assert!(
        o.status.success(),
        "the paired ci run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let dir = PathBuf::from(last);
    assert_eq!(dir, out.join(run_id), "the last line names the run folder");
    let baseline = out.join(format!("{run_id}-baseline"));
    assert!(
        baseline.join("records.csv").is_file(),
        "the baseline side is written beside the run"
    );
    dir
}

/// `wowbench compare` of a paired run's two sides: exit status, JSON, stderr.
fn compare(run: &Path) -> (i32, Value, String) {
    let baseline = PathBuf::from(format!("{}-baseline", run.display()));
    let o: Output = Command::new(wowbench())
        .arg("compare")
        .arg(&baseline)
        .arg(run)
        .args(["--format", "json"])
        .output()
        .expect("run wowbench compare");
    let json: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "compare printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (
        o.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn group<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

fn describe(json: &Value, name: &str) -> String {
    let g = group(json, name);
    format!(
        "{name}: {} → {} ({:+.1}%, CI {}, {}, detectable {}): {}",
        g["baseline_value"],
        g["current_value"],
        g["change_pct"],
        g["ci95_pct"],
        g["method"],
        g["detectable_pct"],
        g["verdict"]
    )
}

#[test]
fn the_gate_passes_an_identical_build_and_fails_one_20_percent_slower() {
    let out = scratch();

    // 1. Identical builds.
    let same = executor_script(&out, "wowbench-plain", "");
    let plain = paired_ci_run(&out, "plain", &same, &same);
    let (status, json, stderr) = compare(&plain);
    for name in [COLD_C1, INIT_C1, WARM_RUN] {
        eprintln!("identical: {}", describe(&json, name));
        assert_eq!(
            group(&json, name)["method"],
            "paired-ranks",
            "a paired run's sides are compared block by block, by the signed-rank interval"
        );
    }
    assert_eq!(
        status, 0,
        "identical builds must pass the gate; it flagged: {stderr}"
    );

    // 2. The same build, 20% slower on init and run.
    let median = |name: &str| {
        group(&json, name)["baseline_value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} has a baseline median"))
    };
    let init_us = (0.2 * median(COLD_C1)).round() as u64;
    let run_us = (0.2 * median(WARM_RUN)).round() as u64;
    assert!(init_us > 0 && run_us > 0);
    eprintln!("injecting {init_us} µs into every init and {run_us} µs into every run");
    let slow = executor_script(
        &out,
        "wowbench-slower",
        &format!("WOW_INJECT_INIT_US={init_us} WOW_INJECT_RUN_US={run_us}"),
    );
    let injected = paired_ci_run(&out, "injected", &same, &slow);
    let log = std::fs::read_dir(injected.join("work"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("executor.stderr.log")).ok())
        .collect::<String>();
    assert!(
        log.contains("inject-slowdown"),
        "the candidate's executors say they inject a slowdown"
    );
    let (status, json, stderr) = compare(&injected);
    for name in [COLD_C1, INIT_C1, WARM_RUN] {
        eprintln!("injected: {}", describe(&json, name));
    }
    assert_eq!(status, 1, "a 20% slower build must fail the gate: {stderr}");
    for name in [COLD_C1, WARM_RUN] {
        assert_eq!(group(&json, name)["verdict"], "regression", "{name}");
        assert!(
            stderr.contains(&format!("regression: {name}")),
            "the gate names {name}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
