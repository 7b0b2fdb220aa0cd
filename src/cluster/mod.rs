//! Everything that runs a program or talks to a cluster, by what it does:
//! - [`programs`]: child processes with deadlines, kubectl and discovery, kustomize, and reading
//!   kubectl's errors;
//! - [`render`]: one render of a target and the effective settings it gives;
//! - [`apply`]: applying a render in order (the steps, several kubectl processes at once, only
//!   what the cluster does not have, the render's CRDs against the cluster's, bounded waits,
//!   pruning stale ConfigMaps);
//! - [`poddefault`]: the token-access objects `access` applies and `doctor` looks for;
//! - [`live`]: the running cluster, read-only (get and list, what is wrong with the live objects,
//!   the routes `doctor` explains).
//!
//! Never edits the checkout.

pub mod apply;
pub mod live;
pub mod poddefault;
pub mod programs;
pub mod render;
