//! Finding the install a command works on, or saying why there is none: a checkout whose KFP
//! comes only from remote bases gets those named, anything else the layouts kfpatch knows.

use std::path::Path;

use crate::checkout::install::{self, Install};
use crate::checkout::scan;
use crate::error::{Failure, Result};

/// Finds the install under `root`, or the one named by `--install` (relative to `root`).
pub fn find(root: &Path, named: Option<&Path>) -> Result<Install> {
    let root = install::canonical_root(root)?;
    install::find_optional(&root, named)?.ok_or_else(|| {
        let remote = scan::scan(&root, &root, &[]).remote;
        if remote.is_empty() {
            install::nothing_found(&root)
        } else {
            Failure::new(scan::remote_only(&remote))
        }
    })
}
