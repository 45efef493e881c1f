//! Hostile input against the real `wow-runtime` over HTTP: broken requests, code that is not an
//! action, guests that misbehave in every way a benchmark workload could, and lifecycle races.
//!
//! Every case checks the precise status and `{"error": …}` message, then that the process is
//! alive, that a fresh `noop` sandbox answers correctly, and that a bystander sandbox initialised
//! before the case still answers. Each case is its own test, `hostile_inputs::<name>`, on an
//! executor of its own, and prints its number and title when it runs;
//! `hostile_inputs::catalogue` prints the numbered list and the count (`--nocapture` shows them).
//! A new case is one more entry in the table at the end.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use futures::future::join_all;
use serde_json::{Value, json};
use wow_protocol::{auth, msg};
use wow_records::Engine;

/// A small WASI command that writes `{"ok":true}`; with a distinct custom section per copy it
/// makes thousands of distinct modules that compile in a millisecond.
const TINY: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"ok\":true}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

const EXIT_3: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 3))))"#;
/// `fd_write` with its iovec array far outside linear memory.
const WILD_POINTER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $w (i32.const 1) (i32.const 0x7fff0000) (i32.const 1) (i32.const 8)))))"#;

/// Writes 64 KiB to `fd` 1,600 times: 100 MiB.
fn flood(fd: u32) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $l
      (drop (call $w (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1600))))))"#
    ))
}

/// Prints `{"s":"xxx…"}` with a string of `chunks` × 64 KiB: a result over the payload limit.
fn big_result(chunks: u32) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 3)
  (data (i32.const 64) "{{\"s\":\"")
  (data (i32.const 80) "\"}}\n")
  (func $out (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $i i32)
    (memory.fill (i32.const 65536) (i32.const 120) (i32.const 65536))
    (call $out (i32.const 64) (i32.const 6))
    (loop $l
      (call $out (i32.const 65536) (i32.const 65536))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {chunks}))))
    (call $out (i32.const 80) (i32.const 3))))"#
    ))
}

/// How a case's executor runs: its flags, and whether it shares the artifact cache folder.
struct Executor {
    args: &'static [&'static str],
    /// A shared folder (see `shared_cache`) spares each executor compiling `noop` again; a case
    /// that counts the cache's files keeps a folder of its own.
    shared_cache: bool,
}

/// The executor most cases run on: a 64 MiB memory cap, an 8 MiB output cap and a 1 MiB cache.
const MAIN: Executor = Executor {
    args: &[
        "--memory-mb",
        "64",
        "--output-bytes",
        "8388608",
        "--cache-mb",
        "1",
        "--quiet-guests",
    ],
    shared_cache: true,
};

/// `MAIN` writing the guests' logs and end-of-activation markers, for the cases that read them.
const LOGGING: Executor = Executor {
    args: &[
        "--memory-mb",
        "64",
        "--output-bytes",
        "8388608",
        "--cache-mb",
        "1",
    ],
    shared_cache: true,
};

/// `MAIN` with an artifact cache folder of its own.
const MAIN_OWN_CACHE: Executor = Executor {
    shared_cache: false,
    ..MAIN
};

/// `--max-sandboxes 6`, allocating instances on demand, so the memory cases run without the
/// pool's checks.
const CAPPED: Executor = Executor {
    args: &[
        "--max-sandboxes",
        "6",
        "--memory-mb",
        "64",
        "--allocator",
        "on-demand",
        "--quiet-guests",
    ],
    shared_cache: true,
};

/// `--max-timeout-ms 500`: every run's deadline is clamped to half a second.
const CLAMPED: Executor = Executor {
    args: &["--max-timeout-ms", "500", "--quiet-guests"],
    shared_cache: true,
};

/// `--max-timeout-ms 400` under a default timeout of an hour.
const CLAMPED_DEFAULT: Executor = Executor {
    args: &[
        "--max-timeout-ms",
        "400",
        "--timeout-ms",
        "3600000",
        "--quiet-guests",
    ],
    shared_cache: true,
};

/// `--code-budget-mb 4`: a few distinct modules fill the compiled-code budget (wasmer's compiled
/// `noop` is 0.6 MiB).
const CODE_CAPPED: Executor = Executor {
    args: &["--code-budget-mb", "4", "--quiet-guests"],
    shared_cache: true,
};

/// `--compile-concurrency 1`: one compile at a time.
const ONE_COMPILER: Executor = Executor {
    args: &["--compile-concurrency", "1", "--quiet-guests"],
    shared_cache: true,
};

/// `--memory-budget-mb 2 --max-queue 1`: one `sleep` instance (17 pages) fits, a second waits,
/// a third is refused.
const MEMORY_BUDGET_2MB: Executor = Executor {
    args: &[
        "--memory-budget-mb",
        "2",
        "--max-queue",
        "1",
        "--prewarm",
        "false",
        "--quiet-guests",
    ],
    shared_cache: true,
};

/// One pooling-allocator slot, no pre-warming: a second run waits for the first's slot.
const ONE_SLOT: Executor = Executor {
    args: &[
        "--allocator",
        "pooling",
        "--pool-slots",
        "1",
        "--prewarm",
        "false",
        "--quiet-guests",
    ],
    shared_cache: true,
};

/// The artifact cache folder the cases' executors share, under the target directory. Executors
/// index it when they start and tolerate each other's writes and evictions (a missing or
/// unloadable file is compiled again).
fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-artifact-cache")
}

/// The `noop` workload's bytes, read once per test process.
fn noop() -> Vec<u8> {
    static NOOP: OnceLock<Vec<u8>> = OnceLock::new();
    NOOP.get_or_init(|| workload("noop")).clone()
}

/// One case's executor, with a bystander sandbox that lives through the case.
struct Suite {
    rt: Runtime,
    noop: Vec<u8>,
    bystander: String,
    /// The case's title, as listed.
    case: &'static str,
    /// Whether the case checked that nothing else broke (every case ends so).
    checked: bool,
}

impl Suite {
    /// Prints the case's number and title, then starts its executor.
    async fn start(test: &str, case: &'static str, executor: Executor) -> Suite {
        println!("{:3}. {case}", number(test));
        let rt = if executor.shared_cache {
            Runtime::start_with_cache(&shared_cache(), executor.args)
        } else {
            Runtime::start(executor.args)
        };
        let noop = noop();
        let bystander = format!("bystander-{}", unique());
        let (s, v) = rt.init(&bystander, &noop).await;
        assert_eq!(s, 200, "bystander init: {v}");
        Suite {
            rt,
            noop,
            bystander,
            case,
            checked: false,
        }
    }

