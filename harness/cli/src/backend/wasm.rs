//! The Wasm side: a WOW-style executor process (started and stopped by the harness, or already
//! running at a URL), many sandboxes inside it.
//!
//! Provisioning a sandbox costs nothing here — it is a name on the multi-sandbox routes — and
//! is recorded as such. Memory is the executor process's: RSS with N sandboxes minus RSS with
//! none, divided by N (full), and RSS ÷ N (the paper's method).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{ActionClient, Backend, BackendKind, MemorySample, ProvisionTiming, Sandbox};
use crate::procfs;

/// How the harness reaches the executor.
#[derive(Debug, Clone)]
pub struct WasmOptions {
    /// The series name (`precompiled`, `compile`, `shared`, `distinct`, …).
    pub variant: String,
    /// An executor already running at this URL; `None` starts one.
    pub url: Option<String>,
    /// The program a started executor runs (a `wow-runtime` or `wowbench` binary); `None`: the
    /// default of [`executor_command`].
    pub program: Option<PathBuf>,
    /// Extra command-line flags for a started executor (`--concurrency 3`, …).
    pub executor_args: Vec<String>,
    /// Where a started executor writes its logs and artifact cache.
    pub work_dir: PathBuf,
    /// Put the started executor into this cgroup (device profile); see `device`.
    pub cgroup_procs: Vec<PathBuf>,
}

/// A started executor process; killed when dropped.
pub struct ExecutorProcess {
    child: tokio::process::Child,
    pub pid: u32,
    pub url: String,
}

impl ExecutorProcess {
    /// Starts the executor on a free loopback port and waits for it to listen.
    pub async fn start(
        program: Option<&Path>,
        args: &[String],
        work_dir: &Path,
        cgroup_procs: &[PathBuf],
    ) -> Result<Self> {
        let (program, argv) = match program {
            Some(p) => executor_program(p.to_path_buf()),
            None => executor_command()?,
        };
        let mut command = tokio::process::Command::new(program);
        command.args(argv);
        Self::start_command(
            command,
            args,
            work_dir,
            cgroup_procs,
            Duration::from_secs(60),
        )
        .await
    }

