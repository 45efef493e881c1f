//! `wowbench build`: make sure every artifact exists and is up to date.

use std::path::PathBuf;

use clap::Args;
use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use wow_artifacts::{BuildOptions, ensure_built};

#[derive(Args)]
pub struct BuildArgs {
    /// Repository root (default: WOWBENCH_ROOT, else the checkout wowbench was built from).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Artifacts directory (default: <root>/target/artifacts).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Native target for the workloads and the proxy; repeat for several
    /// (default: the host's musl target, e.g. x86_64-unknown-linux-musl).
    #[arg(long = "native-target", value_name = "TRIPLE")]
    pub native_targets: Vec<String>,
    /// No progress display; print only the table.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: BuildArgs) -> anyhow::Result<()> {
    let mut opts = match args.root {
        Some(root) => BuildOptions::new(root),
        None => BuildOptions::for_repo(),
    };
    if let Some(out) = args.out {
        opts.out = out;
    }
    if !args.native_targets.is_empty() {
        opts.native_targets = args.native_targets;
    }
    opts.progress = !args.quiet;

    let artifacts = ensure_built(&opts)?;

    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["name", "target", "variant", "size (KiB)", "sha256"]);
    for e in &artifacts.entries {
        table.add_row([
            e.name.clone(),
            e.target.clone(),
            e.variant.clone(),
            format!("{:.1}", e.bytes as f64 / 1024.0),
            e.sha256.chars().take(12).collect(),
        ]);
    }
    if let Some(col) = table.column_mut(3) {
        col.set_cell_alignment(CellAlignment::Right);
    }
    println!("{table}");
    let state = if artifacts.rebuilt {
        "built"
    } else {
        "up to date, nothing rebuilt"
    };
    println!(
        "{} artifacts in {} ({state}; inputs {})",
        artifacts.entries.len(),
        artifacts.dir.display(),
        &artifacts.fingerprint[..artifacts.fingerprint.len().min(12)]
    );
    Ok(())
}