    /// Asserts an error answer, then that nothing else broke.
    async fn expect_error(&mut self, got: (u16, Value), status: u16, fragment: &str) {
        let case = self.case;
        let (s, v) = got;
        assert_eq!(s, status, "{case}: status, body {v}");
        let err = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no error string in {v}"));
        assert!(
            err.contains(fragment),
            "{case}: error {err:?} lacks {fragment:?}"
        );
        assert_eq!(
            v.as_object().map(|o| o.len()),
            Some(1),
            "{case}: the error body has only `error`: {v}"
        );
        self.still_fine().await;
    }

    /// Asserts a successful answer, then that nothing else broke.
    async fn expect_ok(&mut self, got: (u16, Value), body: Value) {
        assert_eq!(got, (200, body), "{}", self.case);
        self.still_fine().await;
    }

    /// The process lives, a fresh `noop` sandbox answers, the bystander answers; the case counts.
    async fn still_fine(&mut self) {
        let case = self.case;
        assert!(self.rt.alive(), "{case}: the executor died");
        let id = format!("after-{}", unique());
        let (s, v) = self.rt.init(&id, &self.noop).await;
        assert_eq!(s, 200, "{case}: noop init afterwards: {v}");
        let params = json!({"after": case, "n": [1, 2, 3]});
        assert_eq!(
            self.rt.run(&id, params.clone()).await,
            (200, params),
            "{case}: noop run afterwards"
        );
        assert_eq!(
            self.rt.post(&route(&id, "destroy"), "").await,
            (200, json!({"ok": true}))
        );
        let params = json!({"bystander": case});
        assert_eq!(
            self.rt.run(&self.bystander, params.clone()).await,
            (200, params),
            "{case}: the bystander was disturbed"
        );
        assert!(!self.checked, "{case}: checked twice");
        self.checked = true;
    }

    /// Ends the case: it must have checked, once, that nothing else broke.
    fn done(self) {
        assert!(
            self.checked,
            "{}: never checked that nothing else broke",
            self.case
        );
    }

    /// Inits `wasm` as a new sandbox (expecting success) and returns its id.
    async fn sandbox(&self, wasm: &[u8]) -> String {
        let id = format!("guest-{}", unique());
        let (s, v) = self.rt.init(&id, wasm).await;
        assert_eq!(s, 200, "init of {id}: {v}");
        id
    }

    /// Inits `n` `noop` sandboxes that hold their places; returns their ids.
    async fn hold(&self, n: usize) -> Vec<String> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(self.sandbox(&self.noop).await);
        }
        held
    }

    /// Inits `wasm` in a new sandbox and runs it with a deadline `ms` from now.
    async fn run_guest(&self, wasm: &[u8], params: Value, ms: u64) -> (u16, Value) {
        let id = self.sandbox(wasm).await;
        let got = self
            .rt
            .run_with(
                &id,
                json!({"value": params, "deadline": deadline_in(ms), "activation_id": id}),
            )
            .await;
        self.rt.post(&route(&id, "destroy"), "").await;
        got
    }

    async fn init_body(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let id = format!("init-{}", unique());
        let got = self.rt.post(&route(&id, "init"), body).await;
        if got.0 == 200 {
            // Unexpected; `expect_error` reports it with the case's name.
            self.rt.post(&route(&id, "destroy"), "").await;
        } else {
            // A failed init keeps no sandbox.
            assert_eq!(self.rt.run(&id, json!({})).await.0, 404, "{id} was kept");
        }
        got
    }

    /// Posts a body over the route's limit. The server reads an oversized body to its end
    /// before answering (or, past its bound, closes the connection and says so), so the client
    /// gets the 413 and its next request on the same connection pool works.
    async fn oversized(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .rt
            .client
            .post(format!("{}{path}", self.rt.url))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        let got = (
            status,
            serde_json::from_str(&r.text().await.unwrap()).unwrap(),
        );
        let (s, _) = self.rt.post("/health-after-oversized/destroy", "").await;
        assert_eq!(s, 404, "the request after POST {path} failed");
        got
    }

    async fn run_body(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let id = self.sandbox(&self.noop).await;
        let got = self.rt.post(&route(&id, "run"), body).await;
        self.rt.post(&route(&id, "destroy"), "").await;
        got
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

fn init_json(code: Value, binary: Value) -> String {
    json!({"value": {"name": "x", "main": "main", "code": code, "binary": binary}}).to_string()
}

/// A WASI command Cranelift takes seconds to compile: `funcs` functions of `ops` arithmetic
/// steps each (none of them called), distinct on every call so no cache holds it yet.
fn slow_to_compile(funcs: usize, ops: usize) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut text = format!(
        "(module (memory (export \"memory\") 1) (@custom \"tag\" \"{}-{nanos}\")\n",
        unique()
    );
    for f in 0..funcs {
        text.push_str(&format!(
            "(func $f{f} (param i64) (result i64) (local i64) (local.set 1 (local.get 0))\n"
        ));
        for k in 0..ops {
            text.push_str(&format!(
                "(local.set 1 (i64.add (i64.mul (local.get 1) (i64.const {})) (i64.rotl (local.get 0) (local.get 1))))\n",
                2 * k + 3
            ));
        }
        text.push_str("(local.get 1))\n");
    }
    text.push_str("(func (export \"_start\")))");
    wat(&text)
}

/// Sends `body` to `path` on a raw connection, without reading the answer: the caller hangs
/// up when it likes by dropping the connection.
async fn send_raw(rt: &Runtime, path: &str, body: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = rt.url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body.as_bytes()).await.unwrap();
    tcp
}

