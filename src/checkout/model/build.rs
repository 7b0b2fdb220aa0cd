//! Evaluating kustomizations into the objects that hold managed settings, each folder once
//! (memoised, in post-order without recursion, so a chain of any depth costs its length): a
//! folder's resources and bases, then its generators, then its components, then its transformers
//! in kustomize's order (strategic merge patches, patches, namespace, prefix and suffix, labels
//! and annotations, JSON 6902 patches). Every object of a built folder is carried (a patch whose
//! target selects several objects must apply to each, or kustomize refuses the build); only
//! ConfigMaps and the KFP Deployments are decoded: nothing else holds a managed setting.

use std::borrow::Cow;

use super::pathhash::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use yaml_serde::{Mapping, Value};

use super::{CannotTrace, Loaded, load};
use crate::checkout::catalogue::{CATALOGUE, Place};
use crate::checkout::kustomization::is_remote;
use crate::checkout::model::decode;
use crate::checkout::model::objects::Object;
use crate::checkout::model::objects::Rendered;
use crate::checkout::paths::relative;

/// The words of a refusal that follows from an object missing from the build.
pub const MISSING: &str = "to patch: kustomize refuses the build";
pub const MISSING_MERGE: &str = "does not exist: kustomize refuses to merge or replace it";

/// Components within components deeper than this are refused (kustomize would loop on a cycle).
const MAX_COMPONENT_DEPTH: usize = 64;

/// One object as the model carries it: the object (its `text` empty, the model never prints
/// it), and what kustomize remembers of it.
#[derive(Debug, Clone)]
pub struct Res {
    pub object: Object,
    /// Every name and namespace it had before (kustomize matches patches by any of them).
    pub prev_names: Vec<String>,
    pub prev_namespaces: Vec<Option<String>>,
    /// A generated ConfigMap whose name gets kustomize's hash suffix at the end of the build.
    pub needs_hash: bool,
    /// The document's text when only its header (`apiVersion`, `kind`, `metadata`) is in
    /// `value`: parsed whole ([`Res::full`]) when a patch, a replacement or a var reads the rest.
    /// Until then every change the build makes to it is to its metadata. Only the kinds that
    /// never hold or feed a managed setting wait (see [`waits`]).
    unparsed: Option<Rc<str>>,
}

impl std::ops::Deref for Res {
    type Target = Object;
    fn deref(&self) -> &Object {
        &self.object
    }
}

impl std::ops::DerefMut for Res {
    fn deref_mut(&mut self) -> &mut Object {
        &mut self.object
    }
}

impl Res {
    pub(super) fn of(value: Value) -> Option<Res> {
        let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
        let meta = value.get("metadata");
        let m = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
        Some(Res {
            object: Object {
                api_version: s("apiVersion").unwrap_or_default(),
                kind: s("kind")?,
                name: m("name")?.to_string(),
                namespace: m("namespace").map(str::to_string),
                text: String::new(),
                line: 0,
                value,
            },
            prev_names: Vec::new(),
            prev_namespaces: Vec::new(),
            needs_hash: false,
            unparsed: None,
        })
    }

    /// The whole object: its value, or its text parsed with the metadata the build gave it.
    pub(super) fn full(&self) -> Cow<'_, Value> {
        let Some(text) = &self.unparsed else {
            return Cow::Borrowed(&self.value);
        };
        // The text parsed before as far as its header, and accepted (the quick pass of
        // `strict::header`): it parses.
        let Ok(mut whole) = yaml_serde::from_str::<Value>(text) else {
            return Cow::Borrowed(&self.value);
        };
        if let (Some(m), Some(meta)) = (whole.as_mapping_mut(), self.value.get("metadata")) {
            m.insert(Value::from("metadata"), meta.clone());
        }
        Cow::Owned(whole)
    }

    /// Sets the whole object (after a patch or a replacement).
    pub(super) fn set_full(&mut self, value: Value) {
        self.value = value;
        self.unparsed = None;
    }

    pub(super) fn names(&self) -> Vec<&str> {
        std::iter::once(self.name.as_str())
            .chain(self.prev_names.iter().map(String::as_str))
            .collect()
    }

    pub(super) fn namespaces(&self) -> Vec<Option<&str>> {
        std::iter::once(self.namespace.as_deref())
            .chain(self.prev_namespaces.iter().map(Option::as_deref))
            .collect()
    }

    /// The names a `target:` selector matches: the current and the original one (kustomize's
    /// selectors look at those two ids, not the ones between).
    pub(super) fn selected_names(&self) -> Vec<&str> {
        std::iter::once(self.name.as_str())
            .chain(self.prev_names.first().map(String::as_str))
            .collect()
    }

    pub(super) fn selected_namespaces(&self) -> Vec<Option<&str>> {
        std::iter::once(self.namespace.as_deref())
            .chain(self.prev_namespaces.first().map(Option::as_deref))
            .collect()
    }

    pub(super) fn set_meta(&mut self, key: &str, v: &str) {
        if let Some(m) = self
            .value
            .get_mut("metadata")
            .and_then(Value::as_mapping_mut)
        {
            m.insert(Value::from(key), Value::from(v));
        }
    }
}

