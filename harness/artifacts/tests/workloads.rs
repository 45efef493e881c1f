//! The native workload binaries, driven as processes: results for sample inputs (expected values
//! computed independently, see each comment), defaults, the error contract and the action loop.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::{native, run};
use serde_json::{Value, json};
use wow_artifacts::WORKLOADS;

#[test]
fn every_workload_accepts_an_empty_object_and_empty_input() {
    for w in WORKLOADS {
        let input = if w == "sleep" { r#"{"ms": 1}"# } else { "{}" };
        let r = run(w, input).ok();
        assert!(r.is_object(), "{w}: {r}");
        if w != "sleep" {
            assert_eq!(run(w, "").ok(), r, "{w}: empty stdin must act as {{}}");
        }
    }
}

#[test]
fn noop_echoes_its_input() {
    let input = json!({"a": 1, "b": [true, null, "x"], "c": {"d": "é\n"}});
    assert_eq!(run("noop", &input.to_string()).ok(), input);
    assert_eq!(run("noop", "{}").ok(), json!({}));
}

// Expected digests computed with Python's `blake3` package (1.0.11, the official bindings):
//   d = blake3(input.encode()).digest(); repeat iterations-1 times: d = blake3(d).digest()
#[test]
fn hash_matches_reference_blake3() {
    let cases = [
        (
            json!({}),
            "ef98d2a1c09f0ecef06dfa67868890b5a62a7d92e6349ab222e63f8e4b77c4f0",
            1000,
        ),
        (
            // One iteration is plain BLAKE3: the published test vector for "abc".
            json!({"input": "abc", "iterations": 1}),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
            1,
        ),
        (
            json!({"input": "", "iterations": 3}),
            "2c67ac742a8062b4dd3df466c7fbac137b1c452030d1c362a821ac473d68154f",
            3,
        ),
        (
            json!({"input": "héllo wörld ✓", "iterations": 10}),
            "4251a1de82a74f161afe06b46ed4a880753844315a86d77d0bee7c5f9b2e1542",
            10,
        ),
    ];
    for (input, hex, iterations) in cases {
        let r = run("hash", &input.to_string()).ok();
        assert_eq!(
            r,
            json!({"hash": hex, "iterations": iterations}),
            "input {input}"
        );
    }
}

// Expected values from a plain Python sieve (and the known π(10⁴) = 1229, π(10⁶) = 78498).
#[test]
fn prime_counts_primes_below_n() {
    let cases = [
        (
            10_000,
            json!({"n": 10000, "count": 1229, "largest": 9973, "sum": 5736396}),
        ),
        (0, json!({"n": 0, "count": 0, "largest": null, "sum": 0})),
        (2, json!({"n": 2, "count": 0, "largest": null, "sum": 0})),
        (3, json!({"n": 3, "count": 1, "largest": 2, "sum": 2})),
        (10, json!({"n": 10, "count": 4, "largest": 7, "sum": 17})),
        (
            1_000_000,
            json!({"n": 1000000, "count": 78498, "largest": 999983, "sum": 37550402023u64}),
        ),
    ];
    for (n, expected) in cases {
        assert_eq!(run("prime", &json!({ "n": n }).to_string()).ok(), expected);
    }
    assert_eq!(run("prime", "{}").ok()["count"], 1229);
}

#[test]
fn sleep_sleeps_and_reports() {
    let started = std::time::Instant::now();
    assert_eq!(run("sleep", r#"{"ms": 20}"#).ok(), json!({"slept_ms": 20}));
    // A lower bound only: a busy machine may take longer, never shorter.
    assert!(started.elapsed().as_millis() >= 20);
    assert_eq!(run("sleep", r#"{"ms": 0}"#).ok(), json!({"slept_ms": 0}));
}

// Expected aggregates from a Python transcription of the generator (same SplitMix64 stream, same
// field order), serialised with json.dumps(separators=(",", ":"), ensure_ascii=False) for
// "bytes", filtered and aggregated in Python.
#[test]
fn json_aggregates_match_an_independent_transcription() {
    let r = run("json", r#"{"items": 50, "seed": 7}"#);
    let expected = json!({"bytes":8825,"categories":{
        "books":{"max_price_cents":34126,"orders":4,"revenue_cents":249598,"units":16},
        "games":{"max_price_cents":25419,"orders":3,"revenue_cents":293264,"units":19},
        "garden":{"max_price_cents":46271,"orders":10,"revenue_cents":1676979,"units":59},
        "kitchen":{"max_price_cents":30787,"orders":6,"revenue_cents":430648,"units":25},
        "music":{"max_price_cents":42919,"orders":4,"revenue_cents":419404,"units":16},
        "tools":{"max_price_cents":46935,"orders":7,"revenue_cents":821473,"units":39}},
        "customers":12,"items":50,"matched":34,"revenue_cents":3891366,"seed":7,"units":174});
    assert_eq!(r.ok(), expected);
    // Logs before the result line are allowed by the contract; json writes one.
    assert!(r.stdout.lines().count() >= 2, "{r:?}");

    let d = run("json", "{}").ok();
    assert_eq!(
        (
            &d["items"],
            &d["seed"],
            &d["bytes"],
            &d["matched"],
            &d["customers"]
        ),
        (
            &json!(1000),
            &json!(42),
            &json!(179950),
            &json!(704),
            &json!(233)
        )
    );
    assert_eq!(d["revenue_cents"], 96227400);
    assert_eq!(
        run("json", r#"{"items": 0, "seed": 1}"#).ok(),
        json!({"bytes":25,"categories":{},"customers":0,"items":0,"matched":0,"revenue_cents":0,"seed":1,"units":0})
    );
}

#[test]
fn image_pipeline_is_deterministic() {
    // 1×1, seed 9: the pixel is (36, 0, 48) from the first SplitMix64 output (Python
    // transcription); resizing to the same size is a copy; luma = (2126 R + 7152 G + 722 B) / 10⁴
    // = 11; the digest is Python blake3(bytes([11])).
    let one = run("image", r#"{"width": 1, "height": 1, "seed": 9}"#).ok();
    assert_eq!(one["out_width"], 1);
    assert_eq!(one["gray_sum"], 11);
    assert_eq!(
        one["gray_blake3"],
        "caebfd3859f5380eff54715148444178be18edefa3d1ceae275982f1a2824a91"
    );

    let r = run("image", "{}").ok();
    assert_eq!(
        (&r["width"], &r["height"], &r["out_width"], &r["out_height"]),
        (&json!(256), &json!(256), &json!(128), &json!(128))
    );
    // Regression values recorded from this build (identical in the Wasm build); not independent.
    assert_eq!(r["gray_sum"], 2090348);
    assert_eq!(
        r["gray_blake3"],
        "28b905b68483b5793a14952522dbdc587bcadc15a32b4f6251e4724eeee3ee7f"
    );
    assert_eq!(run("image", "{}").ok(), r, "same input, same result");
    assert_ne!(
        run("image", r#"{"seed": 43}"#).ok()["gray_blake3"],
        r["gray_blake3"]
    );
    let odd = run("image", r#"{"width": 33, "height": 7}"#).ok();
    assert_eq!(
        (&odd["out_width"], &odd["out_height"]),
        (&json!(16), &json!(3))
    );
}

#[test]
fn bad_input_gives_an_error_line_and_a_failure_status() {
    let not_objects = [
        "not json",
        "{\"unterminated\": ",
        "[1, 2]",
        "42",
        "\"s\"",
        "null",
    ];
    for w in WORKLOADS {
        for input in not_objects {
            let msg = run(w, input).error();
            assert!(
                msg.contains("JSON") || msg.contains("object"),
                "{w} {input:?}: {msg}"
            );
        }
    }
    let bad_params = [
        ("hash", r#"{"iterations": "many"}"#, "iterations"),
        ("hash", r#"{"iterations": 0}"#, "iterations"),
        ("hash", r#"{"iterations": 100000001}"#, "iterations"),
        ("hash", r#"{"iterations": 1.5}"#, "iterations"),
        ("hash", r#"{"input": 7}"#, "input"),
        ("prime", r#"{"n": -1}"#, "\"n\""),
        ("prime", r#"{"n": 50000001}"#, "\"n\""),
        ("prime", r#"{"n": [1]}"#, "\"n\""),
        ("sleep", r#"{"ms": 600001}"#, "ms"),
        ("sleep", r#"{"ms": "300"}"#, "ms"),
        ("json", r#"{"items": 200001}"#, "items"),
        ("json", r#"{"seed": -3}"#, "seed"),
        ("image", r#"{"width": 0}"#, "width"),
        ("image", r#"{"height": 5000}"#, "height"),
        ("image", r#"{"width": 4096, "height": 4096}"#, "pixels"),
        ("image", r#"{"seed": true}"#, "seed"),
    ];
    for (w, input, mentions) in bad_params {
        let msg = run(w, input).error();
        assert!(
            msg.contains(mentions),
            "{w} {input}: {msg:?} should mention {mentions}"
        );
    }
    // Unknown parameters are ignored.
    assert_eq!(
        run("sleep", r#"{"ms": 1, "other": 5}"#).ok(),
        json!({"slept_ms": 1})
    );
}

/// Starts `workload` in action-loop mode with a pipe on descriptor 3; returns the child and the
/// pipe's read end.
fn start_action_loop(
    workload: &str,
    extra_env: &[(&str, &str)],
) -> (std::process::Child, std::io::PipeReader) {
    let (reader, writer) = std::io::pipe().unwrap();
    let fd = writer.as_raw_fd();
    let mut cmd = Command::new(native(workload));
    cmd.env(wow_protocol::ACTIONLOOP_ENV, "1")
        .envs(extra_env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let target = wow_protocol::ACTIONLOOP_RESULT_FD;
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                // Already in place: just let it survive exec.
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(writer); // the child holds the only write end now, so EOF means it exited
    (child, reader)
}

#[test]
fn action_loop_serves_several_activations_in_one_process() {
    let (mut child, reader) = start_action_loop("hash", &[]);
    let mut results = BufReader::new(reader);
    let mut stdin = child.stdin.take().unwrap();
    let mut line = String::new();

    let activations = [
        (
            json!({"value": {"input": "abc", "iterations": 1}, "activation_id": "a1",
                   "deadline": "1700000000000", "namespace": "ns"}),
            json!({"hash": "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
                   "iterations": 1}),
        ),
        (
            json!({"value": {}, "activation_id": "a2"}),
            json!({"hash": "ef98d2a1c09f0ecef06dfa67868890b5a62a7d92e6349ab222e63f8e4b77c4f0",
                   "iterations": 1000}),
        ),
        (
            json!({"value": {"iterations": -1}, "activation_id": "a3"}),
            Value::Null, // an error
        ),
        (
            json!({"value": {"input": "abc", "iterations": 1}}),
            json!({"hash": "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
                   "iterations": 1}),
        ),
    ];
    for (envelope, expected) in activations {
        writeln!(stdin, "{envelope}").unwrap();
        stdin.flush().unwrap();
        line.clear();
        results.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "one line per activation: {line:?}");
        let got: Value = serde_json::from_str(&line).unwrap();
        if expected.is_null() {
            assert!(
                got["error"].as_str().unwrap().contains("iterations"),
                "{got}"
            );
        } else {
            assert_eq!(got, expected);
        }
    }
    // A malformed envelope is answered with an error line; the loop goes on.
    writeln!(stdin, "not json").unwrap();
    line.clear();
    results.read_line(&mut line).unwrap();
    assert!(serde_json::from_str::<Value>(&line).unwrap()["error"].is_string());

    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exits cleanly at EOF: {out:?}");
    line.clear();
    assert_eq!(
        results.read_line(&mut line).unwrap(),
        0,
        "nothing after EOF: {line:?}"
    );
    // Results never go to stdout, which stays for logs.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("6437b3ac"));
}

#[test]
fn action_loop_sets_context_env_and_acknowledges_when_asked() {
    let (mut child, reader) = start_action_loop("noop", &[("__OW_WAIT_FOR_ACK", "1")]);
    let mut results = BufReader::new(reader);
    let mut stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    results.read_line(&mut line).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"ok": true})
    );
    for i in 0..2 {
        let envelope = json!({"value": {"i": i}, "activation_id": format!("id{i}")});
        writeln!(stdin, "{envelope}").unwrap();
        line.clear();
        results.read_line(&mut line).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"i": i})
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn action_loop_without_descriptor_3_fails_clearly() {
    let mut cmd = Command::new(native("noop"));
    cmd.env(wow_protocol::ACTIONLOOP_ENV, "1")
        .stdin(Stdio::null());
    // SAFETY: only close(2) between fork and exec. Descriptor 3 may be open in the test process.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(wow_protocol::ACTIONLOOP_RESULT_FD);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("descriptor 3"));
}
