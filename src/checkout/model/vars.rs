//! `vars` as kustomize resolves them, once, at the end of the whole build (after the hash
//! suffixes): each var's value is read from the one object its `objref` names, and `$(NAME)` is
//! replaced in the fields of kustomize's default var references that hold a managed setting, the
//! containers' env values (checked with kubectl kustomize v5.5: a ConfigMap's data is not among
//! them, so a managed value there that holds a var stays untraced).

use std::rc::Rc;

use yaml_serde::Value;

use super::build::Res;
use super::patch::Selector;
use super::replace::{get, steps};

/// A var's name and value; `Err`: why kustomize's build fails, or why the model cannot tell.
pub fn resolve(objects: &[Rc<Res>], def: &Value) -> Result<(String, String), String> {
    let name = def
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a var without a name: kustomize refuses it")?;
    let objref = def.get("objref").map(Selector::of).unwrap_or_default();
    let hits: Vec<&Rc<Res>> = objects
        .iter()
        .filter(|o| objref.matches(&o.api_version, &o.kind, &o.names(), &o.namespaces(), None))
        .collect();
    let [object] = hits.as_slice() else {
        return Err(format!(
            "the var {name} names {} objects of the build: kustomize refuses it unless exactly one",
            hits.len()
        ));
    };
    let field = def
        .get("fieldref")
        .and_then(|f| f.get("fieldpath"))
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    let value = match get(&object.full(), &steps(field)?) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => {
            return Err(format!(
                "the var {name}: {field} of {} {} is not a plain value",
                object.kind, object.name
            ));
        }
    };
    Ok((name.to_string(), value))
}

/// Replaces `$(NAME)` by the value in every container env value of the Deployments.
pub fn substitute(objects: &mut [Rc<Res>], vars: &[(String, String)]) {
    if vars.is_empty() {
        return;
    }
    let needles: Vec<(String, &str)> = vars
        .iter()
        .map(|(n, v)| (format!("$({n})"), v.as_str()))
        .collect();
    for r in objects.iter_mut().filter(|r| r.kind == "Deployment") {
        let mentions = env_values(&r.value)
            .filter_map(Value::as_str)
            .any(|s| needles.iter().any(|(n, _)| s.contains(n.as_str())));
        if !mentions {
            continue;
        }
        let r = Rc::make_mut(r);
        let containers = r
            .value
            .get_mut("spec")
            .and_then(|s| s.get_mut("template"))
            .and_then(|t| t.get_mut("spec"))
            .and_then(|s| s.get_mut("containers"))
            .and_then(Value::as_sequence_mut);
        for c in containers.into_iter().flatten() {
            let env = c.get_mut("env").and_then(Value::as_sequence_mut);
            for e in env.into_iter().flatten() {
                if let Some(Value::String(s)) = e.get_mut("value") {
                    for (n, v) in &needles {
                        *s = s.replace(n.as_str(), v);
                    }
                }
            }
        }
    }
}

/// The `value` of every env entry of a Deployment's containers.
fn env_values(deployment: &Value) -> impl Iterator<Item = &Value> {
    let containers = deployment
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"))
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_sequence);
    containers
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("env").and_then(Value::as_sequence))
        .flatten()
        .filter_map(|e| e.get("value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(text: &str) -> Rc<Res> {
        Rc::new(Res::of(yaml_serde::from_str(text).unwrap()).unwrap())
    }

    #[test]
    fn a_var_is_read_from_its_object_and_replaced_in_env_values_only() {
        let mut objects = vec![
            res("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\ndata:\n  V: 'false'\n"),
            res(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ui\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        env:\n        - name: A\n          value: x-$(V)\n",
            ),
        ];
        let def = yaml_serde::from_str(
            "name: V\nobjref: {apiVersion: v1, kind: ConfigMap, name: src}\nfieldref: {fieldpath: data.V}\n",
        )
        .unwrap();
        let pair = resolve(&objects, &def).unwrap();
        assert_eq!(pair, ("V".to_string(), "false".to_string()));
        substitute(&mut objects, &[pair]);
        let env = &objects[1].value["spec"]["template"]["spec"]["containers"][0]["env"][0];
        assert_eq!(env["value"], Value::from("x-false"));
        let nowhere =
            yaml_serde::from_str("name: W\nobjref: {kind: ConfigMap, name: gone}\n").unwrap();
        assert!(resolve(&objects, &nowhere).is_err());
    }
}
