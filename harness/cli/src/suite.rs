//! Experiment definitions: built-in suites (`quick`, `paper`, `paper-edge`, `full`, `ci`) and user
//! suites from TOML.
//!
//! Every field has a default equal to the paper's setting (or, where the paper had none, the
//! reasoned choice documented beside it), so a TOML suite only states what it changes:
//!
//! ```toml
//! name = "my-suite"
//! [[experiment]]
//! kind = "cold-start"
//! levels = [1, 2, 4]
//! repetitions = 5
//! ```

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wow_records::{Config, Experiment, Series};

/// Built-in suites.
pub const SUITES: [&str; 5] = ["quick", "paper", "paper-edge", "full", "ci"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Suite {
    pub name: String,
    #[serde(rename = "experiment")]
    pub experiments: Vec<ExperimentSpec>,
    /// The Wasm engines to run, in pass order (`None`: every engine of the build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engines: Option<Vec<wow_records::Engine>>,
    /// More repetitions of `throughput`, `capacity` and `realistic`, one pass at a time, until
    /// their headlines are this precise (`None`: each experiment's own repetitions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
}

/// When an experiment has been repeated enough: every headline it carries has a 95% interval
/// no wider than ± `half_width` of its value, or it has run `max_repetitions` times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precision {
    pub half_width: f64,
    pub max_repetitions: u32,
}

