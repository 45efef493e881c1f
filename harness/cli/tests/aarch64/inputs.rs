//! What the test runs and compares with, found or built before any emulation starts: the
//! cross-built executor, the workload artifacts and the host's native answers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use wow_artifacts::{Artifacts, BuildOptions};

use crate::{CROSS_BUILD, TARGET, params};

/// The aarch64 `wow-runtime`: `WOWBENCH_AARCH64_RUNTIME`, else the debug cross build.
pub fn aarch64_runtime(target_dir: &Path) -> PathBuf {
    let bin = match std::env::var_os("WOWBENCH_AARCH64_RUNTIME").filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "WOWBENCH_AARCH64_RUNTIME={} is not a file",
                p.display()
            );
            p
        }
        None => {
            let p = target_dir.join(TARGET).join("debug").join("wow-runtime");
            assert!(
                p.is_file(),
                "the aarch64 cross build of wow-runtime is missing ({}): run `{CROSS_BUILD}` \
                 first (scripts/test.sh does), or set WOWBENCH_AARCH64_RUNTIME to an aarch64 \
                 wow-runtime",
                p.display()
            );
            p
        }
    };
    // An ELF header: 64-bit, little-endian, e_machine EM_AARCH64 (183).
    let head = std::fs::read(&bin)
        .map(|b| b.get(..20).map(<[u8]>::to_vec).unwrap_or_default())
        .unwrap_or_default();
    let aarch64 = head.len() == 20
        && head.starts_with(b"\x7fELF\x02\x01")
        && u16::from_le_bytes([head[18], head[19]]) == 183;
    assert!(
        aarch64,
        "{} is not an aarch64 executable: rebuild it with `{CROSS_BUILD}`",
        bin.display()
    );
    bin
}

/// The workload artifacts (Wasm, host native). If building fails, artifacts from an earlier
/// build still make a valid test: the Wasm and the native builds of each workload come from the
/// same sources.
pub fn artifacts() -> Artifacts {
    match wow_artifacts::ensure_built_default() {
        Ok(a) => a,
        Err(e) => {
            let dir = BuildOptions::for_repo().out;
            let a = Artifacts::open(&dir).unwrap_or_else(|_| {
                panic!(
                    "building the workload artifacts failed and {} holds none: {e:#}",
                    dir.display()
                )
            });
            eprintln!(
                "warning: building the artifacts failed; using those already in {}: {e:#}",
                dir.display()
            );
            a
        }
    }
}

/// Runs a one-shot workload with its parameters on stdin; the result is the last stdout line.
pub fn run_native(cmd: &mut std::process::Command, workload: &str) -> Value {
    let mut child = cmd
        .env_remove(wow_protocol::ACTIONLOOP_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let input = params(workload).to_string();
    let mut stdin = child.stdin.take().expect("piped");
    // Write from another thread so a workload that answers before reading cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("waiting for a workload");
    writer.join().expect("the stdin writer");
    let (_, line) = wow_protocol::split_output(&out.stdout);
    serde_json::from_slice(line).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} ({workload}) did not answer JSON ({e}, {}): {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        _ => default,
    }
}

pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
