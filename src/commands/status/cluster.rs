//! `status --cluster`: for each catalogue setting, the value the running cluster has, read from
//! the live objects of KFP's namespace (the ConfigMap `ml-pipeline`'s envFrom names, the UI
//! Deployment's env, the viewer template in the UI ConfigMap, the persistence agent's env), with
//! the object and field it comes from, and the live mode. One section per `--context`.

use serde::Serialize;

use crate::checkout::catalogue::{Mode, Scope};
use crate::checkout::model::decode::{self, API_SERVER, Decoded, KFP_NAMESPACE};
use crate::checkout::model::objects::Rendered;
use crate::checkout::settings::JSON_SCHEMA;
use crate::cli::{Cli, StatusArgs, StatusFormat};
use crate::cluster::live::livecheck;
use crate::cluster::live::{self, Live};
use crate::error::{EXIT_CLUSTER, Failure, Result};
use crate::output::escape::quoted;
use crate::output::{Output, to_json, to_yaml, write_out};

#[derive(Debug, Serialize)]
struct Report<'a> {
    schema: u32,
    clusters: Vec<ClusterStatus>,
    /// Contexts that could not be read (exit 3), with why.
    unreadable: &'a [Unreadable],
}

#[derive(Debug, Serialize)]
struct Unreadable {
    context: String,
    error: String,
}

