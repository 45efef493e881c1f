//! Isolation: guests that try to reach what a sandbox must not, and fail. No host files, no host
//! environment, no other run's or sandbox's memory, no sockets.
//!
//! The probing guest is a small Rust program (`tests/guests/probe`, no dependencies) built here
//! for wasm32-wasip1 into `target/test-guests`; the memory probes are WAT, so that the secret
//! they look for lives only in code, never in the scanner's own memory.

use crate::common;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use futures::future::join_all;
use serde_json::{Value, json};

/// The probe guest's `.wasm`, built once per test process (cargo skips it when up to date).
fn probe() -> Vec<u8> {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(build_probe).clone()
}

fn build_probe() -> Vec<u8> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crate_dir = here.join("tests").join("guests").join("probe");
    let target_dir = here
        .join("..")
        .join("..")
        .join("target")
        .join("test-guests");
    let mut cmd = Command::new("cargo");
    // Whatever the outer cargo set for this test build must not leak into the guest's.
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTUP_TOOLCHAIN",
            "CARGO_TARGET_DIR",
            "CARGO_MAKEFLAGS",
            "CARGO_INCREMENTAL",
        ]
        .contains(&k)
            || ["CARGO_PROFILE_", "CARGO_BUILD_", "CARGO_TARGET_", "__CARGO"]
                .iter()
                .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .current_dir(&crate_dir)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip1",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo to build the probe guest");
    assert!(
        out.status.success(),
        "building the probe guest failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(target_dir.join("wasm32-wasip1/release/wow-probe.wasm")).unwrap()
}

const K1: &str = "0x5ec2e70fa11ce001";
const K2: &str = "0x7e571501a7100002";

/// A WAT guest over 64 pages of memory. `write` fills pages 0.1–64 with a 16-byte secret whose
/// two halves exist only as `i64.const`s in code; `scan` counts the secret at every byte offset
/// of all of memory (after growing to 64 pages: the grown pages are scanned too). `_start` runs
/// `body` and prints `{"found":<count>}`.
fn memory_guest(body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "{{\"found\":")
  (func $write
    (local $p i32)
    (if (i32.lt_u (memory.size) (i32.const 64))
      (then (drop (memory.grow (i32.sub (i32.const 64) (memory.size))))))
    (local.set $p (i32.const 4096))
    (loop $l
      (i64.store (local.get $p) (i64.const {K1}))
      (i64.store offset=8 (local.get $p) (i64.const {K2}))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $p) (i32.const 4194304)))))
  (func $scan (result i32)
    (local $p i32) (local $n i32) (local $end i32)
    (if (i32.lt_u (memory.size) (i32.const 64))
      (then (drop (memory.grow (i32.sub (i32.const 64) (memory.size))))))
    (local.set $end (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 16)))
    (loop $l
      (if (i64.eq (i64.load (local.get $p)) (i64.const {K1}))
        (then (if (i64.eq (i64.load offset=8 (local.get $p)) (i64.const {K2}))
          (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $l (i32.le_u (local.get $p) (local.get $end))))
    (local.get $n))
  (func $print (param $n i32)
    (local $p i32)
    (local.set $p (i32.const 140))
    (i32.store8 (i32.const 140) (i32.const 125))
    (i32.store8 (i32.const 141) (i32.const 10))
    (loop $d
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $d (local.get $n)))
    ;; One iovec: WASI may write only the first of several.
    (local.set $p (i32.sub (local.get $p) (i32.const 9)))
    (memory.copy (local.get $p) (i32.const 100) (i32.const 9))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 142) (local.get $p)))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $n i32)
    {body}))"#
    ))
}

/// Writes the secret, then counts it: the scanner's own check.
fn writer() -> Vec<u8> {
    memory_guest("(call $write) (call $print (call $scan))")
}

/// Counts the secret in a fresh instance, then writes it for whoever comes next.
fn scan_then_write() -> Vec<u8> {
    memory_guest("(local.set $n (call $scan)) (call $write) (call $print (local.get $n))")
}

fn scanner() -> Vec<u8> {
    memory_guest("(call $print (call $scan))")
}

/// Secret pairs `write` stores: one per 16 bytes from 4 KiB to 4 MiB.
const PAIRS: u64 = (4_194_304 - 4096) / 16;

async fn found(rt: &Runtime, id: &str) -> u64 {
    let (s, v) = rt.run(id, json!({})).await;
    assert_eq!(s, 200, "{id}: {v}");
    v["found"].as_u64().unwrap()
}