/// The `paper` and `full` suites' precision: ± 10%, at most 4 repetitions (the time a
/// reference run may take on a 2-core machine bounds it).
pub const PAPER_PRECISION: Precision = Precision {
    half_width: 0.10,
    max_repetitions: 4,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExperimentSpec {
    ColdStart(ColdStartSpec),
    Memory(MemorySpec),
    Throughput(ThroughputSpec),
    Capacity(CapacitySpec),
    Realistic(RealisticSpec),
    Ladder(LadderSpec),
    Soak(SoakSpec),
}

impl ExperimentSpec {
    /// The Docker series the experiment lists (empty where it has no list).
    pub fn docker_series(&self) -> &[Series] {
        match self {
            ExperimentSpec::ColdStart(s) => &s.docker_variants,
            ExperimentSpec::Memory(s) => &s.docker_variants,
            ExperimentSpec::Throughput(s) => &s.docker_variants,
            ExperimentSpec::Realistic(s) => &s.docker_variants,
            _ => &[],
        }
    }

    pub fn id(&self) -> Experiment {
        match self {
            ExperimentSpec::ColdStart(_) => Experiment::ColdStart,
            ExperimentSpec::Memory(_) => Experiment::Memory,
            ExperimentSpec::Throughput(_) => Experiment::Throughput,
            ExperimentSpec::Capacity(_) => Experiment::Capacity,
            ExperimentSpec::Realistic(_) => Experiment::Realistic,
            ExperimentSpec::Ladder(_) => Experiment::Ladder,
            ExperimentSpec::Soak(_) => Experiment::Soak,
        }
    }

    /// The paper-sized definition of an experiment (`soak` is its own command, not a suite
    /// experiment).
    pub fn paper(id: Experiment) -> Result<ExperimentSpec> {
        Ok(match id {
            Experiment::ColdStart => ExperimentSpec::ColdStart(ColdStartSpec::default()),
            Experiment::Memory => ExperimentSpec::Memory(MemorySpec::default()),
            Experiment::Throughput => ExperimentSpec::Throughput(ThroughputSpec::default()),
            Experiment::Capacity => ExperimentSpec::Capacity(CapacitySpec::default()),
            Experiment::Realistic => ExperimentSpec::Realistic(RealisticSpec::default()),
            Experiment::Ladder => ExperimentSpec::Ladder(LadderSpec::default()),
            Experiment::Soak => bail!(
                "soak is a command of its own (wowbench soak); experiments: {}",
                Experiment::SUITE.map(|e| e.as_str()).join(", ")
            ),
        })
    }

    /// The `full` suite's definition: the paper's, with throughput also at 1, 64 and 128
    /// clients (a board's long run; the reference runs use `paper`).
    pub fn full(id: Experiment) -> Result<ExperimentSpec> {
        Ok(match ExperimentSpec::paper(id)? {
            ExperimentSpec::Throughput(s) => ExperimentSpec::Throughput(ThroughputSpec {
                clients: vec![1, 2, 4, 8, 16, 32, 64, 128],
                ..s
            }),
            other => other,
        })
    }

    /// The small definition used by `--quick` and the `quick` suite: every code path, few
    /// samples.
    pub fn quick(id: Experiment) -> Result<ExperimentSpec> {
        Ok(match ExperimentSpec::paper(id)? {
            ExperimentSpec::ColdStart(s) => ExperimentSpec::ColdStart(ColdStartSpec {
                levels: vec![1, 2, 4],
                repetitions: 2,
                warm_runs: 200,
                ..s
            }),
            ExperimentSpec::Memory(s) => ExperimentSpec::Memory(MemorySpec {
                sandboxes: vec![1, 5],
                repetitions: 1,
                module_size_sandboxes: 5,
                ..s
            }),
            // Shorter CPU-bound requests, so that the interpreters' passes stay short too.
            ExperimentSpec::Throughput(s) => ExperimentSpec::Throughput(ThroughputSpec {
                clients: vec![2, 8],
                repetitions: 1,
                warmup_s: 0.5,
                window_s: 2.0,
                window_max_s: Some(6.0),
                hash_target_ms: 20.0,
                ..s
            }),
            ExperimentSpec::Capacity(s) => ExperimentSpec::Capacity(CapacitySpec {
                ceiling: 50,
                resolution: 0.5,
                repetitions: 1,
                window_s: 2.0,
                ..s
            }),
            ExperimentSpec::Realistic(s) => ExperimentSpec::Realistic(RealisticSpec {
                requests: 120,
                repetitions: 1,
                hash_target_ms: 20.0,
                ..s
            }),
            ExperimentSpec::Ladder(s) => ExperimentSpec::Ladder(LadderSpec {
                repetitions: 10,
                docker_samples: 3,
                http_cold_starts: 50,
                http_warm_runs: 200,
                ..s
            }),
            soak @ ExperimentSpec::Soak(_) => soak,
        })
    }

    /// The experiment's repetitions (1 for `soak`, which has none).
    pub fn repetitions(&self) -> u32 {
        match self {
            ExperimentSpec::ColdStart(s) => s.repetitions,
            ExperimentSpec::Memory(s) => s.repetitions,
            ExperimentSpec::Throughput(s) => s.repetitions,
            ExperimentSpec::Capacity(s) => s.repetitions,
            ExperimentSpec::Realistic(s) => s.repetitions,
            ExperimentSpec::Ladder(s) => s.repetitions,
            ExperimentSpec::Soak(_) => 1,
        }
    }

    /// How many blocks a paired run splits the experiment into: one per repetition, at most
    /// [`PAIRED_BLOCKS_MAX`], unless the spec names fewer.
    ///
    /// [`PAIRED_BLOCKS_MAX`]: crate::runner::PAIRED_BLOCKS_MAX
    pub fn paired_blocks(&self) -> u32 {
        let k = match self {
            ExperimentSpec::ColdStart(s) => s.paired_blocks.unwrap_or(s.repetitions),
            ExperimentSpec::Throughput(s) => s.paired_blocks.unwrap_or(s.repetitions),
            other => other.repetitions(),
        };
        k.min(self.repetitions())
            .clamp(1, crate::runner::PAIRED_BLOCKS_MAX)
    }

    /// Block `b` of `k` of a paired run: its share of the repetitions (and of the warm runs),
    /// so that the `k` blocks together measure what the whole experiment would.
    pub fn block(&self, b: u32, k: u32) -> ExperimentSpec {
        let share = |n: u32| {
            let n = n as u64;
            ((n * (b as u64 + 1)) / k as u64 - (n * b as u64) / k as u64) as u32
        };
        let mut out = self.clone();
        out.set_repetitions(share(self.repetitions()));
        match &mut out {
            ExperimentSpec::ColdStart(s) => s.warm_runs = share(s.warm_runs),
            ExperimentSpec::Ladder(s) => {
                s.http_cold_starts = share(s.http_cold_starts);
                s.http_warm_runs = share(s.http_warm_runs);
            }
            _ => {}
        }
        out
    }

    /// Applies the command line's `--repetitions`.
    pub fn set_repetitions(&mut self, n: u32) {
        match self {
            ExperimentSpec::ColdStart(s) => s.repetitions = n,
            ExperimentSpec::Memory(s) => s.repetitions = n,
            ExperimentSpec::Throughput(s) => s.repetitions = n,
            ExperimentSpec::Capacity(s) => s.repetitions = n,
            ExperimentSpec::Realistic(s) => s.repetitions = n,
            ExperimentSpec::Ladder(s) => s.repetitions = n,
            ExperimentSpec::Soak(_) => {}
        }
    }
}

fn default_wasm_cold() -> Vec<Series> {
    vec![Series::Compile, Series::Precompiled]
}
fn default_docker_cold() -> Vec<Series> {
    vec![
        Series::CreateStart,
        Series::Prestarted,
        Series::HostNet,
        Series::Skeleton,
        Series::DockerWasm,
    ]
}

/// `cold-start`: i concurrent cold starts of i distinct actions with the same code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColdStartSpec {
    /// Concurrent cold starts per level (the paper: 2..10).
    pub levels: Vec<u32>,
    pub repetitions: u32,
    pub workload: String,
    /// Parameters of the first run.
    pub params: Value,
    pub wasm_variants: Vec<Series>,
    pub docker_variants: Vec<Series>,
    /// Sequential `/run`s on one warm sandbox of `warm_workload` per series (0: none).
    pub warm_runs: u32,
    pub warm_workload: String,
    /// Blocks of a paired run (default: one per repetition, at most 100). Fewer blocks of
    /// several repetitions each save what every block pays once: its backends' start and its
    /// warm-run sandbox — a container's start and removal on Docker.
    pub paired_blocks: Option<u32>,
}

