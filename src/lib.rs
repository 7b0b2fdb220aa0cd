//! kfpatch: switch Kubeflow Pipelines multi-user mode in a manifests checkout, with every setting
//! that must change with it, editing only the bytes that must change.
//!
//! The modules follow the work: [`install`] finds the install and reads its files safely,
//! [`catalogue`] says which settings change together per release, [`envfile`] and [`yamledit`] are
//! the lossless editors, [`plan`] holds the edits with their diff and atomic write, [`git`] reads
//! the repository, [`status`] reports, and [`app`] runs a command line that [`cli`] parsed.

pub mod access;
pub mod app;
pub mod audit;
pub mod catalogue;
pub mod cli;
pub mod cluster;
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
