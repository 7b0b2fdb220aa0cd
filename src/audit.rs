//! PLACEHOLDER: built by its issue.

use crate::app::Output;
use crate::cli::{AuditArgs, Cli};
use crate::error::{Failure, Result};

pub fn run(_cli: &Cli, _args: &AuditArgs, _io: &mut Output<'_>) -> Result<i32> {
    Err(Failure::new("not built yet"))
}
