//! The run's fingerprint: the machine and configuration table of a run folder (`meta.json`), its
//! notes, and the banner of a run that did not complete.

use std::fmt::Write as _;

use wow_records::{Meta, RunStatus};

use crate::data::{Dataset, meta_device_name};
use crate::fmt::{self, MISSING};
use crate::table::Table;

/// The banner of a run that did not complete.
pub fn incomplete_line(m: &Meta) -> Option<String> {
    match m.status {
        RunStatus::Complete => None,
        RunStatus::Incomplete => Some(format!(
            "**This run is incomplete** ({}): {}{}",
            m.run_id,
            m.status_reason
                .clone()
                .unwrap_or_else(|| "no reason recorded".into()),
            not_done(m)
                .map(|l| format!(". Not done: {l}"))
                .unwrap_or_default()
        )),
        RunStatus::Running => Some(format!(
            "**This run is incomplete** ({}): `meta.json` still says it is running — it is in \
             progress, or it was killed before it could record its end{}",
            m.run_id,
            not_done(m)
                .map(|l| format!(". Not done: {l}"))
                .unwrap_or_default()
        )),
    }
}

/// The suite's experiments that did not finish.
fn not_done(m: &Meta) -> Option<String> {
    let planned: Vec<String> = m
        .config
        .pointer("/suite/experiment")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<String> = planned
        .into_iter()
        .filter(|p| !m.experiments_done.contains(p))
        .map(|p| format!("`{p}`"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// The machine and configuration of the run folder that measured `device`.
pub fn machine_section(out: &mut String, ds: &Dataset, device: &str) {
    match ds.source_for(device) {
        Some(s) => match &s.meta {
            Some(m) => {
                out.push_str(&fingerprint_table(m, s.summary_file).render());
                out.push('\n');
                crate::device::device_section(out, m);
                if !m.notes.is_empty() {
                    out.push_str("Notes recorded during the run:\n\n");
                    for n in &m.notes {
                        let _ = writeln!(out, "- {}", n.replace('\n', " "));
                    }
                    out.push('\n');
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "*`meta.json` could not be read ({}): the machine and configuration are \
                     unknown.*\n",
                    s.meta_error.as_deref().unwrap_or("absent")
                );
            }
        },
        None => out.push_str("*No run folder for this device.*\n\n"),
    }
}

/// The fingerprint of one run folder as a two-column table.
pub fn fingerprint_table(m: &Meta, summary_file: bool) -> Table {
    let mut t = Table::new(&["", "value"]);
    let mut kv = |k: &str, v: String| t.row(vec![k.to_string(), v]);
    kv("run", format!("`{}`", m.run_id));
    kv(
        "status",
        match m.status {
            RunStatus::Complete => "complete".to_string(),
            RunStatus::Incomplete => format!(
                "**incomplete**: {}",
                m.status_reason.as_deref().unwrap_or("no reason recorded")
            ),
            RunStatus::Running => {
                "**incomplete**: still marked running (in progress, or killed)".to_string()
            }
        },
    );
    kv(
        "started / ended (UTC)",
        format!(
            "{} / {}",
            m.started_at,
            m.ended_at.as_deref().unwrap_or(MISSING)
        ),
    );
    if !m.command.is_empty() {
        kv("command", format!("`{}`", m.command.join(" ")));
    }
    let mc = &m.machine;
    kv(
        "CPU",
        format!(
            "{}, {} logical cores{}",
            if mc.cpu_model.is_empty() {
                "unknown"
            } else {
                &mc.cpu_model
            },
            mc.logical_cores,
            mc.physical_cores
                .map(|p| format!(" ({p} physical)"))
                .unwrap_or_default()
        ),
    );
    kv(
        "memory",
        if mc.memory_bytes > 0 {
            format!("{} GiB", fmt::sig3(mc.memory_bytes as f64 / 1073741824.0))
        } else {
            MISSING.to_string()
        },
    );
    kv(
        "OS / kernel / arch",
        format!(
            "{} / {} / {}",
            or_dash(&mc.os),
            or_dash(&mc.kernel),
            or_dash(&mc.arch)
        ),
    );
    kv(
        "Docker",
        match &m.docker {
            Some(d) => format!(
                "{} (API {}; cgroup {} {}; storage {})",
                or_dash(&d.server_version),
                or_dash(&d.api_version),
                or_dash(&d.cgroup_version),
                or_dash(&d.cgroup_driver),
                or_dash(&d.storage_driver)
            ),
            None => "not used in this run".to_string(),
        },
    );
    kv("wasmtime", or_dash(&m.wasmtime_version).to_string());
    kv(
        "wowbench / git commit",
        format!(
            "{} / {}",
            m.wowbench_version,
            m.git_commit
                .as_deref()
                .map_or(MISSING.to_string(), |c| format!("`{c}`"))
        ),
    );
    kv(
        "toolchain",
        m.toolchain.clone().unwrap_or_else(|| MISSING.to_string()),
    );
    kv("device profile", device_text(m));
    if let Some(kind) = m
        .device
        .pointer("/docker_engine/kind")
        .and_then(|v| v.as_str())
    {
        kv(
            "Docker engine",
            match kind {
                "dedicated" => "dedicated: the run's own, inside the device's limits".to_string(),
                other => format!("{other}: the machine's own"),
            },
        );
    }
    if let Some(nc) = m
        .device
        .get("not_covered")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    {
        kv("not covered by the profile", nc.to_string());
    }
    if let Some(suite) = m.config.get("suite") {
        let name = suite.get("name").and_then(|v| v.as_str()).unwrap_or("?");
        let kinds: Vec<&str> = suite
            .get("experiment")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get("kind").and_then(|k| k.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        kv("suite", format!("`{name}`: {}", kinds.join(", ")));
    }
    for key in ["backends", "variants", "workloads"] {
        if let Some(v) = m.config.get(key).filter(|v| !v.is_null()) {
            kv(key, compact(v));
        }
    }
    kv(
        "experiments done",
        if m.experiments_done.is_empty() {
            "none".to_string()
        } else {
            m.experiments_done.join(", ")
        },
    );
    // The device's CPU calibration has a table of its own (`device`).
    let mut calibration = m.calibration.clone();
    if let Some(o) = calibration.as_object_mut() {
        o.remove("device_cpu");
    }
    if !calibration.is_null() && calibration.as_object().is_none_or(|o| !o.is_empty()) {
        kv("calibration", format!("`{}`", compact(&calibration)));
    }
    kv(
        "statistics from",
        if summary_file {
            "`summary.csv`".to_string()
        } else {
            "`records.csv` (no `summary.csv`: derived by the report)".to_string()
        },
    );
    t
}

/// The text, or "—" when empty.
pub fn or_dash(s: &str) -> &str {
    if s.is_empty() { MISSING } else { s }
}

/// Compact JSON (keys sorted, as serde_json's map is ordered).
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.iter().all(|x| x.is_string()) => a
            .iter()
            .filter_map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn device_text(m: &Meta) -> String {
    let d = &m.device;
    let name = meta_device_name(m).unwrap_or_else(|| "?".into());
    let desc = d
        .pointer("/profile/description")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let cpus = d.pointer("/profile/cpus").and_then(|v| v.as_f64());
    let mem = d.pointer("/profile/memory_bytes").and_then(|v| v.as_f64());
    let mut s = format!("`{name}`");
    if !desc.is_empty() {
        let _ = write!(s, ": {desc}");
    }
    let mut limits = Vec::new();
    let period = d.pointer("/profile/cpu_period_us").and_then(|v| v.as_f64());
    if let Some(c) = cpus {
        limits.push(match period {
            Some(p) => format!("CPU quota {} µs per {} µs", fmt::tick(c * p), fmt::tick(p)),
            None => format!("CPU {} cores", fmt::tick(c)),
        });
    }
    if let Some(b) = mem {
        limits.push(format!("memory {}", fmt::mib(b)));
    }
    if let Some(l) = d.pointer("/cgroup/limits").and_then(|v| v.as_array()) {
        let written: Vec<String> = l
            .iter()
            .filter_map(|kv| {
                let a = kv.as_array()?;
                Some(format!("{}={}", a.first()?.as_str()?, a.get(1)?.as_str()?))
            })
            .collect();
        if !written.is_empty() {
            limits.push(format!("cgroup: {}", written.join(", ")));
        }
    }
    if limits.is_empty() {
        if !desc.contains("no limits") {
            s.push_str(" (no limits)");
        }
    } else {
        let _ = write!(s, " ({})", limits.join("; "));
    }
    s
}
