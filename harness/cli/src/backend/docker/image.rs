//! The container images, built by the engine's classic builder from in-memory tar contexts. No
//! registry is involved (`scratch` is never pulled), so it works on an engine with no images at
//! all. Each tag is derived from the SHA-256 of what goes into the image, so a changed input gets
//! a new image and an unchanged one is never rebuilt.
//!
//! - `wowbench-proxy`: `FROM scratch` plus the static action proxy (this file);
//! - `wowbench-skeleton`: the paper's Python action proxy on Debian ([`super::skeleton`]);
//! - `wowbench-docker-wasm`: the executor in a container ([`super::docker_wasm`]).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, ListImagesOptionsBuilder};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::engine::{self, API_TIMEOUT, BUILD_TIMEOUT};

/// Repository of the proxy image; the tag is the first 16 hex digits of the proxy's SHA-256.
pub const IMAGE_REPO: &str = "wowbench-proxy";
/// Label on every container and image the harness makes.
pub const LABEL: &str = "wowbench";
/// Label holding the SHA-256 of the image's inputs (for the proxy image: of the proxy binary).
pub const LABEL_PROXY_SHA: &str = "wowbench.proxy-sha256";

/// An image a backend runs.
#[derive(Debug, Clone)]
pub struct ProxyImage {
    /// `<repo>:<16 hex>`.
    pub tag: String,
    /// The engine's image id.
    pub id: String,
    /// Whether this call built it (false: the tag existed).
    pub built: bool,
    /// How long the check (and build, if any) took.
    pub elapsed: Duration,
    /// Full SHA-256 of the image's inputs (the proxy binary for the proxy image).
    pub proxy_sha256: String,
}

/// Serialises builds within this process, so concurrent callers do not build the same tag twice.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Makes sure `wowbench-proxy:<digest of proxy>` exists; builds it if not.
pub async fn ensure_proxy_image(docker: &Docker, proxy: &Path) -> Result<ProxyImage> {
    ensure_image(docker, proxy, IMAGE_REPO, false).await
}

/// [`ensure_proxy_image`] with another repository name; `no_cache` builds every layer afresh
/// (tests use both to build an image of their own without touching the shared one).
pub async fn ensure_image(
    docker: &Docker,
    proxy: &Path,
    repo: &str,
    no_cache: bool,
) -> Result<ProxyImage> {
    let binary = std::fs::read(proxy)
        .with_context(|| format!("cannot read the action proxy {}", proxy.display()))?;
    let sha = hex(&Sha256::digest(&binary));
    let dockerfile = format!(
        "FROM scratch\n\
         COPY wow-proxy /wow-proxy\n\
         LABEL {LABEL}=1 {LABEL_PROXY_SHA}={sha}\n\
         ENTRYPOINT [\"/wow-proxy\"]\n"
    );
    ensure_built(docker, repo, &sha, no_cache, async {
        build_context(&[
            ("Dockerfile", dockerfile.as_bytes(), 0o644),
            ("wow-proxy", &binary, 0o755),
        ])
    })
    .await
}

/// Makes sure `<repo>:<first 16 hex digits of sha>` exists; builds it from the tar context
/// `context` makes (awaited only when the tag is missing) if not.
pub async fn ensure_built(
    docker: &Docker,
    repo: &str,
    sha: &str,
    no_cache: bool,
    context: impl Future<Output = Result<Vec<u8>>>,
) -> Result<ProxyImage> {
    let t = Instant::now();
    let tag = format!("{repo}:{}", &sha[..16]);
    let _serial = BUILD_LOCK.lock().await;

    if let Some(id) = image_id(docker, &tag).await? {
        return Ok(ProxyImage {
            tag,
            id,
            built: false,
            elapsed: t.elapsed(),
            proxy_sha256: sha.to_string(),
        });
    }

    let context = context.await?;
    let labels: HashMap<&str, &str> = HashMap::from([(LABEL, "1"), (LABEL_PROXY_SHA, sha)]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&tag)
        .labels(&labels)
        .rm(true)
        .forcerm(true)
        .nocache(no_cache)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    let build = async {
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| build_error(&tag, &e.to_string(), &log))?;
            if let Some(s) = &info.stream {
                log.push_str(s);
            }
            if let Some(detail) = &info.error_detail {
                let msg = detail.message.clone().unwrap_or_default();
                return Err(build_error(&tag, &msg, &log));
            }
        }
        Ok(())
    };
    match tokio::time::timeout(BUILD_TIMEOUT, build).await {
        Ok(r) => r?,
        Err(_) => bail!(
            "building the image {tag}: no result within {} s",
            BUILD_TIMEOUT.as_secs()
        ),
    }
    let id = image_id(docker, &tag).await?.ok_or_else(|| {
        anyhow!("the engine reported no error building {tag} but has no such image")
    })?;
    tracing::info!(%tag, %id, elapsed = ?t.elapsed(), "built an image");
    prune_older(docker, repo, &id).await;
    Ok(ProxyImage {
        tag,
        id,
        built: true,
        elapsed: t.elapsed(),
        proxy_sha256: sha.to_string(),
    })
}

