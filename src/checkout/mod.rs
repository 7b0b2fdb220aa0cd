//! The manifests checkout as it is on disk: where the KFP multi-user install is and which release
//! it is ([`install`], [`version`], and [`locate`] for the install a command works on), which
//! settings change together per release ([`catalogue`]), the folders of a tree, walked cheaply
//! ([`walk`]), where each setting stands ([`settings`]), what would break on a cluster
//! ([`findings`], made of [`finding`]s, with [`env_lint`] for the `.env` files), which
//! kustomization a command renders ([`targets`]), the kustomizations read offline
//! ([`kustomization`]) that deploy the install ([`deploys`]) and the overrides above it
//! ([`trace`]), the git repository that holds it ([`git`], [`drift`]), and what surrounds it:
//! generated copies, remote bases, template generators ([`scan`], [`surroundings`]). Reads only:
//! nothing here writes a file or runs a program.

pub mod catalogue;
pub mod deploys;
pub mod drift;
pub mod env_lint;
pub mod finding;
pub mod findings;
pub mod git;
pub mod install;
pub mod kustomization;
pub mod locate;
pub mod scan;
pub mod settings;
pub mod surroundings;
pub mod targets;
pub mod trace;
pub mod version;
pub mod walk;
