//! The machine and software a run measured on, for `meta.json`.

use std::process::Command;

use wow_records::meta::Machine;

pub fn machine() -> Machine {
    use sysinfo::System;
    let Ok(mut sys) = System::new() else {
        return Machine {
            arch: std::env::consts::ARCH.to_string(),
            ..Machine::default()
        };
    };
    sys.refresh_memory();
    sys.refresh_cpu_all();
    let cpu_model = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Machine {
        hostname: System::host_name().unwrap_or_default(),
        cpu_model,
        logical_cores: sys.cpus().len(),
        physical_cores: System::physical_core_count().ok(),
        memory_bytes: sys.total_memory(),
        os: System::long_os_version().unwrap_or_default(),
        kernel: System::kernel_version().unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
    }
}

/// The commit of the checkout wowbench runs from, with `-dirty` when it has changes.
pub fn git_commit() -> Option<String> {
    let root = wow_artifacts::repo_root();
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(&root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `rustc --version` of the toolchain the workloads build with.
pub fn toolchain() -> Option<String> {
    let out = Command::new("rustc")
        .arg("--version")
        .current_dir(wow_artifacts::repo_root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
