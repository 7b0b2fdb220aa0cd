//! Finding the install a command works on, or saying why there is none: a checkout whose KFP
//! comes only from remote bases gets those named, anything else the layouts kfpatch knows.

use std::path::Path;

use crate::checkout::discover;
use crate::checkout::install::Install;
use crate::checkout::paths;
use crate::checkout::scan;
use crate::error::{Failure, Result};

/// Finds the install under `root`, or the one named by `--install` (relative to `root`).
pub fn find(root: &Path, named: Option<&Path>) -> Result<Install> {
    let root = paths::canonical_root(root)?;
    discover::find_optional(&root, named)?.ok_or_else(|| {
        match scan::remote_or_unreadable(scan::scan(&root, &root, &[])) {
            Err(unreadable) => unreadable,
            Ok(remote) if remote.is_empty() => discover::nothing_found(&root),
            Ok(remote) => Failure::new(scan::remote_only(&remote)),
        }
    })
}
