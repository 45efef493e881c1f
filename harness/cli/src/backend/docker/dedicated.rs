//! A Docker engine of the run's own, started inside the device's cgroup, so that Docker pays for
//! its whole stack on the device as the executor does: dockerd, the containerd it starts, the
//! shims, runc, docker-proxy and the storage driver's fuse-overlayfs helpers all inherit the
//! cgroup dockerd joins before it executes.
//!
//! The system engine is never touched beyond reading its images: the dedicated engine has its
//! own data root, exec root, socket, pid file, containerd namespace and a bridge of its own
//! (never `--bridge=none`, which deletes `docker0`), takes no configuration file of the
//! system's, and writes no iptables rules. The images move in from the system engine by
//! export and load. [`EnginePaths::teardown`] stops it and removes everything it made — the
//! bridge, the folders, any mount left — at the end of the run, on error, on a signal (see
//! `signals`) and when dropped; dockerd also gets SIGTERM if the harness dies outright.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::query_parameters::ImportImageOptions;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::engine;

/// How long the engine (and its containerd) may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long dockerd gets to stop its containers and containerd after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where one dedicated engine lives: enough to stop it and remove all it made, from the run
/// or from a signal handler.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnginePaths {
    /// The run it serves.
    pub run_id: String,
    /// The harness process that started it.
    pub owner_pid: u32,
    /// `unix://…/docker.sock`, what bollard connects to.
    pub host: String,
    pub exec_root: PathBuf,
    pub data_root: PathBuf,
    pub pidfile: PathBuf,
    /// The bridge the engine's default network uses.
    pub bridge: String,
    /// Its subnet, `10.213.X.0/24`.
    pub subnet: String,
    /// dockerd's and containerd's log.
    pub log: PathBuf,
}

impl EnginePaths {
    /// Paths for run `run_id`'s engine: `/run/wowbench/<tag>` (short: containerd's sockets live
    /// under it) and `/var/lib/wowbench/<tag>`, the bridge `wowb-<tag>`.
    pub fn for_run(run_id: &str, log: PathBuf) -> EnginePaths {
        let tag = tag_of(run_id);
        let exec_root = PathBuf::from("/run/wowbench").join(&tag);
        EnginePaths {
            run_id: run_id.to_string(),
            owner_pid: std::process::id(),
            host: format!("unix://{}", exec_root.join("docker.sock").display()),
            pidfile: exec_root.join("docker.pid"),
            data_root: PathBuf::from("/var/lib/wowbench").join(&tag),
            exec_root,
            bridge: format!("wowb-{tag}"),
            subnet: String::new(),
            log,
        }
    }

    /// dockerd's pid, while its pid file says.
    pub fn dockerd_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// Stops the engine and removes everything it made: SIGTERM to dockerd (SIGKILL after
    /// [`STOP_TIMEOUT`]), `kill_leftovers` for what a killed engine leaves (shims, storage
    /// helpers), every mount under its folders, the folders, the bridge. Idempotent; blocking.
    pub fn teardown(&self, kill_leftovers: impl Fn()) {
        if let Some(pid) = self.dockerd_pid() {
            signal_and_wait(pid, STOP_TIMEOUT);
        }
        kill_leftovers();
        for root in [&self.data_root, &self.exec_root] {
            unmount_under(root);
            let _ = std::fs::remove_dir_all(root);
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.bridge])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Dedicated engines on this machine (as their `owner.json` says), running or left behind by a
/// harness killed outright; `wowbench clean` tears down those of a run, or all whose harness is
/// gone.
pub fn on_this_machine() -> Vec<EnginePaths> {
    std::fs::read_dir("/run/wowbench")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read(e.path().join("owner.json")).ok()?;
            serde_json::from_slice(&text).ok()
        })
        .collect()
}

/// A running dedicated engine. Dropping it tears it down.
pub struct DedicatedEngine {
    pub paths: EnginePaths,
    child: Mutex<Option<Child>>,
    cgroup_name: Option<String>,
}

