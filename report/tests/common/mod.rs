//! Shared by the report's integration tests: copies of the hand-made run folder.

use std::path::{Path, PathBuf};

/// The hand-made run folder (`records.csv`, `summary.csv`, `meta.json`; no `capacity`).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-small")
}

/// A fresh copy of the fixture in a temporary folder, so reports are never written into the
/// source tree.
pub fn fixture_copy(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wow-report-{tag}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let run = dir.join("fixture-small");
    std::fs::create_dir_all(&run).unwrap();
    for f in ["records.csv", "summary.csv", "meta.json"] {
        std::fs::copy(fixture().join(f), run.join(f)).unwrap();
    }
    run
}

pub fn cleanup(run: &Path) {
    if let Some(parent) = run.parent() {
        let _ = std::fs::remove_dir_all(parent);
    }
}
