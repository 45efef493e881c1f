//! Reading processes from `/proc`: resident and proportional memory, file descriptors, threads,
//! and finding processes by command line (a container's `containerd-shim`, its `docker-proxy`).

use std::path::Path;

use anyhow::{Context, Result};

/// Resident set size (`VmRSS`), bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:").map(|k| k * 1024)
}

/// Peak resident set size (`VmHWM`), bytes.
pub fn peak_rss_bytes(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:").map(|k| k * 1024)
}

/// Threads of the process.
pub fn threads(pid: u32) -> Result<u64> {
    let text = read(&format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Threads in /proc/{pid}/status"))
}

/// Open file descriptors of the process.
pub fn open_fds(pid: u32) -> Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("cannot list /proc/{pid}/fd"))?
        .count() as u64)
}

/// Proportional set size (`Pss` of `smaps_rollup`): shared pages split among their users, so
/// summing it over processes does not count a shared library twice. Bytes.
pub fn pss_bytes(pid: u32) -> Result<u64> {
    let text = read(&format!("/proc/{pid}/smaps_rollup"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|k| k * 1024)
        .with_context(|| format!("no Pss in /proc/{pid}/smaps_rollup"))
}

fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let text = read(&format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
}

/// The command line of a process, arguments joined by spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Every process whose command line satisfies `pred`.
pub fn find_processes(pred: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| cmdline(*pid).is_some_and(|c| pred(&c)))
        .collect()
}

/// A process as `/proc` shows it.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// The short name (`/proc/<pid>/comm`).
    pub comm: String,
    pub cmdline: String,
}

/// Every process of this machine (those that exit while being read are left out).
pub fn all_processes() -> Vec<ProcessInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid …: comm may hold spaces and parentheses.
            let (left, right) = stat.rsplit_once(')')?;
            let comm = left.split_once('(')?.1.to_string();
            let ppid = right.split_whitespace().nth(1)?.parse().ok()?;
            Some(ProcessInfo {
                pid,
                ppid,
                comm,
                cmdline: cmdline(pid).unwrap_or_default(),
            })
        })
        .collect()
}

/// The state letter of process `pid` (`R`, `S`, `Z` for a zombie, …); `None` once it is gone.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state …: comm may hold spaces and parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The cgroup paths of process `pid`, one line per hierarchy (`/proc/<pid>/cgroup`).
pub fn cgroups(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()
}

/// True if `/proc` of this machine shows process `pid`.
pub fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The machine's memory in use, `MemTotal − MemAvailable` of `/proc/meminfo`, bytes, read after
/// dropping the page cache (`sync`, then `1` into `/proc/sys/vm/drop_caches`) so that cached
/// files read by anything on the machine do not move it. This sees what no process view sees —
/// kernel memory of network namespaces, veth pairs, page tables, cgroups — and everything else
/// the machine does meanwhile; dropping the cache needs root and touches the whole machine.
/// `Err` when the cache cannot be dropped (not root): the reading is then not taken.
pub fn system_used_bytes_after_drop() -> Result<u64> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "1")
        .context("cannot drop the page cache (/proc/sys/vm/drop_caches needs root)")?;
    let text = read("/proc/meminfo")?;
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|k| k * 1024)
            .with_context(|| format!("no {name} in /proc/meminfo"))
    };
    Ok(field("MemTotal:")?.saturating_sub(field("MemAvailable:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_process_with_its_parent() {
        let me = std::process::id();
        let all = all_processes();
        let this = all
            .iter()
            .find(|p| p.pid == me)
            .expect("this process is listed");
        assert_eq!(this.ppid, std::os::unix::process::parent_id());
        assert!(!this.comm.is_empty() && !this.cmdline.is_empty());
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let rss = rss_bytes(me).unwrap();
        assert!(rss > 1 << 20, "{rss}");
        assert!(peak_rss_bytes(me).unwrap() >= rss);
        assert!(pss_bytes(me).unwrap() > 0);
        assert!(threads(me).unwrap() >= 1);
        assert!(open_fds(me).unwrap() >= 3);
        assert!(find_processes(|c| c.contains("wowbench")).contains(&me));
    }
}