async fn memory_stays_private(args: &[&str]) {
    let rt = Runtime::start(args);
    for (id, wasm) in [
        ("writer", writer()),
        ("scanner", scanner()),
        ("scan-then-write", scan_then_write()),
    ] {
        assert_eq!(rt.init(id, &wasm).await.0, 200);
    }
    // Another sandbox of the very code that writes the secret.
    assert_eq!(
        rt.init("scan-then-write-2", &scan_then_write()).await.0,
        200
    );
    for round in 0..6 {
        assert_eq!(
            found(&rt, "writer").await,
            PAIRS,
            "the scanner works (round {round})"
        );
        assert_eq!(
            found(&rt, "scanner").await,
            0,
            "another sandbox's secret was visible (round {round})"
        );
        assert_eq!(
            found(&rt, "scan-then-write").await,
            0,
            "an earlier run's secret was visible (round {round})"
        );
        assert_eq!(found(&rt, "scan-then-write-2").await, 0);
        // Concurrent runs: instances in flight at once share nothing either.
        let (a, b, c, d) = tokio::join!(
            found(&rt, "writer"),
            found(&rt, "scanner"),
            found(&rt, "scan-then-write"),
            found(&rt, "scanner"),
        );
        assert_eq!((a, b, c, d), (PAIRS, 0, 0, 0), "round {round}");
    }
}

#[tokio::test]
async fn no_run_sees_memory_of_another_run_or_sandbox_pooled() {
    memory_stays_private(&["--quiet-guests"]).await;
}

#[tokio::test]
async fn no_run_sees_memory_of_another_run_or_sandbox_on_demand() {
    memory_stays_private(&[
        "--quiet-guests",
        "--allocator",
        "on-demand",
        "--prewarm",
        "false",
    ])
    .await;
}

#[tokio::test]
async fn every_run_starts_from_fresh_globals() {
    let rt = Runtime::start(&["--quiet-guests"]);
    assert_eq!(rt.init("p", &probe()).await.0, 200);
    for _ in 0..5 {
        assert_eq!(
            rt.run("p", json!({"op": "count"})).await,
            (200, json!({"runs": 1}))
        );
    }
    let runs: Vec<_> = (0..8)
        .map(|_| rt.run("p", json!({"op": "count"})))
        .collect();
    for r in join_all(runs).await {
        assert_eq!(r, (200, json!({"runs": 1})));
    }
    // A WAT global, too.
    let global = wat(r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 48))
  (data (i32.const 64) "{\"g\":0}\n")
  (func (export "_start")
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store8 (i32.const 69) (global.get $g))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#);
    assert_eq!(rt.init("g", &global).await.0, 200);
    for _ in 0..5 {
        assert_eq!(rt.run("g", json!({})).await, (200, json!({"g": 1})));
    }
}

#[tokio::test]
async fn concurrent_runs_each_get_their_own_parameters() {
    let rt = Runtime::start(&["--quiet-guests"]);
    assert_eq!(rt.init("p", &probe()).await.0, 200);
    assert_eq!(rt.init("q", &workload("noop")).await.0, 200);
    let runs: Vec<_> = (0..32)
        .map(|i| {
            let rt = &rt;
            async move {
                let id = if i % 2 == 0 { "p" } else { "q" };
                let params = json!({"op": "echo", "i": i, "pad": "z".repeat(i * 997)});
                assert_eq!(rt.run(id, params.clone()).await, (200, params));
            }
        })
        .collect();
    join_all(runs).await;
}

#[tokio::test]
async fn the_guest_sees_no_host_files() {
    let rt = Runtime::start(&["--quiet-guests"]);
    assert_eq!(rt.init("p", &probe()).await.0, 200);
    let (s, v) = rt.run("p", json!({"op": "fs"})).await;
    assert_eq!(s, 200, "{v}");
    let attempts = v.as_object().unwrap();
    assert_eq!(attempts.len(), 7, "{v}");
    for (what, outcome) in attempts {
        let outcome = outcome.as_str().unwrap();
        // wasmer-wasix shows every guest a virtual root folder of its own: it can be listed and
        // stat'd, and nothing in it read or created.
        if engine() == wow_records::Engine::Wasmer
            && ["list .", "list /", "stat /"].contains(&what.as_str())
        {
            continue;
        }
        assert!(
            outcome.starts_with("error: "),
            "{what}: {outcome} (all: {v})"
        );
    }
    // Below the standard library: no descriptor is a preopened directory (but wasmer-wasix's
    // virtual root), and no path opens relative to any descriptor.
    let (s, v) = rt.run("p", json!({"op": "raw-fs"})).await;
    assert_eq!(s, 200, "{v}");
    if engine() == wow_records::Engine::Wasmer {
        assert_eq!(
            v["opened"],
            json!([]),
            "file descriptors reached the host: {v}"
        );
    } else {
        assert_eq!(
            v,
            json!({"preopens": [], "opened": []}),
            "file descriptors reached the host"
        );
    }
}

