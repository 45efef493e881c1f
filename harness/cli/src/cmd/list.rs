//! `wowbench list`: what can be run — experiments, suites, engines, workloads, variants,
//! devices.

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use wow_records::{Experiment, ModuleBuild, Series};
use wowbench::device;
use wowbench::suite::SUITES;

#[derive(Args)]
pub struct ListArgs {}

pub fn run(_args: ListArgs) -> anyhow::Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["experiment", "what it measures"]);
    for id in Experiment::SUITE {
        t.add_row([id.as_str(), id.describe()]);
    }
    println!("{t}");
    println!("suites: {}", SUITES.join(", "));

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["engine", "version", "mode", "tier", "deadline", "about"]);
    for e in wow_runtime::engines::catalogue() {
        t.add_row([
            e.name.as_str().to_string(),
            e.version.to_string(),
            serde_json::to_value(e.mode)?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            e.tier.to_string(),
            e.deadline.to_string(),
            e.name.describe().to_string(),
        ]);
    }
    println!("{t}");
    println!("(each engine is a pass over the Wasm series; choose with `run --engines`)");
    println!("workloads: {}", wow_artifacts::WORKLOADS.join(", "));

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["backend", "variant", "meaning"]);
    for &series in Series::ALL {
        if series == Series::Steady {
            continue; // the soak command's own series
        }
        t.add_row([
            series.backend().as_str(),
            series.as_str(),
            series.describe(),
        ]);
        if series == Series::Shared {
            let builds: Vec<&str> = ModuleBuild::ALL.iter().map(|b| b.as_str()).collect();
            let names = format!(
                "{}{}",
                wow_records::vocab::MODULE_PREFIX,
                builds.join(" / -")
            );
            t.add_row(["wasm", &names, "memory: hash built three ways"]);
        }
    }
    println!("{t}");

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["device", "CPU quota", "memory budget", "description"]);
    for p in device::profiles() {
        t.add_row([
            p.name.clone(),
            p.cpus.map_or("unlimited".into(), |c| {
                format!(
                    "{:.0} µs per {} µs period{}",
                    c * p.cpu_period_us as f64,
                    p.cpu_period_us,
                    if p.paper_slowdown.is_some() {
                        " (period tuned per run)"
                    } else {
                        ""
                    }
                )
            }),
            p.memory_bytes
                .map_or("unlimited".into(), |m| format!("{} MiB", m >> 20)),
            p.description.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}
