//! Records the versions of the engine crates this binary can link, read from the workspace's
//! Cargo.lock, so runs, `/health` and cache keys name them without them being typed in by hand.

const ENGINES: &[(&str, &str)] = &[
    ("wasmtime", "WOW_WASMTIME_VERSION"),
    ("wasmer", "WOW_WASMER_VERSION"),
    ("wasmi", "WOW_WASMI_VERSION"),
    ("wamr-sys", "WOW_WAMR_VERSION"),
];

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    for (krate, var) in ENGINES {
        let name = format!("name = \"{krate}\"");
        let mut lines = text.lines();
        let mut version = "unknown".to_string();
        while let Some(l) = lines.next() {
            if l.trim() == name {
                if let Some(v) = lines
                    .next()
                    .and_then(|v| v.trim().strip_prefix("version = "))
                {
                    version = v.trim_matches('"').to_string();
                }
                break;
            }
        }
        println!("cargo:rustc-env={var}={version}");
    }
}
