//! Every kustomization of the checkout whose build includes the install, and the value each
//! managed setting gets when it is built: `status` and `audit` report these per kustomization
//! (`deploying` in `status -o json`, docs/status.schema.json).
//!
//! The search goes backwards from the install and parses only what can lead to it: the tree is
//! walked once, each kustomization's bytes are read and indexed by the last path component of
//! every word in them, and a kustomization is parsed only when it mentions the folder name of a
//! folder already known to reach the install (or ends an entry in `..`, below such a folder),
//! until nothing new is found. Each folder is then built once by [`super::build`] (the builds
//! with a JSON patch or replacement that selects without a name in a model of their own, which
//! reads every folder they name).

use std::collections::{BTreeMap, VecDeque};

use super::pathhash::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use yaml_serde::Value;

use super::build::{Built, Model, Res, kept};
use super::transform::{Renamed, effective_namespace, rename_refs};
use super::{CannotTrace, vars};
use crate::checkout::catalogue::Setting;
use crate::checkout::install::Install;
use crate::checkout::kustomization::{KFP_HOST, is_remote};
use crate::checkout::model::confighash;
use crate::checkout::model::decode::{self, Decoded};
use crate::checkout::model::objects::Object;
use crate::checkout::model::objects::Rendered;
use crate::checkout::paths::{self, relative};
use crate::checkout::version::Version;
use crate::checkout::walk;

/// One managed setting as a deploying kustomization gives it.
#[derive(Debug, Clone)]
pub struct Effective {
    pub setting: &'static Setting,
    /// `None`: the model cannot trace it (see [`Deploying::cannot_trace`]).
    pub value: Option<Rendered>,
    /// The `file:line` that decides it, when known.
    pub from: Option<String>,
    /// Decided by an overlay `multiuser on|off --overlay` wrote: kfpatch's own switch.
    pub by_kfpatch_overlay: bool,
}

/// A kustomization that deploys the install.
#[derive(Debug, Clone)]
pub struct Deploying {
    pub dir: PathBuf,
    /// The folder, relative to the checkout root.
    pub shown: String,
    /// One per catalogue row, in catalogue order (shared by the kustomizations whose builds
    /// give the same, such as the levels of a chain of overlays).
    pub effective: Rc<[Effective]>,
    pub cannot_trace: Rc<[CannotTrace]>,
}

impl Deploying {
    /// The rows as the cluster decoder gives them, when every row is traced.
    pub fn decoded(&self) -> Option<Vec<Decoded>> {
        self.effective
            .iter()
            .map(|e| {
                Some(Decoded {
                    setting: e.setting,
                    value: e.value.clone()?,
                    source: e.from.clone().unwrap_or_default(),
                })
            })
            .collect()
    }

    /// `on`, `off`, `mixed` or `unknown`, as `status --cluster` says it of a render.
    pub fn mode(&self, version: Option<&Version>) -> Option<&'static str> {
        self.decoded().map(|rows| decode::mode(&rows, version).0)
    }
}

/// Every kustomization of the checkout that deploys the install (outside the install's folder),
/// sorted by folder, each with its effective settings.
pub fn deploying(install: &Install) -> Vec<Deploying> {
    deploying_and_reaching(install).0
}

