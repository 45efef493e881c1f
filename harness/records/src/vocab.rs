//! The shared vocabulary of the records: experiment ids, backends, series, configs, ladder steps,
//! phases, metrics and units, as typed values.
//!
//! `records.csv` stores them as strings (scripts and CI read them, so the spellings are stable);
//! code names them through these types, so a typo is a compile error and a new series is added
//! in one place. Each type converts to and from its spelling (`as_str`, `FromStr`, serde) and
//! compares with a `str` directly (`row.variant == Series::Precompiled`).

use std::fmt;
use std::str::FromStr;

/// Defines a closed vocabulary: an enum whose every value has one stable spelling.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $var),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The spelling used in the records.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<$name, UnknownName> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| UnknownName {
                    kind: stringify!($name),
                    name: s.to_string(),
                    known: $name::ALL.iter().map(|v| v.as_str()).collect(),
                })
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A name that is not in a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub known: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}; known: {}",
            self.kind.to_lowercase(),
            self.name,
            self.known.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

vocabulary! {
    /// What was measured: one experiment per paper question (and the soak test).
    Experiment {
        Ladder = "ladder",
        ColdStart = "cold-start",
        Memory = "memory",
        Throughput = "throughput",
        Capacity = "capacity",
        Realistic = "realistic",
        Soak = "soak",
    }
}

impl Experiment {
    /// The experiments of the built-in suites, in the order they run and are reported.
    pub const SUITE: [Experiment; 6] = [
        Experiment::Ladder,
        Experiment::ColdStart,
        Experiment::Memory,
        Experiment::Throughput,
        Experiment::Capacity,
        Experiment::Realistic,
    ];

    /// One line on what the experiment measures (and its counterpart in the paper).
    pub const fn describe(self) -> &'static str {
        match self {
            Experiment::Ladder => {
                "Wasm start-up ladder in-process, beside Docker's cold-start phases"
            }
            Experiment::ColdStart => {
                "i concurrent cold starts of i distinct actions, phases recorded (paper E1)"
            }
            Experiment::Memory => {
                "memory per warm sandbox by both methods; module-size variants (paper E2)"
            }
            Experiment::Throughput => {
                "closed-loop clients per workload mix, paper and fair configs (paper E3-E5)"
            }
            Experiment::Capacity => {
                "in-flight sleeps sustained within the memory budget at p99 <= 1.2x"
            }
            Experiment::Realistic => {
                "Azure-shaped mix of 62 actions through a capped invoker (paper E6)"
            }
            Experiment::Soak => "steady mixed load with leak readings over a long window",
        }
    }
}

vocabulary! {
    /// The sandbox technology a row measures.
    Backend {
        Wasm = "wasm",
        Docker = "docker",
        /// The load generator itself, measured against a trivial server (its ceiling).
        Client = "client",
        /// Both backends at once (the soak test's readings).
        Both = "both",
    }
}

vocabulary! {
    /// The Wasm engine an executor runs (the `engine` column of Wasm rows; one per process).
    Engine {
        /// The reference engine: Cranelift JIT, precompiled `.cwasm`, pooling allocator.
        Wasmtime = "wasmtime",
        /// Cranelift JIT, precompiled artifacts, WASI through wasmer-wasix.
        Wasmer = "wasmer",
        /// WAMR's interpreter (the paper ran WAMR ahead-of-time, which cannot be built here).
        Wamr = "wamr",
        /// A pure-Rust interpreter: the smallest footprint.
        Wasmi = "wasmi",
    }
}

impl Engine {
    /// The engine of every Wasm row written before engines were a dimension.
    pub const REFERENCE: Engine = Engine::Wasmtime;

    /// Whether the engine runs the SIMD proposal. The workloads are built with `simd128`; an
    /// engine without it runs the same source built without (the `scalar` artifacts).
    pub fn runs_simd(self) -> bool {
        self != Engine::Wamr
    }

