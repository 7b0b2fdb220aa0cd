//! A [`Plan`] as files: each overlay's kustomization, its patch, env and plugin files, the
//! components it lists, and the edited upstream kustomizations.

use std::path::Path;

use yaml_serde::{Mapping, Value};

use super::plan::{
    Base, Broken, CmKey, Destination, EnvVar, Form, Mech, Placed, Plan, Plugin, Select, Source,
};
use super::walk;

/// The files of a tree that differ from its release tree (after the files' mode switch), and the
/// folders that hold a plugin or a YAML file with a repeated key (where kfpatch may say it
/// cannot trace).
pub struct Files {
    pub writes: Vec<(String, String)>,
    pub untraceable_dirs: Vec<String>,
}

const ANNOTATION: (&str, &str) = ("fork.example/managed", "true");

/// `to` relative to `from` (both folders relative to the root).
pub fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = to.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn q(value: &str) -> String {
    serde_json::to_string(value).expect("a JSON string")
}

fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap_or_else(|e| panic!("generated YAML {text:?}: {e}"))
}

/// One kustomization being written.
struct Builder {
    dir: String,
    map: Mapping,
    files: Vec<(String, String)>,
}

impl Builder {
    fn push(&mut self, field: &str, item: Value) {
        let key = Value::String(field.to_string());
        match self.map.get_mut(&key) {
            Some(Value::Sequence(items)) => items.push(item),
            _ => {
                self.map.insert(key, Value::Sequence(vec![item]));
            }
        }
    }

    fn set(&mut self, field: &str, value: Value) {
        self.map.insert(Value::String(field.to_string()), value);
    }

    /// A file beside the kustomization; its name, relative to the kustomization.
    fn file(&mut self, name: String, text: String) -> String {
        self.files.push((format!("{}/{name}", self.dir), text));
        name
    }

    fn text(&self) -> String {
        yaml_serde::to_string(&self.map).expect("serialize a kustomization")
    }
}

fn deployment_patch(var: &EnvVar, entry: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\nspec:\n  template:\n    spec:\n      containers:\n      - name: {}\n        env:\n{entry}",
        var.deployment, var.container
    )
}

fn env_entry(var: &str, value: &str) -> String {
    format!("        - name: {var}\n          value: {}\n", q(value))
}

fn configmap_patch(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  {key}: {}\n",
        q(value)
    )
}

fn json_op(op: &str, path: &str, value: &str) -> String {
    format!("- op: {op}\n  path: {path}\n  value: {value}\n")
}

const VIEWER_CONFIGMAP: &str = "ml-pipeline-ui-configmap";
const VIEWER_KEY: &str = "viewer-pod-template.json";

fn viewer_template(account: &Option<String>) -> String {
    match account {
        Some(a) => format!("{{\"spec\": {{\"serviceAccountName\": {}}}}}", q(a)),
        None => "{\"spec\": {}}".to_string(),
    }
}

/// The `target:` of a `patches:` entry.
fn target(select: Select, kind: &str, name: &str) -> Option<Value> {
    let label = if kind == "Deployment" {
        format!("app={name}")
    } else {
        "app.kubernetes.io/component=ml-pipeline".to_string()
    };
    let text = match select {
        Select::Own => return None,
        Select::KindName => format!("kind: {kind}\nname: {name}"),
        Select::Name => format!("name: {name}"),
        Select::NamespaceKindName => format!("namespace: kubeflow\nkind: {kind}\nname: {name}"),
        Select::LabelSelector => format!("kind: {kind}\nlabelSelector: {label}"),
        Select::AnnotationSelector => format!(
            "kind: {kind}\nannotationSelector: {}={}",
            ANNOTATION.0, ANNOTATION.1
        ),
    };
    Some(yaml(&text))
}

/// A patch of object `kind`/`name` in `form`: `smp` is its strategic-merge form, `json` its
/// JSON 6902 operations.
struct Patch<'a> {
    form: Form,
    select: Select,
    kind: &'a str,
    name: &'a str,
    smp: String,
    json: String,
}

