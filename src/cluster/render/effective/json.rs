//! The effective settings of a render as `render -o json` prints them (docs/render.schema.json):
//! the same facts as the text report, one field each.

use serde::Serialize;

use crate::checkout::model::objects::Rendered;

/// What the render gives the cluster, as `render -o json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveJson {
    pub api_config: Option<ConfigJson>,
    pub api_server: Option<ApiServerJson>,
    /// The env of the UI container that the catalogue manages; `null` without the UI Deployment.
    pub ui: Option<UiJson>,
    /// `spec.serviceAccountName` of the viewer pod template; `null` without its ConfigMap.
    pub viewer_service_account: Option<RenderedJson>,
    /// Whether `ml-pipeline`'s envFrom names `api_config`; `null` without that Deployment.
    pub env_from_names_api_config: Option<bool>,
    pub agreement: Vec<Agreement>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigJson {
    pub name: String,
    pub namespace: Option<String>,
    /// The params.env it is generated from, relative to the `-C` folder.
    pub file: String,
    pub data: Vec<KeyValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiServerJson {
    pub namespace: Option<String>,
    pub containers: Vec<ContainerJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerJson {
    pub name: String,
    pub env_from: Vec<EnvFromJson>,
    pub env: Vec<EnvJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvFromJson {
    /// `ConfigMap`, `Secret` or `unknown`.
    pub kind: &'static str,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvJson {
    pub name: String,
    pub rendered: RenderedJson,
}

#[derive(Debug, Clone, Serialize)]
pub struct UiJson {
    pub namespace: Option<String>,
    pub env: Vec<EnvJson>,
}

/// A rendered value: `literal` (the string), `value-from` (where from), `absent` (`null`), or
/// `missing` (why the object that would hold it is not there).
#[derive(Debug, Clone, Serialize)]
pub struct RenderedJson {
    pub state: &'static str,
    pub value: Option<String>,
}

/// One catalogue setting compared with the render.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub row: u8,
    /// Relative to the `-C` folder.
    pub file: String,
    pub line: Option<usize>,
    pub setting: String,
    /// `ok`, `differs` or `not-compared`.
    pub status: &'static str,
    pub file_value: Option<String>,
    /// The value a kfpatch overlay being rendered gives it; `null` when no overlay switches it.
    pub overlay_value: Option<String>,
    /// `null` when not read (the file is absent or has a problem).
    pub rendered: Option<RenderedJson>,
    /// Why it was not compared; `null` when it was.
    pub note: Option<String>,
    /// The line of the text report.
    #[serde(skip)]
    pub text: String,
}

impl Rendered {
    pub fn json(&self) -> RenderedJson {
        let (state, value) = match self {
            Rendered::Literal(v) => ("literal", Some(v.clone())),
            Rendered::ValueFrom(from) => ("value-from", Some(from.clone())),
            Rendered::Absent => ("absent", None),
            Rendered::Missing(why) => ("missing", Some(why.clone())),
        };
        RenderedJson { state, value }
    }
}
