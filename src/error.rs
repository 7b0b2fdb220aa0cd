//! The one error type that reaches the user: a message that says what happened and what to do,
//! and the exit code it ends the process with.

use std::fmt;
use std::path::Path;

/// Exit code for bad input, a refused write, or anything else that stopped kfpatch (nothing
/// written).
pub const EXIT_ERROR: i32 = 2;

/// Exit code of `--check` when something would change.
pub const EXIT_CHANGES: i32 = 1;

/// Exit code when the cluster rejected the objects, lacks what they need, cannot be reached, or
/// did not become ready in time.
pub const EXIT_CLUSTER: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    /// Bad input or a refused operation: exit code 2.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }

    pub fn with_code(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The cluster refused, lacks something, cannot be reached, or ran out of time: exit code 3.
    pub fn cluster(message: impl Into<String>) -> Failure {
        Failure::with_code(EXIT_CLUSTER, message)
    }

    /// An I/O error on `path`, phrased for a person.
    pub fn io(action: &str, path: &Path, err: &std::io::Error) -> Failure {
        Failure::new(format!(
            "cannot {action} {}: {}",
            path.display(),
            io_reason(err)
        ))
    }
}

fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::NotFound => "no such file or directory".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
