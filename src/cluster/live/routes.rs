//! How a client reaches the KFP API of a running cluster, read from its live objects: the mode
//! the API server runs in and what it requires of a request, the token route inside a profile
//! namespace (the `access-ml-pipeline` PodDefault), the routes from outside (the login proxy and
//! its session cookie; an Istio RequestAuthentication that accepts Kubernetes service-account
//! tokens, as the m2m overlays of kubeflow/manifests 1.9 and later add), and the single-user
//! switch, last, with its cost. Every fact names the object it was read from.

use std::collections::BTreeMap;

use serde::Serialize;
use yaml_serde::Value;

use crate::checkout::model::confighash;
use crate::checkout::model::decode::{self, API_SERVER, KFP_NAMESPACE};
use crate::checkout::model::objects::{self, Rendered};
use crate::cluster::live::{self, Listed, Live};
use crate::cluster::poddefault;
use crate::error::Result;
use crate::syntax::envfile::parse_go_bool;
use crate::syntax::seq;

const OAUTH2_PROXY: (&str, &str) = ("oauth2-proxy", "oauth2-proxy");
const ISTIO_NAMESPACE: &str = "istio-system";
const USERID_HEADER_DEFAULT: &str = "kubeflow-userid";
/// oauth2-proxy's own default, when its configuration names no cookie.
const OAUTH2_PROXY_DEFAULT_COOKIE: &str = "_oauth2_proxy";
const SINGLE_USER_CLIENT: &str = "client = kfp.Client(host=\"http://ml-pipeline.kubeflow:8888\") in the cluster; from outside, kubectl -n kubeflow port-forward svc/ml-pipeline 8888:8888 and host=\"http://localhost:8888\"";
/// oidc-authservice's session cookie (Kubeflow up to 1.8).
const AUTHSERVICE_COOKIE: &str = "authservice_session";

/// One fact, and the object it was read from.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub object: String,
    pub fact: String,
}

/// Whether a route works on this cluster now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Works,
    /// It can work on this release; something is missing (the fix says what).
    NotReady,
    /// This cluster does not have what the route needs.
    NotAvailable,
    /// Always possible, at a cost (the single-user switch).
    LastResort,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Works => "WORKS",
            State::NotReady => "NOT READY",
            State::NotAvailable => "NOT AVAILABLE",
            State::LastResort => "LAST RESORT",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// `in-cluster-token`, `m2m-token`, `session-cookie`, `single-user`.
    pub id: &'static str,
    pub title: &'static str,
    pub state: State,
    pub why: String,
    pub fix: Option<String>,
    /// What the client does, once the route works.
    pub client: String,
}

/// The case being asked about: a notebook in a profile namespace, or a client outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Case {
    InCluster(String),
    Outside,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// `Some(true)`: multi-user; `None`: the API server's ConfigMap could not be read.
    pub multi_user: Option<bool>,
    pub evidence: Vec<Evidence>,
    pub routes: Vec<Route>,
}

fn fact(evidence: &mut Vec<Evidence>, object: impl Into<String>, text: impl Into<String>) {
    evidence.push(Evidence {
        object: object.into(),
        fact: text.into(),
    });
}

