//! An OpenWhisk-style invoker inside the harness, the same code for both backends: it routes
//! each request to a warm sandbox of its action with a free concurrency slot, else starts one
//! (a cold start) while the cap on live sandboxes allows, else evicts the least recently used
//! idle sandbox of another action, else waits. Idle sandboxes past the keep-alive are removed.
//!
//! The latency of an invocation is what its client sees: queueing, any cold start, and the run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde_json::Value;
use tokio::sync::Notify;

use crate::backend::{ActionCode, Backend, RunReply, Sandbox};

#[derive(Debug, Clone)]
pub struct Policy {
    /// Live sandboxes at most (the paper's OpenWhisk: 1024 MB / 256 MB = 4).
    pub max_sandboxes: usize,
    /// Runs in flight per sandbox at most.
    pub per_sandbox: usize,
    /// Idle sandboxes older than this are removed; `None` keeps them.
    pub keep_alive: Option<Duration>,
}

/// What one invocation saw.
#[derive(Debug)]
pub struct Outcome {
    pub latency: Duration,
    /// The request started a sandbox (provision + init) before running.
    pub cold: bool,
    pub reply: Result<RunReply>,
}

impl Outcome {
    /// A 200 without an application error.
    pub fn ok(&self) -> bool {
        matches!(&self.reply, Ok(r) if r.ok())
    }

    pub fn error_text(&self) -> Option<String> {
        match &self.reply {
            Ok(r) if r.ok() => None,
            Ok(r) => Some(r.error_text()),
            Err(e) => Some(format!("{e:#}")),
        }
    }

    /// What the load generator records of it.
    pub fn sample(&self) -> crate::loadgen::Sample {
        crate::loadgen::Sample {
            latency: self.latency,
            ok: self.ok(),
            cold: self.cold,
            error: self.error_text(),
        }
    }
}

struct Entry {
    id: u64,
    action: String,
    /// `None` while it is being started.
    sandbox: Option<Sandbox>,
    in_flight: usize,
    last_used: Instant,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    next_id: u64,
}

enum Decision {
    Warm(u64, Sandbox),
    Cold(u64, Option<Sandbox>),
    Wait,
}

#[derive(Default)]
pub struct InvokerStats {
    pub cold_starts: AtomicU64,
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    pub failed_starts: AtomicU64,
    /// Sandboxes dropped because a run got no answer from them.
    pub lost_sandboxes: AtomicU64,
}

pub struct Invoker<B: Backend + 'static> {
    backend: Arc<B>,
    policy: Policy,
    codes: HashMap<String, ActionCode>,
    state: Mutex<State>,
    changed: Notify,
    pub stats: InvokerStats,
}

