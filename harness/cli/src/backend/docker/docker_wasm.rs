//! The `docker-wasm` series' image: what many edge deployments run instead of WOW — the Wasm
//! executor in a container per action. It is the **same executor binary** the Wasm series run
//! (wasmtime), in a `FROM scratch` image with the shared libraries it links (copied from this
//! host, as `ldd` lists them), so the series differs from the `precompiled` Wasm series by the
//! container alone. Its disk cache holds every workload's compiled artifact, made by that binary
//! on this host before the image is built, so a container's `/init` loads precompiled code as in
//! the `precompiled` series. The tag is the SHA-256 of the binary, the libraries and the modules.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use bollard::Docker;
use sha2::{Digest, Sha256};

use super::image::{self, ProxyImage};

/// Repository of the docker-wasm image.
pub const DOCKER_WASM_REPO: &str = "wowbench-docker-wasm";
/// Where the executor's artifact cache lives inside the image.
const CACHE: &str = "/cache";

/// Makes sure the image exists for `modules` (name, Wasm bytes): built only when its tag is
/// missing, after the executor compiled every module into the cache that goes into it.
pub async fn ensure_docker_wasm_image(
    docker: &Docker,
    modules: &[(String, Vec<u8>)],
) -> Result<ProxyImage> {
    let (program, argv) = crate::backend::wasm::executor_command()?;
    let files = tokio::task::spawn_blocking({
        let program = program.clone();
        move || runtime_files(&program)
    })
    .await
    .context("reading the executor's files panicked")??;
    let dockerfile = dockerfile(&program, &argv);
    let mut sha = Sha256::new();
    for (path, bytes) in &files {
        sha.update(path.as_os_str().as_encoded_bytes());
        sha.update(bytes);
    }
    for (name, wasm) in modules {
        sha.update(name.as_bytes());
        sha.update(wasm);
    }
    sha.update(dockerfile.as_bytes());
    let sha = image::hex(&sha.finalize());
    image::ensure_built(docker, DOCKER_WASM_REPO, &sha, false, async {
        let cache = precompile(&program, &argv, modules).await?;
        let mut entries: Vec<(String, &[u8], u32)> = Vec::new();
        entries.push(("Dockerfile".into(), dockerfile.as_bytes(), 0o644));
        // Executable, libraries included: the kernel opens the dynamic loader for execution.
        for (path, bytes) in &files {
            entries.push((format!("root{}", in_image(path, &program)), bytes, 0o755));
        }
        // The executor uses a cache folder only when it is private (mode 0700, its own).
        let mut folders: Vec<String> = vec![format!("root{CACHE}/")];
        for (rel, _) in &cache {
            let mut dir = Path::new(rel).parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                folders.push(format!("root{CACHE}/{}/", d.display()));
                dir = d.parent();
            }
        }
        folders.sort();
        folders.dedup();
        for f in &folders {
            entries.push((f.clone(), &[], 0o700));
        }
        for (rel, bytes) in &cache {
            entries.push((format!("root{CACHE}/{rel}"), bytes, 0o600));
        }
        let borrowed: Vec<(&str, &[u8], u32)> = entries
            .iter()
            .map(|(n, b, m)| (n.as_str(), *b, *m))
            .collect();
        image::build_context(&borrowed)
    })
    .await
}

/// The executor's path inside the image: `/<file name>`; libraries keep their host paths.
fn in_image(path: &Path, program: &Path) -> String {
    if path == program {
        format!(
            "/{}",
            program.file_name().unwrap_or_default().to_string_lossy()
        )
    } else {
        path.display().to_string()
    }
}

fn dockerfile(program: &Path, argv: &[String]) -> String {
    let mut entry = vec![format!("\"{}\"", in_image(program, program))];
    entry.extend(argv.iter().map(|a| format!("\"{a}\"")));
    format!(
        "FROM scratch\n\
         COPY root/ /\n\
         ENV WOW_RUNTIME_CACHE_DIR={CACHE} WOW_RUNTIME_LISTEN=0.0.0.0:{port} WOW_RUNTIME_ENGINE=wasmtime\n\
         ENTRYPOINT [{entry}]\n",
        port = wow_protocol::PROXY_PORT,
        entry = entry.join(", ")
    )
}

/// The executor and every shared library it loads (the dynamic loader included), read from
/// this host.
fn runtime_files(program: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let listed = image::tool_output(Command::new("ldd").arg(program))?;
    let mut paths = vec![program.to_path_buf()];
    for line in String::from_utf8_lossy(&listed).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            paths.push(PathBuf::from(p));
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let bytes =
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok((p, bytes))
        })
        .collect()
}

/// Compiles every module with the executor on this host into a fresh cache folder and returns
/// its files (relative path, bytes).
async fn precompile(
    program: &Path,
    argv: &[String],
    modules: &[(String, Vec<u8>)],
) -> Result<Vec<(String, Vec<u8>)>> {
    let work = std::env::temp_dir().join(format!("wowbench-docker-wasm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let mut command = tokio::process::Command::new(program);
    command.args(argv);
    let exec = crate::backend::wasm::ExecutorProcess::start_command(
        command,
        &["--engine".to_string(), "wasmtime".to_string()],
        &work,
        &[],
        Duration::from_secs(60),
    )
    .await
    .context("starting the executor to precompile the docker-wasm modules")?;
    let http = reqwest::Client::new();
    let result = async {
        for (i, (name, wasm)) in modules.iter().enumerate() {
            let code = base64::engine::general_purpose::STANDARD.encode(wasm);
            let body = wow_protocol::InitRequest::binary(name, code, Default::default());
            let r = http
                .post(format!("{}/pre{i}/init", exec.url))
                .json(&body)
                .timeout(Duration::from_secs(120))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!(
                    "precompiling {name} failed: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
            }
        }
        Ok(())
    }
    .await;
    exec.stop().await;
    result?;
    let root = work.join("cache");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&root)
                    .expect("under root")
                    .display()
                    .to_string();
                files.push((rel, std::fs::read(&p)?));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    if files.is_empty() {
        bail!(
            "the executor wrote no compiled artifact into {}",
            root.display()
        );
    }
    files.sort();
    Ok(files)
}
