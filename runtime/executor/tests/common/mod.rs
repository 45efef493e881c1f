//! Shared by the integration tests: start the real `wow-runtime` binary on a free loopback port
//! and talk to it over HTTP, as a user would.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

pub struct Runtime {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub client: reqwest::Client,
}

impl Runtime {
    /// Starts `wow-runtime` with `args` (plus a private cache folder unless given).
    pub fn start(args: &[&str]) -> Runtime {
        let dir = tempdir("rt");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wow-runtime"));
        cmd.arg("--listen").arg("127.0.0.1:0");
        if !args
            .iter()
            .any(|a| a.starts_with("--cache-dir") || *a == "--no-disk-cache")
        {
            cmd.arg("--cache-dir").arg(dir.join("cache"));
        }
        Self::spawn(cmd, args, dir)
    }

    /// Starts `wow-runtime` sharing the artifact cache folder `cache`.
    pub fn start_with_cache(cache: &Path, args: &[&str]) -> Runtime {
        let dir = tempdir("rt");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wow-runtime"));
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--cache-dir")
            .arg(cache);
        Self::spawn(cmd, args, dir)
    }

    fn spawn(mut cmd: Command, args: &[&str], dir: PathBuf) -> Runtime {
        // A token in the caller's environment would close every route the tests use.
        cmd.env_remove(wow_protocol::auth::TOKEN_ENV)
            .env_remove(wow_protocol::auth::TOKEN_FILE_ENV);
        let stdout = std::fs::File::create(dir.join("stdout.log")).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd.spawn().expect("start wow-runtime");
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let out = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
            if let Some(line) = out
                .lines()
                .find(|l| l.starts_with("wow-runtime listening on "))
            {
                break line
                    .trim_start_matches("wow-runtime listening on ")
                    .to_string();
            }
            assert!(
                Instant::now() < deadline,
                "wow-runtime did not start: {}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Runtime {
            child,
            url: format!("http://{addr}"),
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    pub fn stdout_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.url))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {path} -> {status}, not JSON ({e}): {text:.200}"));
        (status, v)
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `/{sandbox}/init` (or `/init` for `""`) with raw Wasm bytes.
    pub async fn init(&self, sandbox: &str, wasm: &[u8]) -> (u16, Value) {
        self.init_with_env(sandbox, wasm, json!({})).await
    }

    pub async fn init_with_env(&self, sandbox: &str, wasm: &[u8], env: Value) -> (u16, Value) {
        let body = json!({"value": {"name": sandbox, "main": "main", "binary": true,
            "code": b64(wasm), "env": env}});
        self.post(&route(sandbox, "init"), body.to_string()).await
    }

    /// `/{sandbox}/run` with `params` and a deadline `ms` from now.
    pub async fn run(&self, sandbox: &str, params: Value) -> (u16, Value) {
        self.run_with(
            sandbox,
            json!({"value": params, "activation_id": "test-activation"}),
        )
        .await
    }

    pub async fn run_with(&self, sandbox: &str, body: Value) -> (u16, Value) {
        self.post(&route(sandbox, "run"), body.to_string()).await
    }

    /// Asserts the executor still answers a `noop` run correctly (in a sandbox of its own).
    pub async fn assert_healthy(&self, noop_wasm: &[u8]) {
        let id = format!("health-{}", unique());
        let (s, v) = self.init(&id, noop_wasm).await;
        assert_eq!(s, 200, "noop init after the fault: {v}");
        let (s, v) = self.run(&id, json!({"still": "alive", "n": 1})).await;
        assert_eq!((s, v), (200, json!({"still": "alive", "n": 1})));
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test shows how the executor ended, before its folder goes.
            let status = self.child.try_wait().ok().flatten();
            let log = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!(
                "wow-runtime ({}): exit status {status:?}; last stderr lines:\n{}",
                self.url,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn route(sandbox: &str, op: &str) -> String {
    if sandbox.is_empty() {
        format!("/{op}")
    } else {
        format!("/{sandbox}/{op}")
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wow-test-{tag}-{}", unique()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A new folder only this user can reach (mode 0700), as the executor requires of an artifact
/// cache folder.
pub fn private_tempdir(tag: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = tempdir(tag);
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// Epoch milliseconds `ms` from now, as OpenWhisk sends deadlines.
pub fn deadline_in(ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    (now + ms).to_string()
}

/// The engine the executors under test run: `$WOW_RUNTIME_ENGINE` (which they read too), else
/// wasmtime. `scripts/test.sh` runs the HTTP suites once per engine.
pub fn engine() -> wow_records::Engine {
    std::env::var("WOW_RUNTIME_ENGINE")
        .ok()
        .map(|e| e.parse().expect("WOW_RUNTIME_ENGINE names an engine"))
        .unwrap_or(wow_records::Engine::REFERENCE)
}

/// A workload's module as the engine under test runs it (without SIMD where it has none).
pub fn workload(name: &str) -> Vec<u8> {
    let a = wow_artifacts::ensure_built_default().expect("workloads build");
    let path = if engine().runs_simd() {
        a.wasm(name)
    } else {
        a.wasm_scalar(name)
    };
    std::fs::read(path).unwrap()
}

pub fn native(name: &str) -> PathBuf {
    let a = wow_artifacts::ensure_built_default().expect("workloads build");
    a.native(name, "x86_64-unknown-linux-musl")
}

pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid WAT")
}

/// A WASI command that writes `bytes` to stdout and exits.
pub fn printer(bytes: &[u8]) -> Vec<u8> {
    let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    wat(&format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{escaped}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = bytes.len()
    ))
}

// Hostile guests, in WAT, shared by the limits and hostile-input suites.

pub const TRAP: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
pub const LOOP: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#;
pub const RECURSE: &str = r#"(module (memory (export "memory") 1)
  (func $f (param i64) (result i64) (call $f (i64.add (local.get 0) (i64.const 1))))
  (func (export "_start") (drop (call $f (i64.const 0)))))"#;
/// Grows memory 1 MiB at a time until refused, then aborts (as a Rust guest does).
pub const MEMORY_BOMB: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start")
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))"#;
