//! Device profiles: `host` (no limits) or an edge profile whose CPU and memory limits apply
//! identically to both backends, each backend with its whole stack.
//!
//! An edge profile is a cgroup `wowbench-<name>-<run id>` (one per run, so two runs on one
//! machine never share or remove each other's) with one part per backend, each part holding the
//! device's CPU quota and memory limit:
//!
//! - `wasm/`: the executor processes (in `wasm/executor`), moved in as they start;
//! - `docker/`: the run's dedicated Docker engine (in `docker/engine`: dockerd, its containerd,
//!   the shims, runc, docker-proxy and the storage driver's fuse-overlayfs helpers, which all
//!   inherit the cgroup from dockerd) and every container (`cgroup_parent`).
//!
//! One part per backend because each backend is measured alone, as it would run on the device:
//! an idle Docker engine does not take memory from the executor's budget. Docker creates the
//! `docker` part in every hierarchy it uses. All of it is removed when the run ends, on every
//! path (`Drop`).
//!
//! The CPU limit is a CFS quota over a short period, calibrated so that a single-threaded step
//! longer than a few milliseconds runs about as much slower as the paper's Pi did than its
//! server (see `calibrate`); the memory limit is the device's RAM, without swap.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceProfile {
    pub name: String,
    /// CPU quota in cores per CFS period (e.g. 0.5 = half of one host core); `None` = unlimited.
    pub cpus: Option<f64>,
    /// The CFS period the quota is counted over, µs.
    pub cpu_period_us: u64,
    /// Memory budget for everything a backend runs, its engine included; `None` = unlimited.
    pub memory_bytes: Option<u64>,
    /// How much slower than the paper's server the paper's device ran the executor's init
    /// (its Pi-versus-server ratio), which the CPU limit is calibrated against.
    pub paper_slowdown: Option<PaperSlowdown>,
    pub description: String,
}

/// The paper's device-versus-server ratios of the executor's `initTime` (median of each range
/// over the median of the server's), per engine, and the range over all three.
#[derive(Debug, Clone, Serialize)]
pub struct PaperSlowdown {
    /// `(engine, Pi initTime ms range, server initTime ms range)` as the paper gives them.
    pub init_time_ms: Vec<(String, [f64; 2], [f64; 2])>,
    /// The lowest and highest ratio of the ranges' midpoints.
    pub ratio: [f64; 2],
}

impl PaperSlowdown {
    /// The paper's executor `initTime`: wasmtime 124–184 ms on the Pi against 8.5–10.1 ms on
    /// the server, WAMR 112–142 against 5.6–7.3, wasmer 246–316 against 17.4–20.8 (15–20×).
    pub fn pi3() -> PaperSlowdown {
        let init_time_ms = vec![
            ("wasmtime".to_string(), [124.0, 184.0], [8.5, 10.1]),
            ("wamr".to_string(), [112.0, 142.0], [5.6, 7.3]),
            ("wasmer".to_string(), [246.0, 316.0], [17.4, 20.8]),
        ];
        let ratios: Vec<f64> = init_time_ms
            .iter()
            .map(|(_, pi, server)| (pi[0] + pi[1]) / (server[0] + server[1]))
            .collect();
        let lo = ratios.iter().copied().fold(f64::MAX, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        PaperSlowdown {
            init_time_ms,
            ratio: [lo, hi],
        }
    }
}

/// The starting CFS period of the `pi3` profile, µs, with the kernel's smallest quota (1 ms):
/// the quota is what a process runs before it is throttled, so it must be short for a short
/// step to be slowed; the period then sets the slowdown. A run retunes the period until the
/// reference step's slowdown matches the paper's (`calibrate`), since the kernel's tick and
/// its bandwidth slices make the effective quota machine-dependent.
const PI3_PERIOD_US: u64 = 17_000;

/// The profiles `wowbench list` shows.
pub fn profiles() -> Vec<DeviceProfile> {
    vec![
        DeviceProfile {
            name: "host".into(),
            cpus: None,
            cpu_period_us: 100_000,
            memory_bytes: None,
            paper_slowdown: None,
            description: "this machine, no limits".into(),
        },
        DeviceProfile {
            name: "pi3".into(),
            cpus: Some(1000.0 / PI3_PERIOD_US as f64),
            cpu_period_us: PI3_PERIOD_US,
            memory_bytes: Some(1 << 30),
            paper_slowdown: Some(PaperSlowdown::pi3()),
            description: "Raspberry Pi 3B class: 1 GiB for everything a backend runs (Docker's \
                          engine included), no swap; a CPU quota of 1 ms per period, the \
                          period tuned at the start of each run until a single-threaded step \
                          of 20 ms runs as much slower as the paper's Pi ran the executor's \
                          init against its server (15–20×); emulated by cgroup limits, not a \
                          real Pi"
                .into(),
        },
    ]
}

pub fn profile(name: &str) -> Result<DeviceProfile> {
    profiles()
        .into_iter()
        .find(|p| p.name == name)
        .with_context(|| {
            let names: Vec<String> = profiles().into_iter().map(|p| p.name).collect();
            format!("unknown device {name:?}; known: {}", names.join(", "))
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

pub fn cgroup_version() -> CgroupVersion {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    }
}

/// A backend's part of the device cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Wasm,
    Docker,
}

impl Part {
    pub const ALL: [Part; 2] = [Part::Wasm, Part::Docker];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Wasm => "wasm",
            Part::Docker => "docker",
        }
    }

