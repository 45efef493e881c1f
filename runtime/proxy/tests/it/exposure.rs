//! Who can reach the proxy: with no listen option it listens on loopback only, and with a bearer
//! token configured the right token opens `/init` and `/run` (the refusals are hostile-input
//! cases), from a file or from the environment, and the action never sees the token.

use crate::common::Proxy;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use wow_protocol::auth::{TOKEN_ENV, TOKEN_FILE_ENV};

/// Prints the token the action would see in its environment.
const SHOW_TOKEN: &str = r#"#!/bin/sh
printf '{"token":"%s","file":"%s"}\n' "${WOW_AUTH_TOKEN-unset}" "${WOW_AUTH_TOKEN_FILE-unset}"
"#;

/// `SHOW_TOKEN` once per envelope line, on the result descriptor.
const SHOW_TOKEN_LOOP: &str = r#"#!/bin/sh
while read -r line; do
  printf '{"token":"%s","file":"%s"}\n' "${WOW_AUTH_TOKEN-unset}" "${WOW_AUTH_TOKEN_FILE-unset}" >&3
done
"#;

/// A file holding `token` (with a newline, as an editor leaves it).
pub fn token_file(token: &str) -> String {
    // A file per call: the tests run at once, and a file being rewritten reads empty.
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "wow-proxy-token-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path.display().to_string()
}

async fn post(proxy: &Proxy, path: &str, token: &str, body: String) -> (u16, serde_json::Value) {
    let r = proxy
        .client
        .post(format!("{}{path}", proxy.base))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn init_body(script: &str) -> String {
    use base64::Engine;
    json!({"value": {"binary": true,
        "code": base64::engine::general_purpose::STANDARD.encode(script)}})
    .to_string()
}

#[tokio::test]
async fn the_right_token_from_a_file_opens_init_and_run() {
    let file = token_file("file-token-1");
    let proxy = Proxy::start(&["--auth-token-file", &file]);
    assert_eq!(proxy.get("/health").await.status, 200);
    let init = post(&proxy, "/init", "file-token-1", init_body(SHOW_TOKEN)).await;
    assert_eq!(init, (200, json!({"ok": true})));
    let run = post(
        &proxy,
        "/run",
        "file-token-1",
        json!({"value": {}}).to_string(),
    )
    .await;
    assert_eq!(run, (200, json!({"token": "unset", "file": "unset"})));
}

#[tokio::test]
async fn the_right_token_from_the_environment_opens_init_and_run_and_the_action_never_sees_it() {
    for mode in ["spawn", "actionloop"] {
        let proxy = Proxy::start_env(&["--exec-mode", mode], &[(TOKEN_ENV, "env-token-2")]);
        assert_eq!(proxy.get("/health").await.status, 200);
        assert_eq!(proxy.post("/run", "{}").await.status, 401, "{mode}");
        let script = if mode == "spawn" {
            SHOW_TOKEN
        } else {
            SHOW_TOKEN_LOOP
        };
        let init = post(&proxy, "/init", "env-token-2", init_body(script)).await;
        assert_eq!(init, (200, json!({"ok": true})), "{mode}");
        let run = post(
            &proxy,
            "/run",
            "env-token-2",
            json!({"value": {}}).to_string(),
        )
        .await;
        assert_eq!(
            run,
            (200, json!({"token": "unset", "file": "unset"})),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn a_token_in_both_places_or_an_empty_one_stops_the_proxy_at_start() {
    let file = token_file("both-token-3");
    for (args, env, why) in [
        (
            vec!["--auth-token-file", file.as_str()],
            vec![(TOKEN_ENV, "x")],
            "both set",
        ),
        (vec![], vec![(TOKEN_ENV, "")], "the token is empty"),
        (
            vec![],
            vec![(TOKEN_FILE_ENV, "/no/such/token")],
            "cannot read",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_wow-proxy"))
            .args(["--listen", "127.0.0.1:0", "--action-dir"])
            .arg(std::env::temp_dir().join("wow-proxy-never"))
            .args(&args)
            .env_remove(TOKEN_ENV)
            .env_remove(TOKEN_FILE_ENV)
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert!(!stderr.contains("listening"), "{why}: {stderr}");
    }
}

/// Inodes of the listening TCP sockets of `pid`, with their local addresses (from
/// `/proc/<pid>/net/tcp{,6}`, the process's own network namespace).
fn listening_sockets(pid: u32) -> Vec<(String, u64)> {
    let mut inodes = HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let target = target.display().to_string();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                inodes.insert(inode.parse::<u64>().unwrap());
            }
        }
    }
    let mut found = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            if f.len() > 9 && f[3] == "0A" {
                let inode: u64 = f[9].parse().unwrap_or(0);
                found.push((f[1].to_string(), inode));
            }
        }
    }
    found
        .into_iter()
        .filter(|(_, inode)| inodes.contains(inode))
        .collect()
}

/// This machine's own IPv4 addresses other than loopback (`hostname -I`).
fn own_addresses() -> Vec<IpAddr> {
    let out = Command::new("hostname").arg("-I").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    text.unwrap_or_default()
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .filter(|a: &IpAddr| a.is_ipv4() && !a.is_loopback())
        .collect()
}

#[tokio::test]
async fn with_no_listen_option_the_proxy_listens_on_loopback_only() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wow-proxy-default-listen-{}", std::process::id()));
    // The default port is fixed; another test or program may hold it for a moment.
    let started = Instant::now();
    let (mut child, report) = loop {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wow-proxy"));
        for (name, _) in std::env::vars() {
            if name.starts_with("WOW_PROXY_") || name.starts_with("WOW_AUTH_") {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd
            .arg("--action-dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.contains("listening on") || started.elapsed() > Duration::from_secs(15) {
            break (child, line);
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(500));
    };
    if !report.contains("listening on") {
        // Port 8080 stayed taken: the attempt still says which address is the default.
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            report.contains("cannot listen on 127.0.0.1:8080"),
            "{report}"
        );
        println!("port 8080 is taken here; checked the default address from the refusal only");
        return;
    }
    assert!(
        report.starts_with("wow-proxy: listening on 127.0.0.1:8080 "),
        "{report}"
    );
    let sockets = listening_sockets(child.id());
    // 127.0.0.1:8080 in /proc's notation.
    assert_eq!(
        sockets.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["0100007F:1F90"],
        "{sockets:?}"
    );
    let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    assert!(TcpStream::connect_timeout(&loopback, Duration::from_secs(5)).is_ok());
    // The machine's own addresses (local, never sent off the host) are refused, unless another
    // program listens on the port at one of them.
    let others = std::fs::read_to_string("/proc/self/net/tcp")
        .unwrap()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[3] == "0A" && f[1].ends_with(":1F90") && f[1] != "0100007F:1F90"
        });
    if others {
        println!("another program listens on port 8080 here; skipped connecting to own addresses");
    }
    for ip in own_addresses().into_iter().filter(|_| !others) {
        let addr = SocketAddr::new(ip, 8080);
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Err(e) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{addr}: {e}"
            ),
            Ok(_) => panic!("{addr} accepted a connection while the proxy listens on loopback"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
