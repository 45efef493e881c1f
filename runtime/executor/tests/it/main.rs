//! The executor's integration suites in one test binary, so a change to the crate links one
//! binary for them instead of four. The hostile-input suite stays a binary of its own
//! (`--test hostile`): the test command runs it apart, uncaptured, for its numbered case list.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../protocol/tests/shared/env_cases.rs"]
mod env_cases;
#[path = "../common/workload_cases.rs"]
mod workload_cases;

mod cache_trust;
mod env;
mod isolation;
mod limits;
mod protocol;
mod workloads;
