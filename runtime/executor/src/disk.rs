//! The artifact cache's folder on disk. What it holds is loaded as native code, so it is used
//! only when it is private — owned by this user, not a symlink, no group or other permissions —
//! and each artifact carries a BLAKE3 checksum of its bytes, checked when it is read into memory.
//! Artifacts are written to a temporary file created exclusively (no link followed), synced,
//! then renamed into place; temporaries left by a crash are swept when the cache opens.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

/// The first bytes of every artifact file: a magic, then the checksum of the rest.
const MAGIC: &[u8; 8] = b"WOWCWSM1";
const HEADER: usize = MAGIC.len() + 32;

/// The marker of temporary files in the folder.
const TMP: &str = ".tmp";

/// Creates `root/key` (mode 0700) if needed and checks that both are private folders; nothing
/// is created inside a `root` that is not.
pub fn open_private(root: &Path, key: &str) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let create = |dir: &Path, recursive: bool| -> Result<()> {
        match std::fs::DirBuilder::new()
            .recursive(recursive)
            .mode(0o700)
            .create(dir)
        {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                Err(e).with_context(|| format!("cannot create {}", dir.display()))
            }
            _ => Ok(()),
        }
    };
    if std::fs::symlink_metadata(root).is_err() {
        create(root, true)?;
    }
    check_private(root)?;
    let dir = root.join(key);
    create(&dir, false)?;
    check_private(&dir)?;
    Ok(dir)
}

/// A folder that only this user can reach: not a symlink, owned by the effective user, no
/// group or other permission bits.
fn check_private(dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .with_context(|| format!("cannot inspect {}", dir.display()))?;
    if meta.file_type().is_symlink() {
        bail!("{} is a symbolic link", dir.display());
    }
    if !meta.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    // SAFETY: geteuid has no failure mode and touches no memory.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        bail!(
            "{} is owned by user {}, not by this user ({me})",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "{} is open to its group or others (mode {:o}; it must be 0700)",
            dir.display(),
            meta.mode() & 0o777
        );
    }
    Ok(())
}

/// Removes the temporary files left in `dir` (by a crashed or concurrent writer: a concurrent
/// writer then only fails to cache its artifact). Returns how many.
pub fn sweep_temporaries(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().contains(TMP) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => n += 1,
                // Its writer renamed it into place, or another executor swept it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot remove {}", entry.path().display()));
                }
            }
        }
    }
    Ok(n)
}

/// The size of the file that holds an artifact of `payload` bytes.
pub fn file_size(payload: usize) -> u64 {
    (HEADER + payload) as u64
}

/// Writes `payload` to `path` with its checksum: a new temporary file beside it (created
/// exclusively, no link followed), synced, renamed into place, and the folder synced.
pub fn write_artifact(path: &Path, payload: &[u8]) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "cwasm{TMP}{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(MAGIC)?;
        f.write_all(blake3::hash(payload).as_bytes())?;
        f.write_all(payload)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads the artifact at `path` (no link followed) and returns the whole file, whose payload
/// starts at [`payload`]; refused unless its checksum matches.
pub fn read_artifact(path: &Path) -> Result<Vec<u8>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        bail!("{} is not an artifact of this cache", path.display());
    }
    if blake3::hash(&bytes[HEADER..]).as_bytes() != &bytes[MAGIC.len()..HEADER] {
        bail!("{} does not match its checksum", path.display());
    }
    Ok(bytes)
}

/// The payload of a file [`read_artifact`] returned.
pub fn payload(file: &[u8]) -> &[u8] {
    &file[HEADER..]
}
