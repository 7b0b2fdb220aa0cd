//! Changing the checkout: the plan of edits computed in full before anything is written
//! ([`plan`], each setting's edit from [`splice`]), carrying it out as the flags ask ([`outcome`]), the dirty guard and the atomic
//! write every changed file goes through ([`write`]), and the same switch as a kustomize overlay
//! ([`overlay`], its files: [`overlay_files`]; over a remote base: [`remote_overlay`]). Nothing
//! here talks to a cluster.

pub mod outcome;
pub mod overlay;
pub mod overlay_files;
pub mod plan;
pub mod remote_overlay;
pub mod splice;
pub mod write;
