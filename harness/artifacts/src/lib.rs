//! Builds every artifact the harness ships to a sandbox, and skips what is up to date.
//!
//! - the six workloads (`workloads/`, its own Cargo workspace) for `wasm32-wasip1` and for each
//!   native musl target, with the `release` profile (LTO, stripped): variant `release-lto`;
//! - the module-size variants of `hash` for Wasm, as in the paper's memory table: `release`
//!   (profile `release-nolto`: no LTO, not stripped) and `debug` (profile `dev`);
//! - the static action proxy `wow-proxy` (`runtime/proxy`) for each native target.
//!
//! Outputs are copied into one artifacts directory (by default `<repo>/target/artifacts`) with
//! write-then-rename and described by `<dir>/manifest.json`: one entry per file (name, target,
//! variant, bytes, sha256) and a fingerprint of the inputs per build step. A step whose inputs
//! (sources, manifests, lock files, `.cargo` config, toolchain file) are unchanged and whose
//! outputs exist is skipped without invoking cargo. A file lock (`<dir>/.lock`) serialises
//! concurrent callers, threads and processes alike.
//!
//! ```text
//! <dir>/manifest.json
//! <dir>/wasm32-wasip1/{noop,hash,prime,sleep,json,image}.wasm   release-lto
//! <dir>/wasm32-wasip1/hash-release.wasm, hash-debug.wasm        size variants
//! <dir>/<native target>/{noop,…,image}                          release-lto, static
//! <dir>/<native target>/wow-proxy                               release, static
//! ```

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

mod cargo;
mod custom_section;
mod execute;
mod fingerprint;
mod manifest;
mod steps;
mod update;

pub use custom_section::with_custom_section;

use manifest::{MANIFEST, Manifest};

/// The workloads, in the order the harness reports them.
pub const WORKLOADS: [&str; 6] = ["noop", "hash", "prime", "sleep", "json", "image"];
/// The Wasm target every workload is built for.
pub const WASM_TARGET: &str = "wasm32-wasip1";
/// Name of the action proxy's artifact (and package).
pub const PROXY: &str = "wow-proxy";
/// The workload built in every module-size variant.
pub const SIZE_VARIANT_WORKLOAD: &str = "hash";
/// Variant of every workload artifact: the `release` profile of `workloads/` (LTO, stripped).
pub const VARIANT_RELEASE_LTO: &str = "release-lto";
/// Variant of the proxy and of the no-LTO size variant.
pub const VARIANT_RELEASE: &str = "release";
/// Variant built with the `dev` profile.
pub const VARIANT_DEBUG: &str = "debug";
/// Variant of every Wasm workload built without SIMD (`release` profile, no `simd128`), for
/// engines without the SIMD proposal (the WAMR of WOW's time).
pub const VARIANT_SCALAR: &str = "scalar";

/// What to build, where from and where to.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The repository root (holds `workloads/`, `runtime/`, `Cargo.toml`).
    pub root: PathBuf,
    /// The artifacts directory.
    pub out: PathBuf,
    /// Native targets for the workloads and the proxy, e.g. `x86_64-unknown-linux-musl`.
    pub native_targets: Vec<String>,
    /// Show a spinner per build step (on stderr) and cargo's output when a step fails.
    pub progress: bool,
}

impl BuildOptions {
    /// Options for the repository at `root`: artifacts in `<root>/target/artifacts`, the host's
    /// musl target, no progress display.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        BuildOptions {
            out: root.join("target").join("artifacts"),
            root,
            native_targets: vec![default_native_target()],
            progress: false,
        }
    }

    /// Options for this repository: the root from `WOWBENCH_ROOT` if set, else the checkout this
    /// crate was compiled from.
    pub fn for_repo() -> Self {
        Self::new(repo_root())
    }
}

/// The static musl target of the machine's architecture (`x86_64-unknown-linux-musl` on x86-64).
pub fn default_native_target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// The repository root: `WOWBENCH_ROOT` if set, else the checkout this crate was compiled from.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os("WOWBENCH_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.parent().and_then(Path::parent).unwrap_or(here);
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// One built file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// A workload name or `wow-proxy`.
    pub name: String,
    /// `wasm32-wasip1` or a native target triple.
    pub target: String,
    /// `release-lto`, `release` or `debug`.
    pub variant: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// An artifacts directory and what it holds.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    pub entries: Vec<ArtifactInfo>,
    /// Whether this call ran any build step (false when everything was up to date, and for
    /// [`Artifacts::open`]).
    pub rebuilt: bool,
    /// Fingerprint of the inputs the artifacts were built from (hex SHA-256).
    pub fingerprint: String,
}

