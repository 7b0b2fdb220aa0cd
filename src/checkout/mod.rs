//! The manifests checkout as it is on disk: what a KFP multi-user install is, its layout and
//! release ([`install`], [`version`]), finding it ([`discover`], and [`locate`] for the install a
//! command works on), reading its files safely and where a write may land ([`safe_read`]) and
//! showing paths relative to the checkout ([`paths`]), which settings change together per release
//! ([`catalogue`]) and a managed file parsed once for them, with the problems it can have
//! ([`parsed`]), the folders and files of a tree, walked cheaply ([`walk`]), where each setting
//! stands ([`settings`]) and the install's overall mode ([`overall`]), what would break on a
//! cluster ([`lint`]), which kustomization a command renders ([`targets`]), what a kustomization
//! file is ([`kustomization`]), the checkout's own kustomizations that deploy the install
//! ([`deploys`]), what building them gives the cluster, modelled offline, and the settings decoded
//! from objects ([`model`], the one reader of kustomization files), the overrides above it
//! ([`overriding`], found by [`trace`] in what the model reads), the git repository that holds it
//! ([`git`], [`drift`]), and the generated copies, remote bases and template generators around it
//! ([`scan`]). Reads only: nothing here writes a file or runs a program.

pub mod catalogue;
pub mod deploys;
pub mod discover;
pub mod drift;
pub mod git;
pub mod install;
pub mod kustomization;
pub mod lint;
pub mod locate;
pub mod model;
pub mod overall;
pub mod overriding;
pub mod parsed;
pub mod paths;
pub mod safe_read;
pub mod scan;
pub mod settings;
pub mod targets;
pub mod trace;
pub mod version;
pub mod walk;
