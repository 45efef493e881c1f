//! The ARM smoke test: the aarch64 build of the Wasm executor, run under qemu-user in a
//! memory-limited cgroup and under a virtual-memory limit. It checks that
//!
//! 1. with the default pool settings, the `auto` allocator's probe fails over (large pool →
//!    small pool → on-demand) instead of reserving terabytes, and `/health` says what it chose;
//! 2. with a small pool (`--pool-slots 16 --memory-reservation-mb 128`), pooling works;
//! 3. in both, `/init` + `/run` of the noop, hash, prime and json workloads (Cranelift generating
//!    aarch64 code, under emulation) answer exactly what the host's native builds answer for the
//!    same input;
//! 4. if `scripts/cross-aarch64.sh` has built the aarch64 native workloads, they agree as well.
//!
//! Why the limits: qemu-user keeps bookkeeping for every guest page mapped, reserved or not, so
//! the pooling allocator's default reservation (thousands of slots × 4 GiB) makes qemu itself
//! grow by gigabytes per terabyte reserved: a 1,000-slot pool once grew qemu to 24 GB and the OOM
//! killer took the machine down. The address-space limit makes such reservations fail up front
//! (the executor then falls back); the cgroup caps whatever is left. qemu enters both between
//! fork and exec, dies with the test process, and is killed, and the cgroup removed, on every
//! exit of the test (failures and Ctrl-C included).
//!
//! The aarch64 `wow-runtime` is cross-built beforehand (`scripts/cross-aarch64.sh --runtime-only
//! --debug`; `scripts/test.sh` does it, then runs this test with `--ignored`). Needs root (for the
//! cgroup) and, on a non-ARM host, `qemu-aarch64-static` (Debian's qemu-user-static).
//!
//! Environment (all optional):
//! `SMOKE_MEMORY_MB` (2048) memory limit of the cgroup qemu runs in;
//! `SMOKE_VMEM_MB` (16384) address-space limit of qemu (what makes the pool probe fail over);
//! `SMOKE_TIMEOUT_S` (180) limit of each HTTP call and of the executor's start;
//! `WOWBENCH_AARCH64_RUNTIME` an aarch64 `wow-runtime` to use instead of the cross build;
//! `WOWBENCH_AARCH64_TARGET_DIR` cargo target dir of the cross build (`target/aarch64`).

#[path = "../harness/mod.rs"]
mod harness;
mod inputs;
mod limits;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wow_artifacts::{Artifacts, default_native_target};
use wowbench::backend::client::{ActionClient, init_body, run_body};
use wowbench::backend::wasm::ExecutorProcess;

use inputs::{aarch64_runtime, artifacts, env_number, find_in_path, run_native};
use limits::SmokeCgroup;

const TARGET: &str = "aarch64-unknown-linux-musl";
/// What builds the aarch64 executor this test runs.
const CROSS_BUILD: &str = "scripts/cross-aarch64.sh --runtime-only --debug";
const WORKLOADS: [&str; 4] = ["noop", "hash", "prime", "json"];

fn params(workload: &str) -> Value {
    match workload {
        "noop" => json!({"hello": "aarch64", "list": [1, 2, 3], "nested": {"ok": true}}),
        "hash" => json!({"input": "wowbench-aarch64-smoke", "iterations": 2000}),
        "prime" => json!({"n": 100000}),
        "json" => json!({"items": 300, "seed": 7}),
        other => unreachable!("no parameters for {other}"),
    }
}

fn say(msg: &str) {
    eprintln!("==> {msg}");
}

#[tokio::test]
#[ignore = "needs the aarch64 cross build (scripts/cross-aarch64.sh --runtime-only --debug), \
            qemu-user-static and root; scripts/test.sh runs it"]
