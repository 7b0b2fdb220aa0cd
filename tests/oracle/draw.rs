//! A [`Plan`] drawn from a seed: which layout and files' mode, which overlays on what, and which
//! mechanisms with which values (pinning the other mode, agreeing with it, or neither).

use kfpatch::checkout::catalogue::{CATALOGUE, Place, Setting};

use super::plan::{
    Base, Broken, CmKey, Destination, EnvVar, Flip, Form, Layout, Mech, Overlay, Placed, Plan,
    Plugin, Select, Source, UpstreamEdit,
};
use super::rng::Rng;

const API_CONFIG: &str = "pipeline-api-server-config";
const AGENT_CONFIG: &str = "persistenceagent-config";

/// The ConfigMap key of an `EnvKey` row.
fn cm_key(setting: &Setting, key: &'static str) -> CmKey {
    if setting.file.starts_with("api-service/") {
        CmKey {
            configmap: API_CONFIG,
            key,
            deployment: "ml-pipeline",
            container: "ml-pipeline-api-server",
        }
    } else {
        CmKey {
            configmap: AGENT_CONFIG,
            key,
            deployment: "ml-pipeline-persistenceagent",
            container: "ml-pipeline-persistenceagent",
        }
    }
}

/// A value for `setting`: the other mode's (pinning it), the files' mode's (agreeing), or one of
/// neither; `None` is an absent entry.
fn value(rng: &mut Rng, setting: &Setting, flip: Flip) -> (Option<String>, &'static str) {
    let mode = flip.mode();
    match rng.below(10) {
        0..=4 => (
            setting.value_in(mode.other()).map(str::to_string),
            "value-pins-other-mode",
        ),
        5..=6 => (
            setting.value_in(mode).map(str::to_string),
            "value-agrees-with-mode",
        ),
        _ => {
            let odd = ["yes", "1", "True", "", "team-a", "maybe false"];
            (Some(rng.pick(&odd).to_string()), "value-neither-mode")
        }
    }
}

const FORMS: [Form; 7] = [
    Form::SmpInline,
    Form::SmpFile,
    Form::JsonInline,
    Form::JsonFile,
    Form::Psm,
    Form::PsmInline,
    Form::PatchesJson6902,
];

fn form_and_select(rng: &mut Rng) -> (Form, Select) {
    let form = *rng.pick(&FORMS);
    let selects: &[Select] = match form {
        Form::SmpInline | Form::SmpFile => &[
            Select::Own,
            Select::KindName,
            Select::Name,
            Select::NamespaceKindName,
            Select::LabelSelector,
            Select::AnnotationSelector,
        ],
        Form::JsonInline | Form::JsonFile => &[
            Select::KindName,
            Select::Name,
            Select::NamespaceKindName,
            Select::LabelSelector,
            Select::AnnotationSelector,
        ],
        _ => &[Select::Own],
    };
    (form, *rng.pick(selects))
}

/// The kinds of mechanism, with their weights: the broken and plugin ones are rarer, so that most
/// trees compare values.
const KINDS: &[(u8, usize)] = &[
    (0, 6),  // generate
    (1, 4),  // patch a ConfigMap key
    (2, 8),  // patch an env entry
    (3, 3),  // delete an env entry
    (4, 2),  // replace an env list
    (5, 3),  // secretKeyRef
    (6, 3),  // configMapKeyRef
    (7, 3),  // replacements
    (8, 3),  // vars
    (9, 4),  // patch the viewer template
    (10, 1), // delete the viewer ConfigMap
    (11, 2), // namespace
    (12, 1), // namePrefix
    (13, 1), // nameSuffix
    (14, 2), // commonAnnotations
    (15, 3), // broken
    (16, 3), // plugin
];

