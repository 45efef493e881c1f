//! `report.md`: the frame of the report. It opens on the answer: the headline values with the
//! paper's and their definitions, and the cold-start, memory and throughput charts. Then the full
//! "paper vs this run" table (`crate::paper_table`), one section per experiment with its intro,
//! charts and tables (`crate::experiments`), failures and histograms, and at the end the machine
//! and configuration (`crate::fingerprint`) and the engines. Everything is derived from the
//! run folder's files and formatted deterministically: regenerating from the same folder gives
//! the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use wow_records::{Experiment, SummaryRow};

use crate::data::{Dataset, measured};
use crate::experiments::{self, About, Section};
use crate::fingerprint::{fingerprint_table, incomplete_line, machine_section};
use crate::fmt::{self, MISSING};
use crate::paper::paper;
use crate::paper_table::{first_screen_table, paper_section};
use crate::table::Table;

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

/// Everything the Markdown needs beyond the dataset.
pub struct Context<'a> {
    pub ds: &'a Dataset,
    /// Each device's experiment sections (their charts and tables), in the report's order.
    pub sections: &'a BTreeMap<String, Vec<Section>>,
    /// Each device's headlines, with their intervals (computed once for both renderings).
    pub headlines: &'a BTreeMap<String, Vec<crate::Headline>>,
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
        "A reproduction of the WOW paper's measurements: Wasm executor vs Docker containers, \
         same workloads.\n\n",
    );

    headlines_section(&mut out, cx, &devices, multi);

    out.push_str(
        "Everything in this report is derived from this run folder's `records.csv`, \
         `summary.csv`, `meta.json` and `histograms/`. Medians are over the successful \
         measurements of a group; `n` counts those, `failed` the measurements that failed (kept, \
         never hidden). \"—\" marks a value that was not measured: it is never a zero. Chart \
         lines are means with shaded 95% confidence intervals of the mean (Student's t; shown \
         when n ≥ 2).\n\n",
    );

    out.push_str("## Paper vs this run\n\n");
    paper_section(&mut out, cx.headlines, &devices, multi, ds);

    for about in &experiments::ALL {
        let _ = writeln!(out, "## {} (`{}`)\n", about.title, about.experiment);
        for d in &devices {
            if multi {
                let _ = writeln!(out, "### Device `{d}`\n");
            }
            experiment_section(&mut out, cx, d, about);
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

    out.push_str("## Machine and configuration\n\n");
    for d in &devices {
        if multi {
            let _ = writeln!(out, "### Device `{d}`\n");
        }
        machine_section(&mut out, ds, d);
    }
    if devices.is_empty() {
        // The headlines section has said there are no measurements yet.
        for s in &ds.sources {
            if let Some(m) = &s.meta {
                out.push_str(&fingerprint_table(m, s.summary_file).render());
                out.push('\n');
            }
        }
    }

    engines_section(&mut out, ds, &devices);

    let p = paper();
    let _ = writeln!(
        out,
        "## The paper\n\n{}, doi [{}](https://doi.org/{}). {} The paper's values come from \
         `report/paper.toml`, which names the source of each.\n",
        p.citation.text, p.citation.doi, p.citation.doi, p.citation.read_off_plots
    );
    out
}

/// The report's first screen: the headline values beside the paper's, each with its
/// definition, then the three charts that carry them (cold start, memory, throughput).
fn headlines_section(out: &mut String, cx: &Context, devices: &[String], multi: bool) {
    out.push_str("## Headlines\n\n");
    out.push_str(
        "This run's headline values beside the paper's, each with its definition. Every \
         headline, the paper's setup beside this run's and the rows left out here (other engines \
         and baselines, values this run could not compute, with why) are in \"Paper vs this \
         run\" below; the machine and configuration are at the end.\n\n",
    );
    if devices.is_empty() {
        out.push_str("*This run folder has no measurements yet.*\n\n");
    }
    for d in devices {
        if multi {
            let _ = writeln!(out, "### Device `{d}`\n");
        }
        match first_screen_table(cx.headlines.get(d).map_or(&[][..], Vec::as_slice)) {
            Some(t) => {
                out.push_str(&t);
                out.push('\n');
            }
            None => out.push_str("*No headline could be computed from this run.*\n\n"),
        }
        let Some(sections) = cx.sections.get(d) else {
            continue;
        };
        // One paragraph: the page shows the three side by side.
        let charts: Vec<String> = [
            Experiment::ColdStart,
            Experiment::Memory,
            Experiment::Throughput,
        ]
        .into_iter()
        .filter_map(|experiment| {
            let c = sections
                .iter()
                .find(|s| s.experiment == experiment)?
                .charts
                .first()?;
            Some(format!(
                "![{}](charts/{}.{})",
                c.title,
                c.stem(d),
                cx.images.ext()
            ))
        })
        .collect();
        if !charts.is_empty() {
            let _ = writeln!(out, "{}\n", charts.join("\n"));
        }
    }
}

/// Links to the section's charts, in the image format of this rendering.
/// The Wasm engines of the run (from `meta.json`), and what sets them apart from the paper's.
fn engines_section(out: &mut String, ds: &Dataset, devices: &[String]) {
    let Some(meta) = devices.iter().find_map(|d| ds.meta_for(d)) else {
        return;
    };
    if meta.engines.is_empty() {
        return;
    }
    out.push_str("## Wasm engines\n\n");
    out.push_str(
        "Each engine ran every Wasm series of the run in its own executor process; the \
         headline table repeats each claim per engine (`[engine]` after the claim), compared \
         with the paper's value for that engine where the paper gives one, else with its \
         wasmtime value (the last column then names both engines).\n\n| engine | version | mode | tier | deadline |\n|---|---|---|---|---|\n",
    );
    let field = |e: &serde_json::Value, k: &str| {
        e.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string()
    };
    for e in &meta.engines {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            field(e, "name"),
            field(e, "version"),
            field(e, "mode"),
            field(e, "tier"),
            field(e, "deadline")
        );
    }
    if meta
        .engines
        .iter()
        .any(|e| e.get("name").and_then(|v| v.as_str()) == Some("wamr"))
    {
        out.push_str(
            "\n`wamr` here is WAMR's **interpreter** (wamr-sys 0.1.1, WAMR of December 2020); the \
             paper ran WAMR **ahead-of-time** (wamrc with LLVM 10), which cannot be built here, so \
             its WAMR figures (memory 7.4×, CPU-bound 39% of Docker) are not like for like. That \
             WAMR has no SIMD: it runs the same workload sources built without `simd128`.\n",
        );
    }
    out.push('\n');
}