/// `wasm` with a custom section `tag` appended: the same code under another digest.
fn tagged(wasm: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(3, &mut payload);
    payload.extend_from_slice(b"tag");
    payload.extend_from_slice(tag.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// The value of the unlabelled metric `name` now.
async fn metric_now(rt: &Runtime, name: &str) -> u64 {
    metric(&rt.get_text("/metrics").await, name)
}

/// Thousands of distinct modules through a small artifact cache: memory entries and disk bytes
/// stay bounded, and destroyed sandboxes do not pile up.
async fn churn(s: &mut Suite) {
    const N: usize = 2_000;
    let tiny = wat(TINY);
    let before = s.rt.get_text("/metrics").await;
    let sandboxes_before = metric(&before, "wow_sandboxes");
    let t = Instant::now();
    let mut max_entries = 0;
    for batch in 0..N / 100 {
        let inits: Vec<_> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                let wasm = wow_artifacts::with_custom_section(
                    &tiny,
                    "wowbench-id",
                    n.to_string().as_bytes(),
                );
                let rt = &s.rt;
                async move {
                    let id = format!("churn-{n}");
                    let (st, v) = rt.init(&id, &wasm).await;
                    assert_eq!((st, &v["artifact"]), (200, &json!("compiled")), "{v}");
                    if n % 250 == 0 {
                        assert_eq!(rt.run(&id, json!({})).await, (200, json!({"ok": true})));
                    }
                    assert_eq!(rt.post(&route(&id, "destroy"), "").await.0, 200);
                }
            })
            .collect();
        join_all(inits).await;
        let m = s.rt.get_text("/metrics").await;
        max_entries = max_entries.max(metric(&m, "wow_artifact_cache_memory_entries"));
        assert!(
            metric(&m, "wow_artifact_cache_disk_bytes") <= 1 << 20,
            "{m}"
        );
    }
    let m = s.rt.get_text("/metrics").await;
    assert!(max_entries <= 256, "memory entries reached {max_entries}");
    assert!(metric(&m, "wow_artifact_compiles_total") >= N as u64, "{m}");
    // An interpreter's artifact is the (tiny) module itself: these fit without eviction.
    if engine() == Engine::Wasmtime || engine() == Engine::Wasmer {
        assert!(
            metric(&m, "wow_artifact_cache_disk_evictions_total") > 0,
            "{m}"
        );
    }
    assert_eq!(metric(&m, "wow_sandboxes"), sandboxes_before, "{m}");
    // What is on disk agrees with the metric.
    let cache = s.rt.dir.join("cache");
    let mut files = 0;
    let mut bytes = 0;
    for d in std::fs::read_dir(&cache).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let f = f.unwrap();
            files += 1;
            bytes += f.metadata().unwrap().len();
        }
    }
    assert!(bytes <= 1 << 20, "{files} files, {bytes} bytes on disk");
    assert_eq!(bytes, metric(&m, "wow_artifact_cache_disk_bytes"));
    println!(
        "cache churn: {N} distinct inits and destroys in {:?}; at most {max_entries} modules in memory, {files} artifacts ({bytes} bytes) on disk",
        t.elapsed()
    );
    let got = s.rt.run("churn-0", json!({})).await;
    s.expect_error(got, 404, "No sandbox named").await;
}

/// An executor that requires the bearer token `token` (from a file).
fn protected_runtime(token: &str) -> Runtime {
    // A file per executor: the cases run at once, and a file being rewritten reads empty.
    let file =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-token-{}", unique()));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let file = file.display().to_string();
    Runtime::start_with_cache(
        &shared_cache(),
        &["--quiet-guests", "--auth-token-file", &file],
    )
}

/// A request with an `Authorization` header (`None`: without one): status, body, the
/// `www-authenticate` header.
async fn with_auth(
    rt: &Runtime,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: String,
) -> (u16, String, Option<String>) {
    let mut request = rt
        .client
        .request(method.parse().unwrap(), format!("{}{path}", rt.url))
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.text().await.unwrap(), challenge)
}

