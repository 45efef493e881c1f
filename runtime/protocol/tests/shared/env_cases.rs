//! One table of init-`env` / run-context cases, and what the action's environment must hold after
//! each: the reserved names refused, the run's context fields winning over the init `env`, each
//! name once. The protocol's own tests check `RunRequest::action_env` against it; the proxy's and
//! the executor's integration tests include this file and run every case over HTTP, so both
//! servers answer the same.

#![allow(dead_code)]

pub struct EnvCase {
    pub title: &'static str,
    /// The `/init` request's `env`.
    pub init_env: &'static [(&'static str, &'static str)],
    /// The `/run` request's context fields (beside `value`).
    pub context: &'static [(&'static str, &'static str)],
    pub expect: Expect,
}

pub enum Expect {
    /// `/init` answers 400 with an error naming this variable.
    InitRefused(&'static str),
    /// `/init` succeeds; `/run` answers 400 with an error naming this variable.
    RunRefused(&'static str),
    /// The run succeeds and the action's [`relevant`] variables are exactly these, each once.
    Env(&'static [(&'static str, &'static str)]),
}

pub const ENV_CASES: &[EnvCase] = &[
    EnvCase {
        title: "init env sets __OW_ACTIONLOOP",
        init_env: &[("__OW_ACTIONLOOP", "1")],
        context: &[],
        expect: Expect::InitRefused("__OW_ACTIONLOOP"),
    },
    EnvCase {
        title: "init env sets __OW_WAIT_FOR_ACK",
        init_env: &[("__OW_WAIT_FOR_ACK", "1")],
        context: &[],
        expect: Expect::InitRefused("__OW_WAIT_FOR_ACK"),
    },
    EnvCase {
        title: "init env sets __OW_ACTIONLOOP among ordinary names",
        init_env: &[
            ("WOWT_A", "a"),
            ("__OW_ACTIONLOOP", "0"),
            ("__OW_API_HOST", "h"),
        ],
        context: &[],
        expect: Expect::InitRefused("__OW_ACTIONLOOP"),
    },
    EnvCase {
        title: "run context field actionloop",
        init_env: &[],
        context: &[("actionloop", "1")],
        expect: Expect::RunRefused("__OW_ACTIONLOOP"),
    },
    EnvCase {
        title: "run context field ActionLoop (names are upper-cased)",
        init_env: &[],
        context: &[("activation_id", "a1"), ("ActionLoop", "1")],
        expect: Expect::RunRefused("__OW_ACTIONLOOP"),
    },
    EnvCase {
        title: "run context field wait_for_ack",
        init_env: &[],
        context: &[("wait_for_ack", "1")],
        expect: Expect::RunRefused("__OW_WAIT_FOR_ACK"),
    },
    EnvCase {
        title: "the run's context wins over the init env",
        init_env: &[
            ("__OW_NAMESPACE", "init-ns"),
            ("__OW_ACTIVATION_ID", "init-id"),
        ],
        context: &[("namespace", "run-ns"), ("activation_id", "run-id")],
        expect: Expect::Env(&[
            ("__OW_ACTIVATION_ID", "run-id"),
            ("__OW_NAMESPACE", "run-ns"),
        ]),
    },
    EnvCase {
        title: "a context field in any case wins over the init env",
        init_env: &[("__OW_API_KEY", "init-key")],
        context: &[("Api_Key", "run-key")],
        expect: Expect::Env(&[("__OW_API_KEY", "run-key")]),
    },
    EnvCase {
        title: "init __OW_ names the run does not set stay",
        init_env: &[
            ("__OW_API_HOST", "https://host"),
            ("__OW_NAMESPACE", "init-ns"),
        ],
        context: &[("activation_id", "a2")],
        expect: Expect::Env(&[
            ("__OW_ACTIVATION_ID", "a2"),
            ("__OW_API_HOST", "https://host"),
            ("__OW_NAMESPACE", "init-ns"),
        ]),
    },
    EnvCase {
        title: "ordinary and lower-case names are the action's own",
        init_env: &[
            ("WOWT_A", "a"),
            ("WOWT_ACTIONLOOP", "x"),
            ("__ow_actionloop", "lower"),
        ],
        context: &[],
        expect: Expect::Env(&[
            ("WOWT_A", "a"),
            ("WOWT_ACTIONLOOP", "x"),
            ("__ow_actionloop", "lower"),
        ]),
    },
    EnvCase {
        title: "no init env, context only",
        init_env: &[],
        context: &[("namespace", "ns"), ("transaction_id", "tx")],
        expect: Expect::Env(&[("__OW_NAMESPACE", "ns"), ("__OW_TRANSACTION_ID", "tx")]),
    },
];

/// The variables a case compares: the platform's (`__OW_`, any case) and the table's (`WOWT_`).
pub fn relevant(name: &str) -> bool {
    name.starts_with("WOWT_")
        || name
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("__OW_"))
}

/// The [`relevant`] entries of an environment, for messages.
pub fn relevant_only(env: &[(String, String)]) -> Vec<&(String, String)> {
    env.iter().filter(|(n, _)| relevant(n)).collect()
}

impl EnvCase {
    /// The `/init` request's `env`, as JSON.
    pub fn init_env_json(&self) -> serde_json::Value {
        pairs_json(self.init_env)
    }

    /// The `/run` request's body: the parameters `value` and the context fields.
    pub fn run_body(&self, value: serde_json::Value) -> serde_json::Value {
        let mut body = pairs_json(self.context);
        body["value"] = value;
        body
    }

    /// Checks what the action saw (its whole environment, in order) against the case.
    pub fn check_env(&self, env: &[(String, String)]) {
        let Expect::Env(expected) = self.expect else {
            panic!("{}: the case expects a refusal", self.title);
        };
        let mut seen: Vec<(&str, &str)> = relevant_only(env)
            .into_iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        seen.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(seen, expected, "{}", self.title);
    }

    /// Checks a refusal's status and error against the case.
    pub fn check_refusal(&self, at: &str, status: u16, error: &str) {
        let name = match (at, &self.expect) {
            ("init", Expect::InitRefused(name)) | ("run", Expect::RunRefused(name)) => name,
            _ => panic!("{}: refused at {at} ({status} {error})", self.title),
        };
        assert_eq!(status, 400, "{}: {error}", self.title);
        assert!(
            error.contains(name) && error.contains("reserved"),
            "{}: {error:?} does not name {name} as reserved",
            self.title
        );
    }
}

fn pairs_json(pairs: &[(&str, &str)]) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect(),
    )
}

/// `NAME=value` entries separated by NUL bytes (`/proc/self/environ`, `env -0`, WASI's
/// `environ_get`), given as lower-case hex: the form the test actions print their environment in.
pub fn decode_environ(hex: &str) -> Vec<(String, String)> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    bytes
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=').unwrap_or((&entry, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}
