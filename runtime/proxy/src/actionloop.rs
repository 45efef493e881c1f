//! Actionloop mode, the model of OpenWhisk's Go action loop: long-lived action processes started
//! with `__OW_ACTIONLOOP=1` and a result pipe on fd 3. Per activation the proxy writes one line
//! `{"value":<params>,<context fields>}` to the process's stdin and reads one result line from
//! fd 3. A process serves one activation at a time; the pool keeps at most `concurrency` of them
//! (the first started at `/init`, more on demand). A process that overruns its deadline, crashes,
//! floods its output or breaks the framing is killed and replaced by a fresh one.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::sleep_until;
use wow_protocol::{
    ACTIONLOOP_ENV, ACTIONLOOP_RESULT_FD, Failure, MAX_PAYLOAD_BYTES, RunRequest, check_result,
};

use crate::activation::{Limits, Outcome};
use crate::install::Installed;
use crate::logs::{self, Entry, Lines};
use crate::process::{self, Group};
use crate::stream::{self, LineEnd};

/// How long a process whose result pipe closed gets to finish exiting on its own.
const EXIT_GRACE: Duration = Duration::from_millis(200);

pub struct Pool {
    action: Installed,
    /// Idle processes; the most recently used is reused first.
    idle: Mutex<Vec<LoopProc>>,
}

impl Pool {
    /// Starts the first process, so that `/init` fails if the action cannot start.
    pub async fn start(action: Installed) -> Result<Pool, Failure> {
        let first = LoopProc::spawn(&action)
            .await
            .map_err(|e| Failure::InitFailed(format!("The action could not be started: {e}.")))?;
        Ok(Pool {
            action,
            idle: Mutex::new(vec![first]),
        })
    }

    /// Runs one activation. The caller holds a concurrency slot, which bounds the pool's size.
    pub async fn run(&self, req: &RunRequest, limits: &Limits) -> Outcome {
        let id = &*req.log_id();
        // Includes starting a process when none is idle: that is part of executing this run.
        let started = Instant::now();
        let mut proc = match self.take(limits.max_output).await {
            Ok(p) => p,
            Err(e) => {
                let failure =
                    Failure::ActionFailed(format!("The action could not be started: {e}."));
                send_tail(Vec::new(), logs::note(id, &failure.message())).await;
                return Outcome {
                    result: Err(failure),
                    exec: started.elapsed(),
                };
            }
        };
        let envelope = stream::envelope_line(req);
        let mut line = Vec::new();
        let exchanged = proc.exchange(&envelope, id, limits, &mut line).await;
        let exec = started.elapsed();

        let broken = match exchanged {
            Ok(()) => {
                // The process is in step with the protocol whatever the line holds: keep it.
                let result = check_result(line.trim_ascii()).map(<[u8]>::to_vec);
                let (out, mut err) = proc.drain_logs(id, limits.max_output);
                if let Err(f) = &result {
                    err.extend_from_slice(&logs::note(id, &f.message()));
                }
                send_tail(out, err).await;
                self.give_back(proc);
                return Outcome { result, exec };
            }
            Err(broken) => broken,
        };
        // A process that ended on its own gets a moment to finish exiting, for a true status.
        let ended = matches!(broken, Broken::Died) && {
            let mut sigchld = process::child_signal();
            let exited = process::exited(proc.group.pid(), &mut sigchld);
            tokio::time::timeout(EXIT_GRACE, exited).await.is_ok()
        };
        let status = proc.kill().await;
        let failure = match broken {
            Broken::Timeout => Failure::Timeout {
                limit_ms: limits.limit_ms,
            },
            Broken::Flood(stream) => Failure::ActionFailed(format!(
                "The action wrote more than {} bytes to {stream} and was stopped.",
                limits.max_output
            )),
            Broken::TooLong => Failure::TooLarge(format!(
                "The action produced a response that exceeded the allowed length of {MAX_PAYLOAD_BYTES} bytes."
            )),
            Broken::Died => match &status {
                Ok(status) if ended => died_message(*status),
                _ => Failure::ActionFailed(
                    "The action closed its result pipe or stdin without returning a result."
                        .to_string(),
                ),
            },
        };
        let (out, mut err) = proc.drain_logs(id, limits.max_output);
        let how = match &status {
            Ok(status) => process::describe(*status),
            Err(e) => e.to_string(),
        };
        let note = format!(
            "{} (process {} ended with {how})",
            failure.message(),
            proc.group.pid()
        );
        err.extend_from_slice(&logs::note(id, &note));
        send_tail(out, err).await;
        drop(proc);
        self.replace().await;
        Outcome {
            result: Err(failure),
            exec,
        }
    }

