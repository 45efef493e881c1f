//! OpenWhisk's canonical action-runtime cases and the protocol's error cases, against the real
//! `wow-runtime` over HTTP.

use crate::common;

use common::*;
use serde_json::json;
use wow_protocol::msg;

#[tokio::test]
async fn echoes_objects_unicode_and_a_large_string() {
    let rt = Runtime::start(&[]);
    let (s, v) = rt.init("", &workload("noop")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true);

    for params in [
        json!({}),
        json!({"a": 1, "nested": {"list": [1, 2, 3], "t": true, "n": null}}),
        json!({"unicode": "λ ☃ 🎉 — ünïcödé", "emoji": "😀"}),
    ] {
        let (s, v) = rt.run("", params.clone()).await;
        assert_eq!((s, v), (200, params));
    }
    // A string just under 1 MiB in total payload.
    let big = "x".repeat(1024 * 1024 - 64);
    let (s, v) = rt.run("", json!({ "s": big })).await;
    assert_eq!(s, 200);
    assert_eq!(v["s"].as_str().unwrap().len(), big.len());
}

#[tokio::test]
async fn init_twice_is_refused_with_openwhisks_message() {
    let rt = Runtime::start(&[]);
    let noop = workload("noop");
    assert_eq!(rt.init("", &noop).await.0, 200);
    let (s, v) = rt.init("", &noop).await;
    assert_eq!((s, v), (403, json!({"error": msg::REINIT})));
    // Same on a named sandbox.
    assert_eq!(rt.init("a", &noop).await.0, 200);
    assert_eq!(
        rt.init("a", &noop).await,
        (403, json!({"error": msg::REINIT}))
    );
}

#[tokio::test]
async fn init_without_code_or_with_bad_code_fails_clearly() {
    let rt = Runtime::start(&[]);
    let (s, v) = rt
        .post("/init", json!({"value": {"binary": true}}).to_string())
        .await;
    assert_eq!(s, 502);
    assert!(
        v["error"].as_str().unwrap().contains(msg::MISSING_CODE),
        "{v}"
    );

    let (s, v) = rt
        .post(
            "/init",
            json!({"value": {"binary": true, "code": "%%%not base64"}}).to_string(),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("decode"), "{v}");

    let (s, v) = rt.init("", b"this is not wasm at all").await;
    assert_eq!(s, 502);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly module"),
        "{v}"
    );

    // A failed init leaves the sandbox initialisable.
    let (s, _) = rt.init("", &workload("noop")).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn modules_that_are_not_wasi_commands_are_refused() {
    let rt = Runtime::start(&[]);
    let no_start = wat(r#"(module (memory (export "memory") 1) (func (export "main")))"#);
    let (s, v) = rt.init("a", &no_start).await;
    assert_eq!(s, 502);
    assert!(v["error"].as_str().unwrap().contains("_start"), "{v}");

    let foreign = wat(
        r#"(module (import "env" "launch_missiles" (func)) (memory (export "memory") 1)
            (func (export "_start")))"#,
    );
    let (s, v) = rt.init("b", &foreign).await;
    assert_eq!(s, 502);
    assert!(
        v["error"].as_str().unwrap().contains("launch_missiles"),
        "{v}"
    );

    let invalid = [b"\0asm".as_slice(), &[1, 0, 0, 0, 0xff, 0xff]].concat();
    let (s, v) = rt.init("c", &invalid).await;
    assert_eq!(s, 502, "{v}");
    assert!(
        rt.run("c", json!({})).await.0 == 404,
        "a failed named init is not kept"
    );
}

#[tokio::test]
async fn run_before_init_and_unknown_sandboxes() {
    let rt = Runtime::start(&[]);
    let (s, v) = rt.run("", json!({})).await;
    assert_eq!((s, v), (502, json!({"error": msg::NOT_INITIALIZED})));
    let (s, v) = rt.run("nope", json!({})).await;
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("nope"), "{v}");
    let (s, _) = rt.post("/nope/destroy", "").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn results_that_are_not_objects_are_a_502() {
    let rt = Runtime::start(&[]);
    for (i, out) in [
        &b"42\n"[..],
        b"\"just a string\"\n",
        b"{\"cut\": \n",
        b"\xff\xfe\n",
        b"",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("p{i}");
        assert_eq!(rt.init(&id, &printer(out)).await.0, 200);
        let (s, v) = rt.run(&id, json!({})).await;
        assert_eq!(
            (s, v),
            (502, json!({"error": msg::NOT_DICT_RESULT})),
            "output {out:?}"
        );
    }
    // An array is a valid result; logs before it are not part of it.
    assert_eq!(rt.init("arr", &printer(b"log line\n[1,2]\n")).await.0, 200);
    assert_eq!(rt.run("arr", json!({})).await, (200, json!([1, 2])));
}