async fn aarch64_executor_under_qemu_answers_like_the_host() {
    let started = Instant::now();
    let smoke = Smoke::prepare();
    let cgroup = SmokeCgroup::create(smoke.memory_mb);
    say(&format!(
        "memory cgroup {}: {} MiB; qemu address-space limit {} MiB",
        cgroup.dir.display(),
        smoke.memory_mb,
        smoke.vmem_mb
    ));
    let interrupted = tokio::select! {
        () = smoke.run(&cgroup) => None,
        signal = interruption() => Some(signal),
    };
    say(&format!(
        "peak memory of the cgroup: {} of {} MiB; OOM kills: {}",
        cgroup.peak_mb(),
        smoke.memory_mb,
        cgroup.oom_kills()
    ));
    drop(cgroup);
    if let Some(signal) = interrupted {
        panic!("interrupted by {signal}");
    }
    smoke.work.succeeded();
    say(&format!(
        "aarch64 smoke test passed in {} s",
        started.elapsed().as_secs()
    ));
}

/// Waits for Ctrl-C or SIGTERM, so that the cleanup runs for those too.
async fn interruption() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Everything the test needs, checked before any emulation starts.
struct Smoke {
    memory_mb: u64,
    vmem_mb: u64,
    timeout: Duration,
    /// The aarch64 `wow-runtime`.
    runtime: PathBuf,
    /// `qemu-aarch64-static`, or none on an aarch64 host.
    qemu: Option<PathBuf>,
    artifacts: Artifacts,
    /// The host's native answer for each workload's parameters.
    expected: BTreeMap<&'static str, Value>,
    /// The cargo target dir of the cross build.
    target_dir: PathBuf,
    work: WorkDir,
}

