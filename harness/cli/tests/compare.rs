//! `wowbench compare`, driven as a user drives it: the binary, run folders on disk, exit codes.
//!
//! The base fixture (`tests/fixtures/compare/base`) is a small hand-made run folder: ten cold
//! starts per cold-start group (one Docker attempt failed), memory per sandbox, and three
//! throughput repetitions. Every other run is derived from it here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use wow_records::{Meta, Record, RecordWriter, RunDir, RunStatus};

const SLOW_WASM: &str = "cold-start wasm/precompiled noop c1 cold_start latency";
const SLOW_DOCKER: &str = "cold-start docker/create-start noop c1 cold_start latency";

fn base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compare/base")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wowbench-compare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of the base run with its records and metadata changed by the closures; `summary.csv`
/// is derived again, as `wowbench run` would.
fn derived(
    root: &Path,
    name: &str,
    change: impl Fn(&mut Record),
    change_meta: impl Fn(&mut Meta),
) -> PathBuf {
    let src = RunDir::open(&base()).unwrap();
    let path = root.join(name);
    std::fs::create_dir_all(&path).unwrap();
    let mut w = RecordWriter::open(&path.join("records.csv")).unwrap();
    for mut r in src.records().unwrap() {
        r.run_id = name.to_string();
        change(&mut r);
        w.append(&r).unwrap();
    }
    drop(w);
    let dir = RunDir::open(&path).unwrap();
    dir.write_summary().unwrap();
    let mut meta = src.meta().unwrap();
    meta.run_id = name.to_string();
    change_meta(&mut meta);
    meta.write(&dir.meta_path()).unwrap();
    path
}

fn wowbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wowbench"))
        .arg("compare")
        .args(args)
        .output()
        .expect("run wowbench")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn json_groups(o: &Output) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    v["groups"].as_array().unwrap().clone()
}

fn verdict_of<'a>(groups: &'a [Value], name: &str) -> &'a str {
    groups
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no group {name}"))["verdict"]
        .as_str()
        .unwrap()
}

