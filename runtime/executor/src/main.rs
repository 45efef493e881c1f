//! The `wow-runtime` binary: serves the executor over HTTP.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    wow_runtime::cli::run(wow_runtime::cli::Args::parse())
}
