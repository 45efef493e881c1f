//! What ran inside the device's limits, and what of the dedicated Docker engine's stack did not:
//! sampled while a run lasts (the parts four times a second, the engine's stack once a second),
//! for `meta.json` (`device.inside_limits`, `device.outside_limits`) and the report.
//!
//! Inside: the names of the processes in each part of the device cgroup, and the OOM killer's
//! kills there (a container's count goes with its cgroup, so it is sampled). Outside: any process
//! of the engine's stack — found from the process tree and command lines, not from the cgroups
//! (see `dedicated::stack_processes`) — whose memory or CPU cgroup is not the `docker` part.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::backend::docker::dedicated::{EnginePaths, stack_processes};
use crate::device::{DeviceCgroup, Part};

/// How often the parts' processes are listed: often enough to catch a short series' executor
/// and a container's short-lived helpers (runc), cheap enough (the cgroups' process lists)
/// not to load the machine.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Every how many samples the engine's stack is looked for outside (a pass over all of
/// `/proc`, dearer): once a second.
const STACK_EVERY: u64 = 4;

/// What the samples saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seen {
    /// Process names per part (`wasm`, `docker`).
    pub inside: BTreeMap<String, BTreeSet<String>>,
    /// Processes of the engine's stack found outside the `docker` part, `name (pid)`.
    pub outside: BTreeSet<String>,
    pub samples: u64,
    /// The highest OOM-kill count seen per cgroup folder, with its part: a container's
    /// cgroup, and its count, go when the container is removed.
    #[serde(skip)]
    pub oom_by_dir: BTreeMap<PathBuf, (String, u64)>,
}

impl Seen {
    /// OOM kills per part, as sampled (each folder's highest count, summed).
    pub fn oom_kills(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (part, n) in self.oom_by_dir.values() {
            *out.entry(part.clone()).or_insert(0) += n;
        }
        out
    }
}

/// A running sampler; [`Watch::finish`] stops it and returns what it saw.
pub struct Watch {
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Seen>>,
}

impl Watch {
    /// Samples the parts of `cgroup` and, with `engine`, the engine's stack, until finished.
    pub fn start(cgroup: Arc<DeviceCgroup>, engine: Option<EnginePaths>) -> Watch {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let out = seen.clone();
        let task = tokio::spawn(async move {
            for n in 0u64.. {
                let cgroup = cgroup.clone();
                let engine = engine.clone().filter(|_| n % STACK_EVERY == 0);
                let sample = tokio::task::spawn_blocking(move || sample(&cgroup, engine));
                if let Ok(s) = sample.await {
                    let mut seen = out.lock().unwrap();
                    for (part, names) in s.inside {
                        seen.inside.entry(part).or_default().extend(names);
                    }
                    seen.outside.extend(s.outside);
                    for (dir, (part, n)) in s.oom_by_dir {
                        let e = seen.oom_by_dir.entry(dir).or_insert((part, 0));
                        e.1 = e.1.max(n);
                    }
                    seen.samples += 1;
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        });
        Watch { task, seen }
    }

    /// What was seen so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    pub fn finish(self) -> Seen {
        self.task.abort();
        self.seen()
    }
}

fn sample(cgroup: &DeviceCgroup, engine: Option<EnginePaths>) -> Seen {
    let mut seen = Seen::default();
    let name = &cgroup.name;
    for part in Part::ALL {
        let names = seen.inside.entry(part.as_str().to_string()).or_default();
        for pid in cgroup.processes(part) {
            if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
                names.insert(comm.trim().to_string());
            }
        }
        for (dir, n) in cgroup.oom_kill_counts(part) {
            seen.oom_by_dir.insert(dir, (part.as_str().to_string(), n));
        }
    }
    if let Some(paths) = engine {
        for (pid, comm) in stack_processes(&paths) {
            let Some(cgroups) = crate::procfs::cgroups(pid) else {
                continue; // exited meanwhile
            };
            // A process that is exiting has left its cgroups already.
            if !in_part(&cgroups, name, Part::Docker) && !exiting(pid) {
                seen.outside.insert(format!("{comm} ({pid})"));
            }
        }
    }
    seen
}

/// Whether process `pid` is gone or on its way out (a zombie, or its memory released: no
/// command line).
pub fn exiting(pid: u32) -> bool {
    matches!(crate::procfs::state(pid), None | Some('Z' | 'X'))
        || crate::procfs::cmdline(pid).is_none_or(|c| c.is_empty())
}

/// Whether a `/proc/<pid>/cgroup` text puts the process in part `part` of cgroup `name` for
/// memory and CPU: every v1 line of those controllers, else the unified line.
pub fn in_part(cgroups: &str, name: &str, part: Part) -> bool {
    let prefix = format!("/{name}/{}", part.as_str());
    let under = |path: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    let mut v1 = 0;
    let mut unified = None;
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory" || c == "cpu") {
            v1 += 1;
            if !under(path) {
                return false;
            }
        } else if id == "0" && controllers.is_empty() {
            unified = Some(path);
        }
    }
    v1 > 0 || unified.is_some_and(under)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_needs_memory_and_cpu_inside() {
        let inside = "4:memory:/wowbench-pi3-r/docker/engine\n2:cpu,cpuacct:/wowbench-pi3-r/docker/abc\n0::/\n";
        assert!(in_part(inside, "wowbench-pi3-r", Part::Docker));
        assert!(!in_part(inside, "wowbench-pi3-r", Part::Wasm));
        let half = "4:memory:/wowbench-pi3-r/docker/engine\n2:cpu,cpuacct:/\n";
        assert!(!in_part(half, "wowbench-pi3-r", Part::Docker));
        let other_run = "4:memory:/wowbench-pi3-r2/docker\n2:cpu:/wowbench-pi3-r2/docker\n";
        assert!(!in_part(other_run, "wowbench-pi3-r", Part::Docker));
    }

    #[test]
    fn v2_reads_the_unified_line() {
        assert!(in_part(
            "0::/wowbench-host-r/docker/engine\n",
            "wowbench-host-r",
            Part::Docker
        ));
        assert!(!in_part(
            "0::/system.slice/docker.service\n",
            "wowbench-host-r",
            Part::Docker
        ));
    }
}