#[test]
fn a_run_compared_with_itself_has_no_regression() {
    let b = base();
    let o = wowbench(&[p(&b), p(&b)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("no regression in 12 matched groups"), "{out}");
    assert!(!err.contains("regression:"), "{err}");

    let o = wowbench(&[p(&b), p(&b), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let groups = json_groups(&o);
    assert_eq!(groups.len(), 12);
    for g in &groups {
        let v = g["verdict"].as_str().unwrap();
        assert!(v == "unchanged" || v == "n-too-small", "{g}");
        assert!(
            g["baseline"]["n"].is_u64() && g["current"]["n"].is_u64(),
            "{g}"
        );
    }
    // One sample a side: shown, never judged.
    let mem = "memory docker/create-start hash c10 full memory_per_sandbox";
    assert_eq!(verdict_of(&groups, mem), "n-too-small");
    // Every group with an interval says what it could have seen, never below the threshold;
    // one without (n too small) is named as blind to a 20% regression.
    for g in &groups {
        match g["detectable_pct"].as_f64() {
            Some(d) => assert!(d >= 10.0, "{g}"),
            None => assert!(
                g["ci95_pct"].is_null() || g["direction"] == "unknown",
                "{g}"
            ),
        }
    }
    assert!(out.contains("detectable"), "{out}");
    assert!(
        out.contains("could not have flagged a 20% regression") && out.contains(mem),
        "{out}"
    );
}

#[test]
fn thirty_percent_slower_cold_starts_are_a_regression() {
    let root = scratch("slow");
    let slow = derived(
        &root,
        "slow",
        |r| {
            if r.phase == "cold_start" {
                r.value *= 1.3;
            }
        },
        |_| {},
    );
    let b = base();
    let o = wowbench(&[p(&b), p(&slow)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    for name in [SLOW_WASM, SLOW_DOCKER] {
        assert!(err.contains(&format!("regression: {name}")), "{err}");
    }
    assert!(out.contains("2 regressions"), "{out}");
    // `init` and `provision` did not change.
    assert!(!err.contains("c1 init latency"), "{err}");

    let o = wowbench(&[p(&b), p(&slow), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let groups = json_groups(&o);
    let g = groups.iter().find(|g| g["name"] == SLOW_WASM).unwrap();
    assert_eq!(g["verdict"], "regression");
    assert_eq!(g["method"], "bootstrap-median-ratio");
    assert_eq!(g["significant"], true);
    let change = g["change_pct"].as_f64().unwrap();
    assert!((change - 30.0).abs() < 0.01, "{change}");
    let lo = g["ci95_pct"][0].as_f64().unwrap();
    assert!(lo > 10.0 && lo < 30.0, "{g}");
    assert_eq!(
        verdict_of(&groups, "cold-start wasm/precompiled noop c1 init latency"),
        "unchanged"
    );

    let o = wowbench(&[p(&b), p(&slow), "--format", "markdown"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.starts_with("## ❌"), "{out}");
    assert!(out.contains("### Regressions"), "{out}");
    assert!(out.contains(SLOW_WASM), "{out}");

    // The other way round it is an improvement, and a pass.
    let o = wowbench(&[p(&slow), p(&b)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("2 improved"), "{out}");

    // A threshold above the change lets it pass; a metric filter that leaves it out too.
    let o = wowbench(&[p(&b), p(&slow), "--threshold", "35"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = wowbench(&[p(&b), p(&slow), "--metric", "throughput,memory_"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_change_just_past_the_threshold_needs_rule_zero() {
    let root = scratch("rule");
    let slower = derived(
        &root,
        "slower",
        |r| {
            if r.phase == "cold_start" {
                r.value *= 1.11;
            }
        },
        |_| {},
    );
    let b = base();
    // +11% with an interval of about [+9%, +13%]: not surely past 10% ...
    let o = wowbench(&[p(&b), p(&slower), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(verdict_of(&json_groups(&o), SLOW_WASM), "inconclusive");
    // ... but surely slower.
    let o = wowbench(&[p(&b), p(&slower), "--rule", "zero"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("regression: {SLOW_WASM}")), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn several_baseline_runs_measure_run_to_run_variation() {
    let root = scratch("runs");
    let baselines = root.join("reference");
    // Three baseline runs whose conditions differed: every value of a run shifted alike.
    for (name, f) in [("r1", 1.0), ("r2", 1.06), ("r3", 0.95)] {
        derived(&baselines, name, move |r| r.value *= f, |_| {});
    }
    let scaled = |name: &str, f: f64| derived(&root, name, move |r| r.value *= f, |_| {});
    let (drift, slow) = (scaled("drift", 1.12), scaled("slow", 1.6));

    // One run against one run, a 12% drift looks like a regression of every latency ...
    let o = wowbench(&[p(&baselines.join("r1")), p(&drift), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    // ... but the baseline runs themselves differ that much: not a regression.
    let o = wowbench(&[p(&baselines), p(&drift), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let groups = json_groups(&o);
    let g = groups.iter().find(|g| g["name"] == SLOW_WASM).unwrap();
    assert_eq!(g["method"], "between-runs");
    assert_eq!(g["baseline_runs"], 3);
    assert_eq!(g["baseline"]["n"], 30, "pooled samples");
    // One sample per run is enough to judge once there are three runs.
    let mem = "memory docker/create-start hash c10 full memory_per_sandbox";
    assert_ne!(verdict_of(&groups, mem), "n-too-small");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["baseline_runs"].as_array().unwrap().len(), 3);

    // +60% is beyond anything the baseline runs did.
    let o = wowbench(&[p(&baselines), p(&slow)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains(&format!("regression: {SLOW_WASM}")), "{err}");
    assert!(err.contains("runs)"), "{err}");
    assert!(out.contains("3 runs"), "{out}");

    // The current side must be one run.
    let o = wowbench(&[p(&base()), p(&baselines)]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("name one"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn lower_throughput_is_a_regression_higher_is_not() {
    let root = scratch("throughput");
    let scaled = |f: f64, name: &str| {
        derived(
            &root,
            name,
            move |r| {
                if r.metric == "throughput" {
                    r.value *= f;
                }
            },
            |_| {},
        )
    };
    let (down, up) = (scaled(0.7, "down"), scaled(1.3, "up"));
    let b = base();
    let o = wowbench(&[p(&b), p(&down), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let groups = json_groups(&o);
    let name = "throughput wasm/precompiled sleep [fair] c4 warm throughput";
    assert_eq!(verdict_of(&groups, name), "regression");
    let g = groups.iter().find(|g| g["name"] == name).unwrap();
    assert_eq!(g["method"], "welch-means", "three samples a side");
    let o = wowbench(&[p(&b), p(&up)]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn noise_level_jitter_passes() {
    let root = scratch("jitter");
    // ±2%, deterministic, on every measurement.
    let jitter = derived(
        &root,
        "jitter",
        |r| {
            let f = [1.02, 0.98, 1.01, 0.99, 1.015, 0.985][(r.iteration as usize) % 6];
            let g = if r.phase == "init" { 1.0 / f } else { f };
            r.value *= g;
        },
        |_| {},
    );
    let b = base();
    for args in [vec![p(&b), p(&jitter)], vec![p(&jitter), p(&b)]] {
        let o = wowbench(&args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
        assert!(out.contains("no regression"), "{out}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn different_architectures_are_refused_unless_allowed() {
    let root = scratch("arch");
    let arm = derived(&root, "arm", |_| {}, |m| m.machine.arch = "aarch64".into());
    let b = base();
    let o = wowbench(&[p(&b), p(&arm)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("machine.arch differs"), "{err}");
    assert!(err.contains("x86_64") && err.contains("aarch64"), "{err}");
    assert!(err.contains("--allow-mismatch"), "{err}");
    assert!(out.is_empty(), "nothing compared: {out}");

    let o = wowbench(&[p(&b), p(&arm), "--allow-mismatch"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        err.contains("warning: compared despite a mismatch"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn different_device_profiles_are_refused_unless_allowed() {
    let root = scratch("device");
    let pi = derived(
        &root,
        "pi3",
        |r| r.device = "pi3".into(),
        |m| {
            m.device = serde_json::json!({"profile": {"name": "pi3", "cpus": 0.5,
                "memory_bytes": 1u64 << 30}});
        },
    );
    let b = base();
    let o = wowbench(&[p(&b), p(&pi)]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("device profile differs"), "{err}");
    // Allowed, the single device of each run is matched across.
    let o = wowbench(&[p(&b), p(&pi), "--allow-mismatch", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(json_groups(&o).iter().all(|g| g["verdict"] != "missing"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_incomplete_run_is_compared_with_a_warning() {
    let root = scratch("incomplete");
    let part = derived(
        &root,
        "part",
        |_| {},
        |m| {
            m.status = RunStatus::Incomplete;
            m.status_reason = Some("interrupted".into());
        },
    );
    // Drop the throughput rows, as if the run stopped before that experiment.
    let records: Vec<Record> = RunDir::open(&part).unwrap().records().unwrap();
    std::fs::remove_file(part.join("records.csv")).unwrap();
    let mut w = RecordWriter::open(&part.join("records.csv")).unwrap();
    w.append_all(records.iter().filter(|r| r.experiment != "throughput"))
        .unwrap();
    drop(w);
    let b = base();
    let o = wowbench(&[p(&b), p(&part)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("is incomplete (interrupted)"), "{err}");
    assert!(err.contains("6 groups in the baseline only"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_group_whose_every_attempt_failed_is_a_regression() {
    let root = scratch("failed");
    let broken = derived(
        &root,
        "broken",
        |r| {
            if r.backend == "docker" && r.experiment == "cold-start" {
                r.ok = false;
                r.value = f64::NAN;
                r.note = "create: engine unreachable".into();
            }
        },
        |_| {},
    );
    let b = base();
    let o = wowbench(&[p(&b), p(&broken)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains(&format!("regression: {SLOW_DOCKER}")), "{err}");
    assert!(out.contains("FAILED"), "{out}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn github_benchmark_files_split_by_direction() {
    let root = scratch("ghb");
    let out_dir = root.join("bench");
    let b = base();
    let o = wowbench(&[
        p(&b),
        p(&b),
        "--format",
        "github-benchmark",
        "--output",
        p(&out_dir),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let read = |f: &str| -> Vec<Value> {
        let t = std::fs::read_to_string(out_dir.join(f)).unwrap();
        serde_json::from_str::<Value>(&t)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let smaller = read("smaller-is-better.json");
    let bigger = read("bigger-is-better.json");
    for e in smaller.iter().chain(&bigger) {
        assert!(
            e["name"].is_string() && e["unit"].is_string() && e["value"].is_f64(),
            "{e}"
        );
    }
    let metrics = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| {
                e["name"]
                    .as_str()
                    .unwrap()
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (s, g) = (metrics(&smaller), metrics(&bigger));
    assert!(s.contains(&"latency".to_string()) && s.contains(&"memory_per_sandbox".to_string()));
    assert!(s.contains(&"latency_p99".to_string()) && s.contains(&"errors".to_string()));
    assert!(!s.contains(&"throughput".to_string()), "{s:?}");
    assert_eq!(g, vec!["throughput", "throughput"], "{g:?}");
    assert_eq!(smaller.len() + bigger.len(), 12);
    // The current run's median, in the record's unit.
    let cold = smaller.iter().find(|e| e["name"] == SLOW_WASM).unwrap();
    assert_eq!(
        (cold["value"].as_f64(), cold["unit"].as_str()),
        (Some(607.75), Some("us"))
    );
    assert!(cold["range"].as_str().unwrap().starts_with("± "));
    // The other formats land beside them.
    for f in ["comparison.md", "comparison.json", "comparison.txt"] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    // Without a folder to write to, it is bad input.
    let o = wowbench(&[p(&b), p(&b), "--format", "github-benchmark"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_input_exits_2() {
    let root = scratch("bad");
    let b = base();
    let missing = root.join("nope");
    let o = wowbench(&[p(&b), p(&missing)]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    // A folder without records.csv.
    let o = wowbench(&[p(&root), p(&b)]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));

    // A folder holding exactly one run folder is that run.
    let holder = root.join("reference");
    derived(&holder, "only", |_| {}, |_| {});
    let o = wowbench(&[p(&holder), p(&b)]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // A torn records.csv is an error, not a shorter run.
    let torn = derived(&root, "torn", |_| {}, |_| {});
    let mut t = std::fs::read_to_string(torn.join("records.csv")).unwrap();
    t.push_str("20261126,cold-start,wasm\n");
    std::fs::write(torn.join("records.csv"), t).unwrap();
    let o = wowbench(&[p(&b), p(&torn)]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));

    // Nothing left after the metric filter.
    let o = wowbench(&[p(&b), p(&b), "--metric", "nothing_like_this"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    let o = wowbench(&[p(&b), p(&b), "--threshold", "-5"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_comparison_is_deterministic() {
    let root = scratch("det");
    let slow = derived(
        &root,
        "slow",
        |r| {
            if r.phase == "cold_start" {
                r.value *= 1.05 + 0.01 * (r.iteration % 3) as f64;
            }
        },
        |_| {},
    );
    let b = base();
    let a = wowbench(&[p(&b), p(&slow), "--format", "json"]);
    let c = wowbench(&[p(&b), p(&slow), "--format", "json"]);
    assert_eq!(a.stdout, c.stdout);
    std::fs::remove_dir_all(&root).unwrap();
}

/// The two sides of a paired run whose blocks swing by up to 2.5× together (the machine got
/// busier and quieter), the current side 25% slower in every block: paired, the swing cancels
/// block by block and the change is flagged; the same records as two unpaired runs are not; and
/// identical sides pass.
#[test]
fn a_paired_run_is_judged_block_by_block() {
    let root = scratch("paired");
    let swing = |r: &mut Record| {
        r.block = r.iteration % 5;
        if r.phase == "cold_start" {
            r.value *= 1.0 + 0.375 * r.block as f64;
        }
    };
    let side = |role: &'static str, with: &'static str| {
        move |m: &mut Meta| {
            m.paired = Some(wow_records::meta::Paired {
                role: role.into(),
                with: with.into(),
                blocks: 5,
                executor: "wow-runtime".into(),
                proxy: None,
            })
        }
    };
    let base = derived(&root, "p-baseline", swing, side("baseline", "p"));
    let slow = derived(
        &root,
        "p",
        |r| {
            swing(r);
            if r.phase == "cold_start" {
                r.value *= 1.25;
            }
        },
        side("candidate", "p-baseline"),
    );
    let o = wowbench(&[p(&base), p(&slow), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    let groups = json_groups(&o);
    let g = groups.iter().find(|g| g["name"] == SLOW_WASM).unwrap();
    assert_eq!(g["method"], "paired-blocks", "{g}");
    assert_eq!(g["verdict"], "regression", "{g}");

    // The same records, not marked as a paired run: the swing hides the change.
    let plain = |name: &'static str, slower: bool| {
        derived(
            &root,
            name,
            move |r| {
                swing(r);
                if slower && r.phase == "cold_start" {
                    r.value *= 1.25;
                }
            },
            |_| {},
        )
    };
    let (b, c) = (plain("u-base", false), plain("u-cur", true));
    let o = wowbench(&[p(&b), p(&c), "--format", "json"]);
    let groups = json_groups(&o);
    assert_ne!(verdict_of(&groups, SLOW_WASM), "regression");

    // Identical sides of a paired run pass.
    let same = derived(&root, "q", swing, side("candidate", "q-baseline"));
    let same_base = derived(&root, "q-baseline", swing, side("baseline", "q"));
    let o = wowbench(&[p(&same_base), p(&same)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).0);
    let _ = std::fs::remove_dir_all(&root);
}
