//! The proxy's integration suites in one test binary, so a change to the tests links one binary
//! for them instead of two. The hostile-input suite stays a binary of its own
//! (`--test hostile`): the test command runs it apart, uncaptured, for its numbered case list.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../protocol/tests/shared/env_cases.rs"]
mod env_cases;

mod actionloop;
mod env;
mod exposure;
mod spawn;