/// [`deploying`], and the search that found them ([`Reaching`]: its kustomization files that
/// cannot be read, a FIFO, a device, a file too large or not UTF-8, whose deploying the install
/// cannot be told; and the model that read them, for the readers of overrides to read again
/// without a second search).
pub fn deploying_and_reaching(install: &Install) -> (Vec<Deploying>, Reaching) {
    let mut model = Model::new(&install.root);
    let mut unreadable = Vec::new();
    let mut read = HashMap::default();
    let found = reaching(install, &mut model, &mut unreadable, &mut read);
    model.relevant_to(&install.dir, &found);
    // Those builds read every folder they name, in a model of their own: the others keep
    // skipping what cannot touch the install.
    let wide = model.reading_every_folder(&found);
    let mut every_folder = (!wide.is_empty()).then(|| Model::new(&install.root));
    let overlays: Vec<String> = found
        .iter()
        .filter(|dir| {
            matches!(model.kustomization(dir).as_ref(), Ok(Some(k)) if k.text
                .lines()
                .take_while(|l| l.starts_with('#'))
                .any(|l| l.starts_with("# kfpatch-overlay: ")))
        })
        .map(|dir| format!("{}/", relative(&install.root, dir)))
        .collect();
    // Builds that share their objects (the same folder reached twice) are finished once; what
    // they were refused and where their values come from are part of the key.
    type Key = (
        Vec<usize>,
        Vec<CannotTrace>,
        Vec<Option<String>>,
        Vec<(String, usize)>,
    );
    type Finished = (Rc<[Effective]>, Rc<[CannotTrace]>);
    let mut done: HashMap<Key, Finished> = HashMap::default();
    // The same build (each level of a chain of overlays shares the build of the folder it names)
    // is not even looked up by its objects again. The build is held so its address stays its own.
    let mut by_build: HashMap<*const Built, (Rc<Built>, Finished)> = HashMap::default();
    let mut suffixes = Suffixes::default();
    let mut out = Vec::new();
    for dir in found {
        let built = match every_folder.as_mut() {
            Some(full) if wide.contains(dir.as_os_str()) => full.build(&dir),
            _ => model.build(&dir),
        };
        let (effective, cannot_trace) = match by_build.get(&Rc::as_ptr(&built)) {
            Some((_, finished)) => finished.clone(),
            None => {
                let key: Key = (
                    built
                        .objects
                        .iter()
                        .map(|r| Rc::as_ptr(r) as usize)
                        .collect(),
                    built.untraced.clone(),
                    built.from.clone(),
                    built
                        .vars
                        .iter()
                        .map(|v| (v.file.clone(), v.line))
                        .collect(),
                );
                let finished = done
                    .entry(key)
                    .or_insert_with(|| {
                        let (mut effective, cannot_trace) = finish(&built, &mut suffixes);
                        for e in &mut effective {
                            e.by_kfpatch_overlay = e.from.as_ref().is_some_and(|f| {
                                overlays.iter().any(|o| f.starts_with(o.as_str()))
                            });
                        }
                        (effective.into(), cannot_trace.into())
                    })
                    .clone();
                by_build.insert(Rc::as_ptr(&built), (built.clone(), finished.clone()));
                finished
            }
        };
        out.push(Deploying {
            shown: relative(&install.root, &dir),
            dir,
            effective,
            cannot_trace,
        });
    }
    out.sort_by(|a, b| a.shown.cmp(&b.shown));
    let mut all: Vec<PathBuf> = out.iter().map(|d| d.dir.clone()).collect();
    paths::sort_paths(&mut all, |dir| dir);
    (out, Reaching::of(model, all, unreadable, read))
}

/// The end of a build as kustomize ends it: generated ConfigMaps get their hash suffix (the
/// references follow), then the settings are decoded and `$(VAR)`s are looked for.
fn finish(built: &Built, suffixes: &mut Suffixes) -> (Vec<Effective>, Vec<CannotTrace>) {
    let mut cannot = built.untraced.clone();
    cannot.sort();
    cannot.dedup();
    let mut hashed = Built {
        objects: built.objects.clone(),
        ..Built::default()
    };
    let mut renamed = Renamed::new();
    for r in &mut hashed.objects {
        if !r.needs_hash {
            continue;
        }
        let suffix = suffixes.of(r);
        let name = format!("{}-{suffix}", r.name);
        let ns = effective_namespace(r.namespace.as_deref());
        renamed.insert((r.kind.clone(), ns, r.name.clone()), name.clone());
        let r: &mut Res = Rc::make_mut(r);
        let old = std::mem::replace(&mut r.name, name.clone());
        r.prev_names.push(old);
        r.set_meta("name", &name);
    }
    rename_refs(&mut hashed, &renamed);
    let mut resolved = Vec::new();
    for v in &built.vars {
        match vars::resolve(&hashed.objects, &v.def) {
            Ok(pair) => resolved.push(pair),
            Err(why) => {
                cannot.push(CannotTrace {
                    file: v.file.clone(),
                    line: v.line,
                    why,
                });
            }
        }
    }
    vars::substitute(&mut hashed.objects, &resolved);
    let objects: Vec<&Object> = hashed
        .objects
        .iter()
        .filter(|r| kept(&r.kind, &r.name))
        .map(|r| &r.object)
        .collect();
    let rows = decode::decode(&objects);
    let untraced = !cannot.is_empty();
    let effective = rows
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let var = built.vars.iter().filter_map(|v| v.def.get("name")?.as_str()).find(|v| {
                let needle = format!("$({v})");
                matches!(&d.value, Rendered::Literal(s) | Rendered::ValueFrom(s) if s.contains(&needle))
            });
            if let Some(v) = var {
                cannot.push(CannotTrace {
                    file: built.from[i].clone().unwrap_or_default(),
                    line: 1,
                    why: format!("{} holds the var $({v}), not evaluated offline", d.setting.name()),
                });
            }
            let value = (!untraced && var.is_none()).then_some(d.value);
            Effective {
                setting: d.setting,
                from: value.as_ref().and(built.from[i].clone()),
                value,
                by_kfpatch_overlay: false,
            }
        })
        .collect();
    (effective, cannot)
}