    /// The child of the part that the backend's own processes join (the containers get
    /// cgroups of their own beside it).
    fn leaf(self) -> &'static str {
        match self {
            Part::Wasm => "executor",
            Part::Docker => "engine",
        }
    }
}

/// The cgroup of a run's device, created for the run and removed after it (also when dropped,
/// so an error or a signal cannot leave it behind).
#[derive(Debug, Serialize)]
pub struct DeviceCgroup {
    pub version: CgroupVersion,
    /// The cgroup's name, the same in every hierarchy: `wowbench-<profile>-<run id>`.
    pub name: String,
    /// What Docker's `cgroup_parent` is set to: the `docker` part.
    pub docker_parent: String,
    /// `cgroup.procs` files the executor's pid is written to.
    pub executor_procs: Vec<PathBuf>,
    /// `cgroup.procs` files the dedicated Docker engine joins before it starts.
    pub engine_procs: Vec<PathBuf>,
    /// Every directory created, children first, for removal.
    created: Vec<PathBuf>,
    /// Each part's directory in the hierarchy that accounts memory.
    memory_dirs: Vec<(Part, PathBuf)>,
    /// Each part's directory in the hierarchy that holds the CPU quota.
    cpu_dirs: Vec<(Part, PathBuf)>,
    /// `(quota, period)` µs, once written; the period may be retuned by the calibration.
    #[serde(skip)]
    cpu: std::sync::Mutex<Option<(u64, u64)>>,
    /// The limits as written, for `meta.json`.
    pub limits: std::sync::Mutex<Vec<(String, String)>>,
}

impl DeviceCgroup {
    /// Creates the device cgroup of run `run_id` with the profile's memory limit on each part
    /// (the CPU limit follows with [`DeviceCgroup::limit_cpu`], once the backends are set up).
    /// `None` for a profile without limits unless `always` (a dedicated engine on `host` still
    /// gets a cgroup, without limits, so its processes can be sampled and its memory read).
    pub fn create(p: &DeviceProfile, run_id: &str, always: bool) -> Result<Option<DeviceCgroup>> {
        if p.cpus.is_none() && p.memory_bytes.is_none() && !always {
            return Ok(None);
        }
        let name = cgroup_name(&p.name, run_id);
        let cg = create_parts(&name, p).with_context(|| {
            format!(
                "cannot set up the {} device's cgroup (needs root and a writable /sys/fs/cgroup)",
                p.name
            )
        });
        match cg {
            Ok(cg) => Ok(Some(cg)),
            Err(e) => {
                for dir in everywhere(&name) {
                    remove_tree(&dir);
                }
                Err(e)
            }
        }
    }

