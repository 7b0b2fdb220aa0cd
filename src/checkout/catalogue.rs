//! The settings that differ between KFP's multi-user and single-user installs, and how
//! each is read from its file.
//!
//! Every row names its file (relative to `installs/multi-user`), its value in each mode, the
//! releases it applies to, and why it must change with MULTIUSER. The plan, the status report and
//! the audit all read this one table, so a new release's quirk is added here once.

use crate::checkout::install::Install;
use crate::checkout::parsed::{Parsed, Problem, malformed_problem, shape_problem};
use crate::syntax::envfile::{KeyState, parse_go_bool};
use crate::syntax::yamledit::{EnvList, YamlText, line_of};

/// Multi-user mode on (upstream) or off (single-user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    On,
    Off,
}

impl Mode {
    pub fn word(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Off => "off",
        }
    }

    pub fn other(self) -> Mode {
        match self {
            Mode::On => Mode::Off,
            Mode::Off => Mode::On,
        }
    }
}

/// Which switch includes a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The `params.env` files (`--params-only` stops here).
    Params,
    /// The other settings a working single-user install needs (the default).
    Related,
    /// Exact parity with the single-user install (`--parity`).
    Parity,
}

/// Where in its file a setting lives.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// A key of a kustomize `.env` file.
    EnvKey(&'static str),
    /// An env entry of a container in a Deployment patch. `restore` is the upstream text of the
    /// `env:` block holding just this entry, used to put the entry back byte for byte.
    ContainerEnv {
        deployment: &'static str,
        container: &'static str,
        var: &'static str,
        insert_after: Option<&'static str>,
        restore: &'static str,
    },
    /// `spec.serviceAccountName` in the JSON of `viewer-pod-template.json` in the UI ConfigMap.
    ViewerAccount,
}

#[derive(Debug)]
pub struct Setting {
    pub row: u8,
    pub file: &'static str,
    pub place: Place,
    /// The value in multi-user mode; `None` means the entry is absent.
    pub multi: Option<&'static str>,
    pub single: Option<&'static str>,
    pub scope: Scope,
    pub only_before_kfp_2_beta: bool,
    pub why: &'static str,
}

const UI: &str = "pipelines-ui/deployment-patch.yaml";

