//! Reading a running cluster, read-only: `get` and `list` through `kubectl get --raw`, never a
//! write. Raw API paths need no discovery (nothing cached, one request per read), and a refusal
//! names exactly the verb, resource and namespace that was asked, which is what the person must
//! ask their cluster admin for. Every read is bounded in time.
//!
//! Objects read here are [`Object`]s like rendered ones (empty `text`: nothing is ever applied
//! from them), so the settings are decoded from both by the same code. What is wrong with the
//! live objects: [`livecheck`]; the routes to the API that `doctor` explains: [`routes`].

pub mod livecheck;
pub mod routes;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use yaml_serde::Value;

use crate::checkout::model::objects::Object;
use crate::cluster::programs::kubectl::{ClusterInfo, Kubectl};
use crate::error::{EXIT_CLUSTER, Failure, Result};

/// How long kubectl may wait for one answer, and how long kfpatch waits for kubectl.
const REQUEST_TIMEOUT: &str = "10s";
const READ_LIMIT: Duration = Duration::from_secs(15);

/// A kind kfpatch reads, by its REST path.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// `""` for core/v1.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
}

pub const DEPLOYMENTS: Resource = Resource {
    group: "apps",
    version: "v1",
    plural: "deployments",
    kind: "Deployment",
};
pub const STATEFULSETS: Resource = Resource {
    group: "apps",
    version: "v1",
    plural: "statefulsets",
    kind: "StatefulSet",
};
pub const CONFIGMAPS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
};
pub const SERVICE_ACCOUNTS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    kind: "ServiceAccount",
};
pub const NAMESPACES: Resource = Resource {
    group: "",
    version: "v1",
    plural: "namespaces",
    kind: "Namespace",
};
pub const POD_DEFAULTS: Resource = Resource {
    group: "kubeflow.org",
    version: "v1alpha1",
    plural: "poddefaults",
    kind: "PodDefault",
};
/// v1beta1: served by the Istio of every Kubeflow release (v1 only from Istio 1.22).
pub const REQUEST_AUTHENTICATIONS: Resource = Resource {
    group: "security.istio.io",
    version: "v1beta1",
    plural: "requestauthentications",
    kind: "RequestAuthentication",
};

