//! What would break on a cluster, found in the checkout's files: one [`finding`] (file, line,
//! severity, code, message), the findings of an install's managed files ([`findings`]) and of its
//! `.env` files line by line ([`env_lint`]).

pub mod env_lint;
pub mod finding;
pub mod findings;