impl<B: Backend + 'static> Invoker<B> {
    /// An invoker for `codes` (action name → code) on `backend`.
    pub fn new(backend: Arc<B>, policy: Policy, codes: HashMap<String, ActionCode>) -> Self {
        assert!(policy.max_sandboxes > 0 && policy.per_sandbox > 0);
        Invoker {
            backend,
            policy,
            codes,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            stats: InvokerStats::default(),
        }
    }

    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// Runs `action` with `params` as the platform would.
    pub async fn invoke(&self, action: &str, params: &Value) -> Outcome {
        let start = Instant::now();
        loop {
            // Registered before deciding, so a release between the decision and the wait is
            // not missed.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (decision, expired) = {
                let mut st = self.state.lock().unwrap();
                let expired = self.expire(&mut st);
                (self.decide(&mut st, action), expired)
            };
            for sb in expired {
                let _ = self.backend.destroy(&sb).await;
            }
            match decision {
                Decision::Warm(id, sb) => {
                    let reply = self.backend.run(&sb, params).await;
                    self.finish(id, &sb, &reply).await;
                    return Outcome {
                        latency: start.elapsed(),
                        cold: false,
                        reply,
                    };
                }
                Decision::Cold(id, victim) => {
                    if let Some(v) = victim {
                        self.stats.evictions.fetch_add(1, Ordering::Relaxed);
                        let _ = self.backend.destroy(&v).await;
                    }
                    self.stats.cold_starts.fetch_add(1, Ordering::Relaxed);
                    let sb = match self.start(action).await {
                        Ok(sb) => sb,
                        Err(e) => {
                            self.stats.failed_starts.fetch_add(1, Ordering::Relaxed);
                            self.remove(id);
                            return Outcome {
                                latency: start.elapsed(),
                                cold: true,
                                reply: Err(e),
                            };
                        }
                    };
                    self.set_sandbox(id, sb.clone());
                    let reply = self.backend.run(&sb, params).await;
                    self.finish(id, &sb, &reply).await;
                    return Outcome {
                        latency: start.elapsed(),
                        cold: true,
                        reply,
                    };
                }
                Decision::Wait => {
                    // Re-check periodically too: keep-alive expiry has no event of its own.
                    let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
                }
            }
        }
    }

    fn decide(&self, st: &mut State, action: &str) -> Decision {
        let now = Instant::now();
        let per = self.policy.per_sandbox;
        if let Some(e) = st
            .entries
            .iter_mut()
            .filter(|e| e.action == action && e.sandbox.is_some() && e.in_flight < per)
            .min_by_key(|e| e.in_flight)
        {
            e.in_flight += 1;
            e.last_used = now;
            return Decision::Warm(e.id, e.sandbox.clone().expect("filtered"));
        }
        let victim = if st.entries.len() < self.policy.max_sandboxes {
            None
        } else {
            let Some(idx) = st
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.in_flight == 0 && e.sandbox.is_some())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                return Decision::Wait;
            };
            st.entries.swap_remove(idx).sandbox
        };
        let id = st.next_id;
        st.next_id += 1;
        st.entries.push(Entry {
            id,
            action: action.to_string(),
            sandbox: None,
            in_flight: 1,
            last_used: now,
        });
        Decision::Cold(id, victim)
    }

    fn expire(&self, st: &mut State) -> Vec<Sandbox> {
        let Some(ttl) = self.policy.keep_alive else {
            return vec![];
        };
        let now = Instant::now();
        let mut gone = Vec::new();
        st.entries.retain_mut(|e| {
            let idle = e.in_flight == 0 && e.sandbox.is_some();
            if idle && now.duration_since(e.last_used) > ttl {
                gone.push(e.sandbox.take().expect("idle"));
                false
            } else {
                true
            }
        });
        self.stats
            .expirations
            .fetch_add(gone.len() as u64, Ordering::Relaxed);
        gone
    }

    async fn start(&self, action: &str) -> Result<Sandbox> {
        let code = self
            .codes
            .get(action)
            .ok_or_else(|| anyhow!("no code for action {action:?}"))?;
        let sb = self.backend.provision(action).await?;
        let init = self.backend.init(&sb, code).await;
        match init {
            Ok(r) if r.ok() => Ok(sb),
            Ok(r) => {
                let _ = self.backend.destroy(&sb).await;
                Err(anyhow!("init of {action} failed: {}", r.error_text()))
            }
            Err(e) => {
                let _ = self.backend.destroy(&sb).await;
                Err(e)
            }
        }
    }

    fn set_sandbox(&self, id: u64, sb: Sandbox) {
        let mut st = self.state.lock().unwrap();
        if let Some(e) = st.entries.iter_mut().find(|e| e.id == id) {
            e.sandbox = Some(sb);
        }
    }

    /// Ends a run on sandbox `id`. A sandbox that did not answer at all (killed, OOM-killed,
    /// its process gone) is dropped, so the next request starts a new one instead of failing
    /// on it forever.
    async fn finish(&self, id: u64, sb: &Sandbox, reply: &Result<RunReply>) {
        if reply.is_err() {
            self.stats.lost_sandboxes.fetch_add(1, Ordering::Relaxed);
            self.remove(id);
            let _ = self.backend.destroy(sb).await;
        } else {
            self.release(id);
        }
    }

    fn release(&self, id: u64) {
        {
            let mut st = self.state.lock().unwrap();
            if let Some(e) = st.entries.iter_mut().find(|e| e.id == id) {
                e.in_flight -= 1;
                e.last_used = Instant::now();
            }
        }
        self.changed.notify_waiters();
    }

    fn remove(&self, id: u64) {
        self.state.lock().unwrap().entries.retain(|e| e.id != id);
        self.changed.notify_waiters();
    }

    /// Starts sandboxes of `action` until it has `n` (within the cap), before measuring.
    pub async fn prepare(&self, action: &str, n: usize) -> Result<()> {
        let mut ids = Vec::new();
        {
            let mut st = self.state.lock().unwrap();
            let have = st.entries.iter().filter(|e| e.action == action).count();
            let room = self.policy.max_sandboxes.saturating_sub(st.entries.len());
            for _ in 0..n.saturating_sub(have).min(room) {
                let id = st.next_id;
                st.next_id += 1;
                st.entries.push(Entry {
                    id,
                    action: action.to_string(),
                    sandbox: None,
                    in_flight: 1,
                    last_used: Instant::now(),
                });
                ids.push(id);
            }
        }
        let starts = ids.iter().map(|_| self.start(action));
        let results = futures::future::join_all(starts).await;
        let mut first_err = None;
        for (id, r) in ids.into_iter().zip(results) {
            match r {
                Ok(sb) => {
                    self.set_sandbox(id, sb);
                    self.release(id);
                }
                Err(e) => {
                    self.remove(id);
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The live sandboxes (for memory readings).
    pub fn sandboxes(&self) -> Vec<Sandbox> {
        self.state
            .lock()
            .unwrap()
            .entries
            .iter()
            .filter_map(|e| e.sandbox.clone())
            .collect()
    }

    /// Live sandboxes per action.
    pub fn census(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for e in &self.state.lock().unwrap().entries {
            *m.entry(e.action.clone()).or_default() += 1;
        }
        m
    }

    /// Destroys every sandbox (after the load has stopped).
    pub async fn shutdown(&self) {
        let all: Vec<Sandbox> = {
            let mut st = self.state.lock().unwrap();
            st.entries.drain(..).filter_map(|e| e.sandbox).collect()
        };
        let destroys = all.iter().map(|sb| self.backend.destroy(sb));
        futures::future::join_all(destroys).await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::client::InitReply;
    use crate::backend::{ActionClient, BackendKind, MemorySample, ProvisionTiming};
    use bytes::Bytes;

    /// A backend that only keeps score: what was provisioned, destroyed and run.
    pub struct Fake {
        client: ActionClient,
        pub log: Mutex<Vec<String>>,
        seq: AtomicU64,
        run_time: Duration,
    }

    impl Fake {
        pub fn new(run_time: Duration) -> Fake {
            Fake {
                client: ActionClient::new(Duration::from_secs(5)).unwrap(),
                log: Mutex::new(vec![]),
                seq: AtomicU64::new(0),
                run_time,
            }
        }
        fn count(&self, prefix: &str) -> usize {
            self.log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.starts_with(prefix))
                .count()
        }
    }

    impl Backend for Fake {
        fn kind(&self) -> BackendKind {
            BackendKind::Wasm
        }
        fn variant(&self) -> &str {
            "fake"
        }
        async fn provision(&self, action: &str) -> Result<Sandbox> {
            let id = format!("{action}#{}", self.seq.fetch_add(1, Ordering::Relaxed));
            self.log.lock().unwrap().push(format!("provision {id}"));
            Ok(Sandbox {
                id,
                kind: BackendKind::Wasm,
                base_url: String::new(),
                container_id: None,
                host_port: None,
                provision: ProvisionTiming::default(),
            })
        }
        async fn destroy(&self, sb: &Sandbox) -> Result<()> {
            self.log.lock().unwrap().push(format!("destroy {}", sb.id));
            Ok(())
        }
        async fn memory(&self, _: &[Sandbox]) -> Result<MemorySample> {
            Ok(MemorySample::default())
        }
        fn client(&self) -> &ActionClient {
            &self.client
        }
        async fn init(&self, _: &Sandbox, _: &ActionCode) -> Result<InitReply> {
            Ok(InitReply {
                status: 200,
                elapsed: Duration::ZERO,
                body: Bytes::from_static(b"{\"ok\":true}"),
                server_timing: None,
            })
        }
        async fn run(&self, sb: &Sandbox, _: &Value) -> Result<RunReply> {
            self.log.lock().unwrap().push(format!("run {}", sb.id));
            if sb.id.starts_with("doomed") {
                anyhow::bail!("connection refused");
            }
            if sb.id.starts_with("overloaded") {
                return Ok(RunReply {
                    status: 429,
                    elapsed: Duration::ZERO,
                    body: Bytes::from_static(b"{\"error\":\"Too many requests.\"}"),
                    server_timing: None,
                });
            }
            tokio::time::sleep(self.run_time).await;
            Ok(RunReply {
                status: 200,
                elapsed: self.run_time,
                body: Bytes::from_static(b"{}"),
                server_timing: None,
            })
        }
    }

    fn codes(names: &[&str]) -> HashMap<String, ActionCode> {
        names
            .iter()
            .map(|n| (n.to_string(), ActionCode::new(n, b"\0asm", b"ELF")))
            .collect()
    }

    fn invoker(fake: Fake, policy: Policy, names: &[&str]) -> Arc<Invoker<Fake>> {
        Arc::new(Invoker::new(Arc::new(fake), policy, codes(names)))
    }

    #[tokio::test]
    async fn warm_reuse_and_cold_only_when_needed() {
        let inv = invoker(
            Fake::new(Duration::from_millis(1)),
            Policy {
                max_sandboxes: 4,
                per_sandbox: 1,
                keep_alive: None,
            },
            &["a"],
        );
        let first = inv.invoke("a", &Value::Null).await;
        assert!(first.ok() && first.cold);
        let second = inv.invoke("a", &Value::Null).await;
        assert!(second.ok() && !second.cold, "the idle sandbox is reused");
        assert_eq!(inv.backend().count("provision"), 1);
    }

    #[tokio::test]
    async fn cap_is_never_exceeded_and_concurrency_limit_holds() {
        let inv = invoker(
            Fake::new(Duration::from_millis(30)),
            Policy {
                max_sandboxes: 3,
                per_sandbox: 2,
                keep_alive: None,
            },
            &["a"],
        );
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let inv = inv.clone();
                tokio::spawn(async move {
                    let o = inv.invoke("a", &Value::Null).await;
                    assert!(inv.census().values().sum::<usize>() <= 3);
                    o.ok()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(inv.backend().count("provision"), 3, "exactly the cap");
        assert_eq!(inv.backend().count("run"), 20);
    }

    #[tokio::test]
    async fn lru_idle_sandbox_is_evicted_for_another_action() {
        let inv = invoker(
            Fake::new(Duration::from_millis(1)),
            Policy {
                max_sandboxes: 2,
                per_sandbox: 1,
                keep_alive: None,
            },
            &["a", "b", "c"],
        );
        inv.invoke("a", &Value::Null).await;
        inv.invoke("b", &Value::Null).await;
        inv.invoke("a", &Value::Null).await; // a is now more recently used than b
        let c = inv.invoke("c", &Value::Null).await;
        assert!(c.cold);
        let log = inv.backend().log.lock().unwrap().clone();
        assert!(log.contains(&"destroy b#1".to_string()), "{log:?}");
        assert!(!log.iter().any(|l| l.starts_with("destroy a")), "{log:?}");
        assert_eq!(inv.stats.evictions.load(Ordering::Relaxed), 1);
        let census = inv.census();
        assert_eq!((census.get("a"), census.get("c")), (Some(&1), Some(&1)));
    }

    #[tokio::test]
    async fn busy_sandboxes_are_not_evicted_requests_wait() {
        let inv = invoker(
            Fake::new(Duration::from_millis(100)),
            Policy {
                max_sandboxes: 1,
                per_sandbox: 1,
                keep_alive: None,
            },
            &["a", "b"],
        );
        let i2 = inv.clone();
        let a = tokio::spawn(async move { i2.invoke("a", &Value::Null).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b = inv.invoke("b", &Value::Null).await;
        let a = a.await.unwrap();
        assert!(a.ok() && b.ok() && b.cold);
        // b had to wait for a's run to finish before it could evict a.
        assert!(b.latency >= Duration::from_millis(70), "{:?}", b.latency);
        let log = inv.backend().log.lock().unwrap().clone();
        let run_a = log.iter().position(|l| l.starts_with("run a")).unwrap();
        let destroy_a = log.iter().position(|l| l.starts_with("destroy a")).unwrap();
        assert!(run_a < destroy_a);
    }

    #[tokio::test]
    async fn keep_alive_expires_idle_sandboxes() {
        let inv = invoker(
            Fake::new(Duration::from_millis(1)),
            Policy {
                max_sandboxes: 4,
                per_sandbox: 1,
                keep_alive: Some(Duration::from_millis(50)),
            },
            &["a", "b"],
        );
        inv.invoke("a", &Value::Null).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        let b = inv.invoke("b", &Value::Null).await;
        assert!(b.cold);
        assert_eq!(inv.census().get("a"), None, "a expired");
        assert_eq!(inv.stats.expirations.load(Ordering::Relaxed), 1);
        let again = inv.invoke("a", &Value::Null).await;
        assert!(again.cold, "an expired action starts cold again");
    }

    #[tokio::test]
    async fn a_sandbox_that_stops_answering_is_replaced() {
        let inv = invoker(
            Fake::new(Duration::from_millis(1)),
            Policy {
                max_sandboxes: 1,
                per_sandbox: 1,
                keep_alive: None,
            },
            &["doomed", "a"],
        );
        let o = inv.invoke("doomed", &Value::Null).await;
        assert!(!o.ok() && o.error_text().unwrap().contains("connection refused"));
        assert!(inv.sandboxes().is_empty(), "the dead sandbox is gone");
        assert_eq!(inv.stats.lost_sandboxes.load(Ordering::Relaxed), 1);
        // The cap is free again: another action starts without waiting for an eviction.
        assert!(inv.invoke("a", &Value::Null).await.ok());
    }

    #[tokio::test]
    async fn prepare_and_shutdown() {
        let inv = invoker(
            Fake::new(Duration::from_millis(1)),
            Policy {
                max_sandboxes: 3,
                per_sandbox: 1,
                keep_alive: None,
            },
            &["a"],
        );
        inv.prepare("a", 5).await.unwrap();
        assert_eq!(inv.sandboxes().len(), 3, "prepare respects the cap");
        assert!(!inv.invoke("a", &Value::Null).await.cold);
        inv.shutdown().await;
        assert!(inv.sandboxes().is_empty());
        assert_eq!(inv.backend().count("destroy"), 3);
    }

    #[tokio::test]
    async fn an_overloaded_answer_is_an_error() {
        let inv = invoker(
            Fake::new(Duration::from_millis(1)),
            Policy {
                max_sandboxes: 4,
                per_sandbox: 1,
                keep_alive: None,
            },
            &["overloaded"],
        );
        let sample = inv.invoke("overloaded", &Value::Null).await.sample();
        assert!(!sample.ok);
        assert_eq!(
            sample.error.as_deref(),
            Some("HTTP 429: Too many requests.")
        );
        inv.shutdown().await;
    }
}
