//! Containers must never outlive a run. The backend records every container the moment the
//! engine has created it; cleanup closes the backend to new containers, waits for the
//! `create` calls in flight to settle (they run as tasks of their own, so an interrupted
//! provision still registers what the engine made), removes everything recorded, and then sweeps
//! the engine by the run's label to catch anything the record missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use futures::StreamExt;

use super::cgroup::MemoryCgroup;
use super::engine::{self, API_TIMEOUT};
use super::image::LABEL;

/// Removals in flight at once during a cleanup.
const REMOVE_PARALLELISM: usize = 8;

/// What the backend knows about one container it made.
#[derive(Debug, Clone, Default)]
pub(super) struct Tracked {
    /// The container's init process, once looked up (for memory).
    pub pid: Option<u32>,
    /// Its memory cgroup on this machine, once found.
    pub cgroup: Option<MemoryCgroup>,
    /// Its root filesystem's mount point (the storage driver's `MergedDir`), once looked up: a
    /// storage helper process such as `fuse-overlayfs` names it on its command line.
    pub merged_dir: Option<String>,
}

#[derive(Default)]
struct State {
    closing: bool,
    in_flight: usize,
    containers: HashMap<String, Tracked>,
}

/// The record of a backend's containers and of the `create` calls in flight.
#[derive(Default)]
pub(super) struct Tracker {
    state: Mutex<State>,
}

/// A `create` call in flight; the tracker counts it until dropped.
pub(super) struct InFlight {
    tracker: Arc<Tracker>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tracker.lock().in_flight -= 1;
    }
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Announces a `create` call; refused once cleanup has begun.
    pub fn begin(self: &Arc<Self>) -> Result<InFlight> {
        let mut s = self.lock();
        if s.closing {
            bail!("the Docker backend is shutting down: no new containers");
        }
        s.in_flight += 1;
        Ok(InFlight {
            tracker: self.clone(),
        })
    }

    pub fn register(&self, id: &str, tracked: Tracked) {
        self.lock().containers.insert(id.to_string(), tracked);
    }

    pub fn forget(&self, id: &str) -> Option<Tracked> {
        self.lock().containers.remove(id)
    }

    pub fn get(&self, id: &str) -> Option<Tracked> {
        self.lock().containers.get(id).cloned()
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut Tracked)) {
        if let Some(t) = self.lock().containers.get_mut(id) {
            f(t);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().containers.len()
    }

    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    pub fn close(&self) {
        self.lock().closing = true;
    }

    /// Waits until no `create` call is in flight; false if `limit` passed first.
    pub async fn settle(&self, limit: Duration) -> bool {
        let t = Instant::now();
        while self.lock().in_flight > 0 {
            if t.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Takes every recorded container id out of the record.
    pub fn drain(&self) -> Vec<String> {
        self.lock().containers.drain().map(|(id, _)| id).collect()
    }

    /// Ids still recorded (for a last-resort cleanup).
    pub fn ids(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }
}

/// Kills and removes a container (and its anonymous volumes). `Ok(false)` if it was already
/// gone.
pub async fn remove_container(docker: &Docker, id: &str) -> Result<bool> {
    let mut tries = 0;
    loop {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match engine::call(
            format!("remove container {}", short(id)),
            API_TIMEOUT,
            docker.remove_container(id, Some(opts)),
        )
        .await
        {
            Ok(()) => return Ok(true),
            Err(e) if engine::is_not_found(&e) => return Ok(false),
            // 409: a removal is already in progress (another cleanup path); wait for it.
            Err(e) if engine::status_of(&e) == Some(409) && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes all of `ids`, several at a time. Returns how many were removed and the failures.
pub async fn remove_all(docker: &Docker, ids: Vec<String>) -> (usize, Vec<String>) {
    let results: Vec<(String, Result<bool>)> = futures::stream::iter(ids)
        .map(|id| async move {
            let r = remove_container(docker, &id).await;
            (id, r)
        })
        .buffer_unordered(REMOVE_PARALLELISM)
        .collect()
        .await;
    let mut removed = 0;
    let mut failed = Vec::new();
    for (id, r) in results {
        match r {
            Ok(true) => removed += 1,
            Ok(false) => {}
            Err(e) => failed.push(format!("{}: {e:#}", short(&id))),
        }
    }
    (removed, failed)
}

/// Ids of every container (running or not) carrying `label` (`key` or `key=value`).
pub async fn list_labelled(docker: &Docker, label: &str) -> Result<Vec<String>> {
    list_with_labels(docker, &[label]).await
}

/// Ids of every container (running or not) carrying all of `labels`.
pub async fn list_with_labels(docker: &Docker, labels: &[&str]) -> Result<Vec<String>> {
    let filters = HashMap::from([(
        "label",
        labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
    )]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = engine::call(
        format!("list containers labelled {}", labels.join(" ")),
        API_TIMEOUT,
        docker.list_containers(Some(opts)),
    )
    .await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Removes every container carrying `label`; checks that none is left. Returns how many were
/// removed.
pub async fn sweep_label(docker: &Docker, label: &str) -> Result<usize> {
    sweep_labels(docker, &[label]).await
}

/// Removes every container carrying all of `labels`; checks that none is left. Returns how many
/// were removed.
pub async fn sweep_labels(docker: &Docker, labels: &[&str]) -> Result<usize> {
    let mut removed = 0;
    let mut failed = Vec::new();
    for _ in 0..3 {
        let ids = list_with_labels(docker, labels).await?;
        if ids.is_empty() {
            return Ok(removed);
        }
        let (n, f) = remove_all(docker, ids).await;
        removed += n;
        failed = f;
    }
    let left = list_with_labels(docker, labels).await?;
    if left.is_empty() {
        return Ok(removed);
    }
    bail!(
        "{} container(s) labelled {} could not be removed: {}",
        left.len(),
        labels.join(" "),
        failed.join("; ")
    )
}

/// Removes every container of run `run_id`, whichever backend instance made it (for a run
/// driver's final sweep). Returns how many were removed.
pub async fn sweep_run(docker: &Docker, run_id: &str) -> Result<usize> {
    sweep_label(docker, &format!("{}={run_id}", super::LABEL_RUN)).await
}

/// Removes every container labelled `wowbench=1`, of any run (`wowbench clean`). Returns how
/// many were removed.
pub async fn sweep_all(docker: &Docker) -> Result<usize> {
    sweep_label(docker, &format!("{LABEL}=1")).await
}

/// The first 12 characters of a container id, as `docker ps` shows it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
