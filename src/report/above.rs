//! What lies above the install, as `status` and `audit` report it: the checkout's own
//! kustomizations that deploy it ([`crate::checkout::deploys`]) and the overrides that every
//! kustomization whose build includes it applies ([`crate::checkout::trace`]).

use crate::checkout::deploys::{self, Deploy, Graph, manifests_root, own_kfp};
use crate::checkout::install::Install;
use crate::checkout::model::deploying::{self, Deploying};
use crate::checkout::overriding::Override;
use crate::checkout::trace::{Reaching, all_overrides};

/// What lies above the install: the kustomizations that deploy it and the overrides they apply,
/// as `status` and `audit` report them.
#[derive(Debug, Clone)]
pub struct Above {
    /// The checkout's own deploy kustomizations, then the manifests root's `example/`.
    pub deploys: Vec<Deploy>,
    /// The folder `--target kfp` picks among the checkout's own, if one.
    pub kfp: Option<String>,
    pub overrides: Vec<Override>,
}

impl Above {
    /// `deploying`: every kustomization whose build includes the install, as the model found them
    /// (`searched`: how).
    pub fn of(install: &Install, deploying: &[Deploying], searched: deploying::Reaching) -> Above {
        let mut graph = Graph::new(install);
        let deploys = deploys::deploys(install, &mut graph, Some(&searched));
        let kfp = own_kfp(&deploys, install).map(|d| d.shown);
        let mut reaching = Reaching::of_deploying(install, deploying, searched.model);
        let overrides = all_overrides(install, &mut reaching);
        // Not freed: `status` and `audit` end soon after this, and the process's exit frees it
        // at once, where freeing every kustomization and build the model holds, one by one, cost
        // about a tenth of a `status` in a deep tree.
        std::mem::forget(reaching);
        Above {
            deploys,
            kfp,
            overrides,
        }
    }

    /// `configs/apps/pipeline/base (--target kfp), deployments/vanilla; upstream/example (--target
    /// all)`, or `None` when the checkout has no deploy kustomization of its own.
    pub fn deployed_through(&self, install: &Install) -> Option<String> {
        let manifests = manifests_root(install);
        let (own, example): (Vec<&Deploy>, Vec<&Deploy>) = self
            .deploys
            .iter()
            .partition(|d| !d.dir.starts_with(&manifests));
        if own.is_empty() {
            return None;
        }
        // The one `--target kfp` picks first, then the others by folder.
        let mut own = own;
        own.sort_by_key(|d| Some(&d.shown) != self.kfp.as_ref());
        let mut text = own
            .iter()
            .map(|d| {
                if Some(&d.shown) == self.kfp.as_ref() {
                    format!("{} (--target kfp)", d.shown)
                } else {
                    d.shown.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(example) = example.first() {
            text.push_str(&format!("; {} (--target all)", example.shown));
        }
        Some(text)
    }

    /// The checkout's own deploy kustomizations, by folder.
    pub fn own_folders(&self, install: &Install) -> Vec<String> {
        let manifests = manifests_root(install);
        self.deploys
            .iter()
            .filter(|d| !d.dir.starts_with(&manifests))
            .map(|d| d.shown.clone())
            .collect()
    }

    /// One line per override: row, where, setting, value, and what applies it.
    pub fn override_lines(&self) -> Vec<String> {
        self.overrides
            .iter()
            .map(|o| {
                format!(
                    "{} {}  {}  {}  through {} ({})",
                    o.setting.row,
                    o.at(),
                    o.setting.name(),
                    o.shown_value(),
                    o.by,
                    o.how
                )
            })
            .collect()
    }
}
