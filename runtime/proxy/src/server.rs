//! The HTTP front: OpenWhisk's `POST /init` and `POST /run`, plus `GET /health` for readiness.
//! Every failure is answered with `{"error": …}` and the protocol's status for it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::time::Instant;
use wow_protocol::{Failure, InitRequest, MAX_INIT_BODY_BYTES, MAX_RUN_BODY_BYTES, RunRequest};

use crate::actionloop::Pool;
use crate::activation::{Limits, Outcome};
use crate::admission::Admission;
use crate::install::{self, Installed};
use crate::options::{ExecMode, Options};
use crate::{process, spawn};

/// Time spent executing the activation, in microseconds (diagnostics only).
pub const EXEC_HEADER: HeaderName = HeaderName::from_static("x-wow-exec-us");

pub struct App {
    opts: Options,
    phase: Mutex<Phase>,
    admission: Admission,
}

enum Phase {
    Empty,
    Initializing,
    Ready(Arc<Action>),
}

struct Action {
    installed: Installed,
    runner: Runner,
}

enum Runner {
    Spawn,
    Loop(Pool),
}

impl App {
    pub fn new(opts: Options) -> App {
        let admission = Admission::new(opts.concurrency as usize, opts.max_queue);
        App {
            opts,
            phase: Mutex::new(Phase::Empty),
            admission,
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ready(&self) -> Option<Arc<Action>> {
        match &*self.phase() {
            Phase::Ready(action) => Some(action.clone()),
            _ => None,
        }
    }
}

/// The one `/init` in progress; reopens init if dropped before completing (failure, or client gone).
struct InitClaim<'a> {
    app: &'a App,
    done: bool,
}

impl InitClaim<'_> {
    fn claim(app: &App) -> Option<InitClaim<'_>> {
        let mut phase = app.phase();
        match *phase {
            Phase::Empty => {
                *phase = Phase::Initializing;
                Some(InitClaim { app, done: false })
            }
            _ => None,
        }
    }

    fn complete(mut self, action: Action) {
        *self.app.phase() = Phase::Ready(Arc::new(action));
        self.done = true;
    }
}

impl Drop for InitClaim<'_> {
    fn drop(&mut self) {
        if !self.done {
            *self.app.phase() = Phase::Empty;
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/init", post(init).layer(DefaultBodyLimit::disable()))
        .route("/run", post(run).layer(DefaultBodyLimit::disable()))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn health() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

async fn not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        &wow_protocol::error_body("Not found."),
    )
}

async fn method_not_allowed() -> Response {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        &wow_protocol::error_body("Method not allowed."),
    )
}

/// The request body, up to `limit`; an oversized one is drained (up to as much again, at least
/// 16 MiB) so its sender sees the 413. Also says whether its rest is still on the connection.
async fn read_body(body: Body, limit: usize) -> (Result<Bytes, Failure>, bool) {
    match wow_protocol::body::read_limited(body, limit, limit.max(16 << 20)).await {
        Ok(b) => (Ok(b), false),
        Err(e) => (Err(e.failure), e.unread),
    }
}

async fn init(State(app): State<Arc<App>>, body: Body) -> Response {
    let (body, unread) = read_body(body, MAX_INIT_BODY_BYTES).await;
    let response = match init_action(&app, body).await {
        Ok(()) => json(StatusCode::OK, r#"{"ok":true}"#),
        Err(f) => {
            eprintln!(
                "wow-proxy: /init failed: {}",
                wow_protocol::log_safe(&f.message())
            );
            failure(&f)
        }
    };
    close_if(unread, response)
}

/// A body that was not read to its end (over the limit, or broken off) leaves its rest on the
/// connection, which is then closed: the client is told not to send its next request there.
fn close_if(unread: bool, mut response: Response) -> Response {
    if unread {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn init_action(app: &App, body: Result<Bytes, Failure>) -> Result<(), Failure> {
    let claim = InitClaim::claim(app).ok_or(Failure::Reinit)?;
    let body = body?;
    let req = InitRequest::parse(&body)?;
    drop(body);
    let installed = install::install(&req, &app.opts.action_dir).await?;
    let runner = match app.opts.exec_mode {
        ExecMode::Spawn => Runner::Spawn,
        ExecMode::Actionloop => Runner::Loop(Pool::start(installed.clone()).await?),
    };
    claim.complete(Action { installed, runner });
    Ok(())
}

async fn run(State(app): State<Arc<App>>, body: Body) -> Response {
    let (body, unread) = read_body(body, MAX_RUN_BODY_BYTES).await;
    close_if(unread, run_action(&app, body).await)
}

async fn run_action(app: &App, body: Result<Bytes, Failure>) -> Response {
    let Some(action) = app.ready() else {
        return failure(&Failure::NotInitialized);
    };
    let req = match body.and_then(|body| RunRequest::parse(&body)) {
        Ok(req) => req,
        Err(f) => return failure(&f),
    };

    // A caller's deadline is absolute: time spent queueing counts. Without one, the default
    // limit counts from the start of execution.
    let (caller_deadline, limit_ms) = match req.deadline_ms() {
        Some(epoch_ms) => {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let left = epoch_ms.saturating_sub(now_ms);
            (Some(Instant::now() + Duration::from_millis(left)), left)
        }
        None => (None, app.opts.default_timeout_ms),
    };
    let timeout = Failure::Timeout { limit_ms };
    let _slot = match app.admission.enter(caller_deadline).await {
        Ok(Some(slot)) => slot,
        Ok(None) => return failure(&timeout),
        Err(f) => return failure(&f),
    };
    if process::stopping() {
        return failure(&Failure::Internal(
            "The proxy is shutting down.".to_string(),
        ));
    }
    let deadline = match caller_deadline {
        Some(d) if Instant::now() >= d => return failure(&timeout),
        Some(d) => d,
        None => Instant::now() + Duration::from_millis(app.opts.default_timeout_ms),
    };
    let limits = Limits {
        deadline,
        limit_ms,
        max_output: usize::try_from(app.opts.max_output_bytes).unwrap_or(usize::MAX),
    };
    let outcome = match &action.runner {
        Runner::Spawn => spawn::run(&action.installed, &req, &limits).await,
        Runner::Loop(pool) => pool.run(&req, &limits).await,
    };
    respond(outcome)
}

fn respond(outcome: Outcome) -> Response {
    let exec_us = HeaderValue::from(u64::try_from(outcome.exec.as_micros()).unwrap_or(u64::MAX));
    let mut response = match outcome.result {
        Ok(result) => {
            (StatusCode::OK, [(CONTENT_TYPE, "application/json")], result).into_response()
        }
        Err(f) => failure(&f),
    };
    response.headers_mut().insert(EXEC_HEADER, exec_us);
    response
}

fn failure(f: &Failure) -> Response {
    let status = StatusCode::from_u16(f.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &f.body())
}

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
