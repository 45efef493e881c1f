//! Spawn mode, the model of OpenWhisk's `dockerskeleton` (the paper's Docker baseline): a fresh
//! process per activation, the parameters as one JSON line on stdin (then closed), the result as
//! the last line of stdout, everything before it and all of stderr as logs.

use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::time::sleep_until;
use wow_protocol::{ACTIONLOOP_ENV, Failure, RunRequest, parse_output};

use crate::activation::{Limits, Outcome};
use crate::install::Installed;
use crate::logs::{self, Entry};
use crate::process;
use crate::stream::{self, Capped};

/// How long to wait, after the action ended, for the rest of its output.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exited,
    Timeout,
    Flood(&'static str),
}

pub async fn run(action: &Installed, req: &RunRequest, limits: &Limits) -> Outcome {
    let id = &*req.log_id();
    let started = Instant::now();
    let mut sigchld = process::child_signal();

    let mut cmd = Command::new(&action.exec);
    cmd.current_dir(&action.dir)
        .env_remove(ACTIONLOOP_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    process::hide_secrets(&mut cmd);
    process::set_env(&mut cmd, &req.action_env(&action.env));

    let (mut child, mut group) = match process::start(&mut cmd).await {
        Ok(started) => started,
        Err(e) => {
            let failure = Failure::ActionFailed(format!("The action could not be started: {e}."));
            finish_logs(id, b"", b"", Some(&failure.message())).await;
            return Outcome {
                result: Err(failure),
                exec: started.elapsed(),
            };
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let input = stream::params_line(req.params.get());
    let cap = limits.max_output;

    let mut out = Vec::new();
    let mut err = Vec::new();
    let end = {
        let mut feed = pin!(stream::write_and_close(stdin, &input));
        let mut read_out = pin!(stream::read_capped(stdout, cap, &mut out));
        let mut read_err = pin!(stream::read_capped(stderr, cap, &mut err));
        let mut exit = pin!(process::exited(group.pid(), &mut sigchld));
        let (mut fed, mut out_done, mut err_done) = (false, false, false);
        let mut end = loop {
            tokio::select! {
                () = &mut feed, if !fed => fed = true,
                r = &mut read_out, if !out_done => {
                    out_done = true;
                    if r == Capped::Over { break End::Flood("stdout") }
                }
                r = &mut read_err, if !err_done => {
                    err_done = true;
                    if r == Capped::Over { break End::Flood("stderr") }
                }
                () = &mut exit => break End::Exited,
                () = sleep_until(limits.deadline) => break End::Timeout,
            }
        };
        // The activation is over: nothing of its group may outlive it (leftover helpers would
        // also hold the output pipes open). The leader is still unreaped here.
        group.kill();
        if end == End::Exited {
            // What the action wrote before it ended is in the pipes: read it to the end.
            let until = limits.deadline.min((Instant::now() + DRAIN_GRACE).into());
            while !(out_done && err_done) {
                tokio::select! {
                    r = &mut read_out, if !out_done => {
                        out_done = true;
                        if r == Capped::Over { end = End::Flood("stdout"); break }
                    }
                    r = &mut read_err, if !err_done => {
                        err_done = true;
                        if r == Capped::Over { end = End::Flood("stderr"); break }
                    }
                    () = sleep_until(until) => break,
                }
            }
        }
        end
    };
    let status = child.wait().await;
    let exec = started.elapsed();

    let (logs_part, parsed) = parse_output(&out);
    let (logged_stdout, result): (&[u8], _) = match end {
        End::Timeout => (
            &out,
            Err(Failure::Timeout {
                limit_ms: limits.limit_ms,
            }),
        ),
        End::Flood(stream) => (
            &out,
            Err(Failure::ActionFailed(format!(
                "The action wrote more than {cap} bytes to {stream} and was stopped."
            ))),
        ),
        End::Exited => match (parsed, &status) {
            (Ok(line), _) => (logs_part, Ok(line.to_vec())),
            (Err(_), Ok(status)) if status.signal().is_some() => (
                &out,
                Err(Failure::ActionFailed(process::killed_message(
                    status.signal().unwrap_or_default(),
                ))),
            ),
            (Err(f), _) => (&out, Err(f)),
        },
    };
    let note = match (&result, &status) {
        (Ok(_), _) => None,
        (Err(f), Ok(status)) => Some(format!(
            "{} (the action ended with {})",
            f.message(),
            process::describe(*status)
        )),
        (Err(f), Err(_)) => Some(f.message()),
    };
    finish_logs(id, logged_stdout, &err, note.as_deref()).await;
    Outcome { result, exec }
}

async fn finish_logs(id: &str, stdout: &[u8], stderr: &[u8], note: Option<&str>) {
    let mut stderr = logs::prefixed(id, stderr);
    if let Some(note) = note {
        stderr.extend_from_slice(&logs::note(id, note));
    }
    logs::send(Entry::Activation {
        stdout: logs::prefixed(id, stdout),
        stderr,
    })
    .await;
}
