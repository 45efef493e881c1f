//! Starts the real `wow-proxy` binary on a free loopback port with its own action directory and
//! drives it over HTTP, keeping what it writes to stdout and stderr for assertions on logs.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

pub const SENTINEL: &str = wow_protocol::LOG_SENTINEL;

pub struct Proxy {
    child: Child,
    pub base: String,
    pub dir: PathBuf,
    pub client: reqwest::Client,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.text))
    }
}

impl Proxy {
    /// Starts the proxy with extra command-line arguments.
    pub fn start(args: &[&str]) -> Proxy {
        Proxy::start_env(args, &[])
    }

    /// Starts the proxy with extra command-line arguments and environment variables.
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Proxy {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "wow-proxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wow-proxy"));
        for (name, _) in std::env::vars() {
            if name.starts_with("WOW_PROXY_") || name.starts_with("WOW_AUTH_") {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--action-dir"])
            .arg(&dir)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wow-proxy");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), stdout.clone(), None);
        let (tx, rx) = mpsc::channel();
        collect(child.stderr.take().unwrap(), stderr.clone(), Some(tx));
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "proxy did not report its address: {}",
                    stderr.lock().unwrap()
                )
            });
        Proxy {
            child,
            base: format!("http://{addr}"),
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            stdout,
            stderr,
        }
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        reply(resp).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        reply(resp).await
    }

    /// `/init` with a script as base64 binary code and an `env` map.
    pub async fn init_script(&self, script: &str, env: Value) -> Reply {
        let body = json!({"value": {
            "name": "test", "main": "main", "binary": true,
            "code": base64::engine::general_purpose::STANDARD.encode(script),
            "env": env,
        }});
        self.post("/init", body.to_string()).await
    }

    /// `/run` with parameters and extra context fields.
    pub async fn run(&self, params: Value, context: Value) -> Reply {
        let mut body = context.as_object().cloned().unwrap_or_default();
        body.insert("value".into(), params);
        self.post("/run", Value::Object(body).to_string()).await
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the proxy's stdout and stderr both contain `needle`.
    pub async fn wait_logs(&self, needle: &str) {
        let start = Instant::now();
        while !(self.stdout().contains(needle) && self.stderr().contains(needle)) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "logs never showed {needle:?}\nstdout: {}\nstderr: {}",
                self.stdout(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain syscall on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Waits for the proxy to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        body,
        text,
        headers,
    }
}

/// Copies a stream into `sink` on a thread; reports the listening address if asked.
fn collect(
    stream: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    addr: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line);
            if let (Some(tx), Some(rest)) = (&addr, text.strip_prefix("wow-proxy: listening on ")) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            sink.lock().unwrap().push_str(&text);
        }
    });
}

/// Epoch milliseconds `ms` from now, as OpenWhisk's `deadline` string.
pub fn deadline_in(ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    (now + ms).to_string()
}

/// Whether `pid` is a live process now (not gone, not a zombie).
pub fn alive(pid: impl std::fmt::Display) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    !matches!(state, None | Some("Z") | Some("X"))
}

/// Whether `pid` is still a running process (not gone, not a zombie), after a moment to die.
pub async fn running(pid: i32) -> bool {
    for _ in 0..50 {
        if !alive(pid) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Waits for the pid an action wrote into `file` (in the action directory).
pub async fn pid_from(proxy: &Proxy, file: &str) -> i32 {
    let path = proxy.dir.join(file);
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no pid in {file}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
