//! The build steps: what each one builds (cargo invocations, cross-compiling environment), which
//! files it produces, and the fingerprint of its inputs that decides whether it must run again.

use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::fingerprint::{Inputs, hex};
use crate::{
    PROXY, SIZE_VARIANT_WORKLOAD, VARIANT_DEBUG, VARIANT_RELEASE, VARIANT_RELEASE_LTO,
    VARIANT_SCALAR, WASM_TARGET, WORKLOADS,
};

/// Bump when the layout or the build commands change, so old artifact directories rebuild.
const BUILDER_VERSION: &str = "wow-artifacts/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// All six workloads, `release` profile.
    Workloads,
    /// `hash` for Wasm with `release-nolto` and `dev`.
    SizeVariants,
    /// `wow-proxy`, root workspace, `release` profile.
    Proxy,
    /// All six workloads for Wasm without SIMD (`release` profile, own target folder).
    Scalar,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) id: String,
    pub(crate) kind: StepKind,
    pub(crate) target: String,
}

impl Step {
    pub(crate) fn workloads(target: &str) -> Step {
        Step {
            id: format!("workloads/{target}"),
            kind: StepKind::Workloads,
            target: target.to_string(),
        }
    }

    pub(crate) fn size_variants() -> Step {
        Step {
            id: format!("size-variants/{WASM_TARGET}"),
            kind: StepKind::SizeVariants,
            target: WASM_TARGET.to_string(),
        }
    }

    pub(crate) fn scalar() -> Step {
        Step {
            id: format!("scalar/{WASM_TARGET}"),
            kind: StepKind::Scalar,
            target: WASM_TARGET.to_string(),
        }
    }

    pub(crate) fn proxy(target: &str) -> Step {
        Step {
            id: format!("proxy/{target}"),
            kind: StepKind::Proxy,
            target: target.to_string(),
        }
    }

    pub(crate) fn from_id(id: &str) -> Option<Step> {
        let (kind, target) = id.split_once('/')?;
        match kind {
            "workloads" => Some(Step::workloads(target)),
            "size-variants" if target == WASM_TARGET => Some(Step::size_variants()),
            "proxy" => Some(Step::proxy(target)),
            "scalar" if target == WASM_TARGET => Some(Step::scalar()),
            _ => None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self.kind {
            StepKind::Workloads => format!("workloads for {}", self.target),
            StepKind::SizeVariants => format!(
                "{SIZE_VARIANT_WORKLOAD} size variants (release, debug) for {}",
                self.target
            ),
            StepKind::Proxy => format!("{PROXY} for {}", self.target),
            StepKind::Scalar => format!("workloads without SIMD for {}", self.target),
        }
    }

    /// The cargo invocations: (working directory, arguments). Cargo runs in the workspace's
    /// directory so that its `.cargo/config.toml` and the toolchain file apply.
    pub(crate) fn commands(&self, root: &Path) -> Vec<(PathBuf, Vec<String>)> {
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
            StepKind::Scalar => {
                let mut args = vec![s("build"), s("--release"), s("--no-default-features")];
                args.extend([
                    s("--target"),
                    target,
                    s("--target-dir"),
                    path_arg(&root.join("target").join("workloads-scalar")),
                    s("--manifest-path"),
                    path_arg(&root.join("workloads").join("Cargo.toml")),
                ]);
                vec![(root.join("workloads"), args)]
            }
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
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if self.kind == StepKind::Scalar {
            // Set and empty, it replaces the workspace's `+simd128` target flags.
            env.push(("RUSTFLAGS".to_string(), String::new()));
        }
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
    pub(crate) fn hint(&self) -> String {
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
    pub(crate) fn outputs(
        &self,
        root: &Path,
    ) -> Vec<(PathBuf, &'static str, &'static str, String)> {
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
            StepKind::Scalar => WORKLOADS
                .iter()
                .map(|w| {
                    (
                        built("workloads-scalar", "release", &format!("{w}{ext}")),
                        *w,
                        VARIANT_SCALAR,
                        format!("{w}-{VARIANT_SCALAR}{ext}"),
                    )
                })
                .collect(),
            StepKind::Proxy => vec![(
                built("musl", "release", PROXY),
                PROXY,
                VARIANT_RELEASE,
                PROXY.to_string(),
            )],
        }
    }

    pub(crate) fn fingerprint(&self, inputs: &mut Inputs) -> Result<String> {
        let mut h = Sha256::new();
        h.update(BUILDER_VERSION.as_bytes());
        h.update([0]);
        h.update(self.id.as_bytes());
        h.update([0]);
        let group = match self.kind {
            StepKind::Workloads | StepKind::SizeVariants | StepKind::Scalar => {
                inputs.workloads()?
            }
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

/// Whether `program` is on PATH.
fn find_in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_round_trip() {
        for s in [
            Step::workloads("wasm32-wasip1"),
            Step::size_variants(),
            Step::scalar(),
            Step::proxy("aarch64-unknown-linux-musl"),
        ] {
            let back = Step::from_id(&s.id).unwrap();
            assert_eq!((back.kind, back.target), (s.kind, s.target));
        }
        assert!(Step::from_id("nonsense").is_none());
    }
}
