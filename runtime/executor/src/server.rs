//! The HTTP face of the executor: OpenWhisk's single-action routes, the multi-sandbox routes,
//! health and metrics.
//!
//! Bodies are read with an explicit limit so an oversized request gets the protocol's JSON 413
//! rather than the framework's plain-text one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use wow_protocol::auth::{self, Token};
use wow_protocol::body::BodyError;
use wow_protocol::{Failure, InitRequest, MAX_INIT_BODY_BYTES, MAX_RUN_BODY_BYTES, RunRequest};

use crate::executor::{DEFAULT_SANDBOX, Executor, invalid_sandbox_id, valid_sandbox_id};
use crate::metrics::Gauges;
use crate::timing::{self, Steps};

pub fn router(exec: Arc<Executor>) -> Router {
    Router::new()
        .route("/init", post(init_default))
        .route("/run", post(run_default))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/{sandbox}/init", post(init_sandbox))
        .route("/{sandbox}/run", post(run_sandbox))
        .route("/{sandbox}/destroy", post(destroy_sandbox))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(exec)
}

/// Serves until SIGINT or SIGTERM; with a `token`, every route but `/health` requires it.
pub async fn serve(
    exec: Arc<Executor>,
    listener: tokio::net::TcpListener,
    token: Option<Token>,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, auth::protect(router(exec), token))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn failure(exec: &Executor, f: Failure) -> Response {
    exec.metrics.http_errors.fetch_add(1, Ordering::Relaxed);
    let status = StatusCode::from_u16(f.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, f.body())
}

/// Refuses a request with `f` once its body is read: a body left unread makes the server close
/// the connection after answering, and a client that reuses the connection meanwhile sees its
/// next request fail instead of the 400.
async fn refuse_after_reading(exec: &Executor, body: Body, limit: usize, f: Failure) -> Response {
    match read_body(body, limit).await {
        Ok(_) => failure(exec, f),
        Err(e) => unread_body(exec, e),
    }
}

/// The request body, up to `limit`; an oversized one is drained (up to as much again, at least
/// 16 MiB) so its sender sees the 413.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, BodyError> {
    wow_protocol::body::read_limited(body, limit, limit.max(16 << 20)).await
}

/// The answer to a body that could not be read: when its rest is still on the connection, the
/// connection is closed and the client told so.
fn unread_body(exec: &Executor, e: BodyError) -> Response {
    let mut r = failure(exec, e.failure);
    if e.unread {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

async fn do_init(exec: Arc<Executor>, sandbox: &str, trace: Trace, body: Body) -> Response {
    let mut steps = Steps::start();
    let bytes = match read_body(body, MAX_INIT_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(f) => return unread_body(&exec, f),
    };
    steps.mark("read");
    let result = async {
        let req = InitRequest::parse(&bytes)?;
        steps.mark("parse");
        let outcome = exec.init_timed(sandbox, req, &mut steps).await;
        crate::inject::init();
        outcome
    }
    .await;
    let mut r = match result {
        Ok(outcome) => json(
            StatusCode::OK,
            serde_json::to_string(&outcome).expect("serialisable"),
        ),
        Err(f) => failure(&exec, f),
    };
    steps.mark("respond");
    server_timing(trace, &mut r, &steps);
    r
}

async fn do_run(exec: Arc<Executor>, sandbox: &str, trace: Trace, body: Body) -> Response {
    let mut steps = Steps::start();
    let bytes = match read_body(body, MAX_RUN_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(f) => return unread_body(&exec, f),
    };
    steps.mark("read");
    let result = async {
        let req = RunRequest::parse(&bytes)?;
        steps.mark("parse");
        let out = exec.run_timed(sandbox, &req, &mut steps).await;
        crate::inject::run();
        out
    }
    .await;
    let mut r = match result {
        Ok(out) => {
            let mut r = json(StatusCode::OK, out.body);
            let h = r.headers_mut();
            h.insert(
                "x-wow-exec-us",
                HeaderValue::from(out.exec.as_micros() as u64),
            );
            h.insert(
                "x-wow-prewarmed",
                HeaderValue::from_static(if out.prewarmed { "1" } else { "0" }),
            );
            r
        }
        Err(f) => failure(&exec, f),
    };
    steps.mark("respond");
    server_timing(trace, &mut r, &steps);
    r
}

/// Whether the request asked for its steps ([`timing::REQUEST_HEADER`]).
#[derive(Clone, Copy)]
struct Trace(bool);

impl<S: Send + Sync> FromRequestParts<S> for Trace {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Trace(parts.headers.contains_key(timing::REQUEST_HEADER)))
    }
}

/// Answers the steps in `Server-Timing` when the request asked for them.
fn server_timing(trace: Trace, r: &mut Response, steps: &Steps) {
    if trace.0
        && let Ok(v) = HeaderValue::from_str(&steps.header())
    {
        r.headers_mut().insert("server-timing", v);
    }
}

