//! Running one build step: cargo until the inputs hold still, then the outputs copied into the
//! artifacts directory (write-then-rename) with their size and SHA-256.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::PROXY;
use crate::cargo::run_cargo;
use crate::fingerprint::{Inputs, hex};
use crate::manifest::ManifestEntry;
use crate::steps::{Step, StepKind};

/// Runs one step until its inputs are the same before and after the build (a build that raced
/// with an edit runs again), copies its outputs and returns its fingerprint and entries.
pub(crate) fn run_step(
    step: &Step,
    root: &Path,
    out: &Path,
    label: &str,
    progress: bool,
    inputs: &mut Inputs,
) -> Result<(String, Vec<ManifestEntry>)> {
    let bar = progress.then(|| spinner(label));
    let started = Instant::now();
    let result = (|| {
        let mut before = step.fingerprint(inputs)?;
        for _round in 0..3 {
            for (cwd, args) in step.commands(root) {
                run_cargo(&cwd, &args, &step.env(), bar.as_ref())
                    .with_context(|| format!("building {}{}", step.describe(), step.hint()))?;
            }
            inputs.forget();
            let after = step.fingerprint(inputs)?;
            if after == before {
                let entries = collect_outputs(step, root, out)
                    .with_context(|| format!("collecting the outputs of {}", step.describe()))?;
                return Ok((after, entries));
            }
            before = after;
        }
        bail!(
            "the inputs of {} kept changing during the build; try again",
            step.describe()
        )
    })();
    if let Some(bar) = bar {
        if let Ok(style) = ProgressStyle::with_template("  {prefix} {msg}") {
            bar.set_style(style);
        }
        match &result {
            Ok(_) => {
                bar.finish_with_message(format!("done in {:.1} s", started.elapsed().as_secs_f64()))
            }
            Err(_) => bar.abandon_with_message("failed"),
        }
    }
    result
}

fn collect_outputs(step: &Step, root: &Path, out: &Path) -> Result<Vec<ManifestEntry>> {
    let dest_dir = out.join(&step.target);
    fs::create_dir_all(&dest_dir)
        .with_context(|| format!("cannot create {}", dest_dir.display()))?;
    let mut entries = Vec::new();
    for (src, name, variant, file) in step.outputs(root) {
        if !src.is_file() {
            if step.kind == StepKind::Proxy {
                // The proxy package builds but has no binary target (yet): nothing to ship.
                eprintln!(
                    "warning: {PROXY} built for {} but produced no binary at {}; no proxy artifact",
                    step.target,
                    src.display()
                );
                continue;
            }
            bail!("cargo finished but {} does not exist", src.display());
        }
        let dest = dest_dir.join(&file);
        let (bytes, sha256) = install(&src, &dest)?;
        entries.push(ManifestEntry {
            name: name.to_string(),
            target: step.target.clone(),
            variant: variant.to_string(),
            file: format!("{}/{file}", step.target),
            bytes,
            sha256,
            step: step.id.clone(),
        });
    }
    Ok(entries)
}

/// Copies `src` to `dest` through a temporary file and a rename, so readers never see a partial
/// file; returns its size and SHA-256.
fn install(src: &Path, dest: &Path) -> Result<(u64, String)> {
    let tmp = dest.with_file_name(format!(
        ".{}.tmp-{}",
        dest.file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("artifact"),
        std::process::id()
    ));
    fs::copy(src, &tmp)
        .with_context(|| format!("cannot copy {} to {}", src.display(), tmp.display()))?;
    let digest = sha256_file(&tmp);
    let renamed = digest.and_then(|(bytes, sha)| {
        fs::rename(&tmp, dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        Ok((bytes, sha))
    });
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex(&h.finalize())))
}

/// A spinner for one step, on stderr.
fn spinner(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