impl Default for ColdStartSpec {
    fn default() -> Self {
        ColdStartSpec {
            levels: (1..=10).collect(),
            repetitions: 10,
            workload: "hash".into(),
            params: json!({"iterations": 1000}),
            warm_runs: 1000,
            warm_workload: "noop".into(),
            wasm_variants: default_wasm_cold(),
            docker_variants: default_docker_cold(),
            paired_blocks: None,
        }
    }
}

/// `memory`: N warm sandboxes, memory per sandbox by both methods; module-size variants.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySpec {
    pub sandboxes: Vec<u32>,
    pub repetitions: u32,
    pub workload: String,
    pub params: Value,
    pub wasm_variants: Vec<Series>,
    pub docker_variants: Vec<Series>,
    /// Docker levels whose estimated cost exceeds this are skipped (never pushed into swap);
    /// an edge device's own budget applies when it is smaller.
    pub docker_budget_mb: u64,
    /// Measure `hash` built release+LTO, release and debug (the paper's table) at
    /// `module_size_sandboxes`.
    pub module_sizes: bool,
    pub module_size_sandboxes: u32,
    /// Pause before sampling, so freed pages settle.
    pub settle_ms: u64,
    /// Also the system method: the machine's memory in use (`MemTotal − MemAvailable`, page
    /// cache dropped before each reading) with N sandboxes minus with none, ÷ N. Needs root;
    /// skipped with a note without it.
    pub system_method: bool,
}

impl Default for MemorySpec {
    fn default() -> Self {
        MemorySpec {
            sandboxes: vec![1, 5, 10, 20, 50, 100],
            // Three, so that every memory headline has an interval.
            repetitions: 3,
            workload: "hash".into(),
            params: json!({"iterations": 1000}),
            wasm_variants: vec![Series::Distinct, Series::Shared],
            docker_variants: vec![Series::CreateStart, Series::Skeleton, Series::DockerWasm],
            docker_budget_mb: 4096,
            module_sizes: true,
            module_size_sandboxes: 10,
            settle_ms: 500,
            system_method: true,
        }
    }
}