    /// Writes the profile's CPU quota on each part. Called after the backends' setup (the
    /// engine's start, the image load), which is not measured and need not crawl.
    pub fn limit_cpu(&self) -> Result<()> {
        let Some((_, period)) = *self.cpu.lock().unwrap() else {
            return Ok(());
        };
        self.set_cpu_period(period)
    }

    /// Writes the CPU quota over period `period_us` on each part (the calibration tunes it).
    pub fn set_cpu_period(&self, period_us: u64) -> Result<()> {
        let mut cpu = self.cpu.lock().unwrap();
        let Some((quota, _)) = *cpu else {
            return Ok(());
        };
        for (_, dir) in &self.cpu_dirs {
            match self.version {
                CgroupVersion::V1 => {
                    // The quota must stay within the period while both change.
                    write(&dir.join("cpu.cfs_quota_us"), "-1")?;
                    write(&dir.join("cpu.cfs_period_us"), &period_us.to_string())?;
                    write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
                CgroupVersion::V2 => write(&dir.join("cpu.max"), &format!("{quota} {period_us}"))?,
            }
        }
        *cpu = Some((quota, period_us));
        let (key, value) = match self.version {
            CgroupVersion::V1 => (
                "cpu.cfs_quota_us/cpu.cfs_period_us",
                format!("{quota}/{period_us}"),
            ),
            CgroupVersion::V2 => ("cpu.max", format!("{quota} {period_us}")),
        };
        let mut limits = self.limits.lock().unwrap();
        limits.retain(|(k, _)| k != key);
        limits.push((key.to_string(), value));
        Ok(())
    }

    /// The CPU limit written, `(quota, period)` µs.
    pub fn cpu_limit(&self) -> Option<(u64, u64)> {
        *self.cpu.lock().unwrap()
    }

    /// Whether the profile limits anything.
    pub fn has_limits(&self) -> bool {
        !self.limits.lock().unwrap().is_empty() || self.cpu.lock().unwrap().is_some()
    }

    /// The processes in a part now (its leaf and every container under it).
    pub fn processes(&self, part: Part) -> Vec<u32> {
        self.memory_dirs
            .iter()
            .filter(|(p, _)| *p == part)
            .flat_map(|(_, dir)| processes_under(dir))
            .collect()
    }

    /// The `pre_exec` side of joining a part's leaf: the `cgroup.procs` files to write "0" to.
    pub fn procs_of(&self, part: Part) -> &[PathBuf] {
        match part {
            Part::Wasm => &self.executor_procs,
            Part::Docker => &self.engine_procs,
        }
    }

    /// Each part's peak memory and the OOM killer's kills in it now, for `meta.json`.
    pub fn memory_report(&self) -> serde_json::Value {
        let peak = match self.version {
            CgroupVersion::V1 => "memory.max_usage_in_bytes",
            CgroupVersion::V2 => "memory.peak",
        };
        let mut out = serde_json::Map::new();
        for (part, dir) in &self.memory_dirs {
            let peak = std::fs::read_to_string(dir.join(peak))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok());
            out.insert(
                part.as_str().to_string(),
                serde_json::json!({
                    "peak_bytes": peak,
                    "oom_kills": self.oom_kills(*part),
                }),
            );
        }
        serde_json::Value::Object(out)
    }

    /// The OOM killer's kills in a part so far, per cgroup folder that counts them: under v1
    /// each memory cgroup counts the kills of its own processes (so every folder of the part,
    /// containers included, while they exist); under v2 the part's `memory.events` counts its
    /// whole subtree.
    pub fn oom_kill_counts(&self, part: Part) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        for (_, dir) in self.memory_dirs.iter().filter(|(p, _)| *p == part) {
            match self.version {
                CgroupVersion::V1 => collect_v1_oom(dir, &mut out),
                CgroupVersion::V2 => out.push((dir.clone(), oom_kills(&dir.join("memory.events")))),
            }
        }
        out
    }

    /// OOM kills in a part now (see [`DeviceCgroup::oom_kill_counts`]).
    pub fn oom_kills(&self, part: Part) -> u64 {
        self.oom_kill_counts(part).iter().map(|(_, n)| n).sum()
    }

    /// Removes the cgroups (after the executor and the containers are gone): the ones the run
    /// made, then the same name in every other hierarchy, where Docker made it for the
    /// containers (under cgroup v1: blkio, cpuset, devices, freezer, pids, systemd, …).
    pub fn remove(&self) {
        for dir in &self.created {
            remove_tree(dir);
        }
        for dir in everywhere(&self.name) {
            remove_tree(&dir);
        }
    }
}

