//! Stopping a run from outside: SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, CI cancelling) and
//! SIGHUP (a closed terminal) all end a run the same way.
//!
//! The first signal raises the run's [`Cancel`]: the experiment stops at its next check, the
//! run keeps what it measured, removes its containers, executors and device cgroup, and says
//! "incomplete" in `meta.json`. A second signal means "now": a best-effort sweep of the run's
//! containers and cgroups, `meta.json` marked incomplete, and the process exits at once with
//! status 130. Executor children die with the harness either way (see `backend::wasm`).

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use wow_records::meta::{Meta, RunStatus, now_rfc3339};

use crate::recorder::Cancel;

/// The exit status of an interrupted run (128 + SIGINT, whichever signal it was).
pub const INTERRUPTED_STATUS: u8 = 130;

/// What a second signal must clean up before exiting.
#[derive(Clone)]
pub struct Sweep {
    pub run_id: String,
    pub docker_host: Option<String>,
    /// The run's device cgroup name, when it has one.
    pub cgroup: Option<String>,
    /// The run's dedicated Docker engine, when it has one.
    pub engine: Option<crate::backend::docker::dedicated::EnginePaths>,
    pub meta_path: PathBuf,
}

/// Which signal arrived, for messages and `meta.json`.
fn name(kind: SignalKind) -> &'static str {
    match kind.as_raw_value() {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Listens for SIGINT, SIGTERM and SIGHUP until aborted; the first cancels the run, the second
/// sweeps and exits. Returns the task and a handle that tells which signal stopped the run.
pub fn watch(cancel: Cancel, sweep: Sweep) -> (tokio::task::JoinHandle<()>, Received) {
    let received = Received::default();
    let got = received.clone();
    let task = tokio::spawn(async move {
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ];
        let mut streams = Vec::new();
        for k in kinds {
            match signal(k) {
                Ok(s) => streams.push((k, s)),
                Err(e) => eprintln!("warning: cannot listen for {}: {e}", name(k)),
            }
        }
        let mut count = 0;
        loop {
            let waits = streams
                .iter_mut()
                .map(|(k, s)| Box::pin(async move { s.recv().await.map(|_| *k) }));
            let (kind, _, _) = futures::future::select_all(waits).await;
            let Some(kind) = kind else { return };
            count += 1;
            if count == 1 {
                *got.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(name(kind));
                eprintln!(
                    "\ninterrupted ({}): stopping, keeping what was measured, removing containers… (again to exit at once)",
                    name(kind)
                );
                cancel.cancel();
            } else {
                eprintln!(
                    "\n{} again: removing this run's containers and exiting now",
                    name(kind)
                );
                sweep_now(&sweep, name(kind)).await;
                std::process::exit(INTERRUPTED_STATUS.into());
            }
        }
    });
    (task, received)
}

/// The signal that stopped the run, if any.
#[derive(Clone, Default)]
pub struct Received(std::sync::Arc<std::sync::Mutex<Option<&'static str>>>);

impl Received {
    pub fn get(&self) -> Option<&'static str> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Best effort, bounded in time: the run's containers, its dedicated engine, its device
/// cgroups, its `meta.json`.
async fn sweep_now(s: &Sweep, signal: &str) {
    let docker = async {
        if let Ok((engine, _)) =
            crate::backend::docker::connect_engine(s.docker_host.as_deref()).await
        {
            let _ = crate::backend::docker::sweep_run(&engine, &s.run_id).await;
            // A paired run's baseline side labels its containers with its own run id.
            let baseline = crate::runner::baseline_run_id(&s.run_id);
            let _ = crate::backend::docker::sweep_run(&engine, &baseline).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(20), docker).await;
    if let Some(engine) = s.engine.clone() {
        let name = s.cgroup.clone();
        let _ = tokio::task::spawn_blocking(move || {
            engine.teardown(|| {
                if let Some(name) = &name {
                    crate::device::kill_all_in(&format!("{name}/docker"));
                }
            })
        })
        .await;
    }
    if let Some(name) = &s.cgroup {
        for dir in crate::device::everywhere(name) {
            crate::device::remove_tree(&dir);
        }
    }
    if let Ok(mut meta) = Meta::read(&s.meta_path) {
        meta.status = RunStatus::Incomplete;
        meta.status_reason = Some(format!("interrupted twice ({signal}): exited at once"));
        meta.ended_at = Some(now_rfc3339());
        let _ = meta.write(&s.meta_path);
    }
}