pub const CATALOGUE: &[Setting] = &[
    Setting {
        row: 1,
        file: "api-service/params.env",
        place: Place::EnvKey("MULTIUSER"),
        multi: Some("true"),
        single: Some("false"),
        scope: Scope::Params,
        only_before_kfp_2_beta: false,
        why: "the switch itself",
    },
    Setting {
        row: 2,
        file: "api-service/params.env",
        place: Place::EnvKey("DEFAULTPIPELINERUNNERSERVICEACCOUNT"),
        multi: Some("default-editor"),
        single: Some("pipeline-runner"),
        scope: Scope::Params,
        only_before_kfp_2_beta: false,
        why: "single-user runs go to the kubeflow namespace, where default-editor does not exist and run pods fail; pipeline-runner exists there",
    },
    Setting {
        row: 3,
        file: "persistence-agent/params.env",
        place: Place::EnvKey("MULTIUSER"),
        multi: Some("true"),
        single: Some("false"),
        scope: Scope::Params,
        only_before_kfp_2_beta: false,
        why: "the persistence agent's own switch: left on, it looks for a profile owner on kubeflow and run status is never recorded",
    },
    Setting {
        row: 4,
        file: UI,
        place: Place::ContainerEnv {
            deployment: "ml-pipeline-ui",
            container: "ml-pipeline-ui",
            var: "DEPLOYMENT",
            insert_after: Some("VIEWER_TENSORBOARD_POD_TEMPLATE_SPEC_PATH"),
            restore: "        env:\n        - name: DEPLOYMENT\n          value: KUBEFLOW\n",
        },
        multi: Some("KUBEFLOW"),
        single: None,
        scope: Scope::Related,
        only_before_kfp_2_beta: true,
        why: "KFP below 2.0.0-beta.0: the UI sends the dashboard's namespace and the API server rejects it in single-user mode (ListExperiment cannot filter by namespace)",
    },
    Setting {
        row: 5,
        file: "pipelines-ui/configmap-patch.yaml",
        place: Place::ViewerAccount,
        multi: Some("default-editor"),
        single: Some("kubeflow-pipelines-viewer"),
        scope: Scope::Related,
        only_before_kfp_2_beta: false,
        why: "TensorBoard viewer pods run in the kubeflow namespace, where default-editor does not exist",
    },
    Setting {
        row: 6,
        file: UI,
        place: Place::ContainerEnv {
            deployment: "ml-pipeline-ui",
            container: "ml-pipeline-ui",
            var: "ENABLE_AUTHZ",
            insert_after: None,
            restore: "",
        },
        multi: Some("true"),
        single: Some("false"),
        scope: Scope::Related,
        only_before_kfp_2_beta: false,
        why: "authorization checks need users; single-user mode has none",
    },
    Setting {
        row: 7,
        file: UI,
        place: Place::ContainerEnv {
            deployment: "ml-pipeline-ui",
            container: "ml-pipeline-ui",
            var: "ARTIFACTS_SERVICE_PROXY_ENABLED",
            insert_after: None,
            restore: "",
        },
        multi: Some("true"),
        single: Some("false"),
        scope: Scope::Related,
        only_before_kfp_2_beta: false,
        why: "the per-namespace artifact proxies exist only in profile namespaces",
    },
    watch_namespace(
        "persistence-agent/deployment-patch.yaml",
        "ml-pipeline-persistenceagent",
        "ml-pipeline-persistenceagent",
        "NAMESPACE",
        "        env:\n        - name: NAMESPACE\n          value: ''\n          valueFrom: null\n",
    ),
    watch_namespace(
        "scheduled-workflow/deployment-patch.yaml",
        "ml-pipeline-scheduledworkflow",
        "ml-pipeline-scheduledworkflow",
        "NAMESPACE",
        "        env:\n        - name: NAMESPACE\n          value: '' # Empty namespace let viewer controller watch all namespaces\n          valueFrom: null # HACK: https://github.com/kubernetes-sigs/kustomize/issues/2606\n",
    ),
    watch_namespace(
        "viewer-controller/deployment-patch.yaml",
        "ml-pipeline-viewer-crd",
        "ml-pipeline-viewer-crd",
        "NAMESPACE",
        "        env:\n        - name: NAMESPACE\n          value: '' # Empty namespace let viewer controller watch all namespaces\n          valueFrom: null\n",
    ),
    watch_namespace(
        "cache/deployment-patch.yaml",
        "cache-server",
        "server",
        "NAMESPACE_TO_WATCH",
        "        env:\n          - name: NAMESPACE_TO_WATCH\n            value: ''\n            valueFrom: null\n",
    ),
    watch_namespace(
        "metadata-writer/deployment-patch.yaml",
        "metadata-writer",
        "main",
        "NAMESPACE_TO_WATCH",
        "        env:\n        - name: NAMESPACE_TO_WATCH\n          value: ''\n          valueFrom: null\n",
    ),
];

/// Row 8: a component's namespace to watch, `''` with `valueFrom: null` (all namespaces) in the
/// multi-user patch, absent (the base's own namespace) in single-user mode. `restore` is the
/// upstream `env:` block, identical in every release tree checked.
const fn watch_namespace(
    file: &'static str,
    deployment: &'static str,
    container: &'static str,
    var: &'static str,
    restore: &'static str,
) -> Setting {
    Setting {
        row: 8,
        file,
        place: Place::ContainerEnv {
            deployment,
            container,
            var,
            insert_after: None,
            restore,
        },
        multi: Some(""),
        single: None,
        scope: Scope::Parity,
        only_before_kfp_2_beta: false,
        why: "parity with the single-user install: watch only the kubeflow namespace (harmless either way)",
    }
}

