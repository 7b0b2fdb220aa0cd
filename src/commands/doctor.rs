//! `kfpatch doctor`: from "there is no user identity header" to the fix, for this cluster. Reads
//! the live objects ([`crate::cluster::live::routes`]), then prints a verdict first, the evidence (each
//! line naming the object it came from), and every route with its state, fix and client snippet,
//! the single-user switch last with its cost. Exit 0 when a working route exists for the case
//! asked (a notebook in `--namespace`, else a client outside the cluster), 1 when none does, 3
//! when the cluster cannot be read.

use serde::Serialize;

use crate::checkout::locate;
use crate::checkout::settings::JSON_SCHEMA;
use crate::cli::{Cli, DoctorArgs, TextOrJson};
use crate::cluster::live::Live;
use crate::cluster::live::routes::{self, Case, Diagnosis, Evidence, Route, State};
use crate::cluster::poddefault;
use crate::error::{Failure, Result};
use crate::output::escape::quoted;
use crate::output::{Output, to_json, write_out};

/// Exit code when no route works for the case asked.
const EXIT_NO_ROUTE: i32 = 1;

#[derive(Debug, Serialize)]
struct Report<'a> {
    schema: u32,
    context: &'a str,
    server: &'a str,
    /// `in-cluster` (with `--namespace`) or `outside`.
    case: &'static str,
    namespace: Option<&'a str>,
    /// `multi-user`, `single-user`, or `null` when the API server's ConfigMap cannot be read.
    mode: Option<&'static str>,
    verdict: String,
    /// The id of the route the verdict recommends, or `null` when none works.
    working_route: Option<&'static str>,
    evidence: &'a [Evidence],
    routes: &'a [Route],
    exit_code: i32,
}

/// The verdict, the recommended working route, and the exit code.
fn verdict(d: &Diagnosis, case: &Case) -> (String, Option<&'static str>, i32) {
    let edited = d
        .evidence
        .iter()
        .any(|e| e.fact.starts_with("edited in place"));
    match d.multi_user {
        None => (
            "Kubeflow Pipelines' API server is not installed or cannot start on this cluster (see the evidence)".to_string(),
            None,
            EXIT_NO_ROUTE,
        ),
        Some(false) if edited => (
            "the API server's ConfigMap says single-user mode, but it was edited in place: API server pods started before the edit still require a user identity; restart them (see the evidence)".to_string(),
            None,
            EXIT_NO_ROUTE,
        ),
        Some(false) => (
            "the API server runs in single-user mode (MULTIUSER=false): it asks no identity, so this error does not come from its running configuration; kfp.Client(host=...) needs no credentials".to_string(),
            Some("single-user"),
            0,
        ),
        Some(true) => {
            let find = |id: &str| d.routes.iter().find(|r| r.id == id);
            match case {
                Case::InCluster(ns) => {
                    let route = find("in-cluster-token").expect("asked for");
                    if route.state == State::Works {
                        (
                            format!("a notebook in namespace {ns} can reach the KFP API with its service-account token (PodDefault {})", poddefault::NAME),
                            Some(route.id),
                            0,
                        )
                    } else {
                        (
                            format!(
                                "no working route for a notebook in namespace {ns}: {}{}",
                                route.why,
                                route.fix.as_ref().map_or(String::new(), |f| format!("; fix: {f}"))
                            ),
                            None,
                            EXIT_NO_ROUTE,
                        )
                    }
                }
                Case::Outside => {
                    let (m2m, cookie) = (find("m2m-token"), find("session-cookie"));
                    if let Some(m2m) = m2m.filter(|r| r.state == State::Works) {
                        (
                            "from outside the cluster, send a Kubernetes service-account token (m2m): the Istio gateway accepts it".to_string(),
                            Some(m2m.id),
                            0,
                        )
                    } else if let Some(cookie) = cookie.filter(|r| r.state == State::Works) {
                        (
                            format!(
                                "from outside the cluster only the dashboard's session cookie works ({}); no token route: {}",
                                cookie.why.split(" and copy cookie ").nth(1).and_then(|s| s.split(' ').next()).unwrap_or("session cookie"),
                                m2m.map_or(String::new(), |r| r.why.clone())
                            ),
                            Some(cookie.id),
                            0,
                        )
                    } else {
                        (
                            "no working route from outside the cluster: no login proxy and no RequestAuthentication accepting Kubernetes service-account tokens".to_string(),
                            None,
                            EXIT_NO_ROUTE,
                        )
                    }
                }
            }
        }
    }
}