/// Reads the cluster and lays out every route. `checkout`: how to name the checkout in the
/// single-user commands (`-C DIR` when one was given).
pub fn diagnose(
    live: &Live,
    case: &Case,
    checkout: &str,
    cluster_flags: &str,
) -> Result<Diagnosis> {
    let mut evidence = Vec::new();
    let mut kfp = live.list(&live::DEPLOYMENTS, Some(KFP_NAMESPACE))?.items();
    kfp.extend(live.list(&live::CONFIGMAPS, Some(KFP_NAMESPACE))?.items());
    let api = kfp
        .iter()
        .find(|o| o.kind == "Deployment" && o.name == API_SERVER.0);
    let Some(api) = api else {
        fact(
            &mut evidence,
            format!("Deployment {KFP_NAMESPACE}/{}", API_SERVER.0),
            "not found: Kubeflow Pipelines is not installed in namespace kubeflow",
        );
        return Ok(Diagnosis {
            multi_user: None,
            evidence,
            routes: Vec::new(),
        });
    };
    let env = |var: &str| match objects::rendered_env(&kfp, API_SERVER.0, API_SERVER.1, var) {
        Rendered::Literal(v) if !v.is_empty() => Some(v),
        _ => None,
    };
    let config = decode::api_server_config(&kfp);
    let data: BTreeMap<String, String> = config
        .map(|c| objects::data_of(c).into_iter().collect())
        .unwrap_or_default();
    let multi_user = match config {
        None => {
            fact(
                &mut evidence,
                api.named(),
                format!(
                    "names no {}* ConfigMap that exists (envFrom): the API server cannot start as it is",
                    crate::checkout::model::decode::API_SERVER_CONFIG_PREFIX
                ),
            );
            None
        }
        Some(cm) => {
            let multiuser = data.get("MULTIUSER");
            let on = multiuser.and_then(|v| parse_go_bool(v)).unwrap_or(false);
            let header =
                env("KUBEFLOW_USERID_HEADER").unwrap_or_else(|| USERID_HEADER_DEFAULT.to_string());
            let audience = data
                .get("TOKEN_REVIEW_AUDIENCE")
                .cloned()
                .unwrap_or_else(|| poddefault::AUDIENCE.to_string());
            fact(
                &mut evidence,
                cm.named(),
                if on {
                    format!(
                        "MULTIUSER={}, read by {} (envFrom): multi-user mode; every request needs a user identity: header {header} (set by the Istio gateway after login) or a Kubernetes service-account token for audience {audience}",
                        multiuser.map_or("(absent)", String::as_str),
                        api.named()
                    )
                } else {
                    format!(
                        "MULTIUSER={}, read by {} (envFrom): single-user mode; the API server asks no identity",
                        multiuser.map_or("(absent)", String::as_str),
                        api.named()
                    )
                },
            );
            let map = |key: &str| {
                cm.value.get(key).and_then(Value::as_mapping).map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| {
                            Some((k.as_str()?.to_string(), v.as_str()?.to_string()))
                        })
                        .collect::<BTreeMap<String, String>>()
                })
            };
            if confighash::matches(&cm.name, map("data").as_ref(), map("binaryData").as_ref())
                == Some(false)
            {
                fact(
                    &mut evidence,
                    cm.named(),
                    format!(
                        "edited in place (its data no longer gives the hash in its name): pods of {} started before the edit still run with the old values; restart them: kubectl -n {KFP_NAMESPACE} rollout restart deployment/{}",
                        api.named(),
                        API_SERVER.0
                    ),
                );
            }
            Some(on)
        }
    };
    let audience = data
        .get("TOKEN_REVIEW_AUDIENCE")
        .cloned()
        .unwrap_or_else(|| poddefault::AUDIENCE.to_string());
    let mut routes = Vec::new();
    if let Case::InCluster(ns) = case {
        routes.push(in_cluster(
            live,
            ns,
            &audience,
            cluster_flags,
            &mut evidence,
        )?);
    }
    let (m2m, cookie) = outside(live, &mut evidence)?;
    routes.push(m2m);
    routes.push(cookie);
    routes.push(match multi_user {
        Some(false) => Route {
            id: "single-user",
            title: "single-user mode",
            state: State::Works,
            why: "the API server already runs single-user: every user sees every run, experiment and artifact".to_string(),
            fix: None,
            client: SINGLE_USER_CLIENT.to_string(),
        },
        _ => Route {
            id: "single-user",
            title: "last resort, single-user mode",
            state: State::LastResort,
            why: "every user then sees every run, experiment and artifact: no isolation between profiles".to_string(),
            fix: Some(format!(
                "kfpatch -C {checkout} multiuser off, then kfpatch -C {checkout} reinstall"
            )),
            client: SINGLE_USER_CLIENT.to_string(),
        },
    });
    Ok(Diagnosis {
        multi_user,
        evidence,
        routes,
    })
}

