//! The edge device: while a `pi3` run lasts, the whole Docker stack — the run's dedicated
//! engine, its containerd, the shims, docker-proxy, the storage helpers and the containers — is
//! inside the device's cgroup (sampled from the process tree and asserted); after the run, and
//! after Ctrl-C, SIGTERM, SIGHUP or a second signal mid-run, no dedicated engine, cgroup, bridge
//! or container is left, and the system engine works as before.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::*;
use wowbench::backend::docker::dedicated::stack_processes;
use wowbench::device::Part;
use wowbench::inside_limits::{exiting, in_part};

/// Cold starts of both backends on `pi3`, long enough to sample or to interrupt.
fn cold_start(repetitions: u32) -> String {
    format!(
        r#"
[[experiment]]
kind = "cold-start"
levels = [2]
repetitions = {repetitions}
workload = "noop"
params = {{}}
wasm_variants = ["precompiled"]
docker_variants = ["create-start"]
warm_runs = 0
"#
    )
}

/// One sample of the engine's stack: the names inside the `docker` part, and the processes
/// outside it (still running, not exiting).
fn sample(
    e: &wowbench::backend::docker::dedicated::EnginePaths,
    cgroup: &str,
    inside: &mut BTreeSet<String>,
    outside: &mut Vec<String>,
) {
    for (pid, comm) in stack_processes(e) {
        let Some(cg) = wowbench::procfs::cgroups(pid) else {
            continue;
        };
        if in_part(&cg, cgroup, Part::Docker) {
            inside.insert(comm);
        } else if !exiting(pid) {
            outside.push(format!("{comm} ({pid}): {}", cg.replace('\n', " ")));
        }
    }
}

#[test]
fn a_pi3_run_keeps_the_whole_docker_stack_inside_the_device_and_leaves_nothing() {
    require_docker();
    let system = SystemEngine::capture();
    let (mut child, run_id, dir) = spawn_run(&cold_start(4), &["--device", "pi3"]);
    let cgroup = format!("wowbench-pi3-{run_id}");
    let (mut inside, mut outside, mut samples) = (BTreeSet::new(), Vec::new(), 0);
    let mut engine = None;
    while child.try_wait().unwrap().is_none() {
        if engine.is_none() {
            engine = dedicated_engine(&dir);
        }
        if let Some(e) = &engine {
            sample(e, &cgroup, &mut inside, &mut outside);
            samples += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let engine = engine.expect("meta.json names the dedicated engine");
    assert!(samples > 20, "only {samples} samples of the engine");
    assert!(
        outside.is_empty(),
        "outside the device's cgroup: {outside:#?}"
    );
    for name in [
        "dockerd",
        "containerd",
        "containerd-shim",
        "docker-proxy",
        "fuse-overlayfs",
    ] {
        assert!(
            inside.contains(name),
            "{name} never seen inside; saw {inside:?}"
        );
    }

    // The harness's own account agrees.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let listed: Vec<&str> = meta["device"]["inside_limits"]["docker"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for name in [
        "dockerd",
        "containerd",
        "containerd-shim",
        "docker-proxy",
        "wow-proxy",
    ] {
        assert!(
            listed.contains(&name),
            "{name} not in meta.json: {listed:?}"
        );
    }
    assert_eq!(meta["device"]["outside_limits"], serde_json::json!([]));
    assert_eq!(meta["device"]["not_covered"], "");
    assert_eq!(meta["device"]["docker_engine"]["kind"], "dedicated");
    assert!(
        meta["docker"]["endpoint"]
            .as_str()
            .unwrap()
            .contains("/run/wowbench/")
    );
    // The CPU calibration: the reference step is slowed about as much as the paper's Pi was.
    let cal = &meta["calibration"]["device_cpu"];
    let hash = &cal["steps"][0];
    let slowdown = hash["slowdown"].as_f64().unwrap();
    assert!(
        (8.0..40.0).contains(&slowdown),
        "hash step {slowdown}× slower: {cal}"
    );
    assert!(
        cal["paper_slowdown"]["ratio"][0].as_f64().unwrap() > 10.0,
        "{cal}"
    );
    assert_eq!(
        meta["device"]["memory"]["docker"]["oom_kills"],
        serde_json::json!(0)
    );

    assert_engine_gone(&engine);
    assert!(cgroups_of(&run_id).is_empty(), "{:?}", cgroups_of(&run_id));
    system.assert_unchanged(&run_id);
}

/// A `pi3` run of both backends, stopped by `signals` (sent `gap` apart) once it has containers
/// in its dedicated engine, an executor and its device cgroups: it must exit 130, say in
/// `meta.json` that it was interrupted (and by what), and leave no container, executor,
/// engine, bridge or cgroup behind, and the system engine as it was.
fn interrupted_pi3_run(signals: &[i32], gap: Duration) -> serde_json::Value {
    require_docker();
    let system = SystemEngine::capture();
    let (child, run_id, dir) = spawn_run(&cold_start(50), &["--device", "pi3"]);
    wait_for(
        "a running executor in the device cgroup",
        Duration::from_secs(300),
        || !processes_naming(dir.to_str().unwrap()).is_empty() && !cgroups_of(&run_id).is_empty(),
    );
    let mut engine = None;
    wait_for(
        "records and live containers in the dedicated engine",
        Duration::from_secs(300),
        || {
            engine = engine.clone().or_else(|| dedicated_engine(&dir));
            engine.as_ref().is_some_and(|e| {
                data_rows(&dir) > 0 && !containers_on(Some(&e.host), &run_id).is_empty()
            })
        },
    );
    for (i, sig) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(gap);
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, *sig) };
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    wait_for(
        "the executor to die with the harness",
        Duration::from_secs(10),
        || processes_naming(dir.to_str().unwrap()).is_empty(),
    );
    assert_engine_gone(&engine.unwrap());
    assert_no_containers(&run_id);
    assert!(
        cgroups_of(&run_id).is_empty(),
        "device cgroups left: {:?}",
        cgroups_of(&run_id)
    );
    system.assert_unchanged(&run_id);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "incomplete", "{meta}");
    meta
}

