//! kfpatch: switch Kubeflow Pipelines multi-user mode in a manifests checkout, with every setting
//! that must change with it, editing only the bytes that must change.
//!
//! The modules follow the work:
//! - finding and reading: [`install`] finds the install and reads its files safely, [`git`] reads
//!   the repository, [`version`] orders KFP releases;
//! - what changes: [`catalogue`] says which settings change together per release;
//! - editing: [`envfile`] and [`yamledit`] are the lossless editors, [`plan`] holds the edits with
//!   their diff and atomic write, [`overlay`] writes the same switch as a kustomize overlay;
//! - reporting: [`status`], [`audit`] (with [`drift`] against a git ref);
//! - the cluster: [`kustomize`] renders, [`effective`] reads the rendered settings, [`cluster`]
//!   applies in order through [`process`]-run kubectl, [`reinstall`] and [`access`] drive it;
//! - the command line: [`cli`] parses, [`app`] runs.

pub mod access;
pub mod app;
pub mod audit;
pub mod catalogue;
pub mod cli;
pub mod cluster;
pub mod drift;
pub mod effective;
pub mod envfile;
pub mod error;
pub mod git;
pub mod install;
pub mod kustomize;
pub mod overlay;
pub mod plan;
pub mod process;
pub mod reinstall;
pub mod status;
pub mod version;
pub mod yamledit;
