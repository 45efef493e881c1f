//! Zombie reaping when the proxy is PID 1, as it is in a `FROM scratch` container (there is no
//! init): orphaned helpers of actions are re-parented to it and would otherwise stay zombies.
//! Only zombies that do not lead a process group are reaped: every direct child of the proxy
//! leads its own group and is reaped by the code that started it, whose exit status must not be
//! stolen. (A helper that made itself a group leader is left alone; it is rare enough.)

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

pub fn start() {
    if std::process::id() != 1 {
        return;
    }
    let Ok(mut sigchld) = signal(SignalKind::child()) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            reap_orphans();
            tokio::select! {
                _ = sigchld.recv() => {}
                () = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
        }
    });
}

fn reap_orphans() {
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_ascii_whitespace();
        let (Some(state), Some(ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if state == "Z" && ppid == me && pgrp.parse::<i32>() != Ok(pid) {
            // SAFETY: plain syscall on a zombie that is our child and no one else's to reap.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}