impl Smoke {
    fn prepare() -> Smoke {
        let root = wow_artifacts::repo_root();
        let target_dir = std::env::var_os("WOWBENCH_AARCH64_TARGET_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| root.join("target").join("aarch64"), PathBuf::from);
        let qemu = (std::env::consts::ARCH != "aarch64").then(|| {
            find_in_path("qemu-aarch64-static").unwrap_or_else(|| {
                panic!(
                    "qemu-aarch64-static is missing: apt-get install qemu-user-static \
                     (scripts/test.sh installs it)"
                )
            })
        });
        let runtime = aarch64_runtime(&target_dir);
        say(&format!(
            "making sure the workload artifacts are built ({} and {})",
            wow_artifacts::WASM_TARGET,
            default_native_target()
        ));
        let artifacts = artifacts();
        let expected = WORKLOADS
            .iter()
            .map(|&w| {
                let wasm = artifacts.wasm(w);
                assert!(wasm.is_file(), "missing {}", wasm.display());
                let native = artifacts.native(w, &default_native_target());
                assert!(
                    native.is_file(),
                    "missing the native build {}",
                    native.display()
                );
                let mut cmd = std::process::Command::new(&native);
                (w, run_native(&mut cmd, w))
            })
            .collect();
        Smoke {
            memory_mb: env_number("SMOKE_MEMORY_MB", 2048),
            vmem_mb: env_number("SMOKE_VMEM_MB", 16384),
            timeout: Duration::from_secs(env_number("SMOKE_TIMEOUT_S", 180)),
            runtime,
            qemu,
            artifacts,
            expected,
            target_dir,
            work: WorkDir(harness::scratch("aarch64-smoke")),
        }
    }

    async fn run(&self, cgroup: &SmokeCgroup) {
        let mut client = ActionClient::new(self.timeout).expect("an HTTP client");
        client.init_timeout = self.timeout;

        // 1. Default pool settings: the probe must fall back, not reserve terabytes.
        let phase = "auto-default";
        let mut exec = self
            .start_executor(
                cgroup,
                phase,
                &["--allocator", "auto", "--prewarm", "false"],
            )
            .await;
        let health = self.health(&client, &exec).await;
        let allocator = &health["allocator"];
        let kind = allocator["kind"].as_str().unwrap_or_default();
        let reason = allocator["reason"].as_str().unwrap_or_default();
        say(&format!(
            "{phase}: allocator {kind}, {} slots; {reason}",
            allocator["slots"]
        ));
        assert!(
            kind == "on-demand" || kind == "pooling",
            "{phase}: /health names no allocator: {health}"
        );
        assert!(
            reason.contains("failed"),
            "{phase}: expected the probe to fail over under an address-space limit of {} MiB, \
             but it got {kind} as configured: {health}",
            self.vmem_mb
        );
        self.check_workloads(cgroup, &client, &mut exec, phase)
            .await;
        say(&format!(
            "{phase}: peak memory of the cgroup so far {} MiB",
            cgroup.peak_mb()
        ));
        exec.stop().await;

        // 2. A small pool that fits: pooling, with the pre-warm pool on.
        let phase = "small-pool";
        let mut exec = self
            .start_executor(
                cgroup,
                phase,
                &[
                    "--allocator",
                    "auto",
                    "--pool-slots",
                    "16",
                    "--memory-reservation-mb",
                    "128",
                    "--memory-mb",
                    "128",
                ],
            )
            .await;
        let health = self.health(&client, &exec).await;
        let allocator = &health["allocator"];
        let kind = allocator["kind"].as_str().unwrap_or_default();
        say(&format!(
            "{phase}: allocator {kind}, {} slots × {} MiB; {}",
            allocator["slots"],
            allocator["memory_reservation"].as_u64().unwrap_or(0) >> 20,
            allocator["reason"].as_str().unwrap_or_default()
        ));
        assert_eq!(
            kind, "pooling",
            "{phase}: expected the pooling allocator with 16 × 128 MiB, got: {health}"
        );
        self.check_workloads(cgroup, &client, &mut exec, phase)
            .await;
        exec.stop().await;

        // 3. The aarch64 native workloads (the Docker side), when scripts/cross-aarch64.sh built them.
        self.check_native_workloads(cgroup);
    }

    /// The executor under qemu, in the cgroup and under the address-space limit.
    async fn start_executor(
        &self,
        cgroup: &SmokeCgroup,
        name: &str,
        args: &[&str],
    ) -> ExecutorProcess {
        let (program, leading) = self.emulated(&self.runtime);
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(leading);
        // SAFETY: the hook makes only async-signal-safe calls and does not allocate.
        unsafe {
            cmd.pre_exec(cgroup.enter_hook(self.vmem_mb));
        }
        let mut argv: Vec<String> = ["--no-disk-cache", "--quiet-guests", "--workers", "2"]
            .map(String::from)
            .to_vec();
        argv.extend(args.iter().map(|a| a.to_string()));
        let exec =
            ExecutorProcess::start_command(cmd, &argv, &self.work.0.join(name), &[], self.timeout)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{name}: the executor did not start: {e:#}\n(OOM kills in the cgroup: {})",
                        cgroup.oom_kills()
                    )
                });
        say(&format!(
            "{name}: executor (pid {}) listening on {}",
            exec.pid, exec.url
        ));
        exec
    }

    /// What runs an aarch64 `program`, and its leading arguments: qemu on a non-ARM host.
    fn emulated(&self, program: &Path) -> (PathBuf, Vec<PathBuf>) {
        match &self.qemu {
            Some(qemu) => (qemu.clone(), vec![program.to_path_buf()]),
            None => (program.to_path_buf(), vec![]),
        }
    }

    async fn health(&self, client: &ActionClient, exec: &ExecutorProcess) -> Value {
        let url = format!("{}/health", exec.url);
        let reply = client
            .http()
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: no answer ({e})"));
        reply
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: not JSON ({e})"))
    }

    /// `/init` + two `/run`s of every workload in its own sandbox; the answers must equal the
    /// host's native ones.
    async fn check_workloads(
        &self,
        cgroup: &SmokeCgroup,
        client: &ActionClient,
        exec: &mut ExecutorProcess,
        phase: &str,
    ) {
        for w in WORKLOADS {
            let sandbox = format!("{phase}-{w}");
            let wasm = std::fs::read(self.artifacts.wasm(w)).expect("the Wasm artifact");
            let url = format!("{}/{sandbox}", exec.url);
            let init = client
                .init(&format!("{url}/init"), init_body(&sandbox, &wasm))
                .await
                .unwrap_or_else(|e| no_answer(exec, cgroup, &format!("{phase}: /init of {w}"), e));
            assert!(
                init.ok(),
                "{phase}: /init of {w} answered {}",
                init.error_text()
            );
            let mut last = None;
            for _attempt in 0..2 {
                let body = run_body(&params(w), &sandbox, self.timeout);
                let run = client
                    .run(&format!("{url}/run"), body)
                    .await
                    .unwrap_or_else(|e| {
                        no_answer(exec, cgroup, &format!("{phase}: /run of {w}"), e)
                    });
                assert_eq!(
                    run.status,
                    200,
                    "{phase}: /run of {w} answered {}",
                    run.error_text()
                );
                let got = run.json().unwrap_or_else(|e| {
                    panic!(
                        "{phase}: /run of {w} answered no JSON ({e}): {}",
                        String::from_utf8_lossy(&run.body)
                    )
                });
                assert_eq!(
                    got,
                    self.expected[w],
                    "{phase}: {w} answered differently on aarch64 (Wasm, left) than natively on \
                     {} (right)",
                    std::env::consts::ARCH
                );
                last = Some((run.elapsed, got));
            }
            let (elapsed, got) = last.expect("two runs");
            let shown: String = got.to_string().chars().take(70).collect();
            say(&format!(
                "{phase}: {w} ok (init {} ms, last run {} ms): {shown}",
                init.elapsed.as_millis(),
                elapsed.as_millis()
            ));
        }
    }

    /// The native aarch64 workloads under qemu (also in the cgroup and under the limit), when a
    /// `scripts/cross-aarch64.sh` folder holds them.
    fn check_native_workloads(&self, cgroup: &SmokeCgroup) {
        let native_dir = ["dist", "dist-debug"]
            .iter()
            .map(|d| self.target_dir.join(d).join("artifacts").join(TARGET))
            .find(|d| d.join("noop").is_file());
        let Some(dir) = native_dir else {
            say("no aarch64 native workloads (run scripts/cross-aarch64.sh to check them too)");
            return;
        };
        for w in WORKLOADS {
            let (program, leading) = self.emulated(&dir.join(w));
            let mut cmd = std::process::Command::new(program);
            cmd.args(leading);
            // SAFETY: the hook makes only async-signal-safe calls and does not allocate.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(
                    &mut cmd,
                    cgroup.enter_hook(self.vmem_mb),
                );
            }
            let got = run_native(&mut cmd, w);
            assert_eq!(
                got,
                self.expected[w],
                "the aarch64 native {w} (left) answered differently from the {} one (right)",
                std::env::consts::ARCH
            );
        }
        say(&format!(
            "aarch64 native workloads in {} agree with {}",
            dir.display(),
            std::env::consts::ARCH
        ));
    }
}

/// Fails the test for a call the executor did not answer, saying whether it still runs.
fn no_answer(exec: &mut ExecutorProcess, cgroup: &SmokeCgroup, call: &str, e: anyhow::Error) -> ! {
    let state = exec
        .exit_status()
        .map_or("alive".to_string(), |s| format!("exited, {s}"));
    panic!(
        "{call}: no answer ({e:#}); executor {state}; OOM kills in the cgroup: {}",
        cgroup.oom_kills()
    )
}

/// The executors' logs: removed when the test passes, kept (and named) when it fails.
struct WorkDir(PathBuf);

impl WorkDir {
    fn succeeded(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.0.display());
        }
    }
}
