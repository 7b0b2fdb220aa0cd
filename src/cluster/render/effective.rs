//! The KFP settings a render actually gives the cluster, and whether they agree with the files.
//!
//! The files are what kfpatch edits; the render is what the API server reads. An overlay or patch
//! above the install can override a value, and kustomize renames the ConfigMap on every change
//! (a content-hash suffix), so `render` shows the generated ConfigMap, the `ml-pipeline` env and
//! `envFrom`, the UI env and viewer account that the catalogue manages, and compares each
//! catalogue row with it. `json` holds the JSON form; `verdict` holds the render to a mode
//! (`--expect`, or the files').

mod json;
pub mod verdict;

use std::collections::BTreeSet;

use yaml_serde::Value;

pub use json::{
    Agreement, ApiServerJson, ConfigJson, ContainerJson, EffectiveJson, EnvFromJson, EnvJson,
    KeyValue, RenderedJson, UiJson,
};

use crate::checkout::catalogue::{self, CATALOGUE, Place, Reading, Setting, show_value};
use crate::checkout::install::{Install, PARAMS_ENV};
use crate::checkout::model::decode::API_SERVER_CONFIG_PREFIX;
use crate::checkout::model::entries;
use crate::checkout::model::objects::{
    Object, Rendered, VIEWER_CONFIGMAP, VIEWER_KEY, containers, data_of, deployment, describe_env,
    env_from, env_value, rendered_env, str_at, viewer_account,
};
use crate::checkout::overriding::{Given, Override};
use crate::checkout::parsed::Parsed;
use crate::error::{Failure, Result};
use crate::output::location;
use crate::syntax::envfile::parse_go_bool;
use crate::syntax::seq;

/// The Deployment and container of the KFP API server.
const API_SERVER: &str = "ml-pipeline";
const UI: (&str, &str) = ("ml-pipeline-ui", "ml-pipeline-ui");
const UI_ENV: &[&str] = &[
    "ENABLE_AUTHZ",
    "DEPLOYMENT",
    "ARTIFACTS_SERVICE_PROXY_ENABLED",
];

/// What the render gives the cluster, and how it compares with the files.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The ConfigMap generated from `api-service/params.env`.
    pub api_config: Option<GeneratedConfig>,
    /// Whether `ml-pipeline`'s envFrom names that ConfigMap (`None`: no `ml-pipeline` Deployment).
    pub env_from_agrees: Option<bool>,
    /// The report, ready to print.
    pub text: String,
    /// One line per setting whose rendered value differs from its file.
    pub disagreements: Vec<String>,
    /// The same as `text`, for `render -o json` (docs/render.schema.json).
    pub json: EffectiveJson,
    /// One line per setting a file above the install gives another value than the install's file.
    pub overridden: Vec<String>,
}

impl Effective {
    /// `MULTIUSER` as the API server will read it.
    pub fn multiuser(&self) -> Option<&str> {
        self.api_config.as_ref().and_then(|config| {
            config
                .data
                .iter()
                .find(|(k, _)| k == "MULTIUSER")
                .map(|(_, v)| v.as_str())
        })
    }
}

/// A rendered ConfigMap from a kustomize generator.
#[derive(Debug, Clone)]
pub struct GeneratedConfig {
    pub name: String,
    pub namespace: Option<String>,
    /// Its data, in render order.
    pub data: Vec<(String, String)>,
}