fn patch(b: &mut Builder, n: usize, p: Patch<'_>) {
    let Patch {
        form,
        select,
        kind,
        name,
        smp,
        json,
    } = p;
    let mut entry = Mapping::new();
    let target = target(select, kind, name).or_else(|| {
        matches!(form, Form::JsonInline | Form::JsonFile)
            .then(|| yaml(&format!("kind: {kind}\nname: {name}")))
    });
    match form {
        Form::SmpInline | Form::JsonInline => {
            let text = if form == Form::SmpInline { smp } else { json };
            entry.insert("patch".into(), Value::String(text));
        }
        Form::SmpFile | Form::JsonFile => {
            let text = if form == Form::SmpFile { smp } else { json };
            let file = b.file(format!("patch-{n}.yaml"), text);
            entry.insert("path".into(), Value::String(file));
        }
        Form::Psm => {
            let file = b.file(format!("patch-{n}.yaml"), smp);
            b.push("patchesStrategicMerge", Value::String(file));
            return;
        }
        Form::PsmInline => {
            b.push("patchesStrategicMerge", Value::String(smp));
            return;
        }
        Form::PatchesJson6902 => {
            let file = b.file(format!("ops-{n}.yaml"), json);
            let group = if kind == "Deployment" {
                "group: apps\n"
            } else {
                ""
            };
            let mut e = Mapping::new();
            e.insert(
                "target".into(),
                yaml(&format!("{group}version: v1\nkind: {kind}\nname: {name}")),
            );
            e.insert("path".into(), Value::String(file));
            b.push("patchesJson6902", Value::Mapping(e));
            return;
        }
    }
    if let Some(t) = target {
        entry.insert("target".into(), t);
    }
    b.push("patches", Value::Mapping(entry));
}

fn generated(b: &mut Builder, name: &str, literal: &str) {
    b.push(
        "configMapGenerator",
        yaml(&format!("name: {name}\nliterals:\n- {}", q(literal))),
    );
}

