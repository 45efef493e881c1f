//! `wowbench run` as a user drives it: a smoke run of every experiment against the real
//! backends (tiny settings), the run folder it leaves, and bad input.
//!
//! These tests need the Docker engine; without it they fail, saying so.

mod harness;

use harness::*;

/// Each experiment in a tiny TOML suite through both backends, on the reference engine (every
/// engine at once: `engines_side_by_side`).
fn smoke(experiment_toml: &str, expect_series: &[(&str, &str)]) -> Run {
    require_docker();
    let run = wowbench_run(&["--quick", "--engines", "wasmtime"], experiment_toml);
    assert!(run.ok(), "run failed:\n{}", run.stderr);
    let meta = run.meta();
    assert_eq!(meta["status"], "complete", "{meta}");
    let records = run.records();
    assert!(!records.is_empty());
    for (backend, variant) in expect_series {
        assert!(
            records
                .iter()
                .any(|r| r.backend == *backend && r.variant == *variant && r.ok),
            "no successful {backend}/{variant} rows in {}",
            run.dir.display()
        );
    }
    assert!(run.dir.join("summary.csv").is_file());
    assert!(run.dir.join("report/report.md").is_file());
    assert_no_containers(&run.run_id);
    run
}

#[test]
fn cold_start_smoke() {
    let run = smoke(
        r#"
[[experiment]]
kind = "cold-start"
levels = [1, 2]
repetitions = 1
workload = "noop"
params = {}
"#,
        &[
            ("wasm", "compile"),
            ("wasm", "precompiled"),
            ("docker", "create-start"),
            ("docker", "prestarted"),
            ("docker", "host-net"),
            ("docker", "skeleton"),
            ("docker", "docker-wasm"),
        ],
    );
    let r = run.records();
    // The warm-run group: every series' `noop` runs on one warm sandbox, all successful.
    for variant in ["precompiled", "create-start", "skeleton", "docker-wasm"] {
        let warm: Vec<_> = r
            .iter()
            .filter(|x| x.variant == variant && x.phase == "warm_run")
            .collect();
        assert_eq!(warm.len(), 1000, "{variant}");
        assert!(
            warm.iter().all(|x| x.ok && x.workload == "noop"),
            "{variant}"
        );
    }
    // Every sample has all its phases; Docker's provision is split into its parts.
    for phase in [
        "provision",
        "init",
        "first_run",
        "cold_start",
        "first_response",
    ] {
        assert_eq!(
            r.iter()
                .filter(|x| x.phase == phase && x.variant == "precompiled")
                .count(),
            3,
            "{phase}"
        );
    }
    assert!(
        r.iter()
            .any(|x| x.backend == "docker" && x.phase == "ready")
    );
    // first_response = provision + init + first_run, per sample.
    let get = |phase: &str| {
        r.iter()
            .find(|x| x.variant == "create-start" && x.concurrency == 1 && x.phase == phase)
            .unwrap()
            .value
    };
    let sum = get("provision") + get("init") + get("first_run");
    assert!((get("first_response") - sum).abs() < 1.0);
}

