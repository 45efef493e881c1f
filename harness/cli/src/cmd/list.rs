//! `wowbench list`: what can be run — experiments, suites, workloads, variants, devices.

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use wowbench::device;
use wowbench::suite::{EXPERIMENTS, SUITES};

#[derive(Args)]
pub struct ListArgs {}

const EXPERIMENT_HELP: [(&str, &str); 6] = [
    (
        "ladder",
        "Wasm start-up ladder in-process, beside Docker's cold-start phases",
    ),
    (
        "cold-start",
        "i concurrent cold starts of i distinct actions, phases recorded (paper E1)",
    ),
    (
        "memory",
        "memory per warm sandbox by both methods; module-size variants (paper E2)",
    ),
    (
        "throughput",
        "closed-loop clients per workload mix, paper and fair configs (paper E3-E5)",
    ),
    (
        "capacity",
        "in-flight sleeps sustained within the memory budget at p99 <= 1.2x",
    ),
    (
        "realistic",
        "Azure-shaped mix of 62 actions through a capped invoker (paper E6)",
    ),
];

const VARIANTS: [(&str, &str, &str); 11] = [
    ("wasm", "compile", "every init compiles its (distinct) code"),
    (
        "wasm",
        "precompiled",
        "the compiled artifact is cached; inits are cache hits",
    ),
    (
        "wasm",
        "distinct",
        "memory: each sandbox holds its own compiled module",
    ),
    (
        "wasm",
        "shared",
        "memory: sandboxes share one compiled module",
    ),
    (
        "wasm",
        "module-release-lto / -release / -debug",
        "memory: hash built three ways",
    ),
    (
        "wasm",
        "in-process",
        "ladder: steps timed inside the harness",
    ),
    (
        "docker",
        "create-start",
        "create + start a container per cold start (default)",
    ),
    (
        "docker",
        "prestarted",
        "a container started before the clock (stem cell)",
    ),
    ("docker", "host-net", "host networking, no docker-proxy"),
    (
        "docker",
        "actionloop",
        "one long-lived action process per container",
    ),
    (
        "client",
        "loopback",
        "the load generator against a trivial endpoint",
    ),
];

pub fn run(_args: ListArgs) -> anyhow::Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["experiment", "what it measures"]);
    for id in EXPERIMENTS {
        let help = EXPERIMENT_HELP
            .iter()
            .find(|(e, _)| *e == id)
            .map_or("", |(_, h)| *h);
        t.add_row([id, help]);
    }
    println!("{t}");
    println!("suites: {}", SUITES.join(", "));
    println!("workloads: {}", wow_artifacts::WORKLOADS.join(", "));

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["backend", "variant", "meaning"]);
    for (b, v, m) in VARIANTS {
        t.add_row([b, v, m]);
    }
    println!("{t}");

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "device",
        "CPU quota (cores)",
        "memory budget",
        "description",
    ]);
    for p in device::profiles() {
        t.add_row([
            p.name.clone(),
            p.cpus.map_or("unlimited".into(), |c| format!("{c}")),
            p.memory_bytes
                .map_or("unlimited".into(), |m| format!("{} MiB", m >> 20)),
            p.description.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}
