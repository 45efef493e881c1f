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

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod custom_section;
pub use custom_section::with_custom_section;

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

/// Bump when the layout or the build commands change, so old artifact directories rebuild.
const BUILDER_VERSION: &str = "wow-artifacts/1";
const MANIFEST: &str = "manifest.json";
const MANIFEST_FORMAT: u32 = 1;

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

    let result = build_locked(opts, &out);
    drop(lock);
    result
}

fn build_locked(opts: &BuildOptions, out: &Path) -> Result<Artifacts> {
    let root = &opts.root;
    let old = Manifest::read(out).unwrap_or_else(|e| {
        if opts.progress {
            eprintln!("ignoring the old manifest: {e:#}");
        }
        None
    });
    let old = old.unwrap_or_default();

    let mut steps = vec![Step::workloads(WASM_TARGET), Step::size_variants()];
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

// ---------------------------------------------------------------------------------------------
// Build steps

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    /// All six workloads, `release` profile.
    Workloads,
    /// `hash` for Wasm with `release-nolto` and `dev`.
    SizeVariants,
    /// `wow-proxy`, root workspace, `release` profile.
    Proxy,
}

#[derive(Debug, Clone)]
struct Step {
    id: String,
    kind: StepKind,
    target: String,
}

impl Step {
    fn workloads(target: &str) -> Step {
        Step {
            id: format!("workloads/{target}"),
            kind: StepKind::Workloads,
            target: target.to_string(),
        }
    }

    fn size_variants() -> Step {
        Step {
            id: format!("size-variants/{WASM_TARGET}"),
            kind: StepKind::SizeVariants,
            target: WASM_TARGET.to_string(),
        }
    }

    fn proxy(target: &str) -> Step {
        Step {
            id: format!("proxy/{target}"),
            kind: StepKind::Proxy,
            target: target.to_string(),
        }
    }

    fn from_id(id: &str) -> Option<Step> {
        let (kind, target) = id.split_once('/')?;
        match kind {
            "workloads" => Some(Step::workloads(target)),
            "size-variants" if target == WASM_TARGET => Some(Step::size_variants()),
            "proxy" => Some(Step::proxy(target)),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self.kind {
            StepKind::Workloads => format!("workloads for {}", self.target),
            StepKind::SizeVariants => format!(
                "{SIZE_VARIANT_WORKLOAD} size variants (release, debug) for {}",
                self.target
            ),
            StepKind::Proxy => format!("{PROXY} for {}", self.target),
        }
    }

    /// The cargo invocations: (working directory, arguments). Cargo runs in the workspace's
    /// directory so that its `.cargo/config.toml` and the toolchain file apply.
    fn commands(&self, root: &Path) -> Vec<(PathBuf, Vec<String>)> {
        let s = |v: &str| v.to_string();
        let target = self.target.clone();
        match self.kind {
            StepKind::Workloads => vec![(
                root.join("workloads"),
                workloads_args(root, &["--release"], &target),
            )],
            StepKind::SizeVariants => vec![
                (
                    root.join("workloads"),
                    workloads_args(
                        root,
                        &["--profile", "release-nolto", "--bin", SIZE_VARIANT_WORKLOAD],
                        &target,
                    ),
                ),
                (
                    root.join("workloads"),
                    workloads_args(
                        root,
                        &["--profile", "dev", "--bin", SIZE_VARIANT_WORKLOAD],
                        &target,
                    ),
                ),
            ],
            StepKind::Proxy => vec![(
                root.to_path_buf(),
                vec![
                    s("build"),
                    s("--release"),
                    s("-p"),
                    s(PROXY),
                    s("--target"),
                    target,
                    s("--target-dir"),
                    path_arg(&root.join("target").join("musl")),
                    s("--manifest-path"),
                    path_arg(&root.join("Cargo.toml")),
                ],
            )],
        }
    }

    /// Extra environment for cargo (cross linking for aarch64).
    fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if self.target == "aarch64-unknown-linux-musl" {
            env.push((
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".to_string(),
                "rust-lld".to_string(),
            ));
            if std::env::consts::ARCH != "aarch64" && find_in_path("aarch64-linux-gnu-gcc") {
                env.push((
                    "CC_aarch64_unknown_linux_musl".to_string(),
                    "aarch64-linux-gnu-gcc".to_string(),
                ));
                env.push((
                    "AR_aarch64_unknown_linux_musl".to_string(),
                    "aarch64-linux-gnu-ar".to_string(),
                ));
            }
        }
        env
    }