/// The keys the KFP API server reads from its ConfigMap, for `set` and the audit.
pub const API_SERVER_KEYS: &[&str] = &[
    "MULTIUSER",
    "MULTIUSER_SHARED_READ",
    "REQUIRE_NAMESPACE_FOR_PIPELINES",
    "AUTO_UPDATE_PIPELINE_DEFAULT_VERSION",
    "METADATA_TLS_ENABLED",
    "DEFAULTPIPELINERUNNERSERVICEACCOUNT",
    "KUBEFLOW_USERID_HEADER",
    "KUBEFLOW_USERID_PREFIX",
    "TOKEN_REVIEW_AUDIENCE",
    "POD_NAMESPACE",
    "ML_PIPELINE_SERVICE_NAME",
    "METADATA_SERVICE_NAME",
    "CLUSTER_DOMAIN",
    "CABUNDLE_SECRET_NAME",
    "CABUNDLE_CONFIGMAP_NAME",
    "CABUNDLE_KEY_NAME",
    "DEFAULT_SECURITY_CONTEXT_RUN_AS_USER",
    "DEFAULT_SECURITY_CONTEXT_RUN_AS_GROUP",
    "DEFAULT_SECURITY_CONTEXT_RUN_AS_NON_ROOT",
    "VISUALIZATIONSERVICE_NAME",
    "VISUALIZATIONSERVICE_PORT",
];

/// The one API server key at most two edits away from `key` (a typo), if exactly one is: the
/// suggestion of `set` and of the audit.
pub fn closest_api_server_key(key: &str) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    let near: Vec<&'static str> = API_SERVER_KEYS
        .iter()
        .copied()
        .filter(|k| *k == upper || edit_distance(k, &upper) <= 2)
        .collect();
    match near.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Levenshtein distance (keys are short ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// API server keys parsed with Go's fatal `strconv.ParseBool`.
pub const API_SERVER_BOOL_KEYS: &[&str] = &[
    "MULTIUSER",
    "MULTIUSER_SHARED_READ",
    "REQUIRE_NAMESPACE_FOR_PIPELINES",
    "AUTO_UPDATE_PIPELINE_DEFAULT_VERSION",
    "METADATA_TLS_ENABLED",
];

impl Setting {
    /// Why the row changes on a switch to `mode`: `why` says what single-user mode needs, so a
    /// switch on (other than the switch itself) gives back the upstream multi-user value.
    pub fn reason(&self, mode: Mode) -> &'static str {
        match mode {
            Mode::On if self.row != 1 => "back to the upstream multi-user value",
            _ => self.why,
        }
    }

    /// A short name for output: `MULTIUSER`, `env ENABLE_AUTHZ of ml-pipeline-ui`.
    pub fn name(&self) -> String {
        match self.place {
            Place::EnvKey(key) => key.to_string(),
            Place::ContainerEnv { container, var, .. } => format!("env {var} of {container}"),
            Place::ViewerAccount => "viewer-pod-template.json serviceAccountName".to_string(),
        }
    }

    pub fn value_in(&self, mode: Mode) -> Option<&'static str> {
        match mode {
            Mode::On => self.multi,
            Mode::Off => self.single,
        }
    }

    /// Whether the row belongs to a switch of this scope on this release. `Err` says why not.
    pub fn applies(&self, install: &Install, scope: Scope) -> Result<(), String> {
        if self.scope > scope {
            return Err(match self.scope {
                Scope::Parity => "only with --parity".to_string(),
                _ => "not with --params-only".to_string(),
            });
        }
        if self.only_before_kfp_2_beta {
            match install.is_kfp_before_2_beta() {
                Some(true) => {}
                Some(false) => {
                    return Err(format!(
                        "kept in both modes from KFP 2.0.0-beta.0 (this tree has {})",
                        install
                            .version
                            .as_ref()
                            .map(|v| v.to_string())
                            .unwrap_or_default()
                    ));
                }
                None => return Err("KFP version unknown, so left as is".to_string()),
            }
        }
        Ok(())
    }
}

