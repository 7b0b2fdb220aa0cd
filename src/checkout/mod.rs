//! The manifests checkout as it is on disk: where the KFP multi-user install is and which release
//! it is ([`install`], [`version`]), which settings change together per release ([`catalogue`]),
//! the folders of a tree, walked cheaply ([`walk`]), where each stands ([`settings`]), what would break on a cluster ([`findings`], made of [`finding`]s, with [`env_lint`] for the `.env` files), which
//! kustomization a command renders ([`targets`]), and the git repository around it ([`git`],
//! [`drift`]). Reads only: nothing here writes a file or runs a program.

pub mod catalogue;
pub mod drift;
pub mod env_lint;
pub mod finding;
pub mod findings;
pub mod git;
pub mod install;
pub mod settings;
pub mod targets;
pub mod version;
pub mod walk;
