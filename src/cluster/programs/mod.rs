//! The programs kfpatch runs: child processes with deadlines and bounded output ([`process`]),
//! kubectl with one discovery shared by every call ([`kubectl`]), kustomize, standalone or
//! kubectl's ([`kustomize`]), and what kubectl's errors mean ([`diagnose`]). Every program is
//! spawned with an argument vector, never through a shell.

pub mod diagnose;
pub mod kubectl;
pub mod kustomize;
pub mod process;