    /// Advice for a failed build that a missing cross compiler explains.
    fn hint(&self) -> String {
        let cross_arm = self.target.starts_with("aarch64-")
            && std::env::consts::ARCH != "aarch64"
            && !find_in_path("aarch64-linux-gnu-gcc");
        if cross_arm {
            " (C parts such as blake3's NEON code need a cross compiler: on Debian, \
             apt-get install gcc-aarch64-linux-gnu)"
                .to_string()
        } else {
            String::new()
        }
    }

    /// (source file, artifact name, variant, destination file name) for each output.
    fn outputs(&self, root: &Path) -> Vec<(PathBuf, &'static str, &'static str, String)> {
        let ext = if self.target.starts_with("wasm32") {
            ".wasm"
        } else {
            ""
        };
        let built = |target_dir: &str, profile_dir: &str, file: &str| {
            root.join("target")
                .join(target_dir)
                .join(&self.target)
                .join(profile_dir)
                .join(file)
        };
        match self.kind {
            StepKind::Workloads => WORKLOADS
                .iter()
                .map(|w| {
                    let file = format!("{w}{ext}");
                    (
                        built("workloads", "release", &file),
                        *w,
                        VARIANT_RELEASE_LTO,
                        file,
                    )
                })
                .collect(),
            StepKind::SizeVariants => {
                let w = SIZE_VARIANT_WORKLOAD;
                vec![
                    (
                        built("workloads", "release-nolto", &format!("{w}{ext}")),
                        w,
                        VARIANT_RELEASE,
                        format!("{w}-{VARIANT_RELEASE}{ext}"),
                    ),
                    (
                        built("workloads", "debug", &format!("{w}{ext}")),
                        w,
                        VARIANT_DEBUG,
                        format!("{w}-{VARIANT_DEBUG}{ext}"),
                    ),
                ]
            }
            StepKind::Proxy => vec![(
                built("musl", "release", PROXY),
                PROXY,
                VARIANT_RELEASE,
                PROXY.to_string(),
            )],
        }
    }

    fn fingerprint(&self, inputs: &mut Inputs) -> Result<String> {
        let mut h = Sha256::new();
        h.update(BUILDER_VERSION.as_bytes());
        h.update([0]);
        h.update(self.id.as_bytes());
        h.update([0]);
        let group = match self.kind {
            StepKind::Workloads | StepKind::SizeVariants => inputs.workloads()?,
            StepKind::Proxy => inputs.proxy()?,
        };
        h.update(group.as_bytes());
        for (k, v) in self.env() {
            h.update(format!("\0{k}={v}").as_bytes());
        }
        for (_, args) in self.commands(Path::new("/")) {
            h.update(format!("\0{}", args.join(" ")).as_bytes());
        }
        Ok(hex(&h.finalize()))
    }
}

