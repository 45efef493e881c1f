//! `wowbench clean`: remove what a crashed or killed run left behind — its Docker containers, its
//! dedicated Docker engine (with its bridge and folders) and its device cgroups. `wowbench clean <run-id>` removes one run's; `--all` removes every
//! container labelled `wowbench=1` and every `wowbench-*` device cgroup, whichever run made them
//! (and, with `--images`, the proxy images), so it must not be used while another run is going.

use anyhow::Result;
use std::path::PathBuf;

use wowbench::backend::docker::{self, LABEL};
use wowbench::device;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["run_id", "all"]))]
pub struct CleanArgs {
    /// The run whose leftovers to remove (its folder name under results/).
    pub run_id: Option<String>,
    /// Every run's leftovers (do not use while another run is going).
    #[arg(long)]
    pub all: bool,
    /// Also remove the proxy images (they are rebuilt in about a second when next needed).
    #[arg(long, requires = "all")]
    pub images: bool,
    /// Docker engine address (default: DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, value_name = "HOST")]
    pub docker_host: Option<String>,
}

pub fn run(args: CleanArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (engine, info) = docker::connect_engine(args.docker_host.as_deref()).await?;
        match &args.run_id {
            Some(run_id) => {
                let containers = docker::sweep_run(&engine, run_id).await?;
                println!(
                    "removed {containers} container(s) of run {run_id} from {}",
                    info.host
                );
            }
            None => {
                let containers = docker::sweep_all(&engine).await?;
                println!(
                    "removed {containers} container(s) labelled {LABEL}=1 from {}",
                    info.host
                );
            }
        }
        let engines: Vec<_> = docker::dedicated::on_this_machine()
            .into_iter()
            .filter(|e| match &args.run_id {
                Some(id) => &e.run_id == id,
                None => !wowbench::procfs::exists(e.owner_pid),
            })
            .collect();
        for e in &engines {
            let cgroups = leftover_cgroups(Some(&e.run_id));
            e.teardown(|| {
                for dir in &cgroups {
                    if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                        device::kill_all_in(name);
                    }
                }
            });
            println!("stopped the dedicated Docker engine of run {}", e.run_id);
        }
        let cgroups = leftover_cgroups(args.run_id.as_deref());
        for dir in &cgroups {
            device::remove_tree(dir);
        }
        let left = cgroups.iter().filter(|d| d.exists()).count();
        println!(
            "removed {} device cgroup(s){}",
            cgroups.len() - left,
            if left > 0 {
                format!("; {left} still hold processes")
            } else {
                String::new()
            }
        );
        if args.images {
            let images = docker::sweep_images(&engine).await?;
            println!("removed {images} image(s) labelled {LABEL}=1");
        }
        Ok(())
    })
}

/// The device cgroups of one run (in every hierarchy), or of every run.
fn leftover_cgroups(run_id: Option<&str>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in device::hierarchies() {
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = match run_id {
                Some(id) => name.starts_with("wowbench-") && name.ends_with(&format!("-{id}")),
                None => name.starts_with("wowbench-"),
            };
            if ours && e.path().is_dir() {
                out.push(e.path());
            }
        }
    }
    out
}