/// The hash suffixes computed so far, by what they hash: the builds that carry a generated
/// object (a big one is common: a script in a ConfigMap) hash it once.
#[derive(Default)]
struct Suffixes {
    known: Vec<(String, Option<Value>, Option<Value>, String)>,
}

impl Suffixes {
    fn of(&mut self, r: &Res) -> String {
        let (kind_of_secret, data) = (r.value.get("type"), r.value.get("data"));
        let known = self.known.iter().find(|(kind, t, d, _)| {
            *kind == r.kind && t.as_ref() == kind_of_secret && d.as_ref() == data
        });
        if let Some((.., suffix)) = known {
            return suffix.clone();
        }
        let suffix = hash_suffix(r);
        self.known.push((
            r.kind.clone(),
            kind_of_secret.cloned(),
            data.cloned(),
            suffix.clone(),
        ));
        suffix
    }
}

/// kustomize's hash suffix of a generated ConfigMap or Secret: its data (and a Secret's type).
fn hash_suffix(r: &Res) -> String {
    let data: Option<BTreeMap<String, String>> = r.value.get("data").and_then(|d| {
        d.as_mapping().map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
    });
    if r.kind == "Secret" {
        let kind_of_secret = r.value.get("type").and_then(|t| t.as_str());
        confighash::secret_suffix(
            &data.unwrap_or_default(),
            kind_of_secret.unwrap_or("Opaque"),
        )
    } else {
        confighash::suffix("", data.as_ref(), None)
    }
}

/// The folders (canonical) whose build includes the install, outside the install's folder.
/// `read`: see [`Reaching::read`].
fn reaching(
    install: &Install,
    model: &mut Model,
    unreadable: &mut Vec<CannotTrace>,
    read: &mut HashMap<OsString, Option<String>>,
) -> Vec<PathBuf> {
    let root = &install.root;
    let skipped = |dir: &Path| {
        dir != root
            && dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    };
    // One walk that also tells which kustomization files each folder holds.
    let mut folders = walk::folders(root, Vec::new, |found: &mut Vec<_>, dir| {
        if skipped(dir) {
            return false;
        }
        let names = super::present(dir);
        if !names.is_empty() {
            found.push((dir.to_path_buf(), names));
        }
        true
    });
    paths::sort_paths(&mut folders, |(dir, _)| dir);
    model.expect(folders.len());
    read.reserve(folders.len());
    let mut index: HashMap<String, Vec<usize>> = HashMap::default();
    let mut upward: Vec<usize> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (folder, names) in folders {
        // The walk starts at the canonical root and never follows a symlink.
        let dir = folder;
        if dir.starts_with(&install.dir) {
            continue;
        }
        let [name] = names.as_slice() else {
            // None (gone since the walk), or several: kustomize refuses those when built.
            upward.push(dirs.len());
            dirs.push(dir);
            continue;
        };
        let text = match super::read_walked(root, &dir, name) {
            Ok(text) => text,
            Err(why) => {
                unreadable.push(CannotTrace {
                    file: relative(root, &dir.join(name)),
                    line: 1,
                    why: format!(
                        "cannot be read ({why}): whether it deploys the install cannot be told"
                    ),
                });
                continue;
            }
        };
        read.insert(
            dir.as_os_str().to_owned(),
            text.contains(KFP_HOST).then(|| text.clone()),
        );
        let i = dirs.len();
        dirs.push(dir);
        // A remote URL's last component is indexed too: the index only picks candidates.
        let mut up = false;
        last_components(&text, |last| {
            if last == ".." || last == "." {
                if !up {
                    up = true;
                    upward.push(i);
                }
            } else if !last.is_empty() {
                // Folders are indexed in order: a folder already listed is the last one.
                match index.get_mut(last) {
                    Some(folders) if folders.last() == Some(&i) => {}
                    Some(folders) => folders.push(i),
                    None => {
                        index.insert(last.to_string(), vec![i]);
                    }
                }
            }
        });
        model.known_text(&dirs[i], name, text);
    }
    let mut reaches: HashSet<OsString> = HashSet::default();
    let mut queue = VecDeque::from([install.dir.clone()]);
    reaches.insert(install.dir.as_os_str().to_owned());
    let mut out = Vec::new();
    while let Some(target) = queue.pop_front() {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // `upward` is sorted by folder, so the folders below `target` are one run of it.
        let from = upward.partition_point(|i| dirs[*i] < target);
        let below: Vec<usize> = upward[from..]
            .iter()
            .copied()
            .take_while(|i| dirs[*i].starts_with(&target))
            .collect();
        let candidates: Vec<usize> = index
            .get(&name)
            .into_iter()
            .flatten()
            .copied()
            .chain(below)
            .collect();
        for i in candidates {
            let dir = &dirs[i];
            if reaches.contains(dir.as_os_str()) {
                continue;
            }
            let k = model.kustomization(dir);
            let Ok(Some(k)) = k.as_ref() else { continue };
            let hit = k.entries().any(|(entry, _)| {
                !is_remote(entry)
                    && model
                        .resolve(&k.dir, entry)
                        .is_some_and(|(p, _)| p == target)
            });
            if hit {
                reaches.insert(dir.as_os_str().to_owned());
                out.push(dir.clone());
                queue.push_back(dir.clone());
            }
        }
    }
    out
}