fn workloads_args(root: &Path, profile: &[&str], target: &str) -> Vec<String> {
    let mut args = vec!["build".to_string()];
    args.extend(profile.iter().map(|s| s.to_string()));
    args.extend([
        "--target".to_string(),
        target.to_string(),
        "--target-dir".to_string(),
        path_arg(&root.join("target").join("workloads")),
        "--manifest-path".to_string(),
        path_arg(&root.join("workloads").join("Cargo.toml")),
    ]);
    args
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs one step until its inputs are the same before and after the build (a build that raced
/// with an edit runs again), copies its outputs and returns its fingerprint and entries.
fn run_step(
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

// ---------------------------------------------------------------------------------------------
// Running cargo and rustup

/// Environment variables a parent cargo (or the user's shell) may set that would change what
/// these builds produce; the artifacts are built from the repository's configuration alone.
fn clean_env(cmd: &mut Command) {
    const EXACT: [&str; 8] = [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_INCREMENTAL",
    ];
    const PREFIXES: [&str; 4] = ["CARGO_PROFILE_", "CARGO_BUILD_", "CARGO_TARGET_", "__CARGO"];
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if EXACT.contains(&k) || PREFIXES.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}

fn run_cargo(
    cwd: &Path,
    args: &[String],
    env: &[(String, String)],
    bar: Option<&ProgressBar>,
) -> Result<()> {
    let mut cmd = Command::new("cargo");
    clean_env(&mut cmd);
    cmd.current_dir(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let command_line = format!("(cd {} && cargo {})", cwd.display(), args.join(" "));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run cargo; is it on PATH? {command_line}"))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if let Some(bar) = bar {
            let msg = line.trim();
            if !msg.is_empty() {
                bar.set_message(msg.to_string());
            }
        }
        lines.push(line);
    }
    let status = child.wait().context("waiting for cargo")?;
    if status.success() {
        return Ok(());
    }
    if let Some(bar) = bar {
        bar.suspend(|| {
            eprintln!("{command_line} failed ({status}):");
            for l in &lines {
                eprintln!("{l}");
            }
        });
    }
    let tail: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .skip(lines.len().saturating_sub(40))
        .collect();
    Err(anyhow!(
        "{command_line} failed ({status}); last lines of its output:\n{}",
        tail.join("\n")
    ))
}

/// Makes sure the rustup toolchain of the repository has `targets`, adding missing ones.
fn ensure_rustup_targets(root: &Path, targets: &[&str], progress: bool) -> Result<()> {
    let mut list = Command::new("rustup");
    clean_env(&mut list);
    let listed = list
        .current_dir(root)
        .args(["target", "list", "--installed"])
        .stdin(Stdio::null())
        .output();
    let installed = match listed {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check_sysroot_targets(root, targets);
        }
        Err(e) => return Err(e).context("cannot run rustup"),
    };
    let installed: Vec<&str> = installed.lines().map(str::trim).collect();
    for target in targets {
        if installed.contains(target) {
            continue;
        }
        if progress {
            eprintln!("installing the Rust target {target} (rustup target add {target})");
        }
        let mut add = Command::new("rustup");
        clean_env(&mut add);
        let o = add
            .current_dir(root)
            .args(["target", "add", target])
            .stdin(Stdio::null())
            .output()
            .context("cannot run rustup")?;
        if !o.status.success() {
            bail!(
                "the Rust target {target} is not installed and `rustup target add {target}` failed: {}\n\
                 install it by hand (rustup target add {target}) and try again",
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Without rustup: the standard library of every target must be in the sysroot.
fn check_sysroot_targets(root: &Path, targets: &[&str]) -> Result<()> {
    let o = Command::new("rustc")
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
        .context("neither rustup nor rustc could be run")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    for target in targets {
        if !sysroot.join("lib").join("rustlib").join(target).is_dir() {
            bail!(
                "the Rust target {target} is not installed in {} and rustup is not available to add it",
                sysroot.display()
            );
        }
    }
    Ok(())
}

fn find_in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

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

// ---------------------------------------------------------------------------------------------
// Input fingerprints

/// Digests of the two input groups, computed at most once until [`Inputs::forget`].
struct Inputs {
    root: PathBuf,
    workloads: Option<String>,
    proxy: Option<String>,
}

impl Inputs {
    fn new(root: &Path) -> Self {
        Inputs {
            root: root.to_path_buf(),
            workloads: None,
            proxy: None,
        }
    }

    fn forget(&mut self) {
        self.workloads = None;
        self.proxy = None;
    }

    /// The workloads crate, the protocol crate it depends on, and the root manifest the protocol
    /// crate inherits its settings from.
    fn workloads(&mut self) -> Result<String> {
        if self.workloads.is_none() {
            self.workloads = Some(digest_inputs(
                &self.root,
                &[
                    "workloads",
                    "runtime/protocol",
                    "Cargo.toml",
                    "rust-toolchain.toml",
                ],
            )?);
        }
        Ok(self.workloads.clone().expect("just set"))
    }

    /// The proxy crate, the protocol crate, the root manifest, the root `.cargo/` and the
    /// proxy's dependencies as locked in the root `Cargo.lock` (only those: other crates of the
    /// workspace changing their dependencies does not rebuild the proxy).
    fn proxy(&mut self) -> Result<String> {
        if self.proxy.is_none() {
            let files = digest_inputs(
                &self.root,
                &[
                    "runtime/proxy",
                    "runtime/protocol",
                    "Cargo.toml",
                    "rust-toolchain.toml",
                    ".cargo",
                ],
            )?;
            let locked = locked_closure(&self.root.join("Cargo.lock"), PROXY)?;
            let mut h = Sha256::new();
            h.update(files.as_bytes());
            h.update(locked.as_bytes());
            self.proxy = Some(hex(&h.finalize()));
        }
        Ok(self.proxy.clone().expect("just set"))
    }
}

/// Hashes the build inputs under each of `paths` (relative to `root`): a file as it is; a crate
/// directory by its `Cargo.toml`, `Cargo.lock`, `build.rs`, `.cargo/` and `src/` (documentation
/// and build outputs do not count). Missing paths are hashed as missing.
fn digest_inputs(root: &Path, paths: &[&str]) -> Result<String> {
    let mut files = Vec::new();
    for rel in paths {
        let p = root.join(rel);
        if p.is_dir() {
            for part in ["Cargo.toml", "Cargo.lock", "build.rs", ".cargo", "src"] {
                let q = p.join(part);
                if q.is_dir() {
                    walk(&q, &mut files)?;
                } else if q.is_file() {
                    files.push(q);
                }
            }
        } else if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for rel in paths {
        h.update(format!("root:{rel}\0").as_bytes());
    }
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f);
        let bytes = fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex(&h.finalize()))
}

/// The `[[package]]` entries of a `Cargo.lock` that `package` depends on (itself included),
/// as canonical text; `"absent"` when there is no lock file or no such package yet.
fn locked_closure(lock_file: &Path, package: &str) -> Result<String> {
    let text = match fs::read_to_string(lock_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("absent".to_string()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", lock_file.display())),
    };
    let lock: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", lock_file.display()))?;
    let packages: Vec<&toml::Table> = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(toml::Value::as_table).collect())
        .unwrap_or_default();
    let field = |p: &toml::Table, k: &str| {
        p.get(k)
            .and_then(toml::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // A dependency is written "name", "name version" or "name version (source)".
    let matches = |p: &toml::Table, dep: &str| {
        let mut parts = dep.split(' ');
        let name = parts.next().unwrap_or("");
        let version = parts.next();
        field(p, "name") == name && version.is_none_or(|v| field(p, "version") == v)
    };
    let mut chosen: Vec<usize> = Vec::new();
    let mut queue: Vec<usize> = packages
        .iter()
        .position(|p| field(p, "name") == package)
        .into_iter()
        .collect();
    while let Some(i) = queue.pop() {
        if chosen.contains(&i) {
            continue;
        }
        chosen.push(i);
        let deps = packages[i]
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for dep in deps.iter().filter_map(toml::Value::as_str) {
            if let Some(j) = packages.iter().position(|p| matches(p, dep)) {
                queue.push(j);
            }
        }
    }
    if chosen.is_empty() {
        return Ok("absent".to_string());
    }
    let mut lines: Vec<String> = chosen
        .iter()
        .map(|&i| packages[i].to_string().replace('\n', " "))
        .collect();
    lines.sort();
    Ok(lines.join("\n"))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Editor backups and swap files are not inputs.
        if name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".rs.bk") {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&path, files)?;
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The manifest

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// SHA-256 over the step fingerprints.
    fingerprint: String,
    /// `channel` of `rust-toolchain.toml` at build time.
    #[serde(default)]
    toolchain: String,
    #[serde(default)]
    built_at_unix: u64,
    /// Step id (`workloads/<target>`, `size-variants/wasm32-wasip1`, `proxy/<target>`) → input
    /// fingerprint.
    steps: BTreeMap<String, String>,
    entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ManifestEntry {
    name: String,
    target: String,
    variant: String,
    /// Path relative to the artifacts directory, `/`-separated.
    file: String,
    bytes: u64,
    sha256: String,
    step: String,
}

impl ManifestEntry {
    fn info(&self, dir: &Path) -> ArtifactInfo {
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
    fn read(dir: &Path) -> Result<Option<Manifest>> {
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
    fn outputs_present(&self, dir: &Path, step: &str) -> bool {
        self.entries.iter().filter(|e| e.step == step).all(|e| {
            fs::metadata(dir.join(&e.file)).is_ok_and(|m| m.is_file() && m.len() == e.bytes)
        })
    }

    /// Sorts the entries, stamps fingerprint, toolchain and time, and writes the manifest.
    fn finish_and_write(&mut self, root: &Path, dir: &Path) -> Result<()> {
        self.sort();
        self.fingerprint = self.combined_fingerprint();
        self.built_at_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.toolchain = toolchain_channel(root);
        self.write(dir)
    }

    fn sort(&mut self) {
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

    #[test]
    fn step_ids_round_trip() {
        for s in [
            Step::workloads("wasm32-wasip1"),
            Step::size_variants(),
            Step::proxy("aarch64-unknown-linux-musl"),
        ] {
            let back = Step::from_id(&s.id).unwrap();
            assert_eq!((back.kind, back.target), (s.kind, s.target));
        }
        assert!(Step::from_id("nonsense").is_none());
    }

    #[test]
    fn fingerprints_depend_on_content() {
        let dir = std::env::temp_dir().join(format!("wow-artifacts-fp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("c/src")).unwrap();
        fs::write(dir.join("c/Cargo.toml"), "x").unwrap();
        fs::write(dir.join("c/README.md"), "docs").unwrap();
        fs::write(dir.join("c/src/main.rs"), "fn main() {}").unwrap();
        let a = digest_inputs(&dir, &["c"]).unwrap();
        fs::write(dir.join("c/README.md"), "other docs").unwrap();
        assert_eq!(a, digest_inputs(&dir, &["c"]).unwrap());
        fs::write(dir.join("c/src/main.rs"), "fn main() { }").unwrap();
        let b = digest_inputs(&dir, &["c"]).unwrap();
        assert_ne!(a, b);
        fs::write(dir.join("c/src/lib.rs"), "").unwrap();
        assert_ne!(b, digest_inputs(&dir, &["c"]).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
