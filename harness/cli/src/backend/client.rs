//! The one HTTP client both backends are driven with: OpenWhisk's `/init` and `/run`, timed by
//! the harness's monotonic clock around the whole exchange (request sent to body read).
//!
//! Every call has a timeout: a sandbox that never answers must not hang a run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;
use wow_protocol::{InitRequest, RunContext};

/// Namespace the harness's activations run in.
pub const NAMESPACE: &str = "wowbench";

#[derive(Clone)]
pub struct ActionClient {
    http: reqwest::Client,
    /// Ask the executor for each request's steps (`Server-Timing`).
    trace: bool,
    /// Deadline given to each run (and, plus a grace, the client-side timeout).
    pub run_timeout: Duration,
    pub init_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct InitReply {
    pub status: u16,
    pub elapsed: Duration,
    pub body: Bytes,
    /// The executor's steps, when asked for ([`ActionClient::traced`]) and answered.
    pub server_timing: Option<String>,
}

impl InitReply {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// The executor's report of where the artifact came from (`compiled`, `memory`, `disk`).
    pub fn artifact(&self) -> Option<String> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()?
            .get("artifact")?
            .as_str()
            .map(str::to_string)
    }

    pub fn error_text(&self) -> String {
        body_error(self.status, &self.body)
    }
}

#[derive(Debug, Clone)]
pub struct RunReply {
    pub status: u16,
    pub elapsed: Duration,
    pub body: Bytes,
    /// The executor's steps, when asked for ([`ActionClient::traced`]) and answered.
    pub server_timing: Option<String>,
}

impl RunReply {
    /// A 200 whose result is not an application error.
    pub fn ok(&self) -> bool {
        self.status == 200 && !self.is_app_error()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).context("the result is not JSON")
    }

    pub fn is_app_error(&self) -> bool {
        self.body.starts_with(b"{\"error\"")
            || serde_json::from_slice::<Value>(&self.body)
                .ok()
                .is_some_and(|v| v.get("error").is_some())
    }

    pub fn error_text(&self) -> String {
        body_error(self.status, &self.body)
    }
}

fn body_error(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str().map(str::to_string)))
        .unwrap_or_else(|| text.chars().take(300).collect());
    format!("HTTP {status}: {msg}")
}

impl ActionClient {
    pub fn new(run_timeout: Duration) -> Result<ActionClient> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            // Every connection a load opened stays for the next request: capacity keeps
            // thousands in flight, and a cap here would have them reconnect (the harness's
            // limit, not the backend's).
            .pool_max_idle_per_host(usize::MAX)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(ActionClient {
            http,
            trace: false,
            run_timeout,
            init_timeout: Duration::from_secs(120),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// This client (same connections), asking the executor for every request's steps: the
    /// `ladder` experiment's breakdown. Other experiments leave the header out.
    pub fn traced(&self) -> ActionClient {
        ActionClient {
            trace: true,
            ..self.clone()
        }
    }

    pub async fn init(&self, url: &str, body: Bytes) -> Result<InitReply> {
        let (status, elapsed, body, server_timing) =
            self.post(url, body, self.init_timeout).await?;
        Ok(InitReply {
            status,
            elapsed,
            body,
            server_timing,
        })
    }

    pub async fn run(&self, url: &str, body: Bytes) -> Result<RunReply> {
        let timeout = self.run_timeout + Duration::from_secs(5);
        let (status, elapsed, body, server_timing) = self.post(url, body, timeout).await?;
        Ok(RunReply {
            status,
            elapsed,
            body,
            server_timing,
        })
    }

    /// One timed POST: status, time from sending to the whole body read, body, and the
    /// `Server-Timing` answer when traced.
    async fn post(
        &self,
        url: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(u16, Duration, Bytes, Option<String>)> {
        let t = Instant::now();
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .timeout(timeout)
            .body(body);
        if self.trace {
            req = req.header(wow_runtime::timing::REQUEST_HEADER, "1");
        }
        let resp = req.send().await.with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let server_timing = self
            .trace
            .then(|| {
                resp.headers()
                    .get("server-timing")?
                    .to_str()
                    .ok()
                    .map(str::to_string)
            })
            .flatten();
        let body = resp.bytes().await.with_context(|| format!("POST {url}"))?;
        Ok((status, t.elapsed(), body, server_timing))
    }

    /// One GET with a short timeout; true on a 200. Used to poll readiness.
    pub async fn probe(&self, url: &str, timeout: Duration) -> bool {
        matches!(
            self.http.get(url).timeout(timeout).send().await,
            Ok(r) if r.status().is_success()
        )
    }
}

/// An `/init` body for `code` (raw `.wasm` or native binary), base64 as OpenWhisk sends it.
pub fn init_body(name: &str, code: &[u8]) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(code);
    let req = InitRequest::binary(name, b64, Default::default());
    Bytes::from(serde_json::to_vec(&req).expect("serialisable"))
}

/// A `/run` body: parameters plus OpenWhisk's context fields, with a fresh activation id and a
/// deadline `timeout` from now.
pub fn run_body(params: &Value, action: &str, timeout: Duration) -> Bytes {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ctx = RunContext {
        namespace: NAMESPACE.to_string(),
        action_name: action.to_string(),
        activation_id: format!(
            "{:08x}{:08x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ),
        transaction_id: String::new(),
        deadline: (now + timeout).as_millis().to_string(),
        api_key: None,
    };
    Bytes::from(wow_protocol::run_body(params, &ctx))
}