/// What a setting's file says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The setting holds `value`, on `line` (1-based).
    Value { value: String, line: usize },
    /// The entry is not there (`line`: where it would be looked for, if known).
    Absent,
    /// The row does not apply to this file (e.g. the file does not exist in this release).
    NotApplicable(String),
}

/// Reads `setting` from its parsed file.
pub fn read(setting: &Setting, shown: &str, parsed: &Parsed<'_>) -> Result<Reading, Problem> {
    match (setting.place, parsed) {
        (Place::EnvKey(key), Parsed::Env(env)) => match env.check_key(key) {
            KeyState::Absent => Ok(Reading::Absent),
            KeyState::Malformed(m) => Err(malformed_problem(shown, key, &m)),
            KeyState::Set { line, value } => {
                if key == "MULTIUSER" && parse_go_bool(value).is_none() {
                    return Err(Problem {
                        file: shown.to_string(),
                        line,
                        code: "multiuser-not-bool",
                        message: format!(
                            "MULTIUSER={value} is not a value Go's strconv.ParseBool accepts; the API server exits at start-up (crash loop)"
                        ),
                        fix: "write MULTIUSER=true or MULTIUSER=false".to_string(),
                    });
                }
                Ok(Reading::Value {
                    value: value.to_string(),
                    line,
                })
            }
        },
        (
            Place::ContainerEnv {
                deployment,
                container,
                var,
                ..
            },
            Parsed::Yaml(yaml),
        ) => {
            refuse_repeated_object(yaml, shown, "Deployment", deployment)?;
            let env = yaml.container_env(deployment, container).ok_or_else(|| {
                shape_problem(
                    shown,
                    &format!("container {container} of Deployment {deployment}"),
                )
            })?;
            read_env_item(&env, var, yaml)
        }
        (Place::ViewerAccount, Parsed::Yaml(yaml)) => {
            refuse_repeated_object(yaml, shown, "ConfigMap", "ml-pipeline-ui-configmap")?;
            let Some((range, account)) = viewer_account(yaml) else {
                return Err(shape_problem(
                    shown,
                    "spec.serviceAccountName in data.viewer-pod-template.json of ConfigMap ml-pipeline-ui-configmap",
                ));
            };
            Ok(Reading::Value {
                value: account,
                line: line_of(yaml.text(), range.start),
            })
        }
        _ => Err(shape_problem(shown, &setting.name())),
    }
}

/// Several documents patching one object: kustomize applies them all, so editing one of them
/// would not decide what the cluster gets.
fn refuse_repeated_object(
    yaml: &YamlText<'_>,
    shown: &str,
    kind: &str,
    name: &str,
) -> Result<(), Problem> {
    let count = yaml.count_objects(kind, name);
    if count <= 1 {
        return Ok(());
    }
    Err(Problem {
        file: shown.to_string(),
        line: 1,
        code: "repeated-object",
        message: format!(
            "{count} documents of this file patch {kind} {name}; kustomize applies all of them, so kfpatch cannot tell which value the cluster gets"
        ),
        fix: format!("merge them into one {kind} document"),
    })
}

fn read_env_item(env: &EnvList, var: &str, yaml: &YamlText<'_>) -> Result<Reading, Problem> {
    let Some(item) = env.get(var) else {
        return Ok(Reading::Absent);
    };
    let line = line_of(yaml.text(), item.lines.start);
    match &item.value {
        Some(v) => Ok(Reading::Value {
            value: v.value.clone(),
            line,
        }),
        None if item.has_value_from => Ok(Reading::NotApplicable(format!(
            "set with valueFrom on line {line}, not a literal"
        ))),
        None => Ok(Reading::Value {
            value: String::new(),
            line,
        }),
    }
}

