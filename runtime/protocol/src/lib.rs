//! Apache OpenWhisk's action-runtime protocol, as both sandboxes of wowbench speak it.
//!
//! The Wasm executor (`wow-runtime`), the native action proxy inside Docker (`wow-proxy`) and the
//! harness's client all use these types, so that one client drives both sides and both answer
//! with the same status codes and error strings (taken from OpenWhisk's own runtimes:
//! `dockerskeleton`'s `actionproxy.py` and the Go action loop).
//!
//! Guest contract (the workloads'): parameters JSON on stdin, the result JSON object or array is
//! the last line of stdout, everything before it and all of stderr are logs.

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod body;
mod logsafe;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Largest parameters object and largest result, serialized (OpenWhisk's payload limit).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Largest `/run` request body: a full-size payload plus room for the envelope's context fields.
pub const MAX_RUN_BODY_BYTES: usize = MAX_PAYLOAD_BYTES + 64 * 1024;
/// Largest `/init` request body: base64 code of a static native binary or a debug `.wasm`.
pub const MAX_INIT_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Written to stdout and stderr after every activation, as OpenWhisk's runtimes do, so a log
/// collector can split the interleaved logs of consecutive activations.
pub const LOG_SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";
/// Port the action proxy listens on inside its container (OpenWhisk's convention).
pub const PROXY_PORT: u16 = 8080;

/// Environment variable that switches a workload binary into the action-loop line protocol:
/// one activation envelope (`{"value": …, "activation_id": …}`) per stdin line, one result line
/// per activation on file descriptor [`ACTIONLOOP_RESULT_FD`]; stdout and stderr stay logs.
/// This is the protocol of OpenWhisk's Go action loop.
pub const ACTIONLOOP_ENV: &str = "__OW_ACTIONLOOP";
/// File descriptor on which an action-loop process writes one result line per activation.
pub const ACTIONLOOP_RESULT_FD: i32 = 3;
/// Environment variable that makes an action-loop process write `{"ok":true}` on its result
/// descriptor before the first activation (the Go action loop's handshake; `wow-proxy` does not
/// expect it).
pub const WAIT_FOR_ACK_ENV: &str = "__OW_WAIT_FOR_ACK";

/// Environment names that steer how an action process talks to its server. Only the servers
/// set them: a client naming one in the init `env` or (as `__OW_<KEY>`) in a run's context is
/// refused with a 400, since either would break the framing between server and action
/// (`__OW_ACTIONLOOP` switches a spawned workload into the line protocol; `__OW_WAIT_FOR_ACK`
/// makes a loop process answer a result the server never asked for).
///
/// The other `__OW_*` names stay open to the init `env`: OpenWhisk's invoker itself passes
/// `__OW_API_HOST` and the activation's fields there. Whatever a run's context sets wins over the
/// init `env` (see [`RunRequest::action_env`]).
pub const RESERVED_ENV: &[&str] = &[ACTIONLOOP_ENV, WAIT_FOR_ACK_ENV];

pub use logsafe::log_safe;

/// Error strings of OpenWhisk's runtimes (`actionproxy.py`, the Go action loop).
pub mod msg {
    pub const REINIT: &str = "Cannot initialize the action more than once.";
    pub const INIT_FAILED: &str =
        "The action failed to generate or locate a binary. See logs for details.";
    pub const NOT_INITIALIZED: &str = "The action failed to locate a binary. See logs for details.";
    pub const NOT_DICT_RESULT: &str = "The action did not return a dictionary or array.";
    pub const NOT_DICT_ARG: &str =
        "The action did not receive a dictionary or array as an argument.";
    pub const MISSING_CODE: &str = "Missing main/no code to execute.";
}

/// A protocol-level failure: what went wrong, mapped to one HTTP status and one error string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Malformed request body (not JSON, wrong types, bad base64). 400.
    BadRequest(String),
    /// A second `/init` on an initialised sandbox. 403.
    Reinit,
    /// `/run` parameters are not an object or array. 404 (as `actionproxy.py`).
    NotDictArg,
    /// Unknown sandbox id on a multi-sandbox route. 404.
    UnknownSandbox(String),
    /// Body, parameters or result over the payload limit. 413.
    TooLarge(String),
    /// Too many requests in flight for this sandbox's queue. 429.
    Overloaded(String),
    /// `/init` got code that cannot become an action (not Wasm, not a WASI command…). 502.
    InitFailed(String),
    /// `/run` before a successful `/init`. 502.
    NotInitialized,
    /// The action ran but its last stdout line is not a JSON object or array. 502.
    NotDictResult,
    /// The action overran its deadline and was stopped. 502.
    Timeout { limit_ms: u64 },
    /// The action crashed: trap, stack overflow, memory limit, output flood, killed. 502.
    ActionFailed(String),
    /// A bug or resource failure of the sandbox itself. 500.
    Internal(String),
}

