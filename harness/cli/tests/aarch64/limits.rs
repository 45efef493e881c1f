//! The limits qemu runs under: a memory cgroup (a device profile's, see `wowbench::device`) and
//! an address-space limit, entered between fork and exec; and their cleanup, on every exit of the
//! test and, for a run killed outright, at the start of the next one.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use wowbench::device::{CgroupVersion, DeviceCgroup, DeviceProfile};

use crate::say;

/// The memory cgroup qemu runs in: a device profile's cgroup (see `wowbench::device`) with the
/// memory limit and no swap. Dropping it kills whatever still runs in it and removes it.
pub struct SmokeCgroup {
    cgroup: DeviceCgroup,
    /// The `cgroup.procs` file qemu joins.
    procs: PathBuf,
    /// The cgroup that carries the limit (the parent of `procs`' folder).
    pub dir: PathBuf,
}

impl SmokeCgroup {
    pub fn create(memory_mb: u64) -> SmokeCgroup {
        remove_stale_cgroups();
        let bytes = memory_mb << 20;
        let profile = DeviceProfile {
            name: CGROUP_PREFIX.trim_end_matches('-').to_string(),
            cpus: None,
            cpu_period_us: 100_000,
            memory_bytes: Some(bytes),
            paper_slowdown: None,
            description: "the ARM smoke test's limit around qemu".into(),
        };
        // Named `wowbench-aarch64-smoke-<pid>`: the test process stands in for a run.
        let cgroup = DeviceCgroup::create(&profile, &std::process::id().to_string(), false)
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create a memory cgroup ({e:#}): refusing to run qemu without a memory \
                     limit; run the test as root on a machine with the memory controller"
                )
            })
            .expect("a profile with a memory limit has a cgroup");
        let procs = cgroup.executor_procs[0].clone();
        let dir = procs
            .parent()
            .and_then(Path::parent)
            .expect("the profile's cgroup")
            .to_path_buf();
        // No swapping around the limit either, where the kernel accounts swap.
        let _ = match cgroup.version {
            CgroupVersion::V1 => {
                std::fs::write(dir.join("memory.memsw.limit_in_bytes"), bytes.to_string())
            }
            CgroupVersion::V2 => std::fs::write(dir.join("memory.swap.max"), "0"),
        };
        SmokeCgroup { cgroup, procs, dir }
    }

    /// A `pre_exec` hook: the new process joins the cgroup, takes the address-space limit and
    /// is killed when the test process dies.
    pub fn enter_hook(
        &self,
        vmem_mb: u64,
    ) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static + use<> {
        let procs = CString::new(self.procs.as_os_str().as_bytes()).expect("a path without NUL");
        let limit = libc::rlimit {
            rlim_cur: vmem_mb << 20,
            rlim_max: vmem_mb << 20,
        };
        move || {
            let fail = || Err(std::io::Error::last_os_error());
            // SAFETY: plain system calls on a valid C string and a local struct.
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return fail();
                }
                // "0": the writing process itself.
                let joined = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let error = std::io::Error::last_os_error();
                libc::close(fd);
                if !joined {
                    return Err(error);
                }
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return fail();
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return fail();
                }
            }
            Ok(())
        }
    }

    fn stat_file(&self, v1: &str, v2: &str) -> PathBuf {
        self.dir.join(match self.cgroup.version {
            CgroupVersion::V1 => v1,
            CgroupVersion::V2 => v2,
        })
    }

    /// Peak memory use of the cgroup, MiB (`?` where the kernel does not say).
    pub fn peak_mb(&self) -> String {
        std::fs::read_to_string(self.stat_file("memory.max_usage_in_bytes", "memory.peak"))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map_or("?".to_string(), |b| (b >> 20).to_string())
    }

    /// Processes the OOM killer killed in the cgroup.
    pub fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(self.stat_file("memory.oom_control", "memory.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for SmokeCgroup {
    fn drop(&mut self) {
        // Anything still in it was started by this test.
        let pids = std::fs::read_to_string(&self.procs).unwrap_or_default();
        for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            // SAFETY: a plain system call.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        self.cgroup.remove();
        if self.dir.exists() {
            eprintln!(
                "warning: could not remove the cgroup {}",
                self.dir.display()
            );
        }
    }
}

/// The cgroups of this test are `wowbench-aarch64-smoke-<pid>` (`wowbench-` added by the device
/// profile).
const CGROUP_PREFIX: &str = "aarch64-smoke-";

/// Removes what a run killed outright (SIGKILL: no cleanup could run) left behind: the empty
/// cgroups of test processes that no longer exist. Their qemu died with them (parent-death
/// signal).
fn remove_stale_cgroups() {
    let prefix = format!("wowbench-{CGROUP_PREFIX}");
    for root in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"] {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            if Path::new("/proc").join(pid).exists() {
                continue;
            }
            let dir = entry.path();
            let _ = std::fs::remove_dir(dir.join("executor"));
            if std::fs::remove_dir(&dir).is_ok() {
                say(&format!("removed the stale cgroup {}", dir.display()));
            }
        }
    }
}