#[test]
fn ctrl_c_ends_a_pi3_run_and_leaves_no_engine_container_executor_or_cgroup() {
    let meta = interrupted_pi3_run(&[libc::SIGINT], Duration::ZERO);
    let reason = meta["status_reason"].as_str().unwrap();
    assert!(reason.contains("interrupted (SIGINT)"), "{reason}");
}

#[test]
fn sigterm_ends_a_run_like_ctrl_c_and_leaves_no_engine_container_executor_or_cgroup() {
    let meta = interrupted_pi3_run(&[libc::SIGTERM], Duration::ZERO);
    let reason = meta["status_reason"].as_str().unwrap();
    assert!(reason.contains("interrupted (SIGTERM)"), "{reason}");
}

#[test]
fn sighup_ends_a_run_like_ctrl_c_and_leaves_no_engine_container_executor_or_cgroup() {
    let meta = interrupted_pi3_run(&[libc::SIGHUP], Duration::ZERO);
    let reason = meta["status_reason"].as_str().unwrap();
    assert!(reason.contains("interrupted (SIGHUP)"), "{reason}");
}

#[test]
fn a_second_signal_exits_at_once_after_sweeping_the_engine() {
    let meta = interrupted_pi3_run(&[libc::SIGTERM, libc::SIGINT], Duration::from_millis(1500));
    let reason = meta["status_reason"].as_str().unwrap();
    assert!(reason.contains("interrupted"), "{reason}");
}

#[test]
fn an_oom_kill_inside_a_part_is_counted_and_the_harness_survives() {
    use wowbench::device::{DeviceCgroup, DeviceProfile};
    let profile = DeviceProfile {
        name: "oom-test".into(),
        cpus: None,
        cpu_period_us: 100_000,
        memory_bytes: Some(64 << 20),
        paper_slowdown: None,
        description: "a 64 MiB device".into(),
    };
    let run_id = unique("oom");
    let cg = DeviceCgroup::create(&profile, &run_id, false)
        .expect("needs root and the memory controller")
        .expect("a profile with limits has a cgroup");
    // `tail` keeps an endless line in memory until the limit stops it.
    let mut cmd = std::process::Command::new("tail");
    cmd.arg("/dev/zero");
    wowbench::device::enter_before_exec(&mut cmd, cg.procs_of(Part::Wasm), libc::SIGKILL).unwrap();
    let status = cmd.status().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(cg.oom_kills(Part::Wasm), 1);
    assert_eq!(cg.oom_kills(Part::Docker), 0);
    let report = cg.memory_report();
    assert_eq!(report["wasm"]["oom_kills"], 1, "{report}");
    assert!(
        report["wasm"]["peak_bytes"].as_u64().unwrap() >= 60 << 20,
        "{report}"
    );
    drop(cg);
    assert!(
        wowbench::device::everywhere(&format!("wowbench-oom-test-{run_id}"))
            .iter()
            .all(|d| !d.exists())
    );
}
