//! `report.md`: the fingerprint, the "paper vs this run" table, one section per experiment with
//! its charts and key numbers, failures and histograms. Everything is derived from the run
//! folder's files and formatted deterministically: regenerating from the same folder gives the
//! same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use wow_records::{Meta, RunStatus, SummaryRow};

use crate::charts::{self, ChartSpec};
use crate::data::{Dataset, SeriesKey, Vary, by_series, measured, meta_device_name};
use crate::fmt::{self, MISSING};
use crate::headline::{Headline, headlines};
use crate::paper::{PaperClaim, paper};

/// The experiments, in the order a suite runs them, with their section titles.
pub const EXPERIMENTS: [(&str, &str); 6] = [
    ("ladder", "Wasm start-up ladder"),
    ("cold-start", "Cold start"),
    ("memory", "Memory per warm sandbox"),
    ("throughput", "Throughput"),
    ("capacity", "Capacity"),
    ("realistic", "Realistic workload"),
];

/// Which image format the chart links point at (`png` for report.md, `svg` for index.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
}

impl ImageFormat {
    fn ext(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }
}

/// A Markdown table with right-aligned numeric columns.
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named in `header`; a leading `>` right-aligns a column.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header
                .iter()
                .map(|h| h.trim_start_matches('>').to_string())
                .collect(),
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        out.push('|');
        for h in &self.header {
            let _ = write!(out, " {} |", esc(h));
        }
        out.push_str("\n|");
        for r in &self.right {
            out.push_str(if *r { "---:|" } else { "---|" });
        }
        out.push('\n');
        for row in &self.rows {
            out.push('|');
            for c in row {
                let _ = write!(out, " {} |", esc(c));
            }
            out.push('\n');
        }
        out
    }
}

fn n_str(n: usize) -> String {
    n.to_string()
}

/// The median of a row through `f`, or "—".
fn median(r: Option<&SummaryRow>, f: impl Fn(f64) -> String) -> String {
    fmt::opt(r.filter(|r| measured(r)).and_then(|r| r.median), f)
}

/// The 95% CI of the mean, or "—" when fewer than two measurements succeeded.
fn ci(r: Option<&SummaryRow>, f: impl Fn(f64) -> String) -> String {
    match r {
        Some(r) if r.n >= 2 => fmt::interval(r.ci95_low, r.ci95_high, f),
        _ => MISSING.to_string(),
    }
}

/// Everything the Markdown needs beyond the dataset.
pub struct Context<'a> {
    pub ds: &'a Dataset,
    /// Charts drawn, per device.
    pub charts: &'a BTreeMap<String, Vec<ChartSpec>>,
    pub images: ImageFormat,
}