#[tokio::test]
async fn bad_run_requests() {
    let rt = Runtime::start(&[]);
    assert_eq!(rt.init("", &workload("noop")).await.0, 200);
    let (s, v) = rt.post("/run", "{not json").await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = rt.post("/run", r#"{"value": 3}"#).await;
    assert_eq!((s, v), (404, json!({"error": msg::NOT_DICT_ARG})));
    let (s, v) = rt.post("/run", r#"{"value": {"s": "unterminated"#).await;
    assert_eq!(s, 400, "{v}");
    // Empty body = empty parameters, as actionproxy.py.
    let (s, v) = rt.post("/run", "").await;
    assert_eq!((s, v), (200, json!({})));
    // Over the payload limit, and over the body limit.
    let big = json!({"value": {"s": "x".repeat(1024 * 1024 + 10)}}).to_string();
    let (s, v) = rt.post("/run", big).await;
    assert_eq!(s, 413, "{v}");
    let huge = format!(r#"{{"value": {{}}, "pad": "{}"}}"#, "y".repeat(2 << 20));
    let (s, v) = rt.post("/run", huge).await;
    assert_eq!(s, 413, "{v}");
    // Still fine afterwards.
    assert_eq!(
        rt.run("", json!({"k": "v"})).await,
        (200, json!({"k": "v"}))
    );
}

#[tokio::test]
async fn logs_carry_the_activation_id_and_the_sentinel() {
    let rt = Runtime::start(&[]);
    assert_eq!(
        rt.init("p", &printer(b"hello from the guest\n{\"r\":1}\n"))
            .await
            .0,
        200
    );
    let (s, v) = rt
        .run_with("p", json!({"value": {}, "activation_id": "act-42"}))
        .await;
    assert_eq!((s, v), (200, json!({"r": 1})));
    let log = rt.stdout_log();
    let line = log
        .lines()
        .position(|l| l == "act-42 stdout: hello from the guest")
        .unwrap_or_else(|| panic!("log line missing in:\n{log}"));
    assert_eq!(
        log.lines().nth(line + 1),
        Some(wow_protocol::LOG_SENTINEL),
        "{log}"
    );
}

#[tokio::test]
async fn destroy_forgets_the_sandbox() {
    let rt = Runtime::start(&[]);
    let noop = workload("noop");
    assert_eq!(rt.init("d", &noop).await.0, 200);
    assert_eq!(rt.run("d", json!({"a": 1})).await.0, 200);
    assert_eq!(rt.post("/d/destroy", "").await, (200, json!({"ok": true})));
    assert_eq!(rt.run("d", json!({})).await.0, 404);
    // The id can be used again.
    assert_eq!(rt.init("d", &noop).await.0, 200);
}

#[tokio::test]
async fn artifact_cache_hits_in_memory_then_on_disk_after_restart() {
    let cache = private_tempdir("cache");
    let noop = workload("noop");
    {
        let rt = Runtime::start_with_cache(&cache, &[]);
        let (_, v) = rt.init("a", &noop).await;
        assert_eq!(v["artifact"], "compiled", "{v}");
        let (_, v) = rt.init("b", &noop).await;
        assert_eq!(v["artifact"], "memory", "{v}");
        let metrics = rt.get_text("/metrics").await;
        assert!(
            metrics.contains("wow_artifact_cache_hits_total{tier=\"memory\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("wow_artifact_compiles_total 1"),
            "{metrics}"
        );
        assert!(metrics.contains("wow_sandboxes 2"), "{metrics}");
    }
    let rt = Runtime::start_with_cache(&cache, &[]);
    let (_, v) = rt.init("c", &noop).await;
    assert_eq!(v["artifact"], "disk", "{v}");
    assert_eq!(rt.run("c", json!({"x": 1})).await, (200, json!({"x": 1})));
    std::fs::remove_dir_all(&cache).unwrap();
}

#[tokio::test]
async fn a_corrupt_cached_artifact_is_recompiled_not_loaded() {
    let cache = private_tempdir("cache");
    let noop = workload("noop");
    {
        let rt = Runtime::start_with_cache(&cache, &[]);
        assert_eq!(rt.init("a", &noop).await.1["artifact"], "compiled");
    }
    // Damage every cached artifact.
    for dir in std::fs::read_dir(&cache).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            std::fs::write(f.unwrap().path(), b"garbage").unwrap();
        }
    }
    let rt = Runtime::start_with_cache(&cache, &[]);
    let (s, v) = rt.init("a", &noop).await;
    assert_eq!((s, &v["artifact"]), (200, &json!("compiled")), "{v}");
    assert_eq!(rt.run("a", json!({"ok": 1})).await, (200, json!({"ok": 1})));
    std::fs::remove_dir_all(&cache).unwrap();
}

#[tokio::test]
async fn disk_cache_stays_within_its_bound() {
    let rt = Runtime::start(&["--cache-mb", "1"]);
    let noop = workload("noop");
    for i in 0..12 {
        let distinct =
            wow_artifacts::with_custom_section(&noop, "wowbench-id", format!("{i}").as_bytes());
        let (s, v) = rt.init(&format!("s{i}"), &distinct).await;
        assert_eq!((s, &v["artifact"]), (200, &json!("compiled")), "{v}");
    }
    let metrics = rt.get_text("/metrics").await;
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wow_artifact_cache_disk_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        bytes <= 1 << 20,
        "{bytes} bytes on disk > 1 MiB bound\n{metrics}"
    );
    assert!(
        !metrics.contains("wow_artifact_cache_disk_evictions_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn health_reports_the_allocator() {
    let rt = Runtime::start(&[]);
    let v: serde_json::Value = serde_json::from_str(&rt.get_text("/health").await).unwrap();
    assert_eq!(v["status"], "ok");
    assert!(["pooling", "on-demand"].contains(&v["allocator"]["kind"].as_str().unwrap()));
    let rt = Runtime::start(&["--allocator", "on-demand"]);
    let v: serde_json::Value = serde_json::from_str(&rt.get_text("/health").await).unwrap();
    assert_eq!(v["allocator"]["kind"], "on-demand");
}

/// The step timing a client can ask for (`x-wow-trace-timing`), as the harness's ladder reads
/// it: absent unless asked; when asked, the steps of a precompiled `/init` and of a `/run` in
/// the executor's order, each within the handler's total.
#[tokio::test]
async fn steps_are_answered_when_asked_and_only_then() {
    use std::time::Duration;
    use wow_runtime::timing;

    let rt = Runtime::start(&[]);
    let noop = workload("noop");
    let post = |path: String, body: String, traced: bool| {
        let mut r = rt.client.post(format!("{}{path}", rt.url)).body(body);
        if traced {
            r = r.header(timing::REQUEST_HEADER, "1");
        }
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.headers()
                .get("server-timing")
                .map(|v| timing::parse(v.to_str().unwrap()))
        }
    };
    let init = |name: &str| {
        json!({"value": {"name": name, "binary": true, "code": b64(&noop)}}).to_string()
    };
    let run = json!({"value": {}}).to_string();
    // Untraced: no header, on init and run.
    assert_eq!(post(route("a", "init"), init("a"), false).await, None);
    assert_eq!(post(route("a", "run"), run.clone(), false).await, None);
    // Traced, new code: decoded, checked, compiled.
    let other = json!({"value": {"binary": true, "code": b64(&workload("sleep"))}}).to_string();
    let steps = post(route("c", "init"), other, true).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "read", "parse", "slot", "digest", "cache", "decode", "check", "prepare", "action",
            "respond", "total"
        ]
    );
    // Traced, code sent before: found by its text's digest, neither decoded nor checked.
    let steps = post(route("b", "init"), init("b"), true).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "read", "parse", "slot", "digest", "cache", "prepare", "action", "respond", "total"
        ]
    );
    let within = |steps: &[(String, Duration)]| {
        let (total, parts) = steps.split_last().unwrap();
        let sum: Duration = parts.iter().map(|(_, d)| *d).sum();
        // Each value is rounded to the microsecond.
        assert!(
            sum <= total.1 + Duration::from_micros(parts.len() as u64),
            "{steps:?}"
        );
        assert!(total.1 > Duration::ZERO, "{steps:?}");
    };
    within(&steps);
    let steps = post(route("b", "run"), run, true).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..4], ["read", "parse", "admit", "io"], "{names:?}");
    assert!(
        names.contains(&"instance_pool") || names.contains(&"instantiate"),
        "{names:?}"
    );
    for step in ["guest", "output", "respond", "total"] {
        assert!(names.contains(&step), "{step} missing: {names:?}");
    }
    // The reference engine also times the guest's setup and its instance's return, and (its
    // pre-warm pool on, as by default) the pool's top-up.
    if engine() == wow_records::Engine::Wasmtime {
        assert!(
            names.contains(&"wasi") && names.contains(&"teardown") && names.contains(&"prewarm"),
            "{names:?}"
        );
    }
    within(&steps);
}