    /// One line for `wowbench list` and the report.
    pub fn describe(self) -> &'static str {
        match self {
            Engine::Wasmtime => {
                "wasmtime: Cranelift JIT, precompiled artifacts, pooling allocator (the reference)"
            }
            Engine::Wasmer => "wasmer: Cranelift JIT, precompiled artifacts, WASI by wasmer-wasix",
            Engine::Wamr => {
                "WAMR: interpreter (the paper ran it ahead-of-time, which cannot be built here)"
            }
            Engine::Wasmi => "wasmi: pure-Rust interpreter, deadline by fuel",
        }
    }
}

vocabulary! {
    /// A named series (the `variant` column): one way of running a backend.
    Series {
        /// Wasm: every init compiles its (distinct) code.
        Compile = "compile",
        /// Wasm: the compiled artifact is cached; inits are cache hits.
        Precompiled = "precompiled",
        /// Wasm memory: each sandbox holds its own compiled module.
        Distinct = "distinct",
        /// Wasm memory: sandboxes share one compiled module.
        Shared = "shared",
        /// Wasm ladder: steps timed inside the harness process.
        InProcess = "in-process",
        /// Docker: create + start a container per cold start (the default).
        CreateStart = "create-start",
        /// Docker: a container started before the clock (stem cell).
        Prestarted = "prestarted",
        /// Docker: host networking, no docker-proxy.
        HostNet = "host-net",
        /// Docker: one long-lived action process per container.
        Actionloop = "actionloop",
        /// Docker: the paper's baseline, an OpenWhisk `dockerskeleton`-style Python action proxy
        /// (Flask, gevent) on a Debian root file system, spawning the action per run.
        Skeleton = "skeleton",
        /// Docker: the Wasm executor (`wow-runtime`, wasmtime) in a container per action, its
        /// module loaded precompiled.
        DockerWasm = "docker-wasm",
        /// Soak: both backends under one steady mixed load.
        Steady = "steady",
        /// The load generator's ceiling over loopback.
        Loopback = "loopback",
    }
}

impl Series {
    /// The backend the series runs on.
    pub const fn backend(self) -> Backend {
        match self {
            Series::Compile
            | Series::Precompiled
            | Series::Distinct
            | Series::Shared
            | Series::InProcess => Backend::Wasm,
            Series::CreateStart
            | Series::Prestarted
            | Series::HostNet
            | Series::Actionloop
            | Series::Skeleton
            | Series::DockerWasm => Backend::Docker,
            Series::Steady => Backend::Both,
            Series::Loopback => Backend::Client,
        }
    }

    /// What the series means, for `wowbench list` and the report.
    pub const fn describe(self) -> &'static str {
        match self {
            Series::Compile => "every init compiles its (distinct) code",
            Series::Precompiled => "the compiled artifact is cached; inits are cache hits",
            Series::Distinct => "memory: each sandbox holds its own compiled module",
            Series::Shared => "memory: sandboxes share one compiled module",
            Series::InProcess => "ladder: steps timed inside the harness",
            Series::CreateStart => "create + start a container per cold start (default)",
            Series::Prestarted => "a container started before the clock (stem cell)",
            Series::HostNet => "host networking, no docker-proxy",
            Series::Actionloop => "one long-lived action process per container",
            Series::Skeleton => {
                "the paper's baseline: a Python (Flask) action proxy on Debian, one spawn per run"
            }
            Series::DockerWasm => "the Wasm executor in a container per action, precompiled",
            Series::Steady => "soak: both backends under one steady mixed load",
            Series::Loopback => "the load generator against a trivial endpoint",
        }
    }
}

/// The prefix of the memory experiment's module-size series: `module-<build>`.
pub const MODULE_PREFIX: &str = "module-";

vocabulary! {
    /// How the module of a module-size series was built (`hash` three ways).
    ModuleBuild {
        ReleaseLto = "release-lto",
        Release = "release",
        Debug = "debug",
    }
}

impl ModuleBuild {
    /// The series name of this build in the memory experiment, e.g. `module-release-lto`.
    pub fn series(self) -> String {
        format!("{MODULE_PREFIX}{}", self.as_str())
    }

    /// The build of a module-size series name, `None` for any other series.
    pub fn of_series(variant: &str) -> Option<ModuleBuild> {
        variant.strip_prefix(MODULE_PREFIX)?.parse().ok()
    }
}