impl Failure {
    pub fn status(&self) -> u16 {
        match self {
            Failure::BadRequest(_) => 400,
            Failure::Reinit => 403,
            Failure::NotDictArg | Failure::UnknownSandbox(_) => 404,
            Failure::TooLarge(_) => 413,
            Failure::Overloaded(_) => 429,
            Failure::InitFailed(_)
            | Failure::NotInitialized
            | Failure::NotDictResult
            | Failure::Timeout { .. }
            | Failure::ActionFailed(_) => 502,
            Failure::Internal(_) => 500,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::BadRequest(m)
            | Failure::TooLarge(m)
            | Failure::Overloaded(m)
            | Failure::ActionFailed(m) => m.clone(),
            Failure::Reinit => msg::REINIT.to_string(),
            Failure::NotDictArg => msg::NOT_DICT_ARG.to_string(),
            Failure::UnknownSandbox(id) => format!("No sandbox named '{id}'."),
            Failure::InitFailed(detail) => format!("{} {detail}", msg::INIT_FAILED),
            Failure::NotInitialized => msg::NOT_INITIALIZED.to_string(),
            Failure::NotDictResult => msg::NOT_DICT_RESULT.to_string(),
            Failure::Timeout { limit_ms } => {
                format!("The action exceeded its time limits of {limit_ms} milliseconds.")
            }
            Failure::Internal(m) => format!("Internal error. {m}"),
        }
    }

    /// The JSON body of the error response: `{"error": "…"}`.
    pub fn body(&self) -> String {
        error_body(&self.message())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.message())
    }
}

impl std::error::Error for Failure {}

/// `{"error": msg}` as a JSON string.
pub fn error_body(msg: &str) -> String {
    serde_json::json!({ "error": msg }).to_string()
}

/// The body of `POST /init`: `{"value": {"name", "main", "code", "binary", "env"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InitRequest {
    pub value: InitValue,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct InitValue {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_main")]
    pub main: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub binary: bool,
    /// Plain environment variables for the action (OpenWhisk allows any JSON; non-strings are
    /// passed as their JSON text).
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
}

fn default_main() -> String {
    "main".to_string()
}

impl InitRequest {
    /// An init request carrying `code` (raw `.wasm` or a native binary) as base64.
    pub fn binary(name: &str, code_base64: String, env: BTreeMap<String, Value>) -> Self {
        InitRequest {
            value: InitValue {
                name: name.to_string(),
                main: default_main(),
                code: Some(code_base64),
                binary: true,
                env,
            },
        }
    }

    /// Parses an `/init` body. Base64 decoding is left to the sandbox (it knows what it needs).
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        if body.len() > MAX_INIT_BODY_BYTES {
            return Err(Failure::TooLarge(format!(
                "The init request is {} bytes, over the limit of {MAX_INIT_BODY_BYTES} bytes.",
                body.len()
            )));
        }
        let req: InitRequest = serde_json::from_slice(body)
            .map_err(|e| Failure::BadRequest(format!("Error unmarshaling request: {e}")))?;
        if let Some(name) = RESERVED_ENV
            .iter()
            .find(|name| req.value.env.contains_key(**name))
        {
            return Err(reserved(name, "The init env"));
        }
        Ok(req)
    }

    /// The code, required and non-empty.
    pub fn code(&self) -> Result<&str, Failure> {
        match self.value.code.as_deref() {
            Some(c) if !c.is_empty() => Ok(c),
            _ => Err(Failure::InitFailed(msg::MISSING_CODE.to_string())),
        }
    }

    /// The `env` map as plain `(name, value)` pairs. Entries that cannot be an environment
    /// variable (empty name, `=` or NUL in the name, NUL in the value) are left out.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.value
            .env
            .iter()
            .map(|(k, v)| (k.clone(), value_as_env(v)))
            .filter(|(k, v)| env_representable(k, v))
            .collect()
    }
}

