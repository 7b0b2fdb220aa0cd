//! kfpatch: switch Kubeflow Pipelines multi-user mode in a manifests checkout, with every setting
//! that must change with it, editing only the bytes that must change.
//!
//! One folder per concern, each layer using only the ones listed before it:
//! - [`error`]: the one error type and the exit codes; [`interrupt`]: what SIGINT, SIGTERM and
//!   SIGHUP undo before kfpatch exits (the layers that own something to undo register with it);
//!   [`parallel`]: work beside the caller's on a second thread, or after it when the system
//!   refuses one;
//! - [`output`]: what the user sees and answers (writers, colour, progress, the safety prompt,
//!   the one escaping of untrusted text);
//! - [`syntax`]: the lossless `.env` and YAML models, which know nothing of Kubeflow;
//! - [`checkout`]: the manifests checkout: finding installs, releases, the catalogue of settings
//!   that change together, their current state, findings, render targets, git;
//! - [`edit`]: changing the checkout: plans, the checkout's lock, the dirty guard and atomic
//!   write, overlays;
//! - [`report`]: what `status` and `audit` say around the install (deploying kustomizations,
//!   overrides, generated copies, remote bases);
//! - [`cluster`]: kustomize, the render and its effective settings, kubectl, apply, wait, prune;
//! - [`cli`]: every flag; [`commands`]: one module per subcommand, using the layers above and
//!   never each other. The binary (`main.rs`) parses and dispatches.

pub mod checkout;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod edit;
pub mod error;
pub mod interrupt;
pub mod output;
pub mod parallel;
pub mod report;
pub mod syntax;