/// One mechanism, drawn for a tree of `layout` whose files are in `flip`'s mode.
fn mech(rng: &mut Rng, layout: &Layout, flip: Flip) -> Placed {
    let total: usize = KINDS.iter().map(|(_, w)| w).sum();
    let mut at = rng.below(total);
    let kind = KINDS
        .iter()
        .find(|(_, w)| {
            if at < *w {
                true
            } else {
                at -= w;
                false
            }
        })
        .map(|(k, _)| *k)
        .expect("a kind");
    let settings: Vec<&'static Setting> = CATALOGUE
        .iter()
        .filter(|s| layout.agent_params || !s.file.starts_with("persistence-agent/params"))
        .collect();
    let keys: Vec<&'static Setting> = settings
        .iter()
        .copied()
        .filter(|s| matches!(s.place, Place::EnvKey(_)))
        .collect();
    let envs: Vec<&'static Setting> = settings
        .iter()
        .copied()
        .filter(|s| matches!(s.place, Place::ContainerEnv { .. } | Place::EnvKey(_)))
        .collect();
    let key_of = |s: &'static Setting| match s.place {
        Place::EnvKey(k) => cm_key(s, k),
        _ => unreachable!("a key row"),
    };
    let var_of = |s: &'static Setting| match s.place {
        Place::EnvKey(k) => {
            let key = cm_key(s, k);
            EnvVar {
                deployment: key.deployment,
                container: key.container,
                var: k,
            }
        }
        Place::ContainerEnv {
            deployment,
            container,
            var,
            ..
        } => EnvVar {
            deployment,
            container,
            var,
        },
        Place::ViewerAccount => unreachable!("an env row"),
    };
    let mut value_kind = None;
    let mut valued = |rng: &mut Rng, s: &'static Setting| {
        let (v, kind) = value(rng, s, flip);
        value_kind = Some(kind);
        v
    };
    let mech = match kind {
        0 => {
            let s = *rng.pick(&keys);
            let value = valued(rng, s).unwrap_or_default();
            Mech::Generate {
                key: key_of(s),
                value,
                source: *rng.pick(&[Source::Literals, Source::Envs, Source::Env, Source::Files]),
                replace: rng.chance(20),
                options: rng.chance(25),
                newline: rng.chance(25),
            }
        }
        1 => {
            let s = *rng.pick(&keys);
            let value = valued(rng, s).unwrap_or_default();
            let (form, select) = form_and_select(rng);
            Mech::PatchKey {
                key: key_of(s),
                value,
                form,
                select,
            }
        }
        2 | 3 | 4 | 5 | 6 | 8 => {
            let s = *rng.pick(&envs);
            let var = var_of(s);
            match (kind, valued(rng, s)) {
                (3, _) | (_, None) => Mech::DeleteEnv { var },
                (2, Some(value)) => {
                    let (form, select) = form_and_select(rng);
                    Mech::PatchEnv {
                        var,
                        value,
                        form,
                        select,
                    }
                }
                (4, Some(value)) => Mech::ReplaceEnvList { var, value },
                (5, Some(value)) => Mech::SecretRef { var, value },
                (6, Some(value)) => Mech::ConfigMapRef { var, value },
                (_, Some(value)) => Mech::Var { var, value },
            }
        }
        7 => {
            let s = *rng.pick(&envs);
            let value = valued(rng, s).unwrap_or_default();
            // A key the container reads from envFrom has no env entry to replace unless the
            // replacement creates it.
            let create = rng.chance(30);
            let target = if matches!(s.place, Place::EnvKey(_)) && (!create || rng.chance(50)) {
                Destination::Key(key_of(s))
            } else {
                Destination::Env(var_of(s))
            };
            Mech::Replacement {
                target,
                value,
                create,
            }
        }
        9 => {
            let s = CATALOGUE
                .iter()
                .find(|s| matches!(s.place, Place::ViewerAccount))
                .expect("the viewer row");
            let account = valued(rng, s);
            let (form, select) = form_and_select(rng);
            Mech::PatchViewer {
                account,
                form,
                select,
            }
        }
        10 => Mech::DeleteViewerConfigMap,
        11 => Mech::Namespace(if rng.chance(50) { "kubeflow" } else { "team-a" }),
        12 => Mech::NamePrefix("fork-"),
        13 => Mech::NameSuffix("-fork"),
        14 => Mech::CommonAnnotations,
        15 => Mech::Broken(*rng.pick(&[
            Broken::NonYamlPatch,
            Broken::MissingEnvFile,
            Broken::RepeatedEnvKey,
            Broken::DuplicateYamlKey,
        ])),
        _ => {
            let s = *rng.pick(&keys);
            let value = valued(rng, s).unwrap_or_default();
            Mech::Plugin {
                plugin: *rng.pick(&[
                    Plugin::BuiltinGenerator,
                    Plugin::BuiltinTransformer,
                    Plugin::ExecFunction,
                ]),
                key: key_of(s),
                value,
            }
        }
    };
    Placed {
        mech,
        in_component: rng.chance(12),
        value_kind,
    }
}