fn reserved(name: &str, place: &str) -> Failure {
    Failure::BadRequest(format!(
        "{place} sets {name}, a name reserved for the runtime; leave it out."
    ))
}

/// The reserved name a run's context field would become as `__OW_<KEY>`, if any.
fn reserved_context_key(key: &str) -> Option<&'static str> {
    RESERVED_ENV.iter().copied().find(|name| {
        name.strip_prefix("__OW_")
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(key))
    })
}

fn env_representable(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0')
}

fn value_as_env(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A parsed `POST /run` body: the parameters (kept as raw JSON, never re-serialised) and the
/// context fields (`namespace`, `action_name`, `activation_id`, `transaction_id`, `deadline`,
/// `api_key`, and any other), which reach the action as `__OW_<KEY>` environment variables.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The parameters as JSON text: an object or an array.
    pub params: Box<RawValue>,
    pub context: BTreeMap<String, String>,
}

impl RunRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        if body.len() > MAX_RUN_BODY_BYTES {
            return Err(Failure::TooLarge(format!(
                "The request is {} bytes, over the limit of {MAX_RUN_BODY_BYTES} bytes.",
                body.len()
            )));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            // actionproxy.py treats an empty body as `{}`.
            return Ok(RunRequest {
                params: empty_object(),
                context: BTreeMap::new(),
            });
        }
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body)
            .map_err(|e| Failure::BadRequest(format!("Error unmarshaling request: {e}")))?;
        let mut params = None;
        let mut context = BTreeMap::new();
        for (key, raw) in fields {
            if key == "value" {
                params = Some(raw);
                continue;
            }
            let v: Value = serde_json::from_str(raw.get())
                .map_err(|e| Failure::BadRequest(format!("Error unmarshaling request: {e}")))?;
            if v.is_null() {
                continue;
            }
            if let Some(name) = reserved_context_key(&key) {
                return Err(reserved(name, &format!("The run's context field {key:?}")));
            }
            context.insert(key, value_as_env(&v));
        }
        let params = match params {
            None => empty_object(),
            Some(raw) if raw.get() == "null" => empty_object(),
            Some(raw) => {
                if !is_object_or_array(raw.get().as_bytes()) {
                    return Err(Failure::NotDictArg);
                }
                if raw.get().len() > MAX_PAYLOAD_BYTES {
                    return Err(Failure::TooLarge(format!(
                        "The parameters are {} bytes, over the limit of {MAX_PAYLOAD_BYTES} bytes.",
                        raw.get().len()
                    )));
                }
                serde_json::from_str::<Checked>(raw.get())
                    .map_err(|e| Failure::BadRequest(format!("Error unmarshaling request: {e}")))?;
                raw
            }
        };
        Ok(RunRequest { params, context })
    }

    /// The context as the action's environment: `__OW_NAMESPACE`, `__OW_ACTIVATION_ID`, ….
    /// Fields whose name or value cannot be an environment variable (`=` or NUL in the name,
    /// NUL in the value) are left out.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.context
            .iter()
            .filter(|(k, v)| env_representable(k, v))
            .map(|(k, v)| (format!("__OW_{}", k.to_ascii_uppercase()), v.clone()))
            .collect()
    }

    /// The environment of this activation: the action's init `env` (`init`, as
    /// [`InitRequest::env_vars`] gave it) with the context's `__OW_<KEY>` variables, which win
    /// over an init entry of the same name (as in OpenWhisk, where the activation's fields are
    /// set last). Each name appears once.
    pub fn action_env(&self, init: &[(String, String)]) -> Vec<(String, String)> {
        let run = self.env_vars();
        let mut env: Vec<(String, String)> = init
            .iter()
            .filter(|(name, _)| !run.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        env.extend(run);
        env
    }

    /// The run's deadline, epoch milliseconds, if the caller sent one.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.context
            .get("deadline")
            .and_then(|d| d.trim().parse().ok())
    }

    /// The activation id, or `-` for logs when the caller sent none.
    pub fn activation_id(&self) -> &str {
        self.context
            .get("activation_id")
            .map(String::as_str)
            .unwrap_or("-")
    }

    /// The activation id as log prefixes print it: [`log_safe`], so that an id holding a newline
    /// cannot start a line of its own (a forged log line or end-of-activation marker).
    pub fn log_id(&self) -> Cow<'_, str> {
        log_safe(self.activation_id())
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).expect("valid JSON")
}