/// Whether an object can hold or feed a managed setting: a ConfigMap, or a Deployment whose
/// name holds that of one the catalogue reads (kustomize's prefixes and suffixes only add).
pub fn kept(kind: &str, name: &str) -> bool {
    kind == "ConfigMap" || (kind == "Deployment" && managed_deployment(name))
}

/// Whether `text` holds the name of a Deployment the catalogue reads.
pub fn managed_deployment(text: &str) -> bool {
    text.contains(decode::API_SERVER.0)
        || CATALOGUE.iter().any(|s| match s.place {
            Place::ContainerEnv { deployment, .. } => text.contains(deployment),
            _ => false,
        })
}

/// A `vars` entry and where it is declared.
#[derive(Debug, Clone)]
pub struct VarDef {
    pub file: String,
    pub line: usize,
    pub def: Value,
}

/// What building one folder gives.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub objects: Vec<Rc<Res>>,
    pub untraced: Vec<CannotTrace>,
    /// The names of `vars` declared on the way.
    pub vars: Vec<VarDef>,
    /// Something below could not be built: a missing object is a consequence, not news.
    pub incomplete: bool,
    /// Objects of a folder that was not built (it neither builds the install nor is built by
    /// it) are part of kustomize's build but not of this one.
    pub partial: bool,
    /// Those folders.
    pub skipped: Vec<PathBuf>,
    /// Per catalogue row: the value decoded so far, and the `file:line` that last changed it.
    pub last: Vec<Rendered>,
    pub from: Vec<Option<String>>,
    /// Whether no two objects share kind, name and namespace: asked of a finished build only
    /// (see [`Model::passed_through`]).
    pub(super) distinct: std::cell::OnceCell<bool>,
}

impl Built {
    fn distinct(&self) -> bool {
        *self.distinct.get_or_init(|| {
            let mut ids = HashSet::default();
            self.objects
                .iter()
                .all(|r| ids.insert((&r.kind, &r.name, &r.namespace)))
        })
    }

    pub(super) fn refuse(&mut self, c: CannotTrace) {
        if self.incomplete && (c.why.contains(MISSING) || c.why.contains(MISSING_MERGE)) {
            return;
        }
        if !self.untraced.contains(&c) {
            self.untraced.push(c);
        }
    }

    /// After a step at `at` changed objects: which rows it decided.
    pub(super) fn note(&mut self, at: &str) {
        let now = decoded(&self.objects);
        for (i, v) in now.iter().enumerate() {
            if self.last.get(i) != Some(v) {
                self.from[i] = Some(at.to_string());
            }
        }
        self.last = now;
    }
}

