//! The differential test of kfpatch's kustomize model: fork trees generated from the real release
//! trees, `kfpatch status --format json` for each, and `kubectl kustomize` of every kustomization
//! that deploys the install as the oracle.
//!
//! Modules: [`rng`] (the seeded generator), [`plan`] (what a tree holds), [`draw`] (a plan from a seed),
//! [`write`] (a plan as files), [`walk`] (which folders a kustomization reads), [`check`] (one
//! kustomization compared), [`run`] (trees built, rendered and compared; shrinking).

pub mod check;
pub mod draw;
pub mod plan;
pub mod rng;
pub mod run;
pub mod walk;
pub mod write;
