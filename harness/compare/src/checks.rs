//! Whether two sides may be compared at all: the same machine architecture and device profile
//! (a mismatch refuses, unless allowed), and what to warn about the runs themselves (no
//! `meta.json`, an incomplete or unfinished run).

use std::collections::BTreeSet;

use wow_records::{Meta, Record, RunStatus};

use crate::load::LoadedRun;

/// The device profile a run's metadata names, with the limits in force.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSig {
    pub name: String,
    pub cpus: Option<f64>,
    pub memory_bytes: Option<u64>,
}

impl DeviceSig {
    /// Read from `meta.json`'s `device` (a profile name, or an object with `name`, `cpus` and
    /// `memory_bytes`, possibly under `profile`).
    pub fn of(meta: &Meta) -> Option<DeviceSig> {
        let d = &meta.device;
        let p = d.get("profile").unwrap_or(d);
        if let Some(name) = p.as_str() {
            return Some(DeviceSig {
                name: name.to_string(),
                cpus: None,
                memory_bytes: None,
            });
        }
        Some(DeviceSig {
            name: p.get("name")?.as_str()?.to_string(),
            cpus: p.get("cpus").and_then(|v| v.as_f64()),
            memory_bytes: p.get("memory_bytes").and_then(|v| v.as_u64()),
        })
    }

    /// `pi3 (1 CPU, 512 MiB)`.
    pub fn describe(&self) -> String {
        let mut s = self.name.clone();
        let mut limits = Vec::new();
        if let Some(c) = self.cpus {
            limits.push(format!("{c} CPU"));
        }
        if let Some(m) = self.memory_bytes {
            limits.push(format!("{} MiB", m >> 20));
        }
        if !limits.is_empty() {
            s += &format!(" ({})", limits.join(", "));
        }
        s
    }
}

/// The values of the records' `device` column.
pub fn device_column(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.device.clone()).collect()
}

/// `a, b`.
pub fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Every way the baseline runs and the current run differ in machine architecture, device
/// profile or device column; sorted, without repeats.
pub fn mismatches(
    base: &[LoadedRun],
    cur: &LoadedRun,
    base_devices: &BTreeSet<String>,
    cur_devices: &BTreeSet<String>,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    for b in base {
        if let (Some(b), Some(c)) = (&b.meta, &cur.meta) {
            if b.machine.arch != c.machine.arch {
                mismatches.push(format!(
                    "machine.arch differs: baseline {}, current {}",
                    b.machine.arch, c.machine.arch
                ));
            }
            if let (Some(db), Some(dc)) = (DeviceSig::of(b), DeviceSig::of(c))
                && db != dc
            {
                mismatches.push(format!(
                    "device profile differs: baseline {}, current {}",
                    db.describe(),
                    dc.describe()
                ));
            }
        }
    }
    if !base_devices.is_empty() && !cur_devices.is_empty() && base_devices != cur_devices {
        mismatches.push(format!(
            "device column differs: baseline {}, current {}",
            join(base_devices),
            join(cur_devices)
        ));
    }
    mismatches.sort();
    mismatches.dedup();
    mismatches
}

/// Warns of a run without `meta.json` (its architecture cannot be checked).
/// Whether `base` and `cur` are the two sides of one paired run: the baseline side and the
/// candidate side, each naming the other.
pub fn paired(base: &LoadedRun, cur: &LoadedRun) -> bool {
    fn side(run: &LoadedRun) -> Option<&wow_records::meta::Paired> {
        run.meta.as_ref().and_then(|m| m.paired.as_ref())
    }
    match (side(base), side(cur)) {
        (Some(b), Some(c)) => {
            b.role == "baseline"
                && c.role == "candidate"
                && b.with == cur.run_id()
                && c.with == base.run_id()
        }
        _ => false,
    }
}

pub fn meta_warning(run: &LoadedRun, role: &str) -> Option<String> {
    run.meta.is_none().then(|| {
        format!(
            "the {role} run {} has no meta.json: its machine architecture cannot be checked",
            run.path.display()
        )
    })
}

/// Warns of a run that did not complete: groups it did not reach are missing.
pub fn status_warning(run: &LoadedRun, role: &str) -> Option<String> {
    let m = run.meta.as_ref()?;
    match m.status {
        RunStatus::Complete => None,
        RunStatus::Incomplete => Some(format!(
            "the {role} run {} is incomplete{}: groups it did not reach are missing",
            m.run_id,
            m.status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
        RunStatus::Running => Some(format!(
            "the {role} run {} never finished (still running, or killed): groups it did not reach are missing",
            m.run_id
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::tests::fixture;

    fn fixture_run() -> LoadedRun {
        LoadedRun::load(&fixture(), "baseline").unwrap()
    }

    #[test]
    fn device_profiles_read_and_described() {
        let mut meta = fixture_run().meta.unwrap();
        meta.device = serde_json::json!("host");
        assert_eq!(DeviceSig::of(&meta).unwrap().describe(), "host");
        meta.device = serde_json::json!({"profile": {"name": "pi3", "cpus": 1.0, "memory_bytes": 536870912u64}});
        assert_eq!(
            DeviceSig::of(&meta).unwrap().describe(),
            "pi3 (1 CPU, 512 MiB)"
        );
        meta.device = serde_json::json!({});
        assert_eq!(DeviceSig::of(&meta), None);
    }

    #[test]
    fn mismatches_name_what_differs() {
        let base = fixture_run();
        let devices = device_column(&base.records);
        assert_eq!(
            mismatches(std::slice::from_ref(&base), &base, &devices, &devices),
            Vec::<String>::new()
        );
        let mut cur = base.clone();
        let meta = cur.meta.as_mut().unwrap();
        meta.machine.arch = "riscv64".into();
        meta.device = serde_json::json!("pi3");
        let pi3 = BTreeSet::from(["pi3".to_string()]);
        let found = mismatches(&[base.clone(), base.clone()], &cur, &devices, &pi3);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("device column differs: baseline host, current pi3"));
        assert!(found[1].starts_with("device profile differs: baseline "));
        assert!(found[2].ends_with("current riscv64"));
    }

    #[test]
    fn warnings_of_unfinished_or_undocumented_runs() {
        let mut run = fixture_run();
        assert_eq!(status_warning(&run, "current"), None);
        assert_eq!(meta_warning(&run, "current"), None);
        let meta = run.meta.as_mut().unwrap();
        meta.status = RunStatus::Incomplete;
        meta.status_reason = Some("interrupted".into());
        let w = status_warning(&run, "current").unwrap();
        assert!(w.contains("is incomplete (interrupted)"), "{w}");
        run.meta = None;
        assert!(
            meta_warning(&run, "baseline")
                .unwrap()
                .contains("has no meta.json")
        );
    }
}
