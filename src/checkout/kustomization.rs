//! What kustomize calls a kustomization, as every reader of the checkout names it: the file names
//! it accepts and the rule that tells a remote target from a local one. Reading one is the
//! model's ([`crate::checkout::model::entries`]).

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The host every form of remote URL to KFP's manifests names: a kustomization without it fetches
/// no KFP (and needs no parsing to tell).
pub const KFP_HOST: &str = "github.com";

/// kustomize's remote targets: URLs, `github.com/...`, `git@...`, `git::...`.
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
}
