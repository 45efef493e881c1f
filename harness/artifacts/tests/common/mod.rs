//! Shared helpers: the artifacts (built once per test process, under the artifacts lock) and a
//! runner for native workload binaries.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;
use wow_artifacts::{Artifacts, default_native_target, ensure_built_default};

pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| ensure_built_default().expect("building the artifacts"))
}

pub fn native(workload: &str) -> PathBuf {
    artifacts().native(workload, &default_native_target())
}

/// What a one-shot run produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last stdout line, parsed (the guest contract's result).
    pub fn result(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or("");
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last stdout line {last:?} is not JSON ({e}); {self:?}"))
    }

    /// Asserts success and returns the result.
    pub fn ok(&self) -> Value {
        assert_eq!(self.code, Some(0), "expected success: {self:?}");
        let r = self.result();
        assert!(r.is_object(), "result is not an object: {self:?}");
        assert!(r.get("error").is_none(), "unexpected error: {self:?}");
        r
    }

    /// Asserts the contract's failure shape and returns the error message.
    pub fn error(&self) -> String {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit: {self:?}"
        );
        let r = self.result();
        let msg = r
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no \"error\" string in the last line: {self:?}"));
        assert!(!msg.is_empty());
        assert_eq!(
            r.as_object().unwrap().len(),
            1,
            "error object has extra keys: {r}"
        );
        msg.to_string()
    }
}

/// Runs a native workload once with `input` on stdin.
pub fn run(workload: &str, input: &str) -> Run {
    let mut child = Command::new(native(workload))
        .env_remove(wow_protocol::ACTIONLOOP_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {workload}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    // Write from another thread so a workload that answers before reading cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
