//! One module per subcommand, each with a `run` that takes the parsed command line and the
//! output, and returns the exit code. A command uses the layers below it (`checkout`, `edit`,
//! `cluster`, `output`) and never another command: what two commands share lives below them.

pub mod access;
pub mod audit;
pub mod complete;
pub mod completion;
pub mod man;
pub mod multiuser;
pub mod reinstall;
pub mod render;
pub mod set;
pub mod status;
