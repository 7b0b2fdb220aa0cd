//! An override of a managed setting: a file above the install that decides the value the setting
//! reaches the cluster with, what it gives, how kfpatch could switch it, and its JSON form.
//! Finding them is [`crate::checkout::trace`].

use std::path::PathBuf;

use serde::Serialize;

use crate::checkout::catalogue::{Reading, Setting};
use crate::syntax::yamledit::YamlText;

/// The ConfigMap the UI reads the viewer pod template from, and its key.
pub const VIEWER_CONFIGMAP: &str = "ml-pipeline-ui-configmap";
pub const VIEWER_KEY: &str = "viewer-pod-template.json";

/// What an override gives a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// This value (`None`: the entry or key is absent).
    Value(Option<String>),
    /// kfpatch cannot tell offline (why).
    Untraced(String),
}

/// How kfpatch could switch an override's value in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    /// A key of a `.env` file.
    Env(&'static str),
    /// `serviceAccountName` of a viewer pod template `.json` file.
    Json,
    /// A catalogue setting in a YAML patch file, with the catalogue's own editor.
    Setting,
    /// A `data:` key of a ConfigMap patch.
    ConfigMapData(&'static str, &'static str),
    /// A `KEY=VALUE` literal of a generator in the kustomization.
    Literal(&'static str),
    /// Not switched by kfpatch (inline patches, JSON patches).
    None,
}

/// A file above the install that decides a managed setting.
#[derive(Debug, Clone)]
pub struct Override {
    /// The catalogue row.
    pub setting: &'static Setting,
    /// The file holding the value, relative to the checkout root, and its real path.
    pub file: String,
    pub path: PathBuf,
    /// The value's line, when it has one.
    pub line: Option<usize>,
    pub given: Given,
    /// The kustomization (relative to the checkout root) and line that applies it, and how.
    pub by: String,
    pub how: String,
    pub editor: Editor,
}

impl Override {
    pub fn at(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }

    pub fn value(&self) -> Option<&str> {
        match &self.given {
            Given::Value(v) => v.as_deref(),
            Given::Untraced(_) => None,
        }
    }

    /// What the override gives, as a reading of its file; `None` when it is not traced.
    pub fn reading(&self) -> Option<Reading> {
        match &self.given {
            Given::Value(Some(v)) => Some(Reading::Value {
                value: v.clone(),
                line: self.line.unwrap_or(1),
            }),
            Given::Value(None) => Some(Reading::Absent),
            Given::Untraced(_) => None,
        }
    }

    /// `kubeflow-pipelines-viewer`, `(absent)`, or `(not traced: why)`.
    pub fn shown_value(&self) -> String {
        match &self.given {
            Given::Value(v) => crate::checkout::catalogue::show_value(v.as_deref()),
            Given::Untraced(why) => format!("(not traced: {why})"),
        }
    }
}

/// The whole viewer pod template an override gives, when kfpatch can read it: the JSON file of
/// a generator, or the `data` of a ConfigMap patch file.
pub fn template_of(o: &Override) -> Option<String> {
    let text = std::fs::read_to_string(&o.path).ok()?;
    match o.editor {
        Editor::Json => Some(text),
        Editor::Setting => YamlText::parse(&text)
            .ok()?
            .configmap_data(VIEWER_CONFIGMAP, VIEWER_KEY)
            .map(|d| d.value),
        _ => None,
    }
}

/// An override as `status` and `audit` print it in JSON.
#[derive(Debug, Serialize)]
pub struct OverrideJson {
    pub row: u8,
    /// The file holding the value, relative to the `-C` folder.
    pub file: String,
    pub line: Option<usize>,
    pub setting: String,
    /// The value the cluster gets through it (`null`: absent or not traced).
    pub value: Option<String>,
    /// Why kfpatch cannot tell the value offline, if so.
    pub untraced: Option<String>,
    /// The kustomization and line that apply it, and how.
    pub through: String,
    pub how: String,
}

impl OverrideJson {
    pub fn of(o: &Override) -> OverrideJson {
        OverrideJson {
            row: o.setting.row,
            file: o.file.clone(),
            line: o.line,
            setting: o.setting.name(),
            value: o.value().map(str::to_string),
            untraced: match &o.given {
                Given::Untraced(why) => Some(why.clone()),
                Given::Value(_) => None,
            },
            through: o.by.clone(),
            how: o.how.clone(),
        }
    }
}
