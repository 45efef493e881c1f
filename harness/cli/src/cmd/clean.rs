//! `wowbench clean`: remove every Docker container (and, with `--images`, image) labelled
//! `wowbench=1`, whichever run made it — the way out after a crashed or killed run.

use anyhow::Result;
use wowbench::backend::docker::{self, LABEL};

#[derive(clap::Args)]
pub struct CleanArgs {
    /// Also remove the proxy images (they are rebuilt in about a second when next needed).
    #[arg(long)]
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
        let containers = docker::sweep_all(&engine).await?;
        println!(
            "removed {containers} container(s) labelled {LABEL}=1 from {}",
            info.host
        );
        if args.images {
            let images = docker::sweep_images(&engine).await?;
            println!("removed {images} image(s) labelled {LABEL}=1");
        }
        Ok(())
    })
}