/// Writes one mechanism into `b`; `n` numbers its files and names within the tree.
fn mechanism(b: &mut Builder, mech: &Mech, n: usize) {
    match mech {
        Mech::Generate {
            key,
            value,
            source,
            replace,
            options,
            newline,
        } => {
            let behavior = if *replace { "replace" } else { "merge" };
            let mut g = yaml(&format!("name: {}\nbehavior: {behavior}", key.configmap));
            let pair = format!("{}={value}", key.key);
            let m = match &mut g {
                Value::Mapping(m) => m,
                _ => unreachable!(),
            };
            match source {
                Source::Literals => {
                    m.insert("literals".into(), yaml(&format!("- {}", q(&pair))));
                }
                Source::Envs | Source::Env => {
                    let end = if *newline { "\n" } else { "" };
                    let file = b.file(format!("values-{n}.env"), format!("{pair}{end}"));
                    let entry = if *source == Source::Envs {
                        Value::Sequence(vec![Value::String(file)])
                    } else {
                        Value::String(file)
                    };
                    let field = if *source == Source::Envs {
                        "envs"
                    } else {
                        "env"
                    };
                    m.insert(field.into(), entry);
                }
                Source::Files => {
                    let end = if *newline { "\n" } else { "" };
                    let file = b.file(format!("value-{n}.txt"), format!("{value}{end}"));
                    m.insert(
                        "files".into(),
                        yaml(&format!("- {}", q(&format!("{}={file}", key.key)))),
                    );
                }
            }
            b.push("configMapGenerator", g);
            if *options {
                b.set(
                    "generatorOptions",
                    yaml("disableNameSuffixHash: true\nlabels:\n  fork: kfp"),
                );
            }
        }
        Mech::PatchKey {
            key,
            value,
            form,
            select,
        } => patch(
            b,
            n,
            Patch {
                form: *form,
                select: *select,
                kind: "ConfigMap",
                name: key.configmap,
                smp: configmap_patch(key.configmap, key.key, value),
                json: json_op("add", &format!("/data/{}", key.key), &q(value)),
            },
        ),
        Mech::PatchEnv {
            var,
            value,
            form,
            select,
        } => patch(
            b,
            n,
            Patch {
                form: *form,
                select: *select,
                kind: "Deployment",
                name: var.deployment,
                smp: deployment_patch(var, &env_entry(var.var, value)),
                json: json_op(
                    "add",
                    "/spec/template/spec/containers/0/env/-",
                    &format!("{{name: {}, value: {}}}", var.var, q(value)),
                ),
            },
        ),
        Mech::PatchEnvAt { var, index, value } => patch(
            b,
            n,
            Patch {
                form: Form::JsonInline,
                select: Select::KindName,
                kind: "Deployment",
                name: var.deployment,
                smp: String::new(),
                json: json_op(
                    "replace",
                    &format!("/spec/template/spec/containers/0/env/{index}/value"),
                    &q(value),
                ),
            },
        ),
        Mech::DeleteEnv { var } => {
            let text = deployment_patch(
                var,
                &format!("        - name: {}\n          $patch: delete\n", var.var),
            );
            let file = b.file(format!("delete-{n}.yaml"), text);
            b.push("patches", yaml(&format!("path: {file}")));
        }
        Mech::ReplaceEnvList { var, value } => {
            let text = deployment_patch(
                var,
                &format!("        - $patch: replace\n{}", env_entry(var.var, value)),
            );
            b.push("patchesStrategicMerge", Value::String(text));
        }
        Mech::SecretRef { var, value } => {
            let name = format!("fork-secret-{n}");
            b.push(
                "secretGenerator",
                yaml(&format!(
                    "name: {name}\nliterals:\n- {}",
                    q(&format!("{}={value}", var.var))
                )),
            );
            let entry = format!(
                "        - name: {}\n          value: null\n          valueFrom:\n            secretKeyRef:\n              name: {name}\n              key: {}\n",
                var.var, var.var
            );
            let file = b.file(
                format!("secret-ref-{n}.yaml"),
                deployment_patch(var, &entry),
            );
            b.push("patches", yaml(&format!("path: {file}")));
        }
        Mech::ConfigMapRef { var, value } => {
            let name = format!("fork-values-{n}");
            generated(b, &name, &format!("{}={value}", var.var));
            let entry = format!(
                "        - name: {}\n          value: null\n          valueFrom:\n            configMapKeyRef:\n              name: {name}\n              key: {}\n",
                var.var, var.var
            );
            b.push(
                "patches",
                Value::Mapping(Mapping::from_iter([(
                    "patch".into(),
                    Value::String(deployment_patch(var, &entry)),
                )])),
            );
        }
        Mech::Replacement {
            target,
            value,
            create,
        } => {
            let name = format!("fork-source-{n}");
            generated(b, &name, &format!("VALUE={value}"));
            let (select, field) = match target {
                Destination::Key(CmKey { configmap, key, .. }) => (
                    format!("kind: ConfigMap, name: {configmap}"),
                    format!("data.{key}"),
                ),
                Destination::Env(var) => (
                    format!("kind: Deployment, name: {}", var.deployment),
                    format!(
                        "spec.template.spec.containers.[name={}].env.[name={}].value",
                        var.container, var.var
                    ),
                ),
            };
            let options = if *create {
                "\n  options:\n    create: true"
            } else {
                ""
            };
            b.push(
                "replacements",
                yaml(&format!(
                    "source:\n  kind: ConfigMap\n  name: {name}\n  fieldPath: data.VALUE\ntargets:\n- select: {{{select}}}\n  fieldPaths:\n  - {field}{options}"
                )),
            );
        }
        Mech::Var { var, value } => {
            let name = format!("fork-vars-{n}");
            let var_name = format!("FORK_VALUE_{n}");
            generated(b, &name, &format!("VALUE={value}"));
            b.push(
                "vars",
                yaml(&format!(
                    "name: {var_name}\nobjref:\n  apiVersion: v1\n  kind: ConfigMap\n  name: {name}\nfieldref:\n  fieldpath: data.VALUE"
                )),
            );
            let text = deployment_patch(var, &env_entry(var.var, &format!("$({var_name})")));
            let file = b.file(format!("var-{n}.yaml"), text);
            b.push("patches", yaml(&format!("path: {file}")));
        }
        Mech::PatchViewer {
            account,
            form,
            select,
        } => {
            let template = viewer_template(account);
            patch(
                b,
                n,
                Patch {
                    form: *form,
                    select: *select,
                    kind: "ConfigMap",
                    name: VIEWER_CONFIGMAP,
                    smp: configmap_patch(VIEWER_CONFIGMAP, VIEWER_KEY, &template),
                    json: json_op("replace", &format!("/data/{VIEWER_KEY}"), &q(&template)),
                },
            );
        }
        Mech::DeleteViewerConfigMap => {
            let text = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {VIEWER_CONFIGMAP}\n$patch: delete\n"
            );
            let file = b.file(format!("delete-{n}.yaml"), text);
            b.push("patchesStrategicMerge", Value::String(file));
        }
        Mech::Namespace(ns) => b.set("namespace", Value::String(ns.to_string())),
        Mech::NamePrefix(p) => b.set("namePrefix", Value::String(p.to_string())),
        Mech::NameSuffix(s) => b.set("nameSuffix", Value::String(s.to_string())),
        Mech::CommonAnnotations => b.set(
            "commonAnnotations",
            yaml(&format!("{}: {}", ANNOTATION.0, q(ANNOTATION.1))),
        ),
        Mech::Broken(broken) => match broken {
            Broken::NonYamlPatch => {
                let file = b.file(
                    format!("broken-{n}.yaml"),
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata: [name: ml-pipeline-ui\nspec: {\n".to_string(),
                );
                b.push("patches", yaml(&format!("path: {file}")));
            }
            Broken::MissingEnvFile => b.push(
                "configMapGenerator",
                yaml(&format!(
                    "name: pipeline-api-server-config\nbehavior: merge\nenvs:\n- missing-{n}.env"
                )),
            ),
            Broken::RepeatedEnvKey => {
                let file = b.file(
                    format!("repeated-{n}.env"),
                    "MULTIUSER=false\nMULTIUSER=true\n".to_string(),
                );
                b.push(
                    "configMapGenerator",
                    yaml(&format!(
                        "name: pipeline-api-server-config\nbehavior: merge\nenvs:\n- {file}"
                    )),
                );
            }
            Broken::DuplicateYamlKey => {
                let text = format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ml-pipeline-ui\nmetadata:\n  name: ml-pipeline-ui\nspec:\n  template:\n    spec:\n      containers:\n      - name: ml-pipeline-ui\n        env:\n{}",
                    env_entry("ENABLE_AUTHZ", "false")
                );
                let file = b.file(format!("duplicate-{n}.yaml"), text);
                b.push("patches", yaml(&format!("path: {file}")));
            }
        },
        Mech::Plugin { plugin, key, value } => {
            let (field, text) = match plugin {
                Plugin::BuiltinGenerator => (
                    "generators",
                    format!(
                        "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: {}\n  namespace: kubeflow\nbehavior: merge\nliterals:\n- {}\n",
                        key.configmap,
                        q(&format!("{}={value}", key.key))
                    ),
                ),
                Plugin::BuiltinTransformer => (
                    "transformers",
                    format!(
                        "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: fork-{n}\npatch: |-\n  - op: add\n    path: /data/{}\n    value: {}\ntarget:\n  kind: ConfigMap\n  name: {}\n",
                        key.key,
                        q(value),
                        key.configmap
                    ),
                ),
                Plugin::ExecFunction => (
                    "transformers",
                    format!(
                        "apiVersion: fork.example/v1\nkind: SetValue\nmetadata:\n  name: fork-{n}\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./set-value.sh\nkey: {}\nvalue: {}\n",
                        key.key,
                        q(value)
                    ),
                ),
            };
            let file = b.file(format!("plugin-{n}.yaml"), text);
            b.push(field, Value::String(file));
        }
    }
}