/// Reads the effective settings from `objects` and compares them with `install`'s files.
/// `switched_by_overlay`: the settings (`file:line` relative to the checkout root) that a kfpatch
/// overlay being rendered switches to their single-user value; the render must show that value.
pub fn read(
    install: &Install,
    objects: &[Object],
    switched_by_overlay: &[(String, usize)],
    overrides: &[Override],
) -> Result<Effective> {
    let mut text = String::new();
    let api_config = generated_configmap(install, objects, PARAMS_ENV)?;
    let api_config = api_config.map(|o| GeneratedConfig {
        name: o.name.clone(),
        namespace: o.namespace.clone(),
        data: data_of(o),
    });
    match &api_config {
        Some(config) => {
            text.push_str(&format!(
                "ConfigMap {}{}, from {}:\n",
                config.name,
                in_namespace(&config.namespace),
                install.display(PARAMS_ENV)
            ));
            for (k, v) in &config.data {
                text.push_str(&format!("  {k}={v}\n"));
            }
        }
        None => text.push_str(&format!(
            "no {API_SERVER_CONFIG_PREFIX}* ConfigMap in this render: it does not include the KFP multi-user install\n"
        )),
    }
    let api_name = api_config.as_ref().map(|c| c.name.as_str());
    let mut env_from_agrees = None;
    let mut api_server = None;
    match deployment(objects, API_SERVER) {
        Some(d) => {
            let mut names = BTreeSet::new();
            let mut json = ApiServerJson {
                namespace: d.namespace.clone(),
                containers: Vec::new(),
            };
            for c in containers(d) {
                let container = c.get("name").and_then(Value::as_str).unwrap_or("?");
                text.push_str(&format!(
                    "\nDeployment {API_SERVER}{}, container {container}:\n",
                    in_namespace(&d.namespace),
                ));
                let mut container_json = ContainerJson {
                    name: container.to_string(),
                    env_from: Vec::new(),
                    env: Vec::new(),
                };
                for from in seq(c.get("envFrom")) {
                    let (what, name) = env_from(from);
                    text.push_str(&format!("  envFrom: {what} {name}\n"));
                    container_json.env_from.push(EnvFromJson {
                        kind: match what {
                            "ConfigMap" | "Secret" => what,
                            _ => "unknown",
                        },
                        name: name.clone(),
                    });
                    if what == "ConfigMap" {
                        names.insert(name);
                    }
                }
                for env in seq(c.get("env")) {
                    text.push_str(&format!("  env: {}\n", describe_env(env)));
                    container_json.env.push(EnvJson {
                        name: str_at(env, &["name"]).to_string(),
                        rendered: env_value(env).json(),
                    });
                }
                json.containers.push(container_json);
            }
            env_from_agrees = api_name.map(|n| names.contains(n));
            api_server = Some(json);
        }
        None => text.push_str(&format!("\nno Deployment {API_SERVER} in this render\n")),
    }
    let mut ui = None;
    if let Some(d) = deployment(objects, UI.0) {
        text.push_str(&format!(
            "\nDeployment {}{}, container {} (the env kfpatch manages):\n",
            UI.0,
            in_namespace(&d.namespace),
            UI.1
        ));
        let mut env = Vec::new();
        for var in UI_ENV {
            let rendered = rendered_env(objects, UI.0, UI.1, var);
            text.push_str(&format!("  {var}: {}\n", rendered.shown()));
            env.push(EnvJson {
                name: var.to_string(),
                rendered: rendered.json(),
            });
        }
        ui = Some(UiJson {
            namespace: d.namespace.clone(),
            env,
        });
    }
    let viewer = viewer_account(objects);
    if let Some(account) = &viewer {
        text.push_str(&format!(
            "\nConfigMap {VIEWER_CONFIGMAP}: {VIEWER_KEY} spec.serviceAccountName: {}\n",
            account.shown()
        ));
        let single_user = api_config.as_ref().is_some_and(|c| {
            c.data
                .iter()
                .any(|(k, v)| k == "MULTIUSER" && parse_go_bool(v) == Some(false))
        });
        if *account == Rendered::Absent && single_user {
            text.push_str("note: a viewer pod template without serviceAccountName is valid in single-user mode: viewer pods run in the kubeflow namespace as its default service account\n");
        }
    }
    let mut disagreements = Vec::new();
    text.push_str(&format!(
        "\nagreement with the files (under {}):\n",
        crate::output::escape::quoted(&install.rel)
    ));
    if let Some(agrees) = env_from_agrees {
        let what = format!(
            "envFrom of Deployment {API_SERVER} names {}",
            api_name.unwrap_or("no generated ConfigMap")
        );
        if agrees {
            text.push_str(&format!("  ok       {what}\n"));
        } else {
            text.push_str(&format!("  DIFFERS  {what}\n"));
            disagreements.push(format!(
                "Deployment {API_SERVER} does not read the ConfigMap generated from {}",
                install.display(PARAMS_ENV)
            ));
        }
    }
    let mut agreement = Vec::new();
    let mut overridden = Vec::new();
    for setting in CATALOGUE {
        let (row, warning) = compare(install, objects, setting, switched_by_overlay, overrides)?;
        overridden.extend(warning);
        text.push_str(&format!("  {}\n", row.text));
        if let Some(line) = row.text.strip_prefix("DIFFERS  ") {
            disagreements.push(line.to_string());
        }
        agreement.push(row);
    }
    let json = EffectiveJson {
        api_config: api_config.as_ref().map(|c| ConfigJson {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
            file: install.display(PARAMS_ENV),
            data: c
                .data
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        }),
        api_server,
        ui,
        viewer_service_account: viewer.as_ref().map(Rendered::json),
        env_from_names_api_config: env_from_agrees,
        agreement,
    };
    Ok(Effective {
        api_config,
        env_from_agrees,
        text,
        disagreements,
        json,
        overridden,
    })
}