/// Whether a series name is one of the memory experiment's module-size series.
pub fn is_module_series(variant: &str) -> bool {
    variant.starts_with(MODULE_PREFIX)
}

vocabulary! {
    /// The sandbox policy in force (the `config` column).
    Config {
        /// The paper's caps and concurrency limits (Docker proxy: one run at a time).
        Paper = "paper",
        /// The same concurrency for both backends.
        Fair = "fair",
        Default = "default",
    }
}

vocabulary! {
    /// The rungs of the Wasm start-up ladder, cheapest last. Records and charts use the names.
    LadderStep {
        Compile = "compile",
        Deserialize = "deserialize",
        DeserializeFile = "deserialize_file",
        InstancePre = "instance_pre",
        InstantiateOndemand = "instantiate_ondemand",
        InstantiatePooled = "instantiate_pooled",
        RunFresh = "run_fresh",
        RunPrewarmed = "run_prewarmed",
    }
}

/// The `phase` column: which part of a sandbox's life, or which method, a row measures.
/// Ladder rows use [`LadderStep`] names as their phase.
pub mod phase {
    /// Docker: create + start + proxy ready; Wasm: 0 by definition.
    pub const PROVISION: &str = "provision";
    pub const INIT: &str = "init";
    pub const FIRST_RUN: &str = "first_run";
    /// provision + init: the paper's waitTime + initTime.
    pub const COLD_START: &str = "cold_start";
    /// provision + init + first run.
    pub const FIRST_RESPONSE: &str = "first_response";
    /// Docker's phases inside provision (ladder): container create, start, proxy ready.
    pub const CREATE: &str = "create";
    pub const START: &str = "start";
    pub const READY: &str = "ready";
    /// Realistic: a request that found no idle sandbox (a cold start) or one that did.
    pub const COLD: &str = "cold";
    /// A run on a ready sandbox, under steady closed-loop load.
    pub const WARM: &str = "warm";
    /// Cold start: one `/run` on a warm sandbox, sequential, nothing else in flight.
    pub const WARM_RUN: &str = "warm_run";
    /// Ladder: a `GET /health` round trip to the executor, the HTTP floor of its requests.
    pub const HEALTH: &str = "health";
    /// Memory, full method: everything the N sandboxes added, divided by N.
    pub const FULL: &str = "full";
    /// Memory, the paper's method: the whole executor (or `docker stats`) divided by N.
    pub const PAPER: &str = "paper";
    /// Memory, the system method: the machine's `MemTotal − MemAvailable` with N sandboxes
    /// minus with none (page cache dropped before each reading), divided by N.
    pub const SYSTEM: &str = "system";
    /// Capacity: one load step.
    pub const STEP: &str = "step";
    /// Capacity: the largest step that held.
    pub const MAX: &str = "max";
    /// Throughput: a fixed arrival rate instead of closed-loop clients.
    pub const OPEN_LOOP: &str = "open-loop";
    /// Throughput: the load generator's own ceiling against a trivial server.
    pub const CEILING: &str = "ceiling";
    /// Realistic: every request of the run.
    pub const ALL: &str = "all";
    /// Soak: one periodic reading.
    pub const SAMPLE: &str = "sample";
    /// Soak: the readings after the load stopped.
    pub const AFTER: &str = "after";
    /// Memory: the size of the `.wasm` module of a module-size series.
    pub const WASM: &str = "wasm";
}

vocabulary! {
    /// The unit of a row's value.
    Unit {
        Micros = "us",
        Seconds = "s",
        Bytes = "bytes",
        Rps = "rps",
        Count = "count",
        Ratio = "ratio",
    }
}

vocabulary! {
    /// What a row's value is (the `metric` column). Each metric has one unit.
    Metric {
        Latency = "latency",
        LatencyP50 = "latency_p50",
        LatencyP90 = "latency_p90",
        LatencyP99 = "latency_p99",
        LatencyMax = "latency_max",
        Throughput = "throughput",
        Errors = "errors",
        Requests = "requests",
        Capacity = "capacity",
        MemoryPerSandbox = "memory_per_sandbox",
        MemoryTotal = "memory_total",
        ModuleSize = "module_size",
        Containers = "containers",
        Sandboxes = "sandboxes",
        ColdStarts = "cold_starts",
        ColdFraction = "cold_fraction",
        ExecutorRss = "executor_rss",
        ExecutorFds = "executor_fds",
        ExecutorThreads = "executor_threads",
        Elapsed = "elapsed",
        /// Requests sent but not yet answered when a load window closed.
        InFlight = "in_flight",
        /// 1 when a load window reached a steady state, 0 when it hit its ceiling first.
        Steady = "steady",
    }
}

