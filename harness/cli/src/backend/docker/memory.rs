//! Memory of warm containers by both methods (`results/README.md`, "Measurement definitions"):
//!
//! - the paper's: each container's cgroup usage minus inactive file cache, i.e. what
//!   `docker stats` shows, averaged;
//! - the full cost: the cgroups plus what exists on the host only because the containers exist —
//!   each container's `containerd-shim`, with a published port its `docker-proxy`, and the
//!   storage driver's helper process where it has one (`fuse-overlayfs`, one per container
//!   mount, found by the container's `MergedDir` on its command line; the kernel's `overlay2`
//!   has none) — by PSS, so that pages they share are not counted twice; divided by the number
//!   of containers.
//!
//! `total_bytes` is the full figure's sum (cgroups + shim, docker-proxy and storage helper PSS).
//!
//! Everything is read locally (cgroup files, `/proc`). When the engine runs elsewhere (its
//! container's process is not this machine's), the paper figure comes from one one-shot stats
//! call per container and the full figure is absent: the host side cannot be seen from here and
//! is never estimated.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::query_parameters::StatsOptionsBuilder;
use futures::StreamExt;

use super::cgroup::{self, MemoryCgroup};
use super::cleanup::{Tracker, short};
use super::engine::{self, API_TIMEOUT};
use crate::backend::{MemorySample, Sandbox};
use crate::procfs;

/// Stats calls in flight at once on the remote path (each takes 1–2 s).
const STATS_PARALLELISM: usize = 4;

/// Measures `sandboxes` (containers of this backend). `expect_docker_proxy`: whether their
/// ports are published through the userland proxy (not with host networking).
pub(super) async fn sample(
    docker: &Docker,
    tracker: &Tracker,
    sandboxes: &[Sandbox],
    expect_docker_proxy: bool,
) -> Result<MemorySample> {
    let n = sandboxes.len();
    if n == 0 {
        return Ok(MemorySample::default());
    }
    let mut ids = Vec::with_capacity(n);
    for sb in sandboxes {
        let id = sb
            .container_id
            .clone()
            .with_context(|| format!("sandbox {} is not a container", sb.id))?;
        ids.push((id, sb.host_port));
    }

    let mut cgroups = Vec::with_capacity(n);
    for (id, _) in &ids {
        match local_cgroup(docker, tracker, id).await? {
            Some(cg) => cgroups.push(cg),
            None => {
                tracing::info!(
                    "the cgroup of container {} is not on this machine: using the stats API and no full figure",
                    short(id)
                );
                return remote_sample(docker, &ids).await;
            }
        }
    }

    let mut cg_total = 0u64;
    let mut usage_total = 0u64;
    let mut inactive_total = 0u64;
    for cg in &cgroups {
        let m = cgroup::read_memory(cg)?;
        cg_total += m.working_set();
        usage_total += m.usage;
        inactive_total += m.inactive_file;
    }

    let merged: Vec<Option<String>> = ids
        .iter()
        .map(|(id, _)| tracker.get(id).and_then(|t| t.merged_dir))
        .collect();
    let host = host_side(&ids, &merged, expect_docker_proxy);
    let mut parts = vec![
        ("cgroup".to_string(), cg_total as f64),
        ("cgroup_usage".to_string(), usage_total as f64),
        ("cgroup_inactive_file".to_string(), inactive_total as f64),
    ];
    let total = match &host {
        Ok(h) => {
            parts.extend([
                ("shim_pss".to_string(), h.shim_pss as f64),
                ("shim_rss".to_string(), h.shim_rss as f64),
                ("proxy_pss".to_string(), h.proxy_pss as f64),
                ("proxy_rss".to_string(), h.proxy_rss as f64),
                ("storage_pss".to_string(), h.storage_pss as f64),
                ("storage_rss".to_string(), h.storage_rss as f64),
            ]);
            Some((cg_total + h.shim_pss + h.proxy_pss + h.storage_pss) as f64)
        }
        Err(e) => {
            tracing::warn!("no full memory figure: {e:#}");
            None
        }
    };
    Ok(MemorySample {
        sandboxes: n,
        paper_per_sandbox: Some(cg_total as f64 / n as f64),
        full_per_sandbox: total.map(|t| t / n as f64),
        total_bytes: total,
        parts,
    })
}