    /// [`ExecutorProcess::start`] with the executor program given: `command` holds the program
    /// and its leading arguments (e.g. an emulator and the executor binary, with limits set
    /// before exec); the listen address, the cache folder and `args` follow them. Waits up to
    /// `startup` for it to listen.
    pub async fn start_command(
        mut command: tokio::process::Command,
        args: &[String],
        work_dir: &Path,
        cgroup_procs: &[PathBuf],
        startup: Duration,
    ) -> Result<Self> {
        std::fs::create_dir_all(work_dir)
            .with_context(|| format!("cannot create {}", work_dir.display()))?;
        let cache_dir = work_dir.join("cache").display().to_string();
        command
            .args(["--listen", "127.0.0.1:0", "--cache-dir", &cache_dir])
            .args(args);
        let program = command.as_std().get_program().to_owned();
        let stderr = std::fs::File::create(work_dir.join("executor.stderr.log"))?;
        // Guest logs go straight to a file, not through a pipe the harness drains: a pipe would
        // wake the harness on every run, beside the very request it is timing.
        let stdout_path = work_dir.join("executor.stdout.log");
        let stdout = std::fs::File::create(&stdout_path)?;
        die_with_parent(&mut command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the executor {}", program.display()))?;
        let pid = child.id().context("executor exited at once")?;
        for procs in cgroup_procs {
            std::fs::write(procs, pid.to_string())
                .with_context(|| format!("cannot move the executor into {}", procs.display()))?;
        }
        let addr = wait_for_listen_line(&mut child, &stdout_path, startup)
            .await
            .map_err(|e| {
                let log = std::fs::read_to_string(work_dir.join("executor.stderr.log"))
                    .unwrap_or_default();
                anyhow::anyhow!("the executor failed to start: {e:#}: {}", log.trim())
            })?;
        let url = format!("http://{addr}");
        Ok(ExecutorProcess { child, pid, url })
    }

    /// `None` while running, else how it ended.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The address in the executor's first stdout line (`wow-runtime listening on ADDR`), read
/// from its log file as it appears; fails when the executor exits first or `startup` passes.
async fn wait_for_listen_line(
    child: &mut tokio::process::Child,
    stdout: &Path,
    startup: Duration,
) -> Result<String> {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(stdout).unwrap_or_default();
        if let Some((first, _)) = text.split_once('\n') {
            return first
                .strip_prefix("wow-runtime listening on ")
                .map(str::to_string)
                .with_context(|| format!("its first line was {first:?}"));
        }
        if let Some(status) = child.try_wait()? {
            bail!("it exited ({status})");
        }
        if t.elapsed() > startup {
            bail!("it did not listen within {} s", startup.as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Makes the child get SIGKILL when the harness dies, however it dies (a second signal, `kill -9`,
/// a crash): an executor must never outlive its run. (The signal follows the thread that spawned
/// the child; the harness spawns executors from its runtime's worker threads, which live as
/// long as the run.)
pub fn die_with_parent(command: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// How to serve the executor with `program`: a `wowbench` binary through its `executor`
/// subcommand, anything else (`wow-runtime`, a wrapper script) as it is.
pub(crate) fn executor_program(program: PathBuf) -> (PathBuf, Vec<String>) {
    if program.file_name().is_some_and(|n| n == "wowbench") {
        (program, vec!["executor".into()])
    } else {
        (program, vec![])
    }
}

/// The program that serves the executor: `$WOWBENCH_EXECUTOR`, else this `wowbench` binary's
/// `executor` subcommand, else a `wow-runtime` or `wowbench` binary beside the current one.
pub(crate) fn executor_command() -> Result<(PathBuf, Vec<String>)> {
    if let Some(p) = std::env::var_os("WOWBENCH_EXECUTOR") {
        return Ok(executor_program(PathBuf::from(p)));
    }
    let exe = std::env::current_exe().context("cannot locate the running binary")?;
    if exe.file_name().is_some_and(|n| n == "wowbench") {
        return Ok((exe, vec!["executor".into()]));
    }
    // Tests: target/<profile>/deps/<test> -> target/<profile>/{wowbench,wow-runtime}.
    for dir in exe.ancestors().skip(1).take(3) {
        let w = dir.join("wowbench");
        if w.is_file() {
            return Ok((w, vec!["executor".into()]));
        }
        let r = dir.join("wow-runtime");
        if r.is_file() {
            return Ok((r, vec![]));
        }
    }
    bail!("cannot find the executor: set WOWBENCH_EXECUTOR to a wow-runtime or wowbench binary")
}

pub struct WasmBackend {
    variant: String,
    client: ActionClient,
    url: String,
    process: Mutex<Option<ExecutorProcess>>,
    pid: Option<u32>,
    seq: AtomicU64,
    baseline_rss: Mutex<Option<u64>>,
}

impl WasmBackend {
    pub async fn start(opts: &WasmOptions, client: ActionClient) -> Result<WasmBackend> {
        let (url, process) = match &opts.url {
            Some(url) => (url.trim_end_matches('/').to_string(), None),
            None => {
                let p = ExecutorProcess::start(
                    opts.program.as_deref(),
                    &opts.executor_args,
                    &opts.work_dir,
                    &opts.cgroup_procs,
                )
                .await?;
                (p.url.clone(), Some(p))
            }
        };
        let pid = process.as_ref().map(|p| p.pid);
        let b = WasmBackend {
            variant: opts.variant.clone(),
            client,
            url,
            process: Mutex::new(process),
            pid,
            seq: AtomicU64::new(0),
            baseline_rss: Mutex::new(None),
        };
        let health = format!("{}/health", b.url);
        let t = Instant::now();
        while !b.client.probe(&health, Duration::from_secs(2)).await {
            if t.elapsed() > Duration::from_secs(30) {
                bail!("the executor at {} does not answer /health", b.url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(b)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The executor's process id, when the harness started it.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// False once a started executor has exited (crashed or was killed).
    pub fn alive(&self) -> bool {
        self.healthy().is_ok()
    }

    /// The executor's `/health` document (allocator, limits, versions).
    pub async fn health(&self) -> Result<serde_json::Value> {
        let r = self
            .client
            .http()
            .get(format!("{}/health", self.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        Ok(r.json().await?)
    }

    /// Stops a started executor.
    pub async fn shutdown(&self) {
        let p = self.process.lock().unwrap().take();
        if let Some(p) = p {
            p.stop().await;
        }
    }
}

impl Backend for WasmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasm
    }

    fn variant(&self) -> &str {
        &self.variant
    }

    async fn provision(&self, action: &str) -> Result<Sandbox> {
        let t = Instant::now();
        let id = format!("{action}-{}", self.seq.fetch_add(1, Ordering::Relaxed));
        let base_url = format!("{}/{id}", self.url);
        Ok(Sandbox {
            id,
            kind: BackendKind::Wasm,
            base_url,
            container_id: None,
            host_port: None,
            provision: ProvisionTiming {
                total: t.elapsed(),
                ..Default::default()
            },
        })
    }

    async fn destroy(&self, sandbox: &Sandbox) -> Result<()> {
        let url = format!("{}/destroy", sandbox.base_url);
        let r = self
            .client
            .http()
            .post(&url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        // A sandbox whose init failed was never kept by the executor: nothing to destroy.
        if !(r.status().is_success() || r.status().as_u16() == 404) {
            bail!("destroy {}: HTTP {}", sandbox.id, r.status());
        }
        Ok(())
    }

    async fn memory_baseline(&self) -> Result<()> {
        if let Some(pid) = self.pid {
            *self.baseline_rss.lock().unwrap() = Some(procfs::rss_bytes(pid)?);
        }
        Ok(())
    }

    async fn memory(&self, sandboxes: &[Sandbox]) -> Result<MemorySample> {
        let n = sandboxes.len();
        let Some(pid) = self.pid else {
            // A remote executor: its memory cannot be read from here.
            return Ok(MemorySample {
                sandboxes: n,
                ..Default::default()
            });
        };
        let rss = procfs::rss_bytes(pid)? as f64;
        let pss = procfs::pss_bytes(pid)? as f64;
        let baseline = *self.baseline_rss.lock().unwrap();
        let mut parts = vec![
            ("executor_rss".to_string(), rss),
            ("executor_pss".to_string(), pss),
        ];
        if let Some(b) = baseline {
            parts.push(("executor_rss_baseline".to_string(), b as f64));
        }
        let per = |x: f64| (n > 0).then(|| x / n as f64);
        Ok(MemorySample {
            sandboxes: n,
            paper_per_sandbox: per(rss),
            full_per_sandbox: baseline.and_then(|b| per(rss - b as f64)),
            total_bytes: Some(rss),
            parts,
        })
    }

    fn client(&self) -> &ActionClient {
        &self.client
    }

    fn healthy(&self) -> Result<()> {
        let mut guard = self.process.lock().unwrap();
        let Some(p) = guard.as_mut() else {
            return Ok(());
        };
        match p.exit_status() {
            None => Ok(()),
            Some(status) => bail!(
                "the Wasm executor (pid {}) exited during the run: {status}",
                p.pid
            ),
        }
    }
}
