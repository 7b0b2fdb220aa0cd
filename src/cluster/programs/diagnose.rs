//! Reading kubectl's errors: which failures heal by themselves (a CRD just applied, a webhook not
//! yet serving, a refused connection) and which never will (a kind nothing serves, a namespace
//! nothing creates), phrased for a person and bounded to what a person reads: kubectl quotes the
//! whole object it failed to patch (270 KB for Istio's CRDs), kfpatch keeps the object and the
//! reason.

use crate::checkout::model::objects::GroupKind;
use crate::checkout::model::objects::RenderFacts;

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
    // A concurrent update between kubectl's read and its patch (a controller writing status).
    "the object has been modified; please apply your changes to the latest version",
];

/// At most this many characters of one message taken from kubectl.
const MESSAGE_MAX: usize = 300;

/// At most this many messages taken from kubectl in one error.
pub const MESSAGES_MAX: usize = 10;

/// `text` cut to [`MESSAGE_MAX`] characters, saying how much was left out.
pub fn bound(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MESSAGE_MAX) {
        None => text.to_string(),
        Some((at, _)) => format!(
            "{}... ({} more characters)",
            &text[..at],
            text[at..].chars().count()
        ),
    }
}

/// At most [`MESSAGES_MAX`] of `lines`, each bounded, then how many were left out.
pub fn bounded(lines: &[String]) -> Vec<String> {
    let mut shown: Vec<String> = lines.iter().take(MESSAGES_MAX).map(|l| bound(l)).collect();
    if lines.len() > MESSAGES_MAX {
        shown.push(format!("... and {} more", lines.len() - MESSAGES_MAX));
    }
    shown
}

/// kubectl's stderr as one message per error, warnings dropped. `error when applying patch:` is
/// followed by the whole patch (the object as JSON), `to:`, the resource, `Name: ..., Namespace:
/// ...` and a `for: ...` line with the reason: that becomes one message, the object and the reason.
pub fn messages(stderr: &str) -> Vec<String> {
    let mut messages = Vec::new();
    let mut lines = stderr.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.is_empty() || line.starts_with("Warning:") {
            continue;
        }
        let Some(prefix) = line.strip_suffix("error when applying patch:") else {
            messages.push(line.to_string());
            continue;
        };
        let mut name = None;
        let mut reason = None;
        for next in lines.by_ref() {
            if let Some(rest) = next.strip_prefix("Name: ") {
                name = Some(rest.to_string());
            }
            if let Some(rest) = next.strip_prefix("for: ") {
                // `"STDIN": error when patching "STDIN": <the reason>`
                let after = rest
                    .split_once("error when patching ")
                    .map_or(rest, |(_, r)| r);
                let after = after.split_once(": ").map_or(after, |(_, r)| r);
                reason = Some(after.to_string());
                break;
            }
        }
        messages.push(match (reason, name) {
            (Some(reason), _) => format!("{prefix}{reason}"),
            (None, Some(name)) => format!("{prefix}error when applying a patch to {name}"),
            (None, None) => format!("{prefix}error when applying a patch"),
        });
    }
    messages
}

/// kubectl's stderr for a person: its messages, bounded in length and number, on one line each.
pub fn brief(stderr: &str) -> String {
    let lines = bounded(&messages(stderr));
    if lines.is_empty() {
        return "kubectl said nothing".to_string();
    }
    lines.join("\n")
}

/// The marker of a stored-version refusal in a [`Cause::Stops`] message (see
/// [`crate::cluster::apply::crds::NEWER_CRDS_ADVICE`]).
pub const DROPS_STORED_VERSION: &str = "which the render's copy lacks";

/// Classifies the errors kubectl printed (`stderr` of a failed apply).
pub fn classify(stderr: &str, render: &RenderFacts) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    let mut add = |cause: Cause| {
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    };
    for line in messages(stderr) {
        let line = line.as_str();
        let rest = line
            .trim_start_matches('[')
            .trim_end_matches(']')
            .replace("ensure CRDs are installed first", "");
        let rest = rest.trim_matches([' ', ',', ']']);
        if rest.is_empty() {
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
        if let Some(message) = drops_stored_version(line) {
            add(Cause::Stops(message));
        } else if HEALING.iter().any(|h| line.contains(h)) {
            add(Cause::Heals(bound(line)));
        } else {
            add(Cause::Stops(bound(line)));
        }
    }
    causes
}