/// `kfpatch doctor`.
pub fn run(cli: &Cli, args: &DoctorArgs, io: &mut Output<'_>) -> Result<i32> {
    if let Some(ns) = &args.namespace {
        poddefault::check_namespace(ns).map_err(|why| {
            Failure::new(format!(
                "--namespace {ns}: {why}; name the profile namespace of the notebook"
            ))
        })?;
    }
    // The single-user route names the checkout when -C holds one.
    let checkout = match locate::find(&cli.dir, cli.install.as_deref()) {
        Ok(found) => found.root.display().to_string(),
        Err(_) => "<your manifests checkout>".to_string(),
    };
    let context = cli.kube.context().map_err(Failure::new)?;
    let live = Live::connect(cli.kube.kubeconfig.clone(), context.clone())?;
    let case = match &args.namespace {
        Some(ns) => Case::InCluster(ns.clone()),
        None => Case::Outside,
    };
    // The fix commands name the same cluster as this run.
    let mut cluster_flags = String::new();
    if let Some(kc) = &cli.kube.kubeconfig {
        cluster_flags.push_str(&format!(" --kubeconfig {}", kc.display()));
    }
    if let Some(ctx) = &context {
        cluster_flags.push_str(&format!(" --context {ctx}"));
    }
    let diagnosis = routes::diagnose(&live, &case, &checkout, &cluster_flags)?;
    let (verdict, working, code) = verdict(&diagnosis, &case);
    if args.format == TextOrJson::Json {
        let report = Report {
            schema: JSON_SCHEMA,
            context: &live.info.context,
            server: &live.info.server,
            case: match case {
                Case::InCluster(_) => "in-cluster",
                Case::Outside => "outside",
            },
            namespace: args.namespace.as_deref(),
            mode: diagnosis
                .multi_user
                .map(|m| if m { "multi-user" } else { "single-user" }),
            verdict,
            working_route: working,
            evidence: &diagnosis.evidence,
            routes: &diagnosis.routes,
            exit_code: code,
        };
        write_out(io, &to_json(&report)?)?;
        return Ok(code);
    }
    let mut text = format!(
        "verdict: {verdict}\ncontext: {} ({})\n\nevidence:\n",
        quoted(&live.info.context),
        quoted(&live.info.server)
    );
    for e in &diagnosis.evidence {
        text.push_str(&format!("  {}: {}\n", e.object, e.fact));
    }
    if !diagnosis.routes.is_empty() {
        text.push_str(&match &case {
            Case::InCluster(ns) => format!("\nroutes (a notebook in namespace {ns} is the case asked):\n"),
            Case::Outside => "\nroutes (a client outside the cluster is the case asked; --namespace NS asks for a notebook of a profile):\n".to_string(),
        });
        for (i, r) in diagnosis.routes.iter().enumerate() {
            let mut head = format!("  {}. {}", i + 1, r.title);
            match r.state {
                State::LastResort => {}
                State::Works => head.push_str(&format!(": {}", r.state.word())),
                _ => head.push_str(&format!(": {}: {}", r.state.word(), r.why)),
            }
            text.push_str(&head);
            text.push('\n');
            if let Some(fix) = &r.fix {
                text.push_str(&format!("     fix:    {fix}\n"));
            }
            match r.state {
                State::Works if !r.why.is_empty() => {
                    text.push_str(&format!("     how:    {}\n", r.why));
                }
                State::LastResort => text.push_str(&format!("     cost:   {}\n", r.why)),
                _ => {}
            }
            if !r.client.is_empty() && r.state != State::NotAvailable {
                text.push_str(&format!("     client: {}\n", r.client));
            }
        }
    }
    write_out(io, &text)?;
    Ok(code)
}