async fn init_default(State(exec): State<Arc<Executor>>, trace: Trace, body: Body) -> Response {
    do_init(exec, DEFAULT_SANDBOX, trace, body).await
}

async fn run_default(State(exec): State<Arc<Executor>>, trace: Trace, body: Body) -> Response {
    do_run(exec, DEFAULT_SANDBOX, trace, body).await
}

/// The sandbox id of a multi-sandbox route; a path that cannot be one (not UTF-8 once
/// percent-decoded, or outside `[A-Za-z0-9._-]{1,128}`) is the protocol's 400, not the
/// framework's plain-text one.
fn sandbox_id(path: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    let id = path.map(|Path(id)| id).map_err(|e| {
        Failure::BadRequest(format!("The sandbox id in the path is not valid: {e}"))
    })?;
    if !valid_sandbox_id(&id) {
        return Err(invalid_sandbox_id(&id));
    }
    Ok(id)
}

async fn init_sandbox(
    State(exec): State<Arc<Executor>>,
    path: Result<Path<String>, PathRejection>,
    trace: Trace,
    body: Body,
) -> Response {
    match sandbox_id(path) {
        Ok(sandbox) => do_init(exec, &sandbox, trace, body).await,
        Err(f) => refuse_after_reading(&exec, body, MAX_INIT_BODY_BYTES, f).await,
    }
}

async fn run_sandbox(
    State(exec): State<Arc<Executor>>,
    path: Result<Path<String>, PathRejection>,
    trace: Trace,
    body: Body,
) -> Response {
    match sandbox_id(path) {
        Ok(sandbox) => do_run(exec, &sandbox, trace, body).await,
        Err(f) => refuse_after_reading(&exec, body, MAX_RUN_BODY_BYTES, f).await,
    }
}

async fn not_found(State(exec): State<Arc<Executor>>) -> Response {
    exec.metrics.http_errors.fetch_add(1, Ordering::Relaxed);
    json(
        StatusCode::NOT_FOUND,
        wow_protocol::error_body("Not found."),
    )
}

async fn method_not_allowed(State(exec): State<Arc<Executor>>) -> Response {
    exec.metrics.http_errors.fetch_add(1, Ordering::Relaxed);
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        wow_protocol::error_body("Method not allowed."),
    )
}

async fn destroy_sandbox(
    State(exec): State<Arc<Executor>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let sandbox = match sandbox_id(path) {
        Ok(sandbox) => sandbox,
        Err(f) => return refuse_after_reading(&exec, body, MAX_RUN_BODY_BYTES, f).await,
    };
    match exec.destroy(&sandbox) {
        Ok(()) => json(StatusCode::OK, r#"{"ok":true}"#),
        Err(f) => failure(&exec, f),
    }
}

async fn health(State(exec): State<Arc<Executor>>) -> impl IntoResponse {
    let body = serde_json::json!({
        "status": "ok",
        "engine": exec.engine.info(),
        "engine_key": exec.engine.key(),
        "allocator": exec.engine.info().allocator,
        "prewarm": exec.prewarms(),
        "sandboxes": exec.sandbox_count(),
        "pid": std::process::id(),
        "limits": {
            "memory_bytes": exec.config.limits.memory_bytes,
            "default_timeout_ms": exec.config.limits.default_timeout.as_millis() as u64,
            "max_timeout_ms": exec.config.limits.max_timeout.as_millis() as u64,
            "stdout_bytes": exec.config.limits.stdout_bytes,
            "concurrency": exec.config.limits.concurrency,
        },
        "code_budget_bytes": exec.config.code_budget_bytes,
        "memory_budget_bytes": exec.memory.limit(),
        "max_queue": exec.config.max_queue,
        "cache_dir": exec.cache.dir().map(|d| d.display().to_string()),
    });
    json(StatusCode::OK, body.to_string())
}

async fn metrics(State(exec): State<Arc<Executor>>) -> impl IntoResponse {
    let s = &exec.cache.stats;
    let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let g = Gauges {
        sandboxes: exec.sandbox_count() as u64,
        pool_instances: exec.pool_size(),
        pool_bytes: exec.budget.used_bytes.load(Ordering::Relaxed),
        cache_memory_hits: r(&s.memory_hits),
        cache_disk_hits: r(&s.disk_hits),
        cache_compiles: r(&s.compiles),
        cache_disk_bytes: r(&s.disk_bytes),
        cache_disk_evictions: r(&s.disk_evictions),
        cache_memory_entries: r(&s.memory_entries),
        cache_loads_in_flight: exec.cache.inflight() as u64,
        cache_compiling: r(&s.compiling),
        code_bytes: exec.code.bytes.load(Ordering::Relaxed),
        memory_used: exec.memory.used(),
        queue_waiting: exec.queue.len() as u64,
    };
    let mut resp = exec.metrics.render(&g).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}