fn is_object_or_array(json: &[u8]) -> bool {
    matches!(
        json.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// The caller's side of a `/run`: the context fields it sends beside the parameters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunContext {
    pub namespace: String,
    pub action_name: String,
    pub activation_id: String,
    pub transaction_id: String,
    /// Epoch milliseconds, as a string (OpenWhisk's format).
    pub deadline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// Builds a `/run` body from parameters and context.
pub fn run_body(params: &Value, ctx: &RunContext) -> Vec<u8> {
    let mut m = match serde_json::to_value(ctx) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.insert("value".to_string(), params.clone());
    serde_json::to_vec(&Value::Object(m)).expect("JSON values serialise")
}

/// Splits a guest's stdout into logs and the result line, as `actionproxy.py` does: the result is
/// the last line (a trailing newline does not start an empty one), trimmed; the rest are logs.
pub fn split_output(stdout: &[u8]) -> (&[u8], &[u8]) {
    let search_end = stdout.len().saturating_sub(1);
    match stdout[..search_end].iter().rposition(|&b| b == b'\n') {
        Some(i) => (&stdout[..=i], trim_ascii(&stdout[i + 1..])),
        None => (&[], trim_ascii(stdout)),
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Checks a result line: valid JSON, an object or an array, within the payload limit. Returns the
/// line itself (trimmed), so the sandbox can send it without re-serialising.
pub fn check_result(line: &[u8]) -> Result<&[u8], Failure> {
    let line = line.trim_ascii();
    if line.len() > MAX_PAYLOAD_BYTES {
        return Err(Failure::TooLarge(format!(
            "The action produced a response that exceeded the allowed length: {} > {MAX_PAYLOAD_BYTES} bytes.",
            line.len()
        )));
    }
    if !is_object_or_array(line) || std::str::from_utf8(line).is_err() {
        return Err(Failure::NotDictResult);
    }
    match serde_json::from_slice::<Checked>(line) {
        Ok(_) => Ok(line),
        Err(_) => Err(Failure::NotDictResult),
    }
}

/// Walks a JSON document like `serde::de::IgnoredAny`, but decodes every string and number, so
/// that what any JSON reader refuses is refused here too: an escaped lone UTF-16 surrogate
/// (`"\ud800"`) or a number out of range (`1e999`), which the ignoring walk lets through.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Checked>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// Splits stdout and checks the result in one step.
pub fn parse_output(stdout: &[u8]) -> (&[u8], Result<&[u8], Failure>) {
    let (logs, line) = split_output(stdout);
    (logs, check_result(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_takes_last_line_ignoring_trailing_newline() {
        assert_eq!(
            split_output(b"log\n{\"a\":1}\n"),
            (&b"log\n"[..], &b"{\"a\":1}"[..])
        );
        assert_eq!(split_output(b"{\"a\":1}"), (&b""[..], &b"{\"a\":1}"[..]));
        assert_eq!(split_output(b""), (&b""[..], &b""[..]));
        assert_eq!(
            split_output(b"a\nb\n  [1] \n"),
            (&b"a\nb\n"[..], &b"[1]"[..])
        );
    }

    #[test]
    fn results_must_be_objects_or_arrays() {
        assert!(check_result(b"{\"a\":1}").is_ok());
        assert!(check_result(b"[1,2]").is_ok());
        assert_eq!(check_result(b" {} \n").unwrap(), b"{}");
        assert_eq!(check_result(b"42"), Err(Failure::NotDictResult));
        assert_eq!(check_result(b"\"s\""), Err(Failure::NotDictResult));
        assert_eq!(check_result(b"{\"a\":"), Err(Failure::NotDictResult));
        assert_eq!(
            check_result(b"{\"a\":\"\xff\"}"),
            Err(Failure::NotDictResult)
        );
        assert_eq!(check_result(b""), Err(Failure::NotDictResult));
        // Valid JSON syntax that no JSON reader can load.
        assert_eq!(
            check_result(br#"{"a":"\ud800"}"#),
            Err(Failure::NotDictResult)
        );
        assert_eq!(check_result(b"[1e999]"), Err(Failure::NotDictResult));
        assert!(check_result(br#"{"a":"\ud83d\ude00","b":1e300}"#).is_ok());
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(MAX_PAYLOAD_BYTES));
        assert_eq!(check_result(big.as_bytes()).unwrap_err().status(), 413);
    }

    #[test]
    fn run_request_keeps_params_raw_and_context_as_env() {
        let body = br#"{"value": {"x": "\u00e9"}, "namespace": "ns", "action_name": "a",
            "activation_id": "id1", "deadline": "1700000000000", "api_key": "k", "transaction_id": null}"#;
        let r = RunRequest::parse(body).unwrap();
        assert_eq!(r.params.get(), r#"{"x": "\u00e9"}"#);
        assert_eq!(r.deadline_ms(), Some(1_700_000_000_000));
        assert_eq!(r.activation_id(), "id1");
        let env = r.env_vars();
        assert!(env.contains(&("__OW_NAMESPACE".into(), "ns".into())));
        assert!(env.contains(&("__OW_API_KEY".into(), "k".into())));
        assert!(!env.iter().any(|(k, _)| k == "__OW_TRANSACTION_ID"));
        let odd = RunRequest::parse(br#"{"a=b": "1", "ok": "x\u0000y", "fine": "v"}"#).unwrap();
        assert_eq!(
            odd.env_vars(),
            vec![("__OW_FINE".to_string(), "v".to_string())]
        );
    }

    #[test]
    fn run_request_errors() {
        assert_eq!(
            RunRequest::parse(b"{\"value\": 3}").unwrap_err(),
            Failure::NotDictArg
        );
        assert_eq!(
            RunRequest::parse(b"{\"value\": 3}").unwrap_err().status(),
            404
        );
        assert_eq!(RunRequest::parse(b"{nope").unwrap_err().status(), 400);
        assert_eq!(RunRequest::parse(b"[1]").unwrap_err().status(), 400);
        assert_eq!(RunRequest::parse(b"").unwrap().params.get(), "{}");
        assert_eq!(RunRequest::parse(b"{}").unwrap().params.get(), "{}");
        let big = format!(
            "{{\"value\":{{\"s\":\"{}\"}}}}",
            "x".repeat(MAX_PAYLOAD_BYTES)
        );
        assert_eq!(RunRequest::parse(big.as_bytes()).unwrap_err().status(), 413);
    }

    #[test]
    fn init_request_round_trip_and_missing_code() {
        let mut env = BTreeMap::new();
        env.insert("A".to_string(), Value::from("1"));
        env.insert("N".to_string(), Value::from(2));
        let req = InitRequest::binary("f", "AAAA".into(), env);
        let body = serde_json::to_vec(&req).unwrap();
        let back = InitRequest::parse(&body).unwrap();
        assert_eq!(back, req);
        assert_eq!(back.code().unwrap(), "AAAA");
        assert_eq!(
            back.env_vars(),
            vec![("A".into(), "1".into()), ("N".into(), "2".into())]
        );
        let none = InitRequest::parse(br#"{"value": {"binary": true}}"#).unwrap();
        assert_eq!(none.code().unwrap_err().status(), 502);
        assert_eq!(
            InitRequest::parse(b"{\"value\": 1}").unwrap_err().status(),
            400
        );
    }

    #[test]
    fn failure_strings_are_openwhisks() {
        assert_eq!(
            Failure::Reinit.body(),
            r#"{"error":"Cannot initialize the action more than once."}"#
        );
        assert_eq!(Failure::Reinit.status(), 403);
        assert_eq!(Failure::NotDictResult.status(), 502);
        assert_eq!(
            Failure::Timeout { limit_ms: 5 }.message(),
            "The action exceeded its time limits of 5 milliseconds."
        );
    }

    #[test]
    fn run_body_builds_envelope() {
        let ctx = RunContext {
            activation_id: "a1".into(),
            deadline: "99".into(),
            ..Default::default()
        };
        let body = run_body(&serde_json::json!({"k": 1}), &ctx);
        let r = RunRequest::parse(&body).unwrap();
        assert_eq!(r.params.get(), r#"{"k":1}"#);
        assert_eq!(r.deadline_ms(), Some(99));
    }
}