fn chart_block(out: &mut String, cx: &Context, device: &str, section: &Section) {
    for c in &section.charts {
        let _ = writeln!(
            out,
            "![{}](charts/{}.{})\n",
            c.title,
            c.stem(device),
            cx.images.ext()
        );
    }
}

/// The experiment's settings from the run's suite, compact.
fn settings_line(out: &mut String, ds: &Dataset, device: &str, experiment: Experiment) {
    if let Some(serde_json::Value::Object(map)) = ds.experiment_config(device, experiment) {
        let parts: Vec<String> = map
            .iter()
            .filter(|(k, _)| k.as_str() != "kind")
            .map(|(k, v)| format!("{k} = {}", v))
            .collect();
        let _ = writeln!(out, "Settings: `{}`\n", parts.join(", "));
    }
}

/// One experiment on one device: "not run", "every measurement failed" with the failures, or
/// its intro, charts, tables and settings.
fn experiment_section(out: &mut String, cx: &Context, device: &str, about: &About) {
    let ds = cx.ds;
    let experiment = about.experiment;
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
    let _ = writeln!(out, "{}\n", about.intro);
    let section = cx
        .sections
        .get(device)
        .and_then(|list| list.iter().find(|s| s.experiment == experiment));
    if let Some(section) = section {
        chart_block(out, cx, device, section);
        out.push_str(&section.tables);
    }
    settings_line(out, ds, device, experiment);
}

fn failures_section(out: &mut String, ds: &Dataset, device: &str, only: Option<Experiment>) {
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
