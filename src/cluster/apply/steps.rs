//! The apply order of a render's objects, in three steps. Knows nothing of kubectl.

use std::collections::{BTreeMap, BTreeSet};

use crate::checkout::model::objects::{Object, RenderFacts};
#[cfg(test)]
use crate::checkout::model::objects::{SAMPLE_RENDER, split};

/// The apply order, in three steps, each in render order.
#[derive(Debug, Default)]
pub struct Steps<'a> {
    /// Namespaces and CRDs (less the CRDs whose cluster copies are kept).
    pub first: Vec<&'a Object>,
    /// Objects that need no CRD of this render: built-in kinds, kinds the cluster already serves.
    pub plain: Vec<&'a Object>,
    /// Custom resources of the render's CRDs: only these wait for CRDs to be Established.
    pub custom: Vec<&'a Object>,
}

/// Splits `objects` into [`Steps`]; the CRDs named in `kept` are not applied.
pub fn steps<'a>(objects: &'a [Object], facts: &RenderFacts, kept: &BTreeSet<&str>) -> Steps<'a> {
    let mut steps = Steps::default();
    steps
        .first
        .extend(objects.iter().filter(|o| o.is_namespace()));
    steps.first.extend(
        objects
            .iter()
            .filter(|o| o.is_crd() && !kept.contains(o.name.as_str())),
    );
    for o in objects.iter().filter(|o| !o.is_namespace() && !o.is_crd()) {
        if facts.crd_kinds.contains(&o.group_kind()) {
            steps.custom.push(o);
        } else {
            steps.plain.push(o);
        }
    }
    steps
}

/// Object counts by kind, by kind name.
pub fn counts_by_kind(objects: &[&Object]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in objects {
        *counts.entry(o.kind.clone()).or_insert(0) += 1;
    }
    counts
}

/// The YAML stream kubectl gets for `objects`.
pub fn stream(objects: &[&Object]) -> String {
    let mut text = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&o.text);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_crds_first_custom_resources_of_the_render_last() {
        let mut text = SAMPLE_RENDER.to_string();
        text.push_str("---\napiVersion: metacontroller.k8s.io/v1alpha1\nkind: CompositeController\nmetadata:\n  name: profile-controller\n");
        let objects = split(&text).unwrap();
        let facts = RenderFacts::of(&objects);
        let kinds = |v: &[&Object]| v.iter().map(|o| o.kind.clone()).collect::<Vec<_>>();
        let all = steps(&objects, &facts, &BTreeSet::new());
        assert_eq!(kinds(&all.first), ["Namespace", "CustomResourceDefinition"]);
        assert_eq!(kinds(&all.plain), ["AuthorizationPolicy", "Deployment"]);
        assert_eq!(kinds(&all.custom), ["CompositeController"]);
        let kept = BTreeSet::from(["compositecontrollers.metacontroller.k8s.io"]);
        let some = steps(&objects, &facts, &kept);
        assert_eq!(kinds(&some.first), ["Namespace"]);
        assert_eq!(kinds(&some.custom), ["CompositeController"]);
    }

    #[test]
    fn the_stream_of_every_object_is_the_render() {
        let objects = split(SAMPLE_RENDER).unwrap();
        let all: Vec<&Object> = objects.iter().collect();
        assert_eq!(stream(&all), SAMPLE_RENDER);
    }
}
