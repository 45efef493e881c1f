//! Each engine behind the seam, driven directly: its results equal the native builds', and its
//! limits (deadline, memory cap and budget, output cap) hold or behave as documented. The
//! executor-level suites (`it`, `hostile`) run over HTTP on every engine as well.

#[cfg(feature = "wamr")]
mod wamr;
#[cfg(feature = "wasmer")]
mod wasmer;
#[cfg(feature = "wasmi")]
mod wasmi;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

#[path = "../common/workload_cases.rs"]
mod workload_cases;
pub use workload_cases::cases;

/// The result line (the last stdout line) of a workload's native build given `stdin`.
pub fn native_line(name: &str, stdin: &[u8]) -> Vec<u8> {
    let p = native(name);
    let mut child = Command::new(&p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    wow_protocol::split_output(&out.stdout).1.to_vec()
}
