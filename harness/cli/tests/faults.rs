//! Faults in the middle of a run: an unreachable engine, an unwritable or full results folder,
//! Ctrl-C, a container killed and the executor killed while measuring (signals on the edge
//! device, with its dedicated engine: `tests/device.rs`). Each must end in a clear
//! message, records that parse, `meta.json` telling the truth, and no container left behind.

mod harness;

use std::time::Duration;

use harness::*;

const COLD_START: &str = r#"
[[experiment]]
kind = "cold-start"
levels = [1]
repetitions = 1
workload = "noop"
params = {}
wasm_variants = ["precompiled"]
docker_variants = ["create-start"]
"#;

#[test]
fn docker_unreachable_is_a_clear_error_and_wasm_alone_still_runs() {
    let dir = scratch("nodocker");
    let suite = dir.join("s.toml");
    std::fs::write(&suite, format!("name = \"t\"\n{COLD_START}")).unwrap();
    let out_dir = dir.join("results");
    let base = [
        "run",
        suite.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "-q",
        "--no-report",
        "--docker-host",
        "unix:///nonexistent/docker.sock",
    ];
    let out = wowbench(&base);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Docker") && err.contains("--backends wasm"),
        "the error should say what is wrong and what still works:\n{err}"
    );
    let mut wasm_only = base.to_vec();
    wasm_only.extend(["--backends", "wasm"]);
    let out = wowbench(&wasm_only);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unwritable_results_folder_fails_before_anything_runs() {
    let out = wowbench(&["run", "cold-start", "--out", "/proc/wowbench-results", "-q"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("results folder"), "{err}");
}

#[test]
fn a_full_disk_fails_before_anything_runs() {
    let dir = scratch("full");
    let mount = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount");
    assert!(
        mount.success(),
        "this test mounts a 256 KiB tmpfs and needs root to do it"
    );
    let out = wowbench(&["run", "cold-start", "--out", dir.to_str().unwrap(), "-q"]);
    let _ = std::process::Command::new("umount").arg(&dir).status();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not writable (or the disk is full)"), "{err}");
}

#[test]
fn ctrl_c_keeps_the_records_says_incomplete_and_leaves_no_container() {
    require_docker();
    let (child, run_id, dir) = spawn_run(
        r#"
[[experiment]]
kind = "cold-start"
levels = [3]
repetitions = 50
workload = "noop"
params = {}
wasm_variants = []
docker_variants = ["create-start"]
"#,
        &[],
    );
    wait_for(
        "records and live containers",
        Duration::from_secs(120),
        || data_rows(&dir) > 0 && !containers_of(&run_id).is_empty(),
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert_eq!(std::path::Path::new(&last), dir);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "incomplete");
    assert!(
        meta["status_reason"]
            .as_str()
            .unwrap()
            .contains("interrupted")
    );
    let records = wow_records::writer::read_records(&dir.join("records.csv")).unwrap();
    assert!(!records.is_empty());
    assert!(dir.join("summary.csv").is_file());
    assert_no_containers(&run_id);
}

#[test]
fn a_container_killed_mid_run_is_counted_and_the_run_goes_on() {
    require_docker();
    let (child, run_id, dir) = spawn_run(
        r#"
[[experiment]]
kind = "throughput"
clients = [4]
mixes = ["io"]
configs = ["fair"]
warmup_s = 0.5
window_s = 8.0
sleep_ms = 100
"#,
        &["--backends", "docker"],
    );
    // The load generator's ceiling comes first; then the Docker sandboxes start.
    wait_for(
        "Docker sandboxes under load",
        Duration::from_secs(120),
        || containers_of(&run_id).len() >= 2 && data_rows(&dir) > 0,
    );
    std::thread::sleep(Duration::from_secs(2));
    let victim = containers_of(&run_id).remove(0);
    let killed = std::process::Command::new("docker")
        .args(["kill", &victim])
        .output()
        .unwrap();
    assert!(killed.status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the run must go on:\n{err}");
    let records = wow_records::writer::read_records(&dir.join("records.csv")).unwrap();
    let errors = records
        .iter()
        .find(|r| r.backend == "docker" && r.metric == "errors")
        .expect("an errors row");
    assert!(
        errors.value >= 1.0,
        "the failed requests are counted: {errors:?}"
    );
    let tput = records
        .iter()
        .find(|r| r.backend == "docker" && r.metric == "throughput")
        .unwrap();
    assert!(
        tput.ok && tput.value > 0.0,
        "and the rest was measured: {tput:?}"
    );
    let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    assert!(meta.contains("\"complete\""), "{meta}");
    assert!(
        meta.contains("errors, first"),
        "the errors are in the notes: {meta}"
    );
    assert_no_containers(&run_id);
}

#[test]
fn an_executor_killed_mid_run_stops_the_experiment_with_a_clear_message() {
    let (child, _run_id, dir) = spawn_run(
        r#"
[[experiment]]
kind = "throughput"
clients = [2, 2, 2]
mixes = ["io"]
configs = ["fair"]
warmup_s = 0.5
window_s = 3.0
sleep_ms = 50
"#,
        &["--backends", "wasm"],
    );
    let work = dir.join("work");
    let mut executor = None;
    wait_for("the executor", Duration::from_secs(120), || {
        executor = wowbench::procfs::find_processes(|c| {
            c.contains(" executor ") && c.contains(work.to_str().unwrap())
        })
        .first()
        .copied();
        executor.is_some() && data_rows(&dir) > 0
    });
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: killing the executor this test's run started.
    unsafe { libc::kill(executor.unwrap() as i32, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exited during the run"), "{err}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "incomplete");
    assert!(
        meta["status_reason"]
            .as_str()
            .unwrap()
            .contains("exited during the run"),
        "{meta}"
    );
    wow_records::writer::read_records(&dir.join("records.csv")).unwrap();
}

#[test]
fn clean_takes_a_run_id_and_leaves_other_runs_alone() {
    require_docker();
    let out = wowbench(&["clean"]);
    assert!(
        !out.status.success(),
        "clean without a run id or --all must refuse"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--all"), "{err}");

    // Two runs' leftovers: a container and a device cgroup each.
    let image = std::process::Command::new("docker")
        .args(["images", "-q", "--filter", "label=wowbench=1"])
        .output()
        .unwrap();
    let image = String::from_utf8_lossy(&image.stdout)
        .lines()
        .next()
        .map(str::to_string);
    let Some(image) = image else {
        panic!("no wowbench proxy image on the engine: run the Docker tests first (they build it)")
    };
    let (mine, other) = (unique("clean-a"), unique("clean-b"));
    for run in [&mine, &other] {
        let ok = std::process::Command::new("docker")
            .args(["create", "--label", "wowbench=1", "--label"])
            .arg(format!("wowbench.run={run}"))
            .arg(&image)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{ok:?}");
        let hierarchy = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "/sys/fs/cgroup"
        } else {
            "/sys/fs/cgroup/memory"
        };
        std::fs::create_dir_all(format!("{hierarchy}/wowbench-pi3-{run}")).unwrap();
    }
    let out = wowbench(&["clean", &mine]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(containers_of(&mine).is_empty());
    assert!(cgroups_of(&mine).is_empty(), "{:?}", cgroups_of(&mine));
    let spared = (containers_of(&other).len(), cgroups_of(&other).len());
    // Tidy up the other run before asserting, so a failure leaves nothing behind.
    let _ = wowbench(&["clean", &other]);
    assert_eq!(spared, (1, 1), "another run's leftovers must be left alone");
}

#[test]
fn the_executor_dies_with_the_harness_even_under_kill_9() {
    // The memory experiment's long settle keeps the executor idle (so nothing but the
    // parent-death signal can end it) when the harness is killed.
    let (mut child, _run_id, dir) = spawn_run(
        r#"
[[experiment]]
kind = "memory"
sandboxes = [1]
workload = "noop"
params = {}
wasm_variants = ["shared"]
docker_variants = []
module_sizes = false
settle_ms = 30000
"#,
        &["--backends", "wasm"],
    );
    let run_dir = dir.to_str().unwrap().to_string();
    wait_for("a running executor", Duration::from_secs(120), || {
        !processes_naming(&run_dir).is_empty()
    });
    std::thread::sleep(Duration::from_secs(3)); // into the settle
    child.kill().unwrap(); // SIGKILL: no handler, no cleanup code runs
    child.wait().unwrap();
    wait_for(
        "the executor to die with the harness (parent-death signal)",
        Duration::from_secs(10),
        || processes_naming(&run_dir).is_empty(),
    );
}