impl Drop for DeviceCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The cgroup name of a run's device: `wowbench-<profile>-<run id>`.
pub fn cgroup_name(profile: &str, run_id: &str) -> String {
    format!("wowbench-{profile}-{run_id}")
}

/// The tops of the cgroup hierarchies: `/sys/fs/cgroup` itself (v2) and each real directory in
/// it (v1: one per controller mount; `cpu` and `cpuacct` are links to `cpu,cpuacct` and skipped).
pub fn hierarchies() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut out = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        out.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    out
}

/// Every directory named `name` at the top of a cgroup hierarchy, existing or not.
pub fn everywhere(name: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .filter(|h| h.file_name().and_then(|n| n.to_str()) != Some(name))
        .map(|h| h.join(name))
        .collect()
}

/// The processes in cgroup `dir` and every cgroup below it.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(processes_under(&e.path()));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Kills every process left in the cgroup named `name` (any hierarchy), so that it can be
/// removed: what a crashed engine leaves behind (shims, storage helpers).
pub fn kill_all_in(name: &str) {
    for dir in everywhere(name) {
        for pid in processes_under(&dir) {
            // SAFETY: a signal to a process of this run's own cgroup.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// Makes `cmd`'s process join the cgroups whose `cgroup.procs` files are `procs` between fork
/// and exec (writing "0", the process itself), so that it and all it starts are inside from
/// the first instruction; it gets `death_signal` when the harness dies.
pub fn enter_before_exec(
    cmd: &mut std::process::Command,
    procs: &[PathBuf],
    death_signal: libc::c_int,
) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let files: Vec<std::ffi::CString> = procs
        .iter()
        .map(|p| std::ffi::CString::new(p.as_os_str().as_bytes()))
        .collect::<Result<_, _>>()?;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (open, write, close, prctl, getppid) between fork
    // and exec, on C strings made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for f in &files {
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let error = std::io::Error::last_os_error();
                libc::close(fd);
                if !ok {
                    return Err(error);
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the harness exited"));
            }
            Ok(())
        });
    }
    Ok(())
}

fn collect_v1_oom(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    out.push((
        dir.to_path_buf(),
        oom_kills(&dir.join("memory.oom_control")),
    ));
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_v1_oom(&e.path(), out);
        }
    }
}

fn oom_kills(events: &Path) -> u64 {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .unwrap_or(0)
}

