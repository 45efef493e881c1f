//! The "paper vs this run" section: one row per headline claim with the paper's value and setup
//! from `paper.toml`, this run's value and setup, and where the setups differ; then the
//! definitions of this run's values.

use std::fmt::Write as _;

use wow_records::{Engine, Series};

use crate::data::{Dataset, meta_device_name};
use crate::fingerprint::or_dash;
use crate::fmt::MISSING;
use std::collections::BTreeMap;

use crate::headline::Headline;
use crate::paper::{PaperClaim, paper};
use crate::table::Table;

/// "this run vs the paper" differences for one claim, one line.
fn setup_note(claim: &PaperClaim, ds: &Dataset, device: &str, h: &Headline) -> String {
    let p = paper();
    let meta = ds.meta_for(device);
    let mut parts = Vec::new();
    let theirs = p.device_label(&claim.device);
    let dev = meta
        .and_then(meta_device_name)
        .unwrap_or_else(|| device.to_string());
    parts.push(match (dev.as_str(), claim.device.as_str()) {
        ("pi3", "pi3") => format!("emulated Pi (cgroup limits) vs real {theirs}"),
        ("pi3", _) => format!("emulated Pi (cgroup limits) vs {theirs}"),
        ("host", _) => {
            let m = meta.map(|m| &m.machine);
            match m {
                Some(m) if m.logical_cores > 0 => format!(
                    "{}-core {} host vs {theirs}",
                    m.logical_cores,
                    or_dash(&m.arch)
                ),
                _ => format!("this host vs {theirs}"),
            }
        }
        (other, _) => format!("`{other}` profile vs {theirs}"),
    });
    let runtime = claim.runtime.as_deref().unwrap_or(&p.setup.wasm_runtime);
    parts.push(format!("{} vs {runtime}", engine_version(meta, h.engine)));
    // Rows about one Wasm series alone say nothing about Docker's proxy.
    let own = format!("-{}", h.engine);
    let base = h.paper_id.strip_suffix(own.as_str()).unwrap_or(&h.paper_id);
    match h.docker {
        Some(Series::Skeleton) => parts.push(format!(
            "Python proxy (Flask, gevent) on Debian 12 vs {} on Alpine",
            p.setup.docker_baseline
        )),
        _ if !base.ends_with("-wasm") => {
            parts.push(format!("Rust proxy vs {}", p.setup.docker_baseline))
        }
        _ => {}
    }
    parts.push("harness invoker vs OpenWhisk".to_string());
    parts.join("; ")
}

/// "wasmer 7.3.0": the engine and the version this run used, from `meta.json`.
fn engine_version(meta: Option<&wow_records::Meta>, engine: Engine) -> String {
    let from_engines = meta.and_then(|m| {
        m.engines.iter().find_map(|e| {
            (e.get("name")?.as_str()? == engine.as_str())
                .then(|| e.get("version")?.as_str().map(str::to_string))
                .flatten()
        })
    });
    let version = from_engines.or_else(|| {
        // Runs from before the `engines` field had wasmtime alone.
        (engine == Engine::REFERENCE)
            .then(|| meta.map(|m| m.wasmtime_version.clone()))
            .flatten()
    });
    format!("{engine} {}", version.as_deref().unwrap_or("?"))
}

/// Writes the section for every device (a heading per device when there are several).
pub fn paper_section(
    out: &mut String,
    headlines: &BTreeMap<String, Vec<Headline>>,
    devices: &[String],
    multi: bool,
    ds: &Dataset,
) {
    out.push_str(
        "One row per headline claim. This run's values are computed from `summary.csv` medians \
         (definitions below the table), with their 95% bootstrap interval where every group \
         behind them has three or more measurements; the paper's come from `report/paper.toml` \
         with their source. The last column says where the setups differ.\n\n",
    );
    let mut defs: Vec<(Vec<String>, String)> = Vec::new();
    for d in devices {
        if multi {
            let _ = writeln!(out, "### Device `{d}`\n");
        }
        let mut t = Table::new(&[
            "claim",
            "paper",
            "paper's setup (source)",
            "this run",
            "this run's setup",
            "setups differ",
        ]);
        for h in headlines.get(d).into_iter().flatten() {
            let claim = paper().claim(&h.paper_id);
            let (pv, ps, note) = match claim {
                Some(c) => (
                    c.value.clone(),
                    format!("{} ({})", c.setup, c.source),
                    if c.measured() {
                        setup_note(c, ds, d, h)
                    } else {
                        "not in the paper".to_string()
                    },
                ),
                None => (
                    MISSING.to_string(),
                    "(not in paper.toml)".to_string(),
                    String::new(),
                ),
            };
            t.row(vec![
                h.claim.clone(),
                pv,
                ps,
                h.display_with_interval(),
                h.setup_or_reason(),
                note,
            ]);
            // Every row's definition, once: rows that share one (an engine's, a baseline's)
            // are listed together.
            match defs.iter_mut().find(|(_, def)| **def == h.definition) {
                Some((ids, _)) if !ids.contains(&h.id) => ids.push(h.id.clone()),
                Some(_) => {}
                None => defs.push((vec![h.id.clone()], h.definition.clone())),
            }
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    out.push_str("How this run's values are defined:\n\n");
    for (ids, def) in &defs {
        let ids: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
        let _ = writeln!(out, "- {}: {def}.", ids.join(", "));
    }
    out.push('\n');
}

/// The headlines the report opens with, in this order where the run has them: the cold start
/// against Docker's default and its best mode, memory by each method and at the margin, and
/// throughput by the paper's levels and by all, CPU-bound in both configs, then capacity. Each
/// comparison is there from both sides' better angle, never one level or series alone.
pub const FIRST_SCREEN: [&str; 13] = [
    "cold-start-low",
    "cold-start-high",
    "cold-start-low-prestarted",
    "memory-paper-distinct",
    "memory-full-distinct",
    "memory-system-distinct",
    "memory-marginal-full-distinct",
    "throughput-mixed-paper",
    "throughput-mixed-paper-all",
    "throughput-mixed-fair-all",
    "throughput-cpu-paper",
    "throughput-cpu-fair",
    "capacity",
];

/// The compact headline table of `device`: this run's value, the paper's, and the row's
/// definition beside it. Rows the run cannot compute are left out here (the full table below
/// says why).
pub fn first_screen_table(all: &[Headline]) -> Option<String> {
    let mut t = Table::new(&[
        "headline",
        "this run",
        "95% CI",
        ">n",
        "paper",
        "definition",
    ]);
    let mut any = false;
    for id in FIRST_SCREEN {
        let Some(h) = all.iter().find(|h| h.id == id && h.value.is_some()) else {
            continue;
        };
        let paper_value = paper()
            .claim(&h.paper_id)
            .map(|c| c.value.clone())
            .unwrap_or_else(|| MISSING.to_string());
        t.row(vec![
            h.short.clone(),
            h.display(),
            h.interval_display(),
            h.n.map_or(MISSING.to_string(), |n| n.to_string()),
            paper_value,
            h.definition.clone(),
        ]);
        any = true;
    }
    any.then(|| t.render())
}