/// One catalogue setting compared with the render: `ok`, `DIFFERS` or `-` (not compared) in the
/// text, with the file's and the render's values.
fn compare(
    install: &Install,
    objects: &[Object],
    setting: &Setting,
    switched_by_overlay: &[(String, usize)],
    overrides: &[Override],
) -> Result<(Agreement, Option<String>)> {
    let shown_file = install.display(setting.file);
    let name = setting.name();
    let mut row = Agreement {
        row: setting.row,
        file: shown_file.clone(),
        line: None,
        setting: name.clone(),
        status: "not-compared",
        file_value: None,
        overlay_value: None,
        rendered: None,
        note: None,
        text: String::new(),
    };
    let rendered = match setting.place {
        Place::EnvKey(key) => match generated_configmap(install, objects, setting.file)? {
            Some(cm) => data_of(cm)
                .into_iter()
                .find(|(k, _)| k == key)
                .map_or(Rendered::Absent, |(_, v)| Rendered::Literal(v)),
            None => Rendered::Missing("its ConfigMap is not in this render".to_string()),
        },
        Place::ContainerEnv {
            deployment,
            container,
            var,
            ..
        } => rendered_env(objects, deployment, container, var),
        Place::ViewerAccount => viewer_account(objects).unwrap_or(Rendered::Missing(format!(
            "ConfigMap {VIEWER_CONFIGMAP} is not in this render"
        ))),
    };
    let Some(text) = install.read(setting.file)? else {
        row.note = Some("file not present".to_string());
        row.text = format!(
            "-        {} {}  {name}: file not present",
            setting.row, setting.file
        );
        return Ok((row, None));
    };
    let reading = Parsed::parse(setting.file, &shown_file, &text)
        .and_then(|p| catalogue::read(setting, &shown_file, &p));
    let (file_value, line) = match reading {
        Err(problem) => {
            row.line = Some(problem.line);
            row.note = Some(format!(
                "not compared, the file has a problem: {}",
                problem.message
            ));
            row.text = format!(
                "-        {} {}  {name}: not compared, the file has a problem: {}",
                setting.row,
                location(setting.file, Some(problem.line)),
                problem.message
            );
            return Ok((row, None));
        }
        Ok(Reading::NotApplicable(why)) => {
            row.rendered = Some(rendered.json());
            row.text = format!(
                "-        {} {}  {name}: {why}; rendered {}",
                setting.row,
                setting.file,
                rendered.shown()
            );
            row.note = Some(why);
            return Ok((row, None));
        }
        Ok(Reading::Absent) => (None, None),
        Ok(Reading::Value { value, line }) => (Some(value), Some(line)),
    };
    row.line = line;
    row.file_value = file_value.clone();
    row.rendered = Some(rendered.json());
    let at = location(setting.file, line);
    if let Rendered::Missing(why) = &rendered {
        row.note = Some(why.clone());
        row.text = format!(
            "-        {} {at}  {name}: file {}, not compared ({why})",
            setting.row,
            show_value(file_value.as_deref())
        );
        return Ok((row, None));
    }
    let by_overlay = line.is_some_and(|l| {
        switched_by_overlay
            .iter()
            .any(|(file, at)| *file == shown_file && *at == l)
    });
    let winner = overrides
        .iter()
        .rev()
        .find(|o| (o.setting.row, o.setting.file) == (setting.row, setting.file))
        .filter(|_| !by_overlay);
    if let Some(o) = winner {
        let Given::Value(value) = &o.given else {
            row.note = Some(format!(
                "{} through {} decides it, not traced",
                o.at(),
                o.by
            ));
            row.text = format!(
                "-        {} {at}  {name}: file {}, {} through {} ({}) decides it, not traced ({}); rendered {}",
                setting.row,
                show_value(file_value.as_deref()),
                o.at(),
                o.by,
                o.how,
                o.shown_value(),
                rendered.shown()
            );
            return Ok((row, None));
        };
        let agrees = match (value, &rendered) {
            (Some(v), Rendered::Literal(r)) => v == r,
            (None, Rendered::Absent | Rendered::ValueFrom(_)) => true,
            _ => false,
        };
        row.status = if agrees { "ok" } else { "differs" };
        row.note = Some(format!(
            "{} makes it {} (through {}, {})",
            o.at(),
            show_value(value.as_deref()),
            o.by,
            o.how
        ));
        row.text = format!(
            "{}  {} {at}  {name}: file {}, {} makes it {} (through {}, {}), rendered {}",
            if agrees { "ok     " } else { "DIFFERS" },
            setting.row,
            show_value(file_value.as_deref()),
            o.at(),
            show_value(value.as_deref()),
            o.by,
            o.how,
            rendered.shown()
        );
        // A viewer template without an account is a note of its own (valid in single-user mode).
        let noteworthy = *value != file_value
            && !(matches!(setting.place, Place::ViewerAccount) && value.is_none());
        let warning = noteworthy.then(|| {
            format!(
                "{} overrides {name}: the install says {}, the cluster gets {} (through {}, {})",
                o.at(),
                show_value(file_value.as_deref()),
                show_value(value.as_deref()),
                o.by,
                o.how
            )
        });
        return Ok((row, warning));
    }
    let expected = if by_overlay {
        setting.single.map(str::to_string)
    } else {
        file_value.clone()
    };
    let agrees = match (&expected, &rendered) {
        (Some(f), Rendered::Literal(r)) => f == r,
        (None, Rendered::Absent | Rendered::ValueFrom(_)) => true,
        _ => false,
    };
    row.status = if agrees { "ok" } else { "differs" };
    row.text = if by_overlay {
        row.overlay_value = expected.clone();
        format!(
            "{}  {} {at}  {name}: file {}, the overlay makes it {}, rendered {}",
            if agrees { "ok     " } else { "DIFFERS" },
            setting.row,
            show_value(file_value.as_deref()),
            show_value(expected.as_deref()),
            rendered.shown()
        )
    } else if agrees {
        format!(
            "ok       {} {at}  {name}: {}",
            setting.row,
            show_value(file_value.as_deref())
        )
    } else {
        format!(
            "DIFFERS  {} {at}  {name}: file {}, rendered {}",
            setting.row,
            show_value(file_value.as_deref()),
            rendered.shown()
        )
    };
    Ok((row, None))
}