/// Removes a cgroup and its (empty) children, deepest first. A cgroup can only be removed once
/// no process is in it: exiting processes get a moment, then it is left (and reported by the
/// caller's checks) rather than waited on for ever.
pub fn remove_tree(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The hierarchies a device cgroup uses: (memory, cpu) under v1, the unified one twice under v2.
fn roots() -> Result<(CgroupVersion, PathBuf, PathBuf)> {
    Ok(match cgroup_version() {
        CgroupVersion::V1 => {
            let cpu = ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"]
                .iter()
                .map(Path::new)
                .find(|p| p.join("cpu.cfs_quota_us").exists())
                .map(Path::to_path_buf)
                .context("no cgroup v1 cpu controller with CFS quota")?;
            (
                CgroupVersion::V1,
                PathBuf::from("/sys/fs/cgroup/memory"),
                cpu,
            )
        }
        CgroupVersion::V2 => {
            let root = PathBuf::from("/sys/fs/cgroup");
            (CgroupVersion::V2, root.clone(), root)
        }
    })
}

/// `<name>/{wasm,docker}/{executor,engine}` in the memory and cpu hierarchies, with the memory
/// limit (and no swap where the kernel accounts it) on each part.
fn create_parts(name: &str, p: &DeviceProfile) -> Result<DeviceCgroup> {
    let (version, mem_root, cpu_root) = roots()?;
    let mut created = Vec::new();
    let mut memory_dirs = Vec::new();
    let mut cpu_dirs = Vec::new();
    let mut executor_procs = Vec::new();
    let mut engine_procs = Vec::new();
    let mut limits = Vec::new();
    let mut tops = vec![mem_root.clone()];
    if cpu_root != mem_root {
        tops.push(cpu_root.clone());
    }
    for top in &tops {
        let base = top.join(name);
        make_dir(&base)?;
        if version == CgroupVersion::V2 {
            let _ = write(&top.join("cgroup.subtree_control"), "+cpu +memory");
            write(&base.join("cgroup.subtree_control"), "+cpu +memory")?;
        }
        let mut leaves = Vec::new();
        for part in Part::ALL {
            let dir = base.join(part.as_str());
            make_dir(&dir)?;
            if version == CgroupVersion::V2 {
                write(&dir.join("cgroup.subtree_control"), "+cpu +memory")?;
            }
            let leaf = dir.join(part.leaf());
            make_dir(&leaf)?;
            match part {
                Part::Wasm => executor_procs.push(leaf.join("cgroup.procs")),
                Part::Docker => engine_procs.push(leaf.join("cgroup.procs")),
            }
            if *top == mem_root {
                memory_dirs.push((part, dir.clone()));
            }
            if *top == cpu_root {
                cpu_dirs.push((part, dir.clone()));
            }
            leaves.push(leaf);
            leaves.push(dir);
        }
        created.extend(leaves);
        created.push(base);
    }
    if let Some(bytes) = p.memory_bytes {
        for (_, dir) in &memory_dirs {
            match version {
                CgroupVersion::V1 => {
                    write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
                    // Only where the kernel accounts swap (it may not).
                    let _ =
                        std::fs::write(dir.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                }
                CgroupVersion::V2 => {
                    write(&dir.join("memory.max"), &bytes.to_string())?;
                    let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                }
            }
        }
        limits.push((
            match version {
                CgroupVersion::V1 => "memory.limit_in_bytes",
                CgroupVersion::V2 => "memory.max",
            }
            .to_string(),
            bytes.to_string(),
        ));
    }
    let cpu = p.cpus.map(|cpus| {
        let quota = ((cpus * p.cpu_period_us as f64).round() as u64).max(1000);
        (quota, p.cpu_period_us)
    });
    Ok(DeviceCgroup {
        version,
        name: name.to_string(),
        docker_parent: format!("/{name}/docker"),
        executor_procs,
        engine_procs,
        created,
        memory_dirs,
        cpu_dirs,
        cpu: std::sync::Mutex::new(cpu),
        limits: std::sync::Mutex::new(limits),
    })
}

fn make_dir(p: &Path) -> Result<()> {
    match std::fs::create_dir(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", p.display())),
    }
}

fn write(p: &Path, v: &str) -> Result<()> {
    std::fs::write(p, v).with_context(|| format!("cannot write {v:?} to {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_known_and_host_has_no_limits() {
        assert!(profile("host").unwrap().cpus.is_none());
        let pi = profile("pi3").unwrap();
        assert_eq!(pi.memory_bytes, Some(1 << 30));
        assert!(pi.cpus.unwrap() < 1.0);
        let err = profile("pi9").unwrap_err().to_string();
        assert!(err.contains("host, pi3"), "{err}");
        assert!(
            DeviceCgroup::create(&profile("host").unwrap(), "r", false)
                .unwrap()
                .is_none()
        );
        let ratio = pi.paper_slowdown.unwrap().ratio;
        assert!(ratio[0] > 14.0 && ratio[1] < 21.0, "{ratio:?}");
    }
}