/// `throughput`: closed-loop clients per workload mix, through the shared invoker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThroughputSpec {
    pub clients: Vec<u32>,
    /// `cpu` (hash), `io` (sleep), `mixed` (each request one or the other, p = 0.5).
    pub mixes: Vec<String>,
    /// `paper` (≤ 4 sandboxes, limit 10 mixed / 3 otherwise, Docker proxy one run at a time)
    /// and/or `fair` (Docker's proxy gets the same concurrency as the Wasm sandbox).
    pub configs: Vec<Config>,
    /// Wasm's series: `precompiled`, or none (a Docker-only experiment).
    pub wasm_variants: Vec<Series>,
    /// Docker's series.
    pub docker_variants: Vec<Series>,
    /// Least warm-up; it lasts until every client has had an answer.
    pub warmup_s: f64,
    /// Least window.
    pub window_s: f64,
    /// Most window: the window lasts until the level is steady (see `loadgen::Window`) and a
    /// level not steady by then is recorded as such. None: a fixed window of `window_s`.
    pub window_max_s: Option<f64>,
    /// Completions per client a steady window needs (on average).
    pub steady_per_client: f64,
    /// Largest change of the throughput across a steady window, relative to its mean, when
    /// the change stands out of the noise (see `loadgen::Window`).
    pub steady_drift: f64,
    pub repetitions: u32,
    /// Calibrated `hash` duration natively on this machine.
    pub hash_target_ms: f64,
    pub sleep_ms: u64,
    pub max_sandboxes: u32,
    /// Open-loop arrival rates (requests/s, Poisson, latency from the intended send time);
    /// empty = closed loop only.
    pub open_loop_rps: Vec<f64>,
    pub seed: u64,
    /// Blocks of a paired run (default: one per repetition, at most 100). A block of several
    /// repetitions runs the sides' windows A B B A …, saving each block's backend starts.
    pub paired_blocks: Option<u32>,
}

impl Default for ThroughputSpec {
    fn default() -> Self {
        ThroughputSpec {
            // Within the paper's range (its closed loops ran 2 to 30 clients), sized so that
            // `paper` with three repetitions stays near an hour; `full` has 1 to 128.
            clients: vec![2, 4, 8, 16],
            mixes: vec!["cpu".into(), "io".into(), "mixed".into()],
            configs: vec![Config::Paper, Config::Fair],
            wasm_variants: vec![Series::Precompiled],
            docker_variants: vec![Series::CreateStart, Series::Skeleton],
            warmup_s: 1.0,
            window_s: 3.0,
            window_max_s: Some(30.0),
            steady_per_client: crate::loadgen::STEADY_PER_CLIENT,
            steady_drift: crate::loadgen::STEADY_MAX_DRIFT,
            repetitions: 3,
            hash_target_ms: 100.0,
            sleep_ms: 300,
            max_sandboxes: 4,
            open_loop_rps: vec![],
            seed: 42,
            paired_blocks: None,
        }
    }
}

/// `capacity`: concurrent in-flight sleeps sustained within the memory budget at p99 ≤ 1.2×.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CapacitySpec {
    /// The first load tried, in-flight invocations; each next step doubles it until one breaks.
    pub start: u32,
    /// The most in-flight invocations tried: holding there ends the search ("held at the
    /// ceiling"). The harness sizes the executor's pool and queue and its own connections for it.
    pub ceiling: u32,
    /// Bisection ends when the step that broke is within this share above the one that held.
    pub resolution: f64,
    pub repetitions: u32,
    pub sleep_ms: u64,
    /// p99 latency bound as a multiple of the sleep.
    pub p99_factor: f64,
    /// Memory budget when the device has none, MiB.
    pub memory_budget_mb: u64,
    /// Runs per sandbox at once (both backends).
    pub per_sandbox_concurrency: u32,
    pub window_s: f64,
}