#[derive(Debug, Serialize)]
struct ClusterStatus {
    context: String,
    server: String,
    namespace: &'static str,
    /// `appVersion` of the live `pipeline-install-config`; `null` when it cannot be read.
    kfp_version: Option<String>,
    /// `on`, `off` or `mixed`.
    mode: &'static str,
    #[serde(skip)]
    mode_text: String,
    settings: Vec<LiveSetting>,
    /// Live ConfigMaps edited in place: the running pods may still have the old values.
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct LiveSetting {
    row: u8,
    setting: String,
    /// The value as read; `null` when absent or not a literal.
    value: Option<String>,
    /// `multi-user`, `single-user`, `customised`, `absent`, `not-a-literal`, `missing`.
    state: &'static str,
    /// The object and field it comes from: `ConfigMap kubeflow/NAME data.MULTIUSER`.
    source: String,
    /// Part of the default `multiuser on|off` switch on this release.
    switched_by_default: bool,
    note: Option<String>,
    #[serde(skip)]
    shown: String,
}

fn read(live: &Live) -> Result<ClusterStatus> {
    let mut objects = live.list(&live::DEPLOYMENTS, Some(KFP_NAMESPACE))?.items();
    objects.extend(live.list(&live::CONFIGMAPS, Some(KFP_NAMESPACE))?.items());
    if !objects
        .iter()
        .any(|o| o.kind == "Deployment" && o.name == API_SERVER.0)
    {
        return Err(Failure::cluster(format!(
            "context {} ({}): no Deployment {} in namespace {KFP_NAMESPACE}: Kubeflow Pipelines is not installed on this cluster, or not there",
            quoted(&live.info.context),
            quoted(&live.info.server),
            API_SERVER.0
        )));
    }
    let version = decode::kfp_version(&objects);
    let decoded = decode::decode(&objects);
    let (mode, mode_text) = decode::mode(&decoded, version.as_ref());
    let settings = decoded
        .iter()
        .map(|d: &Decoded| {
            let applies = decode::applies(d.setting, version.as_ref());
            let mode = d.mode();
            let state = match (&d.value, mode) {
                (Rendered::Missing(_), _) => "missing",
                (Rendered::ValueFrom(_), _) => "not-a-literal",
                (_, Some(Mode::On)) => "multi-user",
                (_, Some(Mode::Off)) => "single-user",
                (Rendered::Absent, None) => "absent",
                _ => "customised",
            };
            let note = match applies {
                _ if d.agent_switch_absent() => Some(
                    "this persistence agent has no switch of its own (only KFP 2.0.0-alpha.4 to 2.0.1 read one)".to_string(),
                ),
                Err(why) => Some(format!("not switched: {why}")),
                Ok(()) if d.setting.scope == Scope::Parity => {
                    Some("switched only with --parity".to_string())
                }
                Ok(()) => None,
            };
            let label = match mode {
                Some(Mode::On) => " [multi-user]",
                Some(Mode::Off) => " [single-user]",
                None if state == "customised" => " [customised]",
                None => "",
            };
            LiveSetting {
                row: d.setting.row,
                setting: d.setting.name(),
                value: match &d.value {
                    Rendered::Literal(v) => Some(v.clone()),
                    _ => None,
                },
                state,
                source: d.source.clone(),
                switched_by_default: decode::counts(d, version.as_ref()),
                note,
                shown: format!("{}{label}", d.shown()),
            }
        })
        .collect();
    let notes = livecheck::check(&objects)
        .into_iter()
        .filter(|f| f.code == "live-configmap-edited" || f.code == "live-configmap-missing")
        .map(|f| f.message)
        .collect();
    Ok(ClusterStatus {
        context: live.info.context.clone(),
        server: live.info.server.clone(),
        namespace: KFP_NAMESPACE,
        kfp_version: version.map(|v| v.to_string()),
        mode,
        mode_text,
        settings,
        notes,
    })
}

fn text(status: &ClusterStatus) -> String {
    let mut text = format!(
        "context:  {} ({})\nKFP:      {}\nmode:     {}\nsettings:\n",
        quoted(&status.context),
        quoted(&status.server),
        status.kfp_version.as_deref().map_or_else(
            || format!(
                "unknown (no appVersion in ConfigMap {KFP_NAMESPACE}/pipeline-install-config)"
            ),
            |v| format!("{v} (ConfigMap {KFP_NAMESPACE}/pipeline-install-config data.appVersion)")
        ),
        status.mode_text
    );
    let width =
        |f: &dyn Fn(&LiveSetting) -> usize| status.settings.iter().map(f).max().unwrap_or(0);
    let (name_w, value_w, source_w) = (
        width(&|s| s.setting.len()),
        width(&|s| s.shown.chars().count()),
        width(&|s| s.source.len()),
    );
    for s in &status.settings {
        let line = format!(
            "  {} {:name_w$}  {:value_w$}  {:source_w$}  {}",
            s.row,
            s.setting,
            s.shown,
            s.source,
            s.note.as_deref().unwrap_or_default()
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    for note in &status.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    text
}

/// `kfpatch status --cluster`.
pub fn run(cli: &Cli, args: &StatusArgs, io: &mut Output<'_>) -> Result<i32> {
    let contexts: Vec<Option<String>> = if cli.kube.contexts.is_empty() {
        vec![None]
    } else {
        cli.kube.contexts.iter().cloned().map(Some).collect()
    };
    let several = contexts.len() > 1;
    let mut clusters = Vec::new();
    let mut unreadable = Vec::new();
    for context in contexts {
        // A bad kubeconfig or unknown context is bad input (exit 2), as for reinstall.
        let live = Live::connect(cli.kube.kubeconfig.clone(), context)?;
        match read(&live) {
            Ok(status) => clusters.push(status),
            // One cluster of several that cannot be read: the others are still shown.
            Err(f) if several && f.code == EXIT_CLUSTER => unreadable.push(Unreadable {
                context: live.info.context.clone(),
                error: f.message,
            }),
            Err(f) => return Err(f),
        }
    }
    let report = Report {
        schema: JSON_SCHEMA,
        clusters,
        unreadable: &unreadable,
    };
    let mut out = match args.format {
        StatusFormat::Json => to_json(&report)?,
        StatusFormat::Yaml => to_yaml(&report)?,
        StatusFormat::Text => report
            .clusters
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join("\n"),
    };
    if args.format == StatusFormat::Text {
        for u in &unreadable {
            out.push_str(&format!(
                "\ncontext:  {}: not readable (see below)\n",
                u.context
            ));
        }
    }
    write_out(io, &out)?;
    for u in &unreadable {
        let _ = writeln!(io.err, "error: {}", u.error);
    }
    Ok(if unreadable.is_empty() {
        0
    } else {
        EXIT_CLUSTER
    })
}