/// The container's memory cgroup if it is on this machine: its init process (one `inspect`,
/// remembered) exists here and sits in a cgroup named after the container.
async fn local_cgroup(
    docker: &Docker,
    tracker: &Tracker,
    id: &str,
) -> Result<Option<MemoryCgroup>> {
    let known = tracker.get(id).unwrap_or_default();
    if let Some(cg) = known.cgroup {
        return Ok(Some(cg));
    }
    let pid = match known.pid {
        Some(pid) => pid,
        None => {
            let info = engine::call(
                format!("inspect container {}", short(id)),
                API_TIMEOUT,
                docker.inspect_container(id, None),
            )
            .await?;
            let merged_dir = info
                .graph_driver
                .as_ref()
                .and_then(|g| g.data.get("MergedDir").cloned());
            tracker.update(id, |t| t.merged_dir = merged_dir);
            let state = info.state.unwrap_or_default();
            match state.pid {
                Some(pid) if pid > 0 && state.running == Some(true) => pid as u32,
                _ => bail!("container {} is not running", short(id)),
            }
        }
    };
    tracker.update(id, |t| t.pid = Some(pid));
    let Ok(cg) = cgroup::memory_cgroup_of(pid) else {
        return Ok(None);
    };
    if !cg.path.contains(id) {
        return Ok(None);
    }
    tracker.update(id, |t| t.cgroup = Some(cg.clone()));
    Ok(Some(cg))
}

/// Totals of the host-side processes of a set of containers.
#[derive(Debug, Default)]
struct HostSide {
    shim_pss: u64,
    shim_rss: u64,
    proxy_pss: u64,
    proxy_rss: u64,
    storage_pss: u64,
    storage_rss: u64,
}

/// Finds each container's `containerd-shim` (its command line names the container id), if
/// expected its `docker-proxy` (`-host-port <port>`), and any other process whose command line
/// names the container's root filesystem mount (`merged[i]`: a storage helper such as
/// `fuse-overlayfs`); sums their PSS and RSS. Fails if a shim is missing or unreadable, so that
/// the full figure is never an undercount.
fn host_side(
    ids: &[(String, Option<u16>)],
    merged: &[Option<String>],
    expect_docker_proxy: bool,
) -> Result<HostSide> {
    let mounts: Vec<&str> = merged.iter().flatten().map(String::as_str).collect();
    let candidates: Vec<(u32, String)> = procfs::find_processes(|c| {
        c.contains("containerd-shim")
            || c.contains("docker-proxy")
            || mounts.iter().any(|m| c.contains(m))
    })
    .into_iter()
    .filter_map(|pid| Some((pid, procfs::cmdline(pid)?)))
    .collect();
    let mut h = HostSide::default();
    let add = |pid: u32, pss: &mut u64, rss: &mut u64| -> Result<()> {
        *pss += procfs::pss_bytes(pid)?;
        *rss += procfs::rss_bytes(pid)?;
        Ok(())
    };
    for ((id, port), mount) in ids.iter().zip(merged) {
        // A storage helper names the mount point as an argument of its own (a zombie has no
        // command line and holds no memory).
        let helpers: Vec<u32> = candidates
            .iter()
            .filter(|(_, c)| {
                !c.contains("containerd-shim")
                    && mount
                        .as_deref()
                        .is_some_and(|m| c.split_whitespace().any(|arg| arg == m))
            })
            .map(|(pid, _)| *pid)
            .collect();
        for pid in helpers {
            let (mut pss, mut rss) = (0, 0);
            add(pid, &mut pss, &mut rss)
                .with_context(|| format!("reading the storage helper of {}", short(id)))?;
            h.storage_pss += pss;
            h.storage_rss += rss;
        }
        let shims: Vec<u32> = candidates
            .iter()
            .filter(|(_, c)| c.contains("containerd-shim") && c.contains(id.as_str()))
            .map(|(pid, _)| *pid)
            .collect();
        if shims.is_empty() {
            bail!(
                "no containerd-shim process found for container {}",
                short(id)
            );
        }
        for pid in shims {
            let (mut pss, mut rss) = (0, 0);
            add(pid, &mut pss, &mut rss)
                .with_context(|| format!("reading the shim of {}", short(id)))?;
            h.shim_pss += pss;
            h.shim_rss += rss;
        }
        if !expect_docker_proxy {
            continue;
        }
        let Some(port) = port else { continue };
        let proxies: Vec<u32> = candidates
            .iter()
            .filter(|(_, c)| c.contains("docker-proxy") && has_host_port(c, *port))
            .map(|(pid, _)| *pid)
            .collect();
        if proxies.is_empty() {
            // The engine may run without the userland proxy (iptables only): nothing to count.
            tracing::debug!("no docker-proxy for port {port}");
        }
        for pid in proxies {
            let (mut pss, mut rss) = (0, 0);
            add(pid, &mut pss, &mut rss)
                .with_context(|| format!("reading the docker-proxy of {}", short(id)))?;
            h.proxy_pss += pss;
            h.proxy_rss += rss;
        }
    }
    Ok(h)
}