impl Default for CapacitySpec {
    fn default() -> Self {
        CapacitySpec {
            start: 10,
            ceiling: 20_000,
            resolution: 0.10,
            repetitions: 3,
            sleep_ms: 300,
            p99_factor: 1.2,
            memory_budget_mb: 2048,
            per_sandbox_concurrency: 10,
            window_s: 5.0,
        }
    }
}

/// `realistic`: the paper's Azure-shaped workload through the shared invoker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealisticSpec {
    pub actions: u32,
    pub hot_fraction: f64,
    pub requests: u32,
    pub clients: u32,
    pub repetitions: u32,
    /// Invoker memory budget and per-action reservation: cap = budget / action (the paper:
    /// 1024 / 256 = 4).
    pub memory_budget_mb: u64,
    pub action_memory_mb: u64,
    pub keep_alive_s: f64,
    pub per_sandbox_concurrency: u32,
    pub hash_target_ms: f64,
    pub sleep_ms: u64,
    pub wasm_variants: Vec<Series>,
    pub docker_variants: Vec<Series>,
    pub seed: u64,
}

impl Default for RealisticSpec {
    fn default() -> Self {
        RealisticSpec {
            actions: 62,
            hot_fraction: 0.9,
            // 800 a pass, three passes and more: more requests in all than the single pass of
            // 2,000 that `paper` once had, and passes short enough for `paper` to finish within
            // about 90 minutes (at 2,000, one pass of Docker's `create-start` took 4.8 min here,
            // and the paper's Python proxy is slower).
            requests: 800,
            clients: 4,
            repetitions: 3,
            memory_budget_mb: 1024,
            action_memory_mb: 256,
            keep_alive_s: 600.0,
            per_sandbox_concurrency: 1,
            hash_target_ms: 100.0,
            sleep_ms: 300,
            wasm_variants: vec![Series::Precompiled],
            docker_variants: vec![Series::CreateStart, Series::Skeleton],
            seed: 42,
        }
    }
}

/// `ladder`: the Wasm start-up ladder in-process, beside Docker's cold-start phases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LadderSpec {
    pub repetitions: u32,
    pub workload: String,
    /// Docker cold starts to measure beside the ladder.
    pub docker_samples: u32,
    /// Precompiled cold starts over HTTP, each broken down into the executor's steps.
    pub http_cold_starts: u32,
    /// The workload of those cold starts (the cold-start experiment's).
    pub http_workload: String,
    /// Warm `/run`s of `workload` over HTTP, each broken down the same way.
    pub http_warm_runs: u32,
}

impl Default for LadderSpec {
    fn default() -> Self {
        LadderSpec {
            repetitions: 50,
            workload: "noop".into(),
            docker_samples: 10,
            http_cold_starts: 200,
            http_workload: "hash".into(),
            http_warm_runs: 1000,
        }
    }
}

/// `soak`: steady mixed load for a long time, sampling for leaks (`wowbench soak`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoakSpec {
    pub minutes: f64,
    /// Seconds between readings.
    pub sample_s: f64,
    /// Readings before this are warm-up; growth is measured from the first one after it.
    pub warmup_s: f64,
    /// Closed-loop clients per backend.
    pub clients: u32,
}

impl Default for SoakSpec {
    fn default() -> Self {
        SoakSpec {
            minutes: 10.0,
            sample_s: 10.0,
            warmup_s: 60.0,
            clients: 4,
        }
    }
}

impl Suite {
    /// A built-in suite by name.
    pub fn builtin(name: &str) -> Result<Suite> {
        let experiments = match name {
            "paper" => Experiment::SUITE
                .into_iter()
                .map(ExperimentSpec::paper)
                .collect::<Result<_>>()?,
            "full" => Experiment::SUITE
                .into_iter()
                .map(ExperimentSpec::full)
                .collect::<Result<_>>()?,
            "quick" => Experiment::SUITE
                .into_iter()
                .map(ExperimentSpec::quick)
                .collect::<Result<_>>()?,
            "paper-edge" => paper_edge_suite(),
            "ci" => ci_suite(),
            other => bail!("unknown suite {other:?}; known: {}", SUITES.join(", ")),
        };
        Ok(Suite {
            name: name.to_string(),
            experiments,
            // The CI gate's time budget holds the reference engine only, and so does a
            // reference run (about 90 minutes at most per device); `full` has every engine.
            engines: matches!(name, "ci" | "paper" | "paper-edge")
                .then(|| vec![wow_records::Engine::REFERENCE]),
            precision: matches!(name, "paper" | "paper-edge" | "full").then_some(PAPER_PRECISION),
        })
    }

