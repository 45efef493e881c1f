//! Running cargo and rustup: a clean environment (the artifacts depend on the repository's
//! configuration alone), cargo's output shown on failure, and the Rust targets the steps need.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::ProgressBar;

/// Environment variables a parent cargo (or the user's shell) may set that would change what
/// these builds produce; the artifacts are built from the repository's configuration alone.
fn clean_env(cmd: &mut Command) {
    const EXACT: [&str; 8] = [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_INCREMENTAL",
    ];
    const PREFIXES: [&str; 4] = ["CARGO_PROFILE_", "CARGO_BUILD_", "CARGO_TARGET_", "__CARGO"];
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if EXACT.contains(&k) || PREFIXES.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}

pub(crate) fn run_cargo(
    cwd: &Path,
    args: &[String],
    env: &[(String, String)],
    bar: Option<&ProgressBar>,
) -> Result<()> {
    let mut cmd = Command::new("cargo");
    clean_env(&mut cmd);
    cmd.current_dir(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let command_line = format!("(cd {} && cargo {})", cwd.display(), args.join(" "));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run cargo; is it on PATH? {command_line}"))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if let Some(bar) = bar {
            let msg = line.trim();
            if !msg.is_empty() {
                bar.set_message(msg.to_string());
            }
        }
        lines.push(line);
    }
    let status = child.wait().context("waiting for cargo")?;
    if status.success() {
        return Ok(());
    }
    if let Some(bar) = bar {
        bar.suspend(|| {
            eprintln!("{command_line} failed ({status}):");
            for l in &lines {
                eprintln!("{l}");
            }
        });
    }
    let tail: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .skip(lines.len().saturating_sub(40))
        .collect();
    Err(anyhow!(
        "{command_line} failed ({status}); last lines of its output:\n{}",
        tail.join("\n")
    ))
}

/// Makes sure the rustup toolchain of the repository has `targets`, adding missing ones.
pub(crate) fn ensure_rustup_targets(root: &Path, targets: &[&str], progress: bool) -> Result<()> {
    let mut list = Command::new("rustup");
    clean_env(&mut list);
    let listed = list
        .current_dir(root)
        .args(["target", "list", "--installed"])
        .stdin(Stdio::null())
        .output();
    let installed = match listed {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check_sysroot_targets(root, targets);
        }
        Err(e) => return Err(e).context("cannot run rustup"),
    };
    let installed: Vec<&str> = installed.lines().map(str::trim).collect();
    for target in targets {
        if installed.contains(target) {
            continue;
        }
        if progress {
            eprintln!("installing the Rust target {target} (rustup target add {target})");
        }
        let mut add = Command::new("rustup");
        clean_env(&mut add);
        let o = add
            .current_dir(root)
            .args(["target", "add", target])
            .stdin(Stdio::null())
            .output()
            .context("cannot run rustup")?;
        if !o.status.success() {
            bail!(
                "the Rust target {target} is not installed and `rustup target add {target}` failed: {}\n\
                 install it by hand (rustup target add {target}) and try again",
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Without rustup: the standard library of every target must be in the sysroot.
fn check_sysroot_targets(root: &Path, targets: &[&str]) -> Result<()> {
    let o = Command::new("rustc")
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
        .context("neither rustup nor rustc could be run")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    for target in targets {
        if !sysroot.join("lib").join("rustlib").join(target).is_dir() {
            bail!(
                "the Rust target {target} is not installed in {} and rustup is not available to add it",
                sysroot.display()
            );
        }
    }
    Ok(())
}