impl DedicatedEngine {
    /// Creates the bridge and folders and starts dockerd, which joins the cgroups of
    /// `cgroup_procs` (the device's `docker/engine`) before it executes, so that everything it
    /// starts is inside too; returns once the engine answers. `cgroup_parent` becomes the
    /// engine's default parent of container cgroups; `cgroup_name` is killed empty on teardown.
    pub async fn start(
        mut paths: EnginePaths,
        cgroup_procs: &[PathBuf],
        cgroup_parent: Option<&str>,
        cgroup_name: Option<String>,
    ) -> Result<DedicatedEngine> {
        if !Path::new("/usr/sbin/dockerd").exists() && which("dockerd").is_none() {
            bail!("no dockerd on this machine: a dedicated engine cannot be started");
        }
        paths.subnet = free_subnet(paths.bridge.trim_start_matches("wowb-"))?;
        let engine = DedicatedEngine {
            paths: paths.clone(),
            child: Mutex::new(None),
            cgroup_name,
        };
        // From here on, dropping `engine` removes whatever was made.
        create_bridge(&paths.bridge, &paths.subnet)?;
        for dir in [&paths.exec_root, &paths.data_root] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(
            paths.exec_root.join("owner.json"),
            serde_json::to_vec(&paths)?,
        )?;
        let config = paths.exec_root.join("daemon.json");
        std::fs::write(&config, "{}")?;
        let log = std::fs::File::create(&paths.log)
            .with_context(|| format!("cannot create {}", paths.log.display()))?;
        let tag = paths.bridge.trim_start_matches("wowb-").to_string();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(&paths.data_root)
            .arg("--exec-root")
            .arg(&paths.exec_root)
            .args(["-H", &paths.host])
            .arg("--pidfile")
            .arg(&paths.pidfile)
            .args(["--bridge", &paths.bridge])
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"])
            .args(["--storage-driver", "fuse-overlayfs"])
            .args(["--containerd-namespace", &format!("wowbench-{tag}")])
            .args([
                "--containerd-plugins-namespace",
                &format!("wowbench-{tag}-plugins"),
            ])
            .args(["--log-level", "warn"]);
        if let Some(parent) = cgroup_parent {
            cmd.args(["--cgroup-parent", parent]);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        crate::device::enter_before_exec(&mut cmd, cgroup_procs, libc::SIGTERM)?;
        // A process group of its own: a Ctrl-C at the terminal goes to the harness, which
        // removes the run's containers before it stops the engine.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().context("cannot start dockerd")?;
        *engine.child.lock().unwrap() = Some(child);
        engine.wait_ready().await?;
        Ok(engine)
    }

    /// Waits for the engine's socket to answer, failing early if dockerd exits.
    async fn wait_ready(&self) -> Result<()> {
        let began = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "the dedicated Docker engine exited at start ({status}): {}",
                    tail(&self.paths.log)
                );
            }
            if self.paths.exec_root.join("docker.sock").exists()
                && engine::connect(Some(&self.paths.host)).await.is_ok()
            {
                return Ok(());
            }
            if began.elapsed() > START_TIMEOUT {
                bail!(
                    "the dedicated Docker engine did not answer within {} s: {}",
                    START_TIMEOUT.as_secs(),
                    tail(&self.paths.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Copies images `tags` from `from` (the system engine, where they were built) into this
    /// engine.
    pub async fn load_images(&self, from: &Docker, tags: &[String]) -> Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let (to, _) = engine::connect(Some(&self.paths.host)).await?;
        let names: Vec<&str> = tags.iter().map(String::as_str).collect();
        let mut tar = Vec::new();
        let mut export = from.export_images(&names);
        while let Some(chunk) = export.next().await {
            tar.extend_from_slice(&chunk.context("exporting the images from the system engine")?);
        }
        let body =
            futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(tar)) });
        let mut load = to.import_image_stream(ImportImageOptions::default(), body, None);
        while let Some(step) = load.next().await {
            let step = step.context("loading the images into the dedicated engine")?;
            if let Some(e) = step.error_detail.and_then(|d| d.message) {
                bail!("loading the images into the dedicated engine: {e}");
            }
        }
        for tag in tags {
            if super::image::image_id(&to, tag).await?.is_none() {
                bail!("image {tag} is missing from the dedicated engine after loading");
            }
        }
        Ok(())
    }

    /// Stops the engine and removes all it made (blocking; see [`EnginePaths::teardown`]).
    pub fn stop(&self) {
        let child = self.child.lock().unwrap().take();
        let name = self.cgroup_name.clone();
        self.paths.teardown(|| {
            if let Some(name) = &name {
                crate::device::kill_all_in(&format!("{name}/docker"));
            }
        });
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for DedicatedEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Eight hex digits of the run id and this process, short enough for an interface name.
fn tag_of(run_id: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{run_id}/{}", std::process::id()));
    super::image::hex(&h[..4])
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// A `10.213.X.0/24` that no interface address and no route of this machine uses, searched from
/// an X drawn from the engine's tag, so that two runs starting at once rarely pick the same.
fn free_subnet(tag: &str) -> Result<String> {
    let addrs = tool_text(Command::new("ip").args(["-4", "-o", "addr", "show"]))?;
    let routes = tool_text(Command::new("ip").args(["-4", "route", "show", "table", "all"]))?;
    let start = u32::from_str_radix(tag.get(..4).unwrap_or("0"), 16).unwrap_or(0) % 254;
    (0..254)
        .map(|i| (start + i) % 254 + 1)
        .map(|x| format!("10.213.{x}."))
        .find(|prefix| !addrs.contains(prefix.as_str()) && !routes.contains(prefix.as_str()))
        .map(|prefix| format!("{prefix}0/24"))
        .context("no free 10.213.X.0/24 subnet for the dedicated engine's bridge")
}

fn create_bridge(name: &str, subnet: &str) -> Result<()> {
    let gateway = subnet.replace(".0/24", ".1/24");
    for args in [
        vec!["link", "add", "name", name, "type", "bridge"],
        vec!["addr", "add", &gateway, "dev", name],
        vec!["link", "set", name, "up"],
    ] {
        tool_text(Command::new("ip").args(&args))
            .with_context(|| format!("cannot set up the bridge {name}"))?;
    }
    Ok(())
}

fn tool_text(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&super::image::tool_output(cmd)?).into_owned())
}

