//! One module per `wowbench` subcommand.

pub mod build;
pub mod clean;
pub mod compare;
pub mod docker_probe;
pub mod list;
pub mod report;
pub mod run;
pub mod soak;

/// Exit status after an interruption (128 + SIGINT), as shells report it.
pub use wowbench::signals::INTERRUPTED_STATUS;