/// The catalogue rows decoded from `objects`.
pub fn decoded(objects: &[Rc<Res>]) -> Vec<Rendered> {
    let objects: Vec<&Object> = objects
        .iter()
        .filter(|r| kept(&r.kind, &r.name))
        .map(|r| &r.object)
        .collect();
    decode::decode(&objects)
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// The model of one checkout: kustomizations read once, folders built once.
///
/// Its maps are keyed by the bytes of canonical folders (see [`super::pathhash`]).
pub struct Model {
    root: PathBuf,
    loaded: HashMap<OsString, Rc<Result<Option<Loaded>, CannotTrace>>>,
    built: HashMap<OsString, Rc<Built>>,
    /// By the folder's bytes, a NUL (in no path) and the entry.
    resolved: HashMap<OsString, Option<(PathBuf, bool)>>,
    /// The key of the last lookup in `resolved`, kept for its buffer.
    resolving: OsString,
    /// The folders that build the install or are built by it (`None`: every folder counts).
    relevant: Option<HashSet<OsString>>,
    /// Kustomization texts read before they are parsed (by the search for deploying folders),
    /// taken when parsed. Its folders are real ones (a walk follows no symlink): resolving an
    /// entry that names one needs no `lstat`.
    texts: HashMap<OsString, Option<(&'static str, String)>>,
    /// Folders whose build is taken by a known number of other builds (see
    /// [`Model::relevant_to`]); the others are kept.
    consumers: HashMap<OsString, usize>,
}

impl Model {
    pub fn new(root: &Path) -> Model {
        Model {
            root: root.to_path_buf(),
            loaded: HashMap::default(),
            built: HashMap::default(),
            resolved: HashMap::default(),
            resolving: OsString::new(),
            texts: HashMap::default(),
            relevant: None,
            consumers: HashMap::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real path of `entry` of the kustomization in `dir` (canonical), and whether it is a
    /// folder; `None` when it does not exist. `..` of a canonical folder is its real parent, so
    /// only the components the entry adds are looked at (one `lstat` each), and a symlink among
    /// them sends the rest to `canonicalize`. Cached: the build asks twice.
    pub fn resolve(&mut self, dir: &Path, entry: &str) -> Option<(PathBuf, bool)> {
        let mut key = std::mem::take(&mut self.resolving);
        key.clear();
        key.push(dir.as_os_str());
        key.push("\0");
        key.push(entry);
        let found = match self.resolved.get(&key) {
            Some(known) => known.clone(),
            None => {
                let walked = |folder: &Path| self.texts.contains_key(folder.as_os_str());
                let found = resolve_uncached(dir, entry, walked);
                self.resolved.insert(key.clone(), found.clone());
                found
            }
        };
        self.resolving = key;
        found
    }

    /// From now on, only `reaching` (the folders whose build includes `install`) and what
    /// building `install` builds are built: kustomize runs a kustomization's transformers on its
    /// own resources only, so nothing in another folder can change a managed setting (except
    /// through a JSON patch or replacement that selects without a name: see
    /// [`Model::reading_every_folder`]). (What would make kustomize refuse such a folder is left
    /// to `render`.)
    pub fn relevant_to(&mut self, install: &Path, reaching: &[PathBuf]) {
        // What building the install builds: its needs, followed.
        let mut relevant: HashSet<OsString> = HashSet::from_iter([install.as_os_str().to_owned()]);
        let mut stack = vec![install.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let mut needs = Vec::new();
            self.needs(&dir, 0, &mut needs);
            for n in needs {
                if relevant.insert(n.as_os_str().to_owned()) {
                    stack.push(n);
                }
            }
        }
        relevant.reserve(reaching.len());
        relevant.extend(reaching.iter().map(|d| d.as_os_str().to_owned()));
        // How many builds take each folder's objects: the last one takes them over instead of
        // copying them (a copy costs when a transformer changes every object). The install and
        // the folders that deploy it are kept: their own builds are asked for afterwards.
        let mut consumers: HashMap<OsString, usize> = HashMap::default();
        consumers.reserve(relevant.len());
        let folders: Vec<PathBuf> = relevant.iter().map(PathBuf::from).collect();
        self.relevant = Some(relevant);
        for dir in &folders {
            let mut needs = Vec::new();
            self.needs(dir, 0, &mut needs);
            for n in needs {
                *consumers.entry(n.into_os_string()).or_default() += 1;
            }
        }
        consumers.remove(install.as_os_str());
        for dir in reaching {
            consumers.remove(dir.as_os_str());
        }
        self.consumers = consumers;
        self.build(install);
    }

    /// The build of `dir` for one build that takes its objects: the last of them takes it over.
    fn take_built(&mut self, dir: &Path) -> Option<Rc<Built>> {
        let dir = dir.as_os_str();
        let last = match self.consumers.get_mut(dir) {
            Some(left) => {
                *left = left.saturating_sub(1);
                *left == 0
            }
            None => false,
        };
        if last {
            self.consumers.remove(dir);
            self.built.remove(dir)
        } else {
            self.built.get(dir).cloned()
        }
    }

    /// The folders among `reaching` whose build must read every folder it names: a JSON patch
    /// or a replacement whose target names no object applies to every object it selects, and
    /// kustomize refuses the build where one of them does not take it. Those that have one (or
    /// a component with one), and those that build one of them.
    /// (By their bytes, see [`super::pathhash`].)
    pub fn reading_every_folder(&mut self, reaching: &[PathBuf]) -> HashSet<OsString> {
        let mut wide: HashSet<OsString> = HashSet::default();
        for dir in reaching {
            if self.selects_unnamed(dir, 0) {
                wide.insert(dir.as_os_str().to_owned());
            }
        }
        let mut grew = !wide.is_empty();
        while grew {
            grew = false;
            for dir in reaching {
                if wide.contains(dir.as_os_str()) {
                    continue;
                }
                let mut needs = Vec::new();
                self.needs(dir, 0, &mut needs);
                if needs.iter().any(|n| wide.contains(n.as_os_str())) {
                    wide.insert(dir.as_os_str().to_owned());
                    grew = true;
                }
            }
        }
        wide
    }

    /// Whether the kustomization of `dir` or one of its components has a JSON patch or a
    /// replacement that may select objects by anything but their name.
    fn selects_unnamed(&mut self, dir: &Path, depth: usize) -> bool {
        let k = self.kustomization(dir);
        let Ok(Some(k)) = k.as_ref() else {
            return false;
        };
        let unnamed = |p: &Value| p.get("target").is_some_and(|t| t.get("name").is_none());
        if k.seq("patches").iter().any(unnamed)
            || k.seq("patchesJson6902").iter().any(unnamed)
            || !k.seq("replacements").is_empty()
        {
            return true;
        }
        if depth >= MAX_COMPONENT_DEPTH {
            return false;
        }
        for (entry, component) in k.entries() {
            if component
                && !is_remote(entry)
                && let Some((path, true)) = self.resolve(&k.dir, entry)
                && self.selects_unnamed(&path, depth + 1)
            {
                return true;
            }
        }
        false
    }

    /// Makes room for the kustomizations of `folders` folders (a deep tree's maps grow once).
    pub fn expect(&mut self, folders: usize) {
        self.texts.reserve(folders);
        self.loaded.reserve(folders);
        self.resolved.reserve(folders);
        self.built.reserve(folders);
    }

    /// Keeps the text of the only kustomization file of `dir`, for when it is parsed.
    pub fn known_text(&mut self, dir: &Path, name: &'static str, text: String) {
        self.texts
            .insert(dir.as_os_str().to_owned(), Some((name, text)));
    }

    /// The kustomization of a canonical folder, read once.
    pub fn kustomization(&mut self, dir: &Path) -> Rc<Result<Option<Loaded>, CannotTrace>> {
        if let Some(k) = self.loaded.get(dir.as_os_str()) {
            return k.clone();
        }
        let known = self.texts.get_mut(dir.as_os_str()).and_then(Option::take);
        let k = Rc::new(load(&self.root, dir, known));
        self.loaded.insert(dir.as_os_str().to_owned(), k.clone());
        k
    }

    /// The local folders a kustomization's build needs built first (its resources' and its
    /// components' resources', transitively through components).
    fn needs(&mut self, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let k = self.kustomization(dir);
        let Ok(Some(k)) = k.as_ref() else { return };
        for (entry, component) in k.entries() {
            if is_remote(entry) {
                continue;
            }
            let Some((path, true)) = self.resolve(&k.dir, entry) else {
                continue;
            };
            if component {
                if depth < MAX_COMPONENT_DEPTH {
                    self.needs(&path, depth + 1, out);
                }
            } else if self.counts(&path) {
                out.push(path);
            }
        }
    }

    /// Whether a folder's build can touch the install's (see [`Model::relevant_to`]).
    fn counts(&self, dir: &Path) -> bool {
        self.relevant
            .as_ref()
            .is_none_or(|r| r.contains(dir.as_os_str()))
    }

    /// What building `dir` (canonical) gives.
    pub fn build(&mut self, dir: &Path) -> Rc<Built> {
        let mut stack = vec![(dir.to_path_buf(), false)];
        let mut open: HashSet<OsString> = HashSet::default();
        while let Some((d, expanded)) = stack.pop() {
            if self.built.contains_key(d.as_os_str()) {
                continue;
            }
            if expanded {
                open.remove(d.as_os_str());
                let built = match self.passed_through(&d) {
                    Some(sub) => sub,
                    None => Rc::new(self.evaluate(&d)),
                };
                self.built.insert(d.into_os_string(), built);
                continue;
            }
            if !open.insert(d.as_os_str().to_owned()) {
                continue;
            }
            let mut needs = Vec::new();
            self.needs(&d, 0, &mut needs);
            stack.push((d, true));
            for n in needs.into_iter().rev() {
                if !self.built.contains_key(n.as_os_str()) && !open.contains(n.as_os_str()) {
                    stack.push((n, false));
                }
            }
        }
        self.built.get(dir.as_os_str()).cloned().unwrap_or_default()
    }

    /// The build of a kustomization that only names one folder (a level of a chain of
    /// overlays): that folder's build itself, shared, when building it again would give the same
    /// (its objects distinct, so none would be added twice; its refusals already counted in
    /// `incomplete`). `None` for any other kustomization.
    fn passed_through(&mut self, dir: &Path) -> Option<Rc<Built>> {
        let k = self.kustomization(dir);
        let Ok(Some(k)) = k.as_ref() else {
            return None;
        };
        let map = k.value.as_mapping()?;
        let only_entries = map.keys().all(|key| {
            key.as_str().is_some_and(|key| {
                ["resources", "bases", "apiVersion", "kind", "metadata"].contains(&key)
            })
        });
        let mut entries = k.entries();
        let (Some((entry, false)), None) = (entries.next(), entries.next()) else {
            return None;
        };
        if !only_entries || k.component || !k.unevaluated.is_empty() || is_remote(entry) {
            return None;
        }
        let (real, true) = self.resolve(&k.dir, entry)? else {
            return None;
        };
        if !self.counts(&real)
            || matches!(self.kustomization(&real).as_ref(), Ok(Some(s)) if s.component)
        {
            return None;
        }
        let sub = self.built.get(real.as_os_str())?;
        if !(sub.incomplete || sub.untraced.is_empty()) || !sub.distinct() {
            return None;
        }
        self.take_built(&real)
    }

    fn evaluate(&mut self, dir: &Path) -> Built {
        let mut built = Built {
            last: vec![Rendered::Absent; CATALOGUE.len()],
            from: vec![None; CATALOGUE.len()],
            ..Built::default()
        };
        let k = self.kustomization(dir);
        match k.as_ref() {
            Err(c) => built.refuse(c.clone()),
            Ok(None) => built.refuse(CannotTrace {
                file: relative(&self.root, dir),
                line: 1,
                why: "no kustomization in this folder: kustomize refuses to build it".to_string(),
            }),
            Ok(Some(k)) => {
                self.accumulate(k, &mut built, 0);
            }
        }
        built
    }

    /// One kustomization (or component) applied to what is built so far.
    fn accumulate(&mut self, k: &Loaded, built: &mut Built, depth: usize) {
        // Nothing after a field the model does not evaluate can be traced: its findings are the
        // only ones worth reading.
        if !k.unevaluated.is_empty() {
            for c in &k.unevaluated {
                built.refuse(c.clone());
            }
            built.incomplete = true;
            return;
        }
        let mut components = Vec::new();
        // The rows decoded so far of each folder taken, and where they come from.
        let mut inherited: Vec<(Vec<Rendered>, Vec<Option<String>>)> = Vec::new();
        let mut files = 0;
        for (entry, component) in k.entries() {
            if is_remote(entry) {
                built.refuse(k.here(
                    entry,
                    format!("remote base {entry} is not vendored in the checkout"),
                ));
                continue;
            }
            let Some((real, is_dir)) = self.resolve(&k.dir, entry) else {
                built.refuse(k.here(
                    entry,
                    format!("{entry} does not exist: kustomize refuses the build"),
                ));
                continue;
            };
            if component {
                components.push((entry, real));
                continue;
            }
            // A folder that neither builds the install nor is built by it holds none of its
            // objects and is not built (a big tree's other components cost nothing).
            // A patch of one of its objects then finds nothing: not news (`incomplete`).
            if is_dir && !self.counts(&real) {
                built.partial = true;
                built.skipped.push(real.clone());
                built.incomplete = true;
                continue;
            }
            if is_dir {
                let Some(sub) = self.take_built(&real) else {
                    built.refuse(k.here(
                        entry,
                        format!("{entry} is part of a cycle: kustomize refuses the build"),
                    ));
                    continue;
                };
                if matches!(self.kustomization(&real).as_ref(), Ok(Some(s)) if s.component) {
                    built.refuse(k.here(
                        entry,
                        format!(
                            "{entry} is a Component, listed as a resource: kustomize refuses it"
                        ),
                    ));
                }
                // kustomize runs a kustomization's transformers on its own resources only: what
                // the model does not evaluate in a folder that neither builds the install nor
                // is built by it cannot touch a managed setting. A refusal fails every build.
                for c in &sub.untraced {
                    built.refuse(c.clone());
                }
                built.incomplete |= sub.incomplete || !sub.untraced.is_empty();
                built.partial |= sub.partial;
                built.skipped.extend(sub.skipped.iter().cloned());
                built.vars.extend(sub.vars.iter().cloned());
                for (i, f) in sub.from.iter().enumerate() {
                    if built.from[i].is_none() && sub.last[i] != Rendered::Absent {
                        built.from[i] = f.clone();
                    }
                }
                inherited.push((sub.last.clone(), sub.from.clone()));
                let objects = match Rc::try_unwrap(sub) {
                    Ok(owned) => owned.objects,
                    Err(shared) => shared.objects.clone(),
                };
                for r in objects {
                    self.add(k, entry, built, r);
                }
            } else {
                files += 1;
                self.resource_file(k, entry, &real, built);
            }
        }
        built.incomplete |= !built.untraced.is_empty();
        // One folder and nothing else (a chain of overlays): its decoded rows are these.
        match (inherited.as_mut_slice(), files) {
            ([(last, from)], 0) if depth == 0 => {
                built.last = std::mem::take(last);
                built.from = std::mem::take(from);
            }
            _ => built.last = decoded(&built.objects),
        }
        let at = |needle: &str| format!("{}:{}", k.shown, k.line(needle));
        // Generators.
        for (key, configmap) in [("configMapGenerator", true), ("secretGenerator", false)] {
            for g in k.seq(key) {
                let name = g.get("name").and_then(Value::as_str).unwrap_or_default();
                let needle = format!("name: {name}");
                match self.generate(k, g, configmap) {
                    Err(why) => built.refuse(k.here(&needle, why)),
                    Ok((res, behavior)) => {
                        let skipped = built.skipped.clone();
                        let elsewhere = |name: &str| self.named_in(&skipped, name);
                        if let Err(why) = merge_generated(built, res, behavior, &elsewhere) {
                            built.refuse(k.here(&needle, why));
                        }
                        built.note(&at(&needle));
                    }
                }
            }
        }
        // Components: after the generators, before the transformers.
        for (entry, real) in components {
            let c = self.kustomization(&real);
            match c.as_ref() {
                Err(c) => built.refuse(c.clone()),
                Ok(None) => built.refuse(k.here(
                    entry,
                    format!("{entry} has no kustomization: kustomize refuses the build"),
                )),
                Ok(Some(c)) if !c.component => built.refuse(k.here(
                    entry,
                    format!("{entry} is not a Component (kind: Component): kustomize refuses it"),
                )),
                Ok(Some(_)) if depth >= MAX_COMPONENT_DEPTH => {
                    built.refuse(k.here(entry, "components nested too deep (a cycle?)"))
                }
                Ok(Some(c)) => self.accumulate(c, built, depth + 1),
            }
        }
        self.transform(k, built);
        for v in k.seq("vars") {
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            built.vars.push(VarDef {
                file: k.shown.clone(),
                line: k.line(&format!("name: {name}")),
                def: v.clone(),
            });
        }
    }

    fn add(&self, k: &Loaded, entry: &str, built: &mut Built, r: Rc<Res>) {
        let clash = built
            .objects
            .iter()
            .any(|o| o.kind == r.kind && o.name == r.name && o.namespace == r.namespace);
        if clash {
            built.refuse(k.here(
                entry,
                format!(
                    "{} {} would be added twice: kustomize refuses the build",
                    r.kind, r.name
                ),
            ));
            return;
        }
        built.objects.push(r);
    }

    fn resource_file(&self, k: &Loaded, entry: &str, path: &Path, built: &mut Built) {
        let text = match super::read_in(&self.root, k, entry) {
            Ok(t) => t,
            Err(why) => return built.refuse(k.here(entry, format!("cannot be read: {why}"))),
        };
        for doc in documents(&text) {
            if let Some(r) = header_only(doc) {
                self.add(k, entry, built, Rc::new(r));
                continue;
            }
            match yaml_serde::from_str::<Value>(doc) {
                Ok(value) => {
                    if let Some(r) = Res::of(value) {
                        self.add(k, entry, built, Rc::new(r));
                    }
                }
                Err(e) => built.refuse(CannotTrace {
                    file: relative(&self.root, path),
                    line: e.location().map_or(1, |l| l.line()),
                    why: format!("not valid YAML, kustomize refuses it: {e}"),
                }),
            }
        }
    }
}

impl Model {
    /// Whether a folder the model does not build (`folders`, and what their kustomizations
    /// name, followed) mentions `name` in a kustomization or resource file: where none does,
    /// no object of that name is in the build and kustomize refuses a patch or merge of it.
    pub(super) fn named_in(&self, folders: &[PathBuf], name: &str) -> bool {
        let mut stack: Vec<PathBuf> = folders.to_vec();
        let mut seen: HashSet<PathBuf> = HashSet::default();
        while let Some(dir) = stack.pop() {
            if !seen.insert(dir.clone()) {
                continue;
            }
            // Unreadable or missing: kustomize refuses that build; say the name is there so
            // the refusal is not blamed on this patch.
            let Ok(Some(k)) = load(&self.root, &dir, None) else {
                return true;
            };
            if k.text.contains(name) {
                return true;
            }
            for (entry, _) in k.entries() {
                if is_remote(entry) {
                    return true;
                }
                match resolve_uncached(&dir, entry, |_| false) {
                    Some((path, true)) => stack.push(path),
                    Some((path, false)) => {
                        if super::read(&self.root, &path).is_ok_and(|t| t.contains(name)) {
                            return true;
                        }
                    }
                    None => return true,
                }
            }
        }
        false
    }
}

/// `walked`: whether a folder is known to be a real one (not a symlink).
fn resolve_uncached(
    dir: &Path,
    entry: &str,
    walked: impl Fn(&Path) -> bool,
) -> Option<(PathBuf, bool)> {
    let mut path = dir.to_path_buf();
    let mut is_dir = true;
    for part in Path::new(entry).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                path.pop();
            }
            Component::Normal(name) => {
                path.push(name);
                if walked(&path) {
                    is_dir = true;
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).ok()?;
                if meta.file_type().is_symlink() {
                    let real = dir.join(entry).canonicalize().ok()?;
                    let is_dir = real.is_dir();
                    return Some((real, is_dir));
                }
                is_dir = meta.is_dir();
            }
            Component::RootDir | Component::Prefix(_) => {
                let real = dir.join(entry).canonicalize().ok()?;
                let is_dir = real.is_dir();
                return Some((real, is_dir));
            }
        }
    }
    Some((path, is_dir))
}

/// Whether an object of `kind` can wait to be parsed whole: not a ConfigMap, Secret or
/// Deployment (what holds, feeds or names a managed setting; their references are renamed and
/// their data hashed and merged).
fn waits(kind: &str) -> bool {
    !matches!(kind, "ConfigMap" | "Secret" | "Deployment")
}

/// A document of a kind that [`waits`], read as far as its header; `None` for any other (or one
/// the quick pass does not accept: parsing it whole decides).
fn header_only(doc: &str) -> Option<Res> {
    // The kind line, where plain: the kinds parsed whole anyway are not read twice.
    let plain_kind = doc
        .lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(str::trim);
    if plain_kind.is_some_and(|k| !waits(k)) {
        return None;
    }
    let header = crate::syntax::strict::header(doc)?;
    let mut r = Res::of(Value::Mapping(header))?;
    if !waits(&r.kind) {
        return None;
    }
    r.unparsed = Some(Rc::from(doc));
    Some(r)
}

/// The documents of a multi-document YAML text.
pub fn documents(text: &str) -> Vec<&str> {
    let text = crate::syntax::without_bom(text);
    let mut docs = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(&text[start..at]);
            start = at + line.len();
        }
        at += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// How a generator meets an object of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Create,
    Merge,
    Replace,
}