#[test]
fn memory_smoke() {
    let run = smoke(
        r#"
[[experiment]]
kind = "memory"
repetitions = 1
sandboxes = [1, 3]
module_size_sandboxes = 2
settle_ms = 100
"#,
        &[
            ("wasm", "distinct"),
            ("wasm", "shared"),
            ("docker", "create-start"),
            ("docker", "skeleton"),
            ("docker", "docker-wasm"),
            ("wasm", "module-debug"),
        ],
    );
    let r = run.records();
    for (backend, variant) in [("wasm", "shared"), ("docker", "create-start")] {
        for method in ["paper", "full"] {
            let v = r
                .iter()
                .find(|x| {
                    x.backend == backend
                        && x.variant == variant
                        && x.concurrency == 3
                        && x.phase == method
                        && x.metric == "memory_per_sandbox"
                })
                .unwrap_or_else(|| panic!("{backend} {variant} {method}"));
            assert!(v.ok && v.value > 0.0, "{v:?}");
        }
    }
    let size = |v: &str| {
        r.iter()
            .find(|x| x.variant == v && x.metric == "module_size")
            .unwrap()
            .value
    };
    assert!(size("module-debug") > size("module-release-lto"));
    // The system method: taken as root (the page cache can be dropped), said to be skipped
    // otherwise.
    let notes: Vec<String> = run.meta()["notes"]
        .as_array()
        .expect("notes in meta.json")
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        assert!(
            notes.iter().any(|n| n.contains("page cache was dropped")),
            "{notes:?}"
        );
        for (backend, variant) in [("wasm", "shared"), ("docker", "create-start")] {
            let v = r
                .iter()
                .find(|x| {
                    x.backend == backend
                        && x.variant == variant
                        && x.concurrency == 3
                        && x.phase == "system"
                        && x.metric == "memory_per_sandbox"
                })
                .unwrap_or_else(|| panic!("{backend} {variant} system"));
            assert!(v.ok && v.value.abs() < 1024.0 * 1048576.0, "{v:?}");
        }
    } else {
        assert!(
            notes.iter().any(|n| n.contains("system method skipped")),
            "{notes:?}"
        );
    }
}

#[test]
fn throughput_smoke() {
    let run = smoke(
        r#"
[[experiment]]
kind = "throughput"
repetitions = 1
clients = [2]
mixes = ["mixed"]
configs = ["paper", "fair"]
# Long enough that a first cold start on a busy 2-core machine still leaves completions in it.
warmup_s = 1.0
window_s = 3.0
hash_target_ms = 5
sleep_ms = 50
"#,
        &[
            ("wasm", "precompiled"),
            ("docker", "create-start"),
            ("client", "loopback"),
        ],
    );
    let r = run.records();
    for backend in ["wasm", "docker"] {
        for config in ["paper", "fair"] {
            let t = r
                .iter()
                .find(|x| x.backend == backend && x.config == config && x.metric == "throughput")
                .unwrap();
            assert!(t.ok && t.value > 0.0, "{t:?}");
        }
    }
    // A histogram per load group, and the calibration recorded.
    let hists = std::fs::read_dir(run.dir.join("histograms"))
        .unwrap()
        .count();
    assert!(hists >= 4, "{hists} histograms");
    assert!(run.meta()["calibration"].to_string().contains("iterations"));
    let ceiling = r
        .iter()
        .find(|x| x.phase == "ceiling" && x.metric == "throughput")
        .unwrap();
    assert!(ceiling.value > 100.0, "{ceiling:?}");
}

/// The window lasts until the level is steady: against a real executor, four clients of a
/// 300 ms `sleep` get a longer window than of a 20 ms one (five answers each take at least
/// 1.5 s), both reach a steady state, and the requests in flight when the window closed are
/// counted (a closed loop of four clients always has some).
#[test]
fn throughput_window_adapts_to_the_latency() {
    let measure = |sleep_ms: u32| {
        let run = smoke(
            &format!(
                r#"
[[experiment]]
kind = "throughput"
clients = [4]
mixes = ["io"]
configs = ["fair"]
docker_variants = []
repetitions = 1
warmup_s = 0.2
window_s = 0.5
window_max_s = 30.0
steady_per_client = 5.0
sleep_ms = {sleep_ms}
"#
            ),
            &[("wasm", "precompiled")],
        );
        let r = run.records();
        let get = |metric: &str| {
            r.iter()
                .find(|x| x.backend == "wasm" && x.phase == "warm" && x.metric == metric)
                .unwrap_or_else(|| panic!("no {metric} row"))
                .value
        };
        (get("elapsed"), get("steady"), get("in_flight"))
    };
    let (short, short_steady, _) = measure(20);
    let (long, long_steady, in_flight) = measure(300);
    assert_eq!((short_steady, long_steady), (1.0, 1.0));
    assert!(long >= 1.5, "{long} s");
    assert!(long > short, "{long} s vs {short} s");
    assert!((1.0..=4.0).contains(&in_flight), "{in_flight}");
}