/// The token route for a notebook in profile namespace `ns`.
fn in_cluster(
    live: &Live,
    ns: &str,
    audience: &str,
    cluster_flags: &str,
    evidence: &mut Vec<Evidence>,
) -> Result<Route> {
    let mut route = Route {
        id: "in-cluster-token",
        title: "token in a notebook of the profile (in-cluster)",
        state: State::Works,
        why: String::new(),
        fix: None,
        client: format!(
            "start the notebook with the configuration \"Allow access to Kubeflow Pipelines\" (label {}: \"true\"); in it: client = kfp.Client()",
            poddefault::NAME
        ),
    };
    let access = format!("kfpatch access --namespace {ns} --apply{cluster_flags}");
    let namespace = live.get_if_allowed(&live::NAMESPACES, None, ns)?;
    if let Err(refused) = &namespace {
        // Profile users often may not read namespaces; the PodDefault list below still answers.
        fact(
            evidence,
            format!("Namespace {ns}"),
            format!("not readable with these credentials ({refused})"),
        );
    }
    if namespace.as_ref().is_ok_and(Option::is_none) {
        fact(evidence, format!("Namespace {ns}"), "not found");
        route.state = State::NotAvailable;
        route.why = format!(
            "namespace {ns} does not exist: name a profile namespace (kubectl get profiles)"
        );
        return Ok(route);
    }
    match live.get(&live::SERVICE_ACCOUNTS, Some(ns), "default-editor")? {
        Some(sa) => fact(
            evidence,
            sa.named(),
            "exists: notebooks of the profile run as it, and its token is the identity",
        ),
        None => fact(
            evidence,
            format!("ServiceAccount {ns}/default-editor"),
            "not found: is this a profile namespace? (the profile controller creates it)",
        ),
    }
    let pod_defaults = match live.list(&live::POD_DEFAULTS, Some(ns))? {
        Listed::NotServed => {
            fact(
                evidence,
                "CustomResourceDefinition poddefaults.kubeflow.org",
                "not served: the admission webhook (applications/admission-webhook) is not installed",
            );
            route.state = State::NotAvailable;
            route.why =
                "the cluster has no PodDefault kind: install Kubeflow's admission webhook first"
                    .to_string();
            return Ok(route);
        }
        Listed::Items(items) => items,
    };
    let Some(pd) = pod_defaults.iter().find(|p| p.name == poddefault::NAME) else {
        fact(
            evidence,
            format!("PodDefault {ns}/{}", poddefault::NAME),
            "not found",
        );
        route.state = State::NotReady;
        route.why = format!("PodDefault {} is missing in {ns}", poddefault::NAME);
        route.fix = Some(access);
        return Ok(route);
    };
    let problems = poddefault::problems(&pd.value, audience);
    if problems.is_empty() {
        fact(
            evidence,
            pd.named(),
            format!(
                "projects a service-account token for audience {audience} and sets {} to it",
                poddefault::TOKEN_ENV
            ),
        );
    } else {
        fact(evidence, pd.named(), problems.join("; "));
        route.state = State::NotReady;
        route.why = format!(
            "PodDefault {} in {ns}: {}",
            poddefault::NAME,
            problems.join("; ")
        );
        route.fix = Some(format!("{access} (replaces it with upstream's object)"));
    }
    Ok(route)
}

