//! `/init`'s work: the request's code becomes `<action dir>/exec`, an executable file. Written
//! under a temporary name, made executable and closed before it is renamed into place, so that
//! no process ever runs a half-written file or one still open for writing (ETXTBSY).
//!
//! No fsync: the file lives exactly as long as the container, and `dockerskeleton` does not
//! flush either; a disk flush would only add device latency to Docker's measured init time.

use std::borrow::Cow;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use wow_protocol::{Failure, InitRequest};

/// Standard base64, padded or not (clients differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An installed action: its executable, working directory and environment from `/init`.
#[derive(Debug, Clone)]
pub struct Installed {
    pub exec: PathBuf,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

pub async fn install(req: &InitRequest, dir: &Path) -> Result<Installed, Failure> {
    let code = req.code()?;
    let bytes = if req.value.binary {
        decode(code)?
    } else {
        code.as_bytes().to_vec()
    };
    check_runnable(&bytes)?;
    let target = dir.to_path_buf();
    let exec = tokio::task::spawn_blocking(move || write_exec(&target, &bytes))
        .await
        .map_err(|e| Failure::Internal(format!("The install task failed: {e}.")))?
        .map_err(|e| {
            Failure::InitFailed(format!(
                "Could not write the action into {}: {e}.",
                dir.display()
            ))
        })?;
    Ok(Installed {
        exec,
        dir: dir.to_path_buf(),
        env: req.env_vars(),
    })
}

fn decode(code: &str) -> Result<Vec<u8>, Failure> {
    // Some encoders wrap lines; whitespace is never part of base64.
    let compact: Cow<str> = if code.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(code.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(code)
    };
    BASE64
        .decode(compact.as_bytes())
        .map_err(|e| Failure::BadRequest(format!("The action code is not valid base64: {e}.")))
}

/// Rejects at init what could only fail at every run.
fn check_runnable(bytes: &[u8]) -> Result<(), Failure> {
    if bytes.starts_with(b"\x7fELF") || bytes.starts_with(b"#!") {
        Ok(())
    } else if bytes.starts_with(b"PK\x03\x04") {
        Err(Failure::InitFailed(
            "Zip archives are not supported: send the executable itself.".to_string(),
        ))
    } else {
        Err(Failure::InitFailed(
            "The code is neither an ELF executable nor a script starting with '#!'.".to_string(),
        ))
    }
}

fn write_exec(dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join("exec");
    let tmp = dir.join(".exec.tmp");
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        file.write_all(bytes)?;
        // The umask may have narrowed the mode given at creation.
        file.set_permissions(Permissions::from_mode(0o755))?;
    } // Closed here, before anything can exec it.
    fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_lenient_about_padding_and_wrapping() {
        assert_eq!(decode("IyEv\nYmlu").unwrap(), b"#!/bin");
        assert_eq!(decode("YQ").unwrap(), b"a");
        assert_eq!(decode("YQ==").unwrap(), b"a");
        assert_eq!(decode("!!").unwrap_err().status(), 400);
    }

    #[test]
    fn only_executables_and_scripts_are_accepted() {
        assert!(check_runnable(b"\x7fELF\x02").is_ok());
        assert!(check_runnable(b"#!/bin/sh\n").is_ok());
        assert_eq!(check_runnable(b"PK\x03\x04").unwrap_err().status(), 502);
        assert_eq!(check_runnable(b"echo hi").unwrap_err().status(), 502);
    }
}