impl Resource {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let mut path = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if let Some(ns) = namespace {
            path.push_str(&format!("/namespaces/{ns}"));
        }
        path.push_str(&format!("/{}", self.plural));
        if let Some(name) = name {
            path.push_str(&format!("/{name}"));
        }
        path
    }

    /// `deployments.apps`, as RBAC and kubectl name it.
    pub fn shown(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// How a refusal is phrased in [`refusal`]'s message.
const FORBIDDEN: &str = "forbidden";

/// A list, or the cluster does not serve the kind at all (its CRD is not installed).
#[derive(Debug)]
pub enum Listed {
    Items(Vec<Object>),
    NotServed,
}

impl Listed {
    /// The items; none when the kind is not served.
    pub fn items(self) -> Vec<Object> {
        match self {
            Listed::Items(items) => items,
            Listed::NotServed => Vec::new(),
        }
    }
}

/// One cluster, as a kubeconfig context names it.
#[derive(Debug, Clone)]
pub struct Live {
    kubectl: Kubectl,
    pub info: ClusterInfo,
}

impl Live {
    /// The cluster of `context` (the kubeconfig's current one when `None`). Reads only the
    /// kubeconfig: a bad file or context is exit 2, as for `reinstall`.
    pub fn connect(kubeconfig: Option<PathBuf>, context: Option<String>) -> Result<Live> {
        let kubectl = Kubectl::new(
            kubeconfig,
            context.clone(),
            format!("{} s for a read", READ_LIMIT.as_secs()),
        );
        let info = kubectl
            .info(Instant::now() + READ_LIMIT)
            .map_err(|e| match &context {
                Some(ctx) => Failure::new(format!("context {ctx}: {}", e.message)),
                None => e,
            })?;
        Ok(Live { kubectl, info })
    }

    /// `list` of `resource` in `namespace` (cluster-wide kinds: `None`).
    pub fn list(&self, resource: &Resource, namespace: Option<&str>) -> Result<Listed> {
        let path = resource.path(namespace, None);
        match self.raw(&path, "list", resource, namespace)? {
            Answer::Found(value) => Ok(Listed::Items(
                value
                    .get("items")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .map(|item| object(resource, item.clone()))
                    .collect(),
            )),
            Answer::NotFound => Ok(Listed::NotServed),
        }
    }

    /// `get` of one object; `None` when it does not exist. Only for kinds every cluster serves:
    /// for others a missing kind and a missing object answer alike.
    pub fn get(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Object>> {
        let path = resource.path(namespace, Some(name));
        Ok(match self.raw(&path, "get", resource, namespace)? {
            Answer::Found(value) => Some(object(resource, value)),
            Answer::NotFound => None,
        })
    }

    /// `get` of one object a person may well not be allowed to read (a namespace, for a profile
    /// user): a refusal is an answer (`Err` with kubectl's reason) instead of exit 3.
    pub fn get_if_allowed(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<std::result::Result<Option<Object>, String>> {
        match self.get(resource, namespace, name) {
            Ok(found) => Ok(Ok(found)),
            Err(failure) if failure.message.contains(FORBIDDEN) => Ok(Err(failure.message)),
            Err(failure) => Err(failure),
        }
    }

    fn raw(
        &self,
        path: &str,
        verb: &str,
        resource: &Resource,
        namespace: Option<&str>,
    ) -> Result<Answer> {
        let timeout = format!("--request-timeout={REQUEST_TIMEOUT}");
        let what = match namespace {
            Some(ns) => format!("{verb} {} in namespace {ns}", resource.shown()),
            None => format!("{verb} {}", resource.shown()),
        };
        let ran = self
            .kubectl
            .run(
                &["get", "--raw", path, &timeout],
                None,
                Instant::now() + READ_LIMIT,
                &mut || {},
            )
            .map_err(|e| {
                if e.code == EXIT_CLUSTER {
                    self.failure(&format!(
                        "{what}: no answer within {} s; check that the cluster is up and reachable",
                        READ_LIMIT.as_secs()
                    ))
                } else {
                    e
                }
            })?;
        if ran.success() {
            let value: Value = yaml_serde::from_str(&ran.stdout)
                .map_err(|e| self.failure(&format!("{what}: the answer is not JSON: {e}")))?;
            return Ok(Answer::Found(value));
        }
        let stderr = ran.stderr.trim();
        if stderr.contains("(NotFound)") {
            return Ok(Answer::NotFound);
        }
        Err(self.failure(&refusal(&what, verb, resource, namespace, stderr)))
    }

    fn failure(&self, message: &str) -> Failure {
        Failure::cluster(format!(
            "context {} ({}): {message}",
            self.info.context, self.info.server
        ))
    }
}

enum Answer {
    Found(Value),
    NotFound,
}

/// The live item as an [`Object`]: list items carry no `apiVersion` and `kind`, so they come
/// from the resource read.
fn object(resource: &Resource, value: Value) -> Object {
    let text_at = |key: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Object {
        api_version: resource.api_version(),
        kind: resource.kind.to_string(),
        name: text_at("name").unwrap_or_default(),
        namespace: text_at("namespace"),
        text: String::new(),
        value,
        line: 0,
    }
}

/// Why a read failed, and what to do, from kubectl's message: bounded to the first line that says
/// something, as a person reads it.
fn refusal(
    what: &str,
    verb: &str,
    resource: &Resource,
    namespace: Option<&str>,
    stderr: &str,
) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("kubectl failed without a message")
        .trim();
    let line: String = if line.chars().count() > 300 {
        line.chars().take(300).collect::<String>() + "..."
    } else {
        line.to_string()
    };
    let scope = match namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "cluster-wide".to_string(),
    };
    if line.contains("(Forbidden)") {
        format!(
            "{what}: {FORBIDDEN} ({line}); kfpatch only reads: ask for {verb} on {} {scope} (a Role with verbs get, list), or use a context that has it",
            resource.shown()
        )
    } else if line.contains("(Unauthorized)") || line.contains("provide credentials") {
        format!(
            "{what}: the cluster does not accept these credentials ({line}); log in again or check the kubeconfig's user"
        )
    } else {
        format!("{what}: the cluster cannot be reached or did not answer ({line})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths() {
        assert_eq!(
            DEPLOYMENTS.path(Some("kubeflow"), Some("ml-pipeline")),
            "/apis/apps/v1/namespaces/kubeflow/deployments/ml-pipeline"
        );
        assert_eq!(
            CONFIGMAPS.path(Some("kubeflow"), None),
            "/api/v1/namespaces/kubeflow/configmaps"
        );
        assert_eq!(
            NAMESPACES.path(None, Some("team-a")),
            "/api/v1/namespaces/team-a"
        );
        assert_eq!(POD_DEFAULTS.shown(), "poddefaults.kubeflow.org");
    }

    #[test]
    fn refusals_name_verb_resource_and_namespace() {
        let forbidden = "Error from server (Forbidden): configmaps is forbidden: User \"jane\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"kubeflow\"";
        assert_eq!(
            refusal(
                "list configmaps in namespace kubeflow",
                "list",
                &CONFIGMAPS,
                Some("kubeflow"),
                forbidden
            ),
            format!(
                "list configmaps in namespace kubeflow: forbidden ({forbidden}); kfpatch only reads: ask for list on configmaps in namespace kubeflow (a Role with verbs get, list), or use a context that has it"
            )
        );
        let refused = "E1130 memcache.go:265 couldn't get current server API group list\nThe connection to the server 127.0.0.1:16799 was refused - did you specify the right host or port?\n";
        assert_eq!(
            refusal(
                "list deployments.apps in namespace kubeflow",
                "list",
                &DEPLOYMENTS,
                Some("kubeflow"),
                refused
            ),
            "list deployments.apps in namespace kubeflow: the cluster cannot be reached or did not answer (The connection to the server 127.0.0.1:16799 was refused - did you specify the right host or port?)"
        );
    }
}