/// The m2m token route and the session-cookie route, from the login proxy and Istio's
/// RequestAuthentications.
fn outside(live: &Live, evidence: &mut Vec<Evidence>) -> Result<(Route, Route)> {
    let mut cookie_name = None;
    if let Some(d) = live.get(&live::DEPLOYMENTS, Some(OAUTH2_PROXY.0), OAUTH2_PROXY.1)? {
        fact(
            evidence,
            d.named(),
            "oauth2-proxy serves the login (Kubeflow 1.9 and later)",
        );
        let configs = live.list(&live::CONFIGMAPS, Some(OAUTH2_PROXY.0))?.items();
        let from_config = configs.iter().find_map(|cm| {
            let cfg = cm.value.get("data")?.get("oauth2_proxy.cfg")?.as_str()?;
            let name = cfg.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "cookie_name").then(|| v.trim().trim_matches('"').to_string())
            })?;
            Some((cm.named(), name))
        });
        let name = match from_config {
            Some((object, name)) => {
                fact(
                    evidence,
                    object,
                    format!("session cookie {name} (cookie_name in oauth2_proxy.cfg)"),
                );
                name
            }
            None => OAUTH2_PROXY_DEFAULT_COOKIE.to_string(),
        };
        cookie_name = Some(name);
    }
    let statefulsets = live
        .list(&live::STATEFULSETS, Some(ISTIO_NAMESPACE))?
        .items();
    if let Some(s) = statefulsets.iter().find(|s| s.name.contains("authservice")) {
        fact(
            evidence,
            s.named(),
            format!(
                "oidc-authservice serves the login (Kubeflow up to 1.8); session cookie {AUTHSERVICE_COOKIE}"
            ),
        );
        cookie_name.get_or_insert(AUTHSERVICE_COOKIE.to_string());
    }
    let mut m2m = Route {
        id: "m2m-token",
        title: "Kubernetes service-account token from outside (m2m)",
        state: State::Works,
        why: String::new(),
        fix: None,
        client: "TOKEN=$(kubectl -n <profile namespace> create token default-editor), then in Python: client = kfp.Client(host=\"https://<your Kubeflow URL>/pipeline\", existing_token=\"<TOKEN>\")".to_string(),
    };
    match live.list(&live::REQUEST_AUTHENTICATIONS, Some(ISTIO_NAMESPACE))? {
        Listed::NotServed => {
            fact(
                evidence,
                "CustomResourceDefinition requestauthentications.security.istio.io",
                "not served: Istio is not installed",
            );
            m2m.state = State::NotAvailable;
            m2m.why = "Istio is not installed".to_string();
        }
        Listed::Items(items) => {
            let mut accepting = None;
            for ra in &items {
                let (k8s, others) = issuers(&ra.value);
                if let Some(issuer) = k8s.first() {
                    fact(
                        evidence,
                        ra.named(),
                        format!("accepts Kubernetes service-account tokens (issuer {issuer})"),
                    );
                    accepting.get_or_insert(ra.named());
                } else if others.iter().any(|i| i == "PATCH_ME") {
                    fact(
                        evidence,
                        ra.named(),
                        "its issuer is still PATCH_ME: the m2m component was applied without an overlay that sets the cluster's issuer",
                    );
                } else if !others.is_empty() {
                    fact(
                        evidence,
                        ra.named(),
                        format!(
                            "accepts tokens of issuer {} only, not Kubernetes service-account tokens",
                            others.join(", ")
                        ),
                    );
                }
            }
            if accepting.is_none() {
                if items.is_empty() {
                    fact(
                        evidence,
                        format!("RequestAuthentication {ISTIO_NAMESPACE}/*"),
                        "none",
                    );
                }
                m2m.state = State::NotAvailable;
                m2m.why = format!(
                    "no RequestAuthentication in {ISTIO_NAMESPACE} accepts Kubernetes service-account tokens"
                );
                m2m.fix = Some(if cookie_name.as_deref() == Some(AUTHSERVICE_COOKIE) {
                    "upgrade to Kubeflow 1.9 or later, whose oauth2-proxy overlays m2m-dex-and-kind and m2m-dex-and-eks add a RequestAuthentication for the cluster's service-account tokens".to_string()
                } else {
                    "apply kubeflow/manifests' common/oauth2-proxy/overlays/m2m-dex-and-kind (or m2m-dex-and-eks) instead of m2m-dex-only: they add a RequestAuthentication for the cluster's service-account tokens".to_string()
                });
            }
        }
    }
    let cookie = match cookie_name {
        Some(name) => Route {
            id: "session-cookie",
            title: "session cookie from outside",
            state: State::Works,
            why: format!(
                "log in to the dashboard and copy cookie {name} from the browser; it expires with the session"
            ),
            fix: None,
            client: format!(
                "client = kfp.Client(host=\"https://<your Kubeflow URL>/pipeline\", cookies=\"{name}=<value>\")"
            ),
        },
        None => {
            fact(
                evidence,
                format!("Deployment {}/{}", OAUTH2_PROXY.0, OAUTH2_PROXY.1),
                "not found",
            );
            Route {
                id: "session-cookie",
                title: "session cookie from outside",
                state: State::NotAvailable,
                why: "no login proxy: neither oauth2-proxy (Deployment oauth2-proxy/oauth2-proxy) nor oidc-authservice (StatefulSet in istio-system)".to_string(),
                fix: None,
                client: String::new(),
            }
        }
    };
    Ok((m2m, cookie))
}

/// The issuers of a RequestAuthentication's JWT rules: those of a Kubernetes API server (its
/// service-account tokens), and the others.
fn issuers(ra: &Value) -> (Vec<String>, Vec<String>) {
    let mut k8s = Vec::new();
    let mut others = Vec::new();
    for rule in seq(ra.get("spec").and_then(|s| s.get("jwtRules"))) {
        let issuer = rule
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let jwks = rule
            .get("jwksUri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kubernetes = issuer.starts_with("https://kubernetes.default.svc")
            || issuer.starts_with("https://oidc.eks.")
            || jwks.ends_with("/openid/v1/jwks");
        if kubernetes && issuer != "PATCH_ME" {
            k8s.push(issuer);
        } else {
            others.push(issuer);
        }
    }
    (k8s, others)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn kubernetes_issuers_are_told_from_dex() {
        let ra = value(
            "spec:\n  jwtRules:\n  - issuer: http://dex.auth.svc.cluster.local:5556/dex\n  - issuer: https://kubernetes.default.svc.cluster.local\n    jwksUri: http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks\n  - issuer: PATCH_ME\n",
        );
        assert_eq!(
            issuers(&ra),
            (
                vec!["https://kubernetes.default.svc.cluster.local".to_string()],
                vec![
                    "http://dex.auth.svc.cluster.local:5556/dex".to_string(),
                    "PATCH_ME".to_string()
                ]
            )
        );
    }
}