/// Writes `mechs` into `b`, those placed in a component into a component folder of their own.
fn mechanisms(
    b: &mut Builder,
    mechs: &[Placed],
    counter: &mut usize,
    out: &mut Files,
    untraceable_here: &mut bool,
) {
    for placed in mechs {
        *counter += 1;
        let n = *counter;
        // kustomize accepts a repeated YAML key (the last one wins); kfpatch may refuse the file.
        let untraceable = matches!(
            placed.mech,
            Mech::Plugin { .. } | Mech::Broken(Broken::DuplicateYamlKey)
        );
        if placed.in_component {
            let dir = format!("components/fork-{n}");
            let mut c = Builder {
                dir: dir.clone(),
                map: Mapping::new(),
                files: Vec::new(),
            };
            c.set("apiVersion", "kustomize.config.k8s.io/v1alpha1".into());
            c.set("kind", "Component".into());
            mechanism(&mut c, &placed.mech, n);
            out.writes
                .push((format!("{dir}/kustomization.yaml"), c.text()));
            out.writes.append(&mut c.files);
            if untraceable {
                out.untraceable_dirs.push(dir.clone());
            }
            b.push("components", Value::String(relative(&b.dir, &dir)));
        } else {
            mechanism(b, &placed.mech, n);
            *untraceable_here |= untraceable;
        }
    }
}