/// The byte range of the account's JSON string content, and the account.
pub fn viewer_account(yaml: &YamlText<'_>) -> Option<(std::ops::Range<usize>, String)> {
    let data = yaml.configmap_data("ml-pipeline-ui-configmap", "viewer-pod-template.json")?;
    let json: yaml_serde::Value = yaml_serde::from_str(&data.value).ok()?;
    let account = json
        .get("spec")?
        .get("serviceAccountName")?
        .as_str()?
        .to_string();
    // Find the one `"serviceAccountName": "<account>"` token in the scalar's bytes.
    let raw = yaml.text().get(data.range.clone())?;
    let mut found = None;
    let mut search = 0;
    // `search` and `key_end` sit just past an ASCII token found in `raw`: char boundaries.
    while let Some(i) = raw[search..].find("\"serviceAccountName\"") {
        let key_end = search + i + "\"serviceAccountName\"".len();
        let rest = &raw[key_end..];
        let after_colon = rest.trim_start().strip_prefix(':')?.trim_start();
        let value_start = key_end + (rest.len() - after_colon.len()) + 1;
        let quoted = format!("\"{account}\"");
        if after_colon.starts_with(&quoted) {
            if found.is_some() {
                return None;
            }
            let start = data.range.start + value_start;
            found = Some(start..start + account.len());
        }
        search = key_end;
    }
    found.map(|r| (r, account))
}

/// Shows a value in a change list: `(absent)` for a missing entry, `''` for an empty string.
pub fn show_value(value: Option<&str>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some("") => "''".to_string(),
        Some(v) => crate::output::escape::quoted(v).into_owned(),
    }
}

/// Whether a read value means `wanted` for this setting (MULTIUSER compares as Go booleans).
pub fn holds(setting: &Setting, reading: &Reading, wanted: Option<&str>) -> bool {
    let is_switch = matches!(setting.place, Place::EnvKey("MULTIUSER"));
    match (reading, wanted) {
        (Reading::Value { value, .. }, Some(w)) if is_switch => {
            parse_go_bool(value) == parse_go_bool(w)
        }
        (Reading::Value { value, .. }, Some(w)) => value == w,
        // An absent MULTIUSER is false for the API server.
        (Reading::Absent, Some("false")) if is_switch => true,
        (Reading::Absent, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_cover_facts_table() {
        let rows: Vec<u8> = CATALOGUE.iter().map(|s| s.row).collect();
        assert_eq!(rows, vec![1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8]);
        for s in CATALOGUE {
            assert_ne!(s.multi, s.single, "row {}", s.row);
        }
    }

    #[test]
    fn restore_blocks_parse_as_the_multi_value() {
        for s in CATALOGUE {
            if let Place::ContainerEnv { restore, var, .. } = s.place {
                if restore.is_empty() {
                    continue;
                }
                let v: yaml_serde::Value = yaml_serde::from_str(restore).unwrap();
                let item = &v["env"][0];
                assert_eq!(item["name"].as_str(), Some(var));
                assert_eq!(item["value"].as_str(), s.multi);
            }
        }
    }

    #[test]
    fn closest_key_finds_one_edit_typos_only() {
        assert_eq!(closest_api_server_key("MULTIUSR"), Some("MULTIUSER"));
        assert_eq!(closest_api_server_key("multiuser"), Some("MULTIUSER"));
        assert_eq!(closest_api_server_key("SOMETHING_ELSE"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_switch_on_gives_its_own_reason() {
        for s in CATALOGUE {
            assert_eq!(s.reason(Mode::Off), s.why, "row {}", s.row);
            let on = s.reason(Mode::On);
            if s.row == 1 {
                assert_eq!(on, "the switch itself");
            } else {
                assert_eq!(on, "back to the upstream multi-user value", "row {}", s.row);
            }
        }
    }
}
