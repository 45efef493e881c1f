//! `manifest.json`: what an artifacts directory holds (one entry per file) and the input
//! fingerprint of each build step, read to skip up-to-date steps and written atomically.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fingerprint::hex;
use crate::{ArtifactInfo, VARIANT_RELEASE, VARIANT_RELEASE_LTO, WASM_TARGET, WORKLOADS};

pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    /// SHA-256 over the step fingerprints.
    pub(crate) fingerprint: String,
    /// `channel` of `rust-toolchain.toml` at build time.
    #[serde(default)]
    pub(crate) toolchain: String,
    #[serde(default)]
    pub(crate) built_at_unix: u64,
    /// Step id (`workloads/<target>`, `size-variants/wasm32-wasip1`, `proxy/<target>`) → input
    /// fingerprint.
    pub(crate) steps: BTreeMap<String, String>,
    pub(crate) entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) variant: String,
    /// Path relative to the artifacts directory, `/`-separated.
    pub(crate) file: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    pub(crate) step: String,
}

impl ManifestEntry {
    pub(crate) fn info(&self, dir: &Path) -> ArtifactInfo {
        ArtifactInfo {
            name: self.name.clone(),
            target: self.target.clone(),
            variant: self.variant.clone(),
            path: dir.join(&self.file),
            bytes: self.bytes,
            sha256: self.sha256.clone(),
        }
    }
}

impl Manifest {
    pub(crate) fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))?;
        if m.format != MANIFEST_FORMAT {
            bail!(
                "{} has format {}, expected {MANIFEST_FORMAT}",
                path.display(),
                m.format
            );
        }
        Ok(Some(m))
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let tmp = dir.join(format!(".{MANIFEST}.tmp-{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Whether every file the step produced is present with its recorded size.
    pub(crate) fn outputs_present(&self, dir: &Path, step: &str) -> bool {
        self.entries.iter().filter(|e| e.step == step).all(|e| {
            fs::metadata(dir.join(&e.file)).is_ok_and(|m| m.is_file() && m.len() == e.bytes)
        })
    }

    /// Sorts the entries, stamps fingerprint, toolchain and time, and writes the manifest.
    pub(crate) fn finish_and_write(&mut self, root: &Path, dir: &Path) -> Result<()> {
        self.sort();
        self.fingerprint = self.combined_fingerprint();
        self.built_at_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.toolchain = toolchain_channel(root);
        self.write(dir)
    }

    pub(crate) fn sort(&mut self) {
        let order = |e: &ManifestEntry| {
            let w = WORKLOADS
                .iter()
                .position(|w| *w == e.name)
                .unwrap_or(WORKLOADS.len());
            let t = if e.target == WASM_TARGET { 0 } else { 1 };
            let v = match e.variant.as_str() {
                VARIANT_RELEASE_LTO => 0,
                VARIANT_RELEASE => 1,
                _ => 2,
            };
            (t, e.target.clone(), w, v)
        };
        self.entries.sort_by_key(order);
        self.entries
            .dedup_by(|a, b| a.name == b.name && a.target == b.target && a.variant == b.variant);
    }

    fn combined_fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (id, fp) in &self.steps {
            h.update(format!("{id}={fp}\n").as_bytes());
        }
        hex(&h.finalize())
    }
}

/// The `channel` of `rust-toolchain.toml`, for the manifest.
fn toolchain_channel(root: &Path) -> String {
    fs::read_to_string(root.join("rust-toolchain.toml"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "channel").then(|| v.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_default()
}