/// True if a `docker-proxy` command line forwards host port `port`.
fn has_host_port(cmdline: &str, port: u16) -> bool {
    let port = port.to_string();
    let args: Vec<&str> = cmdline.split_whitespace().collect();
    args.windows(2)
        .any(|w| w[0] == "-host-port" && w[1] == port)
}

/// The paper figure through the stats API (one one-shot call per container); no full figure.
async fn remote_sample(docker: &Docker, ids: &[(String, Option<u16>)]) -> Result<MemorySample> {
    let n = ids.len();
    let owned: Vec<(Docker, String)> = ids
        .iter()
        .map(|(id, _)| (docker.clone(), id.clone()))
        .collect();
    let results: Vec<Result<u64>> = futures::stream::iter(owned)
        .map(|(docker, id)| async move { stats_working_set(&docker, &id).await })
        .buffered(STATS_PARALLELISM)
        .collect()
        .await;
    let mut total = 0u64;
    for r in results {
        total += r?;
    }
    Ok(MemorySample {
        sandboxes: n,
        paper_per_sandbox: Some(total as f64 / n as f64),
        full_per_sandbox: None,
        total_bytes: None,
        parts: vec![("cgroup_via_stats_api".to_string(), total as f64)],
    })
}

/// Usage minus inactive file cache from one one-shot stats call, as the Docker CLI computes it
/// (1–2 s; the local path reads the same numbers from the cgroup's files).
pub async fn stats_working_set(docker: &Docker, id: &str) -> Result<u64> {
    let opts = StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    let mut stream = docker.stats(id, Some(opts));
    let stats = match tokio::time::timeout(API_TIMEOUT, stream.next()).await {
        Ok(Some(r)) => r.with_context(|| format!("Docker API: stats of {}", short(id)))?,
        Ok(None) => bail!("Docker API: stats of {}: empty answer", short(id)),
        Err(_) => bail!("Docker API: stats of {}: no answer", short(id)),
    };
    let mem = stats
        .memory_stats
        .with_context(|| format!("no memory stats for {}", short(id)))?;
    let usage = mem
        .usage
        .with_context(|| format!("no memory usage for {}", short(id)))?;
    let stat: HashMap<String, u64> = mem.stats.unwrap_or_default();
    let inactive = stat
        .get("total_inactive_file")
        .or_else(|| stat.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    Ok(usage.saturating_sub(inactive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_matches_whole_arguments() {
        let c = "/usr/bin/docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port 4123 -container-ip 172.17.0.2 -container-port 8080";
        assert!(has_host_port(c, 4123));
        assert!(!has_host_port(c, 412));
        assert!(!has_host_port(c, 8080));
    }
}
