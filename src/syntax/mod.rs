//! Lossless document models: a file is parsed once into a model that keeps every byte it does not
//! own, values are changed, and the text is written back with only those bytes different. These
//! modules know the formats (kustomize's `.env` reading, YAML) and nothing of Kubeflow.

pub mod envfile;
pub mod strict;
pub mod yamledit;
