//! Driving the `wowbench` binary as a user would, and reading what it leaves behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Containers of run `run_id` still on the system engine.
pub fn containers_of(run_id: &str) -> Vec<String> {
    containers_on(None, run_id)
}

/// Containers of run `run_id` on the engine at `host` (`None`: the system engine); none when
/// that engine is gone.
pub fn containers_on(host: Option<&str>, run_id: &str) -> Vec<String> {
    let mut cmd = Command::new("docker");
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    let out = cmd
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

/// The dedicated Docker engine a run's `meta.json` names, once the run has written it.
pub fn dedicated_engine(dir: &Path) -> Option<wowbench::backend::docker::dedicated::EnginePaths> {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).ok()?).ok()?;
    serde_json::from_value(meta.pointer("/device/docker_engine/dedicated")?.clone()).ok()
}

/// Fails unless everything of a dedicated engine is gone: its dockerd, its folders, its bridge.
pub fn assert_engine_gone(e: &wowbench::backend::docker::dedicated::EnginePaths) {
    let exec_root = e.exec_root.display().to_string();
    let running = wowbench::procfs::find_processes(|c| c.contains(&exec_root));
    assert!(
        running.is_empty(),
        "processes of the dedicated engine left: {running:?}"
    );
    assert!(!e.exec_root.exists(), "{} left", e.exec_root.display());
    assert!(!e.data_root.exists(), "{} left", e.data_root.display());
    assert!(
        !Path::new("/sys/class/net").join(&e.bridge).exists(),
        "bridge {} left",
        e.bridge
    );
}

/// What the system engine's networking looked like, to hold against it after a run that
/// started an engine beside it.
pub struct SystemEngine {
    docker0: String,
    networks: String,
}

impl SystemEngine {
    pub fn capture() -> SystemEngine {
        SystemEngine {
            docker0: tool(&["ip", "-4", "-o", "addr", "show", "dev", "docker0"]),
            networks: tool(&[
                "docker",
                "network",
                "ls",
                "--format",
                "{{.ID}} {{.Name}} {{.Driver}}",
            ]),
        }
    }

    /// Fails unless `docker0` keeps its address, the networks are the same, and the engine
    /// still starts a bridge-networked container of the project's image.
    pub fn assert_unchanged(&self, run_id: &str) {
        assert!(
            !self.docker0.is_empty(),
            "docker0 had no address before the run"
        );
        assert_eq!(
            tool(&["ip", "-4", "-o", "addr", "show", "dev", "docker0"]),
            self.docker0,
            "docker0 changed"
        );
        let networks = tool(&[
            "docker",
            "network",
            "ls",
            "--format",
            "{{.ID}} {{.Name}} {{.Driver}}",
        ]);
        assert_eq!(
            networks, self.networks,
            "the system engine's networks changed"
        );
        let image = tool(&["docker", "images", "-q", "--filter", "label=wowbench=1"]);
        let image = image
            .lines()
            .next()
            .expect("a wowbench image on the system engine");
        let label = format!("wowbench.run={run_id}-after");
        let id = tool(&[
            "docker",
            "run",
            "-d",
            "--label",
            "wowbench=1",
            "--label",
            &label,
            "-p",
            "127.0.0.1::8080",
            image,
        ]);
        let running = tool(&["docker", "inspect", "-f", "{{.State.Running}}", id.trim()]);
        let _ = tool(&["docker", "rm", "-f", id.trim()]);
        assert_eq!(
            running.trim(),
            "true",
            "the system engine cannot run a container now"
        );
    }
}

fn tool(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args[0]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts a run in the background; returns the child, its run id and run folder.
pub fn spawn_run(toml: &str, extra: &[&str]) -> (Child, String, std::path::PathBuf) {
    let (mut args, run_id, dir) = suite_run_args(toml, &["--no-report"]);
    args.extend(extra.iter().map(|a| a.to_string()));
    let child = command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, run_id, dir)
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn data_rows(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("records.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// Device cgroups of run `run_id` still present, in any hierarchy.
pub fn cgroups_of(run_id: &str) -> Vec<std::path::PathBuf> {
    wowbench::device::everywhere(&format!("wowbench-pi3-{run_id}"))
        .into_iter()
        .filter(|p| p.exists())
        .collect()
}

/// Processes whose command line names `needle` (the run's executors name their cache folder,
/// which is inside the run folder).
pub fn processes_naming(needle: &str) -> Vec<u32> {
    wowbench::procfs::find_processes(|c| c.contains(needle))
}
