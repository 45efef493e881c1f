//! Fingerprints of the build inputs: the files a step's output depends on (sources, manifests,
//! lock files, `.cargo` config, toolchain file), hashed so an unchanged step can be skipped.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::PROXY;

/// Digests of the two input groups, computed at most once until [`Inputs::forget`].
pub(crate) struct Inputs {
    root: PathBuf,
    workloads: Option<String>,
    proxy: Option<String>,
}

impl Inputs {
    pub(crate) fn new(root: &Path) -> Self {
        Inputs {
            root: root.to_path_buf(),
            workloads: None,
            proxy: None,
        }
    }

    pub(crate) fn forget(&mut self) {
        self.workloads = None;
        self.proxy = None;
    }

    /// The workloads crate, the protocol crate it depends on, and the root manifest the protocol
    /// crate inherits its settings from.
    pub(crate) fn workloads(&mut self) -> Result<String> {
        if self.workloads.is_none() {
            self.workloads = Some(digest_inputs(
                &self.root,
                &[
                    "workloads",
                    "runtime/protocol",
                    "Cargo.toml",
                    "rust-toolchain.toml",
                ],
            )?);
        }
        Ok(self.workloads.clone().expect("just set"))
    }

    /// The proxy crate, the protocol crate, the root manifest, the root `.cargo/` and the
    /// proxy's dependencies as locked in the root `Cargo.lock` (only those: other crates of the
    /// workspace changing their dependencies does not rebuild the proxy).
    pub(crate) fn proxy(&mut self) -> Result<String> {
        if self.proxy.is_none() {
            let files = digest_inputs(
                &self.root,
                &[
                    "runtime/proxy",
                    "runtime/protocol",
                    "Cargo.toml",
                    "rust-toolchain.toml",
                    ".cargo",
                ],
            )?;
            let locked = locked_closure(&self.root.join("Cargo.lock"), PROXY)?;
            let mut h = Sha256::new();
            h.update(files.as_bytes());
            h.update(locked.as_bytes());
            self.proxy = Some(hex(&h.finalize()));
        }
        Ok(self.proxy.clone().expect("just set"))
    }
}

/// Hashes the build inputs under each of `paths` (relative to `root`): a file as it is; a crate
/// directory by its `Cargo.toml`, `Cargo.lock`, `build.rs`, `.cargo/` and `src/` (documentation
/// and build outputs do not count). Missing paths are hashed as missing.
fn digest_inputs(root: &Path, paths: &[&str]) -> Result<String> {
    let mut files = Vec::new();
    for rel in paths {
        let p = root.join(rel);
        if p.is_dir() {
            for part in ["Cargo.toml", "Cargo.lock", "build.rs", ".cargo", "src"] {
                let q = p.join(part);
                if q.is_dir() {
                    walk(&q, &mut files)?;
                } else if q.is_file() {
                    files.push(q);
                }
            }
        } else if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for rel in paths {
        h.update(format!("root:{rel}\0").as_bytes());
    }
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f);
        let bytes = fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex(&h.finalize()))
}

/// The `[[package]]` entries of a `Cargo.lock` that `package` depends on (itself included),
/// as canonical text; `"absent"` when there is no lock file or no such package yet.
fn locked_closure(lock_file: &Path, package: &str) -> Result<String> {
    let text = match fs::read_to_string(lock_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("absent".to_string()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", lock_file.display())),
    };
    let lock: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", lock_file.display()))?;
    let packages: Vec<&toml::Table> = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(toml::Value::as_table).collect())
        .unwrap_or_default();
    let field = |p: &toml::Table, k: &str| {
        p.get(k)
            .and_then(toml::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // A dependency is written "name", "name version" or "name version (source)".
    let matches = |p: &toml::Table, dep: &str| {
        let mut parts = dep.split(' ');
        let name = parts.next().unwrap_or("");
        let version = parts.next();
        field(p, "name") == name && version.is_none_or(|v| field(p, "version") == v)
    };
    let mut chosen: Vec<usize> = Vec::new();
    let mut queue: Vec<usize> = packages
        .iter()
        .position(|p| field(p, "name") == package)
        .into_iter()
        .collect();
    while let Some(i) = queue.pop() {
        if chosen.contains(&i) {
            continue;
        }
        chosen.push(i);
        let deps = packages[i]
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for dep in deps.iter().filter_map(toml::Value::as_str) {
            if let Some(j) = packages.iter().position(|p| matches(p, dep)) {
                queue.push(j);
            }
        }
    }
    if chosen.is_empty() {
        return Ok("absent".to_string());
    }
    let mut lines: Vec<String> = chosen
        .iter()
        .map(|&i| packages[i].to_string().replace('\n', " "))
        .collect();
    lines.sort();
    Ok(lines.join("\n"))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Editor backups and swap files are not inputs.
        if name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".rs.bk") {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&path, files)?;
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_content() {
        let dir = std::env::temp_dir().join(format!("wow-artifacts-fp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("c/src")).unwrap();
        fs::write(dir.join("c/Cargo.toml"), "x").unwrap();
        fs::write(dir.join("c/README.md"), "docs").unwrap();
        fs::write(dir.join("c/src/main.rs"), "fn main() {}").unwrap();
        let a = digest_inputs(&dir, &["c"]).unwrap();
        fs::write(dir.join("c/README.md"), "other docs").unwrap();
        assert_eq!(a, digest_inputs(&dir, &["c"]).unwrap());
        fs::write(dir.join("c/src/main.rs"), "fn main() { }").unwrap();
        let b = digest_inputs(&dir, &["c"]).unwrap();
        assert_ne!(a, b);
        fs::write(dir.join("c/src/lib.rs"), "").unwrap();
        assert_ne!(b, digest_inputs(&dir, &["c"]).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
