//! Host ports for containers, chosen by the harness (bind port 0, read it, release it) so that
//! provisioning needs no `inspect` to learn where a container was published. Ports handed out
//! recently are not handed out again, so a new container never reuses the address of one just
//! removed (whose pooled HTTP connections may still be closing). A clash with another program
//! remains possible between release and use; the caller retries with a new port.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, TcpListener};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

/// How many recently handed-out ports are kept out of circulation.
const RECENT: usize = 4096;

struct Recent {
    set: HashSet<u16>,
    order: VecDeque<u16>,
}

static RECENT_PORTS: Mutex<Option<Recent>> = Mutex::new(None);

/// A port on `ip` that was free a moment ago and was not handed out recently by this process.
pub fn pick(ip: IpAddr) -> Result<u16> {
    for _ in 0..64 {
        let port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .with_context(|| format!("cannot find a free port on {ip}"))?
            .port();
        let mut guard = RECENT_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        let recent = guard.get_or_insert_with(|| Recent {
            set: HashSet::new(),
            order: VecDeque::new(),
        });
        if !recent.set.insert(port) {
            continue;
        }
        recent.order.push_back(port);
        if recent.order.len() > RECENT
            && let Some(old) = recent.order.pop_front()
        {
            recent.set.remove(&old);
        }
        return Ok(port);
    }
    bail!("cannot find a free port on {ip} that was not used recently")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_not_handed_out_twice() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let mut seen = HashSet::new();
        for _ in 0..200 {
            assert!(seen.insert(pick(ip).unwrap()));
        }
    }
}