fn in_namespace(ns: &Option<String>) -> String {
    ns.as_ref()
        .map(|ns| format!(" (namespace {ns})"))
        .unwrap_or_default()
}

/// The rendered ConfigMap generated from `env_file` (relative to the install): the generator's
/// name in the file's kustomization, plus kustomize's hash suffix.
fn generated_configmap<'a>(
    install: &Install,
    objects: &'a [Object],
    env_file: &str,
) -> Result<Option<&'a Object>> {
    let (folder, file_name) = env_file.rsplit_once('/').unwrap_or(("", env_file));
    // The model's one reader: any kustomization file name, and one it cannot read is named.
    let loaded = entries::load_folder(&install.root, &install.dir.join(folder)).map_err(|c| {
        Failure::new(format!(
            "{}; kfpatch cannot tell which ConfigMap it generates",
            c.shown()
        ))
    })?;
    let Some(k) = loaded else {
        return Ok(None);
    };
    let generator = k.seq("configMapGenerator").iter().find_map(|g| {
        let envs: Vec<&str> = seq(g.get("envs"))
            .filter_map(Value::as_str)
            .chain(g.get("env").and_then(Value::as_str))
            .collect();
        envs.iter()
            .any(|e| e.trim_start_matches("./") == file_name)
            .then(|| g.get("name").and_then(Value::as_str))
            .flatten()
    });
    let Some(generator) = generator else {
        return Ok(None);
    };
    Ok(objects.iter().find(|o| {
        o.kind == "ConfigMap"
            && (o.name == generator
                || o.name.strip_prefix(generator).is_some_and(|rest| {
                    rest.len() == 11
                        && rest.starts_with('-')
                        && rest[1..].bytes().all(|b| b.is_ascii_alphanumeric())
                }))
    }))
}