/// Every route of a protected executor refuses `auth` (401, `message`) while `/health` answers;
/// the refused inits installed nothing: the right token then opens every route. Returns the
/// refused `/init`'s answer.
async fn refused_without(noop: &[u8], auth: Option<&str>, message: &str) -> (u16, Value) {
    let rt = protected_runtime("the-right-token");
    let init = json!({"value": {"name": "x", "binary": true, "code": b64(noop)}}).to_string();
    let run = json!({"value": {"k": 1}}).to_string();
    let (status, got, _) = with_auth(&rt, "POST", "/init", auth, init.clone()).await;
    let refusal = wow_protocol::error_body(message);
    for (method, path, body) in [
        ("POST", "/run", &run),
        ("POST", "/sb/init", &init),
        ("POST", "/sb/run", &run),
        ("POST", "/sb/destroy", &String::new()),
        ("GET", "/metrics", &String::new()),
        ("GET", "/no/such/route", &String::new()),
    ] {
        let r = with_auth(&rt, method, path, auth, body.clone()).await;
        assert_eq!(
            r,
            (401, refusal.clone(), Some("Bearer".into())),
            "{method} {path}"
        );
    }
    let health = with_auth(&rt, "GET", "/health", auth, String::new()).await;
    assert_eq!(health.0, 200);
    let right = Some("Bearer the-right-token");
    for (method, path, body, answer) in [
        ("POST", "/init", &init, None),
        ("POST", "/run", &run, Some(r#"{"k":1}"#)),
        ("POST", "/sb/init", &init, None),
        ("POST", "/sb/run", &run, Some(r#"{"k":1}"#)),
        ("GET", "/metrics", &String::new(), None),
        (
            "POST",
            "/sb/destroy",
            &String::new(),
            Some(r#"{"ok":true}"#),
        ),
    ] {
        let (s, text, _) = with_auth(&rt, method, path, right, body.clone()).await;
        assert_eq!(s, 200, "{method} {path} with the token: {text}");
        if let Some(answer) = answer {
            assert_eq!(text, answer, "{method} {path}");
        }
    }
    (status, serde_json::from_str(&got).unwrap())
}

/// Writes a log line to stderr, then one to stdout and the result `{"k":1}`.
const LOGS_A_LINE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "a log line\n{\"k\":1}\n")
  (data (i32.const 128) "an error line\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 128))
    (i32.store (i32.const 4) (i32.const 14))
    (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 19))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

/// An activation id that would end the activation's logs early and forge a line of its own.
const FORGING_ID: &str = "x\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\nforged line";

/// A case's number: its place in the table, from 1.
fn number(test: &str) -> usize {
    1 + CASES
        .iter()
        .position(|(t, _)| *t == test)
        .unwrap_or_else(|| panic!("{test} is not in the table"))
}

/// Makes each entry `name: "title" on EXECUTOR => |s| { … }` the test `hostile_inputs::name`:
/// it starts an `EXECUTOR` as `s` (a `Suite`), runs the body, which ends with `s.expect_error`
/// or `s.expect_ok`, and checks that it did. `CASES` lists the entries in order.
macro_rules! hostile_cases {
    ($($test:ident: $title:literal on $executor:ident => |$s:ident| $body:block)*) => {
        /// Every case's test name and title, in the table's order.
        const CASES: &[(&str, &str)] = &[$((stringify!($test), $title)),*];

        mod hostile_inputs {
            use super::*;

            /// The numbered list of cases and their count, printed in one piece.
            #[test]
            fn catalogue() {
                let mut list = String::from("wow-runtime hostile cases:\n");
                for (i, (_, title)) in CASES.iter().enumerate() {
                    list += &format!("{:3}. {title}\n", i + 1);
                }
                println!("{list}total: {} cases", CASES.len());
                let distinct: HashSet<&str> = CASES.iter().map(|(_, title)| *title).collect();
                assert_eq!(distinct.len(), CASES.len(), "case names repeat");
                assert!(CASES.len() >= 50, "only {} cases", CASES.len());
            }

            $(
                #[tokio::test]
                async fn $test() {
                    let mut $s = Suite::start(stringify!($test), $title, $executor).await;
                    $body
                    $s.done();
                }
            )*
        }
    };
}

hostile_cases! {
    init_invalid_base64: "init: invalid base64" on MAIN => |s| {
        let got = s
            .init_body(init_json(json!("%%% not base64 %%%"), json!(true)))
            .await;
        s.expect_error(got, 400, "decode").await;
    }

    init_not_wasm: "init: bytes that are not Wasm" on MAIN => |s| {
        let got = s
            .init_body(init_json(
                json!(b64(b"\x7fELF\x02\x01\x01 a native binary")),
                json!(true),
            ))
            .await;
        s.expect_error(got, 502, "not a WebAssembly module").await;
    }

    init_wat_text: "init: WebAssembly text instead of a binary" on MAIN => |s| {
        let got = s
            .init_body(init_json(json!("(module)"), json!(false)))
            .await;
        s.expect_error(got, 502, "not a WebAssembly module").await;
    }

    init_truncated_wasm: "init: truncated Wasm" on MAIN => |s| {
        let truncated = &s.noop[..s.noop.len() / 2];
        let got = s
            .init_body(init_json(json!(b64(truncated)), json!(true)))
            .await;
        s.expect_error(got, 502, "does not compile").await;
    }

    init_section_past_end: "init: Wasm with a section past the end" on MAIN => |s| {
        let got = s
            .init_body(init_json(
                json!(b64(b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f")),
                json!(true),
            ))
            .await;
        s.expect_error(got, 502, "does not compile").await;
    }

    init_no_start: "init: not a WASI command (no _start)" on MAIN => |s| {
        let reactor = wat(r#"(module (memory (export "memory") 1) (func (export "main")))"#);
        let got = s
            .init_body(init_json(json!(b64(&reactor)), json!(true)))
            .await;
        s.expect_error(got, 502, "_start").await;
    }

    init_start_not_a_function: "init: _start is not a function" on MAIN => |s| {
        let start_global = wat(
            r#"(module (memory (export "memory") 1) (global (export "_start") i32 (i32.const 0)))"#,
        );
        let got = s
            .init_body(init_json(json!(b64(&start_global)), json!(true)))
            .await;
        s.expect_error(got, 502, "_start").await;
    }

    init_start_takes_parameters: "init: _start takes parameters" on MAIN => |s| {
        let start_params = wat(
            r#"(module (memory (export "memory") 1) (func (export "_start") (param i32) (result i32) (local.get 0)))"#,
        );
        let got = s
            .init_body(init_json(json!(b64(&start_params)), json!(true)))
            .await;
        s.expect_error(got, 502, "_start").await;
    }

    init_unknown_host_function:
        "init: imports a host function that does not exist" on MAIN => |s| {
        let foreign = wat(
            r#"(module (import "env" "launch_missiles" (func)) (memory (export "memory") 1)
                (func (export "_start")))"#,
        );
        let got = s
            .init_body(init_json(json!(b64(&foreign)), json!(true)))
            .await;
        s.expect_error(got, 502, "launch_missiles").await;
    }

    init_wasi_function_wrong_type:
        "init: imports a WASI function with the wrong type" on MAIN => |s| {
        let wrong_sig = wat(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i64)))
                (memory (export "memory") 1) (func (export "_start")))"#,
        );
        let got = s
            .init_body(init_json(json!(b64(&wrong_sig)), json!(true)))
            .await;
        s.expect_error(got, 502, "cannot be linked").await;
    }

    init_imports_memory: "init: imports a memory" on MAIN => |s| {
        let imported_memory =
            wat(r#"(module (import "env" "memory" (memory 1)) (func (export "_start")))"#);
        let got = s
            .init_body(init_json(json!(b64(&imported_memory)), json!(true)))
            .await;
        s.expect_error(got, 502, "cannot be linked").await;
    }

    init_start_function_loops: "init: a start function that never returns" on MAIN => |s| {
        // A start function runs at instantiation, outside any run's deadline and WASI context.
        let start_loop = wat(
            r#"(module (memory (export "memory") 1) (func $s (loop $l (br $l))) (start $s)
                (func (export "_start")))"#,
        );
        let got = s
            .init_body(init_json(json!(b64(&start_loop)), json!(true)))
            .await;
        s.expect_error(got, 502, "start function").await;
    }

    init_memory_over_limit: "init: initial memory over the memory limit" on MAIN => |s| {
        // 2,000 pages = 125 MiB initial memory, over the 64 MiB cap of this suite.
        let huge_memory =
            wat(r#"(module (memory (export "memory") 2000) (func (export "_start")))"#);
        let got = s
            .init_body(init_json(json!(b64(&huge_memory)), json!(true)))
            .await;
        // Refused before any engine compiles it.
        s.expect_error(got, 502, "is over the memory limit").await;
    }

    init_huge_table: "init: a table of five million elements" on MAIN => |s| {
        let huge_table = wat(
            r#"(module (memory (export "memory") 1) (table 5000000 funcref) (func (export "_start")))"#,
        );
        let got = s
            .init_body(init_json(json!(b64(&huge_table)), json!(true)))
            .await;
        s.expect_error(got, 502, "table").await;
    }

    init_truncated_json: "init: truncated JSON" on MAIN => |s| {
        let got = s.init_body("{\"value\": {\"code\": ").await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    init_malformed_json: "init: malformed JSON" on MAIN => |s| {
        let got = s.init_body("this is not JSON").await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    init_empty_body: "init: empty body" on MAIN => |s| {
        let got = s.init_body("").await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    init_value_a_string: "init: `value` a string" on MAIN => |s| {
        let got = s.init_body(json!({"value": "a string"}).to_string()).await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    init_code_a_number: "init: `code` a number" on MAIN => |s| {
        let got = s.init_body(init_json(json!(12345), json!(true))).await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    init_binary_a_string: "init: `binary` a string" on MAIN => |s| {
        let noop_b64 = b64(&s.noop);
        let got = s.init_body(init_json(json!(noop_b64), json!("yes"))).await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    init_no_code: "init: no code" on MAIN => |s| {
        let got = s
            .init_body(json!({"value": {"binary": true}}).to_string())
            .await;
        s.expect_error(got, 502, msg::MISSING_CODE).await;
    }

    init_oversized_body: "init: body over the init limit" on MAIN => |s| {
        let huge = format!(
            r#"{{"value": {{"binary": true, "code": "{}"}}}}"#,
            "A".repeat(wow_protocol::MAX_INIT_BODY_BYTES)
        );
        let got = s.oversized("/oversized/init", huge).await;
        s.expect_error(got, 413, "over the limit").await;
    }

    init_twice: "init: a second init of a sandbox" on MAIN => |s| {
        let id = s.sandbox(&s.noop).await;
        let got = s.rt.init(&id, &s.noop).await;
        s.expect_error(got, 403, msg::REINIT).await;
        s.rt.post(&route(&id, "destroy"), "").await;
    }

    guest_traps: "guest: traps" on MAIN => |s| {
        let got = s.run_guest(&wat(TRAP), json!({}), 30_000).await;
        s.expect_error(got, 502, "trapped").await;
    }

    guest_stack_overflow: "guest: recurses until its stack overflows" on MAIN => |s| {
        let got = s.run_guest(&wat(RECURSE), json!({}), 30_000).await;
        s.expect_error(got, 502, "call stack").await;
    }

    guest_loops: "guest: loops forever" on MAIN => |s| {
        let t = Instant::now();
        let got = s.run_guest(&wat(LOOP), json!({}), 1_000).await;
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "loop stopped after {:?}",
            t.elapsed()
        );
        s.expect_error(got, 502, "exceeded its time limits").await;
    }

    guest_memory_bomb: "guest: grows memory past its limit" on MAIN => |s| {
        let got = s.run_guest(&wat(MEMORY_BOMB), json!({}), 30_000).await;
        s.expect_error(got, 502, "memory limit of 67108864 bytes").await;
    }

    guest_floods_stdout: "guest: writes 100 MiB to stdout" on MAIN => |s| {
        let got = s.run_guest(&flood(1), json!({}), 60_000).await;
        s.expect_error(got, 502, "output limit").await;
    }

    guest_floods_stderr: "guest: writes 100 MiB to stderr" on MAIN => |s| {
        let got = s.run_guest(&flood(2), json!({}), 60_000).await;
        s.expect_error(got, 502, "output limit").await;
    }

    guest_result_invalid_utf8: "guest: result is invalid UTF-8" on MAIN => |s| {
        let got = s
            .run_guest(&printer(b"{\"s\": \"\xff\xfe\"}\n"), json!({}), 30_000)
            .await;
        s.expect_error(got, 502, msg::NOT_DICT_RESULT).await;
    }

    guest_result_invalid_json: "guest: result is invalid JSON" on MAIN => |s| {
        let got = s
            .run_guest(&printer(b"{\"unterminated\": [1, 2\n"), json!({}), 30_000)
            .await;
        s.expect_error(got, 502, msg::NOT_DICT_RESULT).await;
    }

    guest_result_lone_surrogate: "guest: result holds a lone surrogate escape" on MAIN => |s| {
        let got = s
            .run_guest(&printer(br#"{"a": "\ud800"}"#), json!({}), 30_000)
            .await;
        s.expect_error(got, 502, msg::NOT_DICT_RESULT).await;
    }

    guest_result_number_out_of_range:
        "guest: result holds an out-of-range number" on MAIN => |s| {
        let got = s.run_guest(&printer(b"[1e999]\n"), json!({}), 30_000).await;
        s.expect_error(got, 502, msg::NOT_DICT_RESULT).await;
    }

    guest_result_not_an_object: "guest: result is not an object" on MAIN => |s| {
        let got = s
            .run_guest(&printer(b"\"a string\"\n"), json!({}), 30_000)
            .await;
        s.expect_error(got, 502, msg::NOT_DICT_RESULT).await;
    }

    guest_result_over_1_mib: "guest: result over 1 MiB" on MAIN => |s| {
        let got = s.run_guest(&big_result(32), json!({}), 60_000).await;
        s.expect_error(got, 413, "exceeded the allowed length").await;
    }

    guest_exits_3: "guest: exits 3 without a result" on MAIN => |s| {
        let got = s.run_guest(&wat(EXIT_3), json!({}), 30_000).await;
        s.expect_error(got, 502, msg::NOT_DICT_RESULT).await;
    }

    guest_wild_pointer: "guest: hands WASI a pointer outside its memory" on MAIN => |s| {
        let got = s.run_guest(&wat(WILD_POINTER), json!({}), 30_000).await;
        // wasmtime and wasmi trap on the host call's access; wasmer and WAMR answer the call
        // with EFAULT, and this guest then exits without a result.
        let expected = match engine() {
            Engine::Wasmtime | Engine::Wasmi => "out of bounds",
            Engine::Wasmer | Engine::Wamr => msg::NOT_DICT_RESULT,
        };
        s.expect_error(got, 502, expected).await;
    }

    guest_data_segment_out_of_bounds:
        "guest: a data segment outside its memory" on MAIN => |s| {
        let data_oob = wat(
            r#"(module (memory (export "memory") 1) (data (i32.const 70000) "x") (func (export "_start")))"#,
        );
        let got = s.run_guest(&data_oob, json!({}), 30_000).await;
        let expected = match engine() {
            Engine::Wasmtime | Engine::Wasmi => "out of bounds memory access",
            Engine::Wasmer => "heap_get_oob",
            Engine::Wamr => "data segment does not fit",
        };
        s.expect_error(got, 502, expected).await;
    }

    guest_sleeps_past_deadline: "guest: sleeps past its deadline" on MAIN => |s| {
        let t = Instant::now();
        let got = s
            .run_guest(&workload("sleep"), json!({"ms": 60_000}), 1_000)
            .await;
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "sleep stopped after {:?}",
            t.elapsed()
        );
        s.expect_error(got, 502, "exceeded its time limits").await;
    }

    run_truncated_json: "run: truncated JSON" on MAIN => |s| {
        let got = s.run_body("{\"value\": {\"a\": [1, 2").await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    run_malformed_json: "run: malformed JSON" on MAIN => |s| {
        let got = s.run_body("{value: 1}").await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    run_value_a_string: "run: `value` a string" on MAIN => |s| {
        let got = s.run_body(r#"{"value": "a string"}"#).await;
        s.expect_error(got, 404, msg::NOT_DICT_ARG).await;
    }

    run_body_an_array: "run: body is an array" on MAIN => |s| {
        let got = s.run_body(r#"[{"value": {}}]"#).await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    run_parameters_lone_surrogate:
        "run: parameters hold a lone surrogate escape" on MAIN => |s| {
        let got = s.run_body(r#"{"value": {"s": "\ud800"}}"#).await;
        s.expect_error(got, 400, "Error unmarshaling").await;
    }

    run_parameters_over_1_mib: "run: parameters over 1 MiB" on MAIN => |s| {
        let got = s
            .run_body(json!({"value": {"s": "x".repeat(1024 * 1024)}}).to_string())
            .await;
        s.expect_error(got, 413, "parameters are").await;
    }

    run_oversized_body: "run: body over the run limit" on MAIN => |s| {
        let id = s.sandbox(&s.noop).await;
        let got = s
            .oversized(
                &route(&id, "run"),
                format!(r#"{{"value": {{}}, "pad": "{}"}}"#, "y".repeat(2 << 20)),
            )
            .await;
        s.rt.post(&route(&id, "destroy"), "").await;
        s.expect_error(got, 413, "over the limit").await;
    }

    run_empty_body: "run: empty body (empty parameters)" on MAIN => |s| {
        let got = s.run_body("").await;
        s.expect_ok(got, json!({})).await;
    }

    run_deadline_long_past: "run: deadline long past" on MAIN => |s| {
        let got = s
            .run_body(json!({"value": {"k": 1}, "deadline": "1000"}).to_string())
            .await;
        s.expect_error(got, 502, "exceeded its time limits").await;
    }

    run_deadline_end_of_time: "run: deadline at the end of time" on MAIN => |s| {
        let got = s
            .run_body(json!({"value": {"k": 2}, "deadline": u64::MAX.to_string()}).to_string())
            .await;
        s.expect_ok(got, json!({"k": 2})).await;
    }

    run_odd_context: "run: deadline not a number, context not a string" on MAIN => |s| {
        let got = s
            .run_body(
                json!({"value": {"k": 3}, "deadline": "soon", "namespace": {"o": [1]}})
                    .to_string(),
            )
            .await;
        s.expect_ok(got, json!({"k": 3})).await;
    }

    run_unknown_sandbox: "run: unknown sandbox id" on MAIN => |s| {
        let got = s.rt.run("no-such-sandbox", json!({})).await;
        s.expect_error(got, 404, "No sandbox named 'no-such-sandbox'").await;
    }

    destroy_unknown_sandbox: "destroy: unknown sandbox id" on MAIN => |s| {
        let got = s.rt.post("/no-such-sandbox/destroy", "").await;
        s.expect_error(got, 404, "No sandbox named").await;
    }

    run_sandbox_id_not_utf8: "run: sandbox id that is not UTF-8" on MAIN => |s| {
        let got = s.rt.post("/%FF%FE/run", "{}").await;
        s.expect_error(got, 400, "sandbox").await;
    }

    unknown_route: "unknown route" on MAIN => |s| {
        let got = s.rt.post("/a/b/c/run", "{}").await;
        s.expect_error(got, 404, "Not found").await;
    }

    run_racing_destroy: "run racing destroy of the same sandbox" on MAIN => |s| {
        // `/run` racing `/destroy` of the same sandbox: every run answers correctly or 404.
        for round in 0..5 {
            let id = s.sandbox(&s.noop).await;
            let runs: Vec<_> = (0..24)
                .map(|i| {
                    let params = json!({"round": round, "i": i});
                    let rt = &s.rt;
                    let id = id.clone();
                    async move { (params.clone(), rt.run(&id, params).await) }
                })
                .collect();
            let destroy = async {
                tokio::time::sleep(Duration::from_millis(5 * round)).await;
                s.rt.post(&route(&id, "destroy"), "").await
            };
            let (results, destroyed) = tokio::join!(join_all(runs), destroy);
            assert_eq!(destroyed, (200, json!({"ok": true})));
            for (params, (status, v)) in results {
                match status {
                    200 => assert_eq!(v, params),
                    404 => assert!(v["error"].as_str().unwrap().contains("No sandbox named")),
                    _ => panic!("run racing destroy: {status} {v}"),
                }
            }
            assert_eq!(s.rt.run(&id, json!({})).await.0, 404);
        }
        let got = s.rt.run("after-the-race", json!({})).await;
        s.expect_error(got, 404, "No sandbox named").await;
    }

    concurrent_inits: "concurrent inits of one sandbox" on MAIN => |s| {
        // Concurrent inits of one id: one wins, the rest are refused as re-inits.
        let id = format!("contested-{}", unique());
        let inits: Vec<_> = (0..8).map(|_| s.rt.init(&id, &s.noop)).collect();
        let results = join_all(inits).await;
        let wins = results.iter().filter(|(st, _)| *st == 200).count();
        assert_eq!(wins, 1, "{results:?}");
        for (st, v) in &results {
            assert!(
                *st == 200 || (*st == 403 && v["error"] == msg::REINIT),
                "{st} {v}"
            );
        }
        let got = s.rt.init(&id, &s.noop).await;
        s.rt.post(&route(&id, "destroy"), "").await;
        s.expect_error(got, 403, msg::REINIT).await;
    }

    cache_churn:
        "thousands of distinct inits and destroys, small cache" on MAIN_OWN_CACHE => |s| {
        churn(&mut s).await;
    }

    init_past_max_sandboxes: "init past --max-sandboxes" on CAPPED => |s| {
        // The bystander holds one place; `still_fine` needs one more.
        let held = s.hold(4).await;
        let got = s.rt.init("one-too-many", &s.noop).await;
        let (st, v) = &got;
        assert_eq!(*st, 200, "the sixth place is free: {v}");
        let got2 = s.rt.init("two-too-many", &s.noop).await;
        assert_eq!(s.rt.post("/one-too-many/destroy", "").await.0, 200);
        s.expect_error(got2, 429, "its limit").await;
        for id in held {
            assert_eq!(s.rt.post(&route(&id, "destroy"), "").await.0, 200);
        }
    }

    default_sandbox_past_max_sandboxes:
        "default-sandbox init past --max-sandboxes" on CAPPED => |s| {
        // The bystander and four more hold five places; the default sandbox counts too.
        let held = s.hold(4).await;
        assert_eq!(s.rt.init("fill", &s.noop).await.0, 200);
        let got = s.rt.init("", &s.noop).await;
        assert_eq!(s.rt.post("/fill/destroy", "").await.0, 200);
        s.expect_error(got, 429, "its limit").await;
        for id in held {
            assert_eq!(s.rt.post(&route(&id, "destroy"), "").await.0, 200);
        }
    }

    on_demand_init_memory_over_limit:
        "init (on-demand allocator): initial memory over the memory limit" on CAPPED => |s| {
        // Without the pooling allocator's own checks, `/init` still refuses what cannot fit.
        let huge_memory =
            wat(r#"(module (memory (export "memory") 2000) (func (export "_start")))"#);
        let got = s
            .init_body(init_json(json!(b64(&huge_memory)), json!(true)))
            .await;
        s.expect_error(got, 502, "over the memory limit of 67108864 bytes").await;
    }

    on_demand_guest_memory_bomb:
        "guest (on-demand allocator): grows memory past its limit" on CAPPED => |s| {
        let got = s.run_guest(&wat(MEMORY_BOMB), json!({}), 30_000).await;
        s.expect_error(got, 502, "memory limit of 67108864 bytes").await;
    }

    auth_no_token: "auth: every route but /health without the bearer token" on MAIN => |s| {
        let got = refused_without(&s.noop, None, auth::MISSING).await;
        s.expect_error(got, 401, auth::MISSING).await;
    }

    auth_wrong_token: "auth: a wrong bearer token" on MAIN => |s| {
        let got = refused_without(&s.noop, Some("Bearer the-wrong-token"), auth::INVALID).await;
        s.expect_error(got, 401, auth::INVALID).await;
    }

    auth_token_prefix: "auth: the right token cut short" on MAIN => |s| {
        let got = refused_without(&s.noop, Some("Bearer the-right-toke"), auth::INVALID).await;
        s.expect_error(got, 401, auth::INVALID).await;
    }

    auth_token_not_bearer: "auth: the right token, not as a bearer token" on MAIN => |s| {
        let got = refused_without(&s.noop, Some("the-right-token"), auth::INVALID).await;
        s.expect_error(got, 401, auth::INVALID).await;
    }

    init_env_reserved_actionloop: "init: env sets __OW_ACTIONLOOP" on MAIN => |s| {
        let body = json!({"value": {"binary": true, "code": b64(&s.noop),
            "env": {"A": "1", "__OW_ACTIONLOOP": "1"}}});
        let got = s.init_body(body.to_string()).await;
        s.expect_error(got, 400, "__OW_ACTIONLOOP, a name reserved").await;
    }

    init_env_reserved_wait_for_ack: "init: env sets __OW_WAIT_FOR_ACK" on MAIN => |s| {
        let body = json!({"value": {"binary": true, "code": b64(&s.noop),
            "env": {"__OW_WAIT_FOR_ACK": "1"}}});
        let got = s.init_body(body.to_string()).await;
        s.expect_error(got, 400, "__OW_WAIT_FOR_ACK, a name reserved").await;
    }

    run_context_reserved_actionloop:
        "run: context field actionloop (__OW_ACTIONLOOP)" on MAIN => |s| {
        let got = s
            .run_body(json!({"value": {}, "actionloop": "1"}).to_string())
            .await;
        s.expect_error(got, 400, "__OW_ACTIONLOOP, a name reserved").await;
    }

    run_context_reserved_wait_for_ack:
        "run: context field Wait_For_Ack (__OW_WAIT_FOR_ACK)" on MAIN => |s| {
        let got = s
            .run_body(json!({"value": {}, "Wait_For_Ack": "1"}).to_string())
            .await;
        s.expect_error(got, 400, "__OW_WAIT_FOR_ACK, a name reserved").await;
    }

    run_activation_id_forges_logs:
        "run: an activation id with a newline and a forged end-of-activation marker" on LOGGING => |s| {
        assert_eq!(FORGING_ID.lines().nth(1), Some(wow_protocol::LOG_SENTINEL));
        let id = s.sandbox(&wat(LOGS_A_LINE)).await;
        let got = s
            .rt
            .run_with(&id, json!({"value": {}, "activation_id": FORGING_ID}))
            .await;
        s.rt.post(&route(&id, "destroy"), "").await;
        for (stream, line) in [("stdout", "a log line"), ("stderr", "an error line")] {
            let text = std::fs::read_to_string(s.rt.dir.join(format!("{stream}.log"))).unwrap();
            let markers = text.lines().filter(|l| *l == wow_protocol::LOG_SENTINEL).count();
            assert_eq!(markers, 1, "{stream}: {text}");
            assert!(!text.lines().any(|l| l.starts_with("forged")), "{stream}: {text}");
            let escaped = format!(
                "x\\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\\nforged line {stream}: {line}"
            );
            assert!(text.lines().any(|l| l == escaped), "{stream}: {text}");
        }
        s.expect_ok(got, json!({"k": 1})).await;
    }

    init_client_hangs_up:
        "init: the client hangs up while its code compiles" on MAIN => |s| {
        if engine() == Engine::Wasmi {
            // wasmi only validates at init: no compile lasts long enough to hang up during it
            // (the other engines cover the claim's release).
            let id = s.sandbox(&s.noop).await;
            let got = s.rt.run(&id, json!({"engine": "wasmi"})).await;
            s.expect_ok(got, json!({"engine": "wasmi"})).await;
            return;
        }
        // The default sandbox, which cannot be destroyed: a wedge there would be for good.
        let slow = slow_to_compile(3000, 60);
        let body = json!({"value": {"name": "slow", "main": "main", "binary": true,
            "code": b64(&slow)}})
        .to_string();
        let tcp = send_raw(&s.rt, "/init", &body).await;
        let t = Instant::now();
        while metric_now(&s.rt, "wow_artifact_loads_in_flight").await == 0 {
            assert!(t.elapsed() < Duration::from_secs(60), "the compile never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(tcp);
        // Once the executor has seen the hang-up, the sandbox takes another init (`noop` is
        // compiled already, for the bystander) while the abandoned compile still runs.
        let t = Instant::now();
        loop {
            let (st, v) = s.rt.init("", &s.noop).await;
            if st == 200 {
                break;
            }
            assert_eq!(st, 403, "{v}");
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the sandbox stayed claimed by the init whose client left: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            metric_now(&s.rt, "wow_artifact_loads_in_flight").await,
            1,
            "the slow compile should still be under way, else this case proves nothing"
        );
        // The abandoned compile finishes, is cached and leaves the in-flight table.
        let t = Instant::now();
        while metric_now(&s.rt, "wow_artifact_loads_in_flight").await != 0 {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the in-flight entry of the abandoned compile was never removed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (st, v) = s.rt.init("slow-again", &slow).await;
        assert_eq!((st, &v["artifact"]), (200, &json!("memory")), "{v}");
        let got = s.rt.run("", json!({"after": "hang-up"})).await;
        s.expect_ok(got, json!({"after": "hang-up"})).await;
    }

    run_deadline_far_future_clamped:
        "run: a loop with a far-future deadline, clamped to --max-timeout-ms" on CLAMPED => |s| {
        let t = Instant::now();
        let got = s.run_guest(&wat(LOOP), json!({}), 24 * 3600 * 1000).await;
        assert!(t.elapsed() < Duration::from_secs(10), "stopped only after {:?}", t.elapsed());
        s.expect_error(got, 502, "500 milliseconds").await;
    }

    run_default_timeout_clamped:
        "run: a loop under an hour's default timeout, clamped to --max-timeout-ms"
        on CLAMPED_DEFAULT => |s| {
        let id = s.sandbox(&wat(LOOP)).await;
        let t = Instant::now();
        let got = s.rt.run(&id, json!({})).await;
        assert!(t.elapsed() < Duration::from_secs(10), "stopped only after {:?}", t.elapsed());
        s.expect_error(got, 502, "400 milliseconds").await;
    }

    sandbox_ids_invalid:
        "init, run, destroy: sandbox ids outside [A-Za-z0-9._-]{1,128}" on MAIN => |s| {
        let long = "a".repeat(129);
        for id in [long.as_str(), "bad%20id", "%C3%BC", "a:b", "a%2Fb", "a%00b"] {
            for op in ["init", "run", "destroy"] {
                let (st, v) = s.rt.post(&format!("/{id}/{op}"), "{}").await;
                assert_eq!(st, 400, "{op} of {id:?}: {v}");
                assert!(v["error"].as_str().unwrap().contains("is not valid"), "{v}");
            }
        }
        let longest = format!("A-z.0_9-{}", "x".repeat(120));
        let (st, v) = s.rt.init(&longest, &s.noop).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(s.rt.post(&route(&longest, "destroy"), "").await.0, 200);
        let got = s.rt.init(&long, &s.noop).await;
        s.expect_error(got, 400, "1 to 128 of A-Z a-z 0-9 . _ -").await;
    }

    init_past_code_budget:
        "init: distinct modules past the compiled-code budget" on CODE_CAPPED => |s| {
        let mut held = Vec::new();
        let refused = loop {
            assert!(held.len() < 256, "256 distinct modules fit in a 4 MiB code budget");
            let wasm = tagged(&s.noop, &unique());
            let id = format!("code-{}", unique());
            let got = s.rt.init(&id, &wasm).await;
            if got.0 != 200 {
                break got;
            }
            held.push(id);
        };
        assert!(!held.is_empty(), "nothing fitted: {refused:?}");
        // Code a live sandbox holds already costs nothing more.
        let (st, v) = s.rt.init("shares-the-bystanders-code", &s.noop).await;
        assert_eq!(st, 200, "{v}");
        // Destroyed sandboxes give their code back.
        for id in &held {
            assert_eq!(s.rt.post(&route(id, "destroy"), "").await.0, 200);
        }
        let (st, v) = s.rt.init("fits-again", &tagged(&s.noop, &unique())).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(s.rt.post("/fits-again/destroy", "").await.0, 200);
        s.expect_error(refused, 429, "code budget of 4194304 bytes").await;
    }

    init_compiles_wait_their_turn:
        "init: three slow compiles at once under --compile-concurrency 1" on ONE_COMPILER => |s| {
        let inits = (0..3).map(|i| {
            let wasm = slow_to_compile(600, 60);
            let rt = &s.rt;
            async move { rt.init(&format!("slow-{i}"), &wasm).await }
        });
        // wasmi only validates at init: too fast for three loads to be seen at once.
        let observable = engine() != Engine::Wasmi;
        let watch = async {
            let (mut running, mut loading) = (0, 0);
            let t = Instant::now();
            while (observable && loading < 3)
                || metric_now(&s.rt, "wow_artifact_loads_in_flight").await > 0
            {
                assert!(t.elapsed() < Duration::from_secs(120), "{running} {loading}");
                let text = s.rt.get_text("/metrics").await;
                running = running.max(metric(&text, "wow_artifact_compiles_running"));
                loading = loading.max(metric(&text, "wow_artifact_loads_in_flight"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (running, loading)
        };
        let (results, (running, loading)) = tokio::join!(join_all(inits), watch);
        for (st, v) in &results {
            assert_eq!(*st, 200, "{v}");
        }
        if observable {
            assert_eq!((running, loading), (1, 3), "most compiles running, loads under way");
        } else {
            assert!(running <= 1, "{running} compiles ran at once");
        }
        let id = s.sandbox(&s.noop).await;
        let got = s.rt.run(&id, json!({"compiled": "in turn"})).await;
        s.expect_ok(got, json!({"compiled": "in turn"})).await;
    }

    on_demand_init_two_memories:
        "init (on-demand allocator): a module with two memories" on CAPPED => |s| {
        // Each under the cap, together over it: refused before it can run.
        let two = wat(
            r#"(module (memory (export "memory") 1000) (memory 1000) (func (export "_start")))"#,
        );
        let got = s.init_body(init_json(json!(b64(&two)), json!(true))).await;
        s.expect_error(got, 502, "multiple memories").await;
    }

    run_memory_budget_queue_full:
        "run: past the memory budget runs wait, past --max-queue they are refused"
        on MEMORY_BUDGET_2MB => |s| {
        let id = s.sandbox(&workload("sleep")).await;
        let rt = &s.rt;
        let sleep = |ms: u64| {
            rt.run_with(
                &id,
                json!({"value": {"ms": ms}, "deadline": deadline_in(30_000)}),
            )
        };
        let until = |name: &'static str, at_least: u64| async move {
            let t = Instant::now();
            while metric_now(rt, name).await < at_least {
                assert!(t.elapsed() < Duration::from_secs(30), "{name} stayed under {at_least}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let first = sleep(1_500);
        let second = async {
            until("wow_memory_budget_used_bytes", 1).await;
            sleep(10).await
        };
        let third = async {
            until("wow_runs_waiting", 1).await;
            let got = rt.run_with(&id, json!({"value": {"ms": 10}})).await;
            assert_eq!(metric_now(rt, "wow_runs_waiting").await, 1, "the second waits");
            got
        };
        let (first, second, third) = tokio::join!(first, second, third);
        assert_eq!(first.0, 200, "{first:?}");
        assert_eq!(second.0, 200, "the waiting run ran once memory was free: {second:?}");
        assert_eq!(metric_now(rt, "wow_memory_budget_used_bytes").await, 0);
        s.expect_error(third, 429, "--max-queue").await;
    }

    run_waits_for_a_slot_past_its_deadline:
        "run: waiting for a pool slot past its deadline" on ONE_SLOT => |s| {
        let id = s.sandbox(&workload("sleep")).await;
        let holder = s.rt.run_with(
            &id,
            json!({"value": {"ms": 4_000}, "deadline": deadline_in(30_000)}),
        );
        let waiter = async {
            // Once the holder runs (its instance holds the only slot).
            tokio::time::sleep(Duration::from_millis(500)).await;
            let t = Instant::now();
            let got = s
                .rt
                .run_with(&id, json!({"value": {"ms": 10}, "deadline": deadline_in(300)}))
                .await;
            (got, t.elapsed())
        };
        let (held, (got, took)) = tokio::join!(holder, waiter);
        assert_eq!(held.0, 200, "{held:?}");
        if engine() != Engine::Wasmtime {
            // Only wasmtime reserves instance slots; elsewhere nothing is waited for.
            s.expect_ok(got, json!({"slept_ms": 10})).await;
            return;
        }
        assert!(
            took < Duration::from_millis(2_000),
            "the run waited {took:?} for a slot past its 300 ms deadline"
        );
        s.expect_error(got, 502, "exceeded its time limits").await;
    }
}
