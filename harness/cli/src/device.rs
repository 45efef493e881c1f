//! Device profiles: `host` (no limits) or an edge profile whose CPU and memory limits apply
//! identically to both backends.
//!
//! An edge profile is a parent cgroup `wowbench-<name>-<run id>` (one per run, so two runs on one
//! machine never share or remove each other's) with the device's CPU quota and memory limit.
//! Docker puts every container under it (`cgroup_parent`) and creates that parent in every
//! hierarchy it uses; the Wasm executor process is moved into a child of it. All of it is
//! removed when the run ends, on every path (`Drop`). What the profile cannot cover — dockerd,
//! containerd and the shims live outside any container's cgroup — is stated in the run's
//! metadata.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceProfile {
    pub name: String,
    /// CPU quota in cores (e.g. 0.5 = half of one host core); `None` = unlimited.
    pub cpus: Option<f64>,
    /// Memory budget for everything the backend runs in its cgroup; `None` = unlimited.
    pub memory_bytes: Option<u64>,
    pub description: String,
}

/// The profiles `wowbench list` shows.
pub fn profiles() -> Vec<DeviceProfile> {
    vec![
        DeviceProfile {
            name: "host".into(),
            cpus: None,
            memory_bytes: None,
            description: "this machine, no limits".into(),
        },
        DeviceProfile {
            name: "pi3".into(),
            cpus: Some(0.5),
            memory_bytes: Some(1 << 30),
            description: "Raspberry Pi 3B class: 1 GiB for everything the backend runs, CPU \
                          quota of 0.5 host core (four Cortex-A53 cores at 1.2 GHz do roughly \
                          an eighth of a current x86 core's work each); emulated by cgroup \
                          limits, not a real Pi"
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

/// The parent cgroup of an edge profile, created for the run and removed after it (also when
/// dropped, so an error or a signal cannot leave it behind).
#[derive(Debug, Serialize)]
pub struct DeviceCgroup {
    pub version: CgroupVersion,
    /// The cgroup's name, the same in every hierarchy: `wowbench-<profile>-<run id>`.
    pub name: String,
    /// What Docker's `cgroup_parent` is set to.
    pub docker_parent: String,
    /// `cgroup.procs` files the executor's pid is written to.
    pub executor_procs: Vec<PathBuf>,
    /// Every directory created, children first, for removal.
    created: Vec<PathBuf>,
    /// The limits as written, for `meta.json`.
    pub limits: Vec<(String, String)>,
}

impl DeviceCgroup {
    /// Creates the profile's cgroup for run `run_id` with its limits; `None` for a profile
    /// without limits.
    pub fn create(p: &DeviceProfile, run_id: &str) -> Result<Option<DeviceCgroup>> {
        if p.cpus.is_none() && p.memory_bytes.is_none() {
            return Ok(None);
        }
        let name = cgroup_name(&p.name, run_id);
        let cg = match cgroup_version() {
            CgroupVersion::V1 => create_v1(&name, p),
            CgroupVersion::V2 => create_v2(&name, p),
        }
        .with_context(|| {
            format!(
                "cannot set up the {} device's cgroup (needs root and a writable /sys/fs/cgroup)",
                p.name
            )
        })?;
        Ok(Some(cg))
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

const PERIOD_US: u64 = 100_000;

fn create_v1(name: &str, p: &DeviceProfile) -> Result<DeviceCgroup> {
    let mut created = Vec::new();
    let mut procs = Vec::new();
    let mut limits = Vec::new();
    let mem_root = Path::new("/sys/fs/cgroup/memory");
    let cpu_root = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]
        .iter()
        .map(Path::new)
        .find(|p| p.join("cpu.cfs_quota_us").exists())
        .map(Path::to_path_buf);
    if let Some(bytes) = p.memory_bytes {
        let parent = mem_root.join(name);
        make_dir(&parent)?;
        write(&parent.join("memory.limit_in_bytes"), &bytes.to_string())?;
        limits.push(("memory.limit_in_bytes".into(), bytes.to_string()));
        let child = parent.join("executor");
        make_dir(&child)?;
        procs.push(child.join("cgroup.procs"));
        created.push(child);
        created.push(parent);
    }
    if let Some(cpus) = p.cpus {
        let Some(cpu_root) = cpu_root else {
            bail!("no cgroup v1 cpu controller with CFS quota");
        };
        let parent = cpu_root.join(name);
        make_dir(&parent)?;
        let quota = (cpus * PERIOD_US as f64).round() as u64;
        write(&parent.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
        write(&parent.join("cpu.cfs_quota_us"), &quota.to_string())?;
        limits.push((
            "cpu.cfs_quota_us/cpu.cfs_period_us".into(),
            format!("{quota}/{PERIOD_US}"),
        ));
        let child = parent.join("executor");
        make_dir(&child)?;
        procs.push(child.join("cgroup.procs"));
        created.insert(0, child);
        created.push(parent);
    }
    Ok(DeviceCgroup {
        version: CgroupVersion::V1,
        name: name.to_string(),
        docker_parent: format!("/{name}"),
        executor_procs: procs,
        created,
        limits,
    })
}

fn create_v2(name: &str, p: &DeviceProfile) -> Result<DeviceCgroup> {
    let root = Path::new("/sys/fs/cgroup");
    let parent = root.join(name);
    make_dir(&parent)?;
    let _ = write(&root.join("cgroup.subtree_control"), "+cpu +memory");
    write(&parent.join("cgroup.subtree_control"), "+cpu +memory")?;
    let mut limits = Vec::new();
    if let Some(bytes) = p.memory_bytes {
        write(&parent.join("memory.max"), &bytes.to_string())?;
        limits.push(("memory.max".into(), bytes.to_string()));
    }
    if let Some(cpus) = p.cpus {
        let quota = (cpus * PERIOD_US as f64).round() as u64;
        write(&parent.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
        limits.push(("cpu.max".into(), format!("{quota} {PERIOD_US}")));
    }
    let child = parent.join("executor");
    make_dir(&child)?;
    Ok(DeviceCgroup {
        version: CgroupVersion::V2,
        name: name.to_string(),
        docker_parent: format!("/{name}"),
        executor_procs: vec![child.join("cgroup.procs")],
        created: vec![child, parent],
        limits,
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
            DeviceCgroup::create(&profile("host").unwrap(), "r")
                .unwrap()
                .is_none()
        );
    }
}
