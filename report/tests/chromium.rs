//! Opens the report's index.html in headless Chromium and checks that every chart loaded (the
//! page's script writes the count into `data-charts-loaded`). Needs Chromium: on Debian,
//! `apt-get update && apt-get install -y chromium`; `CHROMIUM=/path/to/binary` overrides.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The value of `name="…"` on the `<body>` tag of a dumped DOM.
fn body_attr(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

#[test]
fn index_html_renders_every_chart_in_headless_chromium() {
    let chromium = find_chromium().unwrap_or_else(|| {
        panic!(
            "Chromium is needed to check that index.html renders its charts, and none was found \
             (looked for chromium, chromium-browser, google-chrome on PATH). Install it with \
             `apt-get update && apt-get install -y chromium`, or set CHROMIUM=/path/to/chromium."
        )
    });
    let run = common::fixture_copy("chromium");
    let s = wow_report::generate(&run).unwrap();
    assert!(!s.charts.is_empty());
    let profile = run.parent().unwrap().join("chromium-profile");
    let url = format!("file://{}", s.index_html.canonicalize().unwrap().display());
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("{} did not finish within 180 s", chromium.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let loaded = body_attr(&dom, "data-charts-loaded").unwrap_or_else(|| {
        panic!(
            "no data-charts-loaded on <body>; Chromium said:\n{}\n{dom}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let expected = body_attr(&dom, "data-charts-expected").unwrap();
    assert_eq!(expected, s.charts.len().to_string());
    assert_eq!(
        loaded,
        s.charts.len().to_string(),
        "charts that loaded in Chromium (of {expected}); stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::cleanup(&run);
}
