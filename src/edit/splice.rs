//! Turning one catalogue setting's new value into edits of its file: a key set in the `.env`
//! model, or byte splices into the YAML text with the leaf changes they must cause (which
//! [`crate::syntax::yamledit::verify`] checks before a plan is returned).

use crate::checkout::catalogue::{Place, Setting, viewer_account};
use crate::checkout::parsed::{Problem, malformed_problem, shape_problem};
use crate::syntax::envfile::EnvFile;
use crate::syntax::yamledit::{
    self, EnvList, LeafChange, Splice, YamlText, document_index, env_leaf, reindent, scalar_like,
    string_leaf,
};

/// One file's edit for one setting: the splices (YAML) and the leaf changes they must cause.
pub struct YamlEdit {
    pub splices: Vec<Splice>,
    pub leaves: Vec<LeafChange>,
}

/// Writes `to` (a value, or `None` for an absent entry) into an env file.
pub fn edit_env(
    env: &mut EnvFile,
    setting: &Setting,
    to: &str,
    shown: &str,
) -> Result<(), Problem> {
    let Place::EnvKey(key) = setting.place else {
        return Err(shape_problem(shown, &setting.name()));
    };
    env.set(key, to, false)
        .map_err(|m| malformed_problem(shown, key, &m))
}

/// Computes the splices that set a YAML setting to `to` (`None`: remove the entry).
pub fn edit_yaml(
    setting: &Setting,
    yaml: &YamlText<'_>,
    to: Option<&str>,
    shown: &str,
) -> Result<YamlEdit, Problem> {
    let text = yaml.text();
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    match setting.place {
        Place::ViewerAccount => {
            let (range, old) =
                viewer_account(yaml).ok_or_else(|| shape_problem(shown, &setting.name()))?;
            let new = to.unwrap_or_default();
            let doc = document_index(text, "ConfigMap", "ml-pipeline-ui-configmap").unwrap_or(0);
            let data = yaml
                .configmap_data("ml-pipeline-ui-configmap", "viewer-pod-template.json")
                .ok_or_else(|| shape_problem(shown, &setting.name()))?;
            let new_value = data
                .value
                .replacen(&format!("\"{old}\""), &format!("\"{new}\""), 1);
            Ok(YamlEdit {
                splices: vec![Splice {
                    range,
                    replacement: new.to_string(),
                }],
                leaves: vec![LeafChange {
                    path: format!("doc{doc}.data.viewer-pod-template.json"),
                    old: Some(string_leaf(&data.value)),
                    new: Some(string_leaf(&new_value)),
                }],
            })
        }
        Place::ContainerEnv {
            deployment,
            container,
            var,
            insert_after,
            restore,
        } => {
            let env = yaml.container_env(deployment, container).ok_or_else(|| {
                shape_problem(
                    shown,
                    &format!("container {container} of Deployment {deployment}"),
                )
            })?;
            let doc = document_index(text, "Deployment", deployment).unwrap_or(0);
            let leaf = |field: &str| env_leaf(doc, container, var, field);
            let before = yamledit::leaves(text).map_err(|e| shape_problem(shown, &e))?;
            let prefix = leaf("");
            match (env.get(var), to) {
                (Some(item), Some(value)) => {
                    let scalar = item.value.clone().ok_or_else(|| {
                        shape_problem(shown, &format!("a literal value of {var}"))
                    })?;
                    let old_raw = text.get(scalar.range.clone()).ok_or_else(|| {
                        shape_problem(shown, &format!("a literal value of {var}"))
                    })?;
                    Ok(YamlEdit {
                        splices: vec![Splice {
                            range: scalar.range.clone(),
                            replacement: scalar_like(old_raw, value),
                        }],
                        leaves: vec![LeafChange {
                            path: leaf("value"),
                            old: Some(string_leaf(&scalar.value)),
                            new: Some(string_leaf(value)),
                        }],
                    })
                }
                (Some(item), None) => {
                    let range = match (&env.block, env.items.len()) {
                        (Some(block), 1) => block.clone(),
                        _ => item.lines.clone(),
                    };
                    let leaves = before
                        .iter()
                        .filter(|(path, _)| path.starts_with(&prefix))
                        .map(|(path, old)| LeafChange {
                            path: path.clone(),
                            old: Some(old.clone()),
                            new: None,
                        })
                        .collect();
                    Ok(YamlEdit {
                        splices: vec![Splice {
                            range,
                            replacement: String::new(),
                        }],
                        leaves,
                    })
                }
                (None, Some(value)) => {
                    if restore.is_empty() {
                        return Err(shape_problem(shown, &format!("env {var}")));
                    }
                    let (at, mut insert) = insertion(&env, text, restore, insert_after);
                    if !value.is_empty() && !restore.contains(&format!("value: {value}")) {
                        return Err(shape_problem(shown, &format!("env {var}")));
                    }
                    if newline == "\r\n" {
                        insert = insert.replace('\n', "\r\n");
                    }
                    let item_text = restore.split_once('\n').map_or("", |(_, items)| items);
                    let added = yamledit::leaves(&format!("x:\n{item_text}"))
                        .map_err(|e| shape_problem(shown, &e))?;
                    let leaves = added
                        .into_iter()
                        .map(|(path, new)| LeafChange {
                            path: path.replacen(&format!("doc0.x[name={var}]."), &prefix, 1),
                            old: None,
                            new: Some(new),
                        })
                        .collect();
                    Ok(YamlEdit {
                        splices: vec![Splice {
                            range: at..at,
                            replacement: insert,
                        }],
                        leaves,
                    })
                }
                (None, None) => Ok(YamlEdit {
                    splices: Vec::new(),
                    leaves: Vec::new(),
                }),
            }
        }
        Place::EnvKey(_) => Err(shape_problem(shown, &setting.name())),
    }
}

/// Where and what to insert so that the entry in `restore` is back in `env`.
fn insertion(
    env: &EnvList,
    text: &str,
    restore: &str,
    insert_after: Option<&str>,
) -> (usize, String) {
    let item_text = restore.split_once('\n').map_or("", |(_, items)| items);
    match env.items.first() {
        Some(first) => {
            let line = text.get(first.lines.clone()).unwrap_or_default();
            let dash_column = line.len() - line.trim_start_matches(' ').len();
            let at = insert_after
                .and_then(|name| env.get(name))
                .map_or(first.lines.start, |item| item.lines.end);
            (at, reindent(item_text, dash_column))
        }
        None => {
            let at = env.container_end;
            let mut block = reindent(restore, env.container_indent);
            if at > 0 && !text.get(..at).is_some_and(|t| t.ends_with('\n')) {
                block.insert(0, '\n');
            }
            (at, block)
        }
    }
}
