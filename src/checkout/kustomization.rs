//! What kustomize calls a kustomization, as every reader of the checkout names it: the file names
//! it accepts, the rule that tells a remote target from a local one, and the line an entry is on. Reading one is the model's
//! ([`crate::checkout::model`]).

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The 1-based line of the first line containing `needle` (1 if none).
pub fn line_containing(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// kustomize's remote targets: URLs, `github.com/...`, `git@...`, `git::...`.
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
}
