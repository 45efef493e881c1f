//! Each engine behind the seam, driven directly: its results equal the native builds', and its
//! limits (deadline, memory cap and budget, output cap) hold or behave as documented. The
//! executor-level suites (`it`, `hostile`) run over HTTP on every engine as well.

#[cfg(feature = "wamr")]
mod wamr;
#[cfg(feature = "wasmer")]
mod wasmer;
#[cfg(feature = "wasmi")]
mod wasmi;

use std::path::PathBuf;
use std::sync::OnceLock;

/// The built workloads (SIMD and scalar modules, native binaries).
pub fn artifacts() -> &'static wow_artifacts::Artifacts {
    static A: OnceLock<wow_artifacts::Artifacts> = OnceLock::new();
    A.get_or_init(|| wow_artifacts::ensure_built_default().expect("workloads build"))
}

/// The native (static musl) build of a workload.
pub fn native(name: &str) -> PathBuf {
    artifacts().native(name, "x86_64-unknown-linux-musl")
}
