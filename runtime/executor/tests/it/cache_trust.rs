//! The artifact cache folder holds native code: the executor uses it only when it is private,
//! checks each artifact's checksum when it reads it, and sweeps temporary files at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::*;

async fn health(rt: &Runtime) -> Value {
    serde_json::from_str(&rt.get_text("/health").await).unwrap()
}

/// Starts an executor on `cache`, inits `noop`, and says where the artifact came from and
/// which folder the executor used (`None`: memory only).
async fn init_once(cache: &Path) -> (String, Option<PathBuf>) {
    let rt = Runtime::start_with_cache(cache, &[]);
    let (s, v) = rt.init("a", &workload("noop")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(rt.run("a", json!({"x": 1})).await, (200, json!({"x": 1})));
    let dir = health(&rt).await["cache_dir"].as_str().map(PathBuf::from);
    (v["artifact"].as_str().unwrap().to_string(), dir)
}

/// The one artifact file in `dir`.
fn artifact_in(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// The folder is refused: memory only, twice compiled, nothing written in it.
async fn refused(cache: &Path) {
    for _ in 0..2 {
        let (artifact, dir) = init_once(cache).await;
        assert_eq!((artifact.as_str(), dir), ("compiled", None));
    }
}

#[tokio::test]
async fn a_cache_folder_open_to_others_is_not_used() {
    let cache = tempdir("cache");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    refused(&cache).await;
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    std::fs::remove_dir_all(&cache).unwrap();
}

#[tokio::test]
async fn a_symlinked_cache_folder_is_not_used() {
    let real = private_tempdir("cache-real");
    let link = tempdir("cache-link").join("cache");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    refused(&link).await;
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    std::fs::remove_dir_all(&real).unwrap();
}

#[tokio::test]
async fn a_cache_folder_of_another_user_is_not_used() {
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: only root can give a folder to another user");
        return;
    }
    let cache = private_tempdir("cache");
    std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap();
    refused(&cache).await;
    std::fs::remove_dir_all(&cache).unwrap();
}

#[tokio::test]
async fn a_private_folder_is_used_and_a_tampered_artifact_is_compiled_again() {
    let cache = private_tempdir("cache");
    let (artifact, dir) = init_once(&cache).await;
    let dir = dir.expect("a private folder is used");
    assert_eq!(artifact, "compiled");
    assert_eq!(init_once(&cache).await.0, "disk");
    // One byte changed in the middle of the compiled code.
    let file = artifact_in(&dir);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(
        init_once(&cache).await.0,
        "compiled",
        "the tampered file was loaded"
    );
    assert_eq!(
        init_once(&cache).await.0,
        "disk",
        "and replaced by a good one"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}

#[tokio::test]
async fn leftover_temporary_files_are_swept_at_start() {
    let cache = private_tempdir("cache");
    let dir = init_once(&cache).await.1.unwrap();
    let artifact = artifact_in(&dir);
    let leftover = artifact.with_extension("cwasm.tmp4242-0");
    std::fs::write(&leftover, vec![0u8; 4096]).unwrap();
    assert_eq!(init_once(&cache).await.0, "disk");
    assert!(
        !leftover.exists(),
        "the leftover temporary file is still there"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}
