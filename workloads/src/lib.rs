//! The guest contract every wowbench workload follows, and the helpers the workloads share.
//!
//! Contract (the same as OpenWhisk's `dockerskeleton` and the WOW executor):
//! - a JSON object on stdin (empty stdin counts as `{}`);
//! - the result, a JSON object, is the **last line of stdout**; earlier stdout lines and all of
//!   stderr are logs;
//! - bad input gives `{"error": "…"}` as the last stdout line and a non-zero exit status; so does a
//!   panic (a panic hook prints the line before the process dies).
//!
//! On unix, with `__OW_ACTIONLOOP=1` in the environment, a workload instead speaks OpenWhisk's
//! action-loop protocol (see [`main`]).
//!
//! Results are deterministic: the same input gives the same result on every target (no clocks, no
//! floating-point output, randomness only from the seeded [`SplitMix64`]).

use std::io::{self, Read, Write};
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub use serde_json::{Map, Value, json};

/// The parameters object a workload receives.
pub type Params = Map<String, Value>;

/// A workload function: parameters in, result object (or a clear error) out.
pub type Workload = fn(&Params) -> Result<Value, Error>;

/// A user-facing error: becomes `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Set while the process runs the action loop: the panic hook then leaves stdout alone (the
/// loop reports the panic on the result descriptor instead).
static IN_ACTION_LOOP: AtomicBool = AtomicBool::new(false);
/// The message of the last panic, for the action loop's error result.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs a workload under the guest contract and exits; `fn main() { wow_workloads::main(run) }`.
///
/// Action-loop mode (unix only; the Docker proxy's second exec mode, OpenWhisk's Go action-loop
/// protocol): when `__OW_ACTIONLOOP` is `1`, the process reads one activation envelope per stdin
/// line (`{"value": {params}, "activation_id": "…", "deadline": "…", …}`), sets `__OW_<KEY>`
/// environment variables from the fields other than `value`, runs the workload on `value` and
/// writes exactly one line — the result object or `{"error": …}` — to file descriptor 3, then
/// flushes. With `__OW_WAIT_FOR_ACK` set it first writes `{"ok":true}` to descriptor 3. It exits
/// with status 0 at the end of stdin.
pub fn main(workload: Workload) -> ! {
    install_panic_hook();
    #[cfg(unix)]
    if std::env::var(wow_protocol::ACTIONLOOP_ENV).as_deref() == Ok("1") {
        action_loop::run(workload);
    }
    one_shot(workload)
}

fn one_shot(workload: Workload) -> ! {
    let mut input = Vec::new();
    let outcome = match io::stdin().lock().read_to_end(&mut input) {
        Ok(_) => parse_params(&input).and_then(|p| workload(&p)),
        Err(e) => Err(Error(format!("cannot read stdin: {e}"))),
    };
    let (line, code) = match outcome {
        Ok(result) => (result_line(&result), 0),
        Err(e) => (error_line(&e.0), 1),
    };
    let mut out = io::stdout().lock();
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    drop(out);
    if let Err(e) = written {
        eprintln!("cannot write the result: {e}");
        std::process::exit(2);
    }
    std::process::exit(code)
}

/// Parses the input document: a JSON object; empty or blank input counts as `{}`.
pub fn parse_params(input: &[u8]) -> Result<Params, Error> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::new());
    }
    let value: Value = serde_json::from_slice(input)
        .map_err(|e| Error(format!("the input is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error(format!(
            "the input must be a JSON object, got {}",
            kind(&other)
        ))),
    }
}

/// One line of JSON text for a result (a workload always returns an object).
pub fn result_line(result: &Value) -> String {
    serde_json::to_string(result).unwrap_or_else(|e| error_line(&format!("cannot encode: {e}")))
}

/// `{"error": msg}` as one line of JSON text.
pub fn error_line(msg: &str) -> String {
    wow_protocol::error_body(msg)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let msg = match info.location() {
            Some(at) => format!("the function panicked: {what} (at {at})"),
            None => format!("the function panicked: {what}"),
        };
        eprintln!("{msg}");
        if IN_ACTION_LOOP.load(Ordering::Relaxed) {
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = Some(msg);
            }
        } else {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{}", error_line(&msg));
            let _ = out.flush();
        }
    }));
}

/// An unsigned integer parameter: absent or `null` gives `default`; anything but an integer in
/// `range` is an error naming the parameter and the allowed range.
pub fn uint(
    params: &Params,
    key: &str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, Error> {
    let bad = |got: &Value| {
        Error(format!(
            "parameter \"{key}\" must be an integer from {} to {}, got {got}",
            range.start(),
            range.end()
        ))
    };
    match params.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if range.contains(&n) => Ok(n),
            _ => Err(bad(v)),
        },
    }
}

/// A string parameter of at most `max_bytes` bytes: absent or `null` gives `default`.
pub fn string(
    params: &Params,
    key: &str,
    default: &str,
    max_bytes: usize,
) -> Result<String, Error> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) if s.len() <= max_bytes => Ok(s.clone()),
        Some(Value::String(s)) => Err(Error(format!(
            "parameter \"{key}\" must be at most {max_bytes} bytes long, got {} bytes",
            s.len()
        ))),
        Some(other) => Err(Error(format!(
            "parameter \"{key}\" must be a string, got {}",
            kind(other)
        ))),
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator with the same output on every
/// target, so that generated inputs are identical in Wasm and natively.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`), by the multiply-shift method.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(unix)]
mod action_loop {
    use std::fs::File;
    use std::io::{self, BufRead, Write};
    use std::os::fd::BorrowedFd;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::Ordering;