/// SIGTERM, then SIGKILL after `limit` if it still runs.
fn signal_and_wait(pid: u32, limit: Duration) {
    let alive = || !matches!(crate::procfs::state(pid), None | Some('Z' | 'X'));
    // SAFETY: signals to the engine this run started (its pid file names it).
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let began = Instant::now();
    while alive() && began.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive() {
        // SAFETY: as above.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Unmounts (lazily) every mount at or under `root`, deepest first.
fn unmount_under(root: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        if let Ok(c) = CString::new(p.as_os_str().as_bytes()) {
            // SAFETY: a plain system call on a valid C string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// The last lines of a log, for an error.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// The processes that make up engine `paths`' stack, found without asking the cgroups: dockerd,
/// the daemons that detach from it but name the engine's folders on their command line (the
/// shims, fuse-overlayfs), and all their descendants (containerd, docker-proxy, runc, the
/// containers' processes). `(pid, name)`.
pub fn stack_processes(paths: &EnginePaths) -> Vec<(u32, String)> {
    let Some(dockerd) = paths.dockerd_pid() else {
        return vec![];
    };
    let procs = crate::procfs::all_processes();
    let needles = [
        paths.exec_root.display().to_string(),
        paths.data_root.display().to_string(),
    ];
    let mut stack: Vec<u32> = procs
        .iter()
        .filter(|p| p.pid == dockerd || needles.iter().any(|n| p.cmdline.contains(n.as_str())))
        .map(|p| p.pid)
        .collect();
    let mut grew = true;
    while grew {
        grew = false;
        for p in &procs {
            if !stack.contains(&p.pid) && stack.contains(&p.ppid) {
                stack.push(p.pid);
                grew = true;
            }
        }
    }
    procs
        .iter()
        .filter(|p| stack.contains(&p.pid))
        .map(|p| (p.pid, p.comm.clone()))
        .collect()
}