fn merge_generated(
    built: &mut Built,
    mut res: Res,
    behavior: Behavior,
    elsewhere: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let same: Vec<usize> = built
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == res.kind && o.names().contains(&res.name.as_str()))
        .map(|(i, _)| i)
        .collect();
    let same: Vec<usize> = if same.len() > 1 {
        same.into_iter()
            .filter(|i| built.objects[*i].namespace == res.namespace)
            .collect()
    } else {
        same
    };
    match (behavior, same.as_slice()) {
        (Behavior::Create, []) => {
            built.objects.push(Rc::new(res));
            Ok(())
        }
        (Behavior::Create, [_, ..]) => Err(format!(
            "{} {} is generated twice (behavior create): kustomize refuses the build",
            res.kind, res.name
        )),
        // Merged into an object of a folder the model does not build: no managed setting.
        (_, []) if built.partial && elsewhere(&res.name) => Ok(()),
        (_, []) if built.partial => Err(format!(
            "{} {} is in no folder of the build: kustomize refuses to merge or replace it",
            res.kind, res.name
        )),
        (_, []) => Err(format!("{} {} {MISSING_MERGE}", res.kind, res.name)),
        (_, [i]) => {
            let old = built.objects[*i].clone();
            if behavior == Behavior::Merge {
                let mut data = old
                    .value
                    .get("data")
                    .cloned()
                    .unwrap_or(Value::Mapping(Mapping::new()));
                if let (Some(d), Some(new)) = (
                    data.as_mapping_mut(),
                    res.value.get("data").and_then(Value::as_mapping),
                ) {
                    for (k, v) in new {
                        d.insert(k.clone(), v.clone());
                    }
                }
                if let Some(m) = res.value.as_mapping_mut() {
                    m.insert(Value::from("data"), data);
                }
            }
            // The old object's labels and annotations stay, the generator's added over them
            // (kustomize merges metadata for merge and replace alike).
            for field in ["labels", "annotations"] {
                let mut map = old
                    .value
                    .get("metadata")
                    .and_then(|m| m.get(field))
                    .and_then(Value::as_mapping)
                    .cloned()
                    .unwrap_or_default();
                let meta = res
                    .value
                    .get_mut("metadata")
                    .and_then(Value::as_mapping_mut);
                if let Some(meta) = meta {
                    if let Some(new) = meta.get(field).and_then(Value::as_mapping) {
                        for (k, v) in new {
                            map.insert(k.clone(), v.clone());
                        }
                    }
                    if !map.is_empty() {
                        meta.insert(Value::from(field), Value::Mapping(map));
                    }
                }
            }
            res.needs_hash |= old.needs_hash;
            res.name = old.name.clone();
            res.namespace = old.namespace.clone();
            res.prev_names = old.prev_names.clone();
            res.prev_namespaces = old.prev_namespaces.clone();
            res.set_meta("name", &old.name.clone());
            if let Some(ns) = old.namespace.clone() {
                res.set_meta("namespace", &ns);
            }
            built.objects[*i] = Rc::new(res);
            Ok(())
        }
        (_, _) => Err(format!(
            "several objects could take the {} of {} {}: kustomize refuses the build",
            if behavior == Behavior::Merge {
                "merge"
            } else {
                "replace"
            },
            res.kind,
            res.name
        )),
    }
}