/// Removes the other images of `repo` made over an hour ago (earlier inputs: an executor image
/// of a debug build is about 1 GB, and each rebuild of the binary makes a new one). Younger ones
/// stay, as another build's run may be about to start containers from them; so does an image a
/// container uses. Best effort.
async fn prune_older(docker: &Docker, repo: &str, keep: &str) {
    let Ok(images) = list_images(docker, "reference", repo).await else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for img in images
        .into_iter()
        .filter(|i| i.id != keep && i.created < now - 3600)
    {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default().build();
        if let Err(e) = engine::call(
            format!("remove image {}", img.id),
            API_TIMEOUT,
            docker.remove_image(&img.id, Some(opts), None),
        )
        .await
        {
            tracing::debug!("kept an older {repo} image: {e:#}");
        }
    }
}

/// The images matching one filter of the engine's image list (`reference`, `label`, …).
async fn list_images(
    docker: &Docker,
    filter: &str,
    value: &str,
) -> Result<Vec<bollard::models::ImageSummary>> {
    let filters = HashMap::from([(filter, vec![value.to_string()])]);
    engine::call(
        "list images",
        API_TIMEOUT,
        docker.list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        )),
    )
    .await
}

/// The id of the image tagged `tag`, or `None` if there is none.
pub async fn image_id(docker: &Docker, tag: &str) -> Result<Option<String>> {
    match engine::call(
        format!("inspect image {tag}"),
        API_TIMEOUT,
        docker.inspect_image(tag),
    )
    .await
    {
        Ok(img) => Ok(Some(img.id.unwrap_or_default())),
        Err(e) if engine::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes every image labelled `wowbench=1` (forced: every tag of it; its untagged parent layers
/// go with it). Returns how many were removed.
pub async fn sweep_images(docker: &Docker) -> Result<usize> {
    let images = list_images(docker, "label", &format!("{LABEL}=1")).await?;
    let mut removed = 0;
    let mut failed = Vec::new();
    for img in images {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .force(true)
            .build();
        match engine::call(
            format!("remove image {}", img.id),
            API_TIMEOUT,
            docker.remove_image(&img.id, Some(opts), None),
        )
        .await
        {
            Ok(_) => removed += 1,
            Err(e) if engine::is_not_found(&e) => {}
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} image(s) not removed: {}",
            failed.len(),
            failed.join("; ")
        );
    }
    Ok(removed)
}

/// A tar context of entries `(name, bytes, mode)`, owned by root, time 0: regular files, and
/// folders where the name ends in `/`.
pub fn build_context(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for &(name, bytes, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(if name.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        tar.append_data(&mut header, name, bytes)
            .context("cannot write the build context")?;
    }
    tar.into_inner().context("cannot write the build context")
}

fn build_error(tag: &str, msg: &str, log: &str) -> anyhow::Error {
    let tail: Vec<&str> = log.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    anyhow!(
        "building the image {tag} failed: {}{}",
        msg.trim(),
        if tail.is_empty() {
            String::new()
        } else {
            format!("\nbuild output (last lines):\n{}", tail.join("\n"))
        }
    )
}

/// The standard output of a host tool the image builds need (`apt-get`, `dpkg-deb`, `ldd`), or
/// an error naming the command and the last line it wrote to standard error.
pub fn tool_output(command: &mut std::process::Command) -> Result<Vec<u8>> {
    let name = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .with_context(|| format!("cannot run {name}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let args: Vec<String> = command
            .get_args()
            .take(3)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        bail!("{name} {} … failed: {}", args.join(" "), last.trim());
    }
    Ok(out.stdout)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_holds_dockerfile_and_executable_proxy() {
        let ctx = build_context(&[
            ("Dockerfile", b"FROM scratch\n", 0o644),
            ("wow-proxy", b"\x7fELF...", 0o755),
        ])
        .unwrap();
        let mut archive = tar::Archive::new(&ctx[..]);
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            seen.push((
                e.path().unwrap().display().to_string(),
                e.header().mode().unwrap(),
            ));
        }
        assert_eq!(
            seen,
            vec![
                ("Dockerfile".to_string(), 0o644),
                ("wow-proxy".to_string(), 0o755)
            ]
        );
    }
}
