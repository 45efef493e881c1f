//! `meta.json`: the run's fingerprint (machine, engines, versions, configuration) and whether the
//! run completed. Rewritten atomically (write-then-rename) whenever its status changes, so an
//! interrupted run still says what it was and that it is incomplete.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Still running, or killed so hard it could not say otherwise.
    Running,
    /// Every experiment finished.
    Complete,
    /// Stopped early (Ctrl-C, a fatal error); what was measured is kept.
    Incomplete,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub logical_cores: usize,
    pub physical_cores: Option<usize>,
    pub memory_bytes: u64,
    pub os: String,
    pub kernel: String,
    pub arch: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerInfo {
    pub server_version: String,
    pub api_version: String,
    pub cgroup_version: String,
    pub cgroup_driver: String,
    pub storage_driver: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub run_id: String,
    pub status: RunStatus,
    /// Why the run is incomplete, when it is.
    #[serde(default)]
    pub status_reason: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    #[serde(default)]
    pub ended_at: Option<String>,
    /// The command line that started the run.
    pub command: Vec<String>,
    pub wowbench_version: String,
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub toolchain: Option<String>,
    pub wasmtime_version: String,
    /// The Wasm engines of the run, in pass order: name, version, mode, tier, deadline.
    #[serde(default)]
    pub engines: Vec<serde_json::Value>,
    pub machine: Machine,
    /// Absent when the run did not use Docker or the engine could not be reached.
    #[serde(default)]
    pub docker: Option<DockerInfo>,
    /// The device profile and exactly which limits were in force.
    pub device: serde_json::Value,
    /// The full experiment configuration.
    pub config: serde_json::Value,
    /// Calibrations and other facts measured at the start of the run.
    #[serde(default)]
    pub calibration: serde_json::Value,
    /// Experiments that finished, in order.
    #[serde(default)]
    pub experiments_done: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// In a paired run (`run --baseline-executor`): which side this folder holds and the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<Paired>,
}

/// One side of a paired run: two run folders written together, block by block in turn, one by
/// a baseline build's executor and one by this build's, so both see the same machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// `baseline` or `candidate`.
    pub role: String,
    /// The other side's run id (its folder is beside this one).
    pub with: String,
    /// The most blocks an experiment was split into (one per repetition up to it).
    pub blocks: u32,
    /// The executor this side ran (program and arguments).
    pub executor: String,
    /// The static action proxy this side's containers ran when not the run's own build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

impl Meta {
    pub fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&tmp, text + "\n")
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn read(path: &Path) -> Result<Meta> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }
}

/// Now, as RFC 3339 UTC with seconds (`2026-11-26T16:00:54Z`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Formats epoch seconds as RFC 3339 UTC (civil-from-days, no time-zone database needed).
pub fn rfc3339(epoch_secs: u64) -> String {
    let days = (epoch_secs / 86_400) as i64;
    let rem = epoch_secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_708_854), "2026-11-26T16:00:54Z");
    }

    #[test]
    fn meta_round_trip() {
        let m = Meta {
            run_id: "x".into(),
            status: RunStatus::Incomplete,
            status_reason: Some("interrupted".into()),
            started_at: now_rfc3339(),
            ended_at: None,
            command: vec!["wowbench".into(), "run".into()],
            wowbench_version: "0.1.0".into(),
            git_commit: None,
            toolchain: None,
            wasmtime_version: "48".into(),
            engines: vec![],
            machine: Machine::default(),
            docker: None,
            device: serde_json::json!({"name": "host"}),
            config: serde_json::json!({}),
            calibration: serde_json::Value::Null,
            experiments_done: vec![],
            notes: vec![],
            paired: Some(Paired {
                role: "baseline".into(),
                with: "y".into(),
                blocks: 5,
                executor: "wow-runtime".into(),
                proxy: None,
            }),
        };
        let dir = std::env::temp_dir().join(format!("wowmeta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("meta.json");
        m.write(&p).unwrap();
        assert_eq!(Meta::read(&p).unwrap(), m);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("\"status\": \"incomplete\"")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