#[test]
fn capacity_smoke() {
    let run = smoke(
        r#"
[[experiment]]
kind = "capacity"
start = 4
ceiling = 8
repetitions = 1
sleep_ms = 100
window_s = 1.0
per_sandbox_concurrency = 4
"#,
        &[("wasm", "precompiled"), ("docker", "create-start")],
    );
    let r = run.records();
    for backend in ["wasm", "docker"] {
        assert!(
            r.iter()
                .any(|x| x.backend == backend && x.metric == "capacity"),
            "{backend}: no capacity row"
        );
        // What ended the search is on the row: the step that broke, or the ceiling held.
        let found = r
            .iter()
            .find(|x| x.backend == backend && x.metric == "capacity")
            .unwrap();
        assert!(
            found.note.contains("broke at") || found.note.contains("held at the ceiling, 8"),
            "{found:?}"
        );
        assert!(
            r.iter()
                .any(|x| x.backend == backend && x.metric == "memory_total" && x.ok)
        );
    }
}

#[test]
fn realistic_smoke() {
    let run = smoke(
        r#"
[[experiment]]
kind = "realistic"
repetitions = 1
actions = 6
requests = 40
clients = 2
hash_target_ms = 5
sleep_ms = 20
"#,
        &[
            ("wasm", "precompiled"),
            ("docker", "create-start"),
            ("docker", "skeleton"),
        ],
    );
    let r = run.records();
    for variant in ["precompiled", "create-start", "skeleton"] {
        let n = r
            .iter()
            .filter(|x| x.variant == variant && x.metric == "latency")
            .count();
        assert_eq!(n, 40, "{variant}: one row per request");
        let cold = r
            .iter()
            .find(|x| x.variant == variant && x.metric == "cold_fraction")
            .unwrap();
        // 6 actions through a cap of 4 sandboxes: some requests must start cold.
        assert!(cold.value > 0.0 && cold.value < 1.0, "{cold:?}");
    }
}

#[test]
fn ladder_smoke() {
    let run = smoke(
        r#"
[[experiment]]
kind = "ladder"
repetitions = 3
docker_samples = 2
http_cold_starts = 3
http_warm_runs = 4
"#,
        &[
            ("wasm", "in-process"),
            ("wasm", "precompiled"),
            ("docker", "create-start"),
        ],
    );
    let r = run.records();
    for &step in wow_runtime::ladder::STEPS {
        assert_eq!(
            r.iter().filter(|x| x.phase == step && x.ok).count(),
            3,
            "{step}"
        );
    }
    // The HTTP breakdown: each precompiled cold start (`hash`) and warm run (`noop`) with the
    // executor's steps, its handler's total within what the client measured, and the
    // `/health` round trips beside them.
    let of = |phase: &str, workload: &str| -> Vec<&wow_records::Record> {
        r.iter()
            .filter(|x| x.variant == "precompiled" && x.phase == phase && x.workload == workload)
            .collect()
    };
    for (whole, prefix, workload, n) in [
        ("cold_start", "init", "hash", 3),
        ("warm_run", "run", "noop", 4),
    ] {
        let wholes = of(whole, workload);
        assert_eq!(wholes.len(), n, "{whole}");
        for step in ["read", "parse", "total", "outside"] {
            assert_eq!(
                of(&format!("{prefix}_{step}"), workload).len(),
                n,
                "{prefix}_{step}"
            );
        }
        for (w, t) in wholes.iter().zip(of(&format!("{prefix}_total"), workload)) {
            assert_eq!(w.iteration, t.iteration);
            assert!(t.value > 0.0 && t.value <= w.value, "{w:?} {t:?}");
        }
    }
    assert_eq!(of("init_prepare", "hash").len(), 3);
    assert_eq!(of("run_guest", "noop").len(), 4);
    assert_eq!(of("health", "noop").len(), 4);
    let report = std::fs::read_to_string(run.dir.join("report/report.md")).unwrap();
    assert!(
        report.contains("Where the time of a request goes"),
        "{report}"
    );
    assert!(report.contains("executor handler (total)"), "{report}");
}

