//! Everything that runs a program or talks to a cluster: child processes with deadlines
//! ([`process`]), kustomize ([`kustomize`]), one render of a target and its effective settings
//! ([`render`], [`effective`]), the order its objects are applied in ([`steps`]), kubectl and
//! discovery ([`kubectl`]), reading its errors ([`diagnose`]), applying in order ([`apply`]), each
//! step by several kubectl processes at once ([`streams`]), only what the cluster does not have
//! already ([`unchanged`]), the render's CRDs against the cluster's ([`crds`]), bounded waits
//! ([`wait`]), pruning stale ConfigMaps ([`prune`]), the token-access objects ([`poddefault`]); and
//! the running cluster, read-only: get and list ([`live`]), what is wrong with the live objects
//! ([`livecheck`]) and the routes `doctor` explains ([`routes`]). Never edits the checkout.

pub mod apply;
pub mod crds;
pub mod diagnose;
pub mod effective;
pub mod kubectl;
pub mod kustomize;
pub mod live;
pub mod livecheck;
pub mod poddefault;
pub mod process;
pub mod prune;
pub mod render;
pub mod routes;
pub mod steps;
pub mod streams;
pub mod unchanged;
pub mod wait;