    /// An idle process, or a new one if none is idle. Discards idle processes that ended.
    async fn take(&self, max_output: usize) -> io::Result<LoopProc> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(mut proc) = idle else {
                return LoopProc::spawn(&self.action).await;
            };
            if !process::has_exited(proc.group.pid()) {
                return Ok(proc);
            }
            let status = proc.kill().await;
            let (out, err) = proc.drain_logs("-", max_output);
            logs::send(Entry::Stdout(out)).await;
            logs::send(Entry::Stderr(err)).await;
            eprintln!(
                "wow-proxy: idle action process {} ended ({}); starting another",
                proc.group.pid(),
                status
                    .map(process::describe)
                    .unwrap_or_else(|e| e.to_string())
            );
        }
    }

    fn give_back(&self, proc: LoopProc) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(proc);
    }

    /// Starts a fresh process in place of a killed one, so the next run finds it ready.
    async fn replace(&self) {
        if process::stopping() {
            return;
        }
        match LoopProc::spawn(&self.action).await {
            Ok(proc) => self.give_back(proc),
            Err(e) => eprintln!("wow-proxy: could not restart the action process: {e}"),
        }
    }
}

fn died_message(status: ExitStatus) -> Failure {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => Failure::ActionFailed(process::killed_message(sig)),
        None => Failure::ActionFailed(format!(
            "The action process ended ({}) before returning a result.",
            process::describe(status)
        )),
    }
}

/// Ends an activation's logs: its remaining output, then the sentinel on both streams.
async fn send_tail(stdout: Vec<u8>, stderr: Vec<u8>) {
    logs::send(Entry::Activation { stdout, stderr }).await;
}

/// Why an exchange with a loop process broke off; the process cannot be reused.
enum Broken {
    Timeout,
    Flood(&'static str),
    /// The result line grew past the payload limit.
    TooLong,
    /// The result pipe closed, or stdin could not take the envelope.
    Died,
}

/// One long-lived action process.
struct LoopProc {
    /// Declared before `child`: dropping kills the group while the leader is still unreaped.
    group: Group,
    child: Child,
    stdin: ChildStdin,
    results: BufReader<pipe::Receiver>,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    out_lines: Lines,
    err_lines: Lines,
    out_eof: bool,
    err_eof: bool,
}

impl LoopProc {
    async fn spawn(action: &Installed) -> io::Result<LoopProc> {
        let (results_r, results_w) = io::pipe()?;
        let (out_r, out_w) = io::pipe()?;
        let (err_r, err_w) = io::pipe()?;
        let mut cmd = Command::new(&action.exec);
        cmd.current_dir(&action.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out_w))
            .stderr(Stdio::from(err_w))
            .process_group(0)
            .kill_on_drop(true);
        process::hide_secrets(&mut cmd);
        process::set_env(&mut cmd, &action.env);
        cmd.env(ACTIONLOOP_ENV, "1");
        let fd = results_w.as_raw_fd();
        // SAFETY: the closure only makes async-signal-safe syscalls (dup2, fcntl).
        unsafe {
            cmd.pre_exec(move || place_result_fd(fd));
        }
        let (mut child, group) = process::start(&mut cmd).await?;
        // Close our copies of the pipes' write ends, or their readers would never see the end.
        drop(cmd);
        drop(results_w);
        let stdin = child.stdin.take().expect("stdin is piped");
        Ok(LoopProc {
            group,
            child,
            stdin,
            results: BufReader::with_capacity(64 * 1024, receiver(results_r)?),
            stdout: receiver(out_r)?,
            stderr: receiver(err_r)?,
            out_lines: Lines::default(),
            err_lines: Lines::default(),
            out_eof: false,
            err_eof: false,
        })
    }

