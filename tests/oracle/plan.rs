//! What a generated fork tree holds, before it is written: the user's overlays, the edits of
//! upstream's own kustomizations, and each kustomize mechanism with the managed setting it
//! touches. Drawn from a seed (`draw`); the shrinker drops parts of a plan and writes it again.

use kfpatch::checkout::catalogue::{CATALOGUE, Mode, Place};

/// One release tree of `../shared/kubeflow`, as the generator needs it.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    /// `apps/pipeline/upstream/base/installs/multi-user`.
    pub install: String,
    /// The folder above `base/` and `env/`: `apps/pipeline/upstream`.
    pub pipeline_root: String,
    /// Whether the install has `persistence-agent/params.env` (a second generated ConfigMap).
    pub agent_params: bool,
    /// Upstream's kustomizations that deploy the install (`env/*`, `example/`), pristine.
    pub deploying: Vec<String>,
    /// Those `env/` overlays no other `env/` overlay builds on: an edit of one changes one
    /// render (and `example/`'s), not a chain of them.
    pub leaf_env: Vec<String>,
}

/// The files' mode before the overlays are added: upstream (on), or after `multiuser off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flip {
    On,
    Off,
    OffParity,
}

impl Flip {
    pub fn args(self) -> Option<&'static [&'static str]> {
        match self {
            Flip::On => None,
            Flip::Off => Some(&["multiuser", "off"]),
            Flip::OffParity => Some(&["multiuser", "off", "--parity"]),
        }
    }

    pub fn mode(self) -> Mode {
        match self {
            Flip::On => Mode::On,
            _ => Mode::Off,
        }
    }
}

/// A ConfigMap key the API server or the persistence agent reads through `envFrom`.
#[derive(Debug, Clone, Copy)]
pub struct CmKey {
    pub configmap: &'static str,
    pub key: &'static str,
    pub deployment: &'static str,
    pub container: &'static str,
}

/// An env entry of a container.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    pub deployment: &'static str,
    pub container: &'static str,
    pub var: &'static str,
}

/// Where a patch goes in the kustomization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `patches: - patch: |` (strategic merge).
    SmpInline,
    /// `patches: - path:` (strategic merge).
    SmpFile,
    /// `patches: - patch: |` (JSON 6902 operations).
    JsonInline,
    /// `patches: - path:` (JSON 6902 operations).
    JsonFile,
    /// `patchesStrategicMerge: - file`.
    Psm,
    /// `patchesStrategicMerge: - |` (the patch inline, as a string).
    PsmInline,
    /// `patchesJson6902: - target: ... path:`.
    PatchesJson6902,
}

/// How a `patches:` entry selects its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// No target: the patch's own kind and name (strategic merge only).
    Own,
    KindName,
    Name,
    NamespaceKindName,
    LabelSelector,
    AnnotationSelector,
}

/// How a generator gives a ConfigMap key its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Literals,
    Envs,
    /// The deprecated singular `env:`.
    Env,
    Files,
}

/// Files that break the build; and a repeated YAML key in a patch, which kustomize accepts (the
/// last one wins) and kfpatch may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    NonYamlPatch,
    MissingEnvFile,
    RepeatedEnvKey,
    DuplicateYamlKey,
}

/// Mechanisms kfpatch may call untraceable: a plugin's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    BuiltinGenerator,
    BuiltinTransformer,
    /// An exec KRM function: kustomize refuses it without `--enable-alpha-plugins`.
    ExecFunction,
}

