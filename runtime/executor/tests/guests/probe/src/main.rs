//! The isolation tests' guest: reads `{"op": "…", "arg": "…"}` on stdin, tries what the op names
//! and prints what happened as one JSON object. No dependencies, so it builds offline.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

// Raw WASI calls, with the exact signatures Rust's standard library imports them with.
#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn fd_prestat_get(fd: i32, out: i32) -> i32;
    fn path_open(
        fd: i32,
        dirflags: i32,
        path: i32,
        path_len: i32,
        oflags: i32,
        rights_base: i64,
        rights_inheriting: i64,
        fdflags: i32,
        opened: i32,
    ) -> i32;
    fn sock_accept(fd: i32, flags: i32, out: i32) -> i32;
}

/// Runs since this instance started; a fresh instance per run keeps it at 1.
static RUNS: AtomicU32 = AtomicU32::new(0);

fn main() {
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    let op = field(&input, "op").unwrap_or_default();
    let arg = field(&input, "arg").unwrap_or_default();
    let out = match op.as_str() {
        "env" => env(),
        "fs" => fs(),
        "raw-fs" => raw_fs(),
        "connect" => connect(&arg),
        "count" => format!("{{\"runs\":{}}}", RUNS.fetch_add(1, Ordering::SeqCst) + 1),
        _ => input.clone(),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
}

/// The string value of `"name": "…"` in a flat JSON object (no escapes needed by the tests).
fn field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let rest = &json[json.find(&key)? + key.len()..];
    let rest = &rest[rest.find('"')? + 1..];
    Some(rest[..rest.find('"')?].to_string())
}

fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if (c as u32) < 0x20 => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn env() -> String {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                quote(&k.to_string_lossy()),
                quote(&v.to_string_lossy())
            )
        })
        .collect();
    let args: Vec<String> = std::env::args_os()
        .map(|a| quote(&a.to_string_lossy()))
        .collect();
    format!(
        "{{\"env\":{{{}}},\"args\":[{}]}}",
        vars.join(","),
        args.join(",")
    )
}

/// What the standard library's file API can reach: `"ok"` or the error.
fn fs() -> String {
    fn outcome<T>(r: std::io::Result<T>) -> String {
        quote(&match r {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        })
    }
    let attempts = [
        ("read /etc/passwd", outcome(std::fs::read("/etc/passwd"))),
        (
            "read /proc/self/environ",
            outcome(std::fs::read("/proc/self/environ")),
        ),
        ("read relative", outcome(std::fs::read("Cargo.toml"))),
        ("list /", outcome(std::fs::read_dir("/"))),
        ("list .", outcome(std::fs::read_dir("."))),
        (
            "create /tmp/wow-probe",
            outcome(std::fs::File::create("/tmp/wow-probe")),
        ),
        ("stat /", outcome(std::fs::metadata("/"))),
    ];
    let fields: Vec<String> = attempts
        .iter()
        .map(|(k, v)| format!("{}:{v}", quote(k)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Every right WASI preview 1 defines (bits 0 to 28).
const ALL_RIGHTS: i64 = (1 << 29) - 1;

/// Every descriptor number, asked for a preopened directory and to open paths relative to it.
fn raw_fs() -> String {
    let mut preopens = Vec::new();
    let mut opened = Vec::new();
    let mut buf = [0u8; 8];
    let mut fd_out = 0u32;
    for fd in 0..256 {
        // SAFETY: the pointer is to a local buffer of the size WASI writes (a prestat: 8 bytes).
        if unsafe { fd_prestat_get(fd, buf.as_mut_ptr() as i32) } == 0 {
            preopens.push(fd.to_string());
        }
        for path in ["etc/passwd", ".", "..", "/", "/etc/passwd"] {
            // SAFETY: the path and the out pointer are live locals of the given sizes.
            let errno = unsafe {
                path_open(
                    fd,
                    0,
                    path.as_ptr() as i32,
                    path.len() as i32,
                    0,
                    ALL_RIGHTS,
                    ALL_RIGHTS,
                    0,
                    &mut fd_out as *mut u32 as i32,
                )
            };
            if errno == 0 {
                opened.push(quote(&format!("{fd}:{path}")));
            }
        }
    }
    format!(
        "{{\"preopens\":[{}],\"opened\":[{}]}}",
        preopens.join(","),
        opened.join(",")
    )
}

/// Tries to reach `addr` over TCP and UDP, and to accept a connection on any descriptor.
fn connect(addr: &str) -> String {
    let tcp = match std::net::TcpStream::connect(addr) {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    let udp = match std::net::UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => match s.send_to(b"probe", addr) {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("error: {e}"),
    };
    let mut accepted = Vec::new();
    let mut fd_out = 0u32;
    for fd in 0..64 {
        // SAFETY: the out pointer is a live local u32.
        if unsafe { sock_accept(fd, 0, &mut fd_out as *mut u32 as i32) } == 0 {
            accepted.push(fd.to_string());
        }
    }
    format!(
        "{{\"tcp\":{},\"udp\":{},\"accepted\":[{}]}}",
        quote(&tcp),
        quote(&udp),
        accepted.join(",")
    )
}