#[tokio::test]
async fn the_guest_cannot_open_sockets() {
    let rt = Runtime::start(&["--quiet-guests"]);
    assert_eq!(rt.init("p", &probe()).await.0, 200);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let addr = tcp.local_addr().unwrap();
    let udp = std::net::UdpSocket::bind(addr).ok();
    if let Some(u) = &udp {
        u.set_nonblocking(true).unwrap();
    }
    let (s, v) = rt
        .run("p", json!({"op": "connect", "arg": addr.to_string()}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["tcp"].as_str().unwrap().starts_with("error: "), "{v}");
    assert!(v["udp"].as_str().unwrap().starts_with("error: "), "{v}");
    assert_eq!(v["accepted"], json!([]), "{v}");
    // Nothing arrived, even a little later.
    tokio::time::sleep(Duration::from_millis(200)).await;
    match tcp.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
    if let Some(u) = udp {
        let mut buf = [0u8; 64];
        match u.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("the UDP socket got a datagram: {other:?}"),
        }
    }
}

/// An executor started with a distinctive variable in its own environment.
struct EnvExecutor {
    child: Child,
    url: String,
    dir: PathBuf,
    client: reqwest::Client,
}

impl EnvExecutor {
    fn start(vars: &[(&str, &str)]) -> EnvExecutor {
        let dir = tempdir("iso-env");
        let log = dir.join("stdout.log");
        let child = Command::new(env!("CARGO_BIN_EXE_wow-runtime"))
            .args(["--listen", "127.0.0.1:0", "--quiet-guests", "--cache-dir"])
            .arg(dir.join("cache"))
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let addr = loop {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(a) = out
                .lines()
                .find_map(|l| l.strip_prefix("wow-runtime listening on "))
            {
                break a.to_string();
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no start");
            std::thread::sleep(Duration::from_millis(20));
        };
        EnvExecutor {
            child,
            url: format!("http://{addr}"),
            dir,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

impl Drop for EnvExecutor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn the_guest_sees_only_its_init_env_and_the_activation_context() {
    let canary = ("WOW_ISOLATION_CANARY", "the host's own secret");
    let rt = EnvExecutor::start(&[canary, ("AWS_SECRET_ACCESS_KEY", "host-key")]);
    let (s, v) = rt
        .post(
            "/p/init",
            json!({"value": {"name": "probe-action", "main": "main", "binary": true,
                "code": b64(&probe()),
                "env": {"A": "1", "B": "two words", "N": 3, "O": {"k": [true]},
                        "A=B": "hidden", "NUL\u{0}": "hidden", "V": "a\u{0}b"}}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = deadline_in(60_000);
    let (s, v) = rt
        .post(
            "/p/run",
            json!({"value": {"op": "env"}, "namespace": "ns", "action_name": "/ns/probe",
                "activation_id": "act-1", "transaction_id": "tx-1", "deadline": deadline,
                "api_key": "key:1"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let env: BTreeMap<String, String> = serde_json::from_value(v["env"].clone()).unwrap();
    let expected: BTreeMap<String, String> = [
        ("A", "1"),
        ("B", "two words"),
        ("N", "3"),
        ("O", r#"{"k":[true]}"#),
        ("__OW_NAMESPACE", "ns"),
        ("__OW_ACTION_NAME", "/ns/probe"),
        ("__OW_ACTIVATION_ID", "act-1"),
        ("__OW_TRANSACTION_ID", "tx-1"),
        ("__OW_DEADLINE", deadline.as_str()),
        ("__OW_API_KEY", "key:1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(env, expected);
    assert_eq!(v["args"], json!(["probe-action"]));

    // A run without context sees the init env alone: nothing of the previous run's context.
    let (s, v) = rt.post("/p/run", json!({"value": {"op": "env"}})).await;
    assert_eq!(s, 200, "{v}");
    let keys: Vec<&str> = v["env"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["A", "B", "N", "O"]);
}