    /// Sends the envelope and waits for the result line, forwarding logs meanwhile.
    async fn exchange(
        &mut self,
        envelope: &[u8],
        id: &str,
        limits: &Limits,
        line: &mut Vec<u8>,
    ) -> Result<(), Broken> {
        let LoopProc {
            stdin,
            results,
            stdout,
            stderr,
            out_lines,
            err_lines,
            out_eof,
            err_eof,
            ..
        } = self;
        let cap = limits.max_output;
        let (mut out_n, mut err_n) = (0usize, 0usize);
        let mut out_buf = vec![0u8; 16 * 1024];
        let mut err_buf = vec![0u8; 16 * 1024];
        let mut send = pin!(async move {
            stdin.write_all(envelope).await?;
            stdin.flush().await
        });
        let mut sent = false;
        let mut recv = pin!(stream::read_line_capped(results, line, MAX_PAYLOAD_BYTES));
        loop {
            tokio::select! {
                r = &mut send, if !sent => {
                    sent = true;
                    if r.is_err() { return Err(Broken::Died) }
                }
                end = &mut recv => return match end {
                    LineEnd::Line => Ok(()),
                    LineEnd::Eof => Err(Broken::Died),
                    LineEnd::TooLong => Err(Broken::TooLong),
                },
                r = stdout.read(&mut out_buf), if !*out_eof => match r {
                    Ok(n) if n > 0 => {
                        out_n += n;
                        forward(id, out_lines, &out_buf[..n], Entry::Stdout).await;
                        if out_n > cap { return Err(Broken::Flood("stdout")) }
                    }
                    _ => *out_eof = true,
                },
                r = stderr.read(&mut err_buf), if !*err_eof => match r {
                    Ok(n) if n > 0 => {
                        err_n += n;
                        forward(id, err_lines, &err_buf[..n], Entry::Stderr).await;
                        if err_n > cap { return Err(Broken::Flood("stderr")) }
                    }
                    _ => *err_eof = true,
                },
                () = sleep_until(limits.deadline) => return Err(Broken::Timeout),
            }
        }
    }

    /// The output written so far and not yet forwarded, as prefixed lines (stdout, stderr).
    fn drain_logs(&mut self, id: &str, max: usize) -> (Vec<u8>, Vec<u8>) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        for (pipe, lines, eof, logged) in [
            (
                &self.stdout,
                &mut self.out_lines,
                &mut self.out_eof,
                &mut out,
            ),
            (
                &self.stderr,
                &mut self.err_lines,
                &mut self.err_eof,
                &mut err,
            ),
        ] {
            let mut raw = Vec::new();
            if !*eof {
                *eof = stream::drain_now(pipe.as_raw_fd(), &mut raw, max);
            }
            lines.feed(id, &raw, logged);
            lines.finish(id, logged);
        }
        (out, err)
    }

    /// Kills the process's group and reaps it.
    async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.group.kill();
        self.child.wait().await
    }
}

async fn forward(id: &str, lines: &mut Lines, chunk: &[u8], entry: fn(Vec<u8>) -> Entry) {
    let mut out = Vec::new();
    lines.feed(id, chunk, &mut out);
    if !out.is_empty() {
        logs::send(entry(out)).await;
    }
}

fn receiver(r: io::PipeReader) -> io::Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd(OwnedFd::from(r))
}

/// In the child, between fork and exec: put the result pipe's write end on fd 3, without
/// close-on-exec. (Fd 3 of the proxy itself is taken for its lifetime by the runtime's poller,
/// so no descriptor the child still needs can be sitting there.)
fn place_result_fd(fd: RawFd) -> io::Result<()> {
    // SAFETY: async-signal-safe syscalls on descriptors of this process.
    let rc = unsafe {
        if fd == ACTIONLOOP_RESULT_FD {
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, ACTIONLOOP_RESULT_FD)
        }
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