/// The API server's refusal of a CRD that drops a stored version (`status.storedVersions[0]:
/// Invalid value: "v1": missing from spec.versions`), client-side or server-side.
fn drops_stored_version(line: &str) -> Option<String> {
    if !line.contains("status.storedVersions") || !line.contains("missing from spec.versions") {
        return None;
    }
    let name = quoted_after(line, "CustomResourceDefinition.apiextensions.k8s.io \"")
        .or_else(|| quoted_after(line, "CustomResourceDefinition \""))?;
    let version = quoted_after(line, "Invalid value: \"")?;
    Some(format!(
        "{name}: stored {version}, {DROPS_STORED_VERSION}; the API server refuses to drop it"
    ))
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
        found.push(GroupKind::of(&version, kind));
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
    use crate::checkout::model::objects::{SAMPLE_RENDER as RENDER, split};
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

    /// kubectl's client-side apply over a newer Istio CRD, shortened: the patch line quotes the
    /// whole object (135 KB for each of the eight CRDs in the real case).
    fn patch_refusal(name: &str) -> String {
        format!(
            "Error from server (Invalid): error when applying patch:\n{{\"metadata\":{{\"annotations\":{{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}}}}}}\nto:\nResource: \"apiextensions.k8s.io/v1, Resource=customresourcedefinitions\", GroupVersionKind: \"apiextensions.k8s.io/v1, Kind=CustomResourceDefinition\"\nName: \"{name}\", Namespace: \"\"\nfor: \"STDIN\": error when patching \"STDIN\": CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: status.storedVersions[0]: Invalid value: \"v1\": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions\n",
            "x".repeat(100_000)
        )
    }

    #[test]
    fn a_patch_error_is_the_object_and_the_reason() {
        let stderr = format!(
            "Warning: resource customresourcedefinitions/gateways.networking.istio.io is missing the kubectl.kubernetes.io/last-applied-configuration annotation which is required by kubectl apply.\n{}{}",
            patch_refusal("gateways.networking.istio.io"),
            patch_refusal("virtualservices.networking.istio.io")
        );
        let found = messages(&stderr);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            "Error from server (Invalid): CustomResourceDefinition.apiextensions.k8s.io \"gateways.networking.istio.io\" is invalid: status.storedVersions[0]: Invalid value: \"v1\": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions"
        );
        let facts = RenderFacts::default();
        assert_eq!(
            classify(&stderr, &facts),
            [
                Cause::Stops(format!(
                    "gateways.networking.istio.io: stored v1, {DROPS_STORED_VERSION}; the API server refuses to drop it"
                )),
                Cause::Stops(format!(
                    "virtualservices.networking.istio.io: stored v1, {DROPS_STORED_VERSION}; the API server refuses to drop it"
                )),
            ]
        );
        // Server-side apply is refused the same way, in one line.
        assert_eq!(
            classify(
                "The CustomResourceDefinition \"sidecars.networking.istio.io\" is invalid: status.storedVersions[0]: Invalid value: \"v1\": missing from spec.versions; v1 was previously a storage version\n",
                &facts
            ),
            [Cause::Stops(format!(
                "sidecars.networking.istio.io: stored v1, {DROPS_STORED_VERSION}; the API server refuses to drop it"
            ))]
        );
        // A patch that lost a race with another writer heals on the next attempt.
        assert_eq!(
            classify(
                "Error from server (Conflict): error when applying patch:\n{}\nto:\nName: \"ml-pipeline\", Namespace: \"kubeflow\"\nfor: \"STDIN\": error when patching \"STDIN\": Operation cannot be fulfilled on deployments.apps \"ml-pipeline\": the object has been modified; please apply your changes to the latest version and try again\n",
                &facts
            ),
            [Cause::Heals("Error from server (Conflict): Operation cannot be fulfilled on deployments.apps \"ml-pipeline\": the object has been modified; please apply your changes to the latest version and try again".to_string())]
        );
        // A patch error cut short still names the object.
        assert_eq!(
            messages(
                "Error from server (Conflict): error when applying patch:\n{}\nto:\nName: \"a\", Namespace: \"b\"\n"
            ),
            [
                "Error from server (Conflict): error when applying a patch to \"a\", Namespace: \"b\""
            ]
        );
    }

    #[test]
    fn what_kubectl_says_is_bounded() {
        let long = "y".repeat(1000);
        assert_eq!(
            bound(&long),
            format!("{}... (700 more characters)", "y".repeat(300))
        );
        assert_eq!(bound("  short \n"), "short");
        let lines: Vec<String> = (1..=12).map(|i| format!("error {i}")).collect();
        let shown = bounded(&lines);
        assert_eq!(shown.len(), 11);
        assert_eq!(shown[9], "error 10");
        assert_eq!(shown[10], "... and 2 more");
        // An unknown error that quotes an object stays a few hundred characters.
        let stderr = format!("Error from server (BadRequest): {long}\n");
        let causes = classify(&stderr, &RenderFacts::default());
        let [Cause::Stops(text)] = causes.as_slice() else {
            panic!("{causes:?}")
        };
        assert!(text.len() < 400, "{}", text.len());
        let all: String = (0..30).map(|_| patch_refusal("a.example.com")).collect();
        assert!(brief(&all).len() < 5_000);
        assert_eq!(brief(""), "kubectl said nothing");
    }
}
