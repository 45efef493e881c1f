//! Reaching the Docker engine: connecting (`DOCKER_HOST` or an explicit host), negotiating the
//! API version, and putting a time limit on every API call, so that a stuck engine fails a run
//! instead of hanging it.

use std::fmt::Display;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bollard::Docker;

/// Limit of an ordinary API call (create, start, remove, inspect, list). Generous: on a busy
/// two-core machine a `start` can take seconds.
pub const API_TIMEOUT: Duration = Duration::from_secs(60);
/// Limit of the calls made while connecting (version, ping).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit of a whole image build.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Where the engine is when neither an option nor `DOCKER_HOST` says.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// What the engine said about itself when the harness connected.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EngineInfo {
    /// The address used (`unix:///var/run/docker.sock`, `tcp://…`).
    pub host: String,
    /// Engine version, e.g. `20.10.24+dfsg1`.
    pub version: String,
    /// The API version the client and engine agreed on, e.g. `1.41`.
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel: String,
    /// `1` or `2`, as the engine reports it (empty if it did not say).
    pub cgroup_version: String,
    /// `cgroupfs` or `systemd`.
    pub cgroup_driver: String,
    /// `overlay2`, `fuse-overlayfs`, …
    pub storage_driver: String,
}

/// The address to use: `explicit`, else `DOCKER_HOST`, else the local socket. A bare path is
/// taken as a unix socket.
pub fn resolve_host(explicit: Option<&str>) -> String {
    let host = explicit
        .map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    if host.starts_with('/') {
        format!("unix://{host}")
    } else {
        host
    }
}

/// Connects to the engine at `explicit` (else `DOCKER_HOST`, else the local socket), negotiates
/// the API version and pings it. The error says how to proceed without Docker.
pub async fn connect(explicit: Option<&str>) -> Result<(Docker, EngineInfo)> {
    let host = resolve_host(explicit);
    let unreachable = |e: &dyn Display| {
        anyhow!("Docker engine not reachable at {host}: {e}; start it, or run with --backends wasm")
    };
    let docker = Docker::connect_with_host(&host)
        .map_err(|e| unreachable(&chain(&e)))?
        .with_timeout(API_TIMEOUT);
    let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(unreachable(&chain(&e))),
        Err(_) => {
            return Err(unreachable(&format!(
                "no answer within {CONNECT_TIMEOUT:?}"
            )));
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(&chain(&e))),
        Err(_) => {
            return Err(unreachable(&format!(
                "no answer within {CONNECT_TIMEOUT:?}"
            )));
        }
    }
    let v = call("version", CONNECT_TIMEOUT, docker.version())
        .await
        .map_err(|e| unreachable(&format!("{e:#}")))?;
    let mut info = EngineInfo {
        host,
        version: v.version.unwrap_or_default(),
        api_version: docker.client_version().to_string(),
        os: v.os.unwrap_or_default(),
        arch: v.arch.unwrap_or_default(),
        kernel: v.kernel_version.unwrap_or_default(),
        ..Default::default()
    };
    // Descriptive only: an engine whose `info` this client cannot read is still usable.
    match call("info", CONNECT_TIMEOUT, docker.info()).await {
        Ok(i) => {
            info.cgroup_version = i.cgroup_version.map(|v| v.to_string()).unwrap_or_default();
            info.cgroup_driver = i.cgroup_driver.map(|v| v.to_string()).unwrap_or_default();
            info.storage_driver = i.driver.unwrap_or_default();
        }
        Err(e) => tracing::debug!("no engine info: {e:#}"),
    }
    Ok((docker, info))
}

/// An error and its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Runs one API call with a time limit; the error names the call.
pub async fn call<T>(
    what: impl Display,
    limit: Duration,
    fut: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.with_context(|| format!("Docker API: {what}")),
        Err(_) => Err(anyhow!(
            "Docker API: {what}: no answer within {} s",
            limit.as_secs()
        )),
    }
}

/// The HTTP status of a failed API call, if the engine answered with one.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.chain()
        .find_map(|c| match c.downcast_ref::<bollard::errors::Error>()? {
            bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                Some(*status_code)
            }
            _ => None,
        })
}

/// True if the engine answered 404 (no such container or image).
pub fn is_not_found(e: &anyhow::Error) -> bool {
    status_of(e) == Some(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve() {
        assert_eq!(resolve_host(Some("/run/d.sock")), "unix:///run/d.sock");
        assert_eq!(
            resolve_host(Some("tcp://10.0.0.1:2375")),
            "tcp://10.0.0.1:2375"
        );
    }
}
