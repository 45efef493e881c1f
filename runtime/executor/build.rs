//! Records the version of the wasmtime crate this binary links, read from the workspace's
//! Cargo.lock, so runs and cache keys name it without it being typed in by hand.

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let mut lines = text.lines();
    let mut version = "unknown".to_string();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"wasmtime\"" {
            if let Some(v) = lines
                .next()
                .and_then(|v| v.trim().strip_prefix("version = "))
            {
                version = v.trim_matches('"').to_string();
            }
            break;
        }
    }
    println!("cargo:rustc-env=WOW_WASMTIME_VERSION={version}");
}
