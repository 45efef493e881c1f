//! Child-process plumbing shared by both exec modes: starting an action process as the leader of
//! its own process group (retrying on ETXTBSY), noticing its exit without reaping it, killing its
//! whole group, and the registry of live groups that shutdown kills.
//!
//! Why groups: an action may start helpers (a shell script's `sleep`); killing only the action
//! would leave them running and holding its output pipes open. Why "without reaping": a group id
//! is the leader's pid, and that number may be reused once the leader is reaped, so the group is
//! always killed first and the leader reaped after.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Leaders of the groups started and not yet killed.
static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Set once shutdown began: groups started afterwards are killed at once.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// The process group of a started action. Dropping it kills the group, so a cancelled request
/// leaves nothing running.
pub struct Group {
    pid: u32,
    armed: bool,
}

impl Group {
    fn register(pid: u32) -> Group {
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).insert(pid);
        let mut group = Group { pid, armed: true };
        if stopping() {
            group.kill();
        }
        group
    }

    /// The leader's pid, which is also the group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills every process of the group (once). Call it before reaping the leader.
    pub fn kill(&mut self) {
        if self.armed {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            kill_group(self.pid);
            live.remove(&self.pid);
            self.armed = false;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(pid: u32) {
    // SAFETY: plain syscall; the leader is unreaped, so `pid` still names our group.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Kills every live action group and makes later starts die at once (shutdown).
pub fn kill_all() {
    STOPPING.store(true, Ordering::SeqCst);
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    for &pid in live.iter() {
        kill_group(pid);
    }
}

pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Starts `cmd`, which must have `process_group(0)` set. Retries briefly on ETXTBSY: another
/// thread's fork may still hold a copy of the freshly written executable's write descriptor.
pub async fn start(cmd: &mut Command) -> io::Result<(Child, Group)> {
    let mut delay = Duration::from_millis(2);
    let child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e)
                if e.raw_os_error() == Some(libc::ETXTBSY)
                    && delay <= Duration::from_millis(128) =>
            {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    };
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("the action process vanished at start"))?;
    Ok((child, Group::register(pid)))
}

/// Keeps the proxy's own bearer token (and the path of its file) out of an action's inherited
/// environment: the action's output goes to logs that others may read.
pub fn hide_secrets(cmd: &mut Command) {
    cmd.env_remove(wow_protocol::auth::TOKEN_ENV)
        .env_remove(wow_protocol::auth::TOKEN_FILE_ENV);
}

/// Adds environment variables, skipping any that cannot be one (a name with `=` or NUL, a value
/// with NUL) instead of failing the start.
pub fn set_env<'a>(cmd: &mut Command, vars: impl IntoIterator<Item = &'a (String, String)>) {
    for (name, value) in vars {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            eprintln!("wow-proxy: skipping environment variable {name:?}: not representable");
            continue;
        }
        cmd.env(name, value);
    }
}

/// A SIGCHLD listener for [`exited`]; create it before starting the child.
pub fn child_signal() -> Option<Signal> {
    signal(SignalKind::child()).ok()
}

/// Whether `pid` (our child) has ended. Does not reap it.
pub fn has_exited(pid: u32) -> bool {
    // SAFETY: `waitid` writes into the zeroed `siginfo_t` we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            // ECHILD: already reaped, so certainly ended.
            return io::Error::last_os_error().raw_os_error() != Some(libc::EINTR);
        }
        info.si_pid() != 0
    }
}

/// Resolves when `pid` (our child) has ended, leaving it unreaped.
pub async fn exited(pid: u32, sigchld: &mut Option<Signal>) {
    while !has_exited(pid) {
        // SIGCHLD wakes us; the timer only guards against a lost wake-up.
        let tick = tokio::time::sleep(Duration::from_millis(250));
        match sigchld {
            Some(s) => {
                tokio::select! {
                    _ = s.recv() => {}
                    () = tick => {}
                }
            }
            None => tick.await,
        }
    }
}

/// "exit code 3", "signal 9 (SIGKILL)".
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig} ({})", signal_name(sig)),
        _ => status.to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "unknown signal",
    }
}

/// The message of an action ended by a signal without a valid result.
pub fn killed_message(sig: i32) -> String {
    let hint = if sig == libc::SIGKILL {
        " (SIGKILL from outside the proxy usually means the container ran out of memory)"
    } else {
        ""
    };
    format!(
        "The action was terminated by signal {sig} ({}) before returning a result{hint}.",
        signal_name(sig)
    )
}