#[derive(Debug, Clone)]
pub enum Mech {
    /// `configMapGenerator` merging (or replacing) a key of a generated ConfigMap.
    Generate {
        key: CmKey,
        value: String,
        source: Source,
        replace: bool,
        options: bool,
        newline: bool,
    },
    /// A patch of a generated ConfigMap's key.
    PatchKey {
        key: CmKey,
        value: String,
        form: Form,
        select: Select,
    },
    /// A patch of a container's env entry (also a key the container reads from envFrom: its own
    /// env entry wins).
    PatchEnv {
        var: EnvVar,
        value: String,
        form: Form,
        select: Select,
    },
    /// A JSON patch replacing the value of the env entry at `index` of the Deployment's first
    /// container: which entry that is depends on the strategic merges before it (kustomize puts
    /// a merge's items first).
    PatchEnvAt {
        var: EnvVar,
        index: usize,
        value: String,
    },
    /// `$patch: delete` of an env entry.
    DeleteEnv {
        var: EnvVar,
    },
    /// `$patch: replace` of a container's env list, with just this entry.
    ReplaceEnvList {
        var: EnvVar,
        value: String,
    },
    /// `secretGenerator` and the env entry reading it (`secretKeyRef`).
    SecretRef {
        var: EnvVar,
        value: String,
    },
    /// A generated ConfigMap and the env entry reading it (`configMapKeyRef`).
    ConfigMapRef {
        var: EnvVar,
        value: String,
    },
    /// `replacements` from a generated ConfigMap into an env value or a ConfigMap key.
    Replacement {
        target: Destination,
        value: String,
        create: bool,
    },
    /// `vars` from a generated ConfigMap, used in an env value.
    Var {
        var: EnvVar,
        value: String,
    },
    /// A patch of the viewer pod template (`None`: without `serviceAccountName`).
    PatchViewer {
        account: Option<String>,
        form: Form,
        select: Select,
    },
    /// `$patch: delete` of the UI ConfigMap that holds the viewer pod template.
    DeleteViewerConfigMap,
    Namespace(&'static str),
    NamePrefix(&'static str),
    NameSuffix(&'static str),
    CommonAnnotations,
    Broken(Broken),
    Plugin {
        plugin: Plugin,
        key: CmKey,
        value: String,
    },
}

/// Where a replacement writes: a ConfigMap key or an env entry.
#[derive(Debug, Clone, Copy)]
pub enum Destination {
    Key(CmKey),
    Env(EnvVar),
}

/// A mechanism, in the kustomization itself or in a component it lists.
#[derive(Debug, Clone)]
pub struct Placed {
    pub mech: Mech,
    pub in_component: bool,
    /// How the value relates to the files' mode, for the counts.
    pub value_kind: Option<&'static str>,
}

/// What a user overlay builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Install,
    /// An upstream kustomization that deploys the install (`env/...`).
    Upstream(String),
    /// An earlier overlay of the plan (stacked overlays).
    Overlay(usize),
}

#[derive(Debug, Clone)]
pub struct Overlay {
    pub dir: String,
    pub base: Base,
    /// `kustomization.yaml` or `kustomization.yml`.
    pub file_name: &'static str,
    pub header: bool,
    pub mechs: Vec<Placed>,
}

/// An edit of upstream's own kustomization: mechanisms added, and for `example/` the entries that
/// are not in this tree dropped (the release trees hold only KFP).
#[derive(Debug, Clone)]
pub struct UpstreamEdit {
    pub dir: String,
    pub trim_missing: bool,
    pub mechs: Vec<Placed>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub layout: usize,
    pub flip: Flip,
    pub overlays: Vec<Overlay>,
    pub edits: Vec<UpstreamEdit>,
}

/// Every name [`Plan::mechanisms`] can give: a run of 100 trees or more must generate each.
pub const MECHANISMS: &[&str] = &[
    "files-mode-on",
    "files-mode-off",
    "files-mode-off-parity",
    "one-deploying-overlay",
    "several-deploying-overlays",
    "stacked-overlay",
    "overlay-on-upstream-env",
    "overlay-without-header",
    "kustomization.yml",
    "edit-upstream-env",
    "edit-example",
    "component",
    "value-pins-other-mode",
    "value-agrees-with-mode",
    "value-neither-mode",
    "configMapGenerator-merge",
    "configMapGenerator-replace",
    "generator-literals",
    "generator-envs",
    "generator-env",
    "generator-files",
    "generatorOptions",
    "patch-configmap-key",
    "patch-env",
    "patch-env-over-envFrom",
    "patch-env-by-index",
    "patch-viewer-template",
    "form-patches-inline-smp",
    "form-patches-file-smp",
    "form-patches-inline-json6902",
    "form-patches-file-json6902",
    "form-patchesStrategicMerge-file",
    "form-patchesStrategicMerge-inline",
    "form-patchesJson6902",
    "target-none",
    "target-kind-name",
    "target-name",
    "target-namespace-kind-name",
    "target-labelSelector",
    "target-annotationSelector",
    "$patch-delete-env",
    "$patch-delete-object",
    "$patch-replace-env-list",
    "secretGenerator-secretKeyRef",
    "configMapKeyRef",
    "replacements",
    "vars",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonAnnotations",
    "broken-non-yaml-patch",
    "broken-missing-env-file",
    "broken-repeated-env-key",
    "duplicate-yaml-key",
    "plugin-builtin-generator",
    "plugin-builtin-transformer",
    "plugin-exec-function",
];

impl Plan {
    /// The mechanisms this plan uses, each once (names from [`MECHANISMS`]).
    pub fn mechanisms(&self) -> Vec<&'static str> {
        let mut names = vec![match self.flip {
            Flip::On => "files-mode-on",
            Flip::Off => "files-mode-off",
            Flip::OffParity => "files-mode-off-parity",
        }];
        names.push(if self.overlays.len() > 1 {
            "several-deploying-overlays"
        } else {
            "one-deploying-overlay"
        });
        for overlay in &self.overlays {
            match overlay.base {
                Base::Overlay(_) => names.push("stacked-overlay"),
                Base::Upstream(_) => names.push("overlay-on-upstream-env"),
                Base::Install => {}
            }
            if !overlay.header {
                names.push("overlay-without-header");
            }
            if overlay.file_name == "kustomization.yml" {
                names.push("kustomization.yml");
            }
        }
        for edit in &self.edits {
            names.push(if edit.trim_missing {
                "edit-example"
            } else {
                "edit-upstream-env"
            });
        }
        let placed = self
            .overlays
            .iter()
            .flat_map(|o| &o.mechs)
            .chain(self.edits.iter().flat_map(|e| &e.mechs));
        for p in placed {
            if p.in_component {
                names.push("component");
            }
            names.extend(p.value_kind);
            names.extend(mech_names(&p.mech));
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn form_name(form: Form) -> &'static str {
    match form {
        Form::SmpInline => "form-patches-inline-smp",
        Form::SmpFile => "form-patches-file-smp",
        Form::JsonInline => "form-patches-inline-json6902",
        Form::JsonFile => "form-patches-file-json6902",
        Form::Psm => "form-patchesStrategicMerge-file",
        Form::PsmInline => "form-patchesStrategicMerge-inline",
        Form::PatchesJson6902 => "form-patchesJson6902",
    }
}

fn select_name(form: Form, select: Select) -> Option<&'static str> {
    if !matches!(
        form,
        Form::SmpInline | Form::SmpFile | Form::JsonInline | Form::JsonFile
    ) {
        return None;
    }
    Some(match select {
        Select::Own => "target-none",
        Select::KindName => "target-kind-name",
        Select::Name => "target-name",
        Select::NamespaceKindName => "target-namespace-kind-name",
        Select::LabelSelector => "target-labelSelector",
        Select::AnnotationSelector => "target-annotationSelector",
    })
}

fn mech_names(mech: &Mech) -> Vec<&'static str> {
    match mech {
        Mech::Generate {
            source,
            replace,
            options,
            ..
        } => {
            let mut names = vec![
                if *replace {
                    "configMapGenerator-replace"
                } else {
                    "configMapGenerator-merge"
                },
                match source {
                    Source::Literals => "generator-literals",
                    Source::Envs => "generator-envs",
                    Source::Env => "generator-env",
                    Source::Files => "generator-files",
                },
            ];
            if *options {
                names.push("generatorOptions");
            }
            names
        }
        Mech::PatchKey { form, select, .. } => {
            let mut names = vec!["patch-configmap-key", form_name(*form)];
            names.extend(select_name(*form, *select));
            names
        }
        Mech::PatchEnv {
            var, form, select, ..
        } => {
            let what = if is_envfrom_key(var) {
                "patch-env-over-envFrom"
            } else {
                "patch-env"
            };
            let mut names = vec![what, form_name(*form)];
            names.extend(select_name(*form, *select));
            names
        }
        Mech::PatchViewer { form, select, .. } => {
            let mut names = vec!["patch-viewer-template", form_name(*form)];
            names.extend(select_name(*form, *select));
            names
        }
        Mech::PatchEnvAt { .. } => vec!["patch-env-by-index"],
        Mech::DeleteEnv { .. } => vec!["$patch-delete-env"],
        Mech::ReplaceEnvList { .. } => vec!["$patch-replace-env-list"],
        Mech::SecretRef { .. } => vec!["secretGenerator-secretKeyRef"],
        Mech::ConfigMapRef { .. } => vec!["configMapKeyRef"],
        Mech::Replacement { .. } => vec!["replacements"],
        Mech::Var { .. } => vec!["vars"],
        Mech::DeleteViewerConfigMap => vec!["$patch-delete-object"],
        Mech::Namespace(_) => vec!["namespace"],
        Mech::NamePrefix(_) => vec!["namePrefix"],
        Mech::NameSuffix(_) => vec!["nameSuffix"],
        Mech::CommonAnnotations => vec!["commonAnnotations"],
        Mech::Broken(b) => vec![match b {
            Broken::NonYamlPatch => "broken-non-yaml-patch",
            Broken::MissingEnvFile => "broken-missing-env-file",
            Broken::RepeatedEnvKey => "broken-repeated-env-key",
            Broken::DuplicateYamlKey => "duplicate-yaml-key",
        }],
        Mech::Plugin { plugin, .. } => vec![match plugin {
            Plugin::BuiltinGenerator => "plugin-builtin-generator",
            Plugin::BuiltinTransformer => "plugin-builtin-transformer",
            Plugin::ExecFunction => "plugin-exec-function",
        }],
    }
}

/// Whether an env entry is one of the keys a container reads from its ConfigMap.
fn is_envfrom_key(var: &EnvVar) -> bool {
    CATALOGUE
        .iter()
        .any(|s| matches!(s.place, Place::EnvKey(k) if k == var.var))
        && matches!(
            var.deployment,
            "ml-pipeline" | "ml-pipeline-persistenceagent"
        )
}
