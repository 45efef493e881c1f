//! `wow-proxy`: the native OpenWhisk action proxy that runs inside wowbench's Docker containers.
//!
//! It speaks the action runtime protocol of `wow-protocol` (`POST /init` with the action's
//! executable as base64, `POST /run` with the parameters), like OpenWhisk's `dockerskeleton`,
//! the image the WOW paper's Docker baseline used. A static musl binary, so a `FROM scratch`
//! image holds nothing but it and the action.

mod actionloop;
mod activation;
mod admission;
mod install;
mod logs;
mod options;
mod process;
mod reaper;
mod server;
mod spawn;
mod stream;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

use crate::options::Options;

/// How long in-flight requests get to finish after SIGTERM before the proxy exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let opts = Options::parse();
    if let Err(e) = std::fs::create_dir_all(&opts.action_dir) {
        eprintln!(
            "wow-proxy: cannot create the action directory {}: {e}",
            opts.action_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wow-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(opts))
}

async fn serve(opts: Options) -> ExitCode {
    let token = match opts.auth.token() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("wow-proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    logs::start();
    reaper::start();
    let listener = match tokio::net::TcpListener::bind(opts.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wow-proxy: cannot listen on {}: {e}", opts.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| opts.listen.to_string(), |a| a.to_string());
    eprintln!(
        "wow-proxy: listening on {addr} (exec mode {}, concurrency {}, action dir {}{})",
        opts.exec_mode.name(),
        opts.concurrency,
        opts.action_dir.display(),
        if token.is_some() {
            ", bearer token required"
        } else {
            ""
        }
    );
    let app = wow_protocol::auth::protect(server::router(Arc::new(server::App::new(opts))), token);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await;
    process::kill_all();
    logs::flush(Duration::from_secs(1)).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wow-proxy: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or SIGINT, after killing every action process so in-flight runs end now.
async fn shutdown() {
    let name = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => std::future::pending().await,
    };
    eprintln!("wow-proxy: {name}: stopping");
    process::kill_all();
    tokio::spawn(async {
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        eprintln!("wow-proxy: requests still open after {SHUTDOWN_GRACE:?}; exiting");
        logs::flush(Duration::from_millis(200)).await;
        std::process::exit(0);
    });
}
