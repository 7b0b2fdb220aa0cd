//! PLACEHOLDER: built by its issue.

use crate::app::Output;
use crate::cli::{AccessArgs, Cli};
use crate::error::{Failure, Result};

pub fn run(_cli: &Cli, _args: &AccessArgs, _io: &mut Output<'_>) -> Result<i32> {
    Err(Failure::new("not built yet"))
}
