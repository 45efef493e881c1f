//! Bringing an artifacts directory up to date (under its lock): which steps are stale, running
//! them, and the new manifest, which keeps the entries of steps that are still valid.

use std::path::Path;

use anyhow::Result;

use crate::cargo::ensure_rustup_targets;
use crate::execute::run_step;
use crate::fingerprint::Inputs;
use crate::manifest::{MANIFEST_FORMAT, Manifest};
use crate::steps::{Step, StepKind};
use crate::{Artifacts, BuildOptions, WASM_TARGET};

/// Builds what is stale in `out` (whose lock the caller holds) and writes the new manifest.
pub(crate) fn build_locked(opts: &BuildOptions, out: &Path) -> Result<Artifacts> {
    let root = &opts.root;
    let old = Manifest::read(out).unwrap_or_else(|e| {
        if opts.progress {
            eprintln!("ignoring the old manifest: {e:#}");
        }
        None
    });
    let old = old.unwrap_or_default();

    let mut steps = vec![
        Step::workloads(WASM_TARGET),
        Step::size_variants(),
        Step::scalar(),
    ];
    for t in &opts.native_targets {
        if !steps
            .iter()
            .any(|s| s.kind == StepKind::Proxy && &s.target == t)
        {
            steps.push(Step::workloads(t));
            steps.push(Step::proxy(t));
        }
    }

    let mut inputs = Inputs::new(root);
    let mut stale = Vec::new();
    for step in &steps {
        let fp = step.fingerprint(&mut inputs)?;
        let up_to_date = old.steps.get(&step.id) == Some(&fp) && old.outputs_present(out, &step.id);
        if !up_to_date {
            stale.push(step.clone());
        }
    }

    let mut new = Manifest {
        format: MANIFEST_FORMAT,
        ..Manifest::default()
    };
    // Steps not requested this time stay in the manifest while their inputs are unchanged.
    for (id, fp) in &old.steps {
        if steps.iter().any(|s| &s.id == id) {
            continue;
        }
        let Some(step) = Step::from_id(id) else {
            continue;
        };
        if &step.fingerprint(&mut inputs)? == fp && old.outputs_present(out, id) {
            new.steps.insert(id.clone(), fp.clone());
            new.entries
                .extend(old.entries.iter().filter(|e| &e.step == id).cloned());
        }
    }
    for step in &steps {
        if !stale.iter().any(|s| s.id == step.id) {
            new.steps
                .insert(step.id.clone(), old.steps[&step.id].clone());
            new.entries
                .extend(old.entries.iter().filter(|e| e.step == step.id).cloned());
        }
    }

    if !stale.is_empty() {
        let mut targets: Vec<&str> = stale.iter().map(|s| s.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        ensure_rustup_targets(root, &targets, opts.progress)?;
        let total = stale.len();
        for (i, step) in stale.iter().enumerate() {
            let label = format!("[{}/{total}] {}", i + 1, step.describe());
            match run_step(step, root, out, &label, opts.progress, &mut inputs) {
                Ok((fp, entries)) => {
                    new.steps.insert(step.id.clone(), fp);
                    new.entries.extend(entries);
                }
                Err(e) => {
                    // Keep what the finished steps built, so the next call starts from there.
                    let _ = new.finish_and_write(root, out);
                    return Err(e);
                }
            }
        }
    }

    let unchanged = stale.is_empty() && {
        let mut probe = new.clone();
        probe.sort();
        probe.steps == old.steps && probe.entries == old.entries
    };
    if unchanged {
        new = old;
    } else {
        new.finish_and_write(root, out)?;
    }
    Ok(Artifacts {
        dir: out.to_path_buf(),
        entries: new.entries.iter().map(|e| e.info(out)).collect(),
        rebuilt: !stale.is_empty(),
        fingerprint: new.fingerprint,
    })
}
