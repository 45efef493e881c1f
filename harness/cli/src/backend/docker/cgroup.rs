//! A container's memory as `docker stats` reports it, read straight from its cgroup's files
//! instead of through the stats API (which takes 1–2 s per call).
//!
//! The cgroup is found from `/proc/<container init pid>/cgroup`, which works for any cgroup
//! driver (cgroupfs, systemd) and any `cgroup_parent`; its directory from the mount table of
//! this process (`/proc/self/mountinfo`), which also handles hybrid hosts (v1 controllers plus
//! an empty v2 hierarchy) and a cgroup mount whose root is not `/`.
//!
//! The figure is usage minus inactive file cache, as the Docker CLI computes it:
//! v1 `memory.usage_in_bytes − total_inactive_file` (`memory.stat`), v2 `memory.current −
//! inactive_file`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The cgroup hierarchy that accounts a process's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

/// A memory cgroup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryCgroup {
    pub version: CgroupVersion,
    /// The path inside the hierarchy, as `/proc/<pid>/cgroup` shows it (`/docker/<id>`).
    pub path: String,
    /// The directory holding its files (`/sys/fs/cgroup/memory/docker/<id>`).
    pub dir: PathBuf,
}

/// One reading of a memory cgroup, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupMemory {
    /// `memory.usage_in_bytes` (v1) or `memory.current` (v2).
    pub usage: u64,
    /// `total_inactive_file` (v1) or `inactive_file` (v2) of `memory.stat`.
    pub inactive_file: u64,
}

impl CgroupMemory {
    /// Usage minus inactive file cache: what `docker stats` shows.
    pub fn working_set(&self) -> u64 {
        self.usage.saturating_sub(self.inactive_file)
    }
}

/// The memory cgroup of process `pid` on this machine.
pub fn memory_cgroup_of(pid: u32) -> Result<MemoryCgroup> {
    let path = format!("/proc/{pid}/cgroup");
    let cgroups = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .context("cannot read /proc/self/mountinfo")?;
    resolve(&cgroups, &mountinfo, Path::exists)
        .with_context(|| format!("no memory cgroup found for process {pid}"))
}

/// Reads usage and inactive file cache of a memory cgroup.
pub fn read_memory(cg: &MemoryCgroup) -> Result<CgroupMemory> {
    let (usage_file, inactive_key) = match cg.version {
        CgroupVersion::V1 => ("memory.usage_in_bytes", "total_inactive_file"),
        CgroupVersion::V2 => ("memory.current", "inactive_file"),
    };
    let usage_path = cg.dir.join(usage_file);
    let usage = std::fs::read_to_string(&usage_path)
        .with_context(|| format!("cannot read {}", usage_path.display()))?
        .trim()
        .parse::<u64>()
        .with_context(|| format!("{} is not a number", usage_path.display()))?;
    let stat_path = cg.dir.join("memory.stat");
    let stat = std::fs::read_to_string(&stat_path)
        .with_context(|| format!("cannot read {}", stat_path.display()))?;
    let inactive_file = stat_value(&stat, inactive_key)
        .with_context(|| format!("no {inactive_key} in {}", stat_path.display()))?;
    Ok(CgroupMemory {
        usage,
        inactive_file,
    })
}

/// The version that accounts memory on this machine (of this process's own cgroup), if any.
pub fn host_version() -> Option<CgroupVersion> {
    memory_cgroup_of(std::process::id()).ok().map(|c| c.version)
}

fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A cgroup mount of this process: where it is mounted, which part of the hierarchy it shows,
/// and its type and controllers.
struct Mount<'a> {
    root: &'a str,
    point: &'a str,
    fstype: &'a str,
    options: &'a str,
}

fn mounts(mountinfo: &str) -> Vec<Mount<'_>> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // id parent major:minor root point options [optional…] - fstype source super-options
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                root: l.get(3)?,
                point: l.get(4)?,
                fstype: r.first()?,
                options: r.get(2).copied().unwrap_or(""),
            })
        })
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .collect()
}

/// Picks the memory cgroup from a `/proc/<pid>/cgroup` text and this process's mount table: the
/// v1 `memory` controller if the process has one, else the v2 unified hierarchy.
fn resolve(cgroups: &str, mountinfo: &str, exists: impl Fn(&Path) -> bool) -> Result<MemoryCgroup> {
    let mounts = mounts(mountinfo);
    let mut v2_path = None;
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            let mount = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == "memory"))
                .context("the process has a v1 memory cgroup but none is mounted here")?;
            let dir = join(mount, path)?;
            return Ok(MemoryCgroup {
                version: CgroupVersion::V1,
                path: path.to_string(),
                dir,
            });
        }
        if id == "0" && controllers.is_empty() {
            v2_path = Some(path);
        }
    }
    let Some(path) = v2_path else {
        bail!("no memory controller in the process's cgroups");
    };
    // On a hybrid host several cgroup2 mounts may exist; the one with memory files is it.
    for mount in mounts.iter().filter(|m| m.fstype == "cgroup2") {
        let Ok(dir) = join(mount, path) else { continue };
        if exists(&dir.join("memory.current")) {
            return Ok(MemoryCgroup {
                version: CgroupVersion::V2,
                path: path.to_string(),
                dir,
            });
        }
    }
    bail!("the unified cgroup {path} has no memory accounting here")
}

/// The directory of hierarchy path `path` under `mount`.
fn join(mount: &Mount<'_>, path: &str) -> Result<PathBuf> {
    let rel = if mount.root == "/" {
        path
    } else {
        match path.strip_prefix(mount.root) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => bail!(
                "cgroup {path} lies outside the part of the hierarchy mounted at {} ({})",
                mount.point,
                mount.root
            ),
        }
    };
    Ok(Path::new(mount.point).join(rel.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
24 18 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
25 24 0:23 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
30 24 0:28 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
31 24 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
";

    #[test]
    fn v1_memory_controller_wins_on_a_hybrid_host() {
        let cg = "9:name=systemd:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        let r = resolve(cg, HYBRID_MOUNTS, |_| true).unwrap();
        assert_eq!(r.version, CgroupVersion::V1);
        assert_eq!(r.dir, PathBuf::from("/sys/fs/cgroup/memory/docker/abc"));
    }

    #[test]
    fn v2_under_a_custom_parent() {
        let mounts = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let cg = "0::/pi3/def\n";
        let r = resolve(cg, mounts, |_| true).unwrap();
        assert_eq!(r.version, CgroupVersion::V2);
        assert_eq!(r.dir, PathBuf::from("/sys/fs/cgroup/pi3/def"));
        assert!(resolve(cg, mounts, |_| false).is_err());
    }

    #[test]
    fn a_mount_root_other_than_slash_is_stripped() {
        let mounts = "30 24 0:28 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let r = resolve("4:memory:/outer/docker/x\n", mounts, |_| true).unwrap();
        assert_eq!(r.dir, PathBuf::from("/sys/fs/cgroup/memory/docker/x"));
        assert!(resolve("4:memory:/elsewhere/x\n", mounts, |_| true).is_err());
    }

    #[test]
    fn stat_keys_match_exactly() {
        let stat = "inactive_file 5\ntotal_inactive_file 7\n";
        assert_eq!(stat_value(stat, "inactive_file"), Some(5));
        assert_eq!(stat_value(stat, "total_inactive_file"), Some(7));
        let m = CgroupMemory {
            usage: 10,
            inactive_file: 12,
        };
        assert_eq!(m.working_set(), 0);
    }
}