pub fn render(cx: &Context) -> String {
    let ds = cx.ds;
    let devices = ds.devices();
    let multi = devices.len() > 1;
    let mut out = String::new();
    let run_ids: Vec<String> = ds
        .sources
        .iter()
        .map(|s| {
            s.meta
                .as_ref()
                .map(|m| m.run_id.clone())
                .unwrap_or_else(|| {
                    s.path
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
        })
        .collect();
    let _ = writeln!(out, "# wowbench report: {}\n", run_ids.join(" + "));
    for s in &ds.sources {
        if let Some(line) = s.meta.as_ref().and_then(incomplete_line) {
            let _ = writeln!(out, "> {line}\n");
        }
    }
    out.push_str(
        "A reproduction of the WOW paper's measurements (Wasm executor vs Docker containers, \
         same workloads). Everything below is derived from this run folder's `records.csv`, \
         `summary.csv`, `meta.json` and `histograms/`. Medians are over the successful \
         measurements of a group; `n` counts those, `failed` the measurements that failed (kept, \
         never hidden). \"—\" marks a value that was not measured: it is never a zero. Chart \
         lines are means with shaded 95% confidence intervals of the mean (Student's t; shown \
         when n ≥ 2).\n\n",
    );

    out.push_str("## Machine and configuration\n\n");
    for d in &devices {
        if multi {
            let _ = writeln!(out, "### Device `{d}`\n");
        }
        machine_section(&mut out, ds, d);
    }
    if devices.is_empty() {
        out.push_str("*This run folder has no measurements yet.*\n\n");
        for s in &ds.sources {
            if let Some(m) = &s.meta {
                out.push_str(&fingerprint_table(m, s.summary_file).render());
                out.push('\n');
            }
        }
    }

    out.push_str("## Paper vs this run\n\n");
    paper_section(&mut out, ds, &devices, multi);

    for (id, title) in EXPERIMENTS {
        let _ = writeln!(out, "## {title} (`{id}`)\n");
        for d in &devices {
            if multi {
                let _ = writeln!(out, "### Device `{d}`\n");
            }
            experiment_section(&mut out, cx, d, id);
        }
        if devices.is_empty() {
            out.push_str("*Not run.*\n\n");
        }
    }

    out.push_str("## Failed measurements\n\n");
    for d in &devices {
        if multi {
            let _ = writeln!(out, "### Device `{d}`\n");
        }
        failures_section(&mut out, ds, d, None);
    }

    out.push_str("## Latency histograms\n\n");
    histograms_section(&mut out, ds);

    let p = paper();
    let _ = writeln!(
        out,
        "## The paper\n\n{}, doi [{}](https://doi.org/{}). {} The paper's values come from \
         `report/paper.toml`, which names the source of each.\n",
        p.citation.text, p.citation.doi, p.citation.doi, p.citation.read_off_plots
    );
    out
}

/// The banner of a run that did not complete.
fn incomplete_line(m: &Meta) -> Option<String> {
    match m.status {
        RunStatus::Complete => None,
        RunStatus::Incomplete => Some(format!(
            "**This run is incomplete** ({}): {}{}",
            m.run_id,
            m.status_reason
                .clone()
                .unwrap_or_else(|| "no reason recorded".into()),
            not_done(m)
                .map(|l| format!(". Not done: {l}"))
                .unwrap_or_default()
        )),
        RunStatus::Running => Some(format!(
            "**This run is incomplete** ({}): `meta.json` still says it is running — it is in \
             progress, or it was killed before it could record its end{}",
            m.run_id,
            not_done(m)
                .map(|l| format!(". Not done: {l}"))
                .unwrap_or_default()
        )),
    }
}

/// The suite's experiments that did not finish.
fn not_done(m: &Meta) -> Option<String> {
    let planned: Vec<String> = m
        .config
        .pointer("/suite/experiment")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<String> = planned
        .into_iter()
        .filter(|p| !m.experiments_done.contains(p))
        .map(|p| format!("`{p}`"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

fn machine_section(out: &mut String, ds: &Dataset, device: &str) {
    match ds.source_for(device) {
        Some(s) => match &s.meta {
            Some(m) => {
                out.push_str(&fingerprint_table(m, s.summary_file).render());
                out.push('\n');
                if !m.notes.is_empty() {
                    out.push_str("Notes recorded during the run:\n\n");
                    for n in &m.notes {
                        let _ = writeln!(out, "- {}", n.replace('\n', " "));
                    }
                    out.push('\n');
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "*`meta.json` could not be read ({}): the machine and configuration are \
                     unknown.*\n",
                    s.meta_error.as_deref().unwrap_or("absent")
                );
            }
        },
        None => out.push_str("*No run folder for this device.*\n\n"),
    }
}

fn fingerprint_table(m: &Meta, summary_file: bool) -> Table {
    let mut t = Table::new(&["", "value"]);
    let mut kv = |k: &str, v: String| t.row(vec![k.to_string(), v]);
    kv("run", format!("`{}`", m.run_id));
    kv(
        "status",
        match m.status {
            RunStatus::Complete => "complete".to_string(),
            RunStatus::Incomplete => format!(
                "**incomplete**: {}",
                m.status_reason.as_deref().unwrap_or("no reason recorded")
            ),
            RunStatus::Running => {
                "**incomplete**: still marked running (in progress, or killed)".to_string()
            }
        },
    );
    kv(
        "started / ended (UTC)",
        format!(
            "{} / {}",
            m.started_at,
            m.ended_at.as_deref().unwrap_or(MISSING)
        ),
    );
    if !m.command.is_empty() {
        kv("command", format!("`{}`", m.command.join(" ")));
    }
    let mc = &m.machine;
    kv(
        "CPU",
        format!(
            "{}, {} logical cores{}",
            if mc.cpu_model.is_empty() {
                "unknown"
            } else {
                &mc.cpu_model
            },
            mc.logical_cores,
            mc.physical_cores
                .map(|p| format!(" ({p} physical)"))
                .unwrap_or_default()
        ),
    );
    kv(
        "memory",
        if mc.memory_bytes > 0 {
            format!("{} GiB", fmt::sig3(mc.memory_bytes as f64 / 1073741824.0))
        } else {
            MISSING.to_string()
        },
    );
    kv(
        "OS / kernel / arch",
        format!(
            "{} / {} / {}",
            or_dash(&mc.os),
            or_dash(&mc.kernel),
            or_dash(&mc.arch)
        ),
    );
    kv(
        "Docker",
        match &m.docker {
            Some(d) => format!(
                "{} (API {}; cgroup {} {}; storage {})",
                or_dash(&d.server_version),
                or_dash(&d.api_version),
                or_dash(&d.cgroup_version),
                or_dash(&d.cgroup_driver),
                or_dash(&d.storage_driver)
            ),
            None => "not used in this run".to_string(),
        },
    );
    kv("wasmtime", or_dash(&m.wasmtime_version).to_string());
    kv(
        "wowbench / git commit",
        format!(
            "{} / {}",
            m.wowbench_version,
            m.git_commit
                .as_deref()
                .map_or(MISSING.to_string(), |c| format!("`{c}`"))
        ),
    );
    kv(
        "toolchain",
        m.toolchain.clone().unwrap_or_else(|| MISSING.to_string()),
    );
    kv("device profile", device_text(m));
    if let Some(nc) = m
        .device
        .get("not_covered")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    {
        kv("not covered by the profile", nc.to_string());
    }
    if let Some(suite) = m.config.get("suite") {
        let name = suite.get("name").and_then(|v| v.as_str()).unwrap_or("?");
        let kinds: Vec<&str> = suite
            .get("experiment")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get("kind").and_then(|k| k.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        kv("suite", format!("`{name}`: {}", kinds.join(", ")));
    }
    for key in ["backends", "variants", "workloads"] {
        if let Some(v) = m.config.get(key).filter(|v| !v.is_null()) {
            kv(key, compact(v));
        }
    }
    kv(
        "experiments done",
        if m.experiments_done.is_empty() {
            "none".to_string()
        } else {
            m.experiments_done.join(", ")
        },
    );
    if !m.calibration.is_null() {
        kv("calibration", format!("`{}`", compact(&m.calibration)));
    }
    kv(
        "statistics from",
        if summary_file {
            "`summary.csv`".to_string()
        } else {
            "`records.csv` (no `summary.csv`: derived by the report)".to_string()
        },
    );
    t
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { MISSING } else { s }
}

/// Compact JSON (keys sorted, as serde_json's map is ordered).
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.iter().all(|x| x.is_string()) => a
            .iter()
            .filter_map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn device_text(m: &Meta) -> String {
    let d = &m.device;
    let name = meta_device_name(m).unwrap_or_else(|| "?".into());
    let desc = d
        .pointer("/profile/description")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let cpus = d.pointer("/profile/cpus").and_then(|v| v.as_f64());
    let mem = d.pointer("/profile/memory_bytes").and_then(|v| v.as_f64());
    let mut s = format!("`{name}`");
    if !desc.is_empty() {
        let _ = write!(s, ": {desc}");
    }
    let mut limits = Vec::new();
    if let Some(c) = cpus {
        limits.push(format!("CPU {} cores", fmt::tick(c)));
    }
    if let Some(b) = mem {
        limits.push(format!("memory {}", fmt::mib(b)));
    }
    if let Some(l) = d.pointer("/cgroup/limits").and_then(|v| v.as_array()) {
        let written: Vec<String> = l
            .iter()
            .filter_map(|kv| {
                let a = kv.as_array()?;
                Some(format!("{}={}", a.first()?.as_str()?, a.get(1)?.as_str()?))
            })
            .collect();
        if !written.is_empty() {
            limits.push(format!("cgroup: {}", written.join(", ")));
        }
    }
    if limits.is_empty() {
        if !desc.contains("no limits") {
            s.push_str(" (no limits)");
        }
    } else {
        let _ = write!(s, " ({})", limits.join("; "));
    }
    s
}

/// "this run vs the paper" differences for one claim, one line.
fn setup_note(claim: &PaperClaim, ds: &Dataset, device: &str, h: &Headline) -> String {
    let p = paper();
    let meta = ds.meta_for(device);
    let mut parts = Vec::new();
    let theirs = p.device_label(&claim.device);
    let dev = meta
        .and_then(meta_device_name)
        .unwrap_or_else(|| device.to_string());
    parts.push(match (dev.as_str(), claim.device.as_str()) {
        ("pi3", "pi3") => format!("emulated Pi (cgroup limits) vs real {theirs}"),
        ("pi3", _) => format!("emulated Pi (cgroup limits) vs {theirs}"),
        ("host", _) => {
            let m = meta.map(|m| &m.machine);
            match m {
                Some(m) if m.logical_cores > 0 => format!(
                    "{}-core {} host vs {theirs}",
                    m.logical_cores,
                    or_dash(&m.arch)
                ),
                _ => format!("this host vs {theirs}"),
            }
        }
        (other, _) => format!("`{other}` profile vs {theirs}"),
    });
    let runtime = claim.runtime.as_deref().unwrap_or(&p.setup.wasm_runtime);
    let ours = meta.map_or("wasmtime ?".to_string(), |m| {
        format!("wasmtime {}", m.wasmtime_version)
    });
    parts.push(format!("{ours} vs {runtime}"));
    // Rows about one Wasm series alone say nothing about Docker's proxy.
    if !h.paper_id.ends_with("-wasm") {
        parts.push(format!("Rust proxy vs {}", p.setup.docker_baseline));
    }
    parts.push("harness invoker vs OpenWhisk".to_string());
    parts.join("; ")
}

fn paper_section(out: &mut String, ds: &Dataset, devices: &[String], multi: bool) {
    out.push_str(
        "One row per headline claim. This run's values are computed from `summary.csv` medians \
         (definitions below the table); the paper's come from `report/paper.toml` with their \
         source. The last column says where the setups differ.\n\n",
    );
    let mut defs: Vec<(String, String)> = Vec::new();
    for d in devices {
        if multi {
            let _ = writeln!(out, "### Device `{d}`\n");
        }
        let mut t = Table::new(&[
            "claim",
            "paper",
            "paper's setup (source)",
            "this run",
            "this run's setup",
            "setups differ",
        ]);
        for h in headlines(&ds.summary, d) {
            let claim = paper().claim(&h.paper_id);
            let (pv, ps, note) = match claim {
                Some(c) => (
                    c.value.clone(),
                    format!("{} ({})", c.setup, c.source),
                    if c.measured() {
                        setup_note(c, ds, d, &h)
                    } else {
                        "not in the paper".to_string()
                    },
                ),
                None => (
                    MISSING.to_string(),
                    "(not in paper.toml)".to_string(),
                    String::new(),
                ),
            };
            t.row(vec![
                h.claim.clone(),
                pv,
                ps,
                h.display(),
                h.setup_or_reason(),
                note,
            ]);
            if !defs.iter().any(|(id, _)| *id == h.paper_id) {
                defs.push((h.paper_id.clone(), h.definition.clone()));
            }
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    out.push_str("How this run's values are defined:\n\n");
    for (id, def) in &defs {
        let _ = writeln!(out, "- `{id}`: {def}.");
    }
    out.push('\n');
}

fn chart_block(out: &mut String, cx: &Context, device: &str, experiment: &str) -> usize {
    let mut n = 0;
    if let Some(list) = cx.charts.get(device) {
        for c in list.iter().filter(|c| c.experiment == experiment) {
            let _ = writeln!(
                out,
                "![{}](charts/{}.{})\n",
                c.title,
                c.stem(device),
                cx.images.ext()
            );
            n += 1;
        }
    }
    n
}

/// The experiment's settings from the run's suite, compact.
fn settings_line(out: &mut String, ds: &Dataset, device: &str, experiment: &str) {
    if let Some(serde_json::Value::Object(map)) = ds.experiment_config(device, experiment) {
        let parts: Vec<String> = map
            .iter()
            .filter(|(k, _)| k.as_str() != "kind")
            .map(|(k, v)| format!("{k} = {}", v))
            .collect();
        let _ = writeln!(out, "Settings: `{}`\n", parts.join(", "));
    }
}

fn experiment_section(out: &mut String, cx: &Context, device: &str, experiment: &str) {
    let ds = cx.ds;
    let rows: Vec<&SummaryRow> = ds.rows(device, experiment).collect();
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "*Not run: this run folder has no `{experiment}` measurements for device `{device}`.*\n"
        );
        return;
    }
    let ok = rows.iter().filter(|r| measured(r)).count();
    if ok == 0 {
        let failed: usize = rows.iter().map(|r| r.failed).sum();
        let _ = writeln!(
            out,
            "*Every `{experiment}` measurement failed ({failed} failed); nothing to chart.*\n"
        );
        failures_section(out, ds, device, Some(experiment));
        return;
    }
    match experiment {
        "ladder" => out.push_str(
            "Each rung of the Wasm start-up path timed in-process (compile, deserialize the \
             cached artifact from memory or a file, build the `InstancePre`, instantiate on \
             demand or from the pool, a fresh run, a run on a pre-warmed instance), beside \
             Docker's cold-start phases (create, start, ready = first HTTP answer, init, first \
             run).\n\n",
        ),
        "cold-start" => out.push_str(
            "i concurrent cold starts of i distinct actions. Cold start = provision + init (the \
             paper's waitTime + initTime); first response adds the first run. Wasm has nothing \
             to provision (recorded as the time of the call). `precompiled`: the artifact is \
             cached, every init loads it; `compile`: every init compiles.\n\n",
        ),
        "memory" => out.push_str(
            "N warm sandboxes, each having run once. `paper` method: what the paper measured \
             (a container's cgroup usage minus inactive file cache, as `docker stats`; executor \
             RSS ÷ N). `full` method: everything that exists only because the sandboxes exist \
             (container cgroup + its `containerd-shim` + its `docker-proxy`, by PSS; executor RSS \
             with N sandboxes minus with none, ÷ N).\n\n",
        ),
        "throughput" => out.push_str(
            "Closed-loop clients through the same invoker for both backends, a fixed window \
             after warm-up. `paper` config: at most 4 sandboxes, per-sandbox concurrency 10 \
             (mixed) or 3, Docker's proxy runs one action at a time per container as \
             `dockerskeleton` did; `fair`: Docker's proxy gets the same concurrency as a Wasm \
             sandbox.\n\n",
        ),
        "capacity" => out.push_str(
            "In-flight I/O-bound invocations stepped up until p99 latency exceeds the bound, an \
             error occurs or memory exceeds the budget; the capacity is the last step that \
             held.\n\n",
        ),
        "realistic" => out.push_str(
            "The paper's Azure-shaped workload (by default 62 actions, 90% of requests to two \
             hot ones, 10% spread over the other 60), served by an invoker with a sandbox cap, keep-alive and LRU \
             eviction, identical for both backends. Every request's latency is recorded with \
             whether it met a cold start.\n\n",
        ),
        _ => {}
    }
    chart_block(out, cx, device, experiment);
    match experiment {
        "ladder" => ladder_tables(out, ds, device),
        "cold-start" => cold_start_tables(out, ds, device),
        "memory" => memory_tables(out, ds, device),
        "throughput" => throughput_tables(out, ds, device),
        "capacity" => capacity_tables(out, ds, device),
        "realistic" => realistic_tables(out, ds, device),
        _ => {}
    }
    settings_line(out, ds, device, experiment);
}

fn ladder_tables(out: &mut String, ds: &Dataset, device: &str) {
    let mut t = Table::new(&[
        "backend", "variant", "workload", "step", ">n", ">failed", ">median", ">p90", ">min",
    ]);
    for r in charts::ladder_rows(ds, device) {
        t.row(vec![
            r.backend.clone(),
            r.variant.clone(),
            r.workload.clone(),
            r.phase.clone(),
            n_str(r.n),
            n_str(r.failed),
            median(Some(r), fmt::duration_us),
            fmt::opt(r.p90, fmt::duration_us),
            fmt::opt(r.min, fmt::duration_us),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
}

fn find<'a>(
    rows: &[&'a SummaryRow],
    key: &SeriesKey,
    level: u32,
    phase: &str,
    metric: &str,
) -> Option<&'a SummaryRow> {
    rows.iter()
        .find(|r| {
            SeriesKey::of(r) == *key
                && r.concurrency == level
                && r.phase == phase
                && r.metric == metric
        })
        .copied()
}

fn cold_start_tables(out: &mut String, ds: &Dataset, device: &str) {
    let all: Vec<&SummaryRow> = ds.rows(device, "cold-start").collect();
    let cs: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| r.phase == "cold_start" && r.metric == "latency")
        .collect();
    let groups = by_series(cs.iter().copied());
    let vary = Vary::of(groups.iter().map(|(k, _)| k));
    let mut t = Table::new(&[
        "series",
        ">concurrent",
        ">n",
        ">failed",
        ">median cold start",
        ">mean, 95% CI",
        ">median first response",
    ]);
    for (k, rows) in &groups {
        for r in rows {
            let fr = find(&all, k, r.concurrency, "first_response", "latency");
            t.row(vec![
                k.label(vary),
                r.concurrency.to_string(),
                n_str(r.n),
                n_str(r.failed),
                median(Some(r), fmt::duration_us),
                ci(Some(r), fmt::duration_us),
                median(fr, fmt::duration_us),
            ]);
        }
    }
    out.push_str("Cold start (provision + init) per level:\n\n");
    out.push_str(&t.render());
    out.push('\n');

    let mut p = Table::new(&[
        "series",
        ">concurrent",
        ">provision",
        ">init",
        ">first run",
        ">create",
        ">start",
        ">ready",
    ]);
    for (k, rows) in &groups {
        let levels: BTreeSet<u32> = rows
            .iter()
            .filter(|r| measured(r))
            .map(|r| r.concurrency)
            .collect();
        let picks: BTreeSet<u32> = [levels.first(), levels.last()]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for l in picks {
            let m = |ph: &str| median(find(&all, k, l, ph, "latency"), fmt::duration_us);
            p.row(vec![
                k.label(vary),
                l.to_string(),
                m("provision"),
                m("init"),
                m("first_run"),
                m("create"),
                m("start"),
                m("ready"),
            ]);
        }
    }
    if !p.is_empty() {
        out.push_str(
            "Phase medians at the lowest and highest level (the medians of the phases need not \
             add up to the median cold start):\n\n",
        );
        out.push_str(&p.render());
        out.push('\n');
    }
}

fn memory_tables(out: &mut String, ds: &Dataset, device: &str) {
    let all: Vec<&SummaryRow> = ds.rows(device, "memory").collect();
    let per: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| r.metric == "memory_per_sandbox" && !r.variant.starts_with("module-"))
        .collect();
    let mut keys: BTreeMap<(SeriesKey, u32), ()> = BTreeMap::new();
    for r in &per {
        keys.insert((SeriesKey::of(r), r.concurrency), ());
    }
    let mut ordered: Vec<(SeriesKey, u32)> = keys.into_keys().collect();
    ordered.sort_by_key(|(k, n)| (k.order(), *n));
    let vary = Vary::of(ordered.iter().map(|(k, _)| k));
    if !ordered.is_empty() {
        let mut t = Table::new(&[
            "series",
            ">sandboxes",
            ">n",
            ">failed",
            ">paper method",
            ">paper: 95% CI",
            ">full method",
            ">full: 95% CI",
        ]);
        for (k, n) in &ordered {
            let p = find(&per, k, *n, "paper", "memory_per_sandbox");
            let f = find(&per, k, *n, "full", "memory_per_sandbox");
            let count = |g: fn(&SummaryRow) -> usize| {
                let a = p.map(g);
                let b = f.map(g);
                match (a, b) {
                    (Some(a), Some(b)) if a == b => a.to_string(),
                    (a, b) => format!(
                        "{} / {}",
                        a.map_or(MISSING.to_string(), |x| x.to_string()),
                        b.map_or(MISSING.to_string(), |x| x.to_string())
                    ),
                }
            };
            t.row(vec![
                k.label(vary),
                n.to_string(),
                count(|r| r.n),
                count(|r| r.failed),
                median(p, fmt::mib),
                ci(p, fmt::mib),
                median(f, fmt::mib),
                ci(f, fmt::mib),
            ]);
        }
        out.push_str(
            "Memory per warm sandbox (medians; n and failed: paper / full when they differ):\n\n",
        );
        out.push_str(&t.render());
        out.push('\n');
    }

    // The readings behind the numbers.
    let parts: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| r.metric == "memory_total" && !r.variant.starts_with("module-"))
        .collect();
    if !parts.is_empty() {
        let mut names: Vec<String> = parts
            .iter()
            .map(|r| r.phase.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        const ORDER: [&str; 9] = [
            "executor_rss_baseline",
            "executor_rss",
            "executor_pss",
            "cgroup",
            "shim_pss",
            "shim_rss",
            "proxy_pss",
            "proxy_rss",
            "",
        ];
        names.sort_by_key(|n| {
            (
                ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()),
                n.clone(),
            )
        });
        let mut header: Vec<String> = vec!["series".into(), ">sandboxes".into()];
        header.extend(names.iter().map(|n| format!(">{n}")));
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(&header_refs);
        let mut rows: BTreeMap<(SeriesKey, u32), ()> = BTreeMap::new();
        for r in &parts {
            rows.insert((SeriesKey::of(r), r.concurrency), ());
        }
        let mut ordered: Vec<(SeriesKey, u32)> = rows.into_keys().collect();
        ordered.sort_by_key(|(k, n)| (k.order(), *n));
        for (k, n) in &ordered {
            let mut cells = vec![k.label(vary), n.to_string()];
            for name in &names {
                cells.push(median(find(&parts, k, *n, name, "memory_total"), fmt::mib));
            }
            t.row(cells);
        }
        out.push_str(
            "The readings behind them (`memory_total`, medians, totals not per sandbox):\n\n",
        );
        out.push_str(&t.render());
        out.push('\n');
    }

    let variants = charts::module_variants(ds, device);
    if !variants.is_empty() {
        let f = &paper().figures.module_memory;
        let mut t = Table::new(&[
            "build",
            ">wasm size",
            ">sandboxes",
            ">n",
            ">failed",
            ">paper method",
            ">full method",
            ">paper: wasmtime",
            ">paper: Docker",
            ">paper: wasm size",
        ]);
        for (variant, rows) in &variants {
            let levels: BTreeSet<u32> = rows
                .iter()
                .filter(|r| r.metric == "memory_per_sandbox")
                .map(|r| r.concurrency)
                .collect();
            let size = rows
                .iter()
                .find(|r| r.metric == "module_size" && measured(r))
                .and_then(|r| r.median);
            let build = variant.trim_start_matches("module-");
            let i = f.builds.iter().position(|b| b == build);
            for n in levels {
                let p = rows
                    .iter()
                    .find(|r| {
                        r.concurrency == n && r.phase == "paper" && r.metric == "memory_per_sandbox"
                    })
                    .copied();
                let fu = rows
                    .iter()
                    .find(|r| {
                        r.concurrency == n && r.phase == "full" && r.metric == "memory_per_sandbox"
                    })
                    .copied();
                t.row(vec![
                    charts::build_name(variant),
                    fmt::opt(size, fmt::size),
                    n.to_string(),
                    p.map_or(MISSING.to_string(), |r| r.n.to_string()),
                    p.map_or(MISSING.to_string(), |r| r.failed.to_string()),
                    median(p, fmt::mib),
                    median(fu, fmt::mib),
                    i.map_or(MISSING.to_string(), |i| {
                        format!("{} MiB", f.wasmtime_mib[i])
                    }),
                    i.map_or(MISSING.to_string(), |i| format!("{} MiB", f.docker_mib[i])),
                    i.map_or(MISSING.to_string(), |i| f.wasm_size[i].clone()),
                ]);
            }
        }
        let _ = writeln!(
            out,
            "Module builds (the paper's table; its values: {}):\n",
            f.source
        );
        out.push_str(&t.render());
        out.push('\n');
    }
}

fn throughput_tables(out: &mut String, ds: &Dataset, device: &str) {
    let all: Vec<&SummaryRow> = ds.rows(device, "throughput").collect();
    let (configs, workloads) = charts::throughput_panels(ds, device);
    for phase in ["warm", "open-loop"] {
        let mut t = Table::new(&[
            "config",
            "workload",
            "series",
            if phase == "warm" {
                ">clients"
            } else {
                ">offered req/s"
            },
            ">n",
            ">median req/s",
            ">mean, 95% CI",
            ">p50 latency",
            ">p99 latency",
            ">errors",
            ">cold starts",
        ]);
        for c in &configs {
            for w in &workloads {
                let rows: Vec<&SummaryRow> = all
                    .iter()
                    .copied()
                    .filter(|r| {
                        r.phase == phase
                            && r.metric == "throughput"
                            && &r.config == c
                            && &r.workload == w
                            && r.backend != "client"
                    })
                    .collect();
                for (k, rs) in by_series(rows) {
                    for r in rs {
                        let get = |m: &str| find(&all, &k, r.concurrency, phase, m);
                        t.row(vec![
                            c.clone(),
                            w.clone(),
                            k.label(Vary::default()),
                            r.concurrency.to_string(),
                            n_str(r.n),
                            median(Some(r), fmt::sig3),
                            ci(Some(r), fmt::sig3),
                            median(get("latency_p50"), fmt::duration_us),
                            median(get("latency_p99"), fmt::duration_us),
                            total(get("errors")),
                            total(get("cold_starts")),
                        ]);
                    }
                }
            }
        }
        if !t.is_empty() {
            if phase == "warm" {
                out.push_str(
                    "Closed loop (latencies: medians over repetitions of each window's \
                     percentile; errors and cold starts: totals over repetitions):\n\n",
                );
            } else {
                out.push_str("Open loop (Poisson arrivals at the offered rate):\n\n");
            }
            out.push_str(&t.render());
            out.push('\n');
        }
    }
    let ceiling: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| r.phase == "ceiling" && r.metric == "throughput")
        .collect();
    for r in ceiling {
        let _ = writeln!(
            out,
            "Load generator ceiling (the most the harness itself drives, against a trivial \
             in-process endpoint): {} req/s with {} clients.\n",
            median(Some(r), fmt::sig3),
            r.concurrency,
        );
    }
}

/// A count's total over repetitions (mean × n), or "—".
fn total(r: Option<&SummaryRow>) -> String {
    match r {
        Some(r) if measured(r) => match r.mean {
            Some(m) => format!("{}", (m * r.n as f64).round() as i64),
            None => MISSING.to_string(),
        },
        _ => MISSING.to_string(),
    }
}

/// The first failure note of a group, from the records.
fn failure_note(ds: &Dataset, device: &str, r: &SummaryRow) -> Option<String> {
    ds.records_of(device, &r.experiment)
        .find(|x| !x.ok && x.key() == r.key())
        .map(|x| x.note.clone())
        .filter(|n| !n.is_empty())
}

fn capacity_tables(out: &mut String, ds: &Dataset, device: &str) {
    let all: Vec<&SummaryRow> = ds.rows(device, "capacity").collect();
    let mut t = Table::new(&[
        "series",
        ">capacity (median)",
        ">n",
        ">failed",
        "why it stopped",
    ]);
    let max: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| r.phase == "max" && r.metric == "capacity")
        .collect();
    for (k, rs) in by_series(max) {
        for r in rs {
            t.row(vec![
                k.label(Vary::default()),
                median(Some(r), fmt::tick),
                n_str(r.n),
                n_str(r.failed),
                if r.failed > 0 {
                    failure_note(ds, device, r).unwrap_or_default()
                } else {
                    String::new()
                },
            ]);
        }
    }
    if let Some((_, label)) = charts::capacity_bound(ds, device) {
        let _ = writeln!(out, "Latency {label}.\n");
    }
    if !t.is_empty() {
        out.push_str(&t.render());
        out.push('\n');
    }
    let steps: Vec<&SummaryRow> = all
        .iter()
        .copied()
        .filter(|r| r.phase == "step" && r.metric == "throughput")
        .collect();
    let mut s = Table::new(&[
        "series",
        ">in flight",
        ">n",
        ">median req/s",
        ">p50 latency",
        ">p99 latency",
        ">errors",
        ">sandboxes",
        ">memory in use",
    ]);
    for (k, rs) in by_series(steps) {
        for r in rs {
            let get = |m: &str| find(&all, &k, r.concurrency, "step", m);
            s.row(vec![
                k.label(Vary::default()),
                r.concurrency.to_string(),
                n_str(r.n),
                median(Some(r), fmt::sig3),
                median(get("latency_p50"), fmt::duration_us),
                median(get("latency_p99"), fmt::duration_us),
                total(get("errors")),
                median(get("sandboxes"), fmt::tick),
                median(get("memory_total"), fmt::mib),
            ]);
        }
    }
    if !s.is_empty() {
        out.push_str("Per load step (medians over repetitions):\n\n");
        out.push_str(&s.render());
        out.push('\n');
    }
}

fn realistic_tables(out: &mut String, ds: &Dataset, device: &str) {
    let all: Vec<&SummaryRow> = ds.rows(device, "realistic").collect();
    let lat = charts::realistic_latencies(ds, device);
    let mut keys: BTreeSet<SeriesKey> = all.iter().map(|r| SeriesKey::of(r)).collect();
    keys.extend(lat.iter().map(|(k, _)| k.clone()));
    let mut keys: Vec<SeriesKey> = keys.into_iter().collect();
    keys.sort_by_key(|k| k.order());
    let vary = Vary::of(keys.iter());
    let mut t = Table::new(&[
        "series",
        ">clients",
        ">requests ok",
        ">failed",
        ">cold-start fraction",
        ">p50",
        ">p90",
        ">p99",
        ">max",
        ">median cold",
        ">median warm",
    ]);
    for k in &keys {
        let rows: Vec<&SummaryRow> = all
            .iter()
            .copied()
            .filter(|r| SeriesKey::of(r) == *k)
            .collect();
        let clients = rows.iter().map(|r| r.concurrency).max().unwrap_or(0);
        let g = |phase: &str, metric: &str| {
            rows.iter()
                .find(|r| r.phase == phase && r.metric == metric)
                .copied()
        };
        let cold = g("cold", "latency");
        let warm = g("warm", "latency");
        let ok = cold.map_or(0, |r| r.n) + warm.map_or(0, |r| r.n);
        let failed = cold.map_or(0, |r| r.failed) + warm.map_or(0, |r| r.failed);
        t.row(vec![
            k.label(vary),
            clients.to_string(),
            ok.to_string(),
            failed.to_string(),
            median(g("all", "cold_fraction"), fmt::percent),
            median(g("all", "latency_p50"), fmt::duration_us),
            median(g("all", "latency_p90"), fmt::duration_us),
            median(g("all", "latency_p99"), fmt::duration_us),
            median(g("all", "latency_max"), fmt::duration_us),
            median(cold, fmt::duration_us),
            median(warm, fmt::duration_us),
        ]);
    }
    out.push_str(
        "Percentiles: the run's own (over all requests of a repetition; median over \
         repetitions). Cold and warm: medians of the per-request latencies.\n\n",
    );
    out.push_str(&t.render());
    out.push('\n');
    let f = &paper().figures.realistic;
    let mut p = Table::new(&["the paper", ">min", ">p10", ">p50", ">p90", ">p99", ">max"]);
    let want = [0.0, 0.1, 0.5, 0.9, 0.99, 1.0];
    for (name, values) in [("Docker", &f.docker_ms), ("wasmtime", &f.wasmtime_ms)] {
        let mut cells = vec![name.to_string()];
        for q in want {
            cells.push(
                f.quantiles
                    .iter()
                    .position(|x| (*x - q).abs() < 1e-9)
                    .map_or(MISSING.to_string(), |i| {
                        fmt::duration_us(values[i] * 1000.0)
                    }),
            );
        }
        p.row(cells);
    }
    let _ = writeln!(out, "The paper's ECDF ({}):\n", f.source);
    out.push_str(&p.render());
    out.push('\n');
}

fn failures_section(out: &mut String, ds: &Dataset, device: &str, only: Option<&str>) {
    let mut groups: BTreeMap<wow_records::GroupKey, (usize, String)> = BTreeMap::new();
    for r in ds
        .records
        .iter()
        .filter(|r| r.device == device && !r.ok && only.is_none_or(|e| r.experiment == e))
    {
        let g = groups.entry(r.key()).or_insert((0, r.note.clone()));
        g.0 += 1;
    }
    if groups.is_empty() {
        if only.is_none() {
            out.push_str("None: every measurement succeeded.\n\n");
        }
        return;
    }
    let mut t = Table::new(&[
        "experiment",
        "backend",
        "variant",
        "config",
        "workload",
        ">x",
        "phase",
        "metric",
        ">failed",
        "first reason",
    ]);
    for (k, (n, note)) in groups {
        t.row(vec![
            k.experiment,
            k.backend,
            k.variant,
            k.config,
            k.workload,
            k.concurrency.to_string(),
            k.phase,
            k.metric,
            n.to_string(),
            note,
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
}

fn histograms_section(out: &mut String, ds: &Dataset) {
    let mut t = Table::new(&["file", ">count", ">p50", ">p99", ">max"]);
    for s in &ds.sources {
        for p in &s.histograms {
            let name = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            match wow_records::histogram::read_hlog(p) {
                Ok(h) => t.row(vec![
                    format!("`{name}`"),
                    h.len().to_string(),
                    fmt::duration_us(h.value_at_quantile(0.5) as f64),
                    fmt::duration_us(h.value_at_quantile(0.99) as f64),
                    fmt::duration_us(h.max() as f64),
                ]),
                Err(e) => t.row(vec![
                    format!("`{name}`"),
                    format!("unreadable: {e:#}"),
                    MISSING.into(),
                    MISSING.into(),
                    MISSING.into(),
                ]),
            }
        }
    }
    if t.is_empty() {
        out.push_str("None in this run folder.\n\n");
    } else {
        out.push_str(
            "Full HdrHistogram interval logs (microseconds) beside the CSV, one per load group; \
             HdrHistogram's tools read them.\n\n",
        );
        out.push_str(&t.render());
        out.push('\n');
    }
}
