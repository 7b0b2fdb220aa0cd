//! Reading kubectl's errors: which failures heal by themselves (a CRD just applied, a webhook not
//! yet serving, a refused connection) and which never will (a kind nothing serves, a namespace
//! nothing creates), phrased for a person.

use crate::cluster::objects::{GroupKind, RenderFacts};

/// Why an apply failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Can heal with time: a CRD of this render not yet served, a webhook not yet serving, a
    /// refused connection.
    Heals(String),
    /// Cannot heal: a kind nothing will serve, a namespace nothing creates, an invalid object.
    Stops(String),
}

/// Substrings of kubectl errors that go away by themselves.
const HEALING: &[&str] = &[
    "failed calling webhook",
    "connection refused",
    "was refused - did you specify the right host or port",
    "no endpoints available for service",
    "the server is currently unable to handle the request",
    "i/o timeout",
    "TLS handshake timeout",
    "connection reset by peer",
    "etcdserver: request timed out",
    "the server was unable to return a response in the time allotted",
    "unexpected EOF",
];

/// Classifies the errors kubectl printed (`stderr` of a failed apply).
pub fn classify(stderr: &str, render: &RenderFacts) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    let mut add = |cause: Cause| {
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    };
    for line in stderr.lines() {
        let line = line.trim();
        let rest = line
            .trim_start_matches('[')
            .trim_end_matches(']')
            .replace("ensure CRDs are installed first", "");
        let rest = rest.trim_matches([' ', ',', ']']);
        if rest.is_empty() || line.starts_with("Warning:") {
            continue;
        }
        let missing_kinds = no_matches(line);
        if !missing_kinds.is_empty() {
            for gk in missing_kinds {
                if render.crd_kinds.contains(&gk) {
                    add(Cause::Heals(format!(
                        "{} ({}): its CRD from this render is not served yet",
                        gk.kind, gk.group
                    )));
                } else {
                    add(Cause::Stops(missing_kind_message(&gk)));
                }
            }
            continue;
        }
        if let Some(ns) = quoted_after(line, "namespaces \"").filter(|_| line.contains("not found"))
        {
            if render.namespaces.contains(&ns) {
                add(Cause::Heals(format!("namespace {ns} is not created yet")));
            } else {
                add(Cause::Stops(missing_namespace_message(&ns)));
            }
            continue;
        }
        if HEALING.iter().any(|h| line.contains(h)) {
            add(Cause::Heals(line.to_string()));
        } else {
            add(Cause::Stops(line.to_string()));
        }
    }
    causes
}

/// Every `no matches for kind "K" in version "G/V"` in a line.
fn no_matches(line: &str) -> Vec<GroupKind> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("no matches for kind \"") {
        rest = &rest[i + "no matches for kind \"".len()..];
        let Some((kind, after)) = rest.split_once('"') else {
            break;
        };
        let version = quoted_after(after, "in version \"").unwrap_or_default();
        let group = version.rsplit_once('/').map_or("", |(g, _)| g);
        found.push(GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        });
        rest = after;
    }
    found
}

fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let (value, _) = text[start..].split_once('"')?;
    Some(value.to_string())
}

/// `AuthorizationPolicy (security.istio.io): Istio is not installed`.
pub fn missing_kind_message(gk: &GroupKind) -> String {
    let why = match gk.group.as_str() {
        g if g.ends_with("istio.io") => "Istio is not installed",
        "cert-manager.io" | "acme.cert-manager.io" => "cert-manager is not installed",
        "kubeflow.org" => {
            "its Kubeflow CRD is not installed (PodDefault: admission-webhook, Profile: profile-controller)"
        }
        "argoproj.io" => "Argo Workflows is not installed",
        "metacontroller.k8s.io" => "metacontroller is not installed",
        g if g.ends_with("knative.dev") => "Knative is not installed",
        _ => "its CustomResourceDefinition is neither in the render nor on the cluster",
    };
    let group = if gk.group.is_empty() {
        "core"
    } else {
        &gk.group
    };
    format!("{} ({group}): {why}", gk.kind)
}

pub fn missing_namespace_message(ns: &str) -> String {
    format!(
        "namespace {ns} does not exist and these objects do not create it: create it (kubectl create namespace {ns}), or apply Kubeflow's common/kubeflow-namespace first"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::{SAMPLE_RENDER as RENDER, split};
    #[test]
    fn classifier_heals_only_what_time_can_fix() {
        let objects = split(RENDER).unwrap();
        let facts = RenderFacts::of(&objects);
        let stderr = "Warning: resource deployments/x is missing the annotation\n\
[resource mapping not found for name: \"p\" namespace: \"kubeflow\" from \"STDIN\": no matches for kind \"CompositeController\" in version \"metacontroller.k8s.io/v1alpha1\"\n\
ensure CRDs are installed first, resource mapping not found for name: \"ml-pipeline\" namespace: \"kubeflow\" from \"STDIN\": no matches for kind \"AuthorizationPolicy\" in version \"security.istio.io/v1beta1\"\n\
ensure CRDs are installed first]\n\
Error from server (NotFound): error when creating \"STDIN\": namespaces \"kubeflow\" not found\n\
Error from server (NotFound): error when creating \"STDIN\": namespaces \"team-a\" not found\n\
Error from server (InternalError): error when creating \"STDIN\": Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": connection refused\n\
Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap\n";
        assert_eq!(
            classify(stderr, &facts),
            vec![
                Cause::Heals(
                    "CompositeController (metacontroller.k8s.io): its CRD from this render is not served yet"
                        .to_string()
                ),
                Cause::Stops(
                    "AuthorizationPolicy (security.istio.io): Istio is not installed".to_string()
                ),
                Cause::Heals("namespace kubeflow is not created yet".to_string()),
                Cause::Stops(missing_namespace_message("team-a")),
                Cause::Heals("Error from server (InternalError): error when creating \"STDIN\": Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": connection refused".to_string()),
                Cause::Stops("Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap".to_string()),
            ]
        );
        assert_eq!(
            classify(
                "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?\n",
                &facts
            ),
            vec![Cause::Heals("The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?".to_string())]
        );
    }
}