    pub fn from_toml(path: &Path) -> Result<Suite> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read suite {}", path.display()))?;
        let suite: Suite = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid suite", path.display()))?;
        if suite.experiments.is_empty() {
            bail!("{} defines no [[experiment]]", path.display());
        }
        Ok(suite)
    }
}

/// The `paper-edge` suite: what the paper measured on its Raspberry Pi, sized to finish within
/// about 90 minutes under the `pi3` profile. There Docker's engine runs inside the device's
/// limits and takes about 5 s to start a container, so `paper` would take many hours (its cold
/// starts alone are some 550 container starts per Docker series, its realistic workload some
/// 1,100 per series and pass). Cold starts at 1–6 concurrent (the paper's Pi: 2–6), mixed throughput at
/// 2, 6 and 10 clients (the paper's Pi: 2–10), memory up to 20 sandboxes and capacity, the load
/// experiments three times and more for intervals, as in `paper`. Docker's series are the
/// headlines' own: `create-start`, and for cold start its best modes `prestarted` and
/// `host-net`; the paper's Python baseline and `docker-wasm` are in `paper` and `full`.
/// `realistic` (a server experiment in the paper) and the ladder are left to `paper` and `full`.
fn paper_edge_suite() -> Vec<ExperimentSpec> {
    let docker = vec![Series::CreateStart];
    vec![
        ExperimentSpec::ColdStart(ColdStartSpec {
            levels: vec![1, 2, 4, 6],
            repetitions: 3,
            warm_runs: 200,
            docker_variants: vec![Series::CreateStart, Series::Prestarted, Series::HostNet],
            ..ColdStartSpec::default()
        }),
        ExperimentSpec::Memory(MemorySpec {
            sandboxes: vec![1, 10, 20],
            docker_variants: docker.clone(),
            module_sizes: false,
            ..MemorySpec::default()
        }),
        ExperimentSpec::Throughput(ThroughputSpec {
            clients: vec![2, 6, 10],
            mixes: vec!["mixed".into()],
            docker_variants: docker,
            ..ThroughputSpec::default()
        }),
        ExperimentSpec::Capacity(CapacitySpec::default()),
    ]
}

