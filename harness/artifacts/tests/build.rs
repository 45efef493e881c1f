//! `ensure_built`: the manifest matches the files, and a second call does no work.

mod common;

use wow_artifacts::{
    Artifacts, BuildOptions, PROXY, WASM_TARGET, WORKLOADS, default_native_target, ensure_built,
};

#[test]
fn second_ensure_built_does_no_work_and_manifest_matches_files() {
    common::artifacts(); // build (or find) everything first
    let opts = BuildOptions::for_repo();
    let first = ensure_built(&opts).unwrap();
    let second = ensure_built(&opts).unwrap();
    assert!(
        !second.rebuilt,
        "nothing changed between two calls, yet a build step ran"
    );
    assert_eq!(first.fingerprint, second.fingerprint);
    assert_eq!(first.entries, second.entries);

    let native = default_native_target();
    for w in WORKLOADS {
        let wasm = second.get(w, WASM_TARGET, "release-lto").expect(w);
        assert_eq!(wasm.path, second.wasm(w));
        let bin = second.get(w, &native, "release-lto").expect(w);
        assert_eq!(bin.path, second.native(w, &native));
    }
    if let Some(proxy) = second.get(PROXY, &native, "release") {
        assert_eq!(proxy.path, second.proxy(&native));
    }
    for e in &second.entries {
        let bytes = std::fs::read(&e.path).unwrap();
        assert_eq!(bytes.len() as u64, e.bytes, "{}", e.path.display());
        assert_eq!(sha256_hex(&bytes), e.sha256, "{}", e.path.display());
    }

    let opened = Artifacts::open(&second.dir).unwrap();
    assert_eq!(opened.entries, second.entries);
    assert!(!opened.rebuilt);
}

#[test]
fn open_fails_clearly_without_a_manifest() {
    let dir = std::env::temp_dir().join(format!("wow-artifacts-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = Artifacts::open(&dir).unwrap_err().to_string();
    assert!(err.contains("manifest.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_callers_agree() {
    common::artifacts();
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(wow_artifacts::ensure_built_default))
        .collect();
    let fingerprints: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap().fingerprint)
        .collect();
    assert!(fingerprints.windows(2).all(|w| w[0] == w[1]));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