/// Every engine of the build through the Wasm series of cold start, memory and the ladder in
/// one run: each engine's rows carry its name, the run's metadata lists the engines, and the
/// report shows them side by side.
#[test]
fn engines_side_by_side() {
    let run = wowbench_run(
        &["--quick", "--backends", "wasm"],
        r#"
[[experiment]]
kind = "cold-start"
levels = [1]
repetitions = 1
workload = "noop"
params = {}

[[experiment]]
kind = "memory"
repetitions = 1
sandboxes = [2]
module_sizes = false
settle_ms = 100

[[experiment]]
kind = "ladder"
repetitions = 1
docker_samples = 0
http_cold_starts = 1
http_warm_runs = 1
"#,
    );
    assert!(run.ok(), "run failed:\n{}", run.stderr);
    let meta = run.meta();
    assert_eq!(meta["status"], "complete", "{meta}");
    let engines: Vec<&str> = meta["engines"]
        .as_array()
        .expect("meta.json lists the engines")
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(engines, ["wasmtime", "wasmer", "wamr", "wasmi"]);
    let r = run.records();
    for engine in engines {
        for variant in ["compile", "precompiled", "distinct", "shared", "in-process"] {
            assert!(
                r.iter()
                    .any(|x| x.engine == engine && x.variant == variant && x.ok),
                "no successful {engine} {variant} rows in {}",
                run.dir.display()
            );
        }
        // Each engine's ladder has its own rungs: compile, load, a fresh run.
        for step in ["compile", "deserialize", "run_fresh"] {
            assert!(
                r.iter()
                    .any(|x| x.engine == engine && x.phase == step && x.ok),
                "{engine} ladder lacks {step}"
            );
        }
    }
    assert!(
        r.iter()
            .all(|x| x.backend != "wasm" || !x.engine.is_empty())
    );
    let report = std::fs::read_to_string(run.dir.join("report/report.md")).unwrap();
    for engine in ["wasmer", "wamr", "wasmi"] {
        assert!(
            report.contains(&format!("[{engine}]")),
            "report.md lacks {engine}'s rows"
        );
    }
    assert!(
        report.contains("**interpreter**"),
        "report.md says what WAMR is"
    );
}

/// Run into a pipe (as in CI), without `--quiet`: the progress bars cannot draw, so the progress
/// comes as lines, one as each level starts and one at each experiment's end.
#[test]
fn piped_progress_is_written_as_lines() {
    let out_dir = scratch("progress");
    let out = wowbench(&[
        "run",
        "cold-start",
        "memory",
        "--quick",
        "--backends",
        "wasm",
        "--engines",
        "wasmtime",
        "--variants",
        "precompiled,shared",
        "--no-report",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for line in [
        "cold-start: wasm precompiled c1 — 0/",
        "cold-start: wasm precompiled c4 — ",
        "cold-start: wasm precompiled warm /run — ",
        "memory: wasm shared, 5 sandboxes — ",
        "memory: done — ",
    ] {
        assert!(err.contains(line), "no progress line {line:?} in:\n{err}");
    }
    let done = err.lines().find(|l| l.starts_with("cold-start: done — "));
    let done = done.unwrap_or_else(|| panic!("no end line in:\n{err}"));
    let (pos, len) = done["cold-start: done — ".len()..]
        .split(',')
        .next()
        .and_then(|f| f.split_once('/'))
        .unwrap_or_else(|| panic!("no position in {done:?}"));
    assert_eq!(pos, len, "the end line counts every cold start: {done}");
}

#[test]
fn bad_targets_and_options_are_clear_errors() {
    let out = wowbench(&["run", "cold-stat"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown experiment") && err.contains("cold-start"),
        "{err}"
    );

    let out = wowbench(&["run", "cold-start", "--backends", "wasm,podman"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("podman"));

    let out = wowbench(&["run", "cold-start", "--device", "pi9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pi3"));
}

#[test]
fn list_shows_what_can_be_run() {
    let out = wowbench(&["list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "cold-start",
        "realistic",
        "quick",
        "paper",
        "pi3",
        "prestarted",
        "image",
        "wasmtime",
        "wasmer",
        "wamr",
        "wasmi",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
}