/// The plan of tree `seed`: a layout, the files' mode, one to three overlays of the user (on the
/// install, an upstream env overlay or an earlier overlay), sometimes edits of upstream's own
/// kustomizations.
pub fn draw(seed: u64, layouts: &[Layout]) -> Plan {
    let mut rng = Rng::new(seed);
    let layout_index = rng.below(layouts.len());
    let layout = &layouts[layout_index];
    let flip = *rng.pick(&[Flip::On, Flip::On, Flip::Off, Flip::OffParity]);
    let count = *rng.pick(&[1, 1, 1, 2, 2, 3]);
    let upstream_env: Vec<&String> = layout
        .deploying
        .iter()
        .filter(|d| d.starts_with(&format!("{}/env/", layout.pipeline_root)))
        .collect();
    let mut overlays: Vec<Overlay> = Vec::new();
    for i in 0..count {
        // Mostly on the install itself: an upstream env overlay renders Argo, MySQL and MinIO
        // too, and takes several times as long.
        let base = match rng.below(20) {
            0..=12 => Base::Install,
            13..=17 if i > 0 => Base::Overlay(rng.below(i)),
            18 | 19 if !upstream_env.is_empty() => {
                Base::Upstream(rng.pick(&upstream_env).to_string())
            }
            _ => Base::Install,
        };
        let dir = match rng.below(4) {
            0 => format!("overlays/fork-{i}"),
            1 => format!("{}/env/fork-{i}", layout.pipeline_root),
            2 => format!("deploy/cluster-{i}/kfp"),
            _ => format!("fork-{i}"),
        };
        let mechs = (0..1 + rng.below(3))
            .map(|_| mech(&mut rng, layout, flip))
            .collect();
        overlays.push(Overlay {
            dir,
            base,
            file_name: if rng.chance(10) {
                "kustomization.yml"
            } else {
                "kustomization.yaml"
            },
            header: rng.chance(75),
            mechs,
        });
    }
    let mut edits = Vec::new();
    if !layout.leaf_env.is_empty() && rng.chance(15) {
        edits.push(UpstreamEdit {
            dir: rng.pick(&layout.leaf_env).to_string(),
            trim_missing: false,
            mechs: (0..1 + rng.below(2))
                .map(|_| mech(&mut rng, layout, flip))
                .collect(),
        });
    }
    if layout.deploying.iter().any(|d| d == "example") && rng.chance(12) {
        edits.push(UpstreamEdit {
            dir: "example".to_string(),
            trim_missing: true,
            mechs: (0..rng.below(2))
                .map(|_| mech(&mut rng, layout, flip))
                .collect(),
        });
    }
    // Drawn from a stream of their own, so that every other draw of a seed stays as it was.
    let mut extra = Rng::new(seed ^ 0xD1B5_4A32_D192_ED03);
    for overlay in &mut overlays {
        if extra.chance(15) {
            overlay.mechs.push(index_patch(&mut extra, flip));
        }
    }
    Plan {
        layout: layout_index,
        flip,
        overlays,
        edits,
    }
}

/// A JSON patch of the env entry at an index, last in its overlay: after the strategic merges
/// (of this overlay and the builds below) that reorder the list.
fn index_patch(rng: &mut Rng, flip: Flip) -> Placed {
    let envs: Vec<(&'static Setting, EnvVar)> = CATALOGUE
        .iter()
        .filter_map(|s| match s.place {
            Place::ContainerEnv {
                deployment,
                container,
                var,
                ..
            } => Some((
                s,
                EnvVar {
                    deployment,
                    container,
                    var,
                },
            )),
            _ => None,
        })
        .collect();
    let (setting, var) = *rng.pick(&envs);
    let (value, kind) = value(rng, setting, flip);
    Placed {
        mech: Mech::PatchEnvAt {
            var,
            index: rng.below(3),
            value: value.unwrap_or_default(),
        },
        in_component: false,
        value_kind: Some(kind),
    }
}
