//! Driving the `wowbench` binary as a user would, and reading what it leaves behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use wow_records::Record;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_wowbench")
}

/// A command for the binary, with the executor found beside it.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).env("WOWBENCH_EXECUTOR", bin());
    c
}

pub fn wowbench(args: &[&str]) -> Output {
    command(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wowbench")
}

pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wowbench-{}", unique(tag)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct Run {
    pub run_id: String,
    pub dir: PathBuf,
    pub out: Output,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.out.status.success()
    }

    pub fn meta(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("meta.json")).expect("meta.json");
        serde_json::from_str(&text).expect("meta.json is JSON")
    }

    pub fn records(&self) -> Vec<Record> {
        wow_records::writer::read_records(&self.dir.join("records.csv")).expect("records.csv")
    }
}

/// The arguments of `wowbench run` for a suite file holding `toml` (its `[[experiment]]` tables),
/// writing to a fresh results folder, followed by `extra`; with the run id and the run folder.
pub fn suite_run_args(toml: &str, extra: &[&str]) -> (Vec<String>, String, PathBuf) {
    let dir = scratch("suite");
    let suite = dir.join("suite.toml");
    std::fs::write(&suite, format!("name = \"test\"\n{toml}")).unwrap();
    let run_id = unique("run");
    let out_dir = dir.join("results");
    let mut args: Vec<String> = vec![
        "run".into(),
        suite.to_str().unwrap().into(),
        "--out".into(),
        out_dir.to_str().unwrap().into(),
        "--run-id".into(),
        run_id.clone(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let run_dir = out_dir.join(&run_id);
    (args, run_id, run_dir)
}

/// Runs the suite `toml` (its `[[experiment]]` tables) with `extra` arguments.
pub fn wowbench_run(extra: &[&str], toml: &str) -> Run {
    let (args, run_id, expected) = suite_run_args(toml, extra);
    let out = wowbench(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        Path::new(&last),
        expected,
        "the last stdout line is the run folder\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Run {
        run_id,
        dir: expected,
        out,
        stdout,
        stderr,
    }
}

/// Fails the test, saying why, when the Docker engine is not reachable.
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the Docker engine is not reachable: these tests drive real containers and need it \
         (start dockerd)"
    );
}

/// Containers of run `run_id` still on the engine.
pub fn containers_of(run_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=wowbench.run={run_id}"),
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn assert_no_containers(run_id: &str) {
    let left = containers_of(run_id);
    assert!(
        left.is_empty(),
        "containers left behind by {run_id}: {left:?}"
    );
}
