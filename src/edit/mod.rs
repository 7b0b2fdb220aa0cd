//! Changing the checkout: the plan of edits computed in full before anything is written
//! ([`plan`], each setting's edit from [`splice`]), carrying it out as the flags ask ([`outcome`]), the dirty guard and the atomic
//! write every changed file goes through ([`write`]), the one lock per checkout that every writing
//! command holds ([`lock`]), and the same switch as a kustomize overlay
//! ([`overlay`], its files: [`overlay_files`]; over a remote base: [`remote_overlay`]); the files
//! above the install that override a managed setting are switched by [`overrides`]. Nothing here
//! talks to a cluster.

pub mod lock;
pub mod outcome;
pub mod overlay;
pub mod overlay_files;
pub mod overrides;
pub mod plan;
pub mod remote_overlay;
pub mod splice;
pub mod write;