/// The last path component of every word of `text`, in order: a word is a run of letters,
/// digits and `._-/~`, without its trailing `/`s. ASCII text (nearly every kustomization) is
/// split by its bytes.
fn last_components<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let last = |word: &'a str| {
        let word = word.trim_end_matches('/');
        word.rsplit('/').next().unwrap_or(word)
    };
    if !text.is_ascii() {
        let split = text
            .split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '~')));
        split
            .filter(|w| !w.is_empty())
            .for_each(|word| each(last(word)));
        return;
    }
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b'~')) {
            if start < i {
                each(last(&text[start..i]));
            }
            start = i + 1;
        }
    }
    if start < text.len() {
        each(last(&text[start..]));
    }
}

/// The setting's row values as JSON gives them: state and value.
pub fn json_value(e: &Effective) -> (&'static str, Option<String>) {
    match &e.value {
        None => ("cannot-trace", None),
        Some(v) => {
            let j = v.json();
            (j.state, j.value)
        }
    }
}

/// What building the install's folder needs from above: every folder (canonical) whose build
/// includes the install, outside the install's folder, sorted (where the overrides above the
/// install are looked for); the outermost of them (those no other builds); the kustomization
/// files that cannot be read; and the model that read them. [`reaching_folders`]: the search of
/// [`deploying`] alone, nothing built; [`deploying_and_reaching`]: the search its builds came from.
pub struct Reaching {
    pub model: Model,
    pub all: Rc<[PathBuf]>,
    pub outermost: Vec<PathBuf>,
    pub unreadable: Vec<CannotTrace>,
    /// The folders (by their bytes) whose only kustomization file the search read, with its
    /// text when it names [`KFP_HOST`]: the scan for remote bases around the install needs
    /// nothing more of them (see [`crate::checkout::scan::read_met`]).
    pub read: HashMap<OsString, Option<String>>,
}

pub fn reaching_folders(install: &Install) -> Reaching {
    let mut model = Model::new(&install.root);
    let mut unreadable = Vec::new();
    let mut read = HashMap::default();
    let mut all = reaching(install, &mut model, &mut unreadable, &mut read);
    all.sort();
    Reaching::of(model, all, unreadable, read)
}

impl Reaching {
    /// `all`: sorted.
    fn of(
        mut model: Model,
        all: Vec<PathBuf>,
        unreadable: Vec<CannotTrace>,
        read: HashMap<OsString, Option<String>>,
    ) -> Reaching {
        let mut built: HashSet<OsString> = HashSet::default();
        for dir in &all {
            let k = model.kustomization(dir);
            let Ok(Some(k)) = k.as_ref() else { continue };
            for (entry, _) in k.entries() {
                if let Some((path, true)) = (!is_remote(entry))
                    .then(|| model.resolve(&k.dir, entry))
                    .flatten()
                {
                    built.insert(path.into_os_string());
                }
            }
        }
        let outermost = all
            .iter()
            .filter(|d| !built.contains(d.as_os_str()))
            .cloned()
            .collect();
        Reaching {
            model,
            all: all.into(),
            outermost,
            unreadable,
            read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::last_components;

    fn lasts(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        last_components(text, |w| out.push(w));
        out
    }

    #[test]
    fn every_word_gives_its_last_path_component() {
        assert_eq!(
            lasts("resources:\n- ../base/\n- github.com/x/y?ref=v1\n"),
            ["resources", "-", "base", "-", "y", "ref", "v1"]
        );
        // Outside ASCII, letters belong to words and other characters end them.
        assert_eq!(lasts("a\u{2014}b/\u{e9}/c: d"), ["a", "c", "d"]);
        assert_eq!(lasts("x/\u{e9}: y"), ["\u{e9}", "y"]);
    }
}
