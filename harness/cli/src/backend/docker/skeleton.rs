//! The paper's Docker baseline image (`skeleton` series): OpenWhisk's `dockerskeleton` rebuilt
//! without a registry. The original is Alpine with Python, Flask and gevent and a Python action
//! proxy; Alpine's packages cannot be fetched here, so the root file system is assembled from
//! **Debian 12's** packages (`python3-minimal`, `python3-flask`, `python3-gevent` and what they
//! depend on, less package management and Perl), and the proxy is this project's
//! `runtime/skeleton/actionproxy.py`.
//!
//! The packages are downloaded once with `apt-get download` into `target/skeleton/debs` and
//! unpacked with `dpkg-deb`, so a second build needs no network. The image tag is the SHA-256 of
//! the packages and the proxy. When Debian's archive cannot be reached and nothing is cached, the
//! error names what is missing and the series is skipped (see `ctx.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use sha2::{Digest, Sha256};

use super::image::{self, ProxyImage};

/// Repository of the skeleton image.
pub const SKELETON_REPO: &str = "wowbench-skeleton";
/// The proxy, as shipped in the image.
pub const ACTION_PROXY: &str = include_str!("../../../../../runtime/skeleton/actionproxy.py");
/// What the image is built from; apt resolves the rest.
const PACKAGES: [&str; 3] = ["python3-minimal", "python3-flask", "python3-gevent"];
/// Packages of that closure a container never runs: package management, Perl, docs.
const LEFT_OUT: [&str; 10] = [
    "dpkg",
    "install-info",
    "tar",
    "perl",
    "perl-base",
    "perl-modules-5.36",
    "libperl5.36",
    "libgdbm-compat4",
    "libjs-jquery",
    "debconf",
];
/// The list of downloaded package files, written last: its presence means the cache is whole.
const LIST: &str = "packages.txt";

/// Where the packages are cached.
pub fn cache_dir() -> PathBuf {
    wow_artifacts::repo_root().join("target/skeleton/debs")
}

/// Makes sure the skeleton image exists: packages from the cache (downloaded first when it is
/// empty), then the image, built only when its tag is missing.
pub async fn ensure_skeleton_image(docker: &Docker) -> Result<ProxyImage> {
    let debs = tokio::task::spawn_blocking(packages)
        .await
        .context("the package download panicked")??;
    let mut sha = Sha256::new();
    for deb in &debs {
        sha.update(deb.file_name().unwrap_or_default().as_encoded_bytes());
        sha.update(std::fs::read(deb).with_context(|| format!("cannot read {}", deb.display()))?);
    }
    sha.update(ACTION_PROXY.as_bytes());
    sha.update(DOCKERFILE.as_bytes());
    let sha = image::hex(&sha.finalize());
    image::ensure_built(docker, SKELETON_REPO, &sha, false, async { context(&debs) }).await
}

/// The Dockerfile: the root file system, the proxy, its byte code compiled once at build time
/// (as a pip-installed image ships it), Python 3 as the entry point.
const DOCKERFILE: &str = "FROM scratch\n\
ADD rootfs.tar /\n\
COPY actionproxy.py /actionProxy/actionproxy.py\n\
RUN [\"/usr/bin/python3\", \"-m\", \"compileall\", \"-q\", \"/usr/lib/python3.11\", \"/usr/lib/python3/dist-packages\", \"/actionProxy\"]\n\
ENV PYTHONUNBUFFERED=1\n\
ENTRYPOINT [\"/usr/bin/python3\", \"/actionProxy/actionproxy.py\"]\n";

/// The package files of the image: from the cache when it is whole, else downloaded into it.
pub fn packages() -> Result<Vec<PathBuf>> {
    cached_packages(&cache_dir())
}

fn cached_packages(dir: &Path) -> Result<Vec<PathBuf>> {
    let list = dir.join(LIST);
    if let Ok(text) = std::fs::read_to_string(&list) {
        let debs: Vec<PathBuf> = text.lines().map(|l| dir.join(l)).collect();
        if !debs.is_empty() && debs.iter().all(|d| d.is_file()) {
            return Ok(debs);
        }
    }
    download(dir).with_context(|| {
        format!(
            "the skeleton image needs Debian's packages {} and their dependencies; none are \
             cached in {}",
            PACKAGES.join(", "),
            dir.display()
        )
    })
}

/// Resolves the closure of [`PACKAGES`] with apt and downloads it into `dir`.
fn download(dir: &Path) -> Result<Vec<PathBuf>> {
    let listed = image::tool_output(
        Command::new("apt-cache")
            .args([
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
            ])
            .args(PACKAGES),
    )?;
    let mut names: Vec<String> = String::from_utf8_lossy(&listed)
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('<') && !l.is_empty())
        .filter(|l| !LEFT_OUT.contains(l))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    image::tool_output(
        Command::new("apt-get")
            .arg("download")
            .args(&names)
            .current_dir(dir),
    )?;
    let mut debs: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".deb"))
        .filter(|n| names.iter().any(|p| n.starts_with(&format!("{p}_"))))
        .collect();
    debs.sort();
    if debs.len() < names.len() {
        bail!(
            "apt-get download left {} of {} packages missing",
            names.len() - debs.len(),
            names.len()
        );
    }
    std::fs::write(dir.join(LIST), debs.join("\n") + "\n")?;
    Ok(debs.into_iter().map(|d| dir.join(d)).collect())
}

/// The build context: the Dockerfile, the proxy, and every package's files in one tar that
/// `ADD` unpacks (links, modes and owners as packaged).
fn context(debs: &[PathBuf]) -> Result<Vec<u8>> {
    let mut rootfs = tar::Builder::new(Vec::new());
    // Python's tempfile needs /tmp; the proxy writes the action under /action.
    for dir in ["tmp", "action"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == "tmp" { 0o1777 } else { 0o755 });
        h.set_size(0);
        h.set_mtime(0);
        rootfs.append_data(&mut h, format!("./{dir}/"), std::io::empty())?;
    }
    for deb in debs {
        let fsys = image::tool_output(Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb))?;
        let mut archive = tar::Archive::new(&fsys[..]);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let mut header = entry.header().clone();
            let path = entry.path()?.into_owned();
            // Documentation and manual pages are never read by a running proxy.
            let p = path.to_string_lossy();
            if p.starts_with("./usr/share/doc/") || p.starts_with("./usr/share/man/") {
                continue;
            }
            match header.entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()?
                        .context("a link without a target")?
                        .into_owned();
                    rootfs.append_link(&mut header, &path, &target)?;
                }
                _ => rootfs.append_data(&mut header, &path, &mut entry)?,
            }
        }
    }
    let rootfs = rootfs.into_inner()?;
    image::build_context(&[
        ("Dockerfile", DOCKERFILE.as_bytes(), 0o644),
        ("actionproxy.py", ACTION_PROXY.as_bytes(), 0o644),
        ("rootfs.tar", &rootfs, 0o644),
    ])
}
