//! PLACEHOLDER: built by its issue.

use crate::app::Output;
use crate::cli::{Cli, ReinstallArgs, RenderArgs};
use crate::error::{Failure, Result};

pub fn render(_cli: &Cli, _args: &RenderArgs, _io: &mut Output<'_>) -> Result<i32> {
    Err(Failure::new("not built yet"))
}

pub fn run(_cli: &Cli, _args: &ReinstallArgs, _io: &mut Output<'_>) -> Result<i32> {
    Err(Failure::new("not built yet"))
}