/// The regression gate's suite: short and fixed, sized so that a 20% change of its headline
/// groups shows in a paired run (`run --baseline-executor`: a block per repetition) within about
/// three minutes for both sides on a 2-core machine. Most of the noise here is between blocks
/// (each block starts its own executor and meets the machine at another moment), so the Wasm
/// side, whose samples are cheap, gets a hundred blocks; Docker's cost a container each and
/// get fewer, its cold start at 1 concurrent only. Block counts below 100 are even: a paired
/// block puts the baseline first in even blocks and this build first in odd ones, and an odd
/// count lets one side go first once more.
fn ci_suite() -> Vec<ExperimentSpec> {
    let docker = vec![Series::CreateStart];
    let throughput = ThroughputSpec {
        clients: vec![4],
        configs: vec![Config::Fair],
        warmup_s: 0.5,
        // Fixed windows: the gate compares like with like, window for window.
        window_s: 1.0,
        window_max_s: None,
        hash_target_ms: 20.0,
        ..ThroughputSpec::default()
    };
    vec![
        // Six repetitions a block (a paired run has at most 100 blocks): a block's median of
        // six cold starts is steadier than one, and a cold start costs ~1 ms beside the
        // block's executor starts.
        ExperimentSpec::ColdStart(ColdStartSpec {
            levels: vec![1, 4],
            repetitions: 600,
            workload: "noop".into(),
            params: json!({}),
            wasm_variants: vec![Series::Precompiled],
            docker_variants: vec![],
            // The warm `/run` latency, a headline group of the gate.
            warm_runs: 2000,
            warm_workload: "noop".into(),
            paired_blocks: None,
        }),
        ExperimentSpec::ColdStart(ColdStartSpec {
            levels: vec![1],
            repetitions: 60,
            workload: "noop".into(),
            params: json!({}),
            wasm_variants: vec![],
            docker_variants: docker.clone(),
            warm_runs: 300,
            warm_workload: "noop".into(),
            // Two cold starts a block: a block's warm-run container and its removal cost as
            // much as a cold start.
            paired_blocks: Some(30),
        }),
        ExperimentSpec::Memory(MemorySpec {
            sandboxes: vec![10],
            repetitions: 20,
            module_sizes: false,
            wasm_variants: vec![Series::Shared],
            docker_variants: vec![],
            settle_ms: 200,
            // Dropping the machine's page cache between a gate's blocks would disturb the
            // other groups; the gate judges the per-process methods.
            system_method: false,
            ..MemorySpec::default()
        }),
        ExperimentSpec::Memory(MemorySpec {
            sandboxes: vec![5],
            repetitions: 8,
            module_sizes: false,
            wasm_variants: vec![],
            docker_variants: docker.clone(),
            system_method: false,
            ..MemorySpec::default()
        }),
        // `hash`, CPU-bound (a headline), twenty short windows of Wasm; `sleep` (the
        // executor's concurrency), steady, four windows. A paired run's sides take turns
        // window by window.
        ExperimentSpec::Throughput(ThroughputSpec {
            mixes: vec!["cpu".into()],
            wasm_variants: vec![Series::Precompiled],
            docker_variants: vec![],
            repetitions: 20,
            warmup_s: 0.25,
            window_s: 0.75,
            ..throughput.clone()
        }),
        ExperimentSpec::Throughput(ThroughputSpec {
            mixes: vec!["io".into()],
            wasm_variants: vec![Series::Precompiled],
            docker_variants: vec![],
            repetitions: 4,
            ..throughput.clone()
        }),
        // Docker's `hash`: eight blocks (each starts four containers a side) of two windows a
        // side, taken in turn A B B A.
        ExperimentSpec::Throughput(ThroughputSpec {
            mixes: vec!["cpu".into()],
            wasm_variants: vec![],
            docker_variants: docker,
            window_s: 1.0,
            repetitions: 16,
            paired_blocks: Some(8),
            ..throughput
        }),
        // The HTTP breakdown stays out: the cold-start experiment above already gates the
        // cold start and the warm run, and every step would be one more group to judge.
        ExperimentSpec::Ladder(LadderSpec {
            repetitions: 20,
            workload: "noop".into(),
            docker_samples: 0,
            http_cold_starts: 0,
            http_warm_runs: 0,
            ..LadderSpec::default()
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_suites_cover_every_experiment() {
        for name in ["paper", "full", "quick"] {
            let s = Suite::builtin(name).unwrap();
            let ids: Vec<Experiment> = s.experiments.iter().map(|e| e.id()).collect();
            assert_eq!(ids, Experiment::SUITE.to_vec(), "{name}");
        }
        assert!(Suite::builtin("nope").is_err());
    }

    /// `paper-edge` holds the paper's Pi experiments at its Pi's ranges, with the Docker series
    /// the headlines compare against, and leaves out what costs a slow device hours.
    #[test]
    fn paper_edge_covers_the_papers_pi() {
        let s = Suite::builtin("paper-edge").unwrap();
        let ids: Vec<Experiment> = s.experiments.iter().map(|e| e.id()).collect();
        assert_eq!(
            ids,
            [
                Experiment::ColdStart,
                Experiment::Memory,
                Experiment::Throughput,
                Experiment::Capacity
            ]
        );
        for e in &s.experiments {
            match e {
                ExperimentSpec::ColdStart(c) => {
                    assert!(c.levels.contains(&2) && c.levels.contains(&6), "{c:?}");
                    for best in [Series::CreateStart, Series::Prestarted, Series::HostNet] {
                        assert!(c.docker_variants.contains(&best), "{best}");
                    }
                }
                ExperimentSpec::Throughput(t) => {
                    assert_eq!(t.mixes, ["mixed"]);
                    assert_eq!((t.clients.first(), t.clients.last()), (Some(&2), Some(&10)));
                    assert_eq!(t.configs, [Config::Paper, Config::Fair]);
                }
                _ => {}
            }
        }
        assert_eq!(s.engines, Some(vec![wow_records::Engine::REFERENCE]));
    }

    /// The reference suites repeat every headline's experiment at least three times, so every
    /// headline can have an interval, and ask for more up to a cap; `quick` does not.
    #[test]
    fn paper_and_full_repeat_for_intervals() {
        for name in ["paper", "paper-edge", "full"] {
            let s = Suite::builtin(name).unwrap();
            assert_eq!(s.precision, Some(PAPER_PRECISION), "{name}");
            for e in &s.experiments {
                if matches!(
                    e.id(),
                    Experiment::ColdStart
                        | Experiment::Memory
                        | Experiment::Throughput
                        | Experiment::Capacity
                        | Experiment::Realistic
                ) {
                    assert!(e.repetitions() >= 3, "{name} {}", e.id());
                }
            }
        }
        let full = Suite::builtin("full").unwrap();
        assert_eq!(full.engines, None);
        let levels = |s: &Suite| match s
            .experiments
            .iter()
            .find(|e| e.id() == Experiment::Throughput)
        {
            Some(ExperimentSpec::Throughput(t)) => t.clients.clone(),
            _ => vec![],
        };
        assert!(levels(&full).contains(&128));
        let quick = Suite::builtin("quick").unwrap();
        assert_eq!(quick.precision, None);
    }

    #[test]
    fn the_ci_suites_block_counts_balance_the_sides_order() {
        for spec in ci_suite() {
            let k = spec.paired_blocks();
            assert!(
                k == crate::runner::PAIRED_BLOCKS_MAX || k % 2 == 0,
                "{}: {k} blocks let one side go first more often",
                spec.id()
            );
        }
    }

    #[test]
    fn blocks_share_the_repetitions_and_warm_runs_out() {
        let spec = ci_suite().remove(0);
        let k = 7;
        let blocks: Vec<ExperimentSpec> = (0..k).map(|b| spec.block(b, k)).collect();
        let reps: u32 = blocks.iter().map(|b| b.repetitions()).sum();
        assert_eq!(reps, spec.repetitions());
        let warm = |s: &ExperimentSpec| match s {
            ExperimentSpec::ColdStart(c) => c.warm_runs,
            _ => unreachable!(),
        };
        assert_eq!(blocks.iter().map(warm).sum::<u32>(), warm(&spec));
        let sizes: Vec<u32> = blocks.iter().map(|b| b.repetitions()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn toml_suite_states_only_what_it_changes() {
        let dir = std::env::temp_dir().join(format!("wowsuite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.toml");
        std::fs::write(
            &p,
            r#"
name = "mine"
[[experiment]]
kind = "cold-start"
levels = [1, 3]
[[experiment]]
kind = "throughput"
mixes = ["io"]
window_s = 2.5
"#,
        )
        .unwrap();
        let s = Suite::from_toml(&p).unwrap();
        assert_eq!(s.name, "mine");
        match &s.experiments[0] {
            ExperimentSpec::ColdStart(c) => {
                assert_eq!(c.levels, vec![1, 3]);
                assert_eq!(c.repetitions, 10, "default kept");
            }
            other => panic!("{other:?}"),
        }
        match &s.experiments[1] {
            ExperimentSpec::Throughput(t) => assert_eq!((t.window_s, t.mixes.len()), (2.5, 1)),
            other => panic!("{other:?}"),
        }
        std::fs::write(
            &p,
            "name = \"x\"\n[[experiment]]\nkind = \"cold-start\"\nlevls = [1]\n",
        )
        .unwrap();
        let err = format!("{:#}", Suite::from_toml(&p).unwrap_err());
        assert!(
            err.contains("levls"),
            "a typo is an error, not ignored: {err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