impl Artifacts {
    /// Reads the manifest of an existing artifacts directory without building anything (for a
    /// machine that received prebuilt artifacts). Fails if the manifest is missing or a file it
    /// lists is absent.
    pub fn open(dir: impl AsRef<Path>) -> Result<Artifacts> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::read(&dir)?
            .ok_or_else(|| anyhow!("{} has no readable {MANIFEST}", dir.display()))?;
        let entries: Vec<ArtifactInfo> = manifest.entries.iter().map(|e| e.info(&dir)).collect();
        for e in &entries {
            if !e.path.is_file() {
                bail!(
                    "{} lists {} but the file is missing",
                    dir.join(MANIFEST).display(),
                    e.path.display()
                );
            }
        }
        Ok(Artifacts {
            dir,
            entries,
            rebuilt: false,
            fingerprint: manifest.fingerprint,
        })
    }

    /// `<dir>/wasm32-wasip1/<workload>.wasm` (variant `release-lto`).
    pub fn wasm(&self, workload: &str) -> PathBuf {
        self.dir.join(WASM_TARGET).join(format!("{workload}.wasm"))
    }

    /// A module-size variant: `release-lto` is [`Artifacts::wasm`]; `release` and `debug` are
    /// `<dir>/wasm32-wasip1/<workload>-<variant>.wasm` (built for `hash` only).
    pub fn wasm_variant(&self, workload: &str, variant: &str) -> PathBuf {
        if variant == VARIANT_RELEASE_LTO {
            return self.wasm(workload);
        }
        self.dir
            .join(WASM_TARGET)
            .join(format!("{workload}-{variant}.wasm"))
    }

    /// `<dir>/wasm32-wasip1/<workload>-scalar.wasm`: the same source built without SIMD.
    pub fn wasm_scalar(&self, workload: &str) -> PathBuf {
        self.wasm_variant(workload, VARIANT_SCALAR)
    }

    /// `<dir>/<target>/<workload>`: the static native binary.
    pub fn native(&self, workload: &str, target: &str) -> PathBuf {
        self.dir.join(target).join(workload)
    }

    /// `<dir>/<target>/wow-proxy`: the static action proxy.
    pub fn proxy(&self, target: &str) -> PathBuf {
        self.dir.join(target).join(PROXY)
    }

    /// The entry for one artifact, if it was built.
    pub fn get(&self, name: &str, target: &str, variant: &str) -> Option<&ArtifactInfo> {
        self.entries
            .iter()
            .find(|e| e.name == name && e.target == target && e.variant == variant)
    }
}

/// [`ensure_built`] with [`BuildOptions::for_repo`] and no progress display; for tests. Safe to
/// call from many threads and processes at once: they queue on the artifacts directory's lock and
/// all but the first find everything up to date.
pub fn ensure_built_default() -> Result<Artifacts> {
    ensure_built(&BuildOptions::for_repo())
}

/// Makes sure every artifact exists and matches its inputs; builds only the steps whose inputs
/// changed or whose outputs are missing. Invokes no cargo (nor rustup) when all is up to date.
pub fn ensure_built(opts: &BuildOptions) -> Result<Artifacts> {
    let root = &opts.root;
    if !root.join("workloads").join("Cargo.toml").is_file() {
        bail!(
            "{} does not look like the wowbench repository (no workloads/Cargo.toml); set WOWBENCH_ROOT",
            root.display()
        );
    }
    if opts.native_targets.is_empty() {
        bail!("at least one native target is needed");
    }
    fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let out = opts.out.canonicalize().unwrap_or_else(|_| opts.out.clone());

    let lock_path = out.join(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;

    let result = update::build_locked(opts, &out);
    drop(lock);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_layout() {
        let a = Artifacts {
            dir: PathBuf::from("/a"),
            entries: vec![],
            rebuilt: false,
            fingerprint: String::new(),
        };
        assert_eq!(a.wasm("hash"), PathBuf::from("/a/wasm32-wasip1/hash.wasm"));
        assert_eq!(a.wasm_variant("hash", "release-lto"), a.wasm("hash"));
        assert_eq!(
            a.wasm_variant("hash", "debug"),
            PathBuf::from("/a/wasm32-wasip1/hash-debug.wasm")
        );
        assert_eq!(
            a.native("prime", "x86_64-unknown-linux-musl"),
            PathBuf::from("/a/x86_64-unknown-linux-musl/prime")
        );
        assert_eq!(
            a.proxy("x86_64-unknown-linux-musl"),
            PathBuf::from("/a/x86_64-unknown-linux-musl/wow-proxy")
        );
    }
}