    use wow_protocol::{ACTIONLOOP_RESULT_FD, RunRequest};

    use super::{Error, IN_ACTION_LOOP, LAST_PANIC, Value, Workload, error_line, parse_params};

    pub(super) fn run(workload: Workload) -> ! {
        IN_ACTION_LOOP.store(true, Ordering::Relaxed);
        // SAFETY: the descriptor is only borrowed for the duplication below, which fails cleanly
        // (EBADF) when the launcher did not open it.
        let fd = unsafe { BorrowedFd::borrow_raw(ACTIONLOOP_RESULT_FD) };
        let mut results = match fd.try_clone_to_owned() {
            Ok(owned) => File::from(owned),
            Err(e) => {
                eprintln!(
                    "action-loop mode needs file descriptor {ACTIONLOOP_RESULT_FD} open for the results: {e}"
                );
                std::process::exit(2);
            }
        };
        if std::env::var_os("__OW_WAIT_FOR_ACK").is_some_and(|v| !v.is_empty()) {
            emit(&mut results, r#"{"ok":true}"#);
        }
        let mut previous_env: Vec<String> = Vec::new();
        let stdin = io::stdin().lock();
        for line in stdin.split(b'\n') {
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    eprintln!("cannot read stdin: {e}");
                    std::process::exit(1);
                }
            };
            if line.trim_ascii().is_empty() {
                continue;
            }
            let line = match activate(&line, workload, &mut previous_env) {
                Ok(result) => super::result_line(&result),
                Err(e) => error_line(&e.0),
            };
            let _ = io::stdout().flush();
            let _ = io::stderr().flush();
            emit(&mut results, &line);
        }
        std::process::exit(0)
    }

    fn emit(results: &mut File, line: &str) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if let Err(e) = results.write_all(&buf).and_then(|()| results.flush()) {
            eprintln!("cannot write to file descriptor {ACTIONLOOP_RESULT_FD}: {e}");
            std::process::exit(2);
        }
    }

    pub(super) fn activate(
        line: &[u8],
        workload: Workload,
        previous_env: &mut Vec<String>,
    ) -> Result<Value, Error> {
        let request = RunRequest::parse(line).map_err(|f| Error(f.message()))?;
        let params = parse_params(request.params.get().as_bytes())?;
        let env = request.env_vars();
        for key in previous_env.drain(..) {
            // SAFETY: the action loop is single-threaded; nothing reads the environment
            // concurrently.
            unsafe { std::env::remove_var(key) };
        }
        for (key, value) in env {
            // SAFETY: as above.
            unsafe { std::env::set_var(&key, value) };
            previous_env.push(key);
        }
        match catch_unwind(AssertUnwindSafe(|| workload(&params))) {
            Ok(outcome) => outcome,
            Err(_) => {
                let msg = LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut m| m.take())
                    .unwrap_or_else(|| "the function panicked".to_string());
                Err(Error(msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse() {
        assert_eq!(parse_params(b"").unwrap(), Params::new());
        assert_eq!(parse_params(b" \n").unwrap(), Params::new());
        assert!(parse_params(b"[1]").unwrap_err().0.contains("an array"));
        assert!(parse_params(b"{").unwrap_err().0.contains("not valid JSON"));
        let p = parse_params(br#"{"n": 5, "s": "x", "z": null}"#).unwrap();
        assert_eq!(uint(&p, "n", 1, 0..=10).unwrap(), 5);
        assert_eq!(uint(&p, "z", 1, 0..=10).unwrap(), 1);
        assert_eq!(uint(&p, "missing", 7, 0..=10).unwrap(), 7);
        assert!(uint(&p, "n", 1, 6..=10).is_err());
        assert!(uint(&p, "s", 1, 0..=10).is_err());
        assert_eq!(string(&p, "s", "d", 4).unwrap(), "x");
        assert!(string(&p, "n", "d", 4).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn action_loop_activation_sets_context_env_and_catches_panics() {
        fn context(_: &Params) -> Result<Value, Error> {
            let var = |k: &str| std::env::var(k).ok();
            Ok(json!({ "id": var("__OW_ACTIVATION_ID"), "ns": var("__OW_NAMESPACE") }))
        }
        fn panics(_: &Params) -> Result<Value, Error> {
            panic!("boom")
        }
        let mut previous = Vec::new();
        let first = br#"{"value": {}, "activation_id": "a1", "namespace": "ns"}"#;
        assert_eq!(
            action_loop::activate(first, context, &mut previous).unwrap(),
            json!({"id": "a1", "ns": "ns"})
        );
        // Context fields of an earlier activation do not leak into the next one.
        let second = br#"{"value": {}, "activation_id": "a2"}"#;
        assert_eq!(
            action_loop::activate(second, context, &mut previous).unwrap(),
            json!({"id": "a2", "ns": null})
        );
        let err = action_loop::activate(second, panics, &mut previous).unwrap_err();
        assert!(err.0.contains("panicked"), "{err}");
        let err = action_loop::activate(br#"{"value": [1]}"#, context, &mut previous).unwrap_err();
        assert!(err.0.contains("object"), "{err}");
    }

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 1234567 of Vigna's reference splitmix64.c (re-checked with a
        // Python transcription).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        let mut r = SplitMix64::new(1);
        assert!((0..1000).all(|_| r.below(10) < 10));
    }
}