/// The files of `plan` on the tree at `root` (already in the plan's files' mode), whose install
/// is at `install`.
pub fn files(plan: &Plan, root: &Path, install: &str) -> Files {
    let mut out = Files {
        writes: Vec::new(),
        untraceable_dirs: Vec::new(),
    };
    let mut counter = 0;
    for overlay in &plan.overlays {
        let base_dir = match &overlay.base {
            Base::Install => install.to_string(),
            Base::Upstream(dir) => dir.clone(),
            Base::Overlay(i) => plan.overlays[*i].dir.clone(),
        };
        let mut b = Builder {
            dir: overlay.dir.clone(),
            map: Mapping::new(),
            files: Vec::new(),
        };
        if overlay.header {
            b.set("apiVersion", "kustomize.config.k8s.io/v1beta1".into());
            b.set("kind", "Kustomization".into());
        }
        b.push(
            "resources",
            Value::String(relative(&overlay.dir, &base_dir)),
        );
        let mut untraceable_here = false;
        mechanisms(
            &mut b,
            &overlay.mechs,
            &mut counter,
            &mut out,
            &mut untraceable_here,
        );
        if untraceable_here {
            out.untraceable_dirs.push(overlay.dir.clone());
        }
        out.writes
            .push((format!("{}/{}", overlay.dir, overlay.file_name), b.text()));
        out.writes.append(&mut b.files);
    }
    for edit in &plan.edits {
        let file = walk::kustomization_file(root, &edit.dir)
            .unwrap_or_else(|| panic!("{} has no kustomization", edit.dir));
        let text = std::fs::read_to_string(root.join(&file)).expect("read upstream kustomization");
        let map = match yaml_serde::from_str::<Value>(&text) {
            Ok(Value::Mapping(m)) => m,
            other => panic!("{file} is no mapping: {other:?}"),
        };
        let mut b = Builder {
            dir: edit.dir.clone(),
            map,
            files: Vec::new(),
        };
        if edit.trim_missing {
            let key = Value::String("resources".into());
            if let Some(Value::Sequence(items)) = b.map.get_mut(&key) {
                items.retain(|item| {
                    item.as_str()
                        .and_then(|entry| walk::normalize(&edit.dir, entry.trim()))
                        .is_some_and(|path| root.join(path).exists())
                });
            }
        }
        let mut untraceable_here = false;
        mechanisms(
            &mut b,
            &edit.mechs,
            &mut counter,
            &mut out,
            &mut untraceable_here,
        );
        if untraceable_here {
            out.untraceable_dirs.push(edit.dir.clone());
        }
        out.writes.push((file, b.text()));
        out.writes.append(&mut b.files);
    }
    out
}