impl Metric {
    /// The unit every row of this metric carries.
    pub const fn unit(self) -> Unit {
        match self {
            Metric::Latency
            | Metric::LatencyP50
            | Metric::LatencyP90
            | Metric::LatencyP99
            | Metric::LatencyMax => Unit::Micros,
            Metric::Throughput => Unit::Rps,
            Metric::MemoryPerSandbox
            | Metric::MemoryTotal
            | Metric::ModuleSize
            | Metric::ExecutorRss => Unit::Bytes,
            Metric::Elapsed => Unit::Seconds,
            Metric::ColdFraction => Unit::Ratio,
            Metric::Errors
            | Metric::Requests
            | Metric::Capacity
            | Metric::Containers
            | Metric::Sandboxes
            | Metric::ColdStarts
            | Metric::ExecutorFds
            | Metric::ExecutorThreads
            | Metric::InFlight
            | Metric::Steady => Unit::Count,
        }
    }
}

/// What one row measures: its phase, metric and (implied) unit. Replaces positional
/// `phase, metric, unit` arguments, so the three always agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measure<'a> {
    pub phase: &'a str,
    pub metric: Metric,
}

impl<'a> Measure<'a> {
    pub const fn new(phase: &'a str, metric: Metric) -> Measure<'a> {
        Measure { phase, metric }
    }

    /// A latency of `phase`, in microseconds.
    pub const fn latency(phase: &'a str) -> Measure<'a> {
        Measure::new(phase, Metric::Latency)
    }

    pub const fn unit(self) -> Unit {
        self.metric.unit()
    }

    /// Whether a row (by its phase, metric and unit columns) is of this measure.
    pub fn matches(self, phase: &str, metric: &str, unit: &str) -> bool {
        self.phase == phase && self.metric == *metric && self.unit() == *unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_names_list_the_known_ones() {
        for s in Series::ALL {
            assert_eq!(s.as_str().parse::<Series>().unwrap(), *s);
        }
        let err = "create_start".parse::<Series>().unwrap_err().to_string();
        assert!(
            err.contains("unknown series") && err.contains("create-start"),
            "{err}"
        );
        assert_eq!(
            "cold-start".parse::<Experiment>(),
            Ok(Experiment::ColdStart)
        );
    }

    #[test]
    fn serde_uses_the_record_spelling() {
        let v: Vec<Series> = serde_json::from_str(r#"["host-net","precompiled"]"#).unwrap();
        assert_eq!(v, [Series::HostNet, Series::Precompiled]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"["host-net","precompiled"]"#
        );
        assert!(serde_json::from_str::<Series>(r#""hostnet""#).is_err());
    }

    #[test]
    fn series_belong_to_their_backend() {
        assert_eq!(Series::Precompiled.backend(), Backend::Wasm);
        assert_eq!(Series::HostNet.backend(), Backend::Docker);
        let column: String = "docker".into();
        assert!(column == Backend::Docker);
    }

    #[test]
    fn module_series_names() {
        assert_eq!(ModuleBuild::ReleaseLto.series(), "module-release-lto");
        assert_eq!(
            ModuleBuild::of_series("module-debug"),
            Some(ModuleBuild::Debug)
        );
        assert_eq!(ModuleBuild::of_series("distinct"), None);
        assert!(is_module_series("module-release") && !is_module_series("shared"));
    }

    #[test]
    fn a_measure_implies_its_unit() {
        let m = Measure::latency(phase::COLD_START);
        assert_eq!(m.unit(), Unit::Micros);
        assert!(m.matches("cold_start", "latency", "us"));
        assert!(!m.matches("cold_start", "latency", "ms"));
        assert_eq!(Metric::MemoryPerSandbox.unit().as_str(), "bytes");
    }
}
